"""Every choice of an experiment, resolved in one place before anything is computed.

- :data:`AUTO` and :func:`auto_settings`: the ``"auto"`` settings of the reconstructions and of
  texture synthesis (start, line search, layer balance, texture model), which depend on whether the
  network is trained or random;
- :class:`TransferRecipe` and :func:`transfer_recipe`: a transfer's settings, every one left at None
  taken from its preset (:mod:`nstlib.defaults`; Gatys, Ecker & Bethge, CVPR 2016);
- :class:`Controls`: the perceptual controls of Gatys, Ecker, Bethge, Hertzmann & Shechtman,
  "Controlling Perceptual Factors in Neural Style Transfer", CVPR 2017 (colour, scale, blending,
  coarse-to-fine, a mask).

``result.info`` reports what was resolved (:meth:`TransferRecipe.info`, :meth:`Controls.info` and
the values :func:`auto_settings` returned). ``pooling="auto"`` is resolved by
:func:`nstlib.encoders.get_encoder`, where the network is built: average pooling for every
experiment (the paper's choice for synthesis), with random weights also the leaky random filters.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .control import luminance, match_color, match_luminance, rgb_to_yiq, yiq_to_rgb
from .defaults import Preset
from .defaults import preset as get_preset
from .io import load_image

__all__ = ["AUTO", "auto_settings", "TransferRecipe", "transfer_recipe", "Controls", "layer_weights"]

Image = Any  # anything load_image accepts: path, built-in name, PIL image, array, tensor

#: What the "auto" settings of the experiments mean, for a trained and for a random network: the one
#: place they are resolved (:func:`auto_settings`; each result's ``info`` records what was used). The
#: trained column is Gatys et al.'s recipe with the start and step measured on a trained VGG-16
#: (``benchmarks/bench_trained.py``, ``docs/trained.md``); the random column is ``docs/offline.md``'s.
#: ``texture_model`` applies when no VGG layers were asked for (asking for them keeps VGG).
AUTO: dict[str, dict[str, dict[str, Any]]] = {
    "content": {
        "trained": dict(init="quiet", line_search="strong_wolfe"),
        "random": dict(init="quiet", line_search=None),
    },
    "style": {
        "trained": dict(init="quiet", line_search="strong_wolfe", layer_balance=True),
        "random": dict(init="quiet", line_search="strong_wolfe", layer_balance=True),
    },
    "texture": {
        "trained": dict(init="quiet", line_search="strong_wolfe", layer_balance=True, texture_model="vgg"),
        "random": dict(init="noise", line_search=None, layer_balance=False, texture_model="multiscale"),
    },
}


def auto_settings(task: str, encoder: Any, **given: Any) -> dict[str, Any]:
    """``given`` with every ``"auto"`` (or None for ``layer_balance``) replaced by :data:`AUTO`'s
    value for ``task`` and the encoder's weights (``encoder.is_random``).

    >>> from nstlib.encoders import get_encoder
    >>> auto_settings("content", get_encoder("random", pooling="auto"), init="auto", line_search="auto")
    {'init': 'quiet', 'line_search': None}
    """
    table = AUTO[task]["random" if getattr(encoder, "is_random", False) else "trained"]
    out = {}
    for key, value in given.items():
        auto = value == "auto" or (key == "layer_balance" and value is None)
        out[key] = table[key] if auto else value
    return out


def layer_weights(
    layers: Mapping[str, float] | Sequence[str] | str | None, default: Mapping[str, float]
) -> dict[str, float]:
    """{name: weight} from a dict, a list of names (equal weights summing to 1) or one name.

    >>> layer_weights(["relu1_1", "relu2_1"], {}), layer_weights("relu4_2", {}), layer_weights(None, {"a": 1.0})
    ({'relu1_1': 0.5, 'relu2_1': 0.5}, {'relu4_2': 1.0}, {'a': 1.0})
    """
    if layers is None:
        return dict(default)
    if isinstance(layers, str):
        return {layers: 1.0}
    if isinstance(layers, Mapping):
        return dict(layers)
    layers = list(layers)
    if not layers:
        return {}
    return {name: 1.0 / len(layers) for name in layers}


@dataclass
class TransferRecipe:
    """A transfer's settings, each one given or taken from the preset (:func:`transfer_recipe`)."""

    preset: str
    size: int  # the preset's output size (longer side) for files and built-in names
    content_layers: dict[str, float]  # {layer: wc_l}
    style_layers: dict[str, float]  # {layer: w_l}
    content_weight: float  # alpha
    style_weight: float | None  # beta, or None: set from the strength
    strength: float | None
    layer_balance: bool
    tv_weight: float
    pooling: str
    init: str | Tensor
    steps: int
    optimizer: str
    line_search: str | None
    balance_at: str

    def weights(self) -> dict[str, Any]:
        """The loss weights and the optimiser settings, as :func:`nstlib.synthesize` takes them."""
        return dict(
            content_layers=self.content_layers,
            style_layers=self.style_layers,
            content_weight=self.content_weight,
            style_weight=self.style_weight,
            strength=self.strength,
            layer_balance=self.layer_balance,
            tv_weight=self.tv_weight,
            optimizer=self.optimizer,
            line_search=self.line_search,
            balance_at=self.balance_at,
        )

    def info(self) -> dict[str, Any]:
        """What ``result.info`` reports of the recipe (the loss weights are reported by the objective)."""
        return dict(
            preset=self.preset,
            pooling=self.pooling,
            line_search=self.line_search,
            layer_balance=self.layer_balance,
            init=self.init if isinstance(self.init, str) else "tensor",
            steps=self.steps,
        )


def transfer_recipe(
    preset: str | Preset = "default",
    *,
    strength: float | None = None,
    content_layers: Mapping[str, float] | Sequence[str] | str | None = None,
    style_layers: Mapping[str, float] | Sequence[str] | None = None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    layer_balance: bool | None = None,
    tv_weight: float | None = None,
    steps: int | None = None,
    optimizer: str | None = None,
    init: str | Tensor | None = None,
    pooling: str | None = None,
    line_search: str | None = None,
    balance_at: str | None = None,
) -> TransferRecipe:
    """Fill every setting left at None from ``preset`` (arguments as in :func:`nstlib.transfer`).

    An explicit ``style_weight`` replaces the preset's ``strength``; a strength with nothing to
    balance (no content or style layer, or ``content_weight=0``) becomes beta = 1.

    >>> r = transfer_recipe("paper", steps=10)
    >>> (r.pooling, r.init, r.strength, r.style_weight, r.steps)
    ('avg', 'noise', None, 1000.0, 10)
    """
    p = get_preset(preset)
    optimizer = optimizer or p.optimizer
    if line_search is None and optimizer == "lbfgs":
        line_search = p.line_search
    if style_weight is None and strength is None:
        style_weight, strength = p.style_weight, p.strength
    cl = layer_weights(content_layers, p.content_layers)
    sl = layer_weights(style_layers, p.style_layers)
    content_weight = p.content_weight if content_weight is None else content_weight
    if strength is not None and (not cl or not sl or content_weight == 0):
        strength, style_weight = None, 1.0 if style_weight is None else style_weight  # nothing to balance
    return TransferRecipe(
        preset=p.name,
        size=p.size,
        content_layers=cl,
        style_layers=sl,
        content_weight=content_weight,
        style_weight=style_weight,
        strength=strength,
        layer_balance=p.layer_balance if layer_balance is None else layer_balance,
        tv_weight=p.tv_weight if tv_weight is None else tv_weight,
        pooling=pooling or p.pooling,
        init=p.init if init is None else init,
        steps=p.steps if steps is None else steps,
        optimizer=optimizer,
        line_search=None if line_search == "none" else line_search,
        balance_at=p.balance_at if balance_at is None else balance_at,
    )


@dataclass(frozen=True)
class Controls:
    """Gatys et al. 2017's controls of a transfer (arguments of :func:`nstlib.transfer`, checked here).

    Attributes:
        style_scale: the style image's size relative to the output (0.5: smaller brush strokes).
        style_blend: weights of several style images (normalised to sum 1 by :meth:`blend`).
        preserve_color: None, ``"luminance"`` (transfer the luminance, keep the photo's YIQ
            chrominance) or ``"histogram"`` (the style's colour mean and covariance matched to the photo's).
        coarse_to_fine: the coarse stage's longer side in px (then ``fine_steps`` at the full size).
        fine_steps: evaluations of the fine stage (default: a third of ``steps``).
        mask: weights in [0, 1] over the output ((H, W) tensor, array or an image whose grey level counts).
    """

    style_scale: float = 1.0
    style_blend: Sequence[float] | None = None
    preserve_color: str | None = None
    coarse_to_fine: int | None = None
    fine_steps: int | None = None
    mask: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.preserve_color not in (None, "luminance", "histogram"):
            raise ValueError(f"preserve_color must be None, 'luminance' or 'histogram', got {self.preserve_color!r}")
        if not (isinstance(self.style_scale, (int, float)) and 0 < self.style_scale <= 16):
            raise ValueError(f"style_scale = {self.style_scale!r}: must be a number in (0, 16], e.g. 0.5, 1 or 2")

    def blend(self, n: int) -> list[float]:
        """The weights of ``n`` style images, summing to 1 (equal when no ``style_blend`` was given)."""
        if self.style_blend is None:
            return [1.0 / n] * n
        blend = [float(b) for b in self.style_blend]
        if len(blend) != n:
            raise ValueError(f"style_blend has {len(blend)} weights for {n} style images; give one weight per style")
        if any(not math.isfinite(b) or b < 0 for b in blend) or sum(blend) <= 0:
            raise ValueError(f"style_blend = {blend}: weights must be finite, >= 0 and not all 0")
        return [b / sum(blend) for b in blend]

    def style_size(self, base: int | tuple[int, int]) -> int | tuple[int, int]:
        """The size to load the style images at: ``base`` (longer side or (H, W)) times ``style_scale``."""
        if isinstance(base, int):
            return max(1, round(base * self.style_scale))
        return (max(1, round(base[0] * self.style_scale)), max(1, round(base[1] * self.style_scale)))

    def recolour(self, content: Tensor, styles: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """The image to keep the content of and the style images, after colour preservation."""
        if self.preserve_color == "histogram":
            return content, [match_color(s, content) for s in styles]
        if self.preserve_color == "luminance":
            y = luminance(content)  # (1, 1, H, W)
            return y, [match_luminance(luminance(s), y) for s in styles]
        return content, styles

    def mask_tensor(self, device: torch.device) -> Tensor | None:
        """The mask as a (H, W) or (1, 1, H, W) tensor on ``device`` (an image: its grey level), or None."""
        if self.mask is None:
            return None
        m = self.mask if isinstance(self.mask, Tensor) else load_image(self.mask).mean(dim=1, keepdim=True)
        return m.to(device)

    def coarse_size(self, out_hw: tuple[int, int]) -> int | None:
        """The coarse stage's longer side (None: one stage), checked against the output's size."""
        c = self.coarse_to_fine
        if c is not None and (not isinstance(c, int) or not 16 <= c < max(out_hw)):
            raise ValueError(
                f"coarse_to_fine = {c!r}: give the coarse stage's longer side in pixels, "
                f"an integer >= 16 and smaller than the output's longer side {max(out_hw)}"
            )
        return c

    def restore_colour(self, image: Tensor, content: Tensor) -> Tensor:
        """With ``preserve_color="luminance"``: the optimised luminance with the photo's chrominance."""
        if self.preserve_color != "luminance":
            return image
        y = rgb_to_yiq(image)[:, :1]  # (1, 1, H, W) the optimised luminance
        iq = rgb_to_yiq(content.cpu())[:, 1:]  # (1, 2, H, W) the content's chrominance
        return yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp(0.0, 1.0)

    def info(self, styles: list[Tensor], blend: list[float]) -> dict[str, Any]:
        """What ``result.info`` reports of the controls."""
        return dict(
            style_sizes=[tuple(s.shape[-2:]) for s in styles], style_blend=blend, preserve_color=self.preserve_color
        )


def load_content(source: Image, size: int | tuple[int, int] | None, default: int) -> Tensor:
    """Load an image for a transfer: at ``size`` if given; else tensors, arrays and PIL images keep
    their size, and files or built-in names larger than ``default`` (longer side) are shrunk to it."""
    if size is not None:
        return load_image(source, size=size)
    img = load_image(source)
    if isinstance(source, (str, os.PathLike)) and max(img.shape[-2:]) > default:
        img = load_image(source, size=default)
    return img


def resize(img: Tensor, longer: int) -> Tensor:
    """(1, C, H, W) resized (antialiased) so that its longer side is ``longer`` px, in [0, 1]."""
    h, w = img.shape[-2:]
    scale = longer / max(h, w)
    hw = (max(1, round(h * scale)), max(1, round(w * scale)))
    out = torch.nn.functional.interpolate(img, size=hw, mode="bilinear", antialias=True, align_corners=False)
    return out.clamp(0, 1)


def upsample(img: Tensor, hw: tuple[int, int]) -> Tensor:
    """(1, C, h, w) -> (1, C, H, W) bicubic, clamped to [0, 1] (the coarse stage's result as the fine start)."""
    out = torch.nn.functional.interpolate(img, size=hw, mode="bicubic", align_corners=False)
    return out.clamp(0, 1)
