"""Checks of the loss exercises, as data: inputs, a NumPy reference, the wrong variants with their hints.

- ``content_loss`` (02): L = 1/2 sum (F - P)^2 (Gatys et al. 2016, eq. 1);
- ``style_layer_loss`` (03): E_l = 1/(4 N^2 M^2) sum (G - A)^2 (eq. 4);
- ``style_loss`` (03): L_style = sum_l w_l E_l over several layers (eq. 5);
- ``total_loss`` (05): alpha * content + beta * style, weighted per layer (eq. 7);
- ``tv_loss`` (05): the squared anisotropic total variation (Mahendran & Vedaldi 2015), vectorised.

Every reference and wrong variant computes in float64 NumPy on the values the student's function
gets (independent of ``nstlib.losses``); every loss must be a 0-dim tensor on the autograd graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._core import Spec, checker
from ._loops import _reject_loops
from ._outputs import scalar
from ._values import Rand, _gram_np, _inputs, _on_device, _rand

F32, F64 = torch.float32, torch.float64

# ----------------------------------------------------------------------------------------------
# 02 content_loss(F, P)


def _half_sq(d: np.ndarray) -> float:
    return 0.5 * np.sum(d**2)


CONTENT_LOSS = Spec(
    id="content_loss",
    notebook="02_content_reconstruction",
    title="content loss 1/2 sum (F - P)^2",
    signature="content_loss(F, P)",
    inputs=[
        (Rand((2, 3, 4, 5), 11, F32, grad=True), Rand((2, 3, 4, 5), 12, F32)),
        (Rand((3, 4, 3, 7), 13, F64, grad=True), Rand((3, 4, 3, 7), 14, F64)),
        (Rand((2, 1, 6, 2), 15, F64, grad=True), Rand((2, 1, 6, 2), 16, F64)),
    ],
    reference=lambda F, P: _half_sq(F - P),
    wrong=[
        (
            "missing the factor 1/2: L = 1/2 sum (F - P)^2 (one slide drops it; Gatys keeps it).",
            lambda F, P: np.sum((F - P) ** 2),
        ),
        (
            "sum over all entries, don't average: use .sum(), not .mean() (or F.mse_loss, which averages).",
            lambda F, P: 0.5 * np.mean((F - P) ** 2),
        ),
        (
            "sum over all entries, don't average: use .sum(), not .mean() (or F.mse_loss, which averages).",
            lambda F, P: np.mean((F - P) ** 2),
        ),
        ("sum over the whole batch: you used only the first image.", lambda F, P: _half_sq(F[0] - P[0])),
        (
            "sum over the whole batch: you used only the first image (and dropped the 1/2).",
            lambda F, P: np.sum((F[0] - P[0]) ** 2),
        ),
        ("sum over the batch too, don't divide by the batch size.", lambda F, P: _half_sq(F - P) / len(F)),
        (
            "square the differences; no square root (torch.norm returns the square root of the sum of squares).",
            lambda F, P: 0.5 * np.sqrt(np.sum((F - P) ** 2)),
        ),
        (
            "square the differences; no square root (torch.norm returns the square root of the sum of squares).",
            lambda F, P: np.sqrt(np.sum((F - P) ** 2)),
        ),
        ("square the differences, don't take absolute values.", lambda F, P: 0.5 * np.sum(np.abs(F - P))),
        ("square each difference, then sum (not: sum, then square).", lambda F, P: 0.5 * np.sum(F - P) ** 2),
    ],
    output=scalar("the content loss"),
    default_hint="L = 1/2 * sum over all entries (batch included) of (F - P)^2.",
    summary="{n} cases (batches of 2-3, non-square maps, float32/float64) match 1/2 sum (F - P)^2.",
    doc="""Check ``content_loss(F, P) = 1/2 * sum (F - P)^2`` over all entries, batch included.

    F, P: (B, C, H, W); the result is a 0-dim tensor attached to F's autograd graph.
    """,
)
check_content_loss = checker(CONTENT_LOSS)


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


# ----------------------------------------------------------------------------------------------
# 05 total_loss(content_terms, style_terms, alpha, beta, content_weights, style_weights)


class _Terms:
    """A recipe: {layer: 0-dim loss term that requires grad}, seeded values in [0.5, 3]."""

    def __init__(self, names: Sequence[str], seed: int, dtype: torch.dtype) -> None:
        self.names, self.seed, self.dtype = list(names), seed, dtype

    def make(self) -> dict[str, Tensor]:
        values = _rand((len(self.names),), self.seed, F64, 0.5, 3.0)
        return {n: _on_device(values[i], self.dtype).requires_grad_(True) for i, n in enumerate(self.names)}


def _sum(t: Mapping[str, Any], w: Mapping[str, float] | None = None) -> float:
    """sum_l w[l] * t[l], the weights looked up by name (all 1 without ``w``)."""
    return sum((1.0 if w is None else w[k]) * float(v) for k, v in t.items())


def _zipped(t: Mapping[str, Any], w: Mapping[str, float]) -> float:
    """The weights paired with the terms by dict order (a mistake)."""
    return sum(wl * float(v) for wl, v in zip(w.values(), t.values()))


_STYLE5 = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]


def _fmt(terms: Mapping[str, Tensor]) -> str:
    return "{" + ", ".join(f"{k}: {float(v.detach()):.4g}" for k, v in terms.items()) + "}"


TOTAL_LOSS = Spec(
    id="total_loss",
    notebook="05_style_transfer",
    title="alpha * content + beta * style",
    signature="total_loss(content_terms, style_terms, alpha, beta, content_weights, style_weights)",
    inputs=[
        # first a case where every weight and alpha matter at float64 precision: each mistake gets its own hint
        (
            _Terms(["conv4_2"], 55, F64),
            _Terms(_STYLE5[1:], 56, F64),
            0.3,
            7.0,
            {"conv4_2": 2.0},
            dict(zip(_STYLE5[1:], [0.4, 0.3, 0.2, 0.1])),
        ),
        # weight dicts in a different key order than the terms: look weights up by name
        (
            _Terms(["conv2_2", "conv4_2"], 53, F32),
            _Terms(_STYLE5[:3], 54, F32),
            1e-3,
            1.0,
            {"conv4_2": 1.5, "conv2_2": 0.5},
            {"conv3_1": 0.7, "conv1_1": 0.2, "conv2_1": 0.1},
        ),
        (
            _Terms(["conv4_2"], 51, F64),
            _Terms(_STYLE5, 52, F64),
            2.0,
            5e-3,
            {"conv4_2": 1.0},
            dict(zip(_STYLE5, [0.1, 0.3, 0.2, 0.25, 0.15])),
        ),
    ],
    reference=lambda c, s, alpha, beta, cw, sw: alpha * _sum(c, cw) + beta * _sum(s, sw),
    wrong=[
        (
            "alpha and beta are swapped: alpha weighs the CONTENT term, beta the STYLE term (Gatys; one "
            "slide writes it the other way round).",
            lambda c, s, alpha, beta, cw, sw: beta * _sum(c, cw) + alpha * _sum(s, sw),
        ),
        (
            "use the per-layer weights: sum_l wc_l L_content^l and sum_l w_l E_l.",
            lambda c, s, alpha, beta, cw, sw: alpha * _sum(c) + beta * _sum(s),
        ),
        (
            "use the per-layer style weights w_l: beta * sum_l w_l E_l.",
            lambda c, s, alpha, beta, cw, sw: alpha * _sum(c, cw) + beta * _sum(s),
        ),
        (
            "use the per-layer content weights wc_l: alpha * sum_l wc_l L_content^l.",
            lambda c, s, alpha, beta, cw, sw: alpha * _sum(c) + beta * _sum(s, sw),
        ),
        (
            "sum over the layers, don't average.",
            lambda c, s, alpha, beta, cw, sw: alpha * _sum(c, cw) / len(c) + beta * _sum(s, sw) / len(s),
        ),
        (
            "look each weight up by its layer name (content_weights[name]): zipping two dicts pairs "
            "them by insertion order, which need not match.",
            lambda c, s, alpha, beta, cw, sw: alpha * _zipped(c, cw) + beta * _zipped(s, sw),
        ),
        ("include both terms: alpha * content + beta * style.", lambda c, s, alpha, beta, cw, sw: alpha * _sum(c, cw)),
        ("include both terms: alpha * content + beta * style.", lambda c, s, alpha, beta, cw, sw: beta * _sum(s, sw)),
        (
            "multiply the content sum by alpha and the style sum by beta.",
            lambda c, s, alpha, beta, cw, sw: _sum(c, cw) + _sum(s, sw),
        ),
    ],
    describe=lambda c, s, alpha, beta, cw, sw: (
        f"content_terms = {_fmt(c)}, style_terms = {_fmt(s)} "
        f"({str(next(iter(c.values())).dtype).replace('torch.', '')} "
        f"0-dim tensors), alpha = {alpha}, beta = {beta}, content_weights = {cw}, style_weights = {sw}"
    ),
    output=scalar("the total loss"),
    default_hint=(
        "alpha * sum_l content_weights[l] * content_terms[l] + beta * sum_l style_weights[l] * style_terms[l]."
    ),
    summary="{n} cases (1-2 content layers, 3-5 style layers, weight dicts in any order) match.",
    error_hints={
        "keyerror": "look the weight up by the term's layer name; content weights go with content terms, "
        "style weights with style terms."
    },
    doc="""Check ``total_loss(content_terms, style_terms, alpha, beta, content_weights, style_weights)``.

    L_total = alpha * sum_l wc_l L_content^l + beta * sum_l w_l E_l, with the terms and weights
    given as dicts keyed by layer name (0-dim tensors and floats).
    """,
)
check_total_loss = checker(TOTAL_LOSS)


# ----------------------------------------------------------------------------------------------
# 05 tv_loss(img)


def _dh(x: np.ndarray) -> np.ndarray:
    return np.diff(x, axis=2)  # (B, C, H-1, W): vertical neighbour differences


def _dw(x: np.ndarray) -> np.ndarray:
    return np.diff(x, axis=3)  # (B, C, H, W-1): horizontal neighbour differences


def _tv(x: np.ndarray) -> float:
    return np.sum(_dh(x) ** 2) + np.sum(_dw(x) ** 2)


TV_LOSS = Spec(
    id="tv_loss",
    notebook="05_style_transfer",
    title="total-variation loss, vectorised",
    signature="tv_loss(img)",
    inputs=[
        (Rand((2, 3, 5, 7), 61, F32, 0.0, 1.0, grad=True),),
        (Rand((3, 2, 4, 6), 62, F64, 0.0, 1.0, grad=True),),
        (Rand((2, 3, 6, 4), 63, F64, 0.0, 1.0, grad=True),),
    ],
    reference=_tv,
    wrong=[
        (
            "square the differences (this is the squared TV of nstlib.losses.tv_loss), don't take absolute values.",
            lambda x: np.sum(np.abs(_dh(x))) + np.sum(np.abs(_dw(x))),
        ),
        (
            "add BOTH directions: vertical (rows i+1 vs i) and horizontal (columns j+1 vs j); you have "
            "only the vertical one.",
            lambda x: np.sum(_dh(x) ** 2),
        ),
        (
            "add BOTH directions: vertical (rows i+1 vs i) and horizontal (columns j+1 vs j); you have "
            "only the horizontal one.",
            lambda x: np.sum(_dw(x) ** 2),
        ),
        ("sum, don't average: .sum() not .mean().", lambda x: np.mean(_dh(x) ** 2) + np.mean(_dw(x) ** 2)),
        (
            "no square root: the anisotropic squared TV adds dh^2 and dw^2 separately.",
            lambda x: np.sum(np.sqrt(_dh(x)[..., :, :-1] ** 2 + _dw(x)[..., :-1, :] ** 2)),
        ),
        (
            "don't wrap around (torch.roll compares the last row with the first): use slices "
            "x[..., 1:, :] - x[..., :-1, :].",
            lambda x: np.sum((np.roll(x, -1, axis=2) - x) ** 2) + np.sum((np.roll(x, -1, axis=3) - x) ** 2),
        ),
        ("sum over the whole batch: you used only the first image.", lambda x: _tv(x[:1])),
        ("no factor 1/2 here: TV = sum dh^2 + sum dw^2.", lambda x: 0.5 * _tv(x)),
        (
            "square each difference, then sum (not: sum, then square).",
            lambda x: np.sum(_dh(x)) ** 2 + np.sum(_dw(x)) ** 2,
        ),
    ],
    output=scalar("the TV loss"),
    default_hint="TV = sum (x[..., 1:, :] - x[..., :-1, :])^2 + sum (x[..., :, 1:] - x[..., :, :-1])^2 over "
    "everything, batch included.",
    summary="{n} cases (batches of 2-3, non-square images, float32/float64) match the squared anisotropic TV; "
    "vectorised.",
    after=lambda fn: _reject_loops(
        fn, lambda b, c, h, w: _rand((b, c, h, w), 64, low=0.0, high=1.0), "tv_loss must be vectorised."
    ),
    doc="""Check ``tv_loss(img)``: sum over neighbouring pixel pairs of squared differences, both directions.

    TV(x) = sum_{b,c,i,j} (x[b,c,i+1,j] - x[b,c,i,j])^2 + (x[b,c,i,j+1] - x[b,c,i,j])^2, vectorised.
    """,
)
check_tv_loss = checker(TV_LOSS)
