"""Arbitrary style in one pass: adaptive instance normalisation (AdaIN), at a scale that trains on a CPU.

Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive Instance Normalization",
ICCV 2017, https://arxiv.org/abs/1703.06868

Instance norm (Ulyanov et al. 2016) removes each channel's mean and standard deviation over the
positions of one image. AdaIN puts the *style's* back:

    AdaIN(x, y) = sigma(y) * (x - mu(x)) / sigma(x) + mu(y)        (per sample, per channel)

so a style is described by 2 N numbers per layer (means and standard deviations) instead of a
Gram matrix's N (N + 1) / 2. Then

- :func:`mean_std_loss` with :func:`mean_std` as ``gram_fn`` is a style loss for the optimiser of
  notebook 05 (Huang & Belongie's eq. 12, no training needed);
- a decoder trained to invert the encoder at one layer turns AdaIN's output into an image: any
  photo, any style, one pass. Huang & Belongie decode relu4_1 with a mirrored VGG trained for hours;
  here a shallow :class:`Decoder` inverts ``relu2_1`` or ``relu3_1`` and trains within a time budget
  (:func:`train_decoder`) on random crops of the built-in photos and procedural styles of random seeds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .data import brush_strokes, mosaic, plaid, waves
from .experiments import get_encoder
from .feedforward import HELD_OUT, TRAIN_PHOTOS, _photo_pool, _random_crops, optimizer_step
from .io import load_image

__all__ = [
    "channel_stats",
    "adain",
    "mean_std",
    "mean_std_loss",
    "Decoder",
    "DecoderResult",
    "train_decoder",
    "adain_stylize",
    "DECODER_STYLE_LAYERS",
]

#: the layers whose means and standard deviations the decoder's style term matches (Huang: relu1_1 ... relu4_1)
DECODER_STYLE_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1")
_STYLES: tuple[Callable[..., Tensor], ...] = (brush_strokes, mosaic, waves, plaid)


def channel_stats(f: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of each channel of each sample over its positions.

    Args:
        f: (B, C, H, W) feature maps. eps: added to the variance (1/M, the population variance).

    Returns:
        mu, sigma: (B, C, 1, 1) each; sigma = sqrt(var + eps).

    >>> mu, sd = channel_stats(torch.tensor([[[[1., 3.]]]]), eps=0.0)
    >>> mu.item(), sd.item()
    (2.0, 1.0)
    """
    if f.dim() != 4:
        raise ValueError(f"expected feature maps of shape (B, C, H, W), got {tuple(f.shape)}")
    mu = f.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
    var = (f - mu).pow(2).mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
    return mu, (var + eps).sqrt()


def adain(content_feat: Tensor, style_feat: Tensor, eps: float = 1e-5) -> Tensor:
    """AdaIN(x, y) = sigma(y) (x - mu(x)) / sigma(x) + mu(y), per sample and channel (Huang & Belongie, eq. 8).

    Args:
        content_feat: (B, C, H, W) features x of the photo.
        style_feat: (B, C, H', W') or (1, C, H', W') features y of the style (any size).

    Returns:
        (B, C, H, W): the photo's features with the style's channel means and standard deviations.

    >>> x = torch.tensor([[[[0., 2.]]]]); y = torch.tensor([[[[10., 14.]]]])
    >>> adain(x, y, eps=0.0)
    tensor([[[[10., 14.]]]])
    """
    if content_feat.dim() != 4 or style_feat.dim() != 4 or content_feat.shape[1] != style_feat.shape[1]:
        raise ValueError(
            f"adain: content {tuple(content_feat.shape)} and style {tuple(style_feat.shape)} must both be "
            "(B, C, H, W) with the same C (the same layer of the same network)"
        )
    mu_x, sd_x = channel_stats(content_feat, eps)
    mu_y, sd_y = channel_stats(style_feat, eps)
    return sd_y * (content_feat - mu_x) / sd_x + mu_y  # (B, C, H, W)


def mean_std(f: Tensor) -> Tensor:
    """The style statistics of AdaIN as one tensor: (B, C, 2) = [mu, sigma] per channel.

    A drop-in ``gram_fn`` for :func:`nstlib.transfer` / :func:`nstlib.make_objective` with
    :func:`mean_std_loss` as ``style_loss_fn``; independent of the image size (use the style
    image at the output's size, or the targets get rescaled as Gram matrices are).
    """
    mu, sd = channel_stats(f)
    return torch.cat([mu, sd], dim=-1).flatten(2)  # (B, C, 2)


def mean_std_loss(f: Tensor, target: Tensor) -> Tensor:
    """Huang & Belongie's style loss at one layer: ||mu(f) - mu_s||^2 + ||sigma(f) - sigma_s||^2, summed over the batch.

    Args:
        f: (B, C, H, W) features of the image being optimised. target: (1 or B, C, 2) from :func:`mean_std`.
    """
    return (mean_std(f) - target).pow(2).sum()


class Decoder(nn.Module):
    """A shallow decoder from one encoder layer back to the image: 3x3 convs, ReLUs, 2x nearest upsampling.

    Mirrors VGG up to ``layer`` (relu2_1: one pooling; relu3_1: two), with ``width`` channels in place
    of VGG's 64 (and 2x, 4x deeper), as Huang & Belongie's decoder mirrors VGG up to relu4_1.
    """

    def __init__(self, layer: str = "relu3_1", width: int = 32) -> None:
        super().__init__()
        if layer not in ("relu2_1", "relu3_1"):
            raise ValueError(f"layer = {layer!r}: this decoder inverts 'relu2_1' or 'relu3_1'")
        self.layer, self.width = layer, width
        pad = nn.ReflectionPad2d
        blocks: list[nn.Module] = []
        c_in = 256 if layer == "relu3_1" else 128
        if layer == "relu3_1":
            blocks += [pad(1), nn.Conv2d(256, 2 * width, 3), nn.ReLU(), nn.Upsample(scale_factor=2)]
            c_in = 2 * width
        blocks += [pad(1), nn.Conv2d(c_in, 2 * width, 3), nn.ReLU(), nn.Upsample(scale_factor=2)]
        blocks += [pad(1), nn.Conv2d(2 * width, width, 3), nn.ReLU(), pad(1), nn.Conv2d(width, 3, 3)]
        self.net = nn.Sequential(*blocks)

    def forward(self, t: Tensor) -> Tensor:
        return torch.sigmoid(self.net(t))  # (B, 3, H, W) in (0, 1)


@dataclass
class DecoderResult:
    """What :func:`train_decoder` returns: the decoder (eval, CPU), one dict of terms per step, the settings."""

    decoder: Decoder
    history: list[dict[str, float]]
    term_weights: dict[str, float]
    seconds: float = 0.0
    steps: int = 0
    info: dict[str, Any] = field(default_factory=dict)


def _style(size: int, rng: random.Random) -> Tensor:
    """A procedural style (brush strokes, mosaic, waves or plaid) of a random seed: (1, 3, size, size)."""
    img = rng.choice(_STYLES)(size=size, seed=rng.randrange(10_000))
    return img if img.dim() == 4 else img.unsqueeze(0)


def train_decoder(
    *,
    seconds: float = 60.0,
    size: int = 96,
    batch: int = 4,
    layer: str = "relu3_1",
    width: int = 32,
    weights: str = "auto",
    encoder: Any = None,
    style_weight: float = 1.0,
    lr: float = 1e-3,
    photos: Sequence[str] = TRAIN_PHOTOS,
    callback: Callable[[int, Tensor | None, dict[str, float]], None] | None = None,
    seed: int = 0,
    max_steps: int | None = None,
) -> DecoderResult:
    """Train a :class:`Decoder` for AdaIN within ``seconds`` (Huang & Belongie 2017, Sec. 6).

    Each step: ``batch`` photo crops x and procedural styles s (a random kind and seed each);
    t = AdaIN(f(x), f(s)) at ``layer``; loss = ||f(g(t)) - t||^2 / ||t||^2 (content: decode to an
    image whose features are t) + ``style_weight`` * the relative mean/std error at
    :data:`DECODER_STYLE_LAYERS` up to ``layer``. ``callback(step, None, terms)`` after each step.
    """
    if not (isinstance(seconds, (int, float)) and seconds > 0):
        raise ValueError(f"seconds = {seconds!r}: the time budget must be a number > 0, e.g. seconds=60")
    if not (isinstance(size, int) and size >= 16 and size % 4 == 0):
        raise ValueError(f"size = {size!r}: must be an int >= 16 and a multiple of 4")
    enc = encoder if encoder is not None else get_encoder(weights, pooling="avg")
    styles = list(DECODER_STYLE_LAYERS[: DECODER_STYLE_LAYERS.index(layer) + 1])
    torch.manual_seed(seed)
    dec = Decoder(layer, width).to(enc.device).train()
    rng = random.Random(seed)
    pool = _photo_pool(photos, size, enc.device)
    opt = torch.optim.Adam(dec.parameters(), lr=lr)
    weights_of = {f"content/{layer}": 1.0, **{f"style/{k}": style_weight / len(styles) for k in styles}}
    history: list[dict[str, float]] = []
    start, step = time.perf_counter(), 0
    while step == 0 or (time.perf_counter() - start < seconds and (max_steps is None or step < max_steps)):
        x = _random_crops(pool, size, batch, rng)  # (B, 3, size, size)
        s = torch.cat([_style(size, rng) for _ in range(batch)]).to(enc.device)  # (B, 3, size, size)
        with torch.no_grad():
            fs = enc(s, styles)
            t = adain(enc(x, [layer])[layer], fs[layer])  # (B, C, size/4, size/4) for relu3_1
        out = enc(dec(t), styles)
        terms = {f"content/{layer}": (out[layer] - t).pow(2).sum() / t.pow(2).sum()}
        for k in styles:
            target = mean_std(fs[k])
            terms[f"style/{k}"] = (mean_std(out[k]) - target).pow(2).sum() / target.pow(2).sum()
        row = optimizer_step(opt, terms, weights_of, step, start)
        history.append(row)
        if callback is not None:
            callback(step, None, row)
        step += 1
    info = dict(size=size, batch=batch, layer=layer, width=width, lr=lr, seed=seed, photos=list(photos),
                held_out=HELD_OUT, encoder=getattr(enc, "weights_source", "?"))  # fmt: skip
    return DecoderResult(dec.cpu().eval(), history, weights_of, time.perf_counter() - start, step, info)


@torch.no_grad()
def adain_stylize(
    decoder: Decoder, content: Any, style: Any, alpha: float = 1.0, *, size: int = 128, encoder: Any = None
) -> Tensor:
    """g((1 - alpha) f(x) + alpha AdaIN(f(x), f(s))): the content/style trade-off of Huang & Belongie (Sec. 7.2).

    ``alpha`` = 0 decodes the photo's own features, 1 the full style. Returns (1, 3, H, W) on the CPU.
    """
    if not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
        raise ValueError(f"alpha = {alpha!r}: must be a number in [0, 1] (0 = photo, 1 = full style)")
    enc = encoder if encoder is not None else get_encoder("auto", pooling="avg")
    x = load_image(content, size=size).to(enc.device)
    s = load_image(style, size=size).to(enc.device)
    H, W = x.shape[-2:]
    x = x[..., : H - H % 4, : W - W % 4]
    fx = enc(x, [decoder.layer])[decoder.layer]
    t = (1 - alpha) * fx + alpha * adain(fx, enc(s, [decoder.layer])[decoder.layer])
    return decoder.to(enc.device)(t).clamp(0.0, 1.0).cpu()
