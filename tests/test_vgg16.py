"""VGG-16 as well as VGG-19: the architecture follows the weights (issue 21, item 1).

The oracle is torchvision's own ``vgg16().features``, run on the same ImageNet-normalised input.
Downloads go to a loopback server, never to the internet.
"""

from __future__ import annotations

import hashlib

import pytest
import torch
import torchvision

import nstlib
from nstlib import VGG19Features, load_image, weights
from nstlib.vgg import layer_shape, vgg_layer_names


def test_a_13_conv_state_dict_is_a_vgg16_and_computes_torchvisions_features(vgg16_file):
    enc = VGG19Features(weights=vgg16_file, pooling="max", precision="fp32", device="cpu", normalize=False)
    assert enc.arch == "vgg16" and enc.arch_name == "VGG-16" and not enc.is_random
    assert len(enc.layer_names) == 31 and "conv3_4" not in enc.layer_names and "relu5_3" in enc.layer_names
    tv = torchvision.models.vgg16().features.eval()
    tv.load_state_dict(torch.load(vgg16_file, weights_only=True))
    x = load_image("chelsea", size=(64, 64))
    xn = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(
        1, 3, 1, 1
    )
    # torchvision's indices of relu4_2 and pool3 in vgg16().features, counted by hand from configuration D
    with torch.no_grad():
        want_relu4_2 = tv[:21](xn)
        want_pool3 = tv[:17](xn)
        got = enc(x, ["relu4_2", "pool3"])
    torch.testing.assert_close(got["relu4_2"], want_relu4_2, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got["pool3"], want_pool3, rtol=1e-4, atol=1e-4)
    assert tuple(got["relu4_2"].shape[-2:]) == layer_shape("relu4_2", 64, 64) == (8, 8)


def test_a_layer_vgg16_lacks_gets_an_error_naming_the_valid_ones(vgg16_file):
    enc = VGG19Features(weights=vgg16_file, precision="fp32", device="cpu", normalize=False)
    with pytest.raises(ValueError, match=r"unknown VGG-16 layer name\(s\) \['conv3_4'\]; valid names are: conv1_1"):
        enc(load_image("chelsea", size=32), ["conv3_4"])
    with pytest.raises(ValueError, match="VGG-16 layer name"):
        nstlib.transfer("chelsea", "brush_strokes", encoder=enc, style_layers=["relu5_4"], size=32, steps=1)


def test_the_default_recipe_runs_on_vgg16(vgg16_file):
    """Every default layer (relu4_2; relu1_1..relu5_1; the texture layers) exists in VGG-16."""
    enc = VGG19Features(weights=vgg16_file, pooling="avg", precision="fp32", device="cpu")
    result = nstlib.transfer("chelsea", "brush_strokes", encoder=enc, size=48, steps=3, progress=False)
    assert result.image.shape[-1] == 48 and torch.isfinite(result.image).all()
    assert set(result.term_weights) >= {"content/relu4_2", *(f"style/relu{b}_1" for b in range(1, 6))}
    tex = nstlib.synthesize_texture("brick", size=48, steps=2, encoder=enc, progress=False)
    assert tex.info["texture_model"] == "vgg"


def test_random_or_trained_is_decided_by_what_was_loaded_not_by_the_name(vgg16_file, tmp_path):
    named_random = tmp_path / "random_init_vgg16.pth"  # a trained-or-not file whose name starts with "random"
    named_random.write_bytes(vgg16_file.read_bytes())
    enc = VGG19Features(weights=named_random, precision="fp32", device="cpu", normalize=False)
    assert not enc.is_random and enc.weights_source == str(named_random)
    rnd = VGG19Features(weights="random", arch="vgg16", precision="fp32", device="cpu", normalize=False)
    assert rnd.is_random and rnd.arch == "vgg16" and len(rnd.layer_names) == 31
    assert VGG19Features(weights="random", precision="fp32", device="cpu", normalize=False).arch == "vgg19"


def test_arch_that_contradicts_the_weights_is_an_error(vgg16_file):
    with pytest.raises(ValueError, match="are a vgg16 network, but arch='vgg19'"):
        VGG19Features(weights=vgg16_file, arch="vgg19", device="cpu", normalize=False)
    with pytest.raises(ValueError, match="arch must be None, 'vgg16' or 'vgg19'"):
        VGG19Features(weights="random", arch="vgg11", device="cpu")


def test_imagenet_vgg16_downloads_torchvisions_vgg16_file(vgg16_file, tmp_path, monkeypatch, loopback_server):
    payload = vgg16_file.read_bytes()
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    server = loopback_server(default=payload)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(weights, "IMAGENET16_URL", server.url(f"/vgg16-{prefix}.pth"))
    enc = VGG19Features(weights="imagenet-vgg16", precision="fp32", device="cpu", normalize=False)
    assert enc.arch == "vgg16" and enc.weights_source == "imagenet-vgg16" and not enc.is_random
    assert (tmp_path / "torch" / "hub" / "checkpoints" / f"vgg16-{prefix}.pth").is_file()
    # the real address is torchvision's own
    monkeypatch.setattr(weights, "IMAGENET16_URL", weights._TORCHVISION_URLS["vgg16"])
    assert weights.imagenet_url("vgg16") == torchvision.models.VGG16_Weights.IMAGENET1K_V1.url


def test_layer_names_of_both_architectures_come_from_the_configurations():
    # VGG-16 (configuration D): 2+2+3+3+3 convolutions, each followed by a ReLU, five poolings
    assert len(vgg_layer_names("vgg16")) == 2 * 13 + 5
    assert len(vgg_layer_names("vgg19")) == 2 * 16 + 5
    assert [n for n in vgg_layer_names("vgg16") if n.startswith("conv5")] == ["conv5_1", "conv5_2", "conv5_3"]
