"""The one pixel-optimisation routine: every experiment of the series is a configuration of it.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016:

    L_total = alpha * sum_l wc_l L_content^l + beta * sum_l w_l E_l (+ tv_weight * TV)

The *input image* is optimised; the network is frozen. Feature inversion (content reconstruction)
is ``style_weight=0`` from noise; texture synthesis is ``content_weight=0`` from noise; style
transfer uses both. Targets (content features P^l and style Gram matrices A^l) are computed once,
without gradients, by :func:`content_targets` and :func:`style_targets`.

Speed on CPUs (see ``benchmarks/``): the encoder runs the backward pass of its convolutions in
bfloat16 where the hardware has native bf16 (the forward pass stays float32); Gram matrices and loss
sums stay in float32 on copy-free 2-D views of the feature maps; L-BFGS keeps a history of 20
(instead of 100) at the same convergence.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

from . import speed
from .losses import content_loss, style_layer_loss, tv_loss
from .vgg import layer_shape

__all__ = [
    "synthesize",
    "Encoder",
    "run_loop",
    "make_objective",
    "Objective",
    "balance",
    "balance_layers",
    "size_factor",
    "REFERENCE_SIZE",
    "SynthesisResult",
    "content_targets",
    "style_targets",
    "layer_shape",
]

Callback = Callable[[int, Tensor, dict[str, float]], Any]


class Encoder(Protocol):
    """What the loop needs of a feature extractor (:class:`nstlib.vgg.VGG19Features` and the offline
    texture model :class:`nstlib.multiscale.MultiScaleTextures` both are one)."""

    device: torch.device
    channels_last: bool
    weights_source: str
    precision: str

    def __call__(
        self, x: Tensor, layers: Sequence[str] | str, *, fast_layout: bool = False
    ) -> dict[str, Tensor]: ...  # {layer: (B, N_l, H_l, W_l)}

    def check_layers(self, layers: Iterable[str] | str) -> list[str]: ...

    def check_size(self, height: int, width: int, layers: Sequence[str]) -> None: ...


@torch.no_grad()
def content_targets(encoder: Encoder, image: Tensor, layers: list[str] | tuple[str, ...]) -> dict[str, Tensor]:
    """Content representation P^l of ``image`` (1, 3, H, W) at each layer: {layer: (1, N_l, H_l, W_l)}."""
    return {name: f.detach() for name, f in encoder(image, list(layers)).items()}


@torch.no_grad()
def style_targets(
    encoder: Encoder,
    image: Tensor,
    layers: list[str] | tuple[str, ...],
    output_size: tuple[int, int] | None = None,
    gram_fn: Callable[[Tensor], Tensor] | None = None,
) -> dict[str, Tensor]:
    """Style representation A^l = Gram matrix of ``image``'s features: {layer: (1, N_l, N_l)}.

    The Gram matrix sums over the M_l positions of the map, so it grows with the image's area.
    When the generated image has another size (``output_size`` = (H, W)), A^l is rescaled by
    M_l(output) / M_l(style), i.e. it describes the style image's per-position statistics at the
    output's size. Without this, a style image twice as large would weigh four times as much.
    ``gram_fn`` replaces :func:`nstlib.losses.gram_matrix` (a plug-in point for your own).
    """
    feats = encoder(image, list(layers), fast_layout=gram_fn is None)  # channels-last on CPUs: nstlib.speed's Gram
    out = {}
    for name, f in feats.items():
        A = (gram_fn or speed.gram_matrix)(f)  # (1, N, N)
        if output_size is not None:
            shape = getattr(encoder, "layer_shape", layer_shape)  # the encoder's own geometry, if it has one
            m_out = math.prod(shape(name, *output_size))
            A = A * (m_out / (f.shape[-2] * f.shape[-1]))
        out[name] = A.detach()
    return out


@dataclass
class SynthesisResult:
    """What :func:`synthesize` returns.

    Attributes:
        image: (1, 3, H, W) the best image seen (lowest total loss), in [0, 1], on the CPU.
        history: one dict per loss evaluation with "step", "total", "time" (seconds since the
            start) and each raw term by name ("content/conv4_2", "style/conv1_1", "tv").
        term_weights: the factor of each term in the total (alpha * wc_l, beta * w_l, tv_weight),
            so ``total = sum(term_weights[k] * history[i][k])``.
        best_step: the evaluation (0-based) whose image is returned.
        stopped: ``None`` when all steps ran, else ``"interrupted"`` or ``"non-finite loss"``.
        message: a human-readable summary.
    """

    image: Tensor
    history: list[dict[str, float]]
    term_weights: dict[str, float]
    best_step: int
    stopped: str | None = None
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def best_loss(self) -> float:
        return self.history[self.best_step]["total"] if self.history else math.inf

    @property
    def alpha(self) -> float | None:
        """The content weight alpha used (None for a bare :func:`run_loop`)."""
        return self.info.get("alpha")

    @property
    def beta(self) -> float | None:
        """The style weight beta used: given, or set from ``strength`` by :func:`balance`."""
        return self.info.get("beta")

    @property
    def style_layer_weights(self) -> dict[str, float]:
        """The w_l used, {layer: w_l} (sum 1 by default)."""
        return dict(self.info.get("style_layers", {}))

    @property
    def terms(self) -> list[str]:
        """Names of the loss terms recorded in :attr:`history`."""
        return list(self.term_weights)

    @property
    def seconds(self) -> float:
        """Wall time of the optimisation."""
        return self.history[-1]["time"] if self.history else 0.0

    def plot_losses(self, ax=None, weighted: bool = False, **kwargs):
        """Per-term loss curves on a log scale (one curve per named term); returns the Figure."""
        from .viz import plot_losses

        return plot_losses(self.history, ax=ax, weights=self.term_weights if weighted else None, **kwargs)

    def __repr__(self) -> str:
        return (
            f"SynthesisResult(image={tuple(self.image.shape)}, evaluations={len(self.history)}, "
            f"best_loss={self.best_loss:.4g} at step {self.best_step}, seconds={self.seconds:.1f}, "
            f"stopped={self.stopped!r})"
        )


class _Stop(Exception):
    """Raised inside the closure to leave the optimiser's loop."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Best:
    """The lowest-loss image of a run so far, and when it came (``mark``: the last progress or restart)."""

    loss: float
    image: Tensor  # (1, 3, H, W)
    step: int = 0
    mark: int = 0


NONFINITE_HINT = (
    "the loss became {value} at evaluation {step}; the best image so far is kept. Fixes: lower "
    "style_weight (beta) or the layer weights, lower the learning rate (Adam), use "
    "optimizer='lbfgs' with line_search='strong_wolfe', or start from the content image (init='content')."
)


def _check_weights(name: str, weights: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for layer, w in weights.items():
        w = float(w)
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"{name}[{layer!r}] = {w}: layer weights must be finite and >= 0")
        out[layer] = w
    return out


def _check_scalar(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} = {value}: must be a finite number >= 0")
    return value


#: The image size at which explicit alpha / beta keep the meaning they have in Gatys et al. 2016
#: (their figures are ~512 px). See :func:`size_factor`.
REFERENCE_SIZE = 512


def size_factor(layer: str, height: int, width: int) -> float:
    """M_l(512 x 512) / M_l(height x width): what makes a sum over positions independent of the image size.

    E_l is already size-free (G grows like M_l and is divided by M_l^2 after squaring), but
    L_content = 1/2 sum (F - P)^2 and the TV term sum over every position, so at 128 px they are
    16x smaller than at 512 px and a fixed alpha / beta would be a different balance at every size.
    :func:`synthesize` multiplies the content terms (and TV, with ``layer="input"``) by this factor,
    so an explicit alpha / beta means at any size what it means at 512 x 512.

    >>> size_factor("relu4_2", 128, 128), size_factor("input", 512, 256)
    (16.0, 2.0)
    """
    if layer == "input":
        return REFERENCE_SIZE * REFERENCE_SIZE / (height * width)
    h, w = layer_shape(layer, height, width)
    h0, w0 = layer_shape(layer, REFERENCE_SIZE, REFERENCE_SIZE)
    return (h0 * w0) / (h * w)


LossFn = Callable[[Tensor, Tensor], Tensor]

#: Evaluations without a new best loss after which L-BFGS is restarted from the best image (see run_loop).
RESTART_PATIENCE = 10


@dataclass
class Objective:
    """L_total(x) = alpha sum_l wc_l s_l L_content^l + beta sum_l w_l E_l (+ tv_weight s TV), a function of x.

    ``s_l`` is :func:`size_factor` (1 at 512 x 512). ``weights`` holds the factor in front of each
    named raw term ("content/relu4_2", "style/relu1_1", "tv"), so ``total = sum weights[k] * terms[k]``.
    The loss functions are plug-in points: a student's ``content_loss_fn(F, P)``,
    ``style_loss_fn(F, A)`` (one layer's E_l) or ``gram_fn(F)`` replaces the library's.

    ``objective(x)`` returns ``(total, terms)`` with the graph attached, for any loop to call
    ``total.backward()`` on; :func:`synthesize` is the library's loop.
    """

    encoder: Encoder
    content_targets: dict[str, Tensor]
    style_targets: dict[str, Tensor]
    weights: dict[str, float]
    style_masks: dict[str, Tensor] = field(default_factory=dict)
    content_loss_fn: LossFn = content_loss
    style_loss_fn: LossFn | None = None
    gram_fn: Callable[[Tensor], Tensor] | None = None
    #: what the objective was built from (alpha, beta, strength, w_l, size factors); see make_objective
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def layers(self) -> list[str]:
        """The layers whose features the active terms need (terms with weight 0 are skipped)."""
        names = [k.split("/", 1)[1] for k, w in self.weights.items() if "/" in k and w > 0]
        return list(dict.fromkeys(names)) or list(dict.fromkeys([*self.content_targets, *self.style_targets]))

    def style_term(self, F: Tensor, A: Tensor) -> Tensor:
        if self.style_loss_fn is not None:
            return self.style_loss_fn(F, A)
        # no plug-in: the maps come in the encoder's fast layout, for nstlib.speed's Gram (same values)
        return style_layer_loss(F, A, gram_fn=self.gram_fn or speed.gram_matrix)

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        """Each raw term (lecture formulas, unweighted) at image ``x`` (1, 3, H, W)."""
        # channels-last maps only reach the library's own losses (a plug-in may call .view on them)
        ours = self.style_loss_fn is None and self.gram_fn is None and self.content_loss_fn is content_loss
        feats = self.encoder(x, self.layers, fast_layout=ours)
        terms: dict[str, Tensor] = {}
        for k, P in self.content_targets.items():
            if k in feats:
                terms[f"content/{k}"] = self.content_loss_fn(feats[k], P)
        for k, A in self.style_targets.items():
            if k in feats:
                f = feats[k] * self.style_masks[k] if k in self.style_masks else feats[k]
                terms[f"style/{k}"] = self.style_term(f, A)
        if "tv" in self.weights:
            terms["tv"] = tv_loss(x)
        return terms

    def __call__(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        terms = self.terms(x)
        total = sum((self.weights[k] * v for k, v in terms.items()), torch.zeros((), device=x.device))
        return total, terms

    def loss(self, x: Tensor) -> Tensor:
        """L_total(x) alone, a 0-dim tensor (for a loop of your own: ``loss = objective.loss(x)``)."""
        return self(x)[0]


def _grad_norms(objective: Objective, x_ref: Tensor, groups: dict[str, list[str]]) -> dict[str, float]:
    """||d(sum of the group's weighted terms)/dx|| at ``x_ref`` for each group of term names."""
    x = x_ref.detach().clone().requires_grad_(True)
    terms = objective.terms(x)
    out = {}
    names = [g for g in groups if any(k in terms for k in groups[g])]
    for i, g in enumerate(names):
        parts = [objective.weights[k] * terms[k] for k in groups[g] if k in terms]  # not empty: see names
        loss = sum(parts[1:], parts[0])
        (grad,) = torch.autograd.grad(loss, x, retain_graph=i < len(names) - 1)
        out[g] = float(grad.norm())
    return out


def balance_layers(objective: Objective, x_ref: Tensor, beta: float = 1.0) -> dict[str, float]:
    """w_l such that every style layer pulls on the image equally hard at ``x_ref`` (He, Wang & Hopcroft 2016).

    w_l is proportional to c_l / ||grad_x E_l(x_ref)||, where c_l are the layer weights already in
    the objective (equal by default: then every layer's weighted gradient has the same norm; a
    larger c_l makes a layer count more *relative to the balance*; 0 switches it off). The w_l sum
    to 1. Sets ``objective.weights["style/<layer>"] = beta * w_l`` and returns ``{layer: w_l}``.
    """
    style_keys = [k for k, w in objective.weights.items() if k.startswith("style/") and w > 0]
    per = _grad_norms(objective, x_ref, {k: [k] for k in style_keys})
    raw = {k: v / objective.weights[k] for k, v in per.items()}  # ||grad E_l||, unweighted
    if raw and all(v == 0 for v in raw.values()):  # no style term acts (e.g. an empty mask): nothing to balance
        return {k.split("/", 1)[1]: objective.weights[k] / beta for k in objective.weights if k.startswith("style/")}
    bad = sorted(k for k, v in raw.items() if not math.isfinite(v) or v <= 0)
    if bad or not raw:
        raise ValueError(
            f"cannot balance the style layers: the gradients of {bad} at the reference image "
            "are 0 or not finite; give style_layers= weights explicitly (layer_balance=False)"
        )
    inv = {k.split("/", 1)[1]: objective.weights[k] / raw[k] for k in raw}  # c_l / ||grad E_l|| (times beta)
    total = sum(inv.values())
    sw = {layer: v / total for layer, v in inv.items()}
    for k in [k for k in objective.weights if k.startswith("style/")]:
        objective.weights[k] = beta * sw.get(k.split("/", 1)[1], 0.0)
    return {k.split("/", 1)[1]: sw.get(k.split("/", 1)[1], 0.0) for k in objective.weights if k.startswith("style/")}


def balance(objective: Objective, x_ref: Tensor, strength: float, beta: float = 1.0) -> float:
    """beta from how hard the content and the style terms pull on the image (He, Wang & Hopcroft 2016).

    At the reference image ``x_ref`` (white noise of the output's size: both terms pull there), the
    gradient of the weighted content loss alpha sum wc_l s_l L_content^l and that of the style loss
    sum w_l E_l (with the weights in ``objective.weights``, which hold ``beta`` * w_l) are measured;
    beta is rescaled so that the style gradient is ``strength`` times the content gradient in norm::

        beta = strength * ||grad_x content|| / ||grad_x sum_l w_l E_l||

    Strength 1 is the balance; larger values give more style. Because both gradients are measured
    on the network in use, beta adapts to the weights' scale and to the image size. Sets
    ``objective.weights`` to use it and returns beta.
    """
    style_keys = [k for k, w in objective.weights.items() if k.startswith("style/") and w > 0]
    content_keys = [k for k, w in objective.weights.items() if k.startswith("content/") and w > 0]
    norms = _grad_norms(objective, x_ref, {"content": content_keys, "style": style_keys})
    g_c, g_s = norms.get("content", 0.0), norms.get("style", 0.0)
    if g_s == 0 and math.isfinite(g_c):  # no style term acts on the image (e.g. an empty mask): keep beta
        return beta
    if not (math.isfinite(g_c) and math.isfinite(g_s)) or g_c <= 0 or g_s <= 0:
        raise ValueError(
            f"cannot balance content and style: their gradients at the reference image are {g_c:.3g} and "
            f"{g_s:.3g} (both must be finite and > 0). Give style_weight= explicitly instead of a strength."
        )
    scale = strength * g_c / g_s  # the factor to apply to the current style weights
    for k in style_keys:
        objective.weights[k] *= scale
    return beta * scale


def synthesize(
    encoder: Encoder,
    *,
    content_targets: Mapping[str, Tensor] | None = None,
    style_targets: Mapping[str, Tensor] | None = None,
    content_layers: Mapping[str, float] | None = None,
    style_layers: Mapping[str, float] | None = None,
    content_weight: float = 1.0,
    style_weight: float | None = None,
    strength: float | None = None,
    layer_balance: bool = False,
    tv_weight: float = 0.0,
    init: str | Tensor = "noise",
    content_image: Tensor | None = None,
    size: tuple[int, int] | None = None,
    optimizer: str = "lbfgs",
    steps: int = 300,
    lr: float | None = None,
    line_search: str | None = None,
    seed: int = 0,
    progress: bool = True,
    callback: Callback | None = None,
    style_masks: Mapping[str, Tensor] | None = None,
    content_loss_fn: LossFn | None = None,
    style_loss_fn: LossFn | None = None,
    gram_fn: Callable[[Tensor], Tensor] | None = None,
    on_start: Callable[[dict[str, float]], Any] | None = None,
) -> SynthesisResult:
    """Optimise an image's pixels to match content and style targets (Gatys et al. 2016).

    Args:
        encoder: the frozen feature extractor (:class:`nstlib.vgg.VGG19Features`, or any :class:`Encoder`).
        content_targets: {layer: P^l (1, N_l, H_l, W_l)} from :func:`content_targets`.
        style_targets: {layer: A^l (1, N_l, N_l)} from :func:`style_targets`.
        content_layers: {layer: wc_l}; default 1 for every content target.
        style_layers: {layer: w_l}; default 1 / (number of style targets) each.
        content_weight: alpha. style_weight: beta (default 1 unless ``strength`` is given).
            Content and TV terms are multiplied by :func:`size_factor`, so alpha / beta keep their
            meaning (that at 512 x 512) at every image size.
        strength: set beta from the gradients instead (see :func:`balance`): 1 = content and style
            pull equally hard at the start; larger = more style. Needs content and style targets.
        layer_balance: set w_l so that every style layer pulls equally hard (:func:`balance_layers`)
            instead of using ``style_layers``' values.
        tv_weight: factor of :func:`tv_loss`.
        init: "content" (start from ``content_image``), "noise" (seeded uniform white noise of
            ``size`` or the content image's size) or a (1, 3, H, W) tensor in [0, 1].
        optimizer: "lbfgs" (Gatys' choice) or "adam".
        steps: number of loss evaluations (the same budget for both optimisers).
        lr: step size (default 1 for L-BFGS, 0.02 for Adam).
        line_search: None or "strong_wolfe" (L-BFGS only; more robust, more evaluations per step).
        seed: seeds the noise initialisation (and the balance's reference noise).
        progress: show a tqdm progress bar.
        callback: called after each evaluation as ``callback(step, image, terms)`` with the
            current (1, 3, H, W) image and the dict of this evaluation's terms.
        style_masks: {layer: (1, 1, H_l, W_l) weights} that multiply the generated features before
            their Gram matrix (spatial control; see :func:`nstlib.transfer`'s ``mask``).
        content_loss_fn, style_loss_fn, gram_fn: plug-in points for your own
            ``content_loss(F, P)``, one layer's ``E_l = style_loss(F, A)`` or ``gram(F)``
            (default: :mod:`nstlib.losses`); ``gram_fn`` is used inside the default style loss.
        on_start: called once with the final term weights ({term: factor}, after any balancing)
            before the first evaluation (the panels' live weighted plot uses it).

    Returns:
        :class:`SynthesisResult` with the best image, the per-term history and the term weights
        (``result.alpha``, ``result.beta`` and ``result.style_layer_weights`` say what was used).
        Ctrl-C (KeyboardInterrupt) or a NaN/inf loss stop early and still return the best image.
    """
    content_targets = dict(content_targets or {})
    style_targets = dict(style_targets or {})
    content_weight = _check_scalar("content_weight", content_weight)
    tv_weight = _check_scalar("tv_weight", tv_weight)
    if strength is not None:
        strength = _check_strength(strength)
        if style_weight is not None:
            raise ValueError(
                "give either strength= (beta set from the gradients) or style_weight= (beta itself), not both"
            )
        if not content_targets or not style_targets or content_weight == 0:
            raise ValueError(
                "strength= balances content against style: it needs content and style targets and "
                "content_weight > 0; for style or content alone give style_weight= instead"
            )
    style_weight = _check_scalar("style_weight", 1.0 if style_weight is None else style_weight)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps = {steps!r}: the number of loss evaluations must be an integer >= 1")
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"unknown optimizer {optimizer!r}: use 'lbfgs' (Gatys et al.) or 'adam'")
    if line_search not in (None, "strong_wolfe"):
        raise ValueError(f"line_search must be None or 'strong_wolfe', got {line_search!r}")
    cw = _check_weights("content_layers", content_layers or {k: 1.0 for k in content_targets})
    sw = _check_weights("style_layers", style_layers or {k: 1.0 / len(style_targets) for k in style_targets})
    for name, weights, targets in (("content", cw, content_targets), ("style", sw, style_targets)):
        encoder.check_layers(list(targets))
        missing = set(weights) - set(targets)
        if missing:
            raise ValueError(f"{name} layer weights given for {sorted(missing)} but no {name} target there")
        for layer in targets:
            weights.setdefault(layer, 0.0)
    if not content_targets and not style_targets and tv_weight == 0:
        raise ValueError("nothing to optimise: give content_targets, style_targets or a tv_weight > 0")

    x = _initial_image(init, content_image, size, seed).to(encoder.device)
    objective = make_objective(
        encoder,
        content_targets=content_targets,
        style_targets=style_targets,
        content_layers=cw,
        style_layers=sw,
        content_weight=content_weight,
        style_weight=style_weight,
        strength=strength,
        layer_balance=layer_balance,
        tv_weight=tv_weight,
        size=(int(x.shape[-2]), int(x.shape[-1])),
        seed=seed,
        style_masks=style_masks,
        content_loss_fn=content_loss_fn,
        style_loss_fn=style_loss_fn,
        gram_fn=gram_fn,
    )
    if on_start is not None:
        on_start(dict(objective.weights))
    result = run_loop(
        objective,
        x,
        steps=steps,
        optimizer=optimizer,
        lr=lr,
        line_search=line_search,
        progress=progress,
        callback=callback,
    )
    result.info.update(objective.info)
    return result


def make_objective(
    encoder: Encoder,
    *,
    content_targets: Mapping[str, Tensor],
    style_targets: Mapping[str, Tensor],
    content_layers: Mapping[str, float],
    style_layers: Mapping[str, float],
    size: tuple[int, int],
    content_weight: float = 1.0,
    style_weight: float = 1.0,
    strength: float | None = None,
    layer_balance: bool = False,
    tv_weight: float = 0.0,
    seed: int = 0,
    style_masks: Mapping[str, Tensor] | None = None,
    content_loss_fn: LossFn | None = None,
    style_loss_fn: LossFn | None = None,
    gram_fn: Callable[[Tensor], Tensor] | None = None,
) -> Objective:
    """The :class:`Objective` :func:`synthesize` minimises, for an image of ``size`` = (H, W).

    Use it to run a loop of your own: ``objective.loss(x)`` is L_total at the (1, 3, H, W) image x.
    Weights: alpha * wc_l * :func:`size_factor` for content terms, beta * w_l for style terms;
    with ``layer_balance`` / ``strength`` the w_l / beta come from :func:`balance_layers` /
    :func:`balance` at seeded white noise. ``objective.info`` records alpha, beta, strength, w_l
    and the size factors. Arguments as in :func:`synthesize` (already validated there).
    """
    device = encoder.device
    H, W = size
    cw, sw = dict(content_layers), dict(style_layers)
    encoder.check_size(H, W, list(dict.fromkeys([*content_targets, *style_targets])))  # names the deepest layer
    # Content targets in the layout the encoder computes in, converted once (not per evaluation).
    layout = torch.channels_last if encoder.channels_last else torch.contiguous_format
    weights: dict[str, float] = {}
    weights.update({f"content/{k}": content_weight * w * size_factor(k, H, W) for k, w in cw.items()})
    weights.update({f"style/{k}": style_weight * w for k, w in sw.items()})
    if tv_weight > 0:
        weights["tv"] = tv_weight * size_factor("input", H, W)
    objective = Objective(
        encoder,
        {k: v.to(device).contiguous(memory_format=layout) for k, v in content_targets.items()},
        {k: v.to(device) for k, v in style_targets.items()},
        weights,
        {k: v.to(device) for k, v in (style_masks or {}).items()},
        content_loss_fn or content_loss,
        style_loss_fn,
        gram_fn,
    )
    beta = style_weight
    if (layer_balance or strength is not None) and style_weight > 0 and any(w > 0 for w in sw.values()):
        ref = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(seed + 1)).to(device)  # white noise
        if layer_balance:
            sw = balance_layers(objective, ref, style_weight)
        if strength is not None:
            beta = balance(objective, ref, strength, style_weight)
    objective.info = dict(
        alpha=content_weight,
        beta=beta,
        strength=strength,
        content_layers=cw,
        style_layers=sw,
        size_factors={k: size_factor(k, H, W) for k in cw},
        tv_weight=tv_weight,
    )
    return objective


def run_loop(
    objective: Callable[[Tensor], tuple[Tensor, dict[str, Tensor]]] | Objective,
    x0: Tensor,
    *,
    steps: int = 300,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    line_search: str | None = None,
    progress: bool = False,
    callback: Callback | None = None,
) -> SynthesisResult:
    """The one optimisation loop: minimise ``objective(x)`` over the pixels of ``x``, clamped to [0, 1].

    Counts loss evaluations (``steps`` of them, for L-BFGS and Adam alike), keeps the image with the
    lowest loss seen (not the last one), records every term, and stops cleanly on Ctrl-C or a
    NaN/inf loss. Reads the loss values once per evaluation (one host transfer on a GPU).

    L-BFGS can stall: after a failed line search its curvature memory keeps proposing useless
    steps (seen on random networks: the loss frozen for hundreds of evaluations while a run on the
    same network rescaled by 1e-6 in float rounding went on improving). When the best loss has not
    improved for ``RESTART_PATIENCE`` evaluations, the loop restarts L-BFGS from the best image
    with an empty memory (``result.info["restarts"]`` counts them).
    """
    x = x0.detach().clone().float().requires_grad_(True)
    weights = dict(getattr(objective, "weights", {}))
    history: list[dict[str, float]] = []
    best = _Best(loss=math.inf, image=x.detach().clone())
    bar = _progress_bar(steps, progress)
    start = time.perf_counter()
    restarts = 0

    def closure() -> Tensor:
        if len(history) >= steps:
            raise _Stop("done")
        if optimizer == "lbfgs" and len(history) - best.mark > RESTART_PATIENCE:
            raise _Stop("restart")
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
        if torch.is_grad_enabled():
            x.grad = None
        total, terms = objective(x)
        if total.requires_grad:
            total.backward()
        step = len(history)
        values = torch.stack([total.detach(), *(v.detach().float().reshape(()) for v in terms.values())]).tolist()
        value = values[0]
        record = dict(zip(terms, values[1:]))
        record.update(step=step, total=value, time=time.perf_counter() - start)
        history.append(record)
        if not math.isfinite(value):
            raise _Stop("non-finite loss")
        if value < best.loss:
            best.loss, best.image, best.step, best.mark = value, x.detach().clone(), step, step
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4g}", refresh=False)
        if callback is not None:
            callback(step, x.detach(), record)
        return total

    stopped, message = None, ""
    try:
        if optimizer == "lbfgs":
            while len(history) < steps:  # one call runs the whole budget, unless L-BFGS stalls
                lbfgs = torch.optim.LBFGS(
                    [x],
                    lr=1.0 if lr is None else lr,
                    max_iter=steps,
                    max_eval=steps,
                    history_size=20,
                    tolerance_grad=-1.0,
                    tolerance_change=-1.0,
                    line_search_fn=line_search,
                )
                try:
                    lbfgs.step(closure)
                except _Stop as stop:
                    if stop.reason != "restart":
                        raise
                    restarts += 1
                    best.mark = len(history)  # patience counts from the restart
                    with torch.no_grad():
                        x.copy_(best.image)
        else:
            adam = torch.optim.Adam([x], lr=0.02 if lr is None else lr)
            while len(history) < steps:
                adam.zero_grad(set_to_none=True)
                closure()
                adam.step()
    except _Stop as stop:
        if stop.reason != "done":
            stopped = stop.reason
            message = NONFINITE_HINT.format(value=history[-1]["total"], step=len(history) - 1)
            warnings.warn("nstlib.synthesize stopped: " + message, RuntimeWarning, stacklevel=3)
    except KeyboardInterrupt:
        stopped = "interrupted"
        message = f"interrupted after {len(history)} of {steps} evaluations; returning the best image so far"
        print("nstlib: " + message)
    finally:
        if bar is not None:
            bar.close()
    image = best.image.clamp(0.0, 1.0).cpu()
    if not message:
        message = f"{len(history)} evaluations in {history[-1]['time']:.1f} s; best loss {best.loss:.4g}"
    info: dict[str, Any] = {"restarts": restarts}
    encoder = getattr(objective, "encoder", None)
    if encoder is not None:
        info |= {
            "weights": encoder.weights_source,
            "precision": encoder.precision,
            "device": str(encoder.device),
            "normalized": getattr(encoder, "normalized", False),
        }
    return SynthesisResult(image, history, weights, best.step, stopped, message, info)


def _check_strength(value: object) -> float:
    try:
        s = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"strength = {value!r}: give a number > 0 (1 = balanced, larger = more style)") from None
    if not math.isfinite(s) or s <= 0:
        raise ValueError(
            f"strength = {s}: the style strength must be a finite number > 0 "
            "(1 = content and style balanced, 10 = much more style, 0.1 = mostly content)"
        )
    return s


def _initial_image(init: str | Tensor, content_image: Tensor | None, size: tuple[int, int] | None, seed: int) -> Tensor:
    if isinstance(init, Tensor):
        from .io import check_image

        return check_image(init, "init").detach().clone().float()
    if init == "content":
        if content_image is None:
            raise ValueError("init='content' needs a content image; pass content_image= or use init='noise'")
        return content_image.detach().clone().float()
    if init == "noise":
        if size is None:
            if content_image is None:
                raise ValueError("init='noise' needs the output size: pass size=(H, W) or a content image")
            size = (content_image.shape[-2], content_image.shape[-1])
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(1, 3, *size, generator=gen)
    raise ValueError(f"unknown init {init!r}: use 'content', 'noise' or a (1, 3, H, W) tensor in [0, 1]")


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="nstlib", unit="eval", leave=True)
