"""The experiments of the series, each one call of :func:`nstlib.synthesize`.

- :func:`transfer`: style transfer (Gatys, Ecker & Bethge, CVPR 2016), the paper's defaults.
- :func:`reconstruct_content`: feature inversion from white noise, style weight 0 (2016, Fig. 1 top).
- :func:`reconstruct_style`: style reconstruction from white noise, content weight 0 (Fig. 1 bottom).
- :func:`synthesize_texture`: texture synthesis (Gatys, Ecker & Bethge, NeurIPS 2015).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
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
    style: Image | Sequence[Image],
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
    style_scale: float = 1.0,
    style_blend: Sequence[float] | None = None,
    preserve_color: str | None = None,
    coarse_to_fine: int | None = None,
    fine_steps: int | None = None,
    mask: Image | Tensor | None = None,
) -> SynthesisResult:
    """Neural style transfer with the defaults of Gatys et al. 2016.

    Args:
        content, style: images (a path, a built-in name such as ``"chelsea"``, a PIL image, an
            array or a (1, 3, H, W) tensor in [0, 1]). ``style`` may be a list of images, blended
            with ``style_blend``.
        content_layers: {layer: weight}, a list of layers (equal weights) or one name; default
            ``{"conv4_2": 1}``.
        style_layers: default conv1_1 ... conv5_1 with w_l = 1/5.
        content_weight, style_weight: alpha and beta (paper: alpha / beta = 1e-3).
        size: output size (longer side, or (H, W)); the content image is resized to it.
        style_size: size of the style image (default: the same longer side as the output).
        steps: loss evaluations. optimizer: "lbfgs" or "adam". init: "content", "noise" or a tensor.
        pooling: "max" or "avg" (the paper's choice). weights: see :class:`VGG19Features`.

    Going further (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer"):
        style_scale: the style image's size relative to the output (0.5 = half as large: smaller
            brush strokes in the result; 2 = larger strokes).
        style_blend: weights of several style images (normalised to sum 1); the style target of
            each layer is the blend of their Gram matrices.
        preserve_color: ``"luminance"`` (transfer on luminance only, then put the content's
            chrominance back, in YIQ) or ``"histogram"`` (match the style's colour mean and
            covariance to the content's before the transfer); None keeps the style's colours.
        coarse_to_fine: optimise first with the longer side at this size (``steps`` evaluations),
            upsample, then refine at ``size`` for ``fine_steps`` evaluations (default steps // 3).
        mask: weights in [0, 1] over the output ((H, W) tensor, array, or an image file whose grey
            level is used): style statistics are matched only where the mask is 1; elsewhere only
            the content term acts.

    Returns:
        :class:`SynthesisResult`; ``result.image`` is the stylised (1, 3, H, W) image.
    """
    from .control import layer_masks, luminance, match_color, match_luminance, rgb_to_yiq, yiq_to_rgb

    if preserve_color not in (None, "luminance", "histogram"):
        raise ValueError(f"preserve_color must be None, 'luminance' or 'histogram', got {preserve_color!r}")
    if not (isinstance(style_scale, (int, float)) and 0 < style_scale <= 16):
        raise ValueError(f"style_scale = {style_scale!r}: must be a number in (0, 16], e.g. 0.5, 1 or 2")
    enc = encoder or get_encoder(weights, pooling)
    cl = _layer_weights(content_layers, GATYS_CONTENT_LAYERS)
    sl = _layer_weights(style_layers, GATYS_STYLE_LAYERS)
    content_img = load_image(content, size=size).to(enc.device)
    out_hw = (int(content_img.shape[-2]), int(content_img.shape[-1]))

    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    blend = _blend_weights(style_blend, len(styles))
    base = style_size if style_size is not None else max(out_hw)
    if isinstance(base, int):
        scaled: int | tuple[int, int] = max(1, round(base * style_scale))
    else:
        scaled = (max(1, round(base[0] * style_scale)), max(1, round(base[1] * style_scale)))
    style_imgs = [load_image(s, size=scaled).to(enc.device) for s in styles]

    target_content = content_img
    if preserve_color == "histogram":
        style_imgs = [match_color(s, content_img) for s in style_imgs]
    elif preserve_color == "luminance":
        target_content = luminance(content_img)
        style_imgs = [match_luminance(luminance(s), target_content) for s in style_imgs]

    mask_t = None
    if mask is not None:
        mask_t = mask if isinstance(mask, Tensor) else load_image(mask).mean(dim=1, keepdim=True)
        mask_t = mask_t.to(enc.device)

    def run(image: Tensor, stage_init, stage_steps: int) -> SynthesisResult:
        hw = (int(image.shape[-2]), int(image.shape[-1]))
        targets: dict[str, Tensor] = {}
        masks = layer_masks(mask_t, list(sl), *hw) if mask_t is not None and sl else None
        for b, s_img in zip(blend, style_imgs):
            for name, A in (style_targets(enc, s_img, list(sl), output_size=hw) if sl else {}).items():
                if masks is not None:  # the region's share of positions (G of masked features)
                    A = A * masks[name].pow(2).mean()
                targets[name] = targets[name] + b * A if name in targets else b * A
        return synthesize(
            enc,
            content_targets=content_targets(enc, image, list(cl)) if cl else {},
            style_targets=targets,
            content_layers=cl,
            style_layers=sl,
            content_weight=content_weight,
            style_weight=style_weight,
            tv_weight=tv_weight,
            init=stage_init,
            content_image=image,
            optimizer=optimizer,
            steps=stage_steps,
            lr=lr,
            seed=seed,
            progress=progress,
            callback=callback,
            style_masks=masks,
        )

    coarse = None
    if coarse_to_fine is not None:
        if not isinstance(coarse_to_fine, int) or not 16 <= coarse_to_fine < max(out_hw):
            raise ValueError(
                f"coarse_to_fine = {coarse_to_fine!r}: give the coarse stage's longer side in pixels, "
                f"an integer >= 16 and smaller than the output's longer side {max(out_hw)}"
            )
        small = _resize(target_content, coarse_to_fine)
        coarse = run(small, init, steps)
        start = torch.nn.functional.interpolate(coarse.image.to(enc.device), size=out_hw, mode="bicubic",
                                                align_corners=False).clamp(0, 1)
        result = run(target_content, start, fine_steps or max(1, steps // 3))
    else:
        result = run(target_content, init, steps)

    if preserve_color == "luminance":
        y = rgb_to_yiq(result.image)[:, :1]  # (1, 1, H, W) the optimised luminance
        iq = rgb_to_yiq(content_img.cpu())[:, 1:]  # (1, 2, H, W) the content's chrominance
        result.image = yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp(0.0, 1.0)
    result.info.update(
        style_sizes=[tuple(s.shape[-2:]) for s in style_imgs], style_blend=blend, preserve_color=preserve_color,
    )
    if coarse is not None:
        result.info["coarse_result"] = coarse
        result.info["seconds_total"] = coarse.seconds + result.seconds
    return result


def _blend_weights(blend: Sequence[float] | None, n: int) -> list[float]:
    if blend is None:
        return [1.0 / n] * n
    blend = [float(b) for b in blend]
    if len(blend) != n:
        raise ValueError(f"style_blend has {len(blend)} weights for {n} style images; give one weight per style")
    if any(not math.isfinite(b) or b < 0 for b in blend) or sum(blend) <= 0:
        raise ValueError(f"style_blend = {blend}: weights must be finite, >= 0 and not all 0")
    return [b / sum(blend) for b in blend]


def _resize(img: Tensor, longer: int) -> Tensor:
    h, w = img.shape[-2:]
    scale = longer / max(h, w)
    hw = (max(1, round(h * scale)), max(1, round(w * scale)))
    return torch.nn.functional.interpolate(img, size=hw, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


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

