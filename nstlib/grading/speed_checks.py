"""Checks of notebook 07's exercises ("Speed": a network that paints in one pass), as data.

- ``instance_norm`` (07): per sample and channel, (x - mean) / sqrt(var + eps) over the positions
  (Ulyanov, Vedaldi & Lempitsky 2016); batch norm and layer norm are the plausible mistakes;
- ``transformer_receptive_field`` (07): the receptive field of one unit after the residual blocks of
  Johnson, Alahi & Fei-Fei's (2016) network (9x9 conv, two 3x3 stride-2 convs, blocks of two 3x3 convs);
- ``adain`` (07): sigma(y) (x - mu(x)) / sigma(x) + mu(y) (Huang & Belongie 2017, eq. 8);
- ``transformer_parameters`` (07): the learnable parameters of that network (weights, biases and
  instance norm's scale and shift), to set against the 852,128 Gram entries of deck 004.

References: naive NumPy loops per sample and channel; the gradient of a unit of a network built here
from ``torch.nn`` layers (which input pixels reach it); the parameter count of ``torch.nn`` layers
built here. None of them calls ``nstlib.feedforward`` or ``nstlib.adain``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ._core import Case, Spec, checker
from ._outputs import number, tensor
from ._values import Rand

F32, F64 = torch.float32, torch.float64
_KEEPDIM = {
    "must match the size of tensor": "keep the reduced dimensions: x.mean(dim=(2, 3), keepdim=True) is "
    "(B, C, 1, 1), which broadcasts against the (B, C, H, W) map; without keepdim=True it is (B, C).",
}

# ----------------------------------------------------------------------------------------------
# instance_norm(x, eps)


def _norm_np(x: np.ndarray, axes: tuple[int, ...], eps: float, ddof: int = 0, eps_outside: bool = False) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) with the statistics over ``axes`` (the shape of every variant)."""
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    return (x - mu) / (np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps))


def _instance_norm_loops(x: np.ndarray, eps: float) -> np.ndarray:
    """The reference: for every sample b and channel c, normalise x[b, c] over its H x W positions."""
    out = np.empty_like(x)
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            v = x[b, c]
            out[b, c] = (v - v.mean()) / np.sqrt(((v - v.mean()) ** 2).mean() + eps)
    return out


def _same_shape_output(what: str) -> Any:
    def output(out: Any, case: Case, where: str) -> np.ndarray:
        x = case.args[0]
        return tensor(
            out,
            case,
            where,
            tuple(x.shape),
            returns=f"return a torch tensor of the input's shape (B, C, H, W): {what}.",
            shape_hint=lambda got: (
                "keep every dimension: use keepdim=True in .mean() / .var() so that the statistics broadcast against x."
            ),
            dtype=x.dtype,
        )

    return output


INSTANCE_NORM = Spec(
    id="instance_norm",
    notebook="07_speed",
    title="instance normalisation by hand",
    signature="instance_norm(x, eps)",
    inputs=[
        (Rand((2, 3, 4, 5), 71, F64), 1e-5),
        (Rand((3, 2, 3, 7), 72, F64), 0.5),  # a large eps tells sqrt(var + eps) from sqrt(var) + eps
        (Rand((4, 3, 2, 2), 73, F32), 1e-5),
        (Rand((1, 4, 6, 3), 74, F64), 0.1),
    ],
    reference=_instance_norm_loops,
    wrong=[
        (
            "that is batch norm: the statistics run over the batch too (dims 0, 2, 3). Instance norm takes "
            "each image alone, dims (2, 3), so an image's style does not depend on the other images in the batch.",
            lambda x, eps: _norm_np(x, (0, 2, 3), eps),
        ),
        (
            "that is layer norm: one mean and variance over all channels of an image (dims 1, 2, 3). Instance "
            "norm normalises each channel on its own, dims (2, 3).",
            lambda x, eps: _norm_np(x, (1, 2, 3), eps),
        ),
        (
            "use the population variance (divide by H*W): .var(dim=(2, 3), unbiased=False), or correction=0.",
            lambda x, eps: _norm_np(x, (2, 3), eps, ddof=1),
        ),
        (
            "eps goes inside the square root: (x - mean) / sqrt(var + eps), as torch.nn.InstanceNorm2d does.",
            lambda x, eps: _norm_np(x, (2, 3), eps, eps_outside=True),
        ),
        (
            "subtract the mean before dividing by the standard deviation.",
            lambda x, eps: x / np.sqrt(x.var(axis=(2, 3), keepdims=True) + eps),
        ),
        (
            "divide by the standard deviation sqrt(var + eps), not by the variance.",
            lambda x, eps: (x - x.mean(axis=(2, 3), keepdims=True)) / (x.var(axis=(2, 3), keepdims=True) + eps),
        ),
        (
            "the statistics of one channel run over its H x W positions: dims (2, 3), not the channels (dim 1).",
            lambda x, eps: _norm_np(x, (1,), eps),
        ),
    ],
    output=_same_shape_output("x normalised per sample and channel"),
    error_hints=_KEEPDIM,
    default_hint="for each sample and channel: mean and population variance over (H, W) (dims (2, 3), keepdim=True), "
    "then (x - mean) / sqrt(var + eps).",
    summary="{n} cases (batches of 1-4, non-square maps, eps 1e-5 to 0.5, float32/float64) match a loop over "
    "samples and channels.",
    noun="values",
    doc="""Check ``instance_norm(x, eps) -> Tensor``: (B, C, H, W) normalised per sample and channel over (H, W).""",
)
check_instance_norm = checker(INSTANCE_NORM)


# ----------------------------------------------------------------------------------------------
# transformer_receptive_field(blocks)


def _measured_field(blocks: int) -> int:
    """The width of the input columns that reach one unit after the blocks: gradient of a plain torch network.

    9x9 conv, 3x3 stride 2, 3x3 stride 2, then ``blocks`` x (3x3, 3x3), all zero-padded, positive
    weights (no cancellation), no normalisation: the unit's gradient is non-zero exactly on its field.
    """
    layers: list[nn.Module] = [nn.Conv2d(1, 1, 9, 1, 4), nn.Conv2d(1, 1, 3, 2, 1), nn.Conv2d(1, 1, 3, 2, 1)]
    layers += [nn.Conv2d(1, 1, 3, 1, 1) for _ in range(2 * blocks)]
    net = nn.Sequential(*layers).double()
    for p in net.parameters():
        nn.init.constant_(p, 0.1)
    size = 4 * (16 + 8 * blocks)
    x = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    y = net(x)
    c = y.shape[-1] // 2
    y[0, 0, c, c].backward()
    assert x.grad is not None
    cols = (x.grad[0, 0].abs().sum(0) > 0).nonzero().flatten()
    return int(cols.max() - cols.min() + 1)


def _rf(add_first: int, per_block: int, r0: int = 1) -> Any:
    return lambda blocks: r0 + add_first + per_block * blocks


TRANSFORMER_RECEPTIVE_FIELD = Spec(
    id="transformer_receptive_field",
    notebook="07_speed",
    title="receptive field after the residual blocks",
    signature="transformer_receptive_field(blocks)",
    inputs=[(0,), (1,), (3,), (5,), (8,)],
    reference=_measured_field,
    wrong=[
        (
            "off by one: start from r_0 = 1 (one pixel sees itself), then add (k - 1) * jump per layer.",
            _rf(14, 16, r0=0),
        ),
        (
            "each layer adds (k - 1) * jump, not k * jump (a 1x1 convolution adds nothing).",
            lambda blocks: 1 + 9 + 3 * 1 + 3 * 2 + 2 * blocks * 3 * 4,
        ),
        (
            "a residual block has TWO 3x3 convolutions: each adds (3 - 1) * 4 = 8 pixels.",
            _rf(14, 8),
        ),
        (
            "the jump after the two stride-2 layers is 2 x 2 = 4 input pixels: a 3x3 convolution there adds "
            "(3 - 1) * 4 = 8, not 2.",
            _rf(12, 4),
        ),
        (
            "the stride of a layer spaces the units of the NEXT layers: the first stride-2 convolution still "
            "adds (3 - 1) * 1 (its own input is spaced 1 pixel), the second (3 - 1) * 2.",
            _rf(8 + 4 + 8, 16),
        ),
        (
            "the jump is the PRODUCT of the strides (2 x 2 = 4), not their sum plus one.",
            lambda blocks: 1 + 8 + 2 + 2 * 2 + 2 * blocks * 2 * 3,
        ),
        (
            "the residual blocks are part of it: each adds 2 x (3 - 1) x 4 = 16 pixels.",
            _rf(14, 0),
        ),
    ],
    rtol=0.0,
    output=number(
        whole=True, otherwise="return the receptive field as an int (pixels on one side).", show_expected=False
    ),
    default_hint="r_0 = 1; each layer: r += (k - 1) * jump, then jump *= stride. 9x9 (stride 1), 3x3 (stride 2), "
    "3x3 (stride 2), then 2 x blocks 3x3 (stride 1).",
    summary="{n} depths (0-8 residual blocks) give the receptive field a gradient measures.",
    noun="receptive field",
    show=lambda a: f"{float(a):,.0f}",
    expected_text="the width of the input region that reaches one unit (measured with a gradient)",
    doc="""Check ``transformer_receptive_field(blocks) -> int``: pixels seen by one unit after the residual blocks.

    The reference builds the layers with ``torch.nn`` (9x9, 3x3 stride 2, 3x3 stride 2, blocks x two 3x3)
    and measures which input pixels change the unit's value (its gradient).
    """,
)
check_transformer_receptive_field = checker(TRANSFORMER_RECEPTIVE_FIELD)


# ----------------------------------------------------------------------------------------------
# adain(x, y, eps)


def _stats(v: np.ndarray, eps: float) -> tuple[float, float]:
    return float(v.mean()), float(np.sqrt(((v - v.mean()) ** 2).mean() + eps))


def _adain_loops(x: np.ndarray, y: np.ndarray, eps: float) -> np.ndarray:
    """The reference: per sample and channel, the content map standardised, then the style's std and mean."""
    out = np.empty_like(x)
    for b in range(x.shape[0]):
        yb = y[b] if y.shape[0] == x.shape[0] else y[0]
        for c in range(x.shape[1]):
            (mx, sx), (my, sy) = _stats(x[b, c], eps), _stats(yb[c], eps)
            out[b, c] = sy * (x[b, c] - mx) / sx + my
    return out


def _adain_axes(x: np.ndarray, y: np.ndarray, eps: float, axes: tuple[int, ...], ddof: int = 0) -> np.ndarray:
    mx, my = x.mean(axis=axes, keepdims=True), y.mean(axis=axes, keepdims=True)
    sx = np.sqrt(x.var(axis=axes, keepdims=True, ddof=ddof) + eps)
    sy = np.sqrt(y.var(axis=axes, keepdims=True, ddof=ddof) + eps)
    return sy * (x - mx) / sx + my


ADAIN = Spec(
    id="adain",
    notebook="07_speed",
    title="adaptive instance normalisation",
    signature="adain(x, y, eps)",
    inputs=[
        (Rand((3, 2, 3, 3), 83, F64), Rand((3, 2, 3, 3), 84, F64, low=2.0, high=3.0), 0.25),
        (Rand((2, 3, 4, 5), 81, F64), Rand((2, 3, 6, 3), 82, F64, low=-1.0, high=5.0), 1e-5),  # the style is larger
        (Rand((2, 4, 2, 6), 85, F32), Rand((2, 4, 5, 5), 86, F32, low=0.0, high=10.0), 1e-5),
    ],
    reference=_adain_loops,
    wrong=[
        (
            "content and style swapped: the result keeps the CONTENT's layout, x standardised, and takes the "
            "STYLE's statistics: sigma(y) * (x - mu(x)) / sigma(x) + mu(y).",
            lambda x, y, eps: _adain_axes(y, x, eps, (2, 3)),
        ),
        (
            "the statistics are per sample and channel, over the positions only: dims (2, 3), not the batch.",
            lambda x, y, eps: _adain_axes(x, y, eps, (0, 2, 3)),
        ),
        (
            "the statistics are per channel: dims (2, 3), not all channels together (1, 2, 3).",
            lambda x, y, eps: _adain_axes(x, y, eps, (1, 2, 3)),
        ),
        (
            "use the population variance (divide by H*W): .var(dim=(2, 3), unbiased=False), or correction=0.",
            lambda x, y, eps: _adain_axes(x, y, eps, (2, 3), ddof=1),
        ),
        (
            "add the style's mean mu(y) at the end: the output must have the style's mean, not 0.",
            lambda x, y, eps: _adain_axes(x, y, eps, (2, 3)) - y.mean(axis=(2, 3), keepdims=True),
        ),
        (
            "multiply by the style's standard deviation sigma(y): you standardised x and only shifted it.",
            lambda x, y, eps: (
                _adain_axes(x, y, eps, (2, 3))
                - (np.sqrt(y.var(axis=(2, 3), keepdims=True) + eps) - 1)
                * (x - x.mean(axis=(2, 3), keepdims=True))
                / np.sqrt(x.var(axis=(2, 3), keepdims=True) + eps)
            ),
        ),
        (
            "subtract the content's mean mu(x) before scaling.",
            lambda x, y, eps: (
                np.sqrt(y.var(axis=(2, 3), keepdims=True) + eps) * x / np.sqrt(x.var(axis=(2, 3), keepdims=True) + eps)
                + y.mean(axis=(2, 3), keepdims=True)
            ),
        ),
    ],
    output=_same_shape_output("the content's shape"),
    error_hints=_KEEPDIM,
    default_hint="per sample and channel: mu and sigma = sqrt(population var + eps) over dims (2, 3) for x and "
    "for y; then sigma(y) * (x - mu(x)) / sigma(x) + mu(y). The style map may have another H, W.",
    summary="{n} cases (style maps of other sizes, eps 1e-5 and 0.25, float32/float64) match a loop over samples "
    "and channels.",
    noun="values",
    doc="""Check ``adain(x, y, eps) -> Tensor``: (B, C, H, W) content features with the style's channel statistics.""",
)
check_adain = checker(ADAIN)


# ----------------------------------------------------------------------------------------------
# transformer_parameters(base, blocks)


def _count_torch(base: int, blocks: int) -> int:
    """Parameters of the network's layers, built from torch.nn here (convs with bias, affine instance norms)."""
    c1, c2, c3 = base, 2 * base, 4 * base
    convs = [(3, c1, 9), (c1, c2, 3), (c2, c3, 3), *[(c3, c3, 3)] * (2 * blocks), (c3, c2, 3), (c2, c1, 3)]
    layers: list[nn.Module] = []
    for c_in, c_out, k in convs:
        layers += [nn.Conv2d(c_in, c_out, k), nn.InstanceNorm2d(c_out, affine=True)]
    layers.append(nn.Conv2d(c1, 3, 9))  # the last convolution has no norm after it
    return sum(p.numel() for layer in layers for p in layer.parameters())


def _count(
    base: int, blocks: int, *, k_big: int = 9, bias: bool = True, norm: int = 2, convs_per_block: int = 2
) -> int:
    """The count by formula, with the knobs each wrong variant turns."""
    c1, c2, c3 = base, 2 * base, 4 * base

    def conv(i: int, o: int, k: int) -> int:
        return i * o * k * k + (o if bias else 0)

    total = (
        conv(3, c1, k_big) + conv(c1, c2, 3) + conv(c2, c3, 3) + conv(c3, c2, 3) + conv(c2, c1, 3) + conv(c1, 3, k_big)
    )
    total += blocks * convs_per_block * conv(c3, c3, 3)
    total += norm * (c1 + c2 + c3 + c2 + c1 + blocks * convs_per_block * c3)
    return total


TRANSFORMER_PARAMETERS = Spec(
    id="transformer_parameters",
    notebook="07_speed",
    title="parameters of the transformation network",
    signature="transformer_parameters(base, blocks)",
    inputs=[(16, 5), (32, 5), (8, 0), (4, 3)],
    reference=_count_torch,
    wrong=[
        (
            "don't forget the biases: every convolution has one per output channel.",
            lambda b, r: _count(b, r, bias=False),
        ),
        (
            "each instance norm learns a scale AND a shift per channel (affine=True): 2 C parameters.",
            lambda b, r: _count(b, r, norm=1),
        ),
        ("count the instance norms too: 2 parameters (scale, shift) per channel.", lambda b, r: _count(b, r, norm=0)),
        (
            "a residual block has TWO 3x3 convolutions, each followed by an instance norm.",
            lambda b, r: _count(b, r, convs_per_block=1),
        ),
        ("the first and the last convolutions are 9x9, the others 3x3.", lambda b, r: _count(b, r, k_big=3)),
        (
            "the last 9x9 convolution (back to 3 channels) has no instance norm after it.",
            lambda b, r: _count(b, r) + 2 * 3,
        ),
    ],
    rtol=0.0,
    output=number(whole=True, otherwise="return the count as an int."),
    default_hint="per convolution: c_in * c_out * k * k weights + c_out biases; per instance norm: 2 * channels. "
    "Layers: 9x9 3->b, 3x3 b->2b, 3x3 2b->4b, blocks x two 3x3 4b->4b, 3x3 4b->2b, 3x3 2b->b, 9x9 b->3.",
    summary="{n} widths and depths, including Johnson et al.'s (32 channels, 5 blocks: 1,679,235).",
    noun="parameter count",
    show=lambda a: f"{float(a):,.0f}",
    doc="""Check ``transformer_parameters(base, blocks) -> int``: the network's learnable parameters.""",
)
check_transformer_parameters = checker(TRANSFORMER_PARAMETERS)

#: notebook 07's checks in the order of its cells (appended to ``_catalogue.SPECS``)
SPEED_SPECS: tuple[Spec, ...] = (INSTANCE_NORM, TRANSFORMER_RECEPTIVE_FIELD, ADAIN, TRANSFORMER_PARAMETERS)
