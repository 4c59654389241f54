"""The random-weights recipe of reconstructions (issue 13): random filters in mirrored pairs read with a
leak, average pooling, a quiet start and a line search; trained weights (here: a weights file) get
average pooling without the leak, the quiet start and a line search (issue 21, tests/test_trained.py)."""

from __future__ import annotations

import pytest
import torch

import nstlib

from .helpers import smooth_image


@pytest.fixture(scope="module")
def weights_file(tv_state_path):
    """A weights file stands for trained weights here (torchvision's random init: only the branching,
    not trained behaviour, is tested)."""
    return tv_state_path


def _first_image(**kwargs) -> torch.Tensor:
    seen = []
    nstlib.reconstruct_content(
        smooth_image(32, 32),
        "conv2_2",
        size=None,
        steps=1,
        progress=False,
        callback=lambda step, x, terms: seen.append(x.clone()),
        **kwargs,
    )
    return seen[0]


def test_pooling_auto_is_average_for_random_weights_only(weights_file):
    assert nstlib.get_encoder("random", pooling="auto").pooling == "avg"
    assert nstlib.get_encoder("random", pooling="auto").weights_source == "random (seed 0, leak 0.4)"
    assert nstlib.get_encoder(weights_file, pooling="auto").pooling == "avg"  # Gatys: average pooling for synthesis
    assert nstlib.get_encoder("random").pooling == "max"  # the default of get_encoder is unchanged
    assert nstlib.get_encoder("random").weights_source == "random (seed 0)"  # leak 0: what transfers use


def test_init_auto_is_the_quiet_start_and_noise_is_one_argument_away(weights_file):
    noise = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # the library's seeded noise
    quiet = _first_image(weights="random")
    torch.testing.assert_close(quiet, 0.5 + 0.1 * (noise - 0.5))  # the same noise, turned down to +- 5 %
    torch.testing.assert_close(_first_image(weights=weights_file), quiet)  # trained weights too (issue 21)
    torch.testing.assert_close(_first_image(weights=weights_file, init="noise"), noise)
    torch.testing.assert_close(_first_image(weights="random", init="noise"), noise)


def test_unknown_init_is_named():
    with pytest.raises(ValueError, match="'loud'.*'quiet'"):
        _first_image(weights="random", init="loud")


def test_style_reconstruction_balances_layers_for_both_networks(weights_file):
    """Balanced w_l for random and (since issue 21's measurements, docs/trained.md) trained weights;
    layer_balance=False still gives Gatys' equal w_l."""
    img = smooth_image(32, 32)
    layers = ["relu1_1", "relu2_1"]
    rand = nstlib.reconstruct_style(img, layers, size=None, steps=1, weights="random", progress=False)
    assert rand.style_layer_weights != {"relu1_1": 0.5, "relu2_1": 0.5}  # balanced by gradient norms
    assert sum(rand.style_layer_weights.values()) == pytest.approx(1.0)
    trained = nstlib.reconstruct_style(img, layers, size=None, steps=1, weights=weights_file, progress=False)
    assert trained.style_layer_weights != {"relu1_1": 0.5, "relu2_1": 0.5}
    assert sum(trained.style_layer_weights.values()) == pytest.approx(1.0)
    equal = nstlib.reconstruct_style(
        img, layers, size=None, steps=1, weights=weights_file, layer_balance=False, progress=False
    )
    assert equal.style_layer_weights == {"relu1_1": 0.5, "relu2_1": 0.5}  # Gatys' equal weights, on request


def test_reconstructions_search_the_line_except_random_content(weights_file):
    img = smooth_image(32, 32)
    rand = nstlib.reconstruct_style(img, ["relu1_1"], size=None, steps=2, weights="random", progress=False)
    trained = nstlib.reconstruct_style(img, ["relu1_1"], size=None, steps=2, weights=weights_file, progress=False)
    assert (rand.info["line_search"], trained.info["line_search"]) == ("strong_wolfe", "strong_wolfe")
    # content reconstructions with random weights keep the fixed step, which gets more out of a small budget
    content = nstlib.reconstruct_content(img, "conv2_2", size=None, steps=2, weights="random", progress=False)
    assert content.info["line_search"] is None
    content = nstlib.reconstruct_content(img, "conv2_2", size=None, steps=2, weights=weights_file, progress=False)
    assert content.info["line_search"] == "strong_wolfe"


def test_random_filters_come_in_mirrored_pairs():
    """Each conv's filters k and K + k see the same response with opposite signs, so their two ReLUs
    split every response between them (one of the two is 0 at each position) and neither is dead."""
    x = nstlib.load_image("chelsea", size=64)
    names = ["relu1_1", "relu2_1", "relu3_2", "relu4_2", "relu5_1"]
    leaky = nstlib.get_encoder("random", pooling="auto")(x, names)  # what reconstructions use
    plain = nstlib.get_encoder("random")(x, names)  # leak 0: what transfers use
    for name, f in [(f"{n} (leak 0.4)", leaky[n][0]) for n in names] + [(n, plain[n][0]) for n in names]:  # (C, H, W)
        k = f.shape[0] // 2
        a, b = f[:k], f[k:]  # (K, H, W) each
        assert torch.all(a * b == 0), f"{name}: both filters of a pair respond at one position"
        both = ((a > 0) | (b > 0)).float().mean().item()
        assert both > 0.99, f"{name}: {1 - both:.1%} of the (pair, position) responses are 0 in both halves"


def test_deep_content_reconstruction_is_recognisable_with_random_weights():
    """Issue 13: conv4_2 from noise (quick settings: 48 px, 30 evaluations) looks like the photo.

    Measured with benchmarks/bench_offline.py: SSIM 0.38-0.47 with nstlib's random filters, 0.01 with
    a plain random ReLU network (leak 0, get_encoder("random", "avg")). SSIM is scikit-image's, not nstlib's."""
    from skimage.metrics import structural_similarity

    photo = nstlib.load_image("astronaut", size=48)
    res = nstlib.reconstruct_content(photo, "conv4_2", size=None, steps=30, weights="random", progress=False)
    to_np = lambda t: t[0].permute(1, 2, 0).numpy()  # noqa: E731
    assert structural_similarity(to_np(res.image), to_np(photo), channel_axis=2, data_range=1.0) > 0.3


def test_vgg_textures_use_the_reconstruction_filters_with_random_weights(weights_file):
    """synthesize_texture(model="vgg") with random weights runs on get_encoder(pooling="auto") (leaky
    filters, average pooling), where bench_offline.py measured brush_strokes' Gram share 0.93 against 0.63."""
    src = smooth_image(24, 24)
    kw = dict(layers=["conv1_1", "pool1"], size=24, steps=3, model="vgg", progress=False)
    default = nstlib.synthesize_texture(src, weights="random", **kw).image
    leaky = nstlib.synthesize_texture(src, encoder=nstlib.get_encoder("random", pooling="auto"), **kw).image
    plain = nstlib.synthesize_texture(src, encoder=nstlib.get_encoder("random"), **kw).image
    torch.testing.assert_close(default, leaky)
    assert not torch.allclose(default, plain)
    trained = nstlib.synthesize_texture(src, weights=weights_file, **kw).image  # trained: average pooling, no leak
    torch.testing.assert_close(
        trained, nstlib.synthesize_texture(src, encoder=nstlib.get_encoder(weights_file, "avg"), **kw).image
    )
