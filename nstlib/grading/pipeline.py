"""Checks of the exercises that build the real pipeline (issue 14), written as data for :func:`run_spec`.

=====================  ==================================================  ================================
id                     student function                                    plugs into
=====================  ==================================================  ================================
extract_features       extract_features(model, image, layers) -> dict      a plain torchvision VGG-19
style_loss             style_loss(features, targets, weights) -> Tensor    L_style = sum_l w_l E_l
grad_style_layer       grad_style_layer(F, A) -> Tensor (B, N, H, W)       dE_l/dF by hand
run_lbfgs              run_lbfgs(objective, x0, steps) -> Tensor           the optimisation loop
match_reconstructions  match_reconstructions() -> dict[str, str]           reading reconstructions
masked_gram_matrix     masked_gram_matrix(F, mask) -> Tensor (B, C, C)     spatial control (notebook 06)
=====================  ==================================================  ================================

Each check's references are independent of ``nstlib.losses`` and ``nstlib.vgg``: NumPy formulas,
autograd of a naive formula in float64, a functional walk over the torchvision layers. Each case
lists the known wrong variants with the hint that fits them.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as TF
from torch import Tensor, nn

from ._core import (
    Case,
    Spec,
    _cpu_rand,
    _describe,
    _Failure,
    _np,
    _on_device,
    _rtol,
    _scalar_output,
    _short,
    _values,
    device,
    run_spec,
)

__all__ = [
    "check_extract_features",
    "check_style_loss",
    "check_grad_style_layer",
    "check_run_lbfgs",
    "check_match_reconstructions",
    "check_masked_gram_matrix",
    "reconstruction_puzzle",
    "PUZZLE_LAYERS",
]


def _gram64(f: np.ndarray) -> np.ndarray:
    """(B, C, H, W) -> (B, C, C), G[b, i, j] = sum_k F[b, i, k] F[b, j, k] (NumPy, float64)."""
    X = f.reshape(f.shape[0], f.shape[1], -1)
    return np.einsum("bik,bjk->bij", X, X)


# ----------------------------------------------------------------------------------------------
# style_loss(features, targets, weights): L_style = sum_l w_l E_l


def _style_loss_cases() -> list[Case]:
    specs = [
        # (layers {name: (B, N, H, W)}, weights (a different order than the features), dtype, extra layer)
        ({"conv1_1": (1, 3, 6, 8), "conv2_1": (1, 5, 3, 4), "conv4_2": (1, 6, 2, 2)},
         {"conv2_1": 0.7, "conv1_1": 0.2}, torch.float64),
        ({"conv1_1": (2, 2, 8, 6), "conv2_1": (2, 4, 4, 3), "conv3_1": (2, 7, 2, 3)},
         {"conv3_1": 0.5, "conv1_1": 0.25, "conv2_1": 1.5}, torch.float32),
        ({"conv5_1": (1, 8, 1, 3), "conv4_2": (1, 8, 2, 3), "conv3_1": (1, 4, 4, 6), "conv1_1": (1, 3, 8, 12)},
         {"conv1_1": 1.0, "conv3_1": 0.0, "conv5_1": 3.0}, torch.float64),
    ]
    cases = []
    for index, (shapes, weights, dtype) in enumerate(specs):
        feats_cpu = {n: _cpu_rand(s, 300 + 10 * index + i, torch.float64, 0.0, 2.0) for i, (n, s) in enumerate(shapes.items())}
        targets_cpu = {n: torch.from_numpy(_gram64(_cpu_rand(shapes[n], 400 + 10 * index + i, torch.float64, 0.0, 1.5).numpy()))
                       for i, n in enumerate(weights)}
        features = {n: _on_device(f, dtype).requires_grad_(True) for n, f in feats_cpu.items()}
        targets = {n: _on_device(a, dtype) for n, a in targets_cpu.items()}
        f64 = {n: _np(f) for n, f in features.items()}  # the values the student sees, in float64
        a64 = {n: _np(a) for n, a in targets.items()}

        def E(n: str, f64=f64, a64=a64, power_n: int = 2, power_m: int = 2, four: float = 4.0,
              nm_of: str | None = None, mean: bool = False) -> float:
            B, N, H, W = f64[n].shape
            D2 = (_gram64(f64[n]) - a64[n]) ** 2
            if nm_of is not None:
                _, N, H, W = f64[nm_of].shape
            M = H * W
            return float((D2.mean() if mean else D2.sum()) / (four * N**power_n * M**power_m))

        def total(w: Mapping[str, float], E: Callable[..., float] = E, **kw: Any) -> float:
            return sum(wl * E(n, **kw) for n, wl in w.items())

        first = next(iter(weights))
        feature_order = [n for n in features if n in weights]
        variants = [
            ("missing the factor 1/4: E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2.", lambda w=weights, t=total: t(w, four=1.0)),
            ("M_l must be squared: 1/(4 N_l^2 M_l^2), not 1/(4 N_l^2 M_l).", lambda w=weights, t=total: t(w, power_m=1)),
            ("N_l must be squared: 1/(4 N_l^2 M_l^2), not 1/(4 N_l M_l^2).", lambda w=weights, t=total: t(w, power_n=1)),
            ("N_l and M_l are both squared: 1/(4 N_l^2 M_l^2), not 1/(4 N_l M_l).",
             lambda w=weights, t=total: t(w, power_n=1, power_m=1)),
            ("missing the normalisation 1/(4 N_l^2 M_l^2): without it the layer with the most positions dominates.",
             lambda w=weights, t=total: t(w, four=1.0, power_n=0, power_m=0)),
            ("multiply each layer's E_l by its weight w_l: L_style = sum_l w_l E_l.",
             lambda w=weights, t=total: t({n: 1.0 for n in w})),
            ("look each weight up by its layer name (weights[name]): zipping the weights with the features pairs "
             "them by dict order, which need not match.",
             lambda w=weights, fo=feature_order, E=E: sum(wl * E(n) for wl, n in zip(w.values(), fo))),
            ("sum over the layers, don't average: L_style = sum_l w_l E_l.",
             lambda w=weights, t=total: t(w) / len(w)),
            ("N_l and M_l belong to each layer: take them from that layer's F (its shape), not from the first layer's.",
             lambda w=weights, t=total, first=first: t(w, nm_of=first)),
            ("inside E_l sum the squared differences (.sum()), don't average them.",
             lambda w=weights, t=total: t(w, mean=True)),
        ]
        fshapes = ", ".join(f"{n}: {tuple(f.shape)}" for n, f in features.items())
        tshapes = ", ".join(f"{n}: {tuple(a.shape)}" for n, a in targets.items())
        inputs = (f"features = {{{fshapes}}} ({str(dtype).replace('torch.', '')}, requires grad), "
                  f"targets = {{{tshapes}}}, weights = {weights}")
        cases.append(Case(args=(features, targets, weights), inputs=inputs,
                          expected=lambda w=weights, t=total: t(w), variants=variants, rtol=_rtol(dtype),
                          protect=[*features.values(), *targets.values()]))
    return cases


def _scalar(out: Any, case: Case, where: str) -> np.ndarray:
    return _np(_scalar_output(out, case.inputs, graph=True, what="the style loss")).reshape(())


STYLE_LOSS = Spec(
    id="style_loss",
    signature="style_loss(features, targets, weights)",
    cases=_style_loss_cases,
    output=_scalar,
    default_hint="L_style = sum over the layers in `weights` of weights[l] * E_l, with E_l = 1/(4 N_l^2 M_l^2) "
    "sum (G_l - A_l)^2, N_l and M_l = H_l * W_l from layer l's own features.",
    summary="{n} cases (2-4 layers of different sizes, weights in another order than the features, an extra "
    "content layer, float32/float64) match sum_l w_l E_l.",
    error_hints={"keyerror": "sum over the layers in `weights` (or `targets`): `features` can also hold layers with "
                 "no style target, such as the content layer conv4_2."},
)


def check_style_loss(fn: Callable[[dict, dict, dict], Tensor]) -> None:
    """Check ``style_loss(features, targets, weights) = sum_l weights[l] * E_l``.

    features: {layer: F (B, N_l, H_l, W_l)} (may hold layers without a target, e.g. the content
    layer); targets: {layer: A (B, N_l, N_l)} unnormalised Gram matrices; weights: {layer: w_l}.
    """
    run_spec(STYLE_LOSS, fn)


# ----------------------------------------------------------------------------------------------
# grad_style_layer(F, A): dE_l/dF by hand


def _autograd_style_gradient(f: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dE/dF of E = 1/(4 N^2 M^2) sum (G - A)^2, by autograd in float64 on the CPU (a naive formula)."""
    F = torch.from_numpy(f).clone().requires_grad_(True)
    B, N, H, W = F.shape
    X = F.reshape(B, N, H * W)
    G = torch.einsum("bik,bjk->bij", X, X)
    E = ((G - torch.from_numpy(a)) ** 2).sum() / (4 * N**2 * (H * W) ** 2)
    (g,) = torch.autograd.grad(E, F)
    return g.numpy()


def _grad_cases() -> list[Case]:
    cases = []
    for index, (shape, dtype) in enumerate((((2, 3, 4, 5), torch.float64), ((1, 4, 3, 6), torch.float32),
                                            ((3, 5, 2, 3), torch.float64))):
        F = _on_device(_cpu_rand(shape, 500 + index, torch.float64, 0.0, 1.5), dtype)
        A = _on_device(torch.from_numpy(_gram64(_cpu_rand(shape, 510 + index, torch.float64, 0.0, 1.2).numpy())), dtype)
        f, a = _np(F), _np(A)
        B, N, H, W = shape
        M = H * W
        X = f.reshape(B, N, M)
        D = _gram64(f) - a
        k = 1.0 / (N**2 * M**2)
        right = (k * D @ X).reshape(shape)
        variants = [
            ("two factors of 2 are missing: one from the square, one because F appears twice in G = F F^T; "
             "1/(4 N^2 M^2) * 2 * 2 = 1/(N^2 M^2).", lambda r=right: r / 4),
            ("one factor of 2 is missing: the square gives a 2 AND F appears twice in G = F F^T "
             "(dG = dF F^T + F dF^T, another 2): 1/(4 N^2 M^2) * 2 * 2 = 1/(N^2 M^2).", lambda r=right: r / 2),
            ("one factor of 2 too many: 1/(4 N^2 M^2) * 2 * 2 = 1/(N^2 M^2).", lambda r=right: 2 * r),
            ("the normalisation 1/(N^2 M^2) is missing: E_l carries 1/(4 N^2 M^2).", lambda r=right, k=k: r / k),
            ("the gradient involves the difference G - A, not A alone: dE/dF = 1/(N^2 M^2) (G - A) F.",
             lambda k=k, a=a, X=X, s=shape: (k * a @ X).reshape(s)),
            ("the gradient involves the difference G - A, not G alone: dE/dF = 1/(N^2 M^2) (G - A) F.",
             lambda k=k, f=f, X=X, s=shape: (k * _gram64(f) @ X).reshape(s)),
            ("that is -dE/dF (uphill is +): use (G - A), not (A - G).", lambda r=right: -r),
            ("you computed F^T (G - A), an (M x N) matrix, and reshaped it: the gradient has F's layout, "
             "(G - A) F is (N x M), then reshape to (B, N, H, W).",
             lambda k=k, D=D, X=X, s=shape: (k * np.swapaxes(X, 1, 2) @ D).reshape(s)),
            ("E_l sums over the batch, so each image gets its own gradient: don't divide by B.",
             lambda r=right, B=B: r / B),
        ]
        cases.append(Case(args=(F, A), inputs=f"F = {_describe(F)}, A = {_describe(A)}  (N = {N}, M = {M})",
                          expected=lambda f=f, a=a: _autograd_style_gradient(f, a), variants=variants,
                          rtol=_rtol(dtype), protect=[F, A]))
    return cases


def _grad_output(out: Any, case: Case, where: str) -> np.ndarray:
    F = case.args[0]
    B, N, H, W = F.shape
    if not isinstance(out, Tensor):
        raise _Failure(f"expected a tensor ({where})", inputs=case.inputs, got=_describe(out),
                       hint="your function returns None: did you forget the `return`?" if out is None
                       else "return dE/dF as a tensor of F's shape (B, N, H, W).")
    shape = tuple(out.shape)
    if shape != (B, N, H, W):
        hint = "the gradient has the shape of F: (B, N, H, W)."
        if shape == (B, N, H * W):
            hint = "reshape the (B, N, M) result back to F's shape (B, N, H, W): .reshape(F.shape)."
        elif shape == (B, H * W, N):
            hint = "you computed F^T (G - A), (M x N): the gradient is (G - A) F, (N x M), reshaped to (B, N, H, W)."
        elif shape == (B, N, N):
            hint = "that is a Gram-shaped (N x N) matrix: multiply (G - A) by F (N x M) and reshape to (B, N, H, W)."
        raise _Failure(f"wrong shape ({where})", inputs=case.inputs, expected=f"shape {(B, N, H, W)}",
                       got=_describe(out), hint=hint)
    return _np(out)


GRAD_STYLE_LAYER = Spec(
    id="grad_style_layer",
    signature="grad_style_layer(F, A)",
    cases=_grad_cases,
    output=_grad_output,
    default_hint="with F as the (N x M) matrix X: dE/dX = 1/(N^2 M^2) (G - A) X (A symmetric), per image; "
    "reshape to (B, N, H, W). Work it out on a 1 x 2 map by hand first.",
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
)


def check_grad_style_layer(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Check ``grad_style_layer(F, A) = dE_l/dF`` derived by hand (no autograd), against autograd.

    F: (B, N, H, W) features, A: (B, N, N) unnormalised (symmetric) style Gram matrices; E_l as in
    :func:`nstlib.style_layer_loss` (summed over the batch). Returns (B, N, H, W). The student's
    function runs inside ``torch.inference_mode()``, so it cannot call autograd.
    """
    run_spec(GRAD_STYLE_LAYER, fn)


# ----------------------------------------------------------------------------------------------
# masked_gram_matrix(F, mask): the Gram matrix of a region (Gatys et al. 2017, spatial control)


def _area_down(m: np.ndarray, h: int, w: int) -> np.ndarray:
    """Average (B, 1, H, W) over non-overlapping (H/h x W/w) blocks -> (B, 1, h, w)."""
    B, _, H, W = m.shape
    return m.reshape(B, 1, h, H // h, w, W // w).mean(axis=(3, 5))


def _masked_gram64(f: np.ndarray, m: np.ndarray, norm: str = "m2", down: str = "area", both: bool = True) -> np.ndarray:
    B, C, h, w = f.shape
    mm = np.broadcast_to(m, (B, 1) + m.shape[2:])
    s = mm.shape[2] // h
    small = _area_down(mm, h, w) if down == "area" else mm[:, :, ::s, ::s] if down == "nearest" else \
        mm.reshape(B, 1, h, s, w, s).max(axis=(3, 5))
    X = (f * small).reshape(B, C, -1)
    Y = X if both else f.reshape(B, C, -1)
    G = np.einsum("bik,bjk->bij", X, Y)
    k = small.reshape(B, -1)
    if norm == "m2":
        z = (k**2).sum(1)
    elif norm == "m":
        z = k.sum(1)
    elif norm == "M":
        z = np.full(B, float(h * w))
    elif norm == "none":
        z = np.ones(B)
    elif norm == "batch":
        z = np.full(B, (k**2).sum())
    else:  # "full": the image-resolution mask's sum of squares
        z = (mm.reshape(B, -1) ** 2).sum(1)
    return G / z[:, None, None]


def _soft_mask(H: int, W: int, seed: int, batch: int = 1) -> Tensor:
    """A soft region: a sigmoid edge along a seeded random line, values in (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, H, dtype=torch.float64), torch.linspace(-1, 1, W, dtype=torch.float64),
                            indexing="ij")
    out = []
    for _ in range(batch):
        a, b, c = (torch.rand(3, generator=g, dtype=torch.float64) - 0.5) * 2
        out.append(torch.sigmoid(4.0 * (a * xs + b * ys + 0.5 * c)))
    return torch.stack(out)[:, None]  # (batch, 1, H, W)


def _masked_cases() -> list[Case]:
    binary = torch.zeros(1, 1, 16, 12, dtype=torch.float64)
    binary[..., 3:11, 2:9] = 1.0  # a rectangle, edges not aligned with the 4x4 blocks
    specs = [
        ((2, 3, 4, 3), binary, torch.float64),  # image 16x12 -> layer 4x3 (two poolings), one mask for the batch
        ((2, 4, 5, 6), _soft_mask(10, 12, 601, batch=2), torch.float32),  # one pooling, a mask per image
        ((1, 5, 3, 4), _soft_mask(12, 16, 602), torch.float64),  # two poolings, soft
    ]
    cases = []
    for index, (shape, mask, dtype) in enumerate(specs):
        F = _on_device(_cpu_rand(shape, 610 + index, torch.float64, 0.0, 1.5), dtype).requires_grad_(True)
        m = _on_device(mask, dtype)
        f, mk = _np(F), _np(m)
        variants = [
            ("average the mask over each unit's block (area: torch.nn.functional.adaptive_avg_pool2d), don't pick "
             "one pixel per block: a unit on the region's edge is only partly inside.",
             lambda f=f, mk=mk: _masked_gram64(f, mk, down="nearest")),
            ("average the mask over each unit's block, don't take its maximum: a unit on the region's edge is only "
             "partly inside.", lambda f=f, mk=mk: _masked_gram64(f, mk, down="max")),
            ("mask BOTH factors: G = (F m)(F m)^T; masking one factor weighs each position by m, not m^2.",
             lambda f=f, mk=mk: _masked_gram64(f, mk, both=False, norm="m")),
            ("mask BOTH factors: G = (F m)(F m)^T; masking one factor weighs each position by m, not m^2.",
             lambda f=f, mk=mk: _masked_gram64(f, mk, both=False)),
            ("normalise by sum m^2 (the weights the positions got), not sum m: then constant features F = 1 give "
             "G = 1 for every mask.", lambda f=f, mk=mk: _masked_gram64(f, mk, norm="m")),
            ("normalise by the region's weight sum m^2, not by the whole map's size M = H*W: a small region must "
             "not give a small Gram matrix.", lambda f=f, mk=mk: _masked_gram64(f, mk, norm="M")),
            ("normalise: divide by sum m^2 (per image), so that the result does not depend on the region's size.",
             lambda f=f, mk=mk: _masked_gram64(f, mk, norm="none")),
            ("normalise each image by its own sum m^2 (sum over positions only, not over the batch).",
             lambda f=f, mk=mk: _masked_gram64(f, mk, norm="batch")),
            ("take sum m^2 of the mask at the LAYER's size (after downsampling), not at the image's size.",
             lambda f=f, mk=mk: _masked_gram64(f, mk, norm="full")),
        ]
        cases.append(Case(args=(F, m), inputs=f"F = {_describe(F)}, mask = {_describe(m)}",
                          expected=lambda f=f, mk=mk: _masked_gram64(f, mk), variants=variants, rtol=_rtol(dtype),
                          protect=[F, m]))
    return cases


def _masked_output(out: Any, case: Case, where: str) -> np.ndarray:
    F = case.args[0]
    B, C = F.shape[:2]
    if not isinstance(out, Tensor):
        raise _Failure(f"expected a tensor ({where})", inputs=case.inputs, got=_describe(out),
                       hint="your function returns None: did you forget the `return`?" if out is None
                       else "return a (B, C, C) tensor.")
    if tuple(out.shape) != (B, C, C):
        hint = "keep the batch: one (C x C) Gram matrix per image." if tuple(out.shape) == (C, C) else \
            "reshape the masked features to (B, C, H*W) and multiply by their transpose: (B, C, C)."
        raise _Failure(f"wrong shape ({where})", inputs=case.inputs, expected=f"shape {(B, C, C)}",
                       got=_describe(out), hint=hint)
    if not out.requires_grad:
        raise _Failure(f"the Gram matrix is detached from the autograd graph ({where})", inputs=case.inputs,
                       got=_describe(out), hint="use torch operations only: the style loss needs gradients through G.")
    return _np(out)


MASKED_GRAM = Spec(
    id="masked_gram_matrix",
    signature="masked_gram_matrix(F, mask)",
    cases=_masked_cases,
    output=_masked_output,
    default_hint="m = the mask averaged down to F's (H, W); G = (F m)(F m)^T / sum m^2, per image.",
    summary="{n} cases (binary and soft masks, one mask per batch or per image, 1-2 poolings, float32/float64) "
    "match (F m)(F m)^T / sum m^2 with the mask area-averaged to the layer.",
    error_hints={"must match the size of tensor": "the mask has the IMAGE's size: downsample it to the layer's "
                 "map first, e.g. torch.nn.functional.adaptive_avg_pool2d(mask, F.shape[-2:])."},
)


def check_masked_gram_matrix(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Check ``masked_gram_matrix(F, mask)``: the normalised Gram matrix of a region (Gatys et al. 2017).

    F: (B, C, h, w) features of one layer; mask: (1 or B, 1, H, W) weights in [0, 1] at the image's
    size (H = h * 2^k). m = the mask averaged over each unit's block (area), then
    G_b = (F_b m_b)(F_b m_b)^T / sum_k m_bk^2 -- constant features F = 1 give G = 1 for every mask.
    """
    run_spec(MASKED_GRAM, fn)


# ----------------------------------------------------------------------------------------------
# extract_features(model, image, layers): a plain torchvision VGG-19 with Gatys' names


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _gatys_names(model: nn.Sequential) -> list[str]:
    """conv1_1, relu1_1, ..., pool5 for the modules of a torchvision VGG ``features`` Sequential."""
    names, block, index = [], 1, 0
    for module in model:
        if isinstance(module, nn.Conv2d):
            index += 1
            names.append(f"conv{block}_{index}")
        elif isinstance(module, nn.ReLU):
            names.append(f"relu{block}_{index}")
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            names.append(f"pool{block}")
            block, index = block + 1, 0
        else:
            raise TypeError(f"unexpected module {module!r}")
    return names


def _torchvision_vgg19_features(seed: int = 700) -> nn.Sequential:
    """``torchvision.models.vgg19(weights=None).features`` (built without the classifier), seeded He init."""
    import torchvision

    model = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=g) * math.sqrt(2.0 / fan_in))
                module.bias.copy_(0.01 * torch.randn(module.bias.shape, generator=g))
    return model.eval().requires_grad_(False)


_MODELS: dict[str, nn.Sequential] = {}


def _model_on(dev: torch.device) -> nn.Sequential:
    """The check's torchvision VGG-19 features on ``dev``, built once per device (students' code may not
    change it: hooks left behind are a FAIL, and the weights are compared with a pristine copy)."""
    key = str(dev)
    if key not in _MODELS:
        _MODELS[key] = _torchvision_vgg19_features().to(dev)
    return _MODELS[key]


def _walk(model: nn.Sequential, x: Tensor) -> list[np.ndarray]:
    """Every module's output, computed functionally (out-of-place ReLU) in float64 on the CPU."""
    outs = []
    x = x.detach().cpu().double()
    for module in model:
        if isinstance(module, nn.Conv2d):
            x = TF.conv2d(x, module.weight.detach().cpu().double(), module.bias.detach().cpu().double(), padding=1)
        elif isinstance(module, nn.ReLU):
            x = TF.relu(x)
        else:
            x = TF.max_pool2d(x, 2, 2)
        outs.append(x.numpy())
    return outs


def _hook_count(model: nn.Module) -> int:
    """Forward hooks and forward pre-hooks attached to the model's modules."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _extract_cases() -> list[Case]:
    model = _model_on(device())
    for module in model:  # a previous student's function may have left hooks: start clean
        module._forward_hooks.clear()
        module._forward_pre_hooks.clear()
        if isinstance(module, nn.ReLU):
            module.inplace = True
    names = _gatys_names(model)
    mean = torch.tensor(_IMAGENET_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD, dtype=torch.float64).view(1, 3, 1, 1)
    shared: dict[str, Any] = {"previous": None}
    specs = [
        ((2, 3, 32, 40), ["conv1_1", "relu1_1", "conv3_2", "pool2", "conv5_4"], True),
        ((1, 3, 36, 36), ["relu4_1", "conv4_2", "pool5", "conv2_2"], False),
        ((1, 3, 32, 32), ["conv1_2"], False),
    ]
    cases = []
    for index, (shape, layers, grad) in enumerate(specs):
        image = _on_device(_cpu_rand(shape, 710 + index, torch.float64, 0.0, 1.0), torch.float32).requires_grad_(grad)
        x = torch.from_numpy(_np(image))
        memo: dict[str, list[np.ndarray]] = {}

        def walks(kind: str, x: Tensor = x, memo: dict = memo) -> list[np.ndarray]:
            """Every module's output for the normalised ("normed") or the raw image, computed when first needed."""
            if kind not in memo:
                memo[kind] = _walk(model, (x - mean) / std if kind == "normed" else x)
            return memo[kind]

        data = {"model": model, "names": names, "layers": layers, "walks": walks, "shared": shared, "grad": grad}
        cases.append(Case(
            args=(model, image, list(layers)),
            inputs=f"model = torchvision VGG-19 .features (37 modules), image = {_describe(image)}, layers = {layers}",
            expected=lambda d=data: np.concatenate([d["walks"]("normed")[d["names"].index(n)].ravel() for n in d["layers"]]),
            rtol=1e-4, protect=[image], data=data))
    return cases


def _extract_output(out: Any, case: Case, where: str) -> np.ndarray:
    d = case.data
    names, layers = d["names"], d["layers"]
    shared = d["shared"]
    if _hook_count(d["model"]) != 0:
        raise _Failure(f"hooks are still attached to the model after your function returned ({where})",
                       inputs=case.inputs, got=f"{_hook_count(d['model'])} hooks left on the model's modules",
                       hint="remove every hook before returning: keep the handles, handle = "
                       "module.register_forward_hook(fn), and call handle.remove() (in a `finally:` block, so that "
                       "an error does not leave them attached either). Hooks left behind run at every later forward "
                       "pass and keep the features alive.")
    previous = shared.get("previous")
    if previous is not None:
        old_out, old_keys, old_values = previous
        if list(old_out.keys()) != old_keys or any(not torch.equal(old_out[k].detach(), v) for k, v in old_values.items()
                                                   if k in old_out):
            raise _Failure(f"your previous call's result changed during this call ({where})", inputs=case.inputs,
                           hint="build a new dict inside the function at every call: a dict defined outside "
                           "(a global, or a mutable default argument such as `store={}`) is shared by every call, "
                           "so a later call adds to and overwrites an earlier result.")
    if not isinstance(out, dict):
        raise _Failure(f"expected a dict {{layer name: tensor}} ({where})", inputs=case.inputs, got=_describe(out),
                       hint="your function returns None: did you forget the `return`?" if out is None else
                       "return a dict that maps each requested layer name to its feature tensor.")
    missing = [n for n in layers if n not in out]
    extra = [n for n in out if n not in layers]
    if missing or extra:
        raise _Failure(f"wrong layer names in the result ({where})", inputs=case.inputs,
                       expected=f"exactly the keys {layers}", got=f"keys {list(out)}",
                       hint=f"return only the requested layers (extra: {extra[:5]})." if extra and not missing else
                       f"the result lacks {missing}: name every module of model (a torchvision Sequential indexed "
                       "0..36) with Gatys' name: conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ...")
    normed = d["walks"]("normed")
    got_parts, wrong = [], []
    for name in layers:
        t = out[name]
        if not isinstance(t, Tensor):
            raise _Failure(f"{name}: expected a tensor ({where})", inputs=case.inputs, got=_describe(t),
                           hint="store the module's output tensor for each layer.")
        if d["grad"] and not t.requires_grad:
            raise _Failure(f"{name} is detached from the autograd graph ({where})", inputs=case.inputs,
                           got=_describe(t), hint="the synthesis needs gradients through the features: don't "
                           ".detach() them and don't run the model under torch.no_grad() (.clone() is fine).")
        g = _np(t)
        if _close_rel(g, normed[names.index(name)]):
            got_parts.append(g.ravel())
        else:
            wrong.append((name, g))
    if wrong:
        raise _extract_failure(case, where, wrong)
    shared["previous"] = (out, list(out.keys()), {k: v.detach().clone() for k, v in out.items()})
    return np.concatenate(got_parts)


def _extract_failure(case: Case, where: str, wrong: list[tuple[str, np.ndarray]]) -> _Failure:
    """The FAIL for the layers whose features are wrong, with the hint that explains all of them."""
    d = case.data
    names = d["names"]
    normed, raw = d["walks"]("normed"), d["walks"]("raw")

    def source(g: np.ndarray, maps: list[np.ndarray]) -> int | None:
        return next((j for j, m in enumerate(maps) if _close_rel(g, m)), None)

    found = {name: (names.index(name), source(g, normed), source(g, raw)) for name, g in wrong}
    trap = all(name.startswith("conv") and j == i + 1 for name, (i, j, _) in found.items())
    trap_raw = all(j is None and (k == i or (name.startswith("conv") and k == i + 1)) for name, (i, j, k) in found.items()) \
        and any(name.startswith("conv") and k == i + 1 for name, (i, _, k) in found.items())
    unnormalised = all(j is None and k == i for name, (i, j, k) in found.items())
    shifted = [(name, i, j) for name, (i, j, _) in found.items() if j is not None and j != i]
    name, g = wrong[0]
    i = names.index(name)
    if trap:
        hint = (f"the in-place ReLU trap: model[{i + 1}] is ReLU(inplace=True), which overwrites model[{i}]'s output "
                f"after your hook stored it, so your {name} holds the rectified map ({names[i + 1]}). Store a copy "
                "in the hook (output.clone()), or run the ReLU out of place.")
    elif unnormalised:
        hint = ("normalise the image first, as VGG-19 was trained: (image - mean) / std with ImageNet's mean "
                f"{_IMAGENET_MEAN} and std {_IMAGENET_STD} per channel (shape (1, 3, 1, 1)).")
    elif trap_raw:
        hint = ("two mistakes: normalise the image with ImageNet's mean and std, and mind the in-place ReLU: "
                "store output.clone() in the hook.")
    elif shifted:
        sname, si, sj = shifted[0]
        off = "off by one: " if all(abs(j - i) == 1 for _, i, j in shifted) else ""
        hint = (f"{off}what you return as {sname} is the output of model[{sj}] = {names[sj]}; {sname} is "
                f"model[{si}]. Count the names over ALL modules, starting at 0: conv1_1 = model[0], relu1_1 = "
                "model[1], conv1_2 = model[2], relu1_2 = model[3], pool1 = model[4], conv2_1 = model[5], ...")
    else:
        hint = ("run model's modules in order on the normalised image and keep the outputs of the requested ones; "
                "check that conv layers keep their pre-ReLU values.")
    return _Failure(f"wrong features for {', '.join(n for n, _ in wrong)} ({where})", inputs=case.inputs,
                    expected=f"{name}: shape {normed[i].shape}: {_values(normed[i])}",
                    got=f"{name}: shape {g.shape}: {_values(g)}", hint=hint)


def _close_rel(got: np.ndarray, expected: np.ndarray, rtol: float = 1e-4) -> bool:
    if got.shape != expected.shape:
        return False
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-12)
    return bool(np.all(np.isfinite(got)) and np.allclose(got, expected, rtol=rtol, atol=rtol * scale))


EXTRACT_FEATURES = Spec(
    id="extract_features",
    signature="extract_features(model, image, layers)",
    cases=_extract_cases,
    output=_extract_output,
    default_hint="normalise with ImageNet's mean and std, run the modules in order, keep each requested output "
    "(conv outputs before their in-place ReLU), and remove your hooks.",
    summary="{n} calls (batch 1-2, conv / relu / pool layers, a conv and its own ReLU together, conv5_4 and pool5) "
    "match a functional walk over the torchvision layers; conv maps are pre-ReLU, hooks removed, results not shared "
    "between calls.",
    noun="features",
)


def check_extract_features(fn: Callable[[nn.Sequential, Tensor, list[str]], dict[str, Tensor]]) -> None:
    """Check ``extract_features(model, image, layers) -> {name: tensor}`` on ``torchvision.models.vgg19().features``.

    model: the torchvision ``features`` Sequential (modules 0..36: conv, ReLU(inplace=True), max-pool);
    image: (B, 3, H, W) in [0, 1]; layers: Gatys names (conv1_1, relu1_1, ..., pool5). The function
    normalises with ImageNet's mean/std, returns the requested maps (a conv's map *before* its ReLU)
    in a new dict, keeps them differentiable, and leaves no hook attached.
    """
    run_spec(EXTRACT_FEATURES, fn)


# ----------------------------------------------------------------------------------------------
# run_lbfgs(objective, x0, steps): the closure and the loop


class _RecordingObjective:
    """L(x) = sum w (x - t)^2 + c_k, recording every image it is evaluated at.

    The target t lies partly outside [0, 1], so an unclamped optimisation leaves the box. c_k, a
    constant that depends on the evaluation number k only (its gradient is 0), is large for the last
    three evaluations: the best image is then not the last one.
    """

    def __init__(self, t: Tensor, w: Tensor, steps: int) -> None:
        self.t, self.w, self.steps = t, w, steps
        self.images: list[Tensor] = []
        self.losses: list[float] = []
        self.true_losses: list[float] = []
        self.accumulated = False
        self.leaves: list[Tensor] = []

    def _check_grad(self, x: Tensor) -> None:
        k = len(self.images) - 1
        expected = 2 * self.w * (self.images[k] - self.t)
        if x.grad is not None and not torch.allclose(x.grad, expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max() + 1)):
            self.accumulated = True

    def __call__(self, x: Tensor) -> Tensor:
        if isinstance(x, Tensor) and x.is_leaf and x.requires_grad and not any(x is y for y in self.leaves):
            self.leaves.append(x)
            x.register_post_accumulate_grad_hook(self._check_grad)
        k = len(self.images)
        self.images.append(x.detach().clone())
        base = (self.w * (x - self.t) ** 2).sum()
        bump = 1e3 * (1 + k) if k >= self.steps - 3 else 0.0
        loss = base + bump
        self.true_losses.append(float(base.detach()))
        self.losses.append(float(loss.detach()))
        return loss


def _lbfgs_cases() -> list[Case]:
    cases = []
    for index, (shape, dtype, steps) in enumerate((((1, 3, 6, 7), torch.float32, 12), ((1, 3, 5, 5), torch.float64, 7),
                                                   ((1, 3, 4, 4), torch.float32, 30))):
        x0 = _on_device(_cpu_rand(shape, 800 + index, torch.float64, 0.2, 0.8), dtype)
        t = _on_device(_cpu_rand(shape, 810 + index, torch.float64, -0.6, 1.6), dtype)
        w = _on_device(_cpu_rand(shape, 820 + index, torch.float64, 0.5, 1.5), dtype)
        obj = _RecordingObjective(t, w, steps)
        data = {"objective": obj, "x0": x0.clone(), "steps": steps}
        cases.append(Case(
            args=(obj, x0, steps),
            inputs=(f"objective(x) = sum w (x - t)^2 + c_k (t partly outside [0, 1]; c_k large for the last 3 of "
                    f"{steps} evaluations), x0 = {_describe(x0)}, steps = {steps}"),
            expected=lambda o=obj: _np(o.images[int(np.argmin(o.losses))]),
            rtol=_rtol(dtype), data=data))
    return cases


def _lbfgs_output(out: Any, case: Case, where: str) -> np.ndarray:
    obj: _RecordingObjective = case.data["objective"]
    x0, steps = case.data["x0"], case.data["steps"]
    x_arg = case.args[1]
    n = len(obj.images)
    if not torch.equal(x_arg.detach(), x0) or x_arg.requires_grad:
        raise _Failure(f"x0 was changed ({where})", inputs=case.inputs,
                       hint="optimise a copy: x = x0.detach().clone().requires_grad_(True). x0 is the caller's image "
                       "(in the notebook: the content image), and the optimiser updates its parameter in place.")
    if n != steps:
        hint = (f"the objective was evaluated {n} times for steps = {steps}: count the evaluations in your closure "
                "and give L-BFGS exactly that budget (max_iter and max_eval), or run one evaluation per opt.step "
                "(max_iter=1).")
        if n == 0:
            hint = ("your function never called objective: the closure must call objective(x), then loss.backward(), "
                    "and return the loss; opt.step(closure) calls it.")
        elif n > steps:
            hint += (" Each opt.step(closure) runs up to max_iter iterations (default 20, max_eval 25 evaluations), "
                     "so calling it `steps` times evaluates far too often.")
        else:
            hint += (" One opt.step(closure) with the defaults stops after max_iter=20 iterations (or earlier, when "
                     "the loss stops changing): loop until the budget is used.")
        raise _Failure(f"wrong number of evaluations ({where})", inputs=case.inputs, expected=f"{steps} calls of objective",
                       got=f"{n} calls", hint=hint)
    lows = [float(im.min()) for im in obj.images]
    highs = [float(im.max()) for im in obj.images]
    if min(lows) < -1e-6 or max(highs) > 1 + 1e-6:
        k = next(i for i, (lo, hi) in enumerate(zip(lows, highs)) if lo < -1e-6 or hi > 1 + 1e-6)
        raise _Failure(f"the objective saw pixels outside [0, 1] ({where})", inputs=case.inputs,
                       got=f"evaluation {k}: values in [{lows[k]:.3g}, {highs[k]:.3g}]",
                       hint="clamp the image to [0, 1] in place at the start of each evaluation, before the objective "
                       "sees it: with torch.no_grad(): x.clamp_(0, 1).")
    if obj.accumulated:
        raise _Failure(f"gradients accumulate across evaluations ({where})", inputs=case.inputs,
                       hint="zero the gradient in the closure before each backward (opt.zero_grad()): .backward() "
                       "ADDS to x.grad, so L-BFGS gets the sum of all gradients so far.")
    if not isinstance(out, Tensor):
        raise _Failure(f"expected the image as a tensor ({where})", inputs=case.inputs, got=_describe(out),
                       hint="your function returns None: did you forget the `return`?" if out is None else
                       "return the best image, a (1, 3, H, W) tensor.")
    if out.requires_grad:
        raise _Failure(f"the returned image still requires grad ({where})", inputs=case.inputs, got=_describe(out),
                       hint="return a detached copy: best.detach().clone().")
    if tuple(out.shape) != tuple(x0.shape):
        raise _Failure(f"wrong shape ({where})", inputs=case.inputs, expected=f"shape {tuple(x0.shape)}",
                       got=_describe(out), hint="return the image, shaped like x0.")
    got = _np(out)
    best = int(np.argmin(obj.losses))
    if not np.allclose(got, _np(obj.images[best]), rtol=0, atol=1e-6):
        last = _np(obj.images[-1])
        after = [_np(leaf) for leaf in obj.leaves]
        if np.allclose(got, last, rtol=0, atol=1e-6):
            hint = (f"that is the LAST evaluated image (evaluation {n - 1}, loss {obj.losses[-1]:.4g}); return the "
                    f"best one (evaluation {best}, loss {obj.losses[best]:.4g}): L-BFGS does not decrease the loss "
                    "at every evaluation. Keep best = x.detach().clone() whenever the loss is the lowest so far.")
        elif np.allclose(got, _np(x0), rtol=0, atol=1e-6):
            hint = "that is x0: the image did not move. Return the optimised copy's best state."
        elif any(np.allclose(got, a, rtol=0, atol=1e-6) for a in after):
            hint = ("that is x after the loop: L-BFGS moves x after its last evaluation, so its loss was never "
                    "computed. Keep a COPY of the image with the lowest loss inside the closure "
                    "(best = x.detach().clone(); storing x itself keeps a reference that changes in place).")
        elif any(np.allclose(got, _np(im), rtol=0, atol=1e-6) for im in obj.images):
            k = next(i for i, im in enumerate(obj.images) if np.allclose(got, _np(im), rtol=0, atol=1e-6))
            hint = (f"that is the image of evaluation {k} (loss {obj.losses[k]:.4g}), not the one with the lowest "
                    f"loss (evaluation {best}, loss {obj.losses[best]:.4g}): compare each new loss with the best so "
                    "far and keep that image.")
        else:
            hint = ("the image you return was never evaluated: keep a copy of x inside the closure, at the moment "
                    "its loss is computed, when that loss is the lowest so far.")
        raise _Failure(f"not the best image ({where})", inputs=case.inputs,
                       expected=f"the image of evaluation {best} (loss {obj.losses[best]:.4g})",
                       got=f"values {_values(got)}", hint=hint)
    if min(obj.true_losses) > 0.7 * obj.true_losses[0]:
        raise _Failure(f"the loss hardly went down ({where})", inputs=case.inputs,
                       got=f"loss {obj.true_losses[0]:.4g} at the start, best {min(obj.true_losses):.4g}",
                       hint="does the optimiser update the image you evaluate? Pass [x] to torch.optim.LBFGS and "
                       "call opt.step(closure); the closure must call loss.backward() and return the loss.")
    return got


RUN_LBFGS = Spec(
    id="run_lbfgs",
    signature="run_lbfgs(objective, x0, steps)",
    cases=_lbfgs_cases,
    output=_lbfgs_output,
    default_hint="return the image with the lowest loss seen.",
    summary="{n} runs (7-30 evaluations, float32/float64): exactly `steps` evaluations, each on an image clamped "
    "to [0, 1] with a fresh gradient; x0 untouched; the best image returned, not the last.",
    noun="image",
)


def check_run_lbfgs(fn: Callable[[Callable[[Tensor], Tensor], Tensor, int], Tensor]) -> None:
    """Check ``run_lbfgs(objective, x0, steps) -> best image``: the L-BFGS closure and loop.

    objective(x) maps a (1, 3, H, W) image to a 0-dim loss. The function optimises a copy of x0
    with ``torch.optim.LBFGS``, clamps the image to [0, 1] before every evaluation, zeroes the
    gradient before every backward, calls the objective exactly ``steps`` times, and returns a
    detached copy of the evaluated image with the lowest loss. The check's objective records every
    image it sees, so it needs no reference run of L-BFGS.
    """
    run_spec(RUN_LBFGS, fn)


# ----------------------------------------------------------------------------------------------
# match_reconstructions(): which layer made which content reconstruction


#: the hidden answer: label -> layer of the content reconstructions made by :func:`reconstruction_puzzle`
PUZZLE_LAYERS: dict[str, str] = {"A": "conv3_2", "B": "conv1_2", "C": "conv5_2", "D": "conv2_2"}


def _vgg19_receptive_field(layer: str) -> int:
    """Receptive field (pixels) of a VGG-19 layer: walk the 3x3/stride-1 convs and 2x2/stride-2 pools."""
    r, jump, block, index = 1, 1, 1, 0
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"):
        if v == "M":
            r, jump, name = r + jump, jump * 2, f"pool{block}"
            block, index = block + 1, 0
        else:
            index += 1
            r, name = r + 2 * jump, f"conv{block}_{index}"
        if name == layer:
            return r
    raise ValueError(layer)


def reconstruction_puzzle(image: Any = "astronaut", *, size: int = 40, steps: int = 25, encoder: Any = None,
                          seed: int = 0) -> dict[str, Tensor]:
    """The four content reconstructions of the ``match_reconstructions`` exercise, labelled A-D.

    Each is :func:`nstlib.reconstruct_content` of ``image`` from one of :data:`PUZZLE_LAYERS` (from
    white noise, ``steps`` L-BFGS evaluations). Returns {label: (1, 3, size, size') image}.
    """
    from ..transfer import reconstruct_content

    return {label: reconstruct_content(image, layer, size=size, steps=steps, encoder=encoder, seed=seed,
                                       progress=False).image
            for label, layer in sorted(PUZZLE_LAYERS.items())}


def _puzzle_cases() -> list[Case]:
    labels = sorted(PUZZLE_LAYERS)
    depth = sorted(PUZZLE_LAYERS.values(), key=_vgg19_receptive_field)
    truth = np.array([depth.index(PUZZLE_LAYERS[label]) for label in labels], dtype=np.float64)
    rf = {layer: _vgg19_receptive_field(layer) for layer in depth}
    rf_text = ", ".join(f"{layer}: {rf[layer]} px" for layer in depth)
    variants: list[tuple[str, Callable[[], Any]]] = [
        (f"the order is reversed: the SHALLOWEST layer keeps the most pixel detail (its units see only a few pixels), "
         f"the deepest keeps only the layout. Receptive fields: {rf_text}.", lambda: (len(depth) - 1) - truth)]
    for a in range(len(depth) - 1):
        swapped = truth.copy()
        i, j = sorted((int(np.where(truth == a)[0][0]), int(np.where(truth == a + 1)[0][0])))
        swapped[i], swapped[j] = swapped[j], swapped[i]
        variants.append((f"close: {labels[i]} and {labels[j]} are swapped. The deeper of {depth[a]} "
                         f"({rf[depth[a]]} px receptive field) and {depth[a + 1]} ({rf[depth[a + 1]]} px) loses more "
                         "fine detail: more of its units' input is pooled away.", lambda s=swapped: s))
    return [Case(args=(), inputs=f"the pictures A-D of nstlib.grading.reconstruction_puzzle(); layers {sorted(depth)}",
                 expected=lambda: truth, variants=variants, rtol=0.0, data={"depth": depth, "labels": labels})]


def _puzzle_output(out: Any, case: Case, where: str) -> np.ndarray:
    depth, labels = case.data["depth"], case.data["labels"]
    if not isinstance(out, dict):
        raise _Failure("expected a dict {label: layer name}", got=_describe(out),
                       hint="your function returns None: did you forget the `return`?" if out is None else
                       "return e.g. {'A': 'conv1_2', 'B': ...}: one layer name per picture label.")
    keys = sorted(str(k).upper() for k in out)
    if keys != labels:
        raise _Failure("wrong labels", expected=f"keys {labels}", got=f"keys {sorted(out)}",
                       hint="one entry per picture: the labels are A, B, C and D.")
    answer = {str(k).upper(): str(v).strip() for k, v in out.items()}
    unknown = [v for v in answer.values() if v not in depth]
    if unknown:
        raise _Failure("unknown layer names", got=_short(answer),
                       hint=f"{unknown} is not one of the candidate layers: choose among {sorted(depth)}.")
    if len(set(answer.values())) != len(depth):
        raise _Failure("a layer is used twice", got=_short(answer),
                       hint="each of the four layers made exactly one picture.")
    return np.array([depth.index(answer[label]) for label in labels], dtype=np.float64)


MATCH_RECONSTRUCTIONS = Spec(
    id="match_reconstructions",
    signature="match_reconstructions()",
    cases=_puzzle_cases,
    output=_puzzle_output,
    default_hint="order the pictures by how much fine detail survives: the shallowest layer (smallest receptive "
    "field) keeps nearly every pixel, the deepest keeps the layout and loses texture and colour detail.",
    summary="all four pictures matched with their layers.",
    noun="matching",
)


def check_match_reconstructions(answer: Callable[[], dict[str, str]] | dict[str, str]) -> None:
    """Check ``match_reconstructions() -> {"A": layer, ...}``: which layer made each reconstruction."""
    if isinstance(answer, dict):
        value = dict(answer)
        run_spec(MATCH_RECONSTRUCTIONS, lambda: value)
    else:
        run_spec(MATCH_RECONSTRUCTIONS, answer)
