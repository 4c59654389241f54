"""Checks of the loss exercises, as data: inputs, a NumPy reference, the wrong variants with their hints.

- ``content_loss`` (02): L = 1/2 sum (F - P)^2 (Gatys et al. 2016, eq. 1);
- ``style_layer_loss`` (03): E_l = 1/(4 N^2 M^2) sum (G - A)^2 (eq. 4), in :mod:`.style_loss_checks`;
- ``style_loss`` (03): L_style = sum_l w_l E_l over several layers (eq. 5), in :mod:`.style_loss_checks`;
- ``total_loss`` (05): alpha * content + beta * style, weighted per layer (eq. 7);
- ``tv_loss`` (05): the squared anisotropic total variation (Mahendran & Vedaldi 2015), vectorised.

Every reference and wrong variant computes in float64 NumPy on the values the student's function
gets (independent of ``nstlib.losses``); every loss must be a 0-dim tensor on the autograd graph.
The two style checks live in :mod:`nstlib.grading.style_loss_checks` and are re-exported here.
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
from ._values import Rand, _on_device, _rand
from .style_loss_checks import STYLE_LAYER_LOSS, STYLE_LOSS, check_style_layer_loss, check_style_loss

__all__ = [
    "CONTENT_LOSS",
    "STYLE_LAYER_LOSS",
    "STYLE_LOSS",
    "TOTAL_LOSS",
    "TV_LOSS",
    "check_content_loss",
    "check_style_layer_loss",
    "check_style_loss",
    "check_total_loss",
    "check_tv_loss",
]

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
