"""The objective of neural style transfer as a function of the image (Gatys, Ecker & Bethge, CVPR 2016).

    L_total(x) = alpha * sum_l wc_l s_l L_content^l(x) + beta * sum_l w_l E_l(x) (+ tv_weight * s * TV(x))

- :func:`content_targets` / :func:`style_targets`: P^l and A^l, computed once without gradients;
- :class:`Objective`: the weighted terms, ``objective(x) -> (total, terms)``; :func:`make_objective`
  builds it, with the paper's weights or with the strength balance;
- :func:`size_factor`: s_l, which keeps alpha / beta meaning what they mean at 512 px;
- :func:`balance` and :func:`balance_layers`: beta and w_l from how hard each term pulls on the
  image at white noise (He, Wang & Hopcroft, NeurIPS 2016);
- :class:`Encoder`: what the objective needs of a feature extractor.

The loop that minimises it is :func:`nstlib.synthesis.run_loop`; :func:`nstlib.synthesis.synthesize`
puts the two together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

from . import speed
from .losses import content_loss, style_layer_loss, tv_loss
from .vgg import LAYER_NAMES, layer_shape

__all__ = [
    "Encoder",
    "Objective",
    "make_objective",
    "balance",
    "balance_layers",
    "size_factor",
    "REFERENCE_SIZE",
    "content_targets",
    "style_targets",
]

LossFn = Callable[[Tensor, Tensor], Tensor]


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


def _grad_norms(
    objective: Objective, x_ref: Tensor, groups: dict[str, list[str]], weighted: bool = True
) -> dict[str, float]:
    """||d(sum of the group's (weighted) terms)/dx|| at ``x_ref`` for each group of term names."""
    x = x_ref.detach().clone().requires_grad_(True)
    terms = objective.terms(x)
    out = {}
    names = [g for g in groups if any(k in terms for k in groups[g])]
    for i, g in enumerate(names):
        parts = [(objective.weights[k] if weighted else 1.0) * terms[k] for k in groups[g] if k in terms]
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
    # ||grad E_l||, unweighted: measured without beta, so that the same w_l come out for every beta (an
    # explicit style_weight then reproduces a strength's transfer instead of one rounded differently)
    raw = _grad_norms(objective, x_ref, {k: [k] for k in style_keys}, weighted=False)
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


def balance(
    objective: Objective, x_ref: Tensor, strength: float, beta: float = 1.0, x_style: Tensor | None = None
) -> float:
    """beta from how hard the content and the style terms pull on the image (He, Wang & Hopcroft 2016).

    At the reference image ``x_ref`` (white noise of the output's size: both terms pull there), the
    gradient of the weighted content loss alpha sum wc_l s_l L_content^l and that of the style loss
    sum w_l E_l (with the weights in ``objective.weights``, which hold ``beta`` * w_l) are measured;
    beta is rescaled so that the style gradient is ``strength`` times the content gradient in norm::

        beta = strength * ||grad_x content|| / ||grad_x sum_l w_l E_l||

    Strength 1 is the balance; larger values give more style. Because both gradients are measured
    on the network in use, beta adapts to the weights' scale and to the image size. With
    ``x_style`` (the image the run starts from) the style gradient is measured there instead: where
    it really acts first; the content gradient stays measured at ``x_ref`` (at the photo it is 0).
    Sets ``objective.weights`` to use it and returns beta.
    """
    style_keys = [k for k, w in objective.weights.items() if k.startswith("style/") and w > 0]
    content_keys = [k for k, w in objective.weights.items() if k.startswith("content/") and w > 0]
    norms = _grad_norms(objective, x_ref, {"content": content_keys, "style": style_keys})
    if x_style is not None:
        norms["style"] = _grad_norms(objective, x_style, {"style": style_keys}).get("style", 0.0)
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


def _check_content_layers(encoder: Encoder, layers: Sequence[str]) -> None:
    """Content terms live on VGG layers: their :func:`size_factor` follows VGG's poolings."""
    other = sorted({k for k in layers if k not in LAYER_NAMES})
    if other:
        model = type(encoder).__name__
        why = " (the multi-scale texture model only matches textures)" if model == "MultiScaleTextures" else ""
        raise ValueError(
            f"content term on layer(s) {other} of {model}{why}: a content term and its size factor need a "
            "VGG layer such as 'relu4_2'. Leave out the content term (no content_targets / content_layers; "
            "textures: nstlib.synthesize_texture), or use a VGG encoder (nstlib.get_encoder()) for content."
        )


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
    start: Tensor | None = None,
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
    _check_content_layers(encoder, [*content_targets, *cw])
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
        at = ref if start is None else start.to(device)  # where the style pulls are measured
        if layer_balance:
            sw = balance_layers(objective, at, style_weight)
        if strength is not None:
            beta = balance(objective, ref, strength, style_weight, x_style=None if start is None else at)
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
