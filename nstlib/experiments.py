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

from .defaults import CONTENT_LAYERS, STYLE_LAYERS, TEXTURE_LAYERS, Preset
from .defaults import preset as get_preset
from .io import load_image
from .multiscale import MultiScaleTextures
from .synthesis import SynthesisResult, content_targets, style_targets, synthesize
from .vgg import VGG19Features
from .weights import RECONSTRUCTION_LEAK, resolve_weights

__all__ = [
    "transfer",
    "reconstruct_content",
    "reconstruct_style",
    "synthesize_texture",
    "get_encoder",
    "get_texture_model",
    "AUTO",
    "auto_settings",
    "GATYS_CONTENT_LAYERS",
    "GATYS_STYLE_LAYERS",
    "TEXTURE_LAYERS",
]

#: Gatys et al. 2016 (rectified maps, as in the authors' code): content relu4_2; style relu1_1 ... relu5_1.
GATYS_CONTENT_LAYERS: dict[str, float] = CONTENT_LAYERS
GATYS_STYLE_LAYERS: dict[str, float] = STYLE_LAYERS

Image = Any  # anything load_image accepts: path, built-in name, PIL image, array, tensor


@functools.lru_cache(maxsize=4)
def _cached_encoder(weights: str, pooling: str, precision: str, device: str | None, leak: float = 0.0) -> VGG19Features:
    return VGG19Features(weights=weights, pooling=pooling, precision=precision, device=device, leak=leak)


def get_encoder(
    weights: str | os.PathLike = "auto", pooling: str = "max", precision: str = "auto", device: str | None = None
) -> VGG19Features:
    """A shared :class:`VGG19Features` (built once per settings; notebooks call this repeatedly).

    ``pooling="auto"`` (what the reconstructions and textures use): average pooling, as Gatys et
    al. (2015, 2016) use for all image synthesis; with random weights also the random filters with
    a leak (:data:`nstlib.weights.RECONSTRUCTION_LEAK`, see :func:`nstlib.weights.init_random_`),
    which keep deep layers invertible (measurements: ``docs/offline.md``).
    """
    resolved = resolve_weights(weights)
    if pooling == "auto":  # "random" is known to be random; "auto" only once the download was tried
        enc = None if resolved == "random" else _cached_encoder(str(resolved), "avg", precision, device)
        if enc is None or enc.is_random:
            return _cached_encoder(str(resolved), "avg", precision, device, RECONSTRUCTION_LEAK)
        return enc
    return _cached_encoder(str(resolved), pooling, precision, device)


#: What the "auto" settings of the experiments mean, for a trained and for a random network: the one
#: place they are resolved (:func:`auto_settings`; each result's ``info`` records what was used). The
#: trained column is Gatys et al.'s recipe with the start and step measured on a trained VGG-16
#: (``benchmarks/bench_trained.py``, ``docs/trained.md``); the random column is ``docs/offline.md``'s.
AUTO: dict[str, dict[str, dict[str, Any]]] = {
    "content": {
        "trained": dict(init="quiet", line_search="strong_wolfe"),
        "random": dict(init="quiet", line_search=None),
    },
    "style": {
        "trained": dict(init="quiet", line_search="strong_wolfe", layer_balance=False),
        "random": dict(init="quiet", line_search="strong_wolfe", layer_balance=True),
    },
    "texture": {
        "trained": dict(init="quiet", line_search="strong_wolfe"),
        "random": dict(init="noise", line_search=None),
    },
}


def auto_settings(task: str, encoder: Any, **given: Any) -> dict[str, Any]:
    """``given`` with every ``"auto"`` (or None for ``layer_balance``) replaced by :data:`AUTO`'s
    value for ``task`` and the encoder's weights (``encoder.is_random``).

    >>> auto_settings("content", get_encoder("random", pooling="auto"), init="auto", line_search="auto")
    {'init': 'quiet', 'line_search': None}
    """
    table = AUTO[task]["random" if getattr(encoder, "is_random", False) else "trained"]
    out = {}
    for key, value in given.items():
        auto = value == "auto" or (key == "layer_balance" and value is None)
        out[key] = table[key] if auto else value
    return out


@functools.lru_cache(maxsize=2)
def get_texture_model(device: str | None = None) -> MultiScaleTextures:
    """A shared :class:`nstlib.multiscale.MultiScaleTextures` (the offline texture model)."""
    return MultiScaleTextures(device=device)


_TEXTURE_NOTE_SHOWN = False


def _texture_note() -> None:
    global _TEXTURE_NOTE_SHOWN
    if not _TEXTURE_NOTE_SHOWN:
        _TEXTURE_NOTE_SHOWN = True
        print(
            "nstlib: the VGG-19 weights are random, and a random VGG-19 synthesises only rough textures; "
            "textures use the random multi-scale filter model instead (one layer of filters of 3-55 px, "
            "Ustyuzhaninov et al. 2017). With the trained network they use VGG-19 (model='vgg' forces it)."
        )


def _load(source: Image, size: int | tuple[int, int] | None, default: int) -> Tensor:
    """Load an image for a transfer: at ``size`` if given; else tensors, arrays and PIL images keep
    their size, and files or built-in names larger than ``default`` (longer side) are shrunk to it."""
    if size is not None:
        return load_image(source, size=size)
    img = load_image(source)
    if isinstance(source, (str, os.PathLike)) and max(img.shape[-2:]) > default:
        img = load_image(source, size=default)
    return img


def _layer_weights(
    layers: Mapping[str, float] | Sequence[str] | str | None, default: Mapping[str, float]
) -> dict[str, float]:
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
    preset: str | Preset = "default",
    strength: float | None = None,
    content_layers: Mapping[str, float] | Sequence[str] | str | None = None,
    style_layers: Mapping[str, float] | Sequence[str] | None = None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    layer_balance: bool | None = None,
    tv_weight: float | None = None,
    size: int | tuple[int, int] | None = None,
    style_size: int | tuple[int, int] | None = None,
    steps: int | None = None,
    optimizer: str | None = None,
    init: str | Tensor | None = None,
    pooling: str | None = None,
    weights: str | os.PathLike = "auto",
    encoder: VGG19Features | None = None,
    lr: float | None = None,
    line_search: str | None = None,
    seed: int = 0,
    progress: bool = True,
    callback=None,
    style_scale: float = 1.0,
    style_blend: Sequence[float] | None = None,
    preserve_color: str | None = None,
    coarse_to_fine: int | None = None,
    fine_steps: int | None = None,
    mask: Image | Tensor | None = None,
    content_loss_fn=None,
    style_loss_fn=None,
    gram_fn=None,
    balance_at: str | None = None,
) -> SynthesisResult:
    """Neural style transfer (Gatys, Ecker & Bethge 2016). Every setting left at None comes from ``preset``.

    Args:
        content, style: images (a path, a built-in name such as ``"chelsea"``, a PIL image, an
            array or a (1, 3, H, W) tensor in [0, 1]). ``style`` may be a list of images, blended
            with ``style_blend``.
        preset: ``"default"`` or ``"paper"`` (see :mod:`nstlib.defaults` for the table).
        strength: the style strength, the main knob: beta is set so that the style term pulls on
            the image ``strength`` times as hard as the content term (:func:`nstlib.synthesis.balance`);
            1 = balanced, 3 = clearly more style, 0.3 = mostly the photo. Works the same for random
            and trained weights and at every size.
        content_layers: {layer: weight}, a list of layers (equal weights) or one name; default
            ``{"relu4_2": 1}``.
        style_layers: default relu1_1 ... relu5_1 with w_l = 1/5.
        content_weight, style_weight: alpha and beta, explicitly (the paper's alpha / beta = 1e-3
            means the same here at every size, on the normalised network). An explicit
            ``style_weight`` replaces ``strength``.
        layer_balance: set w_l so that each style layer pulls equally hard (He et al. 2016; the
            default preset does); False uses ``style_layers``' weights as given.
        line_search: "strong_wolfe" (default preset) or "none" (L-BFGS with fixed steps).
        balance_at: where ``strength`` and ``layer_balance`` measure the style pulls: "start" (the
            default preset: where the run starts, e.g. the photo) or "noise" (seeded white noise);
            see :func:`nstlib.synthesize`.
        size: output size (longer side, or (H, W)). Default: a tensor, array or PIL image keeps its
            size; a file or built-in name is shrunk to the preset's size (256 px) if larger.
        style_size: size of the style image (default: the same longer side as the output).
        steps: loss evaluations. optimizer: "lbfgs" or "adam". init: "content", "noise" or a tensor.
        pooling: "max" or "avg" (the paper's choice). weights: see :class:`VGG19Features`.
        content_loss_fn, style_loss_fn, gram_fn: plug in your own loss functions (see
            :func:`nstlib.synthesize`).

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
    p = get_preset(preset)
    pooling = pooling or p.pooling
    init = p.init if init is None else init
    steps = p.steps if steps is None else steps
    optimizer = optimizer or p.optimizer
    line_search = p.line_search if line_search is None and optimizer == "lbfgs" else line_search
    line_search = None if line_search == "none" else line_search
    layer_balance = p.layer_balance if layer_balance is None else layer_balance
    content_weight = p.content_weight if content_weight is None else content_weight
    tv_weight = p.tv_weight if tv_weight is None else tv_weight
    balance_at = p.balance_at if balance_at is None else balance_at
    if style_weight is None and strength is None:
        style_weight, strength = p.style_weight, p.strength
    enc = encoder or get_encoder(weights, pooling)
    cl = _layer_weights(content_layers, p.content_layers)
    sl = _layer_weights(style_layers, p.style_layers)
    if strength is not None and (not cl or not sl or content_weight == 0):
        strength, style_weight = None, 1.0 if style_weight is None else style_weight  # nothing to balance
    content_img = _load(content, size, p.size).to(enc.device)
    out_hw = (int(content_img.shape[-2]), int(content_img.shape[-1]))

    styles: list[Image] = list(style) if isinstance(style, (list, tuple)) else [style]
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
            for name, A in (style_targets(enc, s_img, list(sl), output_size=hw, gram_fn=gram_fn) if sl else {}).items():
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
            strength=strength,
            layer_balance=layer_balance,
            tv_weight=tv_weight,
            init=stage_init,
            content_image=image,
            optimizer=optimizer,
            steps=stage_steps,
            lr=lr,
            line_search=line_search,
            seed=seed,
            progress=progress,
            callback=callback,
            style_masks=masks,
            content_loss_fn=content_loss_fn,
            style_loss_fn=style_loss_fn,
            gram_fn=gram_fn,
            balance_at=balance_at,
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
        start = torch.nn.functional.interpolate(
            coarse.image.to(enc.device), size=out_hw, mode="bicubic", align_corners=False
        ).clamp(0, 1)
        result = run(target_content, start, fine_steps or max(1, steps // 3))
    else:
        result = run(target_content, init, steps)

    if preserve_color == "luminance":
        y = rgb_to_yiq(result.image)[:, :1]  # (1, 1, H, W) the optimised luminance
        iq = rgb_to_yiq(content_img.cpu())[:, 1:]  # (1, 2, H, W) the content's chrominance
        result.image = yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp(0.0, 1.0)
    result.info.update(
        style_sizes=[tuple(s.shape[-2:]) for s in style_imgs],
        style_blend=blend,
        preserve_color=preserve_color,
        preset=p.name,
        pooling=pooling,
        line_search=line_search,
        layer_balance=layer_balance,
        init=init if isinstance(init, str) else "tensor",
        steps=steps,
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
    return torch.nn.functional.interpolate(img, size=hw, mode="bilinear", antialias=True, align_corners=False).clamp(
        0, 1
    )


def _reconstruction(
    task: str,
    image: Image,
    size: int | tuple[int, int] | None,
    weights: str | os.PathLike,
    pooling: str,
    encoder: VGG19Features | None,
    init: str,
    line_search: str | None,
    **loop: Any,
) -> tuple[VGG19Features, Tensor, dict[str, Any]]:
    """A reconstruction's encoder, the photo on its device, and the settings of :func:`synthesize`
    that both reconstructions share (size, start, line search and ``loop``: optimizer, steps, ...);
    ``"auto"`` start and line search as :data:`AUTO` says for ``task``.
    """
    enc = encoder or get_encoder(weights, pooling)
    img = load_image(image, size=size).to(enc.device)
    hw = (int(img.shape[-2]), int(img.shape[-1]))
    return enc, img, dict(size=hw, **auto_settings(task, enc, init=init, line_search=line_search), **loop)


def reconstruct_content(
    image: Image,
    layer: str = "conv4_2",
    *,
    size: int | tuple[int, int] | None = 256,
    steps: int = 300,
    optimizer: str = "lbfgs",
    weights: str | os.PathLike = "auto",
    pooling: str = "auto",
    init: str = "auto",
    line_search: str | None = "auto",
    encoder: VGG19Features | None = None,
    seed: int = 0,
    progress: bool = True,
    callback=None,
) -> SynthesisResult:
    """Invert one layer's content representation: match P^l only (style weight 0; Gatys et al. 2016, Fig. 1 top).

    The "auto" settings (:data:`AUTO`): ``pooling`` average (the paper's, for synthesis; with random
    weights the leaky random filters too, :func:`get_encoder`); ``init`` the quiet start (the seeded
    white noise turned down to mid-grey +- 5 %: what a layer cannot see stays grey instead of
    staying noise; ``"noise"`` is the paper's full white noise); ``line_search`` a strong-Wolfe
    line search with trained weights and L-BFGS's fixed step with random ones.
    """
    enc, img, common = _reconstruction(
        "content", image, size, weights, pooling, encoder, init, line_search,
        optimizer=optimizer, steps=steps, seed=seed, progress=progress, callback=callback,
    )  # fmt: skip
    return synthesize(
        enc, content_targets=content_targets(enc, img, [layer]), content_layers={layer: 1.0}, style_weight=0.0, **common
    )


def reconstruct_style(
    image: Image,
    layers: Mapping[str, float] | Sequence[str] = tuple(GATYS_STYLE_LAYERS),
    *,
    size: int | tuple[int, int] | None = 256,
    steps: int = 300,
    optimizer: str = "lbfgs",
    weights: str | os.PathLike = "auto",
    pooling: str = "auto",
    init: str = "auto",
    layer_balance: bool | None = None,
    line_search: str | None = "auto",
    encoder: VGG19Features | None = None,
    seed: int = 0,
    progress: bool = True,
    callback=None,
) -> SynthesisResult:
    """Reconstruct an image's style: match Gram matrices only (content weight 0; Gatys et al. 2016, Fig. 1 bottom).

    "auto" settings as in :func:`reconstruct_content` (:data:`AUTO`), with the line search for
    both networks. ``layer_balance`` (None: on for random weights only) sets w_l so that every
    layer pulls on the image equally hard (He, Wang & Hopcroft 2016); with a random network's own
    w_l the deep layers' gradients drown relu1_1's colours.
    """
    enc, img, common = _reconstruction(
        "style", image, size, weights, pooling, encoder, init, line_search,
        optimizer=optimizer, steps=steps, seed=seed, progress=progress, callback=callback,
    )  # fmt: skip
    sl = _layer_weights(layers, {})
    return synthesize(
        enc,
        style_targets=style_targets(enc, img, list(sl)),
        style_layers=sl,
        content_weight=0.0,
        style_weight=1.0,
        **auto_settings("style", enc, layer_balance=layer_balance),
        **common,
    )


def synthesize_texture(
    image: Image,
    layers: Mapping[str, float] | Sequence[str] | None = None,
    size: int | tuple[int, int] | None = 256,
    *,
    source_size: int | tuple[int, int] | None = None,
    steps: int = 300,
    optimizer: str = "lbfgs",
    weights: str | os.PathLike = "auto",
    pooling: str = "auto",
    encoder: VGG19Features | MultiScaleTextures | None = None,
    model: str = "auto",
    init: str = "auto",
    line_search: str | None = "auto",
    seed: int = 0,
    progress: bool = True,
    callback=None,
) -> SynthesisResult:
    """Texture synthesis (Gatys et al. 2015): a new image of ``size`` whose Gram matrices match ``image``'s.

    ``size`` is the output's size (longer side or (H, W)); ``source_size`` resizes the source
    texture first (default: same longer side as the output).

    ``model`` picks the feature space: ``"vgg"`` (VGG-19, layers :data:`TEXTURE_LAYERS` by default),
    ``"multiscale"`` (:class:`nstlib.multiscale.MultiScaleTextures`: one layer of random filters of
    3 to 55 px, Ustyuzhaninov et al. 2017; layers: every filter size that fits) or ``"auto"``:
    VGG-19 with trained weights, the multi-scale model when the VGG-19 weights are random and no
    VGG layers were asked for (a random VGG-19 gives only rough textures; a note says so once).
    ``result.info["texture_model"]`` records the choice. ``pooling="auto"``: as in
    :func:`get_encoder` (average pooling; with random weights the leaky random filters of the
    reconstructions). ``init`` and ``line_search`` ("auto": :data:`AUTO`): with trained weights
    the quiet start and a line search (from full white noise a trained VGG leaves pixel noise
    in the texture), with random ones white noise and the fixed step.
    """
    if model not in ("auto", "vgg", "multiscale"):
        raise ValueError(f"model must be 'auto', 'vgg' or 'multiscale', got {model!r}")
    if isinstance(encoder, MultiScaleTextures):
        model = "multiscale"
    elif model == "multiscale" and encoder is not None:
        raise ValueError(
            "model='multiscale' uses its own random filters: leave encoder=None "
            "(or pass encoder=nstlib.multiscale.MultiScaleTextures(...))"
        )
    if model == "auto":
        vgg = encoder or get_encoder(weights, pooling)
        model = "multiscale" if vgg.is_random and layers is None else "vgg"
        if model == "multiscale":
            _texture_note()
    enc: VGG19Features | MultiScaleTextures
    if model == "multiscale":
        enc = encoder if isinstance(encoder, MultiScaleTextures) else get_texture_model()
    else:
        enc = encoder or get_encoder(weights, pooling)
    if size is None:
        src = load_image(image, size=source_size).to(enc.device)
        out_hw = (int(src.shape[-2]), int(src.shape[-1]))
    else:
        out_hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        src = load_image(image, size=source_size or max(out_hw)).to(enc.device)
    if layers is None:
        if isinstance(enc, MultiScaleTextures):  # every filter that fits into both images
            fit = min(*out_hw, *src.shape[-2:])
            layers = [name for name in enc.layer_names if int(name[1:]) <= fit]
        else:
            layers = TEXTURE_LAYERS
    sl = _layer_weights(layers, {})
    result = synthesize(
        enc,
        style_targets=style_targets(enc, src, list(sl), output_size=out_hw),
        style_layers=sl,
        content_weight=0.0,
        style_weight=1.0,
        layer_balance=isinstance(enc, MultiScaleTextures),
        **auto_settings("texture", enc, init=init, line_search=line_search),
        size=out_hw,
        optimizer=optimizer,
        steps=steps,
        seed=seed,
        progress=progress,
        callback=callback,
    )
    result.info["texture_model"] = model
    return result
