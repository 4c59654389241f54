"""The benchmark's tutorial re-implementation and its mapping onto nstlib's objective (fast; no timing).

``benchmarks/bench_speed.py`` compares nstlib with PyTorch's NST tutorial on *the same objective*.
These tests keep that claim true: the re-implementation matches the tutorial's formulas (checked
against a by-hand computation with torchvision's layers), and nstlib's weighted objective with
``nstlib_layer_weights`` equals the tutorial's loss.
"""

from __future__ import annotations

import pytest
import torch

from benchmarks import tutorial_nst as T
from benchmarks._common import Objective, paper_objective
from nstlib import VGG19Features, content_targets, style_targets

from .helpers import one_thread, smooth_image  # noqa: F401 (one_thread: an autouse fixture)

H, W = 24, 40  # not square: catches H/W mix-ups in the layer-size arithmetic


@pytest.fixture(scope="module")
def weights(tv_state_path):
    """The suite's seeded random torchvision VGG-19 ``features`` state dict file (the benchmark's kind)."""
    return tv_state_path


@pytest.fixture(scope="module")
def features(weights):
    return T.load_vgg19_features(str(weights))


@pytest.fixture(scope="module")
def images():
    content, style = smooth_image(H, W, seed=11), smooth_image(H, W, seed=12)
    return content, style, (0.6 * content + 0.4 * style)


def by_hand_tutorial_loss(features: torch.nn.Sequential, content, style, img) -> float:
    """The tutorial's objective written out: 1e6 * sum_l mse(G_l/(N M), A_l/(N M)) + mse(F, P) at conv2_2.

    Style at the outputs of the first five convolutions, content at the fourth, out-of-place ReLUs.
    """
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def conv_outputs(x: torch.Tensor) -> list[torch.Tensor]:
        h, outs = (x - mean) / std, []
        for layer in features:
            h = torch.relu(h) if isinstance(layer, torch.nn.ReLU) else layer(h)
            if isinstance(layer, torch.nn.Conv2d):
                outs.append(h)
            if len(outs) == 5:
                return outs
        raise AssertionError("unreachable")

    with torch.no_grad():
        fx, fc, fs = conv_outputs(img), conv_outputs(content), conv_outputs(style)
    style_sum = 0.0
    for a, b in zip(fx, fs):
        N, M = a.shape[1], a.shape[2] * a.shape[3]
        Ga = a[0].reshape(N, M).double() @ a[0].reshape(N, M).double().T / (N * M)
        Gb = b[0].reshape(N, M).double() @ b[0].reshape(N, M).double().T / (N * M)
        style_sum += float(((Ga - Gb) ** 2).sum()) / N**2
    content_term = float(((fx[3].double() - fc[3].double()) ** 2).mean())
    return 1e6 * style_sum + content_term


def test_tutorial_reimplementation_matches_its_formulas(features, images):
    content, style, mix = images
    got = T.tutorial_loss(features, content, style, mix)
    expected = by_hand_tutorial_loss(features, content, style, mix)
    assert got["total"] == pytest.approx(expected, rel=1e-4)
    assert got["content"] > 0 and got["style"] > 0
    assert T.tutorial_loss(features, content, style, content)["content"] == 0.0


def test_nstlib_objective_equals_tutorial_loss(weights, features, images):
    content, style, mix = images
    enc = VGG19Features(weights=weights, precision="fp32", device="cpu", normalize=False)  # the tutorial's raw network
    cw, sw = T.nstlib_layer_weights(content)
    assert list(cw) == ["conv2_2"] and list(sw) == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"]
    # by hand: content 2/(N M) with N = 128, M = (H/2)(W/2), over nstlib's size factor 256^2 / M; style 4e6/N_l^2
    assert cw["conv2_2"] == pytest.approx(2 / (128 * (H // 2) * (W // 2)) / (256 * 256 / ((H // 2) * (W // 2))))
    assert sw["conv3_1"] == pytest.approx(4e6 / 256**2)
    ct, st = content_targets(enc, content, list(cw)), style_targets(enc, style, list(sw))
    objective = Objective(enc, cw, sw, ct, st)  # what bench_speed.tutorial_objective builds
    for img in (content, style, mix):
        ours = objective.score(img)  # one evaluation of nstlib.synthesize, alpha = beta = 1
        theirs = T.tutorial_loss(features, content, style, img)["total"]
        assert ours == pytest.approx(theirs, rel=1e-4)


def test_tutorial_loop_makes_whole_lbfgs_steps_of_20(features, images):
    """``while run <= num_steps`` with 20 evaluations per L-BFGS step: 300 "steps" are 320 evaluations."""
    content, style, _ = images
    res = T.run_style_transfer(features, content, style, content.clone(), num_steps=20)
    assert res.evaluations == 40  # the first step ends at 20 <= 20, so one more runs
    assert 0.0 <= res.image.min() and res.image.max() <= 1.0
    assert min(res.losses) < res.losses[0]


def test_paper_objective_is_the_papers_weighted_sum(weights, images):
    """bench_speed / bench_coarse_to_fine's paper configuration: content relu4_2 (w 1), style relu1_1 ...
    relu5_1 (w_l = 1/5; nstlib's rectified Gatys layers), beta = 1e3. Its score is the content-only score
    plus 1e3 times the style-only score (each an Objective with one side's layers), and from the content
    image the style part alone."""
    content, style, mix = images
    enc = VGG19Features(weights=weights, precision="fp32", device="cpu", normalize=False)
    paper = paper_objective(enc, content, style)
    assert dict(paper.content_layers) == {"relu4_2": 1.0} and paper.style_weight == 1e3
    assert dict(paper.style_layers) == pytest.approx({f"relu{i}_1": 0.2 for i in range(1, 6)})
    content_only = Objective(enc, paper.content_layers, {}, paper.content_targets, {})
    style_only = Objective(enc, {}, paper.style_layers, {}, paper.style_targets)
    assert content_only.score(content) == pytest.approx(0.0, abs=1e-9)  # P^l of the content image itself
    assert paper.score(content) == pytest.approx(1e3 * style_only.score(content), rel=1e-5)
    assert paper.score(mix) == pytest.approx(content_only.score(mix) + 1e3 * style_only.score(mix), rel=1e-5)


def test_bench_box_runs_each_box_it_names():
    """bench_box routes synthesize's loop through run_loop(box=...) even though synthesize passes a box
    of its own: the clamp row reports the pixels its clamp moved, the projected row has no clamp."""
    from benchmarks import bench_box

    clamp = bench_box.run("content", "random", "clamp", 32, 4)
    project = bench_box.run("content", "random", "project", 32, 4)
    assert clamp[:2] == ["content", "clamp"] and project[:2] == ["content", "project"]
    assert clamp[4].endswith("%") and project[4] == ""


def test_bench_lbfgs_levers_reach_the_loop(weights, monkeypatch, capsys):
    """A part-target lever "fp32/none/project/32+48/h7" runs synthesize at 32 px, then 48 px (2
    evaluations each), then at the full size, every stage with L-BFGS history 7, no line search and
    the projected box; the table names the lever."""
    import nstlib.synthesis
    from benchmarks import bench_lbfgs

    calls: list[tuple] = []
    real = nstlib.synthesis.synthesize

    def recording(enc, **kw):
        init = kw["init"]
        calls.append(
            (max(kw["content_image"].shape[-2:]), kw["steps"], kw["history_size"], kw["line_search"], kw["box"])
        )
        assert not isinstance(init, torch.Tensor) or init.shape == kw["content_image"].shape
        return real(enc, **kw)

    monkeypatch.setattr(nstlib.synthesis, "synthesize", recording)
    args = "--parts target --size 64 --repeats 1 --max-evals 3 --coarse-evals 2 --levers fp32/none/project/32+48/h7"
    bench_lbfgs.main([*args.split(), "--weights", str(weights)])
    assert calls == [(32, 2, 7, None, "project"), (48, 2, 7, None, "project"), (64, 3, 7, None, "project")]
    assert "nstlib fp32, line search none, box project, history 7, from 32 then 48 px" in capsys.readouterr().out


def test_bench_gpu_runs_on_the_device_it_is_given(weights):
    """bench_gpu (the prepared GPU check of issue 24) on the CPU at 32 px: the floor's layouts (two in
    float32, a third in bf16 where the CPU has it natively), nstlib's loss + gradient and synthesize
    rows with their ratios to the floor; the tutorial and nstlib each run the 40 evaluations asked for
    and are scored by the tutorial's loss."""
    from benchmarks import bench_gpu
    from nstlib.speed import native_bf16

    args = bench_gpu.argparse.Namespace(sizes=[32], floor_evals=2, repeats=1, tutorial_size=32, evals=40)
    device = torch.device("cpu")
    floor = bench_gpu.part_floor(args, weights, device)
    n_floor = 3 if native_bf16(device) else 2
    assert [r[1].split(",")[0] for r in floor] == ["torchvision cut at conv5_1"] * n_floor + [
        "nstlib loss + gradient"
    ] + ["nstlib synthesize (+ L-BFGS step)"]
    assert sum("(floor)" in r[1] for r in floor) == 1 and all(r[2] > 0 for r in floor)
    assert all(r[3].endswith("x") for r in floor[n_floor:])
    tut = bench_gpu.part_tutorial(args, weights, device)
    assert [r[0] for r in tut] == ["tutorial", "nstlib"] and [r[1] for r in tut] == [40, 40]
    assert all(r[2] > 0 and r[4] > 0 for r in tut)
