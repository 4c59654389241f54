"""The one pixel-optimisation routine: every experiment of the series is a configuration of it.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016:

    L_total = alpha * sum_l wc_l L_content^l + beta * sum_l w_l E_l (+ tv_weight * TV)

The *input image* is optimised; the network is frozen. Feature inversion (content reconstruction)
is ``style_weight=0`` from noise; texture synthesis is ``content_weight=0`` from noise; style
transfer uses both. Targets (content features P^l and style Gram matrices A^l) are computed once,
without gradients, by :func:`content_targets` and :func:`style_targets`.

This module is the loop (:func:`run_loop`; what it returns, :class:`SynthesisResult`, is in
:mod:`nstlib.synthesis_result`) and :func:`synthesize`, which
checks its arguments and picks the start (:mod:`nstlib.inputs`), builds the objective
(:mod:`nstlib.objective`: the weighted terms, the balance) and runs the loop; the objective's names
are re-exported here.

Speed on CPUs (see ``benchmarks/``): the encoder runs the backward pass of its convolutions in
bfloat16 where the hardware has native bf16 (the forward pass stays float32); Gram matrices and loss
sums stay in float32 on copy-free 2-D views of the feature maps; L-BFGS keeps a history of 20
(torch keeps 100: on the default transfer that ends within 1.3 % of 20 and takes longer;
``history_size`` changes it, see docs/performance.md).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .inputs import check_synthesis, initial_image
from .objective import (
    REFERENCE_SIZE,
    Encoder,
    LossFn,
    Objective,
    balance,
    balance_layers,
    content_targets,
    make_objective,
    size_factor,
    style_targets,
)
from .synthesis_result import SynthesisResult
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


#: Evaluations without a new best loss after which a *frozen* L-BFGS is restarted from the best image
#: (see run_loop): frozen = the losses of those evaluations lie within STALL_RTOL of each other, relative
#: to the best loss. Any run without a new best for RESTART_BACKSTOP evaluations is restarted too.
RESTART_PATIENCE = 10
STALL_RTOL = 1e-3
RESTART_BACKSTOP = 50
#: How run_loop keeps the pixels in [0, 1] with L-BFGS (chosen by benchmarks/bench_box.py), and the choices.
BOX = "project"
BOXES = ("project", "clamp", "sigmoid", "end")
#: L-BFGS's stored curvature pairs (torch.optim.LBFGS keeps 100; see :func:`run_loop`).
HISTORY = 20
#: box="sigmoid": the start image is kept this far inside (0, 1) so that z = logit(image) is finite.
SIGMOID_EPS = 1e-3


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
    balance_at: str = "noise",
    box: str = BOX,
    history_size: int = HISTORY,
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
            ``size`` or the content image's size), "quiet" (the same noise scaled to mid-grey
            +- 5 %: what the loss cannot see stays grey instead of noise) or a (1, 3, H, W)
            tensor in [0, 1].
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
        balance_at: where ``strength`` and ``layer_balance`` measure the style layers' pulls:
            ``"noise"`` (seeded white noise of the output's size) or ``"start"`` (the image the
            run starts from, e.g. the photo; the content pull is still measured at white noise,
            since at the photo it is 0).
        on_start: called once with the final term weights ({term: factor}, after any balancing)
            before the first evaluation (the panels' live weighted plot uses it).
        box: how L-BFGS keeps the pixels in [0, 1]: ``"project"`` (inside the optimiser, the
            default) or ``"clamp"`` (before every evaluation, as notebook 02's ``run_lbfgs``); see
            :func:`run_loop`.
        history_size: L-BFGS's stored curvature pairs (default 20; torch.optim.LBFGS keeps 100).

    Returns:
        :class:`SynthesisResult` with the best image, the per-term history and the term weights
        (``result.alpha``, ``result.beta`` and ``result.style_layer_weights`` say what was used).
        Ctrl-C (KeyboardInterrupt) or a NaN/inf loss stop early and still return the best image.
    """
    c = check_synthesis(
        encoder, content_targets=content_targets, style_targets=style_targets, content_layers=content_layers,
        style_layers=style_layers, content_weight=content_weight, style_weight=style_weight, strength=strength,
        tv_weight=tv_weight, steps=steps, optimizer=optimizer, line_search=line_search, balance_at=balance_at,
    )  # fmt: skip
    x = initial_image(init, content_image, size, seed).to(encoder.device)  # (1, 3, H, W)
    objective = make_objective(
        encoder,
        content_targets=c.content_targets,
        style_targets=c.style_targets,
        content_layers=c.content_layers,
        style_layers=c.style_layers,
        content_weight=c.content_weight,
        style_weight=c.style_weight,
        strength=c.strength,
        layer_balance=layer_balance,
        tv_weight=c.tv_weight,
        size=(int(x.shape[-2]), int(x.shape[-1])),
        seed=seed,
        style_masks=style_masks,
        start=x if balance_at == "start" else None,
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
        box=box,
        history_size=history_size,
    )
    result.info.update(
        objective.info,
        line_search=line_search if optimizer == "lbfgs" else None,
        init=init if isinstance(init, str) else "tensor",
        pooling=getattr(encoder, "pooling", None),
        layer_balance=bool(layer_balance),
        balance_at=balance_at if c.strength is not None or layer_balance else None,
    )
    return result


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
    box: str = BOX,
    history_size: int = HISTORY,
) -> SynthesisResult:
    """The one optimisation loop: minimise ``objective(x)`` over the pixels of ``x``, kept in [0, 1].

    Counts loss evaluations (``steps`` of them, for L-BFGS and Adam alike), keeps the image with the
    lowest loss seen (not the last one), records every term, and stops cleanly on Ctrl-C or a
    NaN/inf loss. L-BFGS is :class:`nstlib.lbfgs.LBFGS` (``history_size`` pairs, default 20;
    ``line_search`` None or "strong_wolfe"). The loss values are read once per evaluation, together
    with the numbers the line search needs: one host transfer per evaluation on a GPU, and no other.

    ``box`` says how the pixels stay in [0, 1] with L-BFGS (Adam always clamps after each step):
    ``"project"`` (default) L-BFGS keeps them inside itself (projected L-BFGS); ``"clamp"`` clamps the
    image before every evaluation, behind L-BFGS's back (the loop before issue 24); ``"sigmoid"``
    optimises z with image = sigmoid(z); ``"end"`` optimises unbounded and clamps the result once.
    ``benchmarks/bench_box.py`` compares them (``result.info["clamp_moved"]``: the share of pixels
    the clamp moved per evaluation).

    L-BFGS can stall: after a failed line search its curvature memory keeps proposing useless
    steps (seen on random networks: the loss frozen for hundreds of evaluations while a run on the
    same network rescaled by 1e-6 in float rounding went on improving). When the best loss has not
    improved for ``RESTART_PATIENCE`` evaluations and the loss is frozen meanwhile (within
    ``STALL_RTOL``), or has not improved for ``RESTART_BACKSTOP`` evaluations, the loop restarts
    L-BFGS from the best image with an empty memory (``result.info["restarts"]`` counts them). A
    loss that jumps about without a new best is not restarted early: without a line search L-BFGS
    often overshoots by orders of magnitude for a few dozen evaluations and then converges (seen
    with the trained VGG-16 from the photo), and a restart would only begin that phase again.
    """
    from . import lbfgs as _lbfgs  # looked up at call time (tests may record what is built)

    if box not in BOXES:
        raise ValueError(f"box = {box!r}: use one of {', '.join(map(repr, BOXES))}")
    if optimizer != "lbfgs":
        box = "clamp"  # Adam: the clamp after a step is its projection
    sigmoid = box == "sigmoid"
    start_image = x0.detach().float().clamp(0.0, 1.0)  # (1, 3, H, W)
    x = (_logit(start_image) if sigmoid else start_image.clone()).requires_grad_(True)  # the variables
    weights = dict(getattr(objective, "weights", {}))
    history: list[dict[str, float]] = []
    best = _Best(loss=math.inf, image=start_image.clone())
    bar = _progress_bar(steps, progress)
    start = time.perf_counter()
    restarts = 0
    moved: list[float] = []  # box="clamp": share of the pixels each evaluation's clamp moved
    pending: dict[str, Any] = {}  # this evaluation's image, term names and 0-dim values, not yet read

    def closure() -> Tensor:
        if len(history) >= steps:
            raise _Stop("done")
        if optimizer == "lbfgs" and _stalled(history, best):
            raise _Stop("restart")
        extra = []
        if box == "clamp":
            with torch.no_grad():
                extra.append(((x < 0) | (x > 1)).float().mean())  # 0-dim
                x.clamp_(0.0, 1.0)
        if torch.is_grad_enabled():
            x.grad = None
        image = torch.sigmoid(x) if sigmoid else x  # (1, 3, H, W)
        total, terms = objective(image)
        if total.requires_grad:
            total.backward()
        values = [total.detach(), *(v.detach().float().reshape(()) for v in terms.values()), *extra]
        pending.update(image=image.detach(), names=list(terms), values=values)
        return total

    def read(theirs: Tensor) -> list[float]:
        """The one host read of an evaluation: this loop's values, then the optimiser's (``theirs``)."""
        ours = torch.stack(pending["values"]).double()
        values = torch.cat([ours, theirs.double()]).tolist()  # the host sync of this evaluation
        names, step, value = pending["names"], len(history), values[0]
        record = dict(zip(names, values[1 : len(names) + 1]))
        record.update(step=step, total=value, time=time.perf_counter() - start)
        history.append(record)
        if box == "clamp":
            moved.append(values[len(names) + 1])
        if not math.isfinite(value):
            raise _Stop("non-finite loss")
        if value < best.loss:
            best.loss, best.image, best.step, best.mark = value, pending["image"].clone(), step, step
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4g}", refresh=False)
        if callback is not None:
            callback(step, pending["image"], record)
        return values[len(ours) :]

    stopped, message = None, ""
    try:
        if optimizer == "lbfgs":
            while len(history) < steps:  # one call runs the whole budget, unless L-BFGS stalls
                lbfgs = _lbfgs.LBFGS(
                    [x],
                    lr=1.0 if lr is None else lr,
                    max_iter=steps,
                    max_eval=steps,
                    history_size=history_size,
                    line_search_fn=line_search,
                    bounds=(0.0, 1.0) if box == "project" else None,
                    read=read,
                )
                try:
                    lbfgs.step(closure)
                except _Stop as stop:
                    if stop.reason != "restart":
                        raise
                    restarts += 1
                    best.mark = len(history)  # patience counts from the restart
                    with torch.no_grad():
                        x.copy_(_logit(best.image) if sigmoid else best.image)
        else:
            adam = torch.optim.Adam([x], lr=0.02 if lr is None else lr)
            while len(history) < steps:
                adam.zero_grad(set_to_none=True)
                closure()
                read(x.new_empty(0))
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
    info: dict[str, Any] = {"restarts": restarts, "box": box}
    if moved:
        info["clamp_moved"] = sum(moved) / len(moved)
    encoder = getattr(objective, "encoder", None)
    if encoder is not None:
        info |= {
            "weights": encoder.weights_source,
            "arch": getattr(encoder, "arch", None),
            "precision": encoder.precision,
            "device": str(encoder.device),
            "normalized": getattr(encoder, "normalized", False),
        }
    return SynthesisResult(image, history, weights, best.step, stopped, message, info)


def _stalled(history: list[dict[str, float]], best: _Best) -> bool:
    """Restart L-BFGS? No new best for RESTART_PATIENCE evaluations with the loss frozen, or for RESTART_BACKSTOP."""
    since = len(history) - best.mark
    if since <= RESTART_PATIENCE:
        return False
    recent = [h["total"] for h in history[-RESTART_PATIENCE:]]
    return since > RESTART_BACKSTOP or max(recent) - min(recent) <= STALL_RTOL * abs(best.loss)


def _logit(image: Tensor) -> Tensor:
    """z with sigmoid(z) = image (box="sigmoid"), the image first kept SIGMOID_EPS inside (0, 1)."""
    p = image.clamp(SIGMOID_EPS, 1.0 - SIGMOID_EPS)  # (1, 3, H, W)
    return torch.log(p) - torch.log1p(-p)


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="nstlib", unit="eval", leave=True)
