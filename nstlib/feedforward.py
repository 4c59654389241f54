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

- :class:`TransformerNet`: 9x9 conv, two stride-2 convs, residual blocks, two upsample + conv,
  9x9 conv, instance norm after each hidden conv; ``base`` channels and ``blocks`` as parameters.
- :func:`receptive_field`: its receptive field in pixels, walked from its layers.
- :func:`train`: Adam on random crops of the built-in photos (one held out) within ``seconds``;
  a callback gets every step's terms and, every few steps, the held-out photo stylised.
- :func:`stylize`, :func:`preserve_color` (luminance method, Gatys et al. 2017), :func:`save_model`,
  :func:`load_model`, :func:`pan_frames` (a "video": crops sliding over a photo).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .control import rgb_to_yiq, yiq_to_rgb
from .data.download import verified
from .experiments import get_encoder
from .io import load_image

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


def _conv(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    """Reflection-padded convolution: keeps the size (stride 1) or halves it (stride 2)."""
    return nn.Sequential(nn.ReflectionPad2d(k // 2), nn.Conv2d(c_in, c_out, k, stride))


class ResidualBlock(nn.Module):
    """x + IN(conv(relu(IN(conv(x))))): two 3x3 convolutions, the same size and channels (Johnson et al.)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
            nn.ReLU(),
            _conv(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)  # (B, C, H, W)


class TransformerNet(nn.Module):
    """Johnson et al.'s image transformation network, with instance norm (Ulyanov et al. 2016).

    Args:
        base: channels of the first layer (Johnson: 32); the downsampled layers have 2x and 4x.
        blocks: residual blocks at 1/4 resolution (Johnson: 5).

    ``forward(x)``: (B, 3, H, W) in [0, 1] -> (B, 3, H, W) in [0, 1] (a sigmoid at the end). H and W
    should be multiples of 4 (two stride-2 convolutions, two 2x upsamplings); :func:`stylize` pads.
    """

    def __init__(self, base: int = 16, blocks: int = 5) -> None:
        super().__init__()
        if not (isinstance(base, int) and base >= 1 and isinstance(blocks, int) and blocks >= 0):
            raise ValueError(f"base = {base!r}, blocks = {blocks!r}: need an int base >= 1 and an int blocks >= 0")
        self.base, self.blocks = base, blocks
        c1, c2, c3 = base, 2 * base, 4 * base
        layers: list[nn.Module] = [
            _conv(3, c1, 9), nn.InstanceNorm2d(c1, affine=True), nn.ReLU(),  # (B, c1, H, W)
            _conv(c1, c2, 3, 2), nn.InstanceNorm2d(c2, affine=True), nn.ReLU(),  # (B, c2, H/2, W/2)
            _conv(c2, c3, 3, 2), nn.InstanceNorm2d(c3, affine=True), nn.ReLU(),  # (B, c3, H/4, W/4)
            *[ResidualBlock(c3) for _ in range(blocks)],
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(c3, c2, 3),
            nn.InstanceNorm2d(c2, affine=True), nn.ReLU(),  # (B, c2, H/2, W/2)
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(c2, c1, 3),
            nn.InstanceNorm2d(c1, affine=True), nn.ReLU(),  # (B, c1, H, W)
            _conv(c1, 3, 9),  # (B, 3, H, W)
        ]  # fmt: skip
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.net(x))  # (B, 3, H, W) in (0, 1)

    def extra_repr(self) -> str:
        return f"base={self.base}, blocks={self.blocks}, parameters={parameter_count(self):,}"


def parameter_count(model: nn.Module) -> int:
    """Learnable parameters (weights, biases, instance norm's scale and shift)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def receptive_field(model: nn.Module) -> int:
    """Receptive field (pixels, one side) of one output pixel, the largest over output positions.

    Walks one output pixel's input interval back through the layers (as notebook 01's reference
    does): a k x k convolution with stride s and padding p maps outputs [a, b] to inputs
    [a s - p, b s - p + k - 1]; a 2x nearest upsampling maps [a, b] to [a // 2, b // 2]. Residual
    blocks count with their two convolutions (the skip path is narrower). Through the upsamplings the
    field depends on the pixel's position modulo 4 (the recurrence r += (k - 1) j with a jump j of 1/2
    gives the average, 2 px less); the largest is returned. Instance norm is left out: its mean and
    standard deviation are taken over the whole map, so through them every output depends a little
    on every input pixel.
    """
    ops: list[tuple[int, int, int]] = []  # (kernel, stride, padding); kernel 0 = 2x upsampling
    pad = 0
    for m in model.modules():
        if isinstance(m, nn.ReflectionPad2d):
            pad = int(m.padding[0])
        elif isinstance(m, nn.Conv2d):
            ops.append((m.kernel_size[0], m.stride[0], pad + int(m.padding[0])))
            pad = 0
        elif isinstance(m, nn.Upsample):
            ops.append((0, 2, 0))
    widest = 1
    for q in range(1024, 1024 + 16):  # far from the borders; every phase modulo 16
        a, b = q, q
        for k, s, p in reversed(ops):
            a, b = (a // 2, b // 2) if k == 0 else (a * s - p, b * s - p + k - 1)
        widest = max(widest, b - a + 1)
    return widest


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


@torch.no_grad()
def stylize(model: nn.Module, image: Any, size: int | None = None) -> Tensor:
    """One forward pass: the stylised image (1, 3, H, W) in [0, 1], on the CPU.

    ``image``: anything :func:`nstlib.load_image` takes (``size``: its longer side). The image is
    reflection-padded to a multiple of 4 and the output cropped back, so any size works.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"stylize() needs the network (an nn.Module such as TransformerNet) first, got {type(model).__name__}"
        )
    x = load_image(image, size=size) if size is not None or not isinstance(image, Tensor) else load_image(image)
    device = next(model.parameters()).device
    H, W = x.shape[-2:]
    ph, pw = (-H) % 4, (-W) % 4
    x = F.pad(x.to(device), (0, pw, 0, ph), mode="reflect") if ph or pw else x.to(device)
    was_training = model.training
    model.eval()
    out = model(x)[..., :H, :W]  # (1, 3, H, W)
    model.train(was_training)
    return out.clamp(0.0, 1.0).cpu()


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


def save_model(model: TransformerNet, path: str | Path, info: Mapping[str, Any] | None = None) -> Path:
    """Save the weights in float16 (half the bytes; they are run in float32) with the shape and ``info``."""
    state = {k: v.detach().cpu().half() for k, v in model.state_dict().items()}
    path = Path(path)
    torch.save({"base": model.base, "blocks": model.blocks, "state_dict": state, "info": dict(info or {})}, path)
    return path


def load_model(path: str | Path) -> TransformerNet:
    """A network saved by :func:`save_model` (float32, eval mode); ``model.info`` holds what was saved with it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}: train one with nstlib.feedforward.train and save_model")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise ValueError(f"{path} is not a model saved by nstlib.feedforward.save_model (no 'state_dict' key)")
    model = TransformerNet(int(blob["base"]), int(blob["blocks"]))
    model.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
    model.info = dict(blob.get("info", {}))  # type: ignore[assignment]
    return model.eval()


#: the shipped models' registry (inside the package) and where their files live (the repository's data/)
MODELS_REGISTRY = Path(__file__).resolve().parent / "registry" / "models.json"
_REPO = Path(__file__).resolve().parents[1]


def shipped_model(name: str = "fast_brush_strokes") -> TransformerNet:
    """The model ``name`` of ``nstlib/registry/models.json``, checked against its sha256.

    Its file sits in the repository's ``data/models/`` (a git checkout; ``pip install`` without ``-e``
    does not copy it). ``model.info`` holds the training command, seed, steps and time.
    """
    import json

    entries = {e["name"]: e for e in json.loads(MODELS_REGISTRY.read_text())["models"]}
    if name not in entries:
        raise ValueError(f"no shipped model {name!r}; shipped: {', '.join(sorted(entries))}")
    entry = entries[name]
    path = _REPO / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(
            f"the shipped model {name!r} is not at {path}: it ships in the git repository (data/models/), "
            f"not in the wheel. Clone the repository, or train one: python benchmarks/train_feedforward.py --help"
        )
    if not verified(path, entry["sha256"], entry.get("bytes")):
        raise ValueError(
            f"{path} does not have the sha256 {entry['sha256']} recorded for {name!r}: restore it with git"
        )
    return load_model(path)
