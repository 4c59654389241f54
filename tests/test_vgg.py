"""VGG19Features against torchvision's vgg19().features applied step by step.

Weight sources are tested in test_weights.py, the speed machinery (bf16, channels-last) in test_speed.py.
"""

from __future__ import annotations

import pytest
import torch
import torchvision

from nstlib import LAYER_NAMES, VGG19Features
from nstlib.vgg import layer_shape, pool_count, vgg_layer_names

from .helpers import smooth_image, torchvision_vgg19_features


def torchvision_steps(model: torch.nn.Sequential, x: torch.Tensor) -> list[torch.Tensor]:
    """Apply torchvision's layers one at a time on the normalised image; output after each layer."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    h, outs = (x - mean) / std, []
    for layer in model:
        if isinstance(layer, torch.nn.ReLU):
            h = torch.relu(h)  # out of place: keep the stored conv output intact
        else:
            h = layer(h)
        outs.append(h)
    return outs


def test_layer_names_follow_gatys():
    assert len(LAYER_NAMES) == len(torchvision.models.vgg19().features) == 37
    assert LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert LAYER_NAMES[-3:] == ("conv5_4", "relu5_4", "pool5")
    kinds = {"conv": torch.nn.Conv2d, "relu": torch.nn.ReLU, "pool": torch.nn.MaxPool2d}
    for name, layer in zip(LAYER_NAMES, torchvision.models.vgg19().features):
        assert isinstance(layer, kinds[name[:4]]), name
    assert len(vgg_layer_names("vgg16")) == len(torchvision.models.vgg16().features)


def _caffe_rounding(features: torch.nn.Sequential) -> torch.nn.Sequential:
    """torchvision's VGG layers with Caffe's pooling (odd sizes round up), the encoder's geometry."""
    for m in features:
        if isinstance(m, torch.nn.MaxPool2d):
            m.ceil_mode = True
    return features


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_every_layer_matches_torchvision(tv_state_path, pooling):
    feats = _caffe_rounding(torchvision_vgg19_features(tv_state_path))  # 48 px: pool5 has a partial window
    if pooling == "avg":
        for i, layer in enumerate(feats):
            if isinstance(layer, torch.nn.MaxPool2d):
                feats[i] = torch.nn.AvgPool2d(2, 2, ceil_mode=True)
    enc = VGG19Features(weights=tv_state_path, pooling=pooling, precision="fp32", device="cpu", normalize=False)
    x = smooth_image(64, 48)
    with torch.no_grad():
        expected = torchvision_steps(feats, x)
        got = enc(x, list(LAYER_NAMES))
    for name, ref in zip(LAYER_NAMES, expected):
        assert got[name].shape == ref.shape, name
        torch.testing.assert_close(got[name], ref, rtol=1e-4, atol=1e-4, msg=name)
    assert got["conv1_1"].min() < 0 <= got["relu1_1"].min()  # convX_Y is taken before its ReLU


def _edge_reach(features, layer=None) -> float:
    """How hard an 85 x 128 image's last 3 rows move the deepest layer, over its first 3 rows (both
    are next to the zero padding, so a network that treats the two edges alike gives about 1)."""
    torch.manual_seed(0)
    x = smooth_image(85, 128).requires_grad_(True)
    out = features(x) if layer is None else features(x, [layer])[layer]
    out.square().sum().backward()
    reach = x.grad.abs().sum(dim=(0, 1, 3))  # (H,): summed over channels and columns
    return float(reach[-3:].sum() / reach[:3].sum())


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_the_bottom_rows_reach_the_deepest_layers(pooling):
    """85 is not a multiple of 16: rounding down (torchvision) drops the last rows of pool1-pool4's
    windows, so they move relu5_1 about half as hard as the top rows and a transfer paints them with
    the shallow layers alone (a strip along the bottom edge). Caffe's rounding up keeps them."""
    enc = VGG19Features(weights="random", pooling=pooling, precision="fp32", device="cpu")
    assert _edge_reach(enc, "relu5_1") > 1.0
    torch.manual_seed(0)
    rounded_down = torchvision.models.vgg19().features[:30].eval()  # up to relu5_1
    assert _edge_reach(rounded_down) < 0.8  # 0.48-0.72 over four seeds; Caffe rounding 1.4-2.0


def test_forward_is_truncated_after_deepest_layer(encoder):
    calls = []
    hooks = [
        m.register_forward_hook(lambda m, i, o, n=n: calls.append(n)) for n, m in encoder.features.named_children()
    ]
    try:
        out = encoder(smooth_image(32, 32), ["relu2_1", "conv1_2"])
    finally:
        for h in hooks:
            h.remove()
    assert list(out) == ["relu2_1", "conv1_2"]
    assert calls[-1] == "conv2_1" and "conv2_2" not in calls  # relu is applied functionally


def test_frozen_and_eval(encoder):
    assert not encoder.training
    assert all(not p.requires_grad for p in encoder.parameters())


def test_requested_conv_output_survives_later_relu(encoder):
    x = smooth_image(32, 32)
    both = encoder(x, ["conv1_1", "relu1_1"])
    torch.testing.assert_close(torch.relu(both["conv1_1"]), both["relu1_1"])
    assert (both["conv1_1"] < 0).any()


def test_unknown_layer_lists_valid_names(encoder):
    with pytest.raises(ValueError, match=r"\['conv6_1'\]; valid names are: conv1_1, relu1_1"):
        encoder(smooth_image(32, 32), ["conv4_2", "conv6_1"])


def test_image_too_small_names_minimum(encoder):
    with pytest.raises(ValueError, match="needs at least 16x16"):
        encoder(torch.rand(1, 3, 8, 8), ["conv5_1"])
    with pytest.raises(ValueError, match="needs at least 32x32"):
        encoder(torch.rand(1, 3, 1, 1), ["pool5"])


@pytest.mark.parametrize("size", [(37, 64), (64, 37), (224, 200), (85, 128)])
def test_layer_shape_matches_torchvision_maps(size):
    """layer_shape / pool_count / min_size against the map sizes torchvision's own layers produce
    (with Caffe's rounding, as the encoder pools)."""
    feats = _caffe_rounding(torchvision.models.vgg19().features.eval())
    h = torch.zeros(1, 3, *size)
    with torch.no_grad():
        for name, layer in zip(LAYER_NAMES, feats):
            h = layer(h)
            assert layer_shape(name, *size) == tuple(h.shape[-2:]), name
            pools = sum(isinstance(m, torch.nn.MaxPool2d) for m in feats[: LAYER_NAMES.index(name) + 1])
            assert pool_count(name) == pools
            assert VGG19Features.min_size(VGG19Features, [name, "conv1_1"]) == 2**pools
