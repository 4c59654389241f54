"""A network that paints in one pass: fast style transfer (notebook 07).

Johnson, Alahi & Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and Super-Resolution",
ECCV 2016, https://arxiv.org/abs/1603.08155 (the image transformation network, perceptual losses).
Ulyanov, Vedaldi & Lempitsky, "Instance Normalization: The Missing Ingredient for Fast
Stylization", 2016, https://arxiv.org/abs/1607.08022 (instance norm instead of batch norm).

Gatys et al. optimise the *pixels* of one image (notebook 05): minutes per picture. Johnson et al.
optimise the *weights* of a network T once, over many photos x, so that T(x) minimises the same
kind of loss on average:

    min_T  mean_x [ alpha * L_content(T(x), x) + beta * L_style(T(x), style) + tv * TV(T(x)) ]

after which one forward pass stylises any photo (milliseconds). The losses are read on the
series' encoder (:func:`nstlib.get_encoder`: any VGG the weights give, e.g. a trained VGG-16);
Johnson's layers: content relu2_2, style relu1_2, relu2_2, relu3_3, relu4_3 (all in VGG-16 and -19).

- :class:`TransformerNet` (Johnson's architecture with instance norm), :func:`receptive_field`,
  :func:`parameter_count`, :func:`stylize`, :func:`save_model`, :func:`load_model`,
  :func:`shipped_model`: the network and what runs it, in :mod:`nstlib.transformer_net`
  (re-exported here, so ``nstlib.feedforward.TransformerNet`` keeps working).
- :func:`perceptual_terms`: Johnson et al.'s content, style (Gram per position) and TV terms.
- :func:`train`: Adam on random crops of the built-in photos (one held out) within ``seconds``;
  a callback gets every step's terms and, every few steps, the held-out photo stylised.
- :func:`preserve_color` (luminance method, Gatys et al. 2017), :func:`pan_frames` (a "video":
  crops sliding over a photo).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .control import rgb_to_yiq, yiq_to_rgb
from .experiments import get_encoder
from .io import load_image
from .transformer_net import (
    MODELS_REGISTRY,
    ResidualBlock,
    TransformerNet,
    load_model,
    parameter_count,
    receptive_field,
    save_model,
    shipped_model,
    stylize,
)

__all__ = [
    "TransformerNet",
    "ResidualBlock",
    "receptive_field",
    "parameter_count",
    "gram_per_position",
    "perceptual_terms",
    "TrainResult",
    "train",
    "stylize",
    "preserve_color",
    "pan_frames",
    "save_model",
    "load_model",
    "shipped_model",
    "MODELS_REGISTRY",
    "TRAIN_PHOTOS",
    "HELD_OUT",
    "CONTENT_LAYERS",
    "STYLE_LAYERS",
]

#: built-in photos the network trains on (random crops) and the one it never sees (the preview)
TRAIN_PHOTOS: tuple[str, ...] = ("astronaut", "coffee", "rocket", "hubble_deep_field", "grace_hopper")
HELD_OUT = "chelsea"
#: Johnson et al.'s loss layers (their VGG-16's names; VGG-19 has them too)
CONTENT_LAYERS: dict[str, float] = {"relu2_2": 1.0}
STYLE_LAYERS: dict[str, float] = {"relu1_2": 0.25, "relu2_2": 0.25, "relu3_3": 0.25, "relu4_3": 0.25}


def gram_per_position(f: Tensor) -> Tensor:
    """G / M: Gram matrices of (B, C, H, W) maps divided by the M = H W positions -> (B, C, C).

    Per position, so that crops of any size have comparable statistics (Johnson et al. divide by C H W).
    """
    B, C, H, W = f.shape
    x = f.reshape(B, C, H * W)  # (B, C, M)
    return x @ x.transpose(1, 2) / (H * W)  # (B, C, C)


def perceptual_terms(
    encoder: Any,
    output: Tensor,
    photo: Tensor,
    style_grams: Mapping[str, Tensor],
    content_layers: Mapping[str, float] = CONTENT_LAYERS,
) -> dict[str, Tensor]:
    """Johnson et al.'s loss terms of a batch, unweighted, each a 0-dim tensor.

    - ``content/<l>``: sum (phi_l(output) - phi_l(photo))^2 / sum phi_l(photo)^2 (feature reconstruction);
    - ``style/<l>``: sum (G_l(output) - G_l(style))^2 / sum G_l(style)^2, G per position;
    - ``tv``: mean squared difference of neighbouring pixels.

    Johnson et al. divide by the number of entries; dividing by the target's own size instead makes
    every term a relative error (about 1 for a grey output) on any network, so that one set of
    weights balances the layers of a random VGG-19 and of a trained VGG-16 alike.

    Args:
        output, photo: (B, 3, H, W) in [0, 1]. style_grams: {layer: (1, C, C)} from :func:`gram_per_position`.
    """
    feats = encoder(output, list(dict.fromkeys([*content_layers, *style_grams])))  # {l: (B, C, H_l, W_l)}
    with torch.no_grad():
        targets = encoder(photo, list(content_layers))  # only up to the content layer: cheaper
    B = output.shape[0]
    terms: dict[str, Tensor] = {}
    for name in content_layers:
        p = targets[name]  # (B, C, H_l, W_l) the photos' features
        terms[f"content/{name}"] = (feats[name] - p).pow(2).sum() / p.pow(2).sum().clamp_min(1e-12)
    for name, A in style_grams.items():
        G = gram_per_position(feats[name])  # (B, C, C)
        terms[f"style/{name}"] = (G - A).pow(2).sum() / (A.pow(2).sum() * B).clamp_min(1e-12)
    dh = output[..., 1:, :] - output[..., :-1, :]  # (B, 3, H-1, W)
    dw = output[..., :, 1:] - output[..., :, :-1]  # (B, 3, H, W-1)
    terms["tv"] = dh.pow(2).mean() + dw.pow(2).mean()
    return terms


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the trained :class:`TransformerNet` (eval mode, on the CPU).
        history: one dict per step: "step", "time", each raw term ("content/relu2_2", "style/...", "tv")
            and "total" (the weighted sum the optimiser minimised).
        term_weights: the factor of each term in the total.
        previews: [(step, (1, 3, H, W) held-out photo stylised at that step)].
        seconds: training time. steps: optimiser steps taken.
        info: the settings (style, size, batch, lr, seed, photos, held-out photo, encoder).
    """

    model: TransformerNet
    history: list[dict[str, float]]
    term_weights: dict[str, float]
    previews: list[tuple[int, Tensor]] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    def plot_losses(self, **kwargs: Any) -> Any:
        """Per-term curves (:func:`nstlib.viz.plot_losses`); ``weighted=True`` multiplies each by its weight."""
        from .viz import plot_losses

        weights = self.term_weights if kwargs.pop("weighted", False) else None
        return plot_losses(self.history, weights=weights, **kwargs)


def _check_number(name: str, value: Any, low: float, integer: bool = False, fix: str = "") -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= low
    if ok and integer:
        ok = float(value).is_integer()
    if not ok:
        kind = "an integer" if integer else "a finite number"
        raise ValueError(f"{name} = {value!r}: must be {kind} >= {low:g}{'. ' + fix if fix else ''}")


def _photo_pool(photos: Sequence[str], size: int, device: torch.device) -> list[Tensor]:
    """Each photo at two scales (longer side 1.25x and 2x the crop size): (1, 3, H, W) tensors to crop from."""
    pool = []
    for name in photos:
        for scale in (1.25, 2.0):
            img = load_image(name, size=int(size * scale)).to(device)
            if min(img.shape[-2:]) >= size:
                pool.append(img)
    return pool


def _random_crops(pool: Sequence[Tensor], size: int, batch: int, rng: random.Random) -> Tensor:
    """(batch, 3, size, size) random crops, each from a random photo and scale, flipped half of the time."""
    crops = []
    for _ in range(batch):
        img = pool[rng.randrange(len(pool))]
        H, W = img.shape[-2:]
        i, j = rng.randrange(H - size + 1), rng.randrange(W - size + 1)
        crop = img[..., i : i + size, j : j + size]
        crops.append(crop.flip(-1) if rng.random() < 0.5 else crop)
    return torch.cat(crops)


def optimizer_step(
    opt: torch.optim.Optimizer, terms: dict[str, Tensor], weights: Mapping[str, float], step: int, start: float
) -> dict[str, float]:
    """One step on sum_k weights[k] * terms[k]; returns the history row (every value read in one transfer)."""
    total = torch.stack([weights[k] * v for k, v in terms.items()]).sum()
    opt.zero_grad(set_to_none=True)
    total.backward()
    opt.step()
    values = torch.stack([total.detach(), *(v.detach() for v in terms.values())]).tolist()
    row = {"step": float(step), "time": time.perf_counter() - start, "total": values[0]}
    row.update(zip(terms, values[1:]))
    return row


def train(
    style: Any,
    *,
    seconds: float = 60.0,
    size: int = 128,
    batch: int = 4,
    base: int = 16,
    blocks: int = 5,
    weights: str = "auto",
    encoder: Any = None,
    content_weight: float = 1.0,
    style_weight: float = 3.0,
    tv_weight: float = 5.0,
    style_layers: Mapping[str, float] = STYLE_LAYERS,
    lr: float = 1e-3,
    photos: Sequence[str] = TRAIN_PHOTOS,
    held_out: str = HELD_OUT,
    preview_every: int = 20,
    callback: Callable[[int, Tensor | None, dict[str, float]], None] | None = None,
    seed: int = 0,
    max_steps: int | None = None,
    model: TransformerNet | None = None,
) -> TrainResult:
    """Train a :class:`TransformerNet` for one style within a time budget (Johnson et al. 2016).

    Each Adam step: ``batch`` random ``size`` x ``size`` crops of ``photos`` (two scales, flips), the
    network's outputs, and the weighted :func:`perceptual_terms` on the encoder. Training stops after
    ``seconds`` (at least one step) or ``max_steps``.

    Args:
        style: the style image (anything :func:`nstlib.load_image` takes), read at ``size``.
        seconds: the time budget (wall clock). size, batch: crop size (a multiple of 4, >= 32) and crops per step.
        base, blocks: the network's width and depth (ignored when ``model`` is given: training continues it).
        weights, encoder: the loss network (:func:`nstlib.get_encoder`'s ``weights``, average pooling), or one.
        content_weight, style_weight, tv_weight: the factors of the terms in the total.
        photos, held_out: training photos and the photo never trained on (stylised for the previews).
        preview_every: stylise the held-out photo every this many steps (and at the end).
        callback: ``callback(step, preview_or_None, terms)`` after every step; the signature of
            :class:`nstlib.widgets.base.LiveView`'s ``callback``, for live loss curves and previews.
        seed: seeds the network's initialisation and the crops.
    """
    _check_number("seconds", seconds, 0.0, fix="Give the training time budget in seconds, e.g. seconds=60.")
    if seconds <= 0:
        raise ValueError(f"seconds = {seconds!r}: the time budget must be > 0, e.g. seconds=60")
    _check_number("size", size, 32, integer=True, fix="Crops need at least 32 px for relu4_3.")
    if size % 4:
        raise ValueError(f"size = {size}: must be a multiple of 4 (two stride-2 layers), e.g. {size - size % 4 or 32}")
    _check_number("batch", batch, 1, integer=True)
    _check_number("preview_every", preview_every, 1, integer=True)
    for name, w in (("content_weight", content_weight), ("style_weight", style_weight), ("tv_weight", tv_weight)):
        _check_number(name, w, 0.0)
    if held_out in photos:
        raise ValueError(f"held_out = {held_out!r} is one of the training photos {list(photos)}: hold out another")
    if not photos:
        raise ValueError("photos is empty: give at least one built-in photo name to crop from, e.g. ('astronaut',)")
    enc = encoder if encoder is not None else get_encoder(weights, pooling="avg")
    enc.check_layers([*CONTENT_LAYERS, *style_layers])
    device = enc.device
    torch.manual_seed(seed)
    net = (model if model is not None else TransformerNet(base, blocks)).to(device).train()
    rng = random.Random(seed)
    pool = _photo_pool(photos, size, device)
    if not pool:
        raise ValueError(f"none of the photos {list(photos)} is at least {size} px on its shorter side")
    with torch.no_grad():
        s_feats = enc(load_image(style, size=size).to(device), list(style_layers))
        style_grams = {k: gram_per_position(f) for k, f in s_feats.items()}  # (1, C, C)
    preview_photo = load_image(held_out, size=size)
    weights_of = {f"content/{k}": content_weight * w for k, w in CONTENT_LAYERS.items()}
    weights_of.update({f"style/{k}": style_weight * w for k, w in style_layers.items()})
    weights_of["tv"] = tv_weight
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    history: list[dict[str, float]] = []
    previews: list[tuple[int, Tensor]] = []
    start = time.perf_counter()
    step = 0
    while step == 0 or (time.perf_counter() - start < seconds and (max_steps is None or step < max_steps)):
        x = _random_crops(pool, size, batch, rng)  # (batch, 3, size, size)
        terms = perceptual_terms(enc, net(x), x, style_grams)
        row = optimizer_step(opt, terms, weights_of, step, start)
        history.append(row)
        step += 1
        preview = None
        if step % preview_every == 0:
            preview = stylize(net, preview_photo)
            previews.append((step, preview))
            net.train()
        if callback is not None:
            callback(step - 1, preview, row)
    elapsed = time.perf_counter() - start
    if not previews or previews[-1][0] != step:
        previews.append((step, stylize(net, preview_photo)))
    info = dict(
        style=style if isinstance(style, str) else "image",
        size=size, batch=batch, lr=lr, seed=seed, base=net.base, blocks=net.blocks,
        photos=list(photos), held_out=held_out, encoder=getattr(enc, "weights_source", "?"),
        arch=getattr(enc, "arch", "?"), style_layers=dict(style_layers), content_layers=dict(CONTENT_LAYERS),
    )  # fmt: skip
    return TrainResult(net.cpu().eval(), history, weights_of, previews, elapsed, step, info)


def preserve_color(stylized: Tensor, content: Tensor) -> Tensor:
    """The stylised luminance with the photo's colours (luminance method, Gatys et al. 2017, Sec. 5.1).

    Y of YIQ from ``stylized``, I and Q from ``content`` (both (B, 3, H, W) in [0, 1], the same size),
    as ``nstlib.transfer(..., preserve_color="luminance")`` does after its optimisation.
    """
    if stylized.shape != content.shape:
        raise ValueError(
            f"preserve_color: stylized {tuple(stylized.shape)} and content {tuple(content.shape)} differ; "
            "pass the photo at the size of the network's output"
        )
    y = rgb_to_yiq(stylized)[:, :1]  # (B, 1, H, W) the network's luminance
    iq = rgb_to_yiq(content.to(stylized))[:, 1:]  # (B, 2, H, W) the photo's chrominance
    return yiq_to_rgb(torch.cat([y, iq], dim=1)).clamp(0.0, 1.0)


def pan_frames(image: Any, frames: int = 8, width: int = 96, size: int = 128) -> list[Tensor]:
    """A short "video": ``frames`` square crops of ``width`` px sliding left to right over ``image``
    (loaded with its longer side ``size``). Returns [(1, 3, width, width)]."""
    _check_number("frames", frames, 1, integer=True)
    img = load_image(image, size=size)
    H, W = img.shape[-2:]
    if width > min(H, W):
        raise ValueError(f"width = {width}: larger than the image ({H}x{W} px); use width <= {min(H, W)}")
    top = (H - width) // 2
    lefts = [round(i * (W - width) / max(frames - 1, 1)) for i in range(frames)]
    return [img[..., top : top + width, x : x + width].clone() for x in lefts]
