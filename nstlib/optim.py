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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .losses import content_loss, gram_matrix, style_layer_loss, tv_loss
from .vgg import LAYER_NAMES, VGG19Features

__all__ = ["synthesize", "SynthesisResult", "content_targets", "style_targets", "layer_shape"]

Callback = Callable[[int, Tensor, dict[str, float]], Any]


def layer_shape(layer: str, height: int, width: int) -> tuple[int, int]:
    """Spatial size (H_l, W_l) of ``layer``'s feature map for an input of ``height`` x ``width``.

    Convolutions keep the size (3x3, padding 1); each 2x2 pooling halves it, rounding down.

    >>> layer_shape("conv4_2", 256, 200)
    (32, 25)
    """
    pools = sum(1 for name in LAYER_NAMES[: LAYER_NAMES.index(layer) + 1] if name.startswith("pool"))
    for _ in range(pools):
        height, width = height // 2, width // 2
    return height, width


@torch.no_grad()
def content_targets(encoder: VGG19Features, image: Tensor, layers: list[str] | tuple[str, ...]) -> dict[str, Tensor]:
    """Content representation P^l of ``image`` (1, 3, H, W) at each layer: {layer: (1, N_l, H_l, W_l)}."""
    return {name: f.detach() for name, f in encoder(image, list(layers)).items()}


@torch.no_grad()
def style_targets(
    encoder: VGG19Features,
    image: Tensor,
    layers: list[str] | tuple[str, ...],
    output_size: tuple[int, int] | None = None,
) -> dict[str, Tensor]:
    """Style representation A^l = Gram matrix of ``image``'s features: {layer: (1, N_l, N_l)}.

    The Gram matrix sums over the M_l positions of the map, so it grows with the image's area.
    When the generated image has another size (``output_size`` = (H, W)), A^l is rescaled by
    M_l(output) / M_l(style), i.e. it describes the style image's per-position statistics at the
    output's size. Without this, a style image twice as large would weigh four times as much.
    """
    feats = encoder(image, list(layers), fast_layout=True)  # the Gram does not care about the layout
    out = {}
    for name, f in feats.items():
        A = gram_matrix(f)  # (1, N, N)
        if output_size is not None:
            m_out = math.prod(layer_shape(name, *output_size))
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
    def terms(self) -> list[str]:
        """Names of the loss terms recorded in :attr:`history`."""
        return list(self.term_weights)

    @property
    def seconds(self) -> float:
        """Wall time of the optimisation."""
        return self.history[-1]["time"] if self.history else 0.0

    def plot_losses(self, ax=None, weighted: bool = False, **kwargs):
        """Per-term loss curves on a log scale (one curve per named term); returns the Figure."""
        from .plot import plot_losses

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


def synthesize(
    encoder: VGG19Features,
    *,
    content_targets: Mapping[str, Tensor] | None = None,
    style_targets: Mapping[str, Tensor] | None = None,
    content_layers: Mapping[str, float] | None = None,
    style_layers: Mapping[str, float] | None = None,
    content_weight: float = 1.0,
    style_weight: float = 1e3,
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
) -> SynthesisResult:
    """Optimise an image's pixels to match content and style targets (Gatys et al. 2016).

    Args:
        encoder: the frozen feature extractor (:class:`VGG19Features`).
        content_targets: {layer: P^l (1, N_l, H_l, W_l)} from :func:`content_targets`.
        style_targets: {layer: A^l (1, N_l, N_l)} from :func:`style_targets`.
        content_layers: {layer: wc_l}; default 1 for every content target.
        style_layers: {layer: w_l}; default 1 / (number of style targets) each.
        content_weight: alpha. style_weight: beta. tv_weight: factor of :func:`tv_loss`.
        init: "content" (start from ``content_image``), "noise" (seeded uniform white noise of
            ``size`` or the content image's size) or a (1, 3, H, W) tensor in [0, 1].
        optimizer: "lbfgs" (Gatys' choice) or "adam".
        steps: number of loss evaluations (the same budget for both optimisers).
        lr: step size (default 1 for L-BFGS, 0.02 for Adam).
        line_search: None or "strong_wolfe" (L-BFGS only; more robust, more evaluations per step).
        seed: seeds the noise initialisation.
        progress: show a tqdm progress bar.
        callback: called after each evaluation as ``callback(step, image, terms)`` with the
            current (1, 3, H, W) image and the dict of this evaluation's terms.
        style_masks: {layer: (1, 1, H_l, W_l) weights} that multiply the generated features before
            their Gram matrix (spatial control; see :func:`nstlib.transfer`'s ``mask``).

    Returns:
        :class:`SynthesisResult` with the best image, the per-term history and the term weights.
        Ctrl-C (KeyboardInterrupt) or a NaN/inf loss stop early and still return the best image.
    """
    content_targets = dict(content_targets or {})
    style_targets = dict(style_targets or {})
    content_weight = _check_scalar("content_weight", content_weight)
    style_weight = _check_scalar("style_weight", style_weight)
    tv_weight = _check_scalar("tv_weight", tv_weight)
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

    device = encoder.device
    x = _initial_image(init, content_image, size, seed).to(device)
    x.requires_grad_(True)
    H, W = x.shape[-2:]
    layers = list(dict.fromkeys([*content_targets, *style_targets]))
    encoder.check_size(H, W, layers)  # names the deepest layer and the minimum size
    # Content targets in the layout the encoder computes in, converted once (not per evaluation).
    layout = torch.channels_last if encoder.channels_last else torch.contiguous_format
    ctargets = {k: v.to(device).contiguous(memory_format=layout) for k, v in content_targets.items()}
    stargets = {k: v.to(device) for k, v in style_targets.items()}
    masks = {k: v.to(device) for k, v in (style_masks or {}).items()}

    term_weights: dict[str, float] = {}
    term_weights.update({f"content/{k}": content_weight * w for k, w in cw.items()})
    term_weights.update({f"style/{k}": style_weight * w for k, w in sw.items()})
    if tv_weight > 0:
        term_weights["tv"] = tv_weight
    # Terms with weight 0 are recorded only if cheap: skip unused layers in the forward pass.
    active = [k for k in layers if (k in cw and cw[k] * content_weight > 0) or (k in sw and sw[k] * style_weight > 0)]
    active = active or layers

    history: list[dict[str, float]] = []
    best = {"loss": math.inf, "image": x.detach().clone(), "step": 0}
    bar = _progress_bar(steps, progress)
    start = time.perf_counter()

    def closure() -> Tensor:
        if len(history) >= steps:
            raise _Stop("done")
        with torch.no_grad():
            x.clamp_(0.0, 1.0)
        if torch.is_grad_enabled():
            x.grad = None
        feats = encoder(x, active, fast_layout=True) if active else {}
        terms: dict[str, Tensor] = {}
        for k in ctargets:
            if k in feats:
                terms[f"content/{k}"] = content_loss(feats[k], ctargets[k])
        for k in stargets:
            if k in feats:
                f = feats[k] * masks[k] if k in masks else feats[k]
                terms[f"style/{k}"] = style_layer_loss(f, stargets[k])
        if tv_weight > 0:
            terms["tv"] = tv_loss(x)
        total = sum(term_weights[k] * v for k, v in terms.items())
        assert isinstance(total, Tensor)
        if total.requires_grad:
            total.backward()
        step = len(history)
        record = {k: float(v.detach()) for k, v in terms.items()}
        value = float(total.detach())
        record.update(step=step, total=value, time=time.perf_counter() - start)
        history.append(record)
        if not math.isfinite(value):
            raise _Stop("non-finite loss")
        if value < best["loss"]:
            best.update(loss=value, image=x.detach().clone(), step=step)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4g}", refresh=False)
        if callback is not None:
            callback(step, x.detach(), record)
        return total

    stopped, message = None, ""
    try:
        if optimizer == "lbfgs":
            opt = torch.optim.LBFGS(
                [x], lr=1.0 if lr is None else lr, max_iter=steps, max_eval=steps, history_size=20,
                tolerance_grad=-1.0, tolerance_change=-1.0, line_search_fn=line_search,
            )
            while len(history) < steps:  # one call runs the whole budget; loop guards early exits
                opt.step(closure)
        else:
            opt = torch.optim.Adam([x], lr=0.02 if lr is None else lr)
            while len(history) < steps:
                opt.zero_grad(set_to_none=True)
                closure()
                opt.step()
    except _Stop as stop:
        if stop.reason != "done":
            stopped = stop.reason
            message = NONFINITE_HINT.format(value=history[-1]["total"], step=len(history) - 1)
            warnings.warn("nstlib.synthesize stopped: " + message, RuntimeWarning, stacklevel=2)
    except KeyboardInterrupt:
        stopped = "interrupted"
        message = f"interrupted after {len(history)} of {steps} evaluations; returning the best image so far"
        print("nstlib: " + message)
    finally:
        if bar is not None:
            bar.close()
    image = best["image"].clamp(0.0, 1.0).cpu()
    if not message:
        message = f"{len(history)} evaluations in {history[-1]['time']:.1f} s; best loss {best['loss']:.4g}"
    info = {"weights": encoder.weights_source, "precision": encoder.precision, "device": str(device)}
    return SynthesisResult(image, history, term_weights, int(best["step"]), stopped, message, info)


def _initial_image(init: str | Tensor, content_image: Tensor | None, size: tuple[int, int] | None, seed: int) -> Tensor:
    if isinstance(init, Tensor):
        from .image import check_image

        return check_image(init, "init").detach().clone().float()
    if init == "content":
        if content_image is None:
            raise ValueError("init='content' needs a content image; pass content_image= or use init='noise'")
        return content_image.detach().clone().float()
    if init == "noise":
        if size is None:
            if content_image is None:
                raise ValueError("init='noise' needs the output size: pass size=(H, W) or a content image")
            size = tuple(content_image.shape[-2:])
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(1, 3, *size, generator=gen)
    raise ValueError(f"unknown init {init!r}: use 'content', 'noise' or a (1, 3, H, W) tensor in [0, 1]")


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="nstlib", unit="eval", leave=True)
