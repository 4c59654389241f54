"""Checks of the style-loss exercises of notebook 03, as data: inputs, a NumPy reference, the wrong variants.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016:

- ``style_layer_loss`` (03): E_l = 1/(4 N^2 M^2) sum (G - A)^2 (eq. 4), G the unnormalised Gram matrix;
- ``style_loss`` (03): L_style = sum_l w_l E_l over several layers (eq. 5).

Every reference and wrong variant computes in float64 NumPy on the values the student's function
gets (independent of ``nstlib.losses``); every loss must be a 0-dim tensor on the autograd graph.
The content, total and TV checks are in :mod:`nstlib.grading.loss_checks`, which re-exports these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ._core import Spec, checker
from ._outputs import scalar
from ._values import Rand, _gram_np, _inputs

__all__ = ["STYLE_LAYER_LOSS", "STYLE_LOSS", "check_style_layer_loss", "check_style_loss"]

F32, F64 = torch.float32, torch.float64

# ----------------------------------------------------------------------------------------------
# 03 style_layer_loss(F, A)


def _E(
    F: np.ndarray,
    A: np.ndarray,
    *,
    four: float = 4.0,
    pn: int = 2,
    pm: int = 2,
    mean: bool = False,
    batch: slice = slice(None),
    G_scale: float = 1.0,
) -> float:
    """E = sum (G/G_scale - A)^2 / (four N^pn M^pm) over the images in ``batch``; ``mean``: averaged instead."""
    _, N, H, W = F.shape
    M = H * W
    D2 = ((_gram_np(F) / G_scale - A) ** 2)[batch]
    return float((D2.mean() if mean else D2.sum()) / (four * N**pn * M**pm))


def _NM(F: np.ndarray) -> tuple[int, int]:
    return F.shape[1], F.shape[2] * F.shape[3]


STYLE_LAYER_LOSS = Spec(
    id="style_layer_loss",
    notebook="03_style_reconstruction",
    title="style loss E_l = 1/(4 N^2 M^2) sum (G - A)^2",
    signature="style_layer_loss(F, A)",
    inputs=[
        (Rand(shape, seed, dtype, grad=True), Rand(shape, seed + 1, dtype, 0.0, 1.5, gram=True))
        for shape, seed, dtype in (((2, 3, 4, 5), 41, F64), ((3, 4, 3, 6), 43, F32), ((2, 6, 2, 3), 45, F64))
    ],
    reference=lambda F, A: _E(F, A),
    wrong=[
        ("missing the normalisation: E_l = 1/(4 N^2 M^2) sum (G - A)^2.", lambda F, A: _E(F, A, four=1, pn=0, pm=0)),
        (
            "that is one slide's 1/2 sum (G - A)^2; nstlib uses Gatys' E_l = 1/(4 N^2 M^2) sum (G - A)^2, "
            "whose division by the layer's size keeps E_l from growing with the image (it does not make "
            "the layers count equally: that is what the weights w_l are for).",
            lambda F, A: _E(F, A, four=2, pn=0, pm=0),
        ),
        ("missing the factor 1/4: E_l = 1/(4 N^2 M^2) sum (G - A)^2.", lambda F, A: _E(F, A, four=1)),
        ("N and M are both squared: 1/(4 N^2 M^2), not 1/(4 N M).", lambda F, A: _E(F, A, pn=1, pm=1)),
        ("N and M are both squared: 1/(4 N^2 M^2), not 1/(N M).", lambda F, A: _E(F, A, four=1, pn=1, pm=1)),
        ("N must be squared too: 1/(4 N^2 M^2).", lambda F, A: _E(F, A, pn=1)),
        ("M must be squared too: 1/(4 N^2 M^2).", lambda F, A: _E(F, A, pm=1)),
        (
            "sum the squared differences, don't average them (.sum(), not .mean()); the normalisation "
            "is 1/(4 N^2 M^2).",
            lambda F, A: _E(F, A, four=1, pn=0, pm=0, mean=True),
        ),
        (
            "sum the squared differences, don't average them (.sum(), not .mean()); the normalisation "
            "is 1/(4 N^2 M^2).",
            lambda F, A: _E(F, A, mean=True),
        ),
        (
            "A is an UNnormalised Gram matrix: don't divide your G by N*M (or M) before comparing.",
            lambda F, A: _E(F, A, G_scale=float(np.prod(_NM(F)))),
        ),
        (
            "A is an UNnormalised Gram matrix: don't divide your G by N*M (or M) before comparing.",
            lambda F, A: _E(F, A, G_scale=_NM(F)[1]),
        ),
        ("sum over the whole batch: you used only the first item.", lambda F, A: _E(F, A, batch=slice(0, 1))),
        ("sum over the batch, don't average over it.", lambda F, A: _E(F, A) / len(F)),
        (
            "square the differences (no square root, no absolute value).",
            lambda F, A: np.sqrt(np.sum((_gram_np(F) - A) ** 2)) / (4 * np.prod(_NM(F)) ** 2),
        ),
        (
            "square the differences (no square root, no absolute value).",
            lambda F, A: np.sum(np.abs(_gram_np(F) - A)) / (4 * np.prod(_NM(F)) ** 2),
        ),
    ],
    describe=lambda F, A: _inputs(F=F, A=A) + f"  (N = {F.shape[1]}, M = {F.shape[2] * F.shape[3]})",
    output=scalar("the style loss"),
    default_hint="E_l = 1/(4 N^2 M^2) * sum_ij (G_ij - A_ij)^2 with the unnormalised G = F F^T, N channels, "
    "M = H*W positions, summed over the batch.",
    summary="{n} cases (batches of 2-3, non-square maps, float32/float64) match 1/(4 N^2 M^2) sum (G - A)^2.",
    error_hints={
        "must match the size of tensor": "G(F) must be (B, N, N) like A: the Gram matrix compares "
        "channels (F F^T with F of shape (B, N, H*W)), not positions (F^T F is (B, M, M))."
    },
    doc="""Check ``style_layer_loss(F, A) = 1/(4 N^2 M^2) * sum (G(F) - A)^2`` summed over the batch.

    F: (B, N, H, W) features (M = H*W), A: (B, N, N) unnormalised target Gram matrices. The
    signature of ``nstlib.synthesize``'s ``style_loss_fn`` (one layer's E_l).
    """,
)
check_style_layer_loss = checker(STYLE_LAYER_LOSS)


# ----------------------------------------------------------------------------------------------
# 03 style_loss(features, targets, weights): L_style = sum_l w_l E_l


def _style_inputs(index: int, shapes: Mapping[str, tuple[int, ...]], weights: dict[str, float], dtype: torch.dtype):
    """Features of every layer in ``shapes`` and the targets of ``weights``.

    Some layers have no target: the content layer.
    """
    features = {n: Rand(s, 300 + 10 * index + i, dtype, 0.0, 2.0, grad=True) for i, (n, s) in enumerate(shapes.items())}
    targets = {n: Rand(shapes[n], 400 + 10 * index + i, dtype, 0.0, 1.5, gram=True) for i, n in enumerate(weights)}
    return features, targets, weights


def _L(
    f: Mapping[str, np.ndarray],
    a: Mapping[str, np.ndarray],
    w: Mapping[str, float],
    nm_of: str | None = None,
    **kw: Any,
) -> float:
    """sum_l w_l E_l; ``nm_of``: N and M from that layer's shape for every layer (a mistake)."""
    total = 0.0
    for n, wl in w.items():
        scale = 1.0 if nm_of is None else (np.prod(_NM(f[nm_of])) / np.prod(_NM(f[n]))) ** 2
        total += wl * _E(f[n], a[n], **kw) / scale
    return total


STYLE_LOSS = Spec(
    id="style_loss",
    notebook="03_style_reconstruction",
    title="L_style = sum_l w_l E_l over several layers",
    signature="style_loss(features, targets, weights)",
    inputs=[  # layers {name: (B, N, H, W)}, weights (in another order than the features), dtype
        _style_inputs(
            0,
            {"conv1_1": (1, 3, 6, 8), "conv2_1": (1, 5, 3, 4), "conv4_2": (1, 6, 2, 2)},
            {"conv2_1": 0.7, "conv1_1": 0.2},
            F64,
        ),
        _style_inputs(
            1,
            {"conv1_1": (2, 2, 8, 6), "conv2_1": (2, 4, 4, 3), "conv3_1": (2, 7, 2, 3)},
            {"conv3_1": 0.5, "conv1_1": 0.25, "conv2_1": 1.5},
            F32,
        ),
        _style_inputs(
            2,
            {"conv5_1": (1, 8, 1, 3), "conv4_2": (1, 8, 2, 3), "conv3_1": (1, 4, 4, 6), "conv1_1": (1, 3, 8, 12)},
            {"conv1_1": 1.0, "conv3_1": 0.0, "conv5_1": 3.0},
            F64,
        ),
    ],
    reference=_L,
    wrong=[
        ("missing the factor 1/4: E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2.", lambda f, a, w: _L(f, a, w, four=1.0)),
        ("M_l must be squared: 1/(4 N_l^2 M_l^2), not 1/(4 N_l^2 M_l).", lambda f, a, w: _L(f, a, w, pm=1)),
        ("N_l must be squared: 1/(4 N_l^2 M_l^2), not 1/(4 N_l M_l^2).", lambda f, a, w: _L(f, a, w, pn=1)),
        (
            "N_l and M_l are both squared: 1/(4 N_l^2 M_l^2), not 1/(4 N_l M_l).",
            lambda f, a, w: _L(f, a, w, pn=1, pm=1),
        ),
        (
            "missing the normalisation 1/(4 N_l^2 M_l^2): without it the layer with the most positions dominates.",
            lambda f, a, w: _L(f, a, w, four=1.0, pn=0, pm=0),
        ),
        (
            "multiply each layer's E_l by its weight w_l: L_style = sum_l w_l E_l.",
            lambda f, a, w: _L(f, a, dict.fromkeys(w, 1.0)),
        ),
        (
            "look each weight up by its layer name (weights[name]): zipping the weights with the features pairs "
            "them by dict order, which need not match.",
            lambda f, a, w: sum(wl * _E(f[n], a[n]) for wl, n in zip(w.values(), [n for n in f if n in w])),
        ),
        ("sum over the layers, don't average: L_style = sum_l w_l E_l.", lambda f, a, w: _L(f, a, w) / len(w)),
        (
            "N_l and M_l belong to each layer: take them from that layer's F (its shape), not from the first layer's.",
            lambda f, a, w: _L(f, a, w, nm_of=next(iter(w))),
        ),
        (
            "inside E_l sum the squared differences (.sum()), don't average them.",
            lambda f, a, w: _L(f, a, w, mean=True),
        ),
    ],
    describe=lambda features, targets, weights: (
        f"features = {{{', '.join(f'{n}: {tuple(f.shape)}' for n, f in features.items())}}} "
        f"({str(next(iter(features.values())).dtype).replace('torch.', '')}, requires grad), "
        f"targets = {{{', '.join(f'{n}: {tuple(a.shape)}' for n, a in targets.items())}}}, weights = {weights}"
    ),
    output=scalar("the style loss"),
    default_hint="L_style = sum over the layers in `weights` of weights[l] * E_l, with E_l = 1/(4 N_l^2 M_l^2) "
    "sum (G_l - A_l)^2, N_l and M_l = H_l * W_l from layer l's own features.",
    summary="{n} cases (2-4 layers of different sizes, weights in another order than the features, an extra "
    "content layer, float32/float64) match sum_l w_l E_l.",
    error_hints={
        "keyerror": "sum over the layers in `weights` (or `targets`): `features` can also hold layers with "
        "no style target, such as the content layer conv4_2."
    },
    doc="""Check ``style_loss(features, targets, weights) = sum_l weights[l] * E_l``.

    features: {layer: F (B, N_l, H_l, W_l)} (may hold layers without a target, e.g. the content
    layer); targets: {layer: A (B, N_l, N_l)} unnormalised Gram matrices; weights: {layer: w_l}.
    """,
    points=2,
)
check_style_loss = checker(STYLE_LOSS)
