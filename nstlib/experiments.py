"""The experiments of the series, each one call of :func:`nstlib.synthesize`.

- :func:`transfer`: style transfer (Gatys, Ecker & Bethge, CVPR 2016), the paper's defaults.
- :func:`reconstruct_content`: feature inversion from white noise, style weight 0 (2016, Fig. 1 top).
- :func:`reconstruct_style`: style reconstruction from white noise, content weight 0 (Fig. 1 bottom).
- :func:`synthesize_texture`: texture synthesis (Gatys, Ecker & Bethge, NeurIPS 2015).

Every choice they make is resolved first, in :mod:`nstlib.recipes` (the preset, :data:`AUTO`, the
Gatys et al. 2017 controls); the networks come from :mod:`nstlib.encoders`. Both are re-exported here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from .control import layer_masks
from .defaults import CONTENT_LAYERS, STYLE_LAYERS, TEXTURE_LAYERS, Preset
from .encoders import get_encoder, get_texture_model
from .io import load_image
from .multiscale import MultiScaleTextures
from .recipes import AUTO, Controls, auto_settings, layer_weights, load_content, resize, transfer_recipe, upsample
from .synthesis import BOX, SynthesisResult, content_targets, style_targets, synthesize
from .vgg import VGG19Features

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
    box: str = BOX,
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
        box: how L-BFGS keeps the pixels in [0, 1]: ``"project"`` (projected L-BFGS, the default)
            or ``"clamp"`` (clamp before every evaluation, the loop of notebook 02's ``run_lbfgs``;
            notebook 05's capstone compares with it). See :func:`nstlib.synthesis.run_loop`.

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
    controls = Controls(style_scale, style_blend, preserve_color, coarse_to_fine, fine_steps, mask)
    r = transfer_recipe(
        preset, strength=strength, content_layers=content_layers, style_layers=style_layers,
        content_weight=content_weight, style_weight=style_weight, layer_balance=layer_balance,
        tv_weight=tv_weight, steps=steps, optimizer=optimizer, init=init, pooling=pooling,
        line_search=line_search, balance_at=balance_at,
    )  # fmt: skip
    enc = encoder or get_encoder(weights, r.pooling)
    photo = load_content(content, size, r.size).to(enc.device)  # (1, 3, H, W)
    out_hw = (int(photo.shape[-2]), int(photo.shape[-1]))
    styles: list[Image] = list(style) if isinstance(style, (list, tuple)) else [style]
    blend = controls.blend(len(styles))
    scaled = controls.style_size(style_size if style_size is not None else max(out_hw))
    target, style_imgs = controls.recolour(photo, [load_image(s, size=scaled).to(enc.device) for s in styles])
    mask_t = controls.mask_tensor(enc.device)
    losses = dict(content_loss_fn=content_loss_fn, style_loss_fn=style_loss_fn, gram_fn=gram_fn)
    loop = dict(lr=lr, seed=seed, progress=progress, callback=callback, box=box)

    def run(image: Tensor, start: str | Tensor, stage_steps: int) -> SynthesisResult:  # one stage at image's size
        hw = (int(image.shape[-2]), int(image.shape[-1]))
        masks = layer_masks(mask_t, list(r.style_layers), *hw) if mask_t is not None and r.style_layers else None
        targets = _blended_targets(enc, style_imgs, blend, list(r.style_layers), hw, masks, gram_fn)  # deepest first
        return synthesize(
            enc,
            content_targets=content_targets(enc, image, list(r.content_layers)) if r.content_layers else {},
            style_targets=targets,
            **r.weights(), init=start, content_image=image, steps=stage_steps, style_masks=masks, **losses, **loop,
        )  # fmt: skip

    coarse, small = None, controls.coarse_size(out_hw)
    if small is not None:  # Gatys et al. 2017 coarse-to-fine: the coarse result, upsampled, is the start
        coarse = run(resize(target, small), r.init, r.steps)
        result = run(target, upsample(coarse.image.to(enc.device), out_hw), controls.fine_steps or max(1, r.steps // 3))
    else:
        result = run(target, r.init, r.steps)
    result.image = controls.restore_colour(result.image, photo)
    result.info.update(**controls.info(style_imgs, blend), **r.info())
    if coarse is not None:
        result.info["coarse_result"] = coarse
        result.info["seconds_total"] = coarse.seconds + result.seconds
    return result


def _blended_targets(
    enc: VGG19Features,
    style_imgs: list[Tensor],
    blend: list[float],
    layers: list[str],
    hw: tuple[int, int],
    masks: dict[str, Tensor] | None,
    gram_fn=None,
) -> dict[str, Tensor]:
    """A^l = sum_s b_s A^l(style s) at the output's size ``hw``; with a mask, times the region's share
    of positions (the Gram matrix of masked features; Gatys et al. 2017)."""
    targets: dict[str, Tensor] = {}
    for b, s_img in zip(blend, style_imgs):
        for name, A in (style_targets(enc, s_img, layers, output_size=hw, gram_fn=gram_fn) if layers else {}).items():
            if masks is not None:
                A = A * masks[name].pow(2).mean()  # (1, N, N)
            targets[name] = targets[name] + b * A if name in targets else b * A
    return targets


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
    layer: str = "relu4_2",
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
    both networks. ``layer_balance`` (None: :data:`AUTO`, on for both networks) sets w_l so that
    every layer pulls on the image equally hard (He, Wang & Hopcroft 2016): with Gatys' equal w_l
    the deep layers' gradients drown relu1_1's colours on a random network, and on the trained
    VGG-16 the shallow layer sets stay grey with speckles (``docs/trained.md``).
    """
    enc, img, common = _reconstruction(
        "style", image, size, weights, pooling, encoder, init, line_search,
        optimizer=optimizer, steps=steps, seed=seed, progress=progress, callback=callback,
    )  # fmt: skip
    sl = layer_weights(layers, {})
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
    layer_balance: bool | None = None,
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
    in the texture), with random ones white noise and the fixed step. ``layer_balance`` (None:
    :data:`AUTO`) balances the layers' weights w_l (each layer pulls equally hard at the start):
    on for a trained VGG and for the multi-scale model, off for a random VGG; Gatys' equal w_l on
    the trained VGG-16 left the colours 31-39 grey levels off on two paintings, the balance 4-11
    (``docs/trained.md``).
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
    if model == "auto":  # AUTO's texture model, unless VGG layers were asked for
        vgg = encoder or get_encoder(weights, pooling)
        model = auto_settings("texture", vgg, texture_model="auto")["texture_model"] if layers is None else "vgg"
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
    sl = layer_weights(layers, {})
    balance = True if isinstance(enc, MultiScaleTextures) and layer_balance is None else layer_balance
    result = synthesize(
        enc,
        style_targets=style_targets(enc, src, list(sl), output_size=out_hw),
        style_layers=sl,
        content_weight=0.0,
        style_weight=1.0,
        **auto_settings("texture", enc, init=init, line_search=line_search, layer_balance=balance),
        size=out_hw,
        optimizer=optimizer,
        steps=steps,
        seed=seed,
        progress=progress,
        callback=callback,
    )
    result.info["texture_model"] = model
    return result
