"""The experiments of the series, each one call of :func:`nstlib.synthesize`.

- :func:`transfer`: style transfer (Gatys, Ecker & Bethge, CVPR 2016), the paper's defaults.
- :func:`reconstruct_content`: feature inversion from white noise, style weight 0 (2016, Fig. 1 top).
- :func:`reconstruct_style`: style reconstruction from white noise, content weight 0 (Fig. 1 bottom).
- :func:`synthesize_texture`: texture synthesis (Gatys, Ecker & Bethge, NeurIPS 2015).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from .image import load_image
from .optim import SynthesisResult, content_targets, style_targets, synthesize
from .vgg import VGG19Features, _resolve_weights

__all__ = [
    "transfer",
    "reconstruct_content",
    "reconstruct_style",
    "synthesize_texture",
    "get_encoder",
    "GATYS_CONTENT_LAYERS",
    "GATYS_STYLE_LAYERS",
    "TEXTURE_LAYERS",
]

#: Gatys et al. 2016: content at conv4_2; style at conv1_1 ... conv5_1 with w_l = 1/5.
GATYS_CONTENT_LAYERS: dict[str, float] = {"conv4_2": 1.0}
GATYS_STYLE_LAYERS: dict[str, float] = {f"conv{i}_1": 1 / 5 for i in range(1, 6)}
#: Gatys et al. 2015 (texture synthesis): conv1_1 and pool1 ... pool4.
TEXTURE_LAYERS: tuple[str, ...] = ("conv1_1", "pool1", "pool2", "pool3", "pool4")

Image = Any  # anything load_image accepts: path, built-in name, PIL image, array, tensor


@functools.lru_cache(maxsize=4)
def _cached_encoder(weights: str, pooling: str, precision: str, device: str | None) -> VGG19Features:
    return VGG19Features(weights=weights, pooling=pooling, precision=precision, device=device)


def get_encoder(
    weights: str | os.PathLike = "auto", pooling: str = "max", precision: str = "auto", device: str | None = None
) -> VGG19Features:
    """A shared :class:`VGG19Features` (built once per settings; notebooks call this repeatedly)."""
    resolved = _resolve_weights(weights)
    return _cached_encoder(str(resolved), pooling, precision, device)


def _layer_weights(layers: Mapping[str, float] | Sequence[str] | str | None, default: Mapping[str, float]) -> dict[str, float]:
    """{name: weight} from a dict, a list of names (equal weights summing to 1) or one name."""
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


def transfer(
    content: Image,
    style: Image,
    *,
    content_layers: Mapping[str, float] | Sequence[str] | str | None = None,
    style_layers: Mapping[str, float] | Sequence[str] | None = None,
    content_weight: float = 1.0,
    style_weight: float = 1e3,
    tv_weight: float = 0.0,
    size: int | tuple[int, int] | None = 256,
    style_size: int | tuple[int, int] | None = None,
    steps: int = 300,
    optimizer: str = "lbfgs",
    init: str | Tensor = "content",
    pooling: str = "max",
    weights: str | os.PathLike = "auto",
    encoder: VGG19Features | None = None,
    lr: float | None = None,
    seed: int = 0,
    progress: bool = True,
    callback=None,
) -> SynthesisResult:
    """Neural style transfer with the defaults of Gatys et al. 2016.

    Args:
        content, style: images (a path, a built-in name such as ``"chelsea"``, a PIL image, an
            array or a (1, 3, H, W) tensor in [0, 1]).
        content_layers: {layer: weight}, a list of layers (equal weights) or one name; default
            ``{"conv4_2": 1}``.
        style_layers: default conv1_1 ... conv5_1 with w_l = 1/5.
        content_weight, style_weight: alpha and beta (paper: alpha / beta = 1e-3).
        size: output size (longer side, or (H, W)); the content image is resized to it.
        style_size: size of the style image (default: the same longer side as the output).
        steps: loss evaluations. optimizer: "lbfgs" or "adam". init: "content", "noise" or a tensor.
        pooling: "max" or "avg" (the paper's choice). weights: see :class:`VGG19Features`.

    Returns:
        :class:`SynthesisResult`; ``result.image`` is the stylised (1, 3, H, W) image.
    """
    enc = encoder or get_encoder(weights, pooling)
    cl = _layer_weights(content_layers, GATYS_CONTENT_LAYERS)
    sl = _layer_weights(style_layers, GATYS_STYLE_LAYERS)
    content_img = load_image(content, size=size).to(enc.device)
    style_img = load_image(style, size=style_size if style_size is not None else max(content_img.shape[-2:]))
    style_img = style_img.to(enc.device)
    out_hw = tuple(content_img.shape[-2:])
    return synthesize(
        enc,
        content_targets=content_targets(enc, content_img, list(cl)) if cl else {},
        style_targets=style_targets(enc, style_img, list(sl), output_size=out_hw) if sl else {},
        content_layers=cl,
        style_layers=sl,
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
        init=init,
        content_image=content_img,
        optimizer=optimizer,
        steps=steps,
        lr=lr,
        seed=seed,
        progress=progress,
        callback=callback,
    )


def reconstruct_content(
    image: Image,
    layer: str = "conv4_2",
    *,
    size: int | tuple[int, int] | None = 256,
    steps: int = 300,
    optimizer: str = "lbfgs",
    weights: str | os.PathLike = "auto",
    pooling: str = "max",
    encoder: VGG19Features | None = None,
    seed: int = 0,
    progress: bool = True,
    callback=None,
) -> SynthesisResult:
    """Invert one layer's content representation: from white noise, match P^l only (style weight 0)."""
    enc = encoder or get_encoder(weights, pooling)
    img = load_image(image, size=size).to(enc.device)
    return synthesize(
        enc, content_targets=content_targets(enc, img, [layer]), content_layers={layer: 1.0},
        style_weight=0.0, init="noise", size=tuple(img.shape[-2:]), optimizer=optimizer, steps=steps,
        seed=seed, progress=progress, callback=callback,
    )


def reconstruct_style(
    image: Image,
    layers: Mapping[str, float] | Sequence[str] = tuple(GATYS_STYLE_LAYERS),
    *,
    size: int | tuple[int, int] | None = 256,
    steps: int = 300,
    optimizer: str = "lbfgs",
    weights: str | os.PathLike = "auto",
    pooling: str = "max",
    encoder: VGG19Features | None = None,
    seed: int = 0,
    progress: bool = True,
    callback=None,
) -> SynthesisResult:
    """Reconstruct an image's style from white noise: match Gram matrices only (content weight 0)."""
    enc = encoder or get_encoder(weights, pooling)
    img = load_image(image, size=size).to(enc.device)
    sl = _layer_weights(layers, {})
    return synthesize(
        enc, style_targets=style_targets(enc, img, list(sl)), style_layers=sl, content_weight=0.0,
        style_weight=1.0, init="noise", size=tuple(img.shape[-2:]), optimizer=optimizer, steps=steps,
        seed=seed, progress=progress, callback=callback,
    )


def synthesize_texture(
    image: Image,
    layers: Mapping[str, float] | Sequence[str] = TEXTURE_LAYERS,
    size: int | tuple[int, int] | None = 256,
    *,
    source_size: int | tuple[int, int] | None = None,
    steps: int = 300,
    optimizer: str = "lbfgs",
    weights: str | os.PathLike = "auto",
    pooling: str = "max",
    encoder: VGG19Features | None = None,
    seed: int = 0,
    progress: bool = True,
    callback=None,
) -> SynthesisResult:
    """Texture synthesis (Gatys et al. 2015): a new image of ``size`` whose Gram matrices match ``image``'s.

    ``size`` is the output's size (longer side or (H, W)); ``source_size`` resizes the source
    texture first (default: same longer side as the output).
    """
    enc = encoder or get_encoder(weights, pooling)
    if size is None:
        src = load_image(image, size=source_size).to(enc.device)
        out_hw = (int(src.shape[-2]), int(src.shape[-1]))
    else:
        out_hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        src = load_image(image, size=source_size or max(out_hw)).to(enc.device)
    sl = _layer_weights(layers, {})
    return synthesize(
        enc, style_targets=style_targets(enc, src, list(sl), output_size=out_hw), style_layers=sl,
        content_weight=0.0, style_weight=1.0, init="noise", size=out_hw, optimizer=optimizer, steps=steps,
        seed=seed, progress=progress, callback=callback,
    )

