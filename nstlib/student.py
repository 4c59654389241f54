"""The capstone on the student's own functions: Gatys et al.'s style transfer written out in one page.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016:

    L_total(x) = alpha * sum_l wc_l s_l L_content^l(x) + beta * sum_l w_l E_l(x) + lambda_TV s TV(x)

minimised over the pixels x with L-BFGS, the network frozen. Notebook 05 runs it with the functions
the student wrote in notebooks 02-05 (``content_loss``, ``gram_matrix``, ``style_layer_loss`` or
``style_loss``, ``total_loss``, ``tv_loss``, ``run_lbfgs``). From the library it takes only the
encoder (:class:`nstlib.VGG19Features`), the targets (:func:`nstlib.content_targets`, and
:func:`nstlib.style_targets` with the student's ``gram_matrix`` plugged in) and the size factor s_l
(:func:`nstlib.synthesis.size_factor`, which keeps alpha / beta meaning what they mean at 512 px).

- :func:`choose_functions`: the student's functions where they are written; the library's version
  where the stub still raises ``NotImplementedError`` (and the names of those that stood in);
- :func:`student_transfer`: the transfer built from those functions, every setting explicit.

With the library's own functions it reproduces :func:`nstlib.transfer` at the same settings
(``layer_balance=False``, an explicit ``style_weight``, ``line_search="none"``): see
``tests/test_student.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .defaults import CONTENT_LAYERS, STYLE_LAYERS
from .io import load_image
from .losses import content_loss, gram_matrix, style_layer_loss, tv_loss
from .objective import Encoder, content_targets, size_factor, style_targets
from .synthesis import run_loop

__all__ = ["FUNCTIONS", "library_functions", "choose_functions", "student_transfer", "StudentResult"]

#: the exercises whose functions the capstone runs on, and the notebook each comes from
FUNCTIONS: dict[str, str] = {
    "content_loss": "02",
    "gram_matrix": "03",
    "style_layer_loss": "03",
    "total_loss": "05",
    "tv_loss": "05",
    "run_lbfgs": "02",
}


def _total_loss(
    content_terms: Mapping[str, Tensor],
    style_terms: Mapping[str, Tensor],
    alpha: float,
    beta: float,
    content_weights: Mapping[str, float],
    style_weights: Mapping[str, float],
) -> Tensor:
    """alpha * sum_l wc_l L_content^l + beta * sum_l w_l E_l (the library's stand-in for exercise 05.1)."""
    content = sum(content_weights[k] * v for k, v in content_terms.items())
    style = sum(style_weights[k] * v for k, v in style_terms.items())
    return alpha * content + beta * style  # type: ignore[return-value]


def _run_lbfgs(objective: Callable[[Tensor], Tensor], x0: Tensor, steps: int) -> Tensor:
    """The library's loop (:func:`nstlib.run_loop`, L-BFGS without line search) as ``run_lbfgs``: like
    notebook 02's reference solution it clamps the image to [0, 1] before every evaluation (``box="clamp"``)."""
    return run_loop(lambda x: (objective(x), {}), x0, steps=steps, box="clamp").image


def library_functions() -> dict[str, Callable[..., Any]]:
    """{name: the library's version} for every name of :data:`FUNCTIONS`."""
    return {
        "content_loss": content_loss,
        "gram_matrix": gram_matrix,
        "style_layer_loss": style_layer_loss,
        "total_loss": _total_loss,
        "tv_loss": tv_loss,
        "run_lbfgs": _run_lbfgs,
    }


def _probe_arguments(name: str) -> tuple[Any, ...]:
    """Small arguments to call a function with, to see whether it is still the stub."""
    g = torch.Generator().manual_seed(0)
    F = torch.rand(1, 2, 3, 3, generator=g)  # (B, N, H, W)
    t = torch.tensor(1.0)
    return {
        "content_loss": (F, torch.rand(1, 2, 3, 3, generator=g)),
        "gram_matrix": (F,),
        "style_layer_loss": (F, torch.rand(1, 2, 2, generator=g)),
        "style_loss": ({"a": F}, {"a": torch.rand(1, 2, 2, generator=g)}, {"a": 1.0}),
        "total_loss": ({"a": t}, {"b": t}, 1.0, 1.0, {"a": 1.0}, {"b": 1.0}),
        "tv_loss": (torch.rand(1, 3, 4, 4, generator=g),),
        "run_lbfgs": (lambda x: (x - 0.5).pow(2).sum(), torch.rand(1, 3, 4, 4, generator=g), 2),
    }[name]


def _unsolved(name: str, fn: Callable[..., Any]) -> bool:
    """True when ``fn`` raises NotImplementedError (the student copy's stub); other errors are reported."""
    try:
        fn(*_probe_arguments(name))
    except NotImplementedError:
        return True
    except Exception as exc:
        raise ValueError(
            f"your {name} raised {type(exc).__name__}: {exc} on a small test input. Fix it (its check in "
            f"notebook {FUNCTIONS.get(name, '03')} says more), or put the stub back "
            "(raise NotImplementedError) so that the library's version stands in."
        ) from exc
    return False


def choose_functions(**candidates: Callable[..., Any] | None) -> tuple[dict[str, Callable[..., Any]], list[str]]:
    """The functions the capstone runs on: yours where written, the library's where the stub remains.

    Args:
        candidates: ``content_loss=``, ``gram_matrix=``, ``style_layer_loss=``, ``total_loss=``,
            ``tv_loss=``, ``run_lbfgs=`` (your functions, or None) and optionally ``style_loss=``
            (notebook 03's multi-layer loss: used per layer when ``style_layer_loss`` is not solved).
            A name left out, None, or a function that raises ``NotImplementedError`` gets the library's.

    Returns:
        ({name: function} for every name of :data:`FUNCTIONS`, [names where the library's stood in]).

    Raises:
        ValueError: an unknown name, or a function that raises another error on a small input.
    """
    unknown = sorted(set(candidates) - {*FUNCTIONS, "style_loss"})
    if unknown:
        raise ValueError(f"unknown function name(s) {unknown}: choose from {', '.join([*FUNCTIONS, 'style_loss'])}")
    solved = {name: fn for name, fn in candidates.items() if fn is not None and not _unsolved(name, fn)}
    style_loss = solved.pop("style_loss", None)
    if "style_layer_loss" not in solved and style_loss is not None:

        def from_style_loss(F: Tensor, A: Tensor) -> Tensor:  # E_l = style_loss over the one layer, w_l = 1
            return style_loss({"l": F}, {"l": A}, {"l": 1.0})

        solved["style_layer_loss"] = from_style_loss
    library = library_functions()
    stood_in = [name for name in FUNCTIONS if name not in solved]
    return {name: solved.get(name, library[name]) for name in FUNCTIONS}, stood_in


@dataclass
class StudentResult:
    """What :func:`student_transfer` returns.

    Attributes:
        image: (1, 3, H, W) the image ``run_lbfgs`` returned, in [0, 1], on the CPU.
        start_loss, final_loss: L_total at the start image and at ``image``.
        terms: the raw terms at ``image`` ("content/relu4_2", "style/relu1_1", ..., "tv").
        settings: alpha, beta, the layer weights, tv_weight, init, size, steps (what was used).
    """

    image: Tensor
    start_loss: float
    final_loss: float
    terms: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)


def student_transfer(
    content: Any,
    style: Any,
    *,
    encoder: Encoder,
    alpha: float,
    beta: float,
    content_layers: Mapping[str, float] = CONTENT_LAYERS,
    style_layers: Mapping[str, float] = STYLE_LAYERS,
    tv_weight: float,
    size: int,
    steps: int,
    init: str = "content",
    seed: int = 0,
    content_loss: Callable[[Tensor, Tensor], Tensor] = content_loss,
    gram_matrix: Callable[[Tensor], Tensor] = gram_matrix,
    style_layer_loss: Callable[[Tensor, Tensor], Tensor] = style_layer_loss,
    total_loss: Callable[..., Tensor] = _total_loss,
    tv_loss: Callable[[Tensor], Tensor] = tv_loss,
    run_lbfgs: Callable[[Callable[[Tensor], Tensor], Tensor, int], Tensor] = _run_lbfgs,
) -> StudentResult:
    """Style transfer (Gatys et al. 2016) built from the given loss functions and loop.

    Args:
        content, style: images (anything :func:`nstlib.load_image` accepts). The content image is
            loaded at ``size`` (longer side), the style image at the output's longer side.
        encoder: the frozen feature extractor (e.g. ``nstlib.get_encoder(pooling="avg")``).
        alpha, beta: the weights of the content and the style term.
        content_layers: {layer: wc_l}. style_layers: {layer: w_l} (layers with weight 0 are skipped).
        tv_weight: lambda_TV (0: no total variation).
        size: output size (longer side). steps: loss evaluations, passed to ``run_lbfgs``.
        init: "content" (start from the photo) or "noise" (seeded uniform white noise, as the library's).
        seed: the white noise's seed.
        content_loss, gram_matrix, style_layer_loss, total_loss, tv_loss, run_lbfgs: the functions
            of the exercises (default: the library's; :func:`choose_functions` picks them).

    Returns:
        :class:`StudentResult`: the image, the loss at the start and at the end, the final raw terms.
    """
    if init not in ("content", "noise"):
        raise ValueError(f"init must be 'content' or 'noise', got {init!r}")
    photo = load_image(content, size=size).to(encoder.device)  # (1, 3, H, W)
    H, W = int(photo.shape[-2]), int(photo.shape[-1])
    painting = load_image(style, size=max(H, W)).to(encoder.device)
    wc = {k: float(w) for k, w in content_layers.items() if w > 0}
    ws = {k: float(w) for k, w in style_layers.items() if w > 0}
    P = content_targets(encoder, photo, list(wc))  # {layer: (1, N_l, H_l, W_l)}
    A = style_targets(encoder, painting, list(ws), output_size=(H, W), gram_fn=gram_matrix)  # {layer: (1, N_l, N_l)}
    # s_l: the content terms (and TV) sum over positions; this keeps alpha / beta meaning one thing at every size
    wc_sized = {k: w * size_factor(k, H, W) for k, w in wc.items()}
    tv_factor = tv_weight * size_factor("input", H, W)
    layers = list(dict.fromkeys([*wc, *ws]))

    def raw_terms(x: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        feats = encoder(x, layers)
        return (
            {k: content_loss(feats[k], P[k]) for k in wc},  # L_content^l
            {k: style_layer_loss(feats[k], A[k]) for k in ws},  # E_l
        )

    def objective(x: Tensor) -> Tensor:  # (1, 3, H, W) -> 0-dim L_total
        content_terms, style_terms = raw_terms(x)
        loss = total_loss(content_terms, style_terms, alpha, beta, wc_sized, ws)
        return loss + tv_factor * tv_loss(x) if tv_weight > 0 else loss

    if init == "content":
        x0 = photo.detach().clone()
    else:
        x0 = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(seed)).to(encoder.device)
    image = run_lbfgs(objective, x0, steps).detach().clamp(0.0, 1.0)
    with torch.no_grad():
        start_loss = float(objective(x0))
        final = image.to(encoder.device)
        final_loss = float(objective(final))
        content_terms, style_terms = raw_terms(final)
    terms = {f"content/{k}": float(v) for k, v in content_terms.items()}
    terms |= {f"style/{k}": float(v) for k, v in style_terms.items()}
    if tv_weight > 0:
        terms["tv"] = float(tv_loss(final))
    settings = dict(
        alpha=alpha,
        beta=beta,
        content_layers=wc,
        style_layers=ws,
        tv_weight=tv_weight,
        init=init,
        size=(H, W),
        steps=steps,
    )
    return StudentResult(image.cpu(), start_loss, final_loss, terms, settings)
