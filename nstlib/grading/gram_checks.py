"""Checks of the Gram-matrix exercises, as data: inputs, a reference, the wrong variants with their hints.

- ``gram_matrix`` (03): G = F F^T per image, unnormalised, vectorised (Gatys et al. 2016, eq. 3);
- ``grad_style_layer`` (03): dE_l/dF = 1/(N^2 M^2) (G - A) F derived by hand (eq. 6), run without autograd;
- ``masked_gram_matrix`` (06): the normalised Gram matrix of a region (Gatys et al. 2017, spatial control).

References: NumPy einsum formulas, and autograd of a naive formula in float64 on the CPU for the
gradient (independent of ``nstlib.losses``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._core import Case, Spec, checker
from ._loops import _reject_loops
from ._outputs import tensor
from ._values import Made, Rand, _describe, _gram_np, _np, _rand, _rtol

F32, F64 = torch.float32, torch.float64

# ----------------------------------------------------------------------------------------------
# 03 gram_matrix(F)


def _gram_shape_hint(case: Case, out: Tensor) -> str:
    F = case.args[0]
    B, C, H, W = F.shape
    shape, M = tuple(out.shape), H * W
    if shape == (B, M, M):
        return (
            "you computed F^T F, the (M x M) matrix of positions: the Gram matrix compares "
            "CHANNELS, G = F F^T with F reshaped to (B, C, H*W)."
        )
    if shape == (C, C) and case.expected is not None:
        expected, got, rtol = np.asarray(case.expected()), _np(out), _rtol(F.dtype)
        if np.allclose(got, expected[0], rtol=rtol, atol=rtol * np.abs(expected).max()):
            return "keep the batch dimension: compute one Gram matrix per image (batched @ or torch.bmm)."
        if np.allclose(got, expected.sum(0), rtol=rtol, atol=rtol * np.abs(expected).max() * B):
            return (
                "keep the batch dimension: you summed the Gram matrices of all images; "
                "use a batched product (F @ F.transpose(1, 2) with F of shape (B, C, M))."
            )
        return "keep the batch dimension: the result is (B, C, C)."
    if shape in ((B, C, M), (B, C, H, W)):
        return "multiply the feature matrix by its transpose: G = F F^T, (B, C, M) @ (B, M, C)."
    if shape == (B * C, B * C):
        return "reshape to (B, C, H*W), not (B*C, H*W): keep images apart."
    return "reshape F to (B, C, H*W) and multiply by its transpose: (B, C, M) @ (B, M, C) -> (B, C, C)."


def _gram_output(out: Any, case: Case, where: str) -> np.ndarray:
    F = case.args[0]
    B, C = F.shape[:2]
    return tensor(
        out,
        case,
        where,
        (B, C, C),
        returns="return a torch tensor of shape (B, C, C).",
        shape_hint=lambda _: _gram_shape_hint(case, out),
        expected_shape=f"shape {(B, C, C)} (B, C, C)",
        dtype=F.dtype,
        graph=(
            "the Gram matrix",
            "use torch operations only (no .detach(), .numpy(), "
            "torch.tensor(...)): the style loss needs gradients through G.",
        ),
    )


def _positions(F: np.ndarray) -> np.ndarray:
    return F.reshape(F.shape[0], F.shape[1], -1)  # (B, C, M)


GRAM_MATRIX = Spec(
    id="gram_matrix",
    notebook="03_style_reconstruction",
    title="Gram matrix G = F F^T, vectorised",
    signature="gram_matrix(F)",
    inputs=[
        (Rand((2, 3, 4, 5), 31, F32, grad=True),),
        (Rand((3, 4, 2, 7), 32, F64, grad=True),),
        (Rand((2, 5, 3, 3), 33, F64, grad=True),),
    ],
    reference=_gram_np,
    wrong=[
        (
            "don't normalise: the Gram matrix here is unnormalised, G_ij = sum_k F_ik F_jk "
            "(the style loss E_l carries the 1/(4 N^2 M^2)); you divided by M = H*W.",
            lambda F: _gram_np(F) / (F.shape[2] * F.shape[3]),
        ),
        (
            "don't normalise: the Gram matrix here is unnormalised (the style loss E_l carries the "
            "normalisation); you divided by C*H*W.",
            lambda F: _gram_np(F) / F[0].size,
        ),
        (
            "don't normalise: the Gram matrix here is unnormalised (the style loss carries the "
            "normalisation); you divided by B*C*H*W.",
            lambda F: _gram_np(F) / F.size,
        ),
        (
            "don't normalise: the Gram matrix here is unnormalised; you divided by C.",
            lambda F: _gram_np(F) / F.shape[1],
        ),
        (
            "compute one Gram matrix per image: every entry of your batch holds the first image's.",
            lambda F: np.broadcast_to(_gram_np(F[:1]), (F.shape[0], F.shape[1], F.shape[1])),
        ),
        (
            "G_ij = sum_k F_ik F_jk is a sum of products over positions, not a product of sums.",
            lambda F: np.einsum("bi,bj->bij", _positions(F).sum(-1), _positions(F).sum(-1)),
        ),
    ],
    output=_gram_output,
    default_hint=(
        "G = F F^T with F reshaped to (B, C, H*W): G[b, i, j] = sum over positions k of F[b, i, k] * F[b, j, k]."
    ),
    summary="{n} cases (batches of 2-3, non-square maps, float32/float64) match G = F F^T; vectorised (no Python "
    "loop over positions or channels).",
    after=lambda fn: _reject_loops(fn, lambda b, c, h, w: _rand((b, c, h, w), 34), "gram_matrix must be vectorised."),
    noun="values",
    doc="""Check ``gram_matrix(F)``: (B, C, H, W) -> (B, C, C), G_ij = sum_k F_ik F_jk (unnormalised), vectorised.

    The signature of ``nstlib.synthesize``'s ``gram_fn``.
    """,
)
check_gram_matrix = checker(GRAM_MATRIX)


# ----------------------------------------------------------------------------------------------
# 03 grad_style_layer(F, A): dE_l/dF by hand


def _autograd_style_gradient(f: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dE/dF of E = 1/(4 N^2 M^2) sum (G - A)^2, by autograd in float64 on the CPU (a naive formula)."""
    F = torch.from_numpy(f).clone().requires_grad_(True)
    B, N, H, W = F.shape
    X = F.reshape(B, N, H * W)  # (B, N, M)
    G = torch.einsum("bik,bjk->bij", X, X)  # (B, N, N)
    E = ((G - torch.from_numpy(a)) ** 2).sum() / (4 * N**2 * (H * W) ** 2)
    (g,) = torch.autograd.grad(E, F)
    return g.numpy()


def _k(F: np.ndarray) -> float:
    """1/(N^2 M^2): 1/(4 N^2 M^2) of E_l times 2 (the square) times 2 (F appears twice in G = F F^T)."""
    return 1.0 / (F.shape[1] ** 2 * (F.shape[2] * F.shape[3]) ** 2)


def _times_X(M: np.ndarray, F: np.ndarray) -> np.ndarray:
    """M @ X with X = F as (B, N, H*W), reshaped to F's shape: (B, N, N) @ (B, N, M) -> (B, N, H, W)."""
    return (M @ _positions(F)).reshape(F.shape)


def _right(F: np.ndarray, A: np.ndarray) -> np.ndarray:
    return _k(F) * _times_X(_gram_np(F) - A, F)


def _grad_shape_hint(fshape: tuple[int, ...], shape: tuple[int, ...]) -> str:
    B, N, H, W = fshape
    if shape == (B, N, H * W):
        return "reshape the (B, N, M) result back to F's shape (B, N, H, W): .reshape(F.shape)."
    if shape == (B, H * W, N):
        return "that is an (M x N) layout per image: the gradient has F's (N x M) layout. Order the product."
    if shape == (B, N, N):
        return "that is a Gram-shaped (N x N) matrix: the gradient has one entry per entry of F (N x M per image)."
    return "the gradient has the shape of F: (B, N, H, W)."


GRAD_STYLE_LAYER = Spec(
    id="grad_style_layer",
    notebook="03_style_reconstruction",
    title="dE_l/dF by hand, checked against autograd",
    signature="grad_style_layer(F, A)",
    # a batch of 3 first: there dividing by B is told apart from a missing factor 2 (B = 2) or a right answer (B = 1)
    inputs=[
        (Rand(shape, 500 + i, dtype, 0.0, 1.5), Rand(shape, 510 + i, dtype, 0.0, 1.2, gram=True))
        for i, shape, dtype in ((2, (3, 5, 2, 3), F64), (0, (2, 3, 4, 5), F64), (1, (1, 4, 3, 6), F32))
    ],
    reference=_autograd_style_gradient,
    wrong=[
        (
            "two factors of 2 are missing: count them in the chain rule. The square gives one; F appears twice "
            "in G = F F^T (dG = dF F^T + F dF^T, and G - A is symmetric), which gives another.",
            lambda F, A: _right(F, A) / 4,
        ),
        (
            "one factor of 2 is missing: the square gives a 2 AND F appears twice in G = F F^T "
            "(dG = dF F^T + F dF^T, and G - A is symmetric): count both.",
            lambda F, A: _right(F, A) / 2,
        ),
        (
            "one factor of 2 too many: the chain rule gives exactly two (the square, and F twice in G = F F^T); "
            "the 1/4 of E_l takes care of them.",
            lambda F, A: 2 * _right(F, A),
        ),
        (
            "the normalisation is missing: E_l's constant 1/(4 N^2 M^2) multiplies its gradient too.",
            lambda F, A: _right(F, A) / _k(F),
        ),
        (
            "not A alone: when the generated image already has the style's Gram matrix (G = A) the loss is at "
            "its minimum, so the gradient must vanish there. Which factor of yours is 0 at G = A?",
            lambda F, A: _k(F) * _times_X(A, F),
        ),
        (
            "not G alone: when the generated image already has the style's Gram matrix (G = A) the loss is at "
            "its minimum, so the gradient must vanish there. Which factor of yours is 0 at G = A?",
            lambda F, A: _k(F) * _times_X(_gram_np(F), F),
        ),
        (
            "that is -dE/dF: the gradient points uphill. Check the sign on a 1 x 1 map with G > A: making F larger "
            "makes E larger, so dE/dF must be positive there.",
            lambda F, A: -_right(F, A),
        ),
        (
            "you computed F^T (G - A), an (M x N) matrix, and reshaped it: the gradient has F's layout "
            "(N x M per image). Order the matrix product so that its shape is F's.",
            lambda F, A: (_k(F) * np.swapaxes(_positions(F), 1, 2) @ (_gram_np(F) - A)).reshape(F.shape),
        ),
        (
            "E_l sums over the batch, so each image gets its own gradient: don't divide by B.",
            lambda F, A: _right(F, A) / len(F),
        ),
    ],
    describe=lambda F, A: f"F = {_describe(F)}, A = {_describe(A)}  (N = {F.shape[1]}, M = {F.shape[2] * F.shape[3]})",
    output=lambda out, case, where: tensor(
        out,
        case,
        where,
        tuple(case.args[0].shape),
        returns="return dE/dF as a tensor of F's shape (B, N, H, W).",
        shape_hint=lambda shape: _grad_shape_hint(tuple(case.args[0].shape), shape),
    ),
    default_hint="with F as the (N x M) matrix X per image: write E_l as a function of G and G = X X^T, then "
    "use the chain rule (A is a constant). Work it out on a 1 x 2 map by hand, or compare with autograd in "
    "another cell; reshape the result to (B, N, H, W).",
    summary="{n} cases (batches of 1-3, float32/float64) match autograd's dE_l/dF; computed without autograd.",
    error_hints={
        "does not require grad": "derive dE/dF by hand: the check runs your function without autograd (inside "
        "torch.inference_mode), so .backward() and torch.autograd.grad cannot work here. Compare with autograd "
        "yourself in another cell.",
        "inference": "derive dE/dF by hand: the check runs your function without autograd (inside "
        "torch.inference_mode).",
    },
    context=torch.inference_mode,
    noun="gradient",
    doc="""Check ``grad_style_layer(F, A) = dE_l/dF`` derived by hand (no autograd), against autograd.

    F: (B, N, H, W) features, A: (B, N, N) unnormalised (symmetric) style Gram matrices; E_l as in
    :func:`nstlib.style_layer_loss` (summed over the batch). Returns (B, N, H, W). The student's
    function runs inside ``torch.inference_mode()``, so it cannot call autograd.
    """,
    points=3,
)
check_grad_style_layer = checker(GRAD_STYLE_LAYER)


# ----------------------------------------------------------------------------------------------
# 06 masked_gram_matrix(F, mask): the Gram matrix of a region (Gatys et al. 2017, spatial control)


def _area_down(m: np.ndarray, h: int, w: int) -> np.ndarray:
    """Average (B, 1, H, W) over non-overlapping (H/h x W/w) blocks -> (B, 1, h, w)."""
    B, _, H, W = m.shape
    return m.reshape(B, 1, h, H // h, w, W // w).mean(axis=(3, 5))


def _masked_gram64(f: np.ndarray, m: np.ndarray, norm: str = "m2", down: str = "area", both: bool = True) -> np.ndarray:
    """(F m)(F m)^T / sum m^2 per image, with the mask brought to F's size by ``down`` (area, nearest or max);
    ``both=False`` masks one factor only; ``norm`` names the normaliser (m2 is right; m, M, none, batch,
    full: the wrong ones)."""
    B, C, h, w = f.shape
    mm = np.broadcast_to(m, (B, 1) + m.shape[2:])
    s = mm.shape[2] // h
    small = (
        _area_down(mm, h, w)
        if down == "area"
        else mm[:, :, ::s, ::s]
        if down == "nearest"
        else mm.reshape(B, 1, h, s, w, s).max(axis=(3, 5))
    )
    X = (f * small).reshape(B, C, -1)
    Y = X if both else f.reshape(B, C, -1)
    G = np.einsum("bik,bjk->bij", X, Y)
    k = small.reshape(B, -1)
    z = {
        "m2": lambda: (k**2).sum(1),
        "m": lambda: k.sum(1),
        "M": lambda: np.full(B, float(h * w)),
        "none": lambda: np.ones(B),
        "batch": lambda: np.full(B, (k**2).sum()),
        "full": lambda: (mm.reshape(B, -1) ** 2).sum(1),
    }[norm]()  # full: the image-resolution mask's sum of squares
    return G / z[:, None, None]


def _soft_mask(H: int, W: int, seed: int, batch: int = 1) -> Tensor:
    """A soft region: a sigmoid edge along a seeded random line, values in (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, H, dtype=F64), torch.linspace(-1, 1, W, dtype=F64), indexing="ij")
    out = []
    for _ in range(batch):
        a, b, c = (torch.rand(3, generator=g, dtype=F64) - 0.5) * 2
        out.append(torch.sigmoid(4.0 * (a * xs + b * ys + 0.5 * c)))
    return torch.stack(out)[:, None]  # (batch, 1, H, W)


def _rectangle() -> Tensor:
    mask = torch.zeros(1, 1, 16, 12, dtype=F64)
    mask[..., 3:11, 2:9] = 1.0  # a rectangle, edges not aligned with the 4x4 blocks
    return mask


def _masked_output(out: Any, case: Case, where: str) -> np.ndarray:
    B, C = case.args[0].shape[:2]
    return tensor(
        out,
        case,
        where,
        (B, C, C),
        returns="return a (B, C, C) tensor.",
        shape_hint=lambda shape: (
            "keep the batch: one (C x C) Gram matrix per image."
            if shape == (C, C)
            else "reshape the masked features to (B, C, H*W) and multiply by their transpose: (B, C, C)."
        ),
        graph=("the Gram matrix", "use torch operations only: the style loss needs gradients through G."),
    )


MASKED_GRAM = Spec(
    id="masked_gram_matrix",
    notebook="06_going_further",
    title="Gram matrix of a masked region, normalised",
    signature="masked_gram_matrix(F, mask)",
    inputs=[
        # image 16x12 -> layer 4x3 (two poolings), one mask for the batch
        (Rand((2, 3, 4, 3), 610, F64, 0.0, 1.5, grad=True), Made(_rectangle, F64)),
        # one pooling, a mask per image
        (Rand((2, 4, 5, 6), 611, F32, 0.0, 1.5, grad=True), Made(lambda: _soft_mask(10, 12, 601, batch=2), F32)),
        # two poolings, soft
        (Rand((1, 5, 3, 4), 612, F64, 0.0, 1.5, grad=True), Made(lambda: _soft_mask(12, 16, 602), F64)),
    ],
    reference=_masked_gram64,
    wrong=[
        (
            "average the mask over each unit's block (area: torch.nn.functional.adaptive_avg_pool2d), don't pick "
            "one pixel per block: a unit on the region's edge is only partly inside.",
            lambda f, m: _masked_gram64(f, m, down="nearest"),
        ),
        (
            "average the mask over each unit's block, don't take its maximum: a unit on the region's edge is only "
            "partly inside.",
            lambda f, m: _masked_gram64(f, m, down="max"),
        ),
        (
            "mask BOTH factors: G = (F m)(F m)^T; masking one factor weighs each position by m, not m^2.",
            lambda f, m: _masked_gram64(f, m, both=False, norm="m"),
        ),
        (
            "mask BOTH factors: G = (F m)(F m)^T; masking one factor weighs each position by m, not m^2.",
            lambda f, m: _masked_gram64(f, m, both=False),
        ),
        (
            "normalise by sum m^2 (the weights the positions got), not sum m: then constant features F = 1 give "
            "G = 1 for every mask.",
            lambda f, m: _masked_gram64(f, m, norm="m"),
        ),
        (
            "normalise by the region's weight sum m^2, not by the whole map's size M = H*W: a small region must "
            "not give a small Gram matrix.",
            lambda f, m: _masked_gram64(f, m, norm="M"),
        ),
        (
            "normalise: divide by sum m^2 (per image), so that the result does not depend on the region's size.",
            lambda f, m: _masked_gram64(f, m, norm="none"),
        ),
        (
            "normalise each image by its own sum m^2 (sum over positions only, not over the batch).",
            lambda f, m: _masked_gram64(f, m, norm="batch"),
        ),
        (
            "take sum m^2 of the mask at the LAYER's size (after downsampling), not at the image's size.",
            lambda f, m: _masked_gram64(f, m, norm="full"),
        ),
    ],
    describe=lambda F, mask: f"F = {_describe(F)}, mask = {_describe(mask)}",
    output=_masked_output,
    default_hint="m = the mask averaged down to F's (H, W); G = (F m)(F m)^T / sum m^2, per image.",
    summary="{n} cases (binary and soft masks, one mask per batch or per image, 1-2 poolings, float32/float64) "
    "match (F m)(F m)^T / sum m^2 with the mask area-averaged to the layer.",
    error_hints={
        "must match the size of tensor": "the mask has the IMAGE's size: downsample it to the layer's "
        "map first, e.g. torch.nn.functional.adaptive_avg_pool2d(mask, F.shape[-2:])."
    },
    doc="""Check ``masked_gram_matrix(F, mask)``: the normalised Gram matrix of a region (Gatys et al. 2017).

    F: (B, C, h, w) features of one layer; mask: (1 or B, 1, H, W) weights in [0, 1] at the image's
    size (H = h * 2^k). m = the mask averaged over each unit's block (area), then
    G_b = (F_b m_b)(F_b m_b)^T / sum_k m_bk^2 -- constant features F = 1 give G = 1 for every mask.
    """,
)
check_masked_gram_matrix = checker(MASKED_GRAM)
