"""Going further (Gatys et al. 2017): each option changes the result in the expected, measurable way."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nstlib
import nstlib.experiments as experiments  # the module behind nstlib.transfer
from nstlib.control import layer_masks, match_color, match_luminance, rgb_to_yiq, yiq_to_rgb

from .helpers import smooth_image


@pytest.fixture()
def spy(monkeypatch):
    """Record what transfer hands to style_targets and synthesize (then run the real ones)."""
    calls = {"style_images": [], "synthesize": []}
    real_targets, real_synth = experiments.style_targets, experiments.synthesize

    def targets(enc, image, layers, output_size=None, gram_fn=None):
        calls["style_images"].append(image.detach().cpu().clone())
        return real_targets(enc, image, layers, output_size=output_size, gram_fn=gram_fn)

    def synth(enc, **kw):
        calls["synthesize"].append(kw)
        return real_synth(enc, **kw)

    monkeypatch.setattr(experiments, "style_targets", targets)
    monkeypatch.setattr(experiments, "synthesize", synth)
    return calls


def run(content, style, encoder, **kw):
    kw.setdefault("steps", 3)
    return nstlib.transfer(content, style, encoder=encoder, progress=False, size=kw.pop("size", 64), **kw)


def test_yiq_round_trip_and_white():
    x = torch.rand(2, 3, 5, 7, dtype=torch.float64)
    torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(x)), x)
    # by hand: Y of pure red is 0.299, of white 1 with I = Q = 0
    assert rgb_to_yiq(torch.tensor([1.0, 0, 0]).view(1, 3, 1, 1))[0, 0].item() == pytest.approx(0.299)


def test_luminance_transfer_keeps_content_chrominance(encoder):
    content = smooth_image(48, 64, seed=1) * torch.tensor([1.0, 0.6, 0.3]).view(1, 3, 1, 1)  # orange cast
    style = smooth_image(64, 64, seed=2) * torch.tensor([0.2, 0.4, 1.0]).view(1, 3, 1, 1)  # blue cast
    opts = dict(content_weight=0.0, style_layers=["conv1_1", "conv2_1"], steps=8)
    res = run(content, style, encoder, preserve_color="luminance", **opts)
    iq_out, iq_content = rgb_to_yiq(res.image)[:, 1:], rgb_to_yiq(content)[:, 1:]
    plain = run(content, style, encoder, **opts)
    # the chrominance is the content's (up to clamping into [0, 1]); not the case without the option
    assert (iq_out - iq_content).abs().mean().item() < 0.01
    assert (rgb_to_yiq(plain.image)[:, 1:] - iq_content).abs().mean().item() > 0.02
    assert (rgb_to_yiq(res.image)[:, :1] - rgb_to_yiq(content)[:, :1]).abs().mean() > 1e-3  # luminance did change


def test_histogram_matching_hands_the_recoloured_style_to_the_targets(encoder, spy):
    content = smooth_image(48, 64, seed=3) * torch.tensor([1.0, 0.7, 0.2]).view(1, 3, 1, 1)
    style = smooth_image(64, 64, seed=4) * torch.tensor([0.1, 0.5, 1.0]).view(1, 3, 1, 1)
    run(content, style, encoder, preserve_color="histogram", steps=1)
    expected = match_color(nstlib.load_image(style, size=64), nstlib.load_image(content, size=64))
    torch.testing.assert_close(spy["style_images"][0], expected, rtol=0, atol=0)
    assert (expected - nstlib.load_image(style, size=64)).abs().mean() > 0.05  # the colours did change


def _sqrtm(cov: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(cov)
    return (vecs * np.sqrt(vals)) @ vecs.T


def _rotation(a: float, b: float) -> np.ndarray:
    za = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    xb = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return za @ xb


def test_match_color_maps_the_style_covariance_onto_the_contents():
    """Gatys et al. 2017, Sec. 5.2: x -> A (x - mu_s) + mu_c with A = Sigma_c^1/2 Sigma_s^-1/2, so that
    A Sigma_s A^T = Sigma_c. Float64, colour covariances that do not commute (elongated along different
    axes; with commuting ones the swapped product Sigma_s^-1/2 Sigma_c^1/2 would be right too) and pixels
    that stay inside [0, 1] (no clamping), so the check is exact up to match_color's 1e-6 regulariser."""
    rng = np.random.default_rng(0)
    S0 = _rotation(0.3, 0.2) @ np.diag([0.03, 0.01, 0.004]) @ _rotation(0.3, 0.2).T
    C0 = _rotation(-0.9, 1.1) @ np.diag([0.025, 0.012, 0.005]) @ _rotation(-0.9, 1.1).T
    xs = np.linalg.cholesky(S0) @ rng.uniform(-(3**0.5), 3**0.5, (3, 4096)) + 0.5  # (3, M), unit-variance noise
    xc = np.linalg.cholesky(C0) @ rng.uniform(-(3**0.5), 3**0.5, (3, 4096)) + 0.5
    S, C = np.cov(xs), np.cov(xc)
    assert np.abs(S @ C - C @ S).max() > 0.3 * np.abs(S @ C).max()  # far from commuting
    out = match_color(torch.from_numpy(xs).reshape(1, 3, 64, 64), torch.from_numpy(xc).reshape(1, 3, 64, 64))
    assert out.dtype == torch.float64
    y = out[0].reshape(3, -1).numpy()
    assert 0 < y.min() and y.max() < 1  # nothing was clamped: the map is exactly affine
    # the linear part, read back from the result (least squares on the centred pixels), and the statistics
    X, Y = xs - xs.mean(1, keepdims=True), y - y.mean(1, keepdims=True)
    A = np.linalg.lstsq(X.T, Y.T, rcond=None)[0].T  # (3, 3)
    np.testing.assert_allclose(A @ S @ A.T, C, rtol=0, atol=5e-6)  # the swapped order is off by 2e-3
    np.testing.assert_allclose(np.cov(y), C, rtol=0, atol=5e-6)
    np.testing.assert_allclose(y.mean(1), xc.mean(1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(A, _sqrtm(C) @ np.linalg.inv(_sqrtm(S)), rtol=0, atol=1e-3)  # swapped: 0.16 off


def test_match_color_hand_example():
    # a style whose channels are (a, 2a): mapped onto a content with mean 0.5 and the same spread per channel
    style = torch.linspace(0, 0.5, 100).repeat(3, 1).reshape(1, 3, 10, 10)
    content = torch.linspace(0.25, 0.75, 100).repeat(3, 1).reshape(1, 3, 10, 10)
    out = match_color(style, content)
    assert out.mean().item() == pytest.approx(0.5, abs=1e-3)
    assert out.std().item() == pytest.approx(content.std().item(), rel=0.02)


def test_match_luminance_hand_example():
    """An affine map onto the content's mean and std: linspace(0.4, 0.6) becomes linspace(0.1, 0.9)."""
    style_y = torch.linspace(0.4, 0.6, 100).repeat(3, 1).reshape(1, 3, 10, 10)
    content_y = torch.linspace(0.1, 0.9, 100).flip(0).repeat(3, 1).reshape(1, 3, 4, 25)  # only the stats matter
    out = match_luminance(style_y, content_y)
    torch.testing.assert_close(out, torch.linspace(0.1, 0.9, 100).repeat(3, 1).reshape(1, 3, 10, 10))
    # outside [0, 1] is clamped: a wide content spread maps the style's extremes onto 0 and 1
    wide = match_luminance(style_y, torch.tensor([0.0, 1.0] * 50).reshape(1, 1, 10, 10))
    assert wide.min() == 0.0 and wide.max() == 1.0


def test_luminance_transfer_matches_the_style_luminance_to_the_content(encoder, spy):
    content = smooth_image(48, 64, seed=13) * 0.5 + 0.4  # bright, low contrast
    style = smooth_image(64, 64, seed=14)  # darker on average, full contrast
    run(content, style, encoder, preserve_color="luminance", steps=1)
    got = spy["style_images"][0]
    y = 0.299 * content[:, 0] + 0.587 * content[:, 1] + 0.114 * content[:, 2]  # (1, H, W): Y of YIQ by hand
    assert torch.equal(got[:, 0], got[:, 1]) and torch.equal(got[:, 1], got[:, 2])  # a grey image
    assert got.mean().item() == pytest.approx(y.mean().item(), abs=1e-3)
    assert got.std().item() == pytest.approx(y.std().item(), rel=0.02)
    assert abs(got.std().item() - rgb_to_yiq(style)[:, 0].std().item()) > 0.02  # the std did change


def test_coarse_to_fine_default_fine_steps_are_a_third(encoder):
    for steps, fine in ((7, 2), (2, 1)):  # steps // 3, at least 1
        res = run(
            smooth_image(64, 64, seed=15),
            smooth_image(64, 64, seed=16),
            encoder,
            size=64,
            coarse_to_fine=32,
            steps=steps,
        )
        assert len(res.info["coarse_result"].history) == steps and len(res.history) == fine


@pytest.mark.parametrize("scale, expected", [(0.5, (20, 30)), (1.0, (40, 60)), (1.5, (60, 90))])
def test_style_scale_with_an_explicit_style_size(encoder, spy, scale, expected):
    """style_size=(H, W) is scaled on both sides, keeping H and W apart (non-square catches a swap)."""
    run(smooth_image(48, 64), smooth_image(80, 80, seed=5), encoder, style_size=(40, 60), style_scale=scale, steps=1)
    assert tuple(spy["style_images"][0].shape[-2:]) == expected
    spy["style_images"].clear()
    run(smooth_image(48, 64), smooth_image(80, 80, seed=5), encoder, style_size=50, style_scale=scale, steps=1)
    assert max(spy["style_images"][0].shape[-2:]) == round(50 * scale)


@pytest.mark.parametrize("scale, longer", [(0.5, 32), (1.0, 64), (2.0, 128)])
def test_style_scale_resizes_the_style_image(encoder, spy, scale, longer):
    run(smooth_image(48, 64), smooth_image(80, 80, seed=5), encoder, style_scale=scale, steps=1)
    assert max(spy["style_images"][0].shape[-2:]) == longer


def test_style_blend_targets_are_the_weighted_gram_average(encoder, spy):
    a, b = smooth_image(64, 64, seed=6), smooth_image(64, 64, seed=7)
    layers = ["conv1_1", "conv2_1"]
    run(smooth_image(64, 64), [a, b], encoder, style_layers=layers, style_blend=[3, 1], steps=1)
    got = spy["synthesize"][0]["style_targets"]
    ta = nstlib.style_targets(encoder, a, layers, output_size=(64, 64))
    tb = nstlib.style_targets(encoder, b, layers, output_size=(64, 64))
    for name in layers:
        torch.testing.assert_close(got[name], 0.75 * ta[name] + 0.25 * tb[name], rtol=1e-5, atol=1e-3)
    one = run(smooth_image(64, 64), [a, b], encoder, style_layers=layers, style_blend=[1, 0], steps=4)
    single = run(smooth_image(64, 64), a, encoder, style_layers=layers, steps=4)
    torch.testing.assert_close(one.image, single.image)


def test_mask_confines_style_to_its_region(encoder):
    """With content weight 0, pixels whose receptive fields never meet the mask get no gradient, and
    L-BFGS (its steps are combinations of gradients) leaves them exactly unchanged."""
    content, style = smooth_image(64, 64, seed=8), smooth_image(64, 64, seed=9)
    mask = torch.zeros(64, 64)
    mask[:24] = 1.0  # style on the top 24 rows
    res = run(
        content,
        style,
        encoder,
        style_layers=["conv1_1", "conv2_1"],
        content_weight=0.0,
        tv_weight=0.0,
        mask=mask,
        steps=6,
    )
    assert (res.image[..., :20, :] - content[..., :20, :]).abs().max() > 1e-3  # the region changed
    # conv2_1's receptive field is 10 px: rows >= 24 + 2 (area pooling) + 10 are out of reach
    torch.testing.assert_close(res.image[..., 40:, :], content[..., 40:, :], rtol=0, atol=1e-6)


@pytest.mark.parametrize("c", [0.3, 0.7])
def test_a_constant_soft_mask_leaves_the_style_image_itself_at_zero_style_loss(encoder, c):
    """With a constant mask c the generated features are c F, their Gram c^2 G; the target A is scaled by
    the mask's mean square, c^2 (Gatys et al. 2017, Sec. 4), so the style image itself still has E_l = 0.
    (Scaled by the mean c instead, E_l would be (1 - 1/c)^2 times the masked Gram's own size.)"""
    img = smooth_image(32, 32, seed=21)
    layers = ["relu1_1", "relu2_1", "relu3_1"]
    res = run(
        img,
        img,
        encoder,
        size=None,
        mask=torch.full((32, 32), c),
        init="content",
        content_weight=0.0,
        style_layers=layers,
        steps=1,
    )
    with torch.no_grad():
        feats = encoder(img, layers)
    for name in layers:
        N = feats[name].shape[1]
        scale = nstlib.style_layer_loss(c * feats[name], torch.zeros(1, N, N)).item()  # E_l against A = 0
        assert res.history[0][f"style/{name}"] <= 1e-9 * scale, name


def test_empty_mask_means_no_style_term(encoder):
    res = run(smooth_image(64, 64), smooth_image(64, 64, seed=10), encoder, mask=torch.zeros(64, 64), steps=2)
    style_terms = [k for k in res.history[0] if k.startswith("style/")]
    assert len(style_terms) == 5 and all(h[k] == 0.0 for h in res.history for k in style_terms)  # recorded, all 0


def test_layer_masks_area_shares():
    m = torch.zeros(8, 8)
    m[:, :2] = 1.0  # a quarter of the columns
    masks = layer_masks(m, ["conv1_1", "pool1", "pool2"], 8, 8)
    assert masks["conv1_1"].shape == (1, 1, 8, 8) and masks["pool2"].shape == (1, 1, 2, 2)
    assert masks["pool1"].mean().item() == pytest.approx(0.25)
    assert masks["pool2"][0, 0, :, 0].tolist() == [0.5, 0.5]  # pool2 units cover 4 columns: half masked
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        layer_masks(m * 3, ["conv1_1"], 8, 8)


def test_coarse_to_fine_starts_the_fine_stage_from_the_coarse_result(encoder):
    content, style = smooth_image(96, 96, seed=11), smooth_image(96, 96, seed=12)
    c2f = run(content, style, encoder, size=96, coarse_to_fine=48, steps=8, fine_steps=3)
    coarse = c2f.info["coarse_result"]
    assert coarse.image.shape[-2:] == (48, 48) and c2f.image.shape[-2:] == (96, 96)
    assert len(coarse.history) == 8 and len(c2f.history) == 3
    # the fine stage's first evaluation is the upsampled coarse image: its content loss, computed here
    start = torch.nn.functional.interpolate(coarse.image, size=(96, 96), mode="bicubic", align_corners=False).clamp(
        0, 1
    )
    with torch.no_grad():
        expected = nstlib.content_loss(encoder(start, ["relu4_2"])["relu4_2"], encoder(content, ["relu4_2"])["relu4_2"])
    assert c2f.history[0]["content/relu4_2"] == pytest.approx(expected.item(), rel=1e-3)
    assert c2f.info["seconds_total"] == pytest.approx(coarse.seconds + c2f.seconds)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"preserve_color": "hsv"}, "preserve_color must be"),
        ({"style_scale": 0}, "style_scale = 0"),
        ({"style_blend": [1, 2]}, "2 weights for 1 style"),
        ({"coarse_to_fine": 200}, "coarse_to_fine = 200"),
    ],
)
def test_bad_options(encoder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(smooth_image(64, 64), smooth_image(64, 64), encoder, **kwargs)
