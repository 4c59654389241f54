"""The optimisation loop: the loss goes down, the history is complete, early stops keep the best image."""

from __future__ import annotations

import math
import time

import pytest
import torch

import nstlib
from nstlib import content_targets, style_targets, synthesize

from .helpers import smooth_image


@pytest.fixture(scope="module")
def targets(encoder):
    content, style = smooth_image(64, 64, seed=1), smooth_image(64, 64, seed=2)
    return {
        "content_image": content,
        "content_targets": content_targets(encoder, content, ["conv4_2"]),
        "style_targets": style_targets(encoder, style, ["conv1_1", "conv2_1", "conv3_1"]),
    }


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_loss_goes_down_and_history_is_complete(encoder, targets, optimizer):
    before = time.perf_counter()
    res = synthesize(encoder, **targets, style_weight=1e3, init="noise", optimizer=optimizer, steps=12, progress=False)
    elapsed = time.perf_counter() - before
    assert len(res.history) == 12  # steps counts loss evaluations, for both optimisers
    assert res.history[-1]["total"] < 0.5 * res.history[0]["total"]
    assert set(res.history[0]) == {
        "step",
        "total",
        "time",
        "content/conv4_2",
        "style/conv1_1",
        "style/conv2_1",
        "style/conv3_1",
    }
    # "time": seconds since the loop started (not a clock reading, not milliseconds), one per evaluation
    times = [h["time"] for h in res.history]
    assert 0 < times[0] and times[-1] <= elapsed and len(set(times)) == 12
    for h in res.history:  # the total is the weighted sum of the recorded raw terms
        assert h["total"] == pytest.approx(sum(w * h[k] for k, w in res.term_weights.items()), rel=1e-5)
    assert res.best_loss == min(h["total"] for h in res.history)
    assert res.image.shape == (1, 3, 64, 64) and 0 <= res.image.min() and res.image.max() <= 1


def test_best_image_has_the_best_loss(encoder, targets):
    res = synthesize(encoder, **targets, init="noise", steps=8, progress=False)
    again = synthesize(encoder, **targets, init=res.image, steps=1, progress=False)
    assert again.history[0]["total"] == pytest.approx(res.best_loss, rel=1e-4)


def test_returns_the_best_image_not_the_last(encoder, targets):
    """Adam with a large step overshoots: the loss rises after the start, and the start is what comes back."""
    seen = []
    res = synthesize(
        encoder,
        **targets,
        style_weight=1e3,
        init="noise",
        optimizer="adam",
        lr=0.5,
        steps=3,
        progress=False,
        callback=lambda step, image, terms: seen.append(image.clone()),
    )
    totals = [h["total"] for h in res.history]
    best = totals.index(min(totals))
    assert best < len(totals) - 1 and totals[-1] > 1.2 * totals[best]  # the last image is clearly worse
    assert res.best_step == best
    assert torch.equal(res.image, seen[best]) and not torch.equal(res.image, seen[-1])


def test_run_loop_keeps_the_best_image_by_hand():
    """sum (x - 0.25)^2 from x = 0.5: Adam's first step moves every pixel by lr = 0.2 to 0.3 (the best,
    0.05^2 per pixel); its momentum then carries the pixels past 0.25 and the loss rises again."""
    from nstlib.synthesis import run_loop

    def objective(x):
        sq = ((x - 0.25) ** 2).sum()
        return sq, {"sq": sq}

    res = run_loop(objective, torch.full((1, 3, 4, 4), 0.5), steps=6, optimizer="adam", lr=0.2)
    assert res.history[0]["total"] == pytest.approx(48 * 0.25**2) and res.history[1]["total"] == pytest.approx(
        48 * 0.05**2
    )
    assert res.best_step == 1 and res.history[-1]["total"] > 2 * res.history[1]["total"]
    torch.testing.assert_close(res.image, torch.full((1, 3, 4, 4), 0.3))


@pytest.fixture
def lbfgs_line_search(monkeypatch):
    """The line_search_fn of every L-BFGS (nstlib.lbfgs.LBFGS, run_loop's optimiser) built during the test."""
    import nstlib.lbfgs

    seen: list = []

    class Recording(nstlib.lbfgs.LBFGS):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen.append(kwargs.get("line_search_fn"))

    monkeypatch.setattr(nstlib.lbfgs, "LBFGS", Recording)
    return seen


@pytest.mark.parametrize(
    "preset_line_search, line_search, expected",
    [
        ("strong_wolfe", None, "strong_wolfe"),
        ("strong_wolfe", "none", None),
        (None, "strong_wolfe", "strong_wolfe"),
        (None, None, None),
    ],
)
def test_transfer_line_search_reaches_lbfgs(encoder, lbfgs_line_search, preset_line_search, line_search, expected):
    from dataclasses import replace

    from nstlib.defaults import PRESETS

    preset = replace(PRESETS["default"], line_search=preset_line_search)
    res = nstlib.transfer(
        smooth_image(32, 32),
        smooth_image(32, 32, seed=1),
        preset=preset,
        line_search=line_search,
        size=32,
        steps=2,
        encoder=encoder,
        progress=False,
    )
    assert lbfgs_line_search and set(lbfgs_line_search) == {expected}
    assert res.info["line_search"] == expected


def test_adam_builds_no_lbfgs(encoder, lbfgs_line_search):
    nstlib.transfer(
        smooth_image(32, 32),
        smooth_image(32, 32, seed=1),
        optimizer="adam",
        size=32,
        steps=2,
        encoder=encoder,
        progress=False,
    )
    assert lbfgs_line_search == []


def test_default_layer_weights(encoder, targets):
    res = synthesize(encoder, **targets, content_weight=2.0, style_weight=30.0, steps=1, progress=False)
    # content: alpha times M_l(512 px) / M_l(64 px) = (64 * 64) / (8 * 8) positions of conv4_2 (1/8 scale)
    assert res.term_weights == {"content/conv4_2": 2.0 * 64, **{f"style/conv{i}_1": 10.0 for i in (1, 2, 3)}}
    assert (res.alpha, res.beta, res.style_layer_weights) == (
        2.0,
        30.0,
        {f"conv{i}_1": pytest.approx(1 / 3) for i in (1, 2, 3)},
    )


def test_tv_weight_carries_the_size_factor(encoder, targets):
    """TV sums over every pixel like the content loss: its weight is tv_weight * (512 * 512) / (H * W)."""
    res = synthesize(
        encoder,
        style_targets=targets["style_targets"],
        tv_weight=0.25,
        init="noise",
        size=(48, 80),
        steps=1,
        progress=False,
    )
    assert res.term_weights["tv"] == pytest.approx(0.25 * (512 * 512) / (48 * 80), rel=1e-12)  # 17.07
    assert res.history[0]["total"] == pytest.approx(
        sum(w * res.history[0][k] for k, w in res.term_weights.items()), rel=1e-5
    )


def test_callback_sees_every_evaluation(encoder, targets):
    seen = []
    synthesize(
        encoder, **targets, steps=5, progress=False, callback=lambda s, img, t: seen.append((s, img.shape, t["total"]))
    )
    assert [s for s, _, _ in seen] == [0, 1, 2, 3, 4]
    assert all(shape == (1, 3, 64, 64) for _, shape, _ in seen)


def test_keyboard_interrupt_returns_best_so_far(encoder, targets):
    def stop_at_3(step, image, terms):
        if step == 3:
            raise KeyboardInterrupt

    res = synthesize(encoder, **targets, init="noise", steps=50, progress=False, callback=stop_at_3)
    assert res.stopped == "interrupted" and len(res.history) == 4
    assert res.best_loss == min(h["total"] for h in res.history)


def test_nonfinite_loss_stops_with_advice(encoder, targets):
    bad = {k: v * float("inf") for k, v in targets["style_targets"].items()}
    with pytest.warns(RuntimeWarning, match="lower style_weight"):
        res = synthesize(
            encoder,
            content_targets=targets["content_targets"],
            style_targets=bad,
            content_image=targets["content_image"],
            init="content",
            steps=20,
            progress=False,
        )
    assert res.stopped == "non-finite loss" and len(res.history) == 1
    assert torch.isfinite(res.image).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 0}, "steps = 0"),
        ({"optimizer": "sgd"}, "unknown optimizer 'sgd'"),
        ({"style_weight": -1.0}, "style_weight = -1.0"),
        ({"content_weight": float("nan")}, "content_weight = nan"),
        ({"style_layers": {"conv1_1": -2.0}}, r"style_layers\['conv1_1'\] = -2.0"),
        ({"init": "zeros"}, "unknown init 'zeros'"),
    ],
)
def test_bad_arguments(encoder, targets, kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthesize(encoder, **{**targets, **kwargs}, progress=False)


def test_style_target_rescaled_to_output_size(encoder):
    """A^l describes per-position statistics: the same texture at twice the size gives the same target."""
    small = smooth_image(32, 32, seed=5)
    big = torch.nn.functional.interpolate(small, scale_factor=2, mode="nearest")
    a = style_targets(encoder, small, ["conv1_1"], output_size=(32, 32))["conv1_1"]
    b = style_targets(encoder, big, ["conv1_1"], output_size=(32, 32))["conv1_1"]
    b_raw = style_targets(encoder, big, ["conv1_1"])["conv1_1"]  # not rescaled: 4x the positions
    assert 0.9 < (b.norm() / a.norm()).item() < 1.1
    assert 3.6 < (b_raw.norm() / a.norm()).item() < 4.4


def test_transfer_with_different_sizes_and_aspects():
    content, style = smooth_image(60, 90, seed=6), smooth_image(100, 40, seed=7)
    res = nstlib.transfer(content, style, size=48, steps=4, weights="random", progress=False)
    assert res.image.shape == (1, 3, 32, 48)
    assert not res.stopped and math.isfinite(res.best_loss)


def test_reconstruct_content_from_noise_approaches_image():
    img = smooth_image(48, 48, seed=8)
    res = nstlib.reconstruct_content(img, "conv2_2", size=None, steps=30, weights="random", progress=False)
    first, last = res.history[0]["content/conv2_2"], res.history[res.best_step]["content/conv2_2"]
    assert last < 0.1 * first
    noise_err = (torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0)) - img).abs().mean()
    assert (res.image - img).abs().mean() < 0.5 * noise_err  # closer to the image than the noise start


def test_texture_and_style_reconstruction_have_no_content_term():
    tex = nstlib.synthesize_texture(smooth_image(40, 40), size=(32, 48), steps=3, weights="random", progress=False)
    assert tex.image.shape == (1, 3, 32, 48)
    assert not any(k.startswith("content/") for k in tex.term_weights)
    rec = nstlib.reconstruct_style(
        smooth_image(40, 40), ["conv1_1", "conv2_1"], size=None, steps=3, weights="random", progress=False
    )
    assert list(rec.term_weights) == ["style/conv1_1", "style/conv2_1"]


def test_plot_losses_draws_one_curve_per_term(encoder, targets):
    res = synthesize(encoder, **targets, steps=3, progress=False)
    fig = res.plot_losses()
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == [*res.term_weights, "total"]
    assert fig.axes[0].get_yscale() == "log"


def test_lbfgs_restarts_from_the_best_image_when_it_stalls():
    """A loss that never improves (constant value, a gradient that lies): L-BFGS is restarted every
    RESTART_PATIENCE + 1 evaluations from the best image, and the budget is still honoured."""
    from nstlib.synthesis import RESTART_PATIENCE, run_loop

    class Liar(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum() * 0 + 1.0

        @staticmethod
        def backward(ctx, g):
            return torch.ones(1, 3, 8, 8) * g

    x0 = torch.full((1, 3, 8, 8), 0.5)
    res = run_loop(lambda x: (Liar.apply(x), {}), x0, steps=3 * (RESTART_PATIENCE + 1) + 2, line_search="strong_wolfe")
    assert len(res.history) == 3 * (RESTART_PATIENCE + 1) + 2
    assert res.info["restarts"] == 3
    assert res.best_step == 0 and torch.equal(res.image, x0)


def test_lbfgs_is_not_restarted_while_its_loss_jumps_about():
    """Without a line search L-BFGS can overshoot for dozens of evaluations and then converge (the
    capstone's clamp loop with the trained VGG-16). A loss that changes a lot without a new best is not
    a stall: no restart before RESTART_BACKSTOP evaluations; a frozen loss is restarted after
    RESTART_PATIENCE + 1 (the test above)."""
    from nstlib.synthesis import RESTART_BACKSTOP, RESTART_PATIENCE, run_loop

    calls = []

    class Jumpy(torch.autograd.Function):  # 1.0 first, then 40 evaluations far above it, then below it
        @staticmethod
        def forward(ctx, x):
            n = len(calls)
            calls.append(n)
            value = 1.0 if n == 0 else (1e3 * (1 + n % 7) if n <= 40 else 0.5 / n)
            return x.sum() * 0 + value

        @staticmethod
        def backward(ctx, g):
            return torch.ones(1, 3, 8, 8) * g

    assert RESTART_PATIENCE < 40 < RESTART_BACKSTOP
    res = run_loop(lambda x: (Jumpy.apply(x), {}), torch.full((1, 3, 8, 8), 0.5), steps=45)
    assert len(res.history) == 45
    assert res.info["restarts"] == 0
    assert res.best_step == 44
