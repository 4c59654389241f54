"""The offline texture model (nstlib.multiscale) and how synthesize_texture picks it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import nstlib
from nstlib.multiscale import MultiScaleTextures, layers_for

from .helpers import smooth_image


@pytest.fixture(scope="module")
def net() -> MultiScaleTextures:
    return MultiScaleTextures(scales=(3, 7, 15), maps=8, device="cpu")


def test_fourier_filters_equal_a_circular_conv2d(net):
    x = torch.rand(2, 3, 20, 27, generator=torch.Generator().manual_seed(3))
    out = net(x, ["k3", "k7", "k15"])
    xn = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(
        1, 3, 1, 1
    )
    for k in (3, 7, 15):
        w, b = getattr(net, f"weight_k{k}"), getattr(net, f"bias_k{k}")
        ref = F.relu(F.conv2d(F.pad(xn, (k // 2,) * 4, mode="circular"), w, b))  # torch's own convolution
        assert out[f"k{k}"].shape == (2, 8, 20, 27)
        torch.testing.assert_close(out[f"k{k}"], ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


def test_gradients_reach_the_pixels(net):
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    net(x, ["k15"])["k15"].sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_bad_layers_and_sizes_are_named(net):
    with pytest.raises(ValueError, match=r"k5.*valid names are: k3, k7, k15"):
        net(torch.rand(1, 3, 16, 16), ["k5"])
    with pytest.raises(ValueError, match=r"12x40 px is too small for layer k15.*\['k3', 'k7'\]"):
        net(torch.rand(1, 3, 12, 40), ["k3", "k15"])
    with pytest.raises(ValueError, match="odd filter sizes"):
        MultiScaleTextures(scales=(4,))
    assert layers_for(10, 64, (3, 7, 15)) == ["k3", "k7"]


def test_a_content_term_on_the_texture_model_says_what_is_wrong(net):
    """Issue 25 §3: it used to die inside size_factor with "tuple.index(x): x not in tuple"."""
    img = smooth_image(24, 24)
    msg = r"content term on layer\(s\) \['k3'\] of MultiScaleTextures .*only matches textures.*nstlib.get_encoder\(\)"
    with pytest.raises(ValueError, match=msg):
        nstlib.synthesize(
            net, content_targets=nstlib.content_targets(net, img, ["k3"]), size=(24, 24), steps=1, progress=False
        )
    with pytest.raises(ValueError, match=msg):  # as a student meets it: a transfer on the texture model
        nstlib.transfer(img, img, encoder=net, content_layers="k3", style_layers=["k7"], steps=1, progress=False)
    # style alone (what the model is for) still runs
    res = nstlib.synthesize(
        net, style_targets=nstlib.style_targets(net, img, ["k7"]), size=(24, 24), steps=1, progress=False
    )
    assert res.terms == ["style/k7"]


def test_filters_are_seeded():
    a, b = MultiScaleTextures(scales=(3,), maps=4, seed=1), MultiScaleTextures(scales=(3,), maps=4, seed=1)
    c = MultiScaleTextures(scales=(3,), maps=4, seed=2)
    assert torch.equal(a.weight_k3, b.weight_k3) and not torch.equal(a.weight_k3, c.weight_k3)


def test_random_weights_use_the_multiscale_model_and_say_so(capsys, monkeypatch):
    import nstlib.experiments as ex

    monkeypatch.setattr(ex, "_TEXTURE_NOTE_SHOWN", False)
    src = smooth_image(32, 32)
    res = nstlib.synthesize_texture(src, size=32, steps=2, weights="random", progress=False)
    assert res.info["texture_model"] == "multiscale"
    assert list(res.style_layer_weights) == ["k3", "k5", "k7", "k11", "k15", "k23"]  # every filter <= 32 px
    assert "multi-scale" in capsys.readouterr().out
    nstlib.synthesize_texture(src, size=32, steps=1, weights="random", progress=False)
    assert capsys.readouterr().out == ""  # the note is shown once
    # asking for VGG layers, or for the VGG model, keeps VGG-19
    res = nstlib.synthesize_texture(src, ["conv1_1", "pool1"], size=32, steps=1, weights="random", progress=False)
    assert res.info["texture_model"] == "vgg"
    res = nstlib.synthesize_texture(src, size=32, steps=1, weights="random", model="vgg", progress=False)
    assert (res.info["texture_model"], list(res.style_layer_weights)) == (
        "vgg",
        list(nstlib.experiments.TEXTURE_LAYERS),
    )
    with pytest.raises(ValueError, match="model must be"):
        nstlib.synthesize_texture(src, size=32, steps=1, model="wavelets")


def test_trained_style_weights_keep_vgg(tv_state_path):
    """A weights file (the trained path) is not random: textures stay VGG-19's, as before."""
    res = nstlib.synthesize_texture(smooth_image(32, 32), size=32, steps=1, weights=tv_state_path, progress=False)
    assert res.info["texture_model"] == "vgg"


@pytest.mark.slow
def test_multiscale_texture_has_the_source_statistics_seen_by_another_network():
    """Brick at 48 px, 60 evaluations: an independent network (torchvision's VGG-16, its own random
    init) finds the multi-scale texture much closer to the source than white noise is."""
    import torchvision

    torch.manual_seed(1234)
    vgg16 = torchvision.models.vgg16(weights=None).features[:9].eval()  # up to relu2_2

    def grams(img):
        with torch.no_grad():
            f = vgg16((img - 0.45) / 0.225)[0].flatten(1)  # (C, M)
        return f @ f.T / f.shape[1]

    src = nstlib.load_image("brick", size=48)
    res = nstlib.synthesize_texture(src, size=48, steps=60, model="multiscale", progress=False)
    noise = torch.rand(src.shape, generator=torch.Generator().manual_seed(0))
    d_res = float((grams(res.image) - grams(src)).norm())
    d_noise = float((grams(noise) - grams(src)).norm())
    assert d_res < 0.5 * d_noise
