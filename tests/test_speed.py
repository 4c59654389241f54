"""nstlib.speed: bf16 backward convolutions, the bf16 filter cache, channels-last, the fast Gram.

None of it may change a value the readable pipeline computes: oracles are torchvision's layers in
float64, the plain :func:`nstlib.losses.gram_matrix`, and freshly built encoders.
"""

from __future__ import annotations

import pytest
import torch

from nstlib import LAYER_NAMES, VGG19Features, losses, speed
from nstlib.losses import style_layer_loss

from .helpers import smooth_image, torchvision_vgg19_features
from .test_vgg import torchvision_steps


def test_bf16_precision_returns_float32_close_to_fp32(tv_state_path):
    x = smooth_image(64, 64)
    fp32 = VGG19Features(weights=tv_state_path, precision="fp32", device="cpu")
    bf16 = VGG19Features(weights=tv_state_path, precision="bf16", device="cpu")
    a, b = fp32(x, ["conv4_2"])["conv4_2"], bf16(x, ["conv4_2"])["conv4_2"]
    assert b.dtype == torch.float32
    assert ((a - b).norm() / a.norm()).item() < 0.05


def _cpuinfo_flags() -> set[str] | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), None)
    return set(line.split(":", 1)[1].split()) if line else None


def test_native_bf16_matches_the_cpu_flags():
    """bf16 counts as native only with AMX or AVX512-BF16 (read from the kernel, not from torch)."""
    flags = _cpuinfo_flags()
    if flags is None:
        pytest.skip("no /proc/cpuinfo flags on this system")
    expected = bool({"amx_bf16", "avx512_bf16"} & flags)
    assert speed.native_bf16("cpu") is expected
    assert speed.native_bf16("meta") is False


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_where_native(monkeypatch, native):
    """'auto' never picks emulated bf16 (4-5x slower than fp32 on AVX-512 without BF16)."""
    monkeypatch.setattr(speed, "native_bf16", lambda device: native)
    enc = VGG19Features(weights="random", precision="auto", device="cpu")
    assert enc.precision == ("bf16" if native else "fp32")
    assert VGG19Features(weights="random", precision="fp32", device="cpu").precision == "fp32"


@pytest.mark.parametrize("layer", ["conv3_1", "conv5_1"])
def test_bf16_mode_keeps_features_exact_and_the_style_gradient_within_2_percent(tv_state_path, layer):
    """bf16 mode: forward in float32 (features bit-identical), backward convolutions in bf16.

    Oracle: torchvision's layers in float64 with the style loss written out by hand.
    """
    feats64 = torchvision_vgg19_features(tv_state_path).double()
    idx = LAYER_NAMES.index(layer)
    x, style = smooth_image(64, 64, seed=1), smooth_image(64, 64, seed=2)

    def style_loss64(img: torch.Tensor, A: torch.Tensor | None = None):
        Fm = torchvision_steps(feats64[: idx + 1], img.double())[idx]  # (1, N, H, W)
        N, M = Fm.shape[1], Fm.shape[2] * Fm.shape[3]
        Fm = Fm.reshape(N, M)
        G = Fm @ Fm.T  # (N, N)
        return G if A is None else ((G - A) ** 2).sum() / (4 * N**2 * M**2)

    with torch.no_grad():
        A = style_loss64(style)
    xr = x.clone().double().requires_grad_(True)
    style_loss64(xr, A).backward()
    expected = xr.grad.float()

    grads, feats = {}, {}
    for precision in ("fp32", "bf16"):
        enc = VGG19Features(weights=tv_state_path, precision=precision, device="cpu", normalize=False)
        xi = x.clone().requires_grad_(True)
        f = enc(xi, [layer])[layer]
        feats[precision] = f.detach()
        style_layer_loss(f, A.float()[None]).backward()
        grads[precision] = xi.grad
    assert torch.equal(feats["bf16"], feats["fp32"])  # the forward pass is float32 in both modes
    rel = {p: ((g - expected).norm() / expected.norm()).item() for p, g in grads.items()}
    assert rel["fp32"] < 1e-4, rel
    assert 0 < rel["bf16"] < 0.02, rel  # > 0: the backward really ran in bf16


# ---------------------------------------------------------------- the bf16 filter cache


def _bf16_net(seed: int, channels_last: bool = True) -> VGG19Features:
    enc = VGG19Features(weights="random", seed=seed, precision="bf16", device="cpu", normalize=False)
    enc.channels_last = channels_last
    return enc


def _input_grad(enc: VGG19Features) -> torch.Tensor:
    """d(sum of conv2_1^2)/d(pixels): its backward runs conv2_1 and conv1_2 on the cached bf16 filters."""
    x = smooth_image(24, 24, seed=5).requires_grad_(True)
    enc(x, ["conv2_1"])["conv2_1"].square().sum().backward()
    return x.grad


def test_bf16_filter_cache_follows_every_change_of_the_filters():
    """After load_state_dict, an in-place edit or a layout switch the backward uses the *new* filters.

    Expected: the gradient of a freshly built network that carries the new filters from the start
    (its cache never saw the old ones).
    """
    enc = _bf16_net(seed=0)
    before = _input_grad(enc)  # fills the cache with seed 0's filters
    assert len(enc._bf16_filters) == 2  # conv1_2 and conv2_1 (conv1_1 stays float32)

    enc.features.load_state_dict(_bf16_net(seed=1).features.state_dict())  # copies in place: same tensors
    after_load = _input_grad(enc)
    assert torch.equal(after_load, _input_grad(_bf16_net(seed=1)))
    assert not torch.equal(after_load, before)

    enc.features.conv1_2.weight.mul_(-0.5)  # an in-place edit of the float32 filters
    edited = _bf16_net(seed=1)
    edited.features.conv1_2.weight.mul_(-0.5)  # before its first forward: nothing cached yet
    assert torch.equal(_input_grad(enc), _input_grad(edited))

    enc.channels_last = False  # new filter tensors in NCHW
    fresh = _bf16_net(seed=1, channels_last=False)
    fresh.features.conv1_2.weight.mul_(-0.5)
    assert torch.equal(_input_grad(enc), _input_grad(fresh))


def test_bf16_filter_cache_casts_once_while_the_filters_stay():
    cache, conv = speed.Bf16FilterCache(), torch.nn.Conv2d(4, 8, 3, padding=1).requires_grad_(False)
    first = cache.get("c", conv)
    assert first.dtype == torch.bfloat16 and torch.equal(first, conv.weight.to(torch.bfloat16))
    assert cache.get("c", conv) is first  # no second cast
    conv.weight.add_(1.0)
    assert torch.equal(cache.get("c", conv), conv.weight.to(torch.bfloat16))


# ---------------------------------------------------------------- channels-last and the fast Gram


def test_channels_last_changes_no_feature_value(tv_state_path):
    x = smooth_image(40, 56, seed=7)
    enc = VGG19Features(weights=tv_state_path, precision="fp32", device="cpu", normalize=False)
    enc.channels_last = True
    cl = enc(x, ["conv1_2", "relu3_1", "pool4"], fast_layout=True)
    assert cl["relu3_1"].is_contiguous(memory_format=torch.channels_last)
    enc.channels_last = False
    plain = enc(x, ["conv1_2", "relu3_1", "pool4"])
    for name, f in plain.items():
        assert f.is_contiguous()
        torch.testing.assert_close(cl[name], f, rtol=1e-5, atol=1e-5, msg=name)


@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_gram_equals_the_plain_formula_with_its_gradient(channels_last):
    F = torch.randn(2, 5, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    if channels_last:
        F = F.contiguous(memory_format=torch.channels_last)
    dG = torch.randn(2, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(9))  # not symmetric
    grads = []
    for gram in (losses.gram_matrix, speed.gram_matrix):
        f = F.detach().clone(memory_format=torch.preserve_format).requires_grad_(True)
        G = gram(f)
        G.backward(dG)
        grads.append((G.detach(), f.grad))
    torch.testing.assert_close(grads[1][0], grads[0][0])
    torch.testing.assert_close(grads[1][1], grads[0][1])
    assert grads[1][1].is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert torch.autograd.gradcheck(speed.gram_matrix, (F.detach().requires_grad_(True),))


def test_fast_gram_stays_float32_under_bf16_autocast():
    F = torch.randn(1, 8, 16, 16).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        G = speed.gram_matrix(F)
    assert G.dtype == torch.float32
    torch.testing.assert_close(G, losses.gram_matrix(F), rtol=1e-5, atol=1e-4)
