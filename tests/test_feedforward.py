"""nstlib.feedforward and nstlib.adain: what notebook 07 relies on, against independent computations."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from nstlib import adain as A
from nstlib import feedforward as ff


@pytest.fixture(scope="module")
def enc():
    from nstlib import get_encoder

    return get_encoder("random", pooling="avg")


# ----------------------------------------------------------------------------------------------
# instance norm


def _naive_instance_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    """Per sample, per channel: (x - mean) / sqrt(population variance + eps) * gamma + beta, by loops."""
    out = np.empty_like(x)
    B, C, H, W = x.shape
    for b in range(B):
        for c in range(C):
            vals = [x[b, c, i, j] for i in range(H) for j in range(W)]
            m = sum(vals) / len(vals)
            v = sum((u - m) ** 2 for u in vals) / len(vals)
            for i in range(H):
                for j in range(W):
                    out[b, c, i, j] = (x[b, c, i, j] - m) / math.sqrt(v + eps) * gamma[c] + beta[c]
    return out


def test_instance_norm_of_the_network_matches_a_naive_loop():
    net = ff.TransformerNet(base=4, blocks=1)
    norm = next(m for m in net.modules() if isinstance(m, nn.InstanceNorm2d))
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([0.5, 2.0, -1.0, 1.5]))
        norm.bias.copy_(torch.tensor([0.1, 0.0, 0.3, -2.0]))
    x = torch.randn(3, 4, 5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3 + 1
    got = norm.double()(x).detach().numpy()
    want = _naive_instance_norm(x.numpy(), norm.weight.detach().numpy(), norm.bias.detach().numpy(), norm.eps)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_instance_norm_is_per_image_unlike_batch_norm():
    """Stylising a photo alone or next to another gives the same result (batch norm would not)."""
    net = ff.TransformerNet(base=4, blocks=1).train()
    a, b = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        alone, together = net(a), net(torch.cat([a, b]))[:1]
    torch.testing.assert_close(alone, together, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# AdaIN


def test_adain_hand_worked_example():
    # content channel 0: [1, 3] (mean 2, sd 1); style channel 0: [10, 20, 30, 40] (mean 25, sd sqrt(125))
    # channel 1: content [4, 4] (sd 0 -> sqrt(eps)), style [0, 2] (mean 1, sd 1)
    x = torch.tensor([[[[1.0, 3.0]], [[4.0, 4.0]]]], dtype=torch.float64)  # (1, 2, 1, 2)
    y = torch.tensor([[[[10.0, 20.0], [30.0, 40.0]], [[0.0, 2.0], [0.0, 2.0]]]], dtype=torch.float64)  # (1, 2, 2, 2)
    out = A.adain(x, y, eps=0.0 + 1e-30)
    s = math.sqrt(125.0)
    expected = [[[[25 - s, 25 + s]], [[1.0, 1.0]]]]  # (x - 2) / 1 * sqrt(125) + 25; a constant map -> the style's mean
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64), rtol=1e-9, atol=1e-9)


def test_adain_gives_the_style_statistics_per_sample():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 6, 4, generator=g, dtype=torch.float64)
    y = torch.randn(2, 5, 3, 9, generator=g, dtype=torch.float64) * 4 + 2
    out = A.adain(x, y, eps=0.0)
    for b in range(2):
        for c in range(5):
            assert out[b, c].mean().item() == pytest.approx(y[b, c].mean().item(), abs=1e-9)
            assert np.std(out[b, c].numpy()) == pytest.approx(np.std(y[b, c].numpy()), rel=1e-9)


def test_mean_std_loss_is_huang_and_belongie_eq_12():
    g = torch.Generator().manual_seed(4)
    f = torch.randn(1, 3, 4, 4, generator=g, dtype=torch.float64)
    s = torch.randn(1, 3, 5, 5, generator=g, dtype=torch.float64)
    fn, sn = f.numpy()[0].reshape(3, -1), s.numpy()[0].reshape(3, -1)
    want = np.sum((fn.mean(1) - sn.mean(1)) ** 2) + np.sum((np.sqrt(fn.var(1) + 1e-5) - np.sqrt(sn.var(1) + 1e-5)) ** 2)
    assert A.mean_std_loss(f, A.mean_std(s)).item() == pytest.approx(want, rel=1e-10)


def test_mean_std_loss_in_the_optimiser_of_notebook_05_moves_the_statistics(enc):
    import nstlib

    style = nstlib.load_image("brush_strokes", size=48)
    res = nstlib.transfer("chelsea", style, size=48, steps=15, encoder=enc, progress=False,
                          gram_fn=A.mean_std, style_loss_fn=A.mean_std_loss, strength=3)  # fmt: skip
    first = {k: v for k, v in res.history[0].items() if k.startswith("style/")}
    last = {k: v for k, v in res.history[res.best_step].items() if k.startswith("style/")}
    assert sum(last.values()) < 0.5 * sum(first.values())


# ----------------------------------------------------------------------------------------------
# the transformation network


@pytest.mark.parametrize(("H", "W"), [(32, 32), (48, 64), (20, 36)])
def test_transformer_keeps_the_size_and_range(H, W):
    net = ff.TransformerNet(base=4, blocks=2)
    out = net(torch.rand(2, 3, H, W))
    assert out.shape == (2, 3, H, W)
    assert out.min() >= 0 and out.max() <= 1


def test_stylize_pads_any_size():
    net = ff.TransformerNet(base=4, blocks=1)
    out = ff.stylize(net, torch.rand(1, 3, 30, 43))
    assert out.shape == (1, 3, 30, 43)


def test_parameter_count_by_hand():
    base, blocks = 8, 2
    c1, c2, c3 = 8, 16, 32
    conv = lambda i, o, k: i * o * k * k + o  # noqa: E731
    norm = lambda c: 2 * c  # noqa: E731
    want = (
        conv(3, c1, 9) + norm(c1) + conv(c1, c2, 3) + norm(c2) + conv(c2, c3, 3) + norm(c3)
        + blocks * 2 * (conv(c3, c3, 3) + norm(c3))
        + conv(c3, c2, 3) + norm(c2) + conv(c2, c1, 3) + norm(c1) + conv(c1, 3, 9)
    )  # fmt: skip
    assert ff.parameter_count(ff.TransformerNet(base, blocks)) == want


def _measured_receptive_fields(net: nn.Module, size: int = 160) -> list[int]:
    """Width of the input region whose pixels change an output pixel, for the 4 pixels right of the
    centre (every phase modulo 4), instance norm removed and all weights positive (no cancellation)."""
    net = copy.deepcopy(net)
    for m in list(net.modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, nn.InstanceNorm2d):
                setattr(m, child_name, nn.Identity())
    g = torch.Generator().manual_seed(0)
    for p in net.parameters():
        p.data = torch.rand(p.shape, generator=g) * 0.1 + 0.01
    widths = []
    for c in range(size // 2, size // 2 + 4):
        x = torch.rand(1, 3, size, size, requires_grad=True)
        net.net(x)[0, :, c, c].sum().backward()  # pre-sigmoid
        cols = (x.grad[0].abs().sum(dim=(0, 1)) > 0).nonzero().flatten()
        widths.append(int(cols.max() - cols.min() + 1))
    return widths


@pytest.mark.parametrize(("blocks", "expected"), [(0, 31), (1, 47), (5, 111)])
def test_receptive_field_walk_matches_the_gradient(blocks, expected):
    # by hand, the recurrence r += (k - 1) * jump: 9x9 -> 9; two stride-2 3x3 -> 11, 15 (jump 4); each block
    # + 2 * 8; upsample (jump 2) + 3x3 -> + 4; upsample (jump 1) + 3x3 -> + 2; 9x9 -> + 8: 29 + 16 * blocks on
    # average over positions; the upsampling makes it 2 px wider or narrower by the pixel's phase.
    net = ff.TransformerNet(1, blocks)
    measured = _measured_receptive_fields(net, size=64 + 32 * blocks)
    assert max(measured) == expected and min(measured) == expected - 4
    assert ff.receptive_field(net) == expected


def test_receptive_field_of_the_downsampling_half():
    # 9x9 (9), 3x3 stride 2 (+2), 3x3 stride 2 (+4), then each residual block's two 3x3 at jump 4 (+16)
    net = ff.TransformerNet(1, 3)
    assert ff.receptive_field(net.net[: 9 + 3]) == 15 + 16 * 3


# ----------------------------------------------------------------------------------------------
# training


def test_training_lowers_the_loss_on_a_tiny_size(enc):
    seen = []
    res = ff.train("brush_strokes", seconds=600, max_steps=30, size=32, batch=2, base=4, blocks=1,
                   encoder=enc, preview_every=10, lr=1e-2, callback=lambda s, p, t: seen.append((s, p)))  # fmt: skip
    assert res.steps == 30 and len(res.history) == 30
    first = np.mean([h["total"] for h in res.history[:5]])
    last = np.mean([h["total"] for h in res.history[-5:]])
    assert last < 0.8 * first, (first, last)
    assert [s for s, _ in seen] == list(range(30))
    assert [s for s, p in seen if p is not None] == [9, 19, 29]  # the held-out photo every 10 steps
    assert [s for s, _ in res.previews] == [10, 20, 30]
    h = res.history[-1]
    assert h["total"] == pytest.approx(sum(res.term_weights[k] * h[k] for k in res.term_weights), rel=1e-5)


def test_training_stops_at_its_time_budget(enc):
    res = ff.train("mosaic", seconds=1.0, size=32, batch=1, base=4, blocks=0, encoder=enc, preview_every=1000)
    assert res.steps >= 1
    assert res.history[-1]["time"] < 1.0 + 10.0  # one step may overrun the budget, not many


def test_saved_model_round_trip(tmp_path):
    net = ff.TransformerNet(base=4, blocks=1)
    path = ff.save_model(net, tmp_path / "m.pt", {"seed": 7})
    back = ff.load_model(path)
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(ff.stylize(back, x), ff.stylize(net, x), atol=2e-3, rtol=0)  # float16 storage
    assert back.info == {"seed": 7}


def test_preserve_color_keeps_the_photo_chrominance_and_the_network_luminance():
    g = torch.Generator().manual_seed(5)
    photo, styled = torch.rand(1, 3, 8, 8, generator=g) * 0.6 + 0.2, torch.rand(1, 3, 8, 8, generator=g) * 0.6 + 0.2
    out = ff.preserve_color(styled, photo)
    # YIQ by the NTSC matrix, written out here
    m = torch.tensor([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])
    yiq = lambda t: torch.einsum("ij,bjhw->bihw", m, t)  # noqa: E731
    inside = ((out > 0) & (out < 1)).all(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    torch.testing.assert_close(yiq(out)[:, :1][inside[:, :1]], yiq(styled)[:, :1][inside[:, :1]], atol=1e-5, rtol=0)
    torch.testing.assert_close(yiq(out)[:, 1:][inside[:, 1:]], yiq(photo)[:, 1:][inside[:, 1:]], atol=1e-5, rtol=0)


def test_pan_frames_slide_over_the_photo():
    frames = ff.pan_frames("chelsea", frames=4, width=64, size=128)
    assert len(frames) == 4 and all(f.shape == (1, 3, 64, 64) for f in frames)
    assert not torch.equal(frames[0], frames[-1])


def test_decoder_training_lowers_its_loss(enc):
    res = A.train_decoder(seconds=600, max_steps=25, size=32, batch=2, layer="relu2_1", width=8, encoder=enc, lr=3e-3)
    first = np.mean([h["total"] for h in res.history[:5]])
    last = np.mean([h["total"] for h in res.history[-5:]])
    assert last < 0.8 * first, (first, last)
    out = A.adain_stylize(res.decoder, "chelsea", "mosaic", alpha=0.5, size=40, encoder=enc)
    assert out.shape == (1, 3, 24, 40)  # chelsea 300x451 at longer side 40 is 27x40, cut to a multiple of 4


# ----------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(seconds=0), "seconds = 0"),
        (dict(seconds=float("nan")), "seconds = nan"),
        (dict(seconds="60"), "seconds = '60'"),
        (dict(size=36 + 2), "multiple of 4"),
        (dict(size=16), "at least 32 px"),
        (dict(batch=0), "batch = 0"),
        (dict(style_weight=-1), "style_weight = -1"),
        (dict(held_out="coffee"), "is one of the training photos"),
        (dict(photos=()), "photos is empty"),
    ],
)
def test_train_bad_input(kwargs, message, enc):
    args = dict(seconds=1.0, size=32, encoder=enc, base=4, blocks=0)
    with pytest.raises(ValueError, match=message):
        ff.train("mosaic", **{**args, **kwargs})


def test_other_bad_inputs():
    with pytest.raises(ValueError, match="need an int base >= 1"):
        ff.TransformerNet(base=0)
    with pytest.raises(TypeError, match="needs the network"):
        ff.stylize("chelsea", torch.rand(1, 3, 8, 8))  # arguments swapped
    with pytest.raises(ValueError, match="same C"):
        A.adain(torch.rand(1, 3, 4, 4), torch.rand(1, 4, 4, 4))
    with pytest.raises(ValueError, match=r"must be a number in \[0, 1\]"):
        A.adain_stylize(A.Decoder("relu2_1", 4), "chelsea", "mosaic", alpha=2.0)
    with pytest.raises(ValueError, match="preserve_color"):
        ff.preserve_color(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(FileNotFoundError, match="no model file"):
        ff.load_model("/nonexistent/model.pt")


def test_shipped_model_matches_its_registry_entry():
    import hashlib
    import json

    entry = json.loads(ff.MODELS_REGISTRY.read_text())["models"][0]
    path = ff.MODELS_REGISTRY.parents[2] / entry["file"]
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"] <= 2_000_000
    model = ff.shipped_model(entry["name"])
    assert (model.base, model.blocks) == (entry["base"], entry["blocks"])
    assert model.info["steps"] == entry["steps"] and "train_feedforward.py" in model.info["command"]
    with pytest.raises(ValueError, match="no shipped model 'nope'"):
        ff.shipped_model("nope")
