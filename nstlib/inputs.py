"""What goes into :func:`nstlib.synthesize`, checked, and the image a run starts from.

Gatys, Ecker & Bethge (CVPR 2016) start every synthesis from white noise; :func:`initial_image` also
offers the photo itself and a quiet start (the same noise turned down around mid-grey). Every bad
argument gets a ValueError that names the problem and the fix (:func:`check_synthesis`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from .io import check_image

__all__ = ["Checked", "check_synthesis", "check_strength", "initial_image", "QUIET"]

#: amplitude of init="quiet": the white noise scaled by 0.1 around mid-grey
QUIET = 0.1


@dataclass
class Checked:
    """:func:`nstlib.synthesize`'s weights and targets after :func:`check_synthesis`: floats, one
    weight per target (0 for a target without one)."""

    content_targets: dict[str, Tensor]  # {layer: P^l (1, N_l, H_l, W_l)}
    style_targets: dict[str, Tensor]  # {layer: A^l (1, N_l, N_l)}
    content_layers: dict[str, float]  # {layer: wc_l}
    style_layers: dict[str, float]  # {layer: w_l}
    content_weight: float  # alpha
    style_weight: float  # beta (1 when a strength sets it later)
    strength: float | None
    tv_weight: float


def check_weights(name: str, weights: Mapping[str, float]) -> dict[str, float]:
    """{layer: float(w)}, each finite and >= 0."""
    out = {}
    for layer, w in weights.items():
        w = float(w)
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"{name}[{layer!r}] = {w}: layer weights must be finite and >= 0")
        out[layer] = w
    return out


def check_scalar(name: str, value: float) -> float:
    """``float(value)``, finite and >= 0."""
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} = {value}: must be a finite number >= 0")
    return value


def check_strength(value: object) -> float:
    """A style strength: a finite number > 0."""
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


def check_synthesis(
    encoder,
    *,
    content_targets: Mapping[str, Tensor] | None,
    style_targets: Mapping[str, Tensor] | None,
    content_layers: Mapping[str, float] | None,
    style_layers: Mapping[str, float] | None,
    content_weight: float,
    style_weight: float | None,
    strength: float | None,
    tv_weight: float,
    steps: int,
    optimizer: str,
    line_search: str | None,
    balance_at: str,
) -> Checked:
    """Check :func:`nstlib.synthesize`'s arguments (same names) and return the weights it will use."""
    content = dict(content_targets or {})
    style = dict(style_targets or {})
    content_weight = check_scalar("content_weight", content_weight)
    tv_weight = check_scalar("tv_weight", tv_weight)
    if strength is not None:
        strength = check_strength(strength)
        if style_weight is not None:
            raise ValueError(
                "give either strength= (beta set from the gradients) or style_weight= (beta itself), not both"
            )
        if not content or not style or content_weight == 0:
            raise ValueError(
                "strength= balances content against style: it needs content and style targets and "
                "content_weight > 0; for style or content alone give style_weight= instead"
            )
    style_weight = check_scalar("style_weight", 1.0 if style_weight is None else style_weight)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps = {steps!r}: the number of loss evaluations must be an integer >= 1")
    if optimizer not in ("lbfgs", "adam"):
        raise ValueError(f"unknown optimizer {optimizer!r}: use 'lbfgs' (Gatys et al.) or 'adam'")
    if line_search not in (None, "strong_wolfe"):
        raise ValueError(f"line_search must be None or 'strong_wolfe', got {line_search!r}")
    if balance_at not in ("noise", "start"):
        raise ValueError(f"balance_at must be 'noise' or 'start', got {balance_at!r}")
    cw = check_weights("content_layers", content_layers or {k: 1.0 for k in content})
    sw = check_weights("style_layers", style_layers or {k: 1.0 / len(style) for k in style})
    for name, weights, targets in (("content", cw, content), ("style", sw, style)):
        encoder.check_layers(list(targets))
        missing = set(weights) - set(targets)
        if missing:
            raise ValueError(f"{name} layer weights given for {sorted(missing)} but no {name} target there")
        for layer in targets:
            weights.setdefault(layer, 0.0)
    if not content and not style and tv_weight == 0:
        raise ValueError("nothing to optimise: give content_targets, style_targets or a tv_weight > 0")
    return Checked(content, style, cw, sw, content_weight, style_weight, strength, tv_weight)


def initial_image(init: str | Tensor, content_image: Tensor | None, size: tuple[int, int] | None, seed: int) -> Tensor:
    """The (1, 3, H, W) image a run starts from: ``"content"`` (the photo), ``"noise"`` (seeded uniform
    white noise, Gatys et al.), ``"quiet"`` (the same noise as 0.5 +- :data:`QUIET` / 2) or a tensor.

    >>> q = initial_image("quiet", None, (4, 4), seed=0)
    >>> bool(((q - 0.5).abs() <= QUIET / 2).all())
    True
    """
    if isinstance(init, Tensor):
        return check_image(init, "init").detach().clone().float()
    if init == "content":
        if content_image is None:
            raise ValueError("init='content' needs a content image; pass content_image= or use init='noise'")
        return content_image.detach().clone().float()
    if init in ("noise", "quiet"):
        if size is None:
            if content_image is None:
                raise ValueError(f"init={init!r} needs the output size: pass size=(H, W) or a content image")
            size = (content_image.shape[-2], content_image.shape[-1])
        gen = torch.Generator().manual_seed(seed)
        noise = torch.rand(1, 3, *size, generator=gen)  # (1, 3, H, W) in [0, 1)
        return noise if init == "noise" else 0.5 + QUIET * (noise - 0.5)  # the same noise, turned down
    raise ValueError(f"unknown init {init!r}: use 'content', 'noise', 'quiet' or a (1, 3, H, W) tensor in [0, 1]")
