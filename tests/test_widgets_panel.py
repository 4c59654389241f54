"""TransferPanel and TexturePanel: the CSS-class contract, widgets -> synthesize settings, live updates.

The panels are driven as the browser would drive them: set widget values, press the Run button
(``Button.click()`` fires the same handlers as a click in JupyterLab), then look at the widgets.
Tiny seeded images and a random-weight float32 encoder keep every run well under a second.
"""

from __future__ import annotations

import io

import ipywidgets as widgets
import numpy as np
import pytest
import torch
from PIL import Image

import nstlib
from nstlib.widgets.panel import (
    LAYER_WEIGHT_CLASS,
    LiveView,
    TexturePanel,
    TransferPanel,
    image_png,
    loss_plot_png,
)
from tests.helpers import smooth_image

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STYLE5 = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
TEXTURE5 = ["relu1_1", "pool1", "pool2", "pool3", "pool4"]  # Gatys: conv1_1 rectified


def walk(widget: widgets.Widget):
    """Every widget in the tree below ``widget`` (itself included)."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def with_class(panel: widgets.Widget, cls: str) -> list[widgets.Widget]:
    return [w for w in walk(panel) if cls in getattr(w, "_dom_classes", ())]


def decode(png: bytes | memoryview) -> np.ndarray:
    png = bytes(png)  # ipywidgets keeps Image.value as a memoryview
    assert png.startswith(PNG_MAGIC)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def small_transfer(encoder, **kwargs) -> TransferPanel:
    """A 32 px transfer panel on two seeded smooth images, 5 steps; ``kwargs`` override or add settings.

    min_interval=60: only the final redraw (rendering a plot costs ~0.1-0.5 s); the live test lowers it.
    """
    settings = dict(encoder=encoder, size=32, steps=5, min_interval=60.0) | kwargs
    return TransferPanel(smooth_image(32, 40, seed=1), smooth_image(32, 32, seed=2), **settings)


@pytest.fixture()
def transfer_panel(encoder) -> TransferPanel:
    return small_transfer(encoder)


@pytest.fixture()
def texture_panel(encoder) -> TexturePanel:
    return TexturePanel(smooth_image(32, 32, seed=3), encoder=encoder, size=24, steps=5, min_interval=60.0)


# ------------------------------------------------------------------------------------------ contract


@pytest.mark.parametrize("which, layers", [("transfer", STYLE5), ("texture", TEXTURE5)])
def test_css_contract(which, layers, transfer_panel, texture_panel):
    """The class names tests/test_browser.py selects (written out here, as its selectors are) are on the
    right widgets: renaming a *_CLASS constant breaks the browser test, and this test says so without Chromium."""
    panel = transfer_panel if which == "transfer" else texture_panel
    assert isinstance(panel, widgets.DOMWidget)  # displayable as is
    sliders = with_class(panel, "nstlib-layer-weight")
    assert [s.description for s in sliders] == layers
    for s in sliders:
        assert isinstance(s, widgets.FloatSlider)
        # one ArrowRight press moves the value by `step`: it must be a visible, in-range change
        assert 0 < s.step <= (s.max - s.min) / 10 and s.value + s.step <= s.max
    for cls, kind in (
        ("nstlib-run", widgets.Button),
        ("nstlib-preview", widgets.Image),
        ("nstlib-loss-plot", widgets.Image),
        ("nstlib-status", widgets.Label),
    ):
        found = with_class(panel, cls)
        assert len(found) == 1 and isinstance(found[0], kind), cls
    for cls in ("nstlib-preview", "nstlib-loss-plot"):
        image = with_class(panel, cls)[0]
        assert image.format == "png" and bytes(image.value).startswith(PNG_MAGIC)


# ---------------------------------------------------------------------------- widgets -> settings


def test_transfer_settings_follow_the_widgets(encoder):
    """Explicit alpha/beta mode (ratio=...): every widget reaches synthesize's arguments."""
    p = small_transfer(encoder, ratio=1e-3, layer_balance=False, tv_weight=0.0)
    assert p.beta_dropdown.value == "ratio" and p.strength_slider.disabled and not p.ratio_slider.disabled
    assert p.ratio_slider.value == pytest.approx(1e-3) and p.beta == pytest.approx(1e3)  # Gatys' alpha/beta
    assert p.tv_weight == 0.0 and p.pooling_dropdown.value == encoder.pooling == "max"
    p.layer_sliders["relu3_1"].value = 0.0
    p.layer_sliders["relu1_1"].value = 0.5
    p.ratio_slider.value = 1e-2
    p.content_dropdown.value = "relu2_2"
    p.init_dropdown.value = "noise"
    p.optimizer_dropdown.value = "adam"
    p.steps_slider.value = 10
    p.tv_slider.value = 3.0
    s = p.settings()
    assert s["style_layers"] == pytest.approx(
        {"relu1_1": 0.5, "relu2_1": 0.2, "relu3_1": 0.0, "relu4_1": 0.2, "relu5_1": 0.2}
    )
    assert s["content_layers"] == {"relu2_2": 1.0} and list(s["content_targets"]) == ["relu2_2"]
    assert (s["content_weight"], s["style_weight"]) == (1.0, pytest.approx(100.0))
    assert (s["init"], s["optimizer"], s["steps"], s["tv_weight"]) == ("noise", "adam", 10, 3.0)
    assert s["balance_at"] == "start"  # as nstlib.transfer (the defaults table), not white noise
    p.tv_slider.value = 0.0

    result = p.run(raise_errors=True)
    assert len(result.history) == 10
    # the 26 x 32 output has 13 x 16 positions at relu2_2; a 512 x 512 image 256 x 256 (the size factor)
    expected = {
        "content/relu2_2": (256 * 256) / (13 * 16),
        "style/relu1_1": 50.0,
        "style/relu2_1": 20.0,
        "style/relu3_1": 0.0,
        "style/relu4_1": 20.0,
        "style/relu5_1": 20.0,
    }
    assert result.term_weights == pytest.approx(expected)
    assert "style/relu3_1" not in result.history[0]  # a layer with weight 0 is not even computed


def test_strength_mode_sets_beta(transfer_panel):
    """The default panel: the strength slider is the knob; beta comes from it, proportionally."""
    p = transfer_panel
    assert p.beta_dropdown.value == "strength" and p.ratio_slider.disabled and p.beta is None
    from nstlib.defaults import DEFAULTS

    assert p.strength_slider.value == pytest.approx(DEFAULTS.strength)
    assert p.tv_weight == DEFAULTS.tv_weight and p.settings()["balance_at"] == DEFAULTS.balance_at
    p.strength_slider.value = 3.0
    s = p.settings()
    assert (
        s["strength"] == pytest.approx(3.0) and "style_weight" not in s and s["layer_balance"] is DEFAULTS.layer_balance
    )
    result = p.run(raise_errors=True)  # the live weights: test_live_term_weights_follow_the_strength
    assert p.beta == result.beta > 0 and result.info["strength"] == pytest.approx(3.0)
    assert p.ratio_slider.value == pytest.approx(1.0 / result.beta)  # the alpha/beta the strength found, shown
    p.beta_dropdown.value = "ratio"  # switching to alpha/beta keeps that ratio: the same beta, explicitly
    assert not p.ratio_slider.disabled and p.strength_slider.disabled
    assert p.settings()["style_weight"] == pytest.approx(result.beta)
    p.beta_dropdown.value = "strength"
    stronger = TransferPanel(
        p.content_image, p.style_image, encoder=p.encoder, size=32, steps=2, strength=30.0, min_interval=60.0
    ).run(raise_errors=True)
    assert stronger.beta == pytest.approx(10 * result.beta, rel=1e-4)  # beta is proportional to the strength


def test_ratio_slider_widens_to_the_given_ratio(encoder):
    """A random network's balance can lie far below the paper's 1e-3 (notebook 05: about 1e-8 at 96 px)."""
    img = smooth_image(32, 32)
    p = TransferPanel(img, img, encoder=encoder, size=32, ratio=3e-12)
    assert (p.ratio_slider.min, p.ratio_slider.max) == (-12, 0) and p.ratio_slider.value == pytest.approx(3e-12)
    assert p.beta == pytest.approx(1 / 3e-12)
    assert (TransferPanel(img, img, encoder=encoder, size=32, ratio=1e-3).ratio_slider.min) == -10


def test_pooling_switches_to_the_same_weights_with_the_other_pooling(transfer_panel):
    """pooling 'avg': the encoder, the targets and the run use a VGG-19 with the same random filters and
    average pooling, normalised for it (compared with one built here, Gram matrices in float64)."""
    p = transfer_panel
    p.pooling_dropdown.value = "avg"
    avg = nstlib.VGG19Features(weights="random", pooling="avg", precision="fp32", device="cpu")
    s = p.settings()
    feats = avg(p.style_image, STYLE5)
    for name in STYLE5:
        f = feats[name][0].flatten(1).double()  # (N, M_style)
        out_m = nstlib.vgg.layer_shape(name, *p.out_hw)
        expected = f @ f.T * (out_m[0] * out_m[1]) / f.shape[1]
        torch.testing.assert_close(s["style_targets"][name][0].double(), expected, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(s["content_targets"]["relu4_2"], avg(p.content_image, ["relu4_2"])["relu4_2"])
    result = p.run(raise_errors=True)
    assert result.info["pooling"] == "avg" and p.pooling_encoder.pooling == "avg"
    p.pooling_dropdown.value = "max"
    assert p.pooling_encoder is p.encoder


def test_content_target_matches_the_encoder_and_is_cached(transfer_panel, encoder):
    p = transfer_panel
    target = p.settings()["content_targets"]["relu4_2"]
    torch.testing.assert_close(target, encoder(p.content_image, ["relu4_2"])["relu4_2"])
    assert p.settings()["content_targets"]["relu4_2"] is target  # computed once per layer


def test_texture_settings_follow_the_widgets(texture_panel):
    p = texture_panel
    p.layer_sliders["pool4"].value = 0.0
    p.seed_box.value = 7
    s = p.settings()
    assert s["style_layers"] == pytest.approx({"relu1_1": 0.2, "pool1": 0.2, "pool2": 0.2, "pool3": 0.2, "pool4": 0.0})
    assert (s["content_weight"], s["init"], s["size"], s["seed"]) == (0.0, "noise", (24, 24), 7)


# ------------------------------------------------------------------------------------- running


def test_run_button_updates_preview_and_plot_live(transfer_panel):
    import matplotlib.pyplot as plt

    p = transfer_panel
    p.min_interval, p.max_draw_share = 0.0, 1.0  # redraw at every evaluation
    previews, statuses = [], []
    p.preview.observe(lambda change: previews.append(bytes(change["new"])), names="value")
    p.status.observe(lambda change: statuses.append(change["new"]), names="value")
    figures_before = plt.get_fignums()

    p.run_button.click()  # what a click in the browser does

    assert p.result is not None and len(p.result.history) == 5
    # one redraw per evaluation while running, then the best image at the end (no change event
    # when the best is the last evaluation's image: ipywidgets only sends new values)
    assert len(previews) in (5, 6) and len(set(previews)) >= 2
    assert [s for s in statuses if s.startswith("Running: evaluation")] == [
        f"Running: evaluation {k} / 5, total loss {h['total']:.4g}" for k, h in enumerate(p.result.history, 1)
    ]
    assert p.status.value.startswith("Done") and "5 evaluations" in p.status.value
    assert not p.run_button.disabled
    np.testing.assert_array_equal(decode(p.preview.value), decode(image_png(p.result.image)))
    assert bytes(p.loss_plot.value).startswith(PNG_MAGIC)
    assert plt.get_fignums() == figures_before  # rendered off-screen (Agg), nothing left for inline display


def test_slider_then_run_changes_preview_and_plot(encoder):
    """What the browser test does: move the first layer-weight slider 3 steps, press Run."""
    p = small_transfer(encoder, layer_balance=False)
    preview0, plot0 = decode(p.preview.value).astype(float), decode(p.loss_plot.value).astype(float)
    slider = with_class(p, LAYER_WEIGHT_CLASS)[0]
    slider.value = slider.value + 3 * slider.step  # three ArrowRight presses
    p.run_button.click()
    assert p.status.value.startswith("Done")
    assert p.result.term_weights["style/relu1_1"] == pytest.approx(p.beta * 0.35)
    preview1, plot1 = decode(p.preview.value).astype(float), decode(p.loss_plot.value).astype(float)
    assert preview1.shape == preview0.shape == (26, 32, 3)  # placeholder has the output's size
    assert np.abs(preview1 - preview0).mean() > 0.5
    assert plot1.shape == plot0.shape and np.abs(plot1 - plot0).mean() > 0.05


def test_texture_run_lowers_the_loss(texture_panel):
    p = texture_panel
    noise = p.preview.value
    result = p.run(raise_errors=True)
    assert p.status.value.startswith("Done")
    assert result.image.shape == (1, 3, 24, 24)
    assert result.best_loss < result.history[0]["total"]
    assert set(result.term_weights) == {f"style/{k}" for k in TEXTURE5}
    assert bytes(p.preview.value) != bytes(noise)


def test_all_weights_zero_is_reported_in_the_status(texture_panel):
    p = texture_panel
    for s in p.layer_sliders.values():
        s.value = 0.0
    assert p.run() is None
    assert p.status.value.startswith("Error") and "slider" in p.status.value
    assert isinstance(p.error, ValueError) and not p.run_button.disabled
    with pytest.raises(ValueError, match="layer weight"):
        p.run(raise_errors=True)


def test_bad_arguments(encoder):
    img = smooth_image(32, 32)
    with pytest.raises(ValueError, match="content_layer"):
        TransferPanel(img, img, encoder=encoder, size=32, content_layer="conv9_9")
    with pytest.raises(ValueError, match="ratio"):
        TransferPanel(img, img, encoder=encoder, size=32, ratio=0.0)
    with pytest.raises(ValueError, match="tv_weight = -1.0"):
        TransferPanel(img, img, encoder=encoder, size=32, tv_weight=-1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        TexturePanel(img, encoder=encoder, size=32, layers={"pool1": 2.0})
    with pytest.raises(ValueError, match="unknown VGG-19 layer"):
        TexturePanel(img, encoder=encoder, size=32, layers=["pool9"])


# ----------------------------------------------------------------------------- live view, images


def live_view(**kwargs) -> LiveView:
    return LiveView(widgets.Image(format="png"), widgets.Image(format="png"), widgets.Label(), steps=8, **kwargs)


def test_live_view_throttles_redraws():
    now = [0.0]
    view = live_view(min_interval=0.5, clock=lambda: now[0])
    img = torch.rand(1, 3, 8, 8)
    for step in range(8):  # evaluations at t = 0, 0.25, ..., 1.75 s; drawing takes no time
        now[0] = 0.25 * step
        view.callback(step, img, {"step": step, "total": 10.0 - step, "time": now[0], "style/pool1": 1.0})
    assert view.redraws == 4  # t = 0, 0.5, 1.0, 1.5
    assert len(view.history) == 8
    assert view.status.value.startswith("Running: evaluation 7 / 8")


def test_live_view_limits_the_time_spent_drawing():
    now = [0.0]
    view = live_view(min_interval=0.0, max_draw_share=0.25, clock=lambda: now[0])
    draw = view.draw

    def slow_draw(image):  # each redraw takes 0.3 s
        draw(image)
        now[0] += 0.3

    view.draw = slow_draw
    for step in range(20):  # an evaluation every 0.1 s of optimisation
        view.callback(step, torch.rand(1, 3, 8, 8), {"step": step, "total": 1.0, "time": 0.0})
        now[0] += 0.1
    # a redraw at t = 0 ends at 0.3; the next may start at 0 + 0.3 / 0.25 = 1.2, and so on
    assert view.redraws == 3  # 20 evaluations and 0.3 s per redraw take 2 + 0.9 s; draws 0.9 / 2.9 of it
    with pytest.raises(ValueError, match="max_draw_share"):
        live_view(max_draw_share=0.0)


def test_image_png_roundtrip_and_weighted_plot():
    img = torch.rand(1, 3, 5, 7)
    np.testing.assert_array_equal(decode(image_png(img)), np.round(img[0].permute(1, 2, 0).numpy() * 255))
    with pytest.raises(ValueError, match="tensor"):
        image_png(torch.rand(5, 7))
    history = [
        {
            "step": i,
            "total": 5.0 / (i + 1),
            "time": 0.1 * i,
            "style/pool1": 1.0 / (i + 1),
            "content/conv4_2": 2.0 / (i + 1),
        }
        for i in range(5)
    ]
    raw = loss_plot_png(history)
    weighted = loss_plot_png(history, weights={"style/pool1": 1e3, "content/conv4_2": 1.0})
    assert raw.startswith(PNG_MAGIC) and weighted.startswith(PNG_MAGIC) and raw != weighted
    assert loss_plot_png([]).startswith(PNG_MAGIC)


# ----------------------------------------------------------------------------- live term weights


def _expected_term_weights(
    encoder, p: TransferPanel, strength: float, sliders: dict[str, float], layer_balance: bool
) -> tuple[dict[str, float], float]:
    """({term: weight}, beta) of a strength-mode run, computed from the formulas (not from nstlib.synthesis).

    alpha = 1; the content term carries the size factor M_l(512 x 512) / M_l(H x W); with layer balance
    w_l = (c_l / ||grad E_l||) / sum_k (c_k / ||grad E_k||) (He et al.), else the slider values c_l;
    beta = strength * ||grad alpha s L_content|| / ||grad sum_l w_l E_l||. Where (balance_at="start", the
    defaults table's, as nstlib.transfer): the style gradients at the image the run starts from (the
    content image, or the white noise of seed ``seed``), the content gradient at the seeded white noise
    the library uses as reference (seed + 1; at the photo it is 0). Own losses and Gram matrices in float64.
    """
    layer = p.content_dropdown.value
    H, W = p.content_image.shape[-2:]
    ref = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(p.seed + 1))
    if p.init_dropdown.value == "content":
        start = p.content_image.clone()
    else:
        start = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(p.seed))

    def gram(f):  # (1, N, H_l, W_l) -> (N, N)
        m = f[0].flatten(1).double()  # (N, M)
        return m @ m.T

    layers = list(sliders)
    style = encoder(p.style_image, layers)
    target_c = encoder(p.content_image, [layer])[layer].double()
    x = ref.clone().requires_grad_(True)  # the content pull: at white noise
    feats = encoder(x, [layer])
    xs = start.clone().requires_grad_(True)  # the style pulls: where the run starts
    feats_s = encoder(xs, layers)

    def grad_norm(loss, at):
        return float(torch.autograd.grad(loss, at, retain_graph=True)[0].norm())

    h, w = feats[layer].shape[-2:]
    pools = sum(1 for k in range(1, 6) if f"pool{k}" in nstlib.LAYER_NAMES[: nstlib.LAYER_NAMES.index(layer)])
    factor = (512 // 2**pools) ** 2 / (h * w)
    g_c = grad_norm(factor * 0.5 * (feats[layer].double() - target_c).pow(2).sum(), x)
    E = {}
    for name in layers:
        f = feats_s[name]
        N, M = f.shape[1], f.shape[2] * f.shape[3]
        A = gram(style[name]) * M / (style[name].shape[2] * style[name].shape[3])  # A^l at the output's size
        E[name] = (gram(f) - A).pow(2).sum() / (4.0 * N**2 * M**2)
    active = [k for k in layers if sliders[k] > 0]
    if layer_balance:
        inv = {k: sliders[k] / grad_norm(E[k], xs) for k in active}
        wl = {k: inv.get(k, 0.0) / sum(inv.values()) for k in layers}
    else:
        wl = dict(sliders)
    beta = strength * g_c / grad_norm(sum(wl[k] * E[k] for k in active), xs)
    return {f"content/{layer}": factor, **{f"style/{k}": beta * wl[k] for k in layers}}, beta


@pytest.mark.parametrize(("layer_balance", "init"), [(False, "noise"), (True, "noise"), (True, "content")])
def test_live_term_weights_follow_the_strength(encoder, monkeypatch, layer_balance, init):
    """The weights the live (weighted) plot shows during a run, and those the run uses, are
    alpha = 1 times the size factor and beta * w_l with beta from the strength, as nstlib.synthesis.balance gives."""
    from nstlib.synthesis import Objective, balance, balance_layers
    from nstlib.widgets import base

    p = small_transfer(
        encoder,
        strength=1.0,
        layer_balance=layer_balance,
        tv_weight=0.0,
        init=init,
        content_layer="relu2_2",
        style_layers=["relu1_1", "relu2_1", "relu3_1"],
        min_interval=0.0,
    )
    p.max_draw_share = 1.0
    p.strength_slider.value = 4.0
    p.layer_sliders["relu1_1"].value = 0.5
    p.weighted_checkbox.value = True
    sliders = {"relu1_1": 0.5, "relu2_1": 1 / 3, "relu3_1": 1 / 3}
    expected, beta = _expected_term_weights(encoder, p, 4.0, sliders, layer_balance)

    drawn = []  # (evaluations so far, weights) of every redraw of the loss plot
    real = base.loss_plot_png
    monkeypatch.setattr(
        base,
        "loss_plot_png",
        lambda history, weights=None, **kw: (
            drawn.append((len(history), None if weights is None else dict(weights))),
            real(history, weights, **kw),
        )[1],
    )
    result = p.run(raise_errors=True)

    live = [w for n, w in drawn[:-1]]  # the redraws during the run (the last one is the finished run)
    assert [n for n, w in drawn[:-1]] == [1, 2, 3, 4, 5] and all(w is not None for w in live)
    for weights in live:
        assert weights == pytest.approx(expected, rel=1e-3)
    assert result.term_weights == pytest.approx(expected, rel=1e-3)
    assert p.beta == result.beta == pytest.approx(beta, rel=1e-3)

    # the same numbers from the library's own balance on an objective built from the same inputs
    x_ref = torch.rand(1, 3, *p.content_image.shape[-2:], generator=torch.Generator().manual_seed(p.seed + 1))
    settings = p.settings()
    factor = expected["content/relu2_2"]
    objective = Objective(
        encoder,
        dict(settings["content_targets"]),
        dict(settings["style_targets"]),
        {"content/relu2_2": factor, **{f"style/{k}": v for k, v in sliders.items()}},
    )
    x_start = (
        p.content_image if init == "content" else torch.rand(x_ref.shape, generator=torch.Generator().manual_seed(0))
    )
    if layer_balance:
        balance_layers(objective, x_start)
    assert balance(objective, x_ref, 4.0, x_style=x_start) == pytest.approx(beta, rel=1e-3)
    assert objective.weights == pytest.approx(expected, rel=1e-3)
