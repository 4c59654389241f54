"""Check of "count the model from its shapes" (notebook 04), as data.

One task in place of two one-line counts: from the weight shapes of a stack of convolutions, the
network's learnable parameters (Simonyan & Zisserman 2015: weights and one bias per filter) and the
size of a Gram-matrix model with one Gram matrix per layer (Gatys, Ecker & Bethge, NeurIPS 2015: the
"~852k parameters" of the texture model; a symmetric N x N matrix holds N (N + 1) / 2 numbers).

The references are independent of the formulas: the parameter count of ``torch.nn.Conv2d`` modules
built on the meta device (no memory), and the upper triangle counted by ``torch.triu_indices``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._core import Case, Spec, _Failure, checker
from ._outputs import returned
from ._values import _describe, _short

Shapes = dict[str, tuple[int, int, int, int]]  # {conv name: (N_out, N_in, k_h, k_w)}

# VGG-19's convolutions (Simonyan & Zisserman 2015, configuration E): block, channels, convolutions
_VGG19 = ((1, 64, 2), (2, 128, 2), (3, 256, 4), (4, 512, 4), (5, 512, 4))


def vgg19_weight_shapes(up_to_block: int = 5) -> Shapes:
    """{conv name: weight shape} of VGG-19's convolutions up to block ``up_to_block`` (3x3 kernels)."""
    shapes: Shapes = {}
    n_in = 3
    for block, channels, convs in _VGG19[:up_to_block]:
        for i in range(1, convs + 1):
            shapes[f"conv{block}_{i}"] = (channels, n_in, 3, 3)
            n_in = channels
    return shapes


def _reference(shapes: Shapes) -> np.ndarray:
    params = sum(
        p.numel()
        for n_out, n_in, kh, kw in shapes.values()
        for p in torch.nn.Conv2d(n_in, n_out, (kh, kw), device="meta").parameters()
    )
    gram = sum(int(torch.triu_indices(n_out, n_out).shape[1]) for n_out, *_ in shapes.values())
    return np.array([params, gram], dtype=np.float64)


def _variant(params: Any, gram: Any) -> Any:
    """A wrong count: ``params`` and ``gram`` are functions of one layer's (N_out, N_in, k_h, k_w)."""

    def count(shapes: Shapes) -> np.ndarray:
        values = list(shapes.values())
        p = params(values) if getattr(params, "whole", False) else sum(params(*s) for s in values)
        g = gram(values) if getattr(gram, "whole", False) else sum(gram(*s) for s in values)
        return np.array([p, g], dtype=np.float64)

    return count


def _whole(fn: Any) -> Any:
    fn.whole = True  # a function of the whole list of shapes, not of one layer
    return fn


def _params(o: int, i: int, kh: int, kw: int) -> int:
    return o * i * kh * kw + o


def _pairs(o: int, *_: int) -> int:
    return o * (o + 1) // 2


_WRONG = [
    (
        "every filter also has a bias: one learnable number per filter, added after the weighted sum.",
        _variant(lambda o, i, kh, kw: o * i * kh * kw, _pairs),
    ),
    (
        "a filter has one weight per input channel AND per kernel position: it reads all N_in maps of the "
        "layer below, over its whole k_h x k_w window.",
        _variant(lambda o, i, kh, kw: o * kh * kw + o, _pairs),
    ),
    (
        "a kernel need not be square: its window holds k_h x k_w positions (read both numbers of the shape).",
        _variant(lambda o, i, kh, kw: o * i * kh * kh + o, _pairs),
    ),
    (
        "one bias per filter, not one per filter and input channel: the bias is added once, after the sum "
        "over the input channels.",
        _variant(lambda o, i, kh, kw: o * i * (kh * kw + 1), _pairs),
    ),
    (
        "a Gram matrix is symmetric (G_ij = G_ji): count each pair of maps once, the diagonal included.",
        _variant(_params, lambda o, *_: o * o),
    ),
    (
        "the diagonal G_ii (the energy of map i) is part of the model too: count the pairs i <= j.",
        _variant(_params, lambda o, *_: o * (o - 1) // 2),
    ),
    (
        "a layer's Gram matrix compares the maps the layer OUTPUTS: its size is set by the number of filters, "
        "not by the number of input channels.",
        _variant(_params, lambda o, i, *_: i * (i + 1) // 2),
    ),
    (
        "each layer has its own Gram matrix (maps of different layers are never paired): count per layer, then add.",
        _variant(_params, _whole(lambda shapes: _pairs(sum(s[0] for s in shapes)))),
    ),
    (
        "add up every layer of the dict, for both counts.",
        _variant(_whole(lambda shapes: _params(*shapes[0])), _whole(lambda shapes: _pairs(*shapes[0]))),
    ),
]


def _output(out: Any, case: Case, where: str) -> np.ndarray:
    if not isinstance(out, dict):
        raise _Failure(
            f"expected a dict ({where})",
            inputs=case.inputs,
            got=_describe(out),
            hint=returned(out, 'return {"parameters": ..., "gram_entries": ...}.'),
        )
    if set(out) != {"parameters", "gram_entries"}:
        raise _Failure(
            f"wrong keys ({where})",
            inputs=case.inputs,
            expected="keys 'parameters' and 'gram_entries'",
            got=f"keys {sorted(map(str, out))}",
            hint='return exactly two counts: {"parameters": ..., "gram_entries": ...}.',
        )
    values = []
    for key in ("parameters", "gram_entries"):
        v = out[key].item() if isinstance(out[key], Tensor) and out[key].numel() == 1 else out[key]
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not float(v).is_integer():
            raise _Failure(
                f"{key} must be a whole number ({where})",
                inputs=case.inputs,
                got=_short(out[key]),
                hint="counts are whole numbers: use // for the halving, and int arithmetic.",
            )
        values.append(float(v))
    return np.array(values)


def _describe_case(shapes: Shapes) -> str:
    items = list(shapes.items())
    shown = ", ".join(f"{k}: {v}" for k, v in items[:3]) + (f", ... ({len(items)} layers)" if len(items) > 3 else "")
    return f"count_model({{{shown}}})"


COUNT_MODEL = Spec(
    id="count_model",
    notebook="04_texture_synthesis",
    title="count the model from its shapes: parameters and Gram entries",
    signature="count_model(weight_shapes)",
    inputs=[
        (vgg19_weight_shapes(),),  # the 16 convolutions of VGG-19
        ({"conv1_1": (64, 3, 3, 3)},),
        ({"a": (8, 4, 3, 5), "b": (6, 8, 1, 1), "c": (5, 6, 5, 3)},),  # non-square kernels, 1x1
        ({"x": (2, 7, 1, 3), "y": (9, 2, 3, 3)},),
    ],
    reference=_reference,
    wrong=_WRONG,
    rtol=0.0,
    output=_output,
    default_hint="parameters: per filter one weight for every input channel and kernel position, plus a bias; "
    "Gram entries: a symmetric N x N matrix per layer. Work the one-layer case out by hand.",
    summary="{n} stacks (VGG-19's 16 convolutions, conv1_1, non-square and 1x1 kernels) counted right.",
    describe=_describe_case,
    noun="counts",
    show=lambda a: f"parameters {float(np.ravel(a)[0]):,.0f}, gram_entries {float(np.ravel(a)[1]):,.0f}",
    expected_text="the parameters and Gram entries of these shapes (worked out from the shapes, not shown)",
    points=2,
    doc="""Check ``count_model(weight_shapes) -> {"parameters": int, "gram_entries": int}``.

    ``weight_shapes``: {conv name: (N_out, N_in, k_h, k_w)}. ``parameters``: weights and one bias per
    filter, summed over the layers; ``gram_entries``: the distinct entries of one N_out x N_out Gram
    matrix per layer. References: ``torch.nn.Conv2d`` on the meta device and ``torch.triu_indices``.
    """,
)
check_count_model = checker(COUNT_MODEL)
