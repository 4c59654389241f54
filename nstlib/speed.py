"""Opt-in speed machinery: bf16 backward convolutions, channels-last memory, a fast Gram backward.

Nothing here changes what the pipeline computes; it changes how fast. The readable stages
(:mod:`nstlib.vgg`, :mod:`nstlib.losses`) work without this module's ideas: a student can skip it.
Measurements are in ``docs/performance.md``.

- :func:`native_bf16` / :func:`auto_precision`: bfloat16 only pays where the hardware multiplies it
  natively (AMX / AVX512-BF16 CPUs); elsewhere it is emulated and slower than float32.
- :class:`Bf16BackwardConv`: a 3x3 convolution whose forward runs in float32 and whose backward
  (half of the work) runs in bf16; :class:`Bf16FilterCache` casts each conv's filters to bf16 once
  and again only when they change.
- :func:`set_channels_last` / :func:`to_layout`: channels-last memory (N, H, W, C order), oneDNN's
  native layout on CPUs; values are the same, only the order in memory differs.
- :func:`gram_matrix`: the Gram matrix G = F F^T with a custom backward that accepts both layouts
  without copying and writes dL/dF with one matmul straight into F's layout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.grad import conv2d_input

__all__ = [
    "native_bf16",
    "auto_precision",
    "Bf16BackwardConv",
    "Bf16FilterCache",
    "bf16_backward_conv",
    "set_channels_last",
    "to_layout",
    "feature_matrix",
    "gram_matrix",
]


# ----------------------------------------------------------------------------- bf16
def native_bf16(device: torch.device | str) -> bool:
    """True when ``device`` multiplies bfloat16 matrices in hardware (AMX/AVX512-BF16 CPUs, Ampere+ GPUs).

    Only then is bf16 autocast faster than float32; elsewhere it is emulated and slower.
    """
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        try:  # pre-Ampere GPUs emulate bf16 (slowly); recent torch can tell
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # pragma: no cover - torch < 2.3
            return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    # oneDNN *emulates* bf16 on plain AVX-512 (there it is ~4x slower than float32): require
    # hardware bf16 (AMX tiles or AVX512-BF16).
    cpu = torch.cpu
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(cpu, probe, None)
        try:
            if check is not None and check():
                return True
        except RuntimeError:  # pragma: no cover
            pass
    return False


def auto_precision(device: torch.device) -> str:
    """``precision="auto"``: ``"bf16"`` (bf16 backward convolutions) on CPUs with native bf16, else ``"fp32"``.

    On an H200 (torch 2.11, 512 px, paper configuration) the bf16 backward was measured slower than
    float32: 7.5 vs 5.1 ms per loss + gradient evaluation (docs/performance.md), so GPUs stay in float32.
    """
    return "bf16" if device.type == "cpu" and native_bf16(device) else "fp32"


class Bf16BackwardConv(torch.autograd.Function):
    """A VGG 3x3 convolution (padding 1) whose forward runs in float32 and whose backward runs in bf16.

    Why not bf16 in both directions: rounding the *forward* maps to bf16 moves max-pooling's argmax
    and ReLU's mask, and the input gradient of a style loss at conv5_1 then differs from float32's
    by ~40 % (measured on VGG-19, 128 px); after 160 L-BFGS evaluations the paper configuration
    ended 12-22 % above the float32 loss. The *backward* in bf16 (grad_output and filters rounded,
    products accumulated in float32 by oneDNN) changes that gradient by < 1 %. The backward is half
    of the work, so on hardware with native bf16 this buys up to 2x on it at float32's accuracy.
    Filters are frozen: no gradient for them.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, weight_bf16: Tensor) -> Tensor:
        ctx.save_for_backward(weight_bf16)
        ctx.input_shape = x.shape
        return F.conv2d(x, weight, bias, padding=1)  # (B, C_out, H, W), float32

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        (weight_bf16,) = ctx.saved_tensors
        g = conv2d_input(ctx.input_shape, weight_bf16, grad_out.to(torch.bfloat16), padding=1)
        return g.float(), None, None, None  # (B, C_in, H, W)


class Bf16FilterCache:
    """Each convolution's filters in bfloat16, cast once and cached until the filters change.

    A cached copy is reused only while the float32 filters are the same tensor (address, device,
    memory layout) at the same version: ``load_state_dict``, an in-place edit (``weight.mul_(2)``),
    ``.to(device)`` or a layout switch all invalidate it. Casting at every call instead costs
    a pass over all filters per evaluation.
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple, Tensor]] = {}

    def get(self, name: str, conv: nn.Conv2d) -> Tensor:
        """``conv``'s filters in bf16, in their memory layout (channels-last stays channels-last)."""
        w = conv.weight
        key = (w.data_ptr(), w._version, w.device, w.stride())
        hit = self._cache.get(name)
        if hit is None or hit[0] != key:
            hit = (key, w.detach().to(torch.bfloat16))  # preserve_format: keeps the filters' layout
            self._cache[name] = hit
        return hit[1]

    def clear(self) -> None:
        self._cache.clear()

    def __len__(self) -> int:
        return len(self._cache)


def bf16_backward_conv(x: Tensor, name: str, conv: nn.Conv2d, cache: Bf16FilterCache) -> Tensor:
    """``conv(x)`` in float32 whose input gradient is computed in bf16 (see :class:`Bf16BackwardConv`)."""
    return Bf16BackwardConv.apply(x.float(), conv.weight, conv.bias, cache.get(name, conv))


# ----------------------------------------------------------------------------- channels-last
def set_channels_last(module: nn.Module, on: bool) -> None:
    """Store ``module``'s filters in channels-last layout (``on``) or plain NCHW.

    A convolution whose input and filters disagree converts the filters at every call (measured:
    ~5 % of a forward+backward pass at 256 px), so the filters follow the maps' layout.
    """
    module.to(memory_format=torch.channels_last if on else torch.contiguous_format)


def to_layout(x: Tensor, channels_last: bool) -> Tensor:
    """``x`` (B, C, H, W) in channels-last memory when ``channels_last``, else unchanged (same values)."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


# ----------------------------------------------------------------------------- Gram matrix
def feature_matrix(F: Tensor) -> tuple[Tensor, bool]:
    """A copy-free 2-D view of feature maps: (B, C, M) for NCHW memory, (B, M, C) for channels-last.

    Returns the view and ``True`` when it is (B, M, C) ("transposed").
    """
    B, C, H, W = F.shape
    if F.is_contiguous():
        return F.view(B, C, H * W), False  # (B, C, M)
    if F.is_contiguous(memory_format=torch.channels_last):
        return F.permute(0, 2, 3, 1).view(B, H * W, C), True  # (B, M, C)
    return F.reshape(B, C, H * W), False  # (B, C, M), copied


class _Gram(torch.autograd.Function):
    """G = X X^T for feature maps F (B, C, H, W) seen as X (B, C, M); backward is one matmul.

    dL/dX = (dG + dG^T) X, written by the matmul straight into a fresh (B, C, H, W) tensor in F's
    own memory layout (not a view of a temporary), so that autograd adds the gradient arriving
    through the next ReLU into it in place instead of allocating another feature-map-sized tensor.
    """

    @staticmethod
    def forward(ctx, F: Tensor) -> Tensor:
        X, transposed = feature_matrix(F)  # (B, C, M) or (B, M, C)
        ctx.save_for_backward(F)
        with torch.autocast(F.device.type, enabled=False):
            return X.transpose(1, 2) @ X if transposed else X @ X.transpose(1, 2)  # (B, C, C)

    @staticmethod
    def backward(ctx, dG: Tensor) -> Tensor:
        (F,) = ctx.saved_tensors
        X, transposed = feature_matrix(F)
        S = dG + dG.transpose(1, 2)  # (B, C, C), symmetric
        dF = torch.empty_like(F, memory_format=torch.preserve_format)  # (B, C, H, W) in F's layout
        dX, dX_transposed = feature_matrix(dF)  # a view of dF's memory, (B, C, M) or (B, M, C)
        with torch.autocast(F.device.type, enabled=False):
            if dX_transposed == transposed and dX.data_ptr() == dF.data_ptr():
                torch.matmul(X, S, out=dX) if transposed else torch.matmul(S, X, out=dX)
            else:  # pragma: no cover - exotic strides: compute, then copy into place
                B, C, H, W = F.shape
                dF.copy_((X @ S).view(B, H, W, C).permute(0, 3, 1, 2) if transposed else (S @ X).view(B, C, H, W))
        return dF


def gram_matrix(F: Tensor) -> Tensor:
    """:func:`nstlib.losses.gram_matrix` (same values) for maps in either memory layout, without copies.

    Args:
        F: (B, C, H, W) feature maps, NCHW or channels-last (float32 or float64).

    Returns:
        (B, C, C) unnormalised Gram matrices, in ``F``'s dtype even under autocast.

    >>> gram_matrix(torch.tensor([[[[1., 2.]], [[3., 4.]]]]).contiguous(memory_format=torch.channels_last))
    tensor([[[ 5., 11.],
             [11., 25.]]])
    """
    if F.dim() != 4:
        raise ValueError(f"gram_matrix expects feature maps of shape (B, C, H, W), got {tuple(F.shape)}")
    return _Gram.apply(F)
