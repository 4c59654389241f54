"""Receptive fields: published numbers, a brute-force gradient oracle, and the effective field."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nstlib.receptive import (
    ReceptiveFieldTable,
    effective_receptive_field,
    erf_radius,
    receptive_field_box,
    receptive_field_table,
)
from nstlib.vgg import VGG_CONFIGS, vgg_layer_names


@pytest.fixture(scope="module")
def vgg(encoder):
    return encoder  # conftest's random float32 VGG-19 on the CPU


# Independent oracle: sizes quoted in the literature for VGG (Araujo et al. 2019 and common tables).
VGG19_SIZES = {"conv1_1": 3, "pool1": 6, "conv2_1": 10, "conv3_1": 24, "conv4_2": 84, "conv5_1": 156, "pool5": 268}


def test_vgg19_published_sizes():
    table = receptive_field_table("vgg19")
    assert isinstance(table, ReceptiveFieldTable)
    assert table.names == vgg_layer_names("vgg19")
    assert {name: table[name].size for name in VGG19_SIZES} == VGG19_SIZES
    assert table["pool5"].stride == 32
    assert table["relu4_2"].size == table["conv4_2"].size  # ReLU: k=1, size unchanged
    assert table["conv4_2"].channels == 512 and table["pool1"].channels == 64
    assert table["conv1_1"].kind == "conv" and table["pool1"].kind == "maxpool" and table["relu1_1"].kind == "relu"


def test_vgg16_pool5():
    table = receptive_field_table("vgg16")
    assert table["pool5"].size == 212 and table["pool5"].stride == 32


def test_lookup_and_printing():
    table = receptive_field_table("vgg19")
    assert table.row("conv3_1") is table["conv3_1"] and table[0].layer == "conv1_1"
    with pytest.raises(KeyError, match="conv9_9"):
        table["conv9_9"]
    text = str(table)
    assert "conv4_2" in text and "268" in text and len(text.splitlines()) == len(table) + 2
    assert "<table>" in table._repr_html_()
    with pytest.raises(ValueError, match="vgg19"):
        receptive_field_table("resnet50")


def _vgg_sequential(arch: str, n_layers: int, pool: type[nn.Module] = nn.MaxPool2d) -> nn.Sequential:
    """torchvision-style ``features`` (integer-named children), truncated to ``n_layers``; no weight init cost."""
    layers: list[nn.Module] = []
    in_ch = 3
    for v in VGG_CONFIGS[arch]:
        if v == "M":
            layers.append(pool(2, 2))
        else:
            layers += [nn.Conv2d(in_ch, 4, 3, padding=1), nn.ReLU()]  # few channels: geometry only
            in_ch = 4
    return nn.Sequential(*layers[:n_layers])


def test_models_match_config(vgg):
    full = receptive_field_table("vgg19")
    assert [(r.layer, r.size, r.stride, r.padding, r.channels) for r in receptive_field_table(vgg)] == [
        (r.layer, r.size, r.stride, r.padding, r.channels) for r in full
    ]
    # Integer-named children matching a (prefix of a) VGG config get Gatys names.
    prefix = receptive_field_table(_vgg_sequential("vgg16", 31)[:17])
    assert prefix.names == vgg_layer_names("vgg16")[:17] and prefix[-1].size == 44
    # Anything else keeps its child names.
    custom = receptive_field_table(nn.Sequential(nn.Conv2d(3, 8, 5, stride=2, padding=2), nn.ReLU(), nn.AvgPool2d(3)))
    assert custom.names == ["0", "1", "2"] and [r.size for r in custom] == [5, 5, 9] and custom[-1].stride == 6
    with pytest.raises(TypeError, match="Linear"):
        receptive_field_table(nn.Sequential(nn.Conv2d(3, 8, 3), nn.Linear(8, 8)))


def test_box_formula():
    rf = receptive_field_table("vgg19")["pool1"]  # r=6, S=2, P=2
    assert receptive_field_box(rf, 3, 5) == (4, 8, 10, 14)
    assert rf.center(3) == 6.5  # (top + bottom - 1) / 2
    assert receptive_field_box(rf, 0, 0) == (-2, -2, 4, 4)
    assert receptive_field_box(rf, 0, 0, image_size=(32, 32)) == (0, 0, 4, 4)


def _gradient_support(net: nn.Sequential, size: int, i: int, j: int) -> tuple[int, int, int, int]:
    """Brute force: box (half-open) of input pixels whose gradient on unit (i, j) is nonzero."""
    net = net.double()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0 / m.weight[0].numel())
                m.bias.zero_()
    x = torch.ones(1, 3, size, size, dtype=torch.float64, requires_grad=True)  # positive: ReLU passes all
    out = net(x)  # (1, C, h, w)
    (g,) = torch.autograd.grad(out[0, :, i, j].sum(), x)
    rows = g[0].sum(0).sum(1).nonzero().flatten()  # all weights > 0: no cancellation
    cols = g[0].sum(0).sum(0).nonzero().flatten()
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


@pytest.mark.parametrize("layer", ["conv1_1", "pool1", "conv2_1", "relu2_2", "conv3_1", "pool3"])
def test_brute_force_vgg(layer):
    n = vgg_layer_names("vgg19").index(layer) + 1
    net = _vgg_sequential("vgg19", n, pool=nn.AvgPool2d)  # avg pools: every input pixel gets gradient
    rf = receptive_field_table(net)[layer]
    size = 96
    h = size // rf.stride
    box = _gradient_support(net, size, h // 2, h // 2)
    assert box[2] - box[0] == rf.size
    assert box == receptive_field_box(rf, h // 2, h // 2)


def test_brute_force_strided_padded_dilated():
    net = nn.Sequential(
        nn.Conv2d(3, 2, 5, stride=2, padding=2),
        nn.ReLU(),
        nn.Conv2d(2, 2, 3, padding=3, dilation=2),
        nn.AvgPool2d(3, stride=2, padding=1),
        nn.Conv2d(2, 2, 4, stride=3, padding=0),
    )
    table = receptive_field_table(net)
    for layer, (i, j) in [("2", (5, 7)), ("3", (4, 3)), ("4", (2, 3))]:
        k = table.names.index(layer)
        box = _gradient_support(net[: k + 1], 64, i, j)
        assert box == receptive_field_box(table[layer], i, j, image_size=(64, 64)), layer


def test_erf_inside_box_and_wider_when_deeper(vgg):
    table = receptive_field_table(vgg)
    radii = {}
    for layer in ["conv2_1", "conv4_1"]:
        erf = effective_receptive_field(vgg, layer, size=96, n_samples=2, seed=0)
        assert erf.shape == (96, 96) and erf.dtype == torch.float32
        assert float(erf.max()) == pytest.approx(1.0)
        rf = table[layer]
        c = (96 // rf.stride) // 2
        top, left, bottom, right = receptive_field_box(rf, c, c, image_size=(96, 96))
        outside = erf.clone()
        outside[top:bottom, left:right] = 0
        assert outside.abs().max() == 0  # support within the theoretical box
        centre = round(rf.center(c))
        assert erf[centre, centre] > 0
        radii[layer] = erf_radius(erf, 0.9)
        assert radii[layer] < rf.size / 2 * 1.42  # inside the box's circumscribed circle
    assert radii["conv4_1"] > radii["conv2_1"]


def test_erf_given_image_and_channel(vgg):
    img = torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(1))
    erf = effective_receptive_field(vgg, "conv2_1", image=img, channel=3)
    assert erf.shape == (40, 40) and 0 <= float(erf.min()) and float(erf.max()) == pytest.approx(1.0)


def test_erf_of_plain_sequential_uses_table_names():
    net = _vgg_sequential("vgg19", 10)  # integer children, read as conv1_1 ... conv2_2
    erf = effective_receptive_field(net, "pool1", size=32, n_samples=1)
    rf = receptive_field_table(net)["pool1"]
    top, left, bottom, right = receptive_field_box(rf, 8, 8)
    assert (erf > 0).nonzero().min(0).values.tolist() >= [top, left]
    assert (erf > 0).nonzero().max(0).values.tolist() <= [bottom - 1, right - 1]
    with pytest.raises(ValueError, match="conv1_1"):
        effective_receptive_field(net, "conv9_9", size=32)


def test_erf_radius_of_a_disc():
    yy, xx = torch.meshgrid(torch.arange(41.0), torch.arange(41.0), indexing="ij")
    disc = (((yy - 20) ** 2 + (xx - 20) ** 2) <= 100).float()
    assert erf_radius(disc, 1.0) == pytest.approx(10.0)
    assert erf_radius(disc, 0.25) == pytest.approx(5.0, abs=0.6)
