"""An offline texture model: one layer of random filters at many sizes (no training, no download).

Ustyuzhaninov, Brendel, Gatys & Bethge, "What does it take to generate natural textures?", ICLR 2017
(arXiv:1606.00021): a *single* convolutional layer of random filters, at several sizes from 3 to 55 px,
followed by a ReLU, with Gatys' Gram-matrix loss and L-BFGS, synthesises natural textures that
rival those of the trained VGG-19. What matters is the non-linearity and the range of scales
(filters much larger than VGG's 3x3 see how strokes and tiles are arranged); depth, pooling and
training do not.

Here: :data:`SCALES` = 3, 5, 7, 11, 15, 23, 37 and 55 px as in the paper's multi-scale model, but
:data:`MAPS` = 32 filters each (256 maps) instead of the paper's 1,024 maps in all: four times
cheaper (0.8 s instead of 3 s per loss + gradient at 128 px on a loaded 2-core CPU), and the
textures of ``benchmarks/bench_offline.py`` already show the sources' structure with 32.

Every filter is drawn from a seeded normal distribution, standardised on 1/f noise (pre-activation
mean 0, spread 1, as nstlib's random VGG filters) and rescaled as Gatys et al. normalise VGG-19:
mean post-ReLU activation 1. The large filters are applied in Fourier space (``torch.fft``): one
product per frequency instead of 55 x 55 multiplications per pixel, so the model costs about as much
as a small VGG at 128 px. The convolution is circular, so the synthesised textures tile seamlessly.

It has the interface of :class:`nstlib.vgg.VGG19Features` that :mod:`nstlib.synthesis` uses (named
layers ``"k3"`` ... ``"k55"``, images in [0, 1], ``check_layers`` / ``check_size``), so
``synthesize(MultiScaleTextures(), style_targets=...)`` and ``synthesize_texture(...,
model="multiscale")`` run the same loop and the same losses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MultiScaleTextures", "SCALES", "MAPS", "layers_for"]

#: filter sizes in px (Ustyuzhaninov et al. 2017, multi-scale model)
SCALES: tuple[int, ...] = (3, 5, 7, 11, 15, 23, 37, 55)
#: random filters per size (the paper used 128; see the module docstring)
MAPS = 32
_MEAN = (0.485, 0.456, 0.406)  # the same input normalisation as VGG-19 (ImageNet statistics)
_STD = (0.229, 0.224, 0.225)


def layers_for(height: int, width: int, scales: Sequence[int] = SCALES) -> list[str]:
    """The layer names whose filters fit into an image of ``height`` x ``width`` px.

    >>> layers_for(48, 64)
    ['k3', 'k5', 'k7', 'k11', 'k15', 'k23', 'k37']
    """
    return [f"k{k}" for k in scales if k <= min(height, width)]


def _pink(size: int, gen: torch.Generator) -> Tensor:
    """(1, 3, size, size) noise with a 1/f amplitude spectrum, like photographs, scaled to [0, 1]."""
    fy = torch.fft.fftfreq(size).view(-1, 1)
    fx = torch.fft.rfftfreq(size).view(1, -1)
    amp = 1.0 / torch.sqrt(fx**2 + fy**2).clamp_min(1.0 / size)  # (size, size // 2 + 1)
    phase = torch.rand(1, 3, size, size // 2 + 1, generator=gen) * 2 * math.pi
    x = torch.fft.irfft2(amp * torch.exp(1j * phase), s=(size, size))  # (1, 3, size, size)
    x = x - x.amin(dim=(2, 3), keepdim=True)
    return x / x.amax(dim=(2, 3), keepdim=True)


class MultiScaleTextures(nn.Module):
    """One layer of seeded random filters of 3 to 55 px + ReLU (Ustyuzhaninov et al. 2017).

    Args:
        scales: filter sizes in px (odd); layer ``"k<size>"`` holds their :data:`MAPS` maps.
        maps: filters per size.
        seed: seed of the filters.
        device: where the filters live (default: :func:`nstlib.config.default_device`).

    Example::

        net = MultiScaleTextures()
        feats = net(img, ["k3", "k55"])  # {"k3": (1, 32, H, W), "k55": (1, 32, H, W)}
    """

    mean: Tensor
    std: Tensor

    def __init__(
        self, scales: Sequence[int] = SCALES, maps: int = MAPS, seed: int = 0, device: str | torch.device | None = None
    ) -> None:
        super().__init__()
        from .config import default_device

        if not scales or any(int(k) != k or k < 1 or k % 2 == 0 for k in scales):
            raise ValueError(f"scales must be odd filter sizes in px such as (3, 5, 7), got {tuple(scales)!r}")
        self.scales = tuple(int(k) for k in scales)
        self.layer_names: tuple[str, ...] = tuple(f"k{k}" for k in self.scales)
        gen = torch.Generator().manual_seed(seed)
        calib = (_pink(64, gen) - torch.tensor(_MEAN).view(1, 3, 1, 1)) / torch.tensor(_STD).view(1, 3, 1, 1)
        for k in self.scales:
            w = torch.randn(maps, 3, k, k, generator=gen) / math.sqrt(3 * k * k)  # (N, 3, k, k)
            pre = F.conv2d(F.pad(calib, (k // 2,) * 4, mode="circular"), w)  # (1, N, 64, 64)
            mu, sigma = pre.mean(dim=(0, 2, 3)), pre.std(dim=(0, 2, 3)).clamp_min(1e-6)  # (N,)
            w, b = w / sigma.view(-1, 1, 1, 1), -mu / sigma  # standardised: mean 0, spread 1 on 1/f noise
            mean = F.relu(pre / sigma.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)).mean(dim=(0, 2, 3))
            scale = 1.0 / mean.clamp_min(1e-3)  # Gatys' normalisation: mean activation 1
            self.register_buffer(f"weight_k{k}", w * scale.view(-1, 1, 1, 1))
            self.register_buffer(f"bias_k{k}", b * scale)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))
        device = default_device(device)
        self.to(device)
        self.device = device
        self.weights_source = f"random multi-scale filters (seed {seed})"
        self.precision = "fp32"
        self.channels_last = False
        self.normalized = True
        self.is_random = True
        self._spectra: dict[tuple, Tensor] = {}  # (layers, H, W) -> filter spectra

    def check_layers(self, layers: Iterable[str] | str) -> list[str]:
        """Validate layer names; unknown names get an error listing the valid ones."""
        layers = [layers] if isinstance(layers, str) else list(layers)
        bad = [name for name in layers if name not in self.layer_names]
        if bad:
            raise ValueError(
                f"unknown layer name(s) {bad} of the multi-scale texture model; valid names are: "
                f"{', '.join(self.layer_names)} (filter sizes in px)"
            )
        return layers

    def check_size(self, height: int, width: int, layers: Sequence[str]) -> None:
        """Raise a ValueError naming the largest filter if it does not fit into the image."""
        if not layers:
            return
        need = self.min_size(layers)
        if min(height, width) < need:
            raise ValueError(
                f"image of {height}x{width} px is too small for layer k{need} ({need} px filters); "
                f"use an image of at least {need} px or the layers {layers_for(height, width, self.scales)}"
            )

    @staticmethod
    def layer_shape(layer: str, height: int, width: int) -> tuple[int, int]:
        """Spatial size of ``layer``'s maps: the input's (one convolution, circular, no pooling)."""
        return height, width

    def min_size(self, layers: Iterable[str]) -> int:
        """Smallest image side (px) that holds every requested filter."""
        return max(int(name[1:]) for name in layers)

    def _spectrum(self, names: tuple[str, ...], H: int, W: int) -> Tensor:
        """rfft2 of the requested filters, centred on pixel (0, 0), stacked: (N_total, 3, H, W//2+1)."""
        key = (names, H, W)
        if key not in self._spectra:
            parts = []
            for name in names:
                k = int(name[1:])
                w = getattr(self, f"weight_{name}")  # (N, 3, k, k)
                padded = torch.roll(F.pad(w, (0, W - k, 0, H - k)), shifts=(-(k // 2), -(k // 2)), dims=(2, 3))
                parts.append(torch.fft.rfft2(padded).conj())  # conj: conv2d is a cross-correlation
            self._spectra = {key: torch.cat(parts)}  # keep only the latest size (memory)
        return self._spectra[key]

    def forward(self, x: Tensor, layers: Sequence[str] | str, *, fast_layout: bool = False) -> dict[str, Tensor]:
        """ReLU(filters * x) at ``layers``: ``{"k<size>": (B, N, H, W)}`` (same size as ``x``, circular)."""
        layers = self.check_layers(layers)
        if not layers:
            return {}
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(x.shape)}")
        H, W = int(x.shape[-2]), int(x.shape[-1])
        self.check_size(H, W, layers)
        x = (x.to(self.mean.device, torch.float32) - self.mean) / self.std  # (B, 3, H, W)
        X = torch.fft.rfft2(x)  # (B, 3, H, W//2+1)
        S = self._spectrum(tuple(layers), H, W)  # (N_total, 3, H, W//2+1)
        Y = X[:, None, 0] * S[None, :, 0] + X[:, None, 1] * S[None, :, 1] + X[:, None, 2] * S[None, :, 2]
        bias = torch.cat([getattr(self, f"bias_{name}") for name in layers])  # (N_total,)
        pre = torch.fft.irfft2(Y, s=(H, W)) + bias.view(1, -1, 1, 1)  # (B, N_total, H, W)
        maps = F.relu(pre).split([getattr(self, f"bias_{name}").numel() for name in layers], dim=1)
        return dict(zip(layers, maps))

    def extra_repr(self) -> str:
        return f"scales={self.scales}, maps={getattr(self, f'weight_k{self.scales[0]}').shape[0]}"
