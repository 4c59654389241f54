"""VGG-19 (or VGG-16) as a feature extractor with Gatys' layer names (the encoder stage of the pipeline).

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", 2014.
Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016.

Every layer of ``torchvision.models.vgg19().features`` gets the name the papers use::

    conv1_1 relu1_1 conv1_2 relu1_2 pool1 conv2_1 ... conv5_4 relu5_4 pool5

``convX_Y`` is the convolution's output *before* its ReLU, ``reluX_Y`` the same map after it.
ImageNet mean/std normalisation is the first step inside :class:`VGG19Features`, so callers pass
plain ``[0, 1]`` RGB images. One forward pass returns every requested layer and stops after the
deepest one. Convolutions keep a map's size (3x3, padding 1); each pooling halves it, rounding
up as Caffe does (:func:`layer_shape`).

Pooling rounds up (``ceil_mode=True``): the VGG networks were trained in Caffe, whose pooling keeps
the last row and column of an odd-sized map in a partial window, and Gatys et al. ran them there.
torchvision's VGG rounds down and drops them, so on an image whose sides are not a multiple of 16
its last rows and columns reach the deep layers only through the kernels' edges (on an 85 x 128
image they move relu5_1 about half as hard as the first rows), and a transfer paints them mostly
with the shallow layers' pull (a bright strip along the edge). On sides that are multiples of 32
both give the same maps, to the bit.

Weights (argument ``weights`` or ``$NSTLIB_WEIGHTS``; details in :mod:`nstlib.weights`):
``"imagenet"`` (torchvision's, downloaded once), ``"imagenet-vgg16"`` (torchvision's VGG-16), a
path to a torchvision VGG-19 or VGG-16 state dict, ``"random"`` (seeded, rescaled as Gatys et al.
did so activations neither vanish nor explode), or ``"auto"`` (ImageNet when available, else random
with a warning). The architecture follows the weights: a state dict with 13 convolutions is a
VGG-16 (Simonyan & Zisserman's configuration D: no conv3_4, conv4_4, conv5_4), one with 16 a VGG-19
(configuration E). Every other layer has the same name, shape and place in both.

Speed: the encoder can compute in channels-last memory and run the backward pass of its
convolutions in bfloat16 (``precision``); that machinery lives in :mod:`nstlib.speed` and changes
no feature value.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import speed
from .weights import arch_of, fetch_state, init_random_, load_torchvision_state_dict_, resolve_weights

__all__ = [
    "VGG19Features",
    "LAYER_NAMES",
    "vgg_layer_names",
    "VGG_CONFIGS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "pool_count",
    "layer_shape",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Channel counts per block ("M" = 2x2 max pool), as in torchvision's VGG configurations.
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def vgg_layer_names(arch: str = "vgg19") -> list[str]:
    """Gatys-style names of ``torchvision.models.<arch>().features``, in order.

    >>> vgg_layer_names()[:5]
    ['conv1_1', 'relu1_1', 'conv1_2', 'relu1_2', 'pool1']
    >>> len(vgg_layer_names("vgg19")), len(vgg_layer_names("vgg16"))
    (37, 31)
    """
    if arch not in VGG_CONFIGS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {sorted(VGG_CONFIGS)}")
    names, block, idx = [], 1, 1
    for v in VGG_CONFIGS[arch]:
        if v == "M":
            names.append(f"pool{block}")
            block, idx = block + 1, 1
        else:
            names += [f"conv{block}_{idx}", f"relu{block}_{idx}"]
            idx += 1
    return names


LAYER_NAMES: tuple[str, ...] = tuple(vgg_layer_names("vgg19"))


def pool_count(layer: str) -> int:
    """How many 2x2 poolings an image passes on its way to ``layer`` (its own included): the same in
    VGG-16 and VGG-19, read from the name (block B starts after B - 1 poolings).

    >>> pool_count("conv1_1"), pool_count("pool1"), pool_count("conv4_2"), pool_count("pool5")
    (0, 1, 3, 5)
    """
    if layer not in LAYER_NAMES:
        raise ValueError(f"unknown VGG layer name {layer!r}; valid names are: {', '.join(LAYER_NAMES)}")
    block = int(layer[4])  # "pool3", "conv4_2", "relu4_2": the block number follows the 4-letter prefix
    return block if layer.startswith("pool") else block - 1


def layer_shape(layer: str, height: int, width: int) -> tuple[int, int]:
    """Spatial size (H_l, W_l) of ``layer``'s feature map for an input of ``height`` x ``width``.

    Convolutions keep the size (3x3, padding 1); each 2x2 pooling halves it, rounding up (Caffe's
    ``ceil`` mode: a partial window covers the last row or column of an odd-sized map).

    >>> layer_shape("conv4_2", 256, 200), layer_shape("conv4_2", 128, 85)
    ((32, 25), (16, 11))
    """
    for _ in range(pool_count(layer)):
        height, width = -(-height // 2), -(-width // 2)  # ceil(h / 2)
    return height, width


def _build(pooling: str, arch: str = "vgg19") -> nn.Sequential:
    """VGG-19's 37 layers (VGG-16's 31) in torchvision's order, each under its Gatys name."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_ch = 3
    names = iter(vgg_layer_names(arch))
    for v in VGG_CONFIGS[arch]:
        if v == "M":
            # ceil_mode: Caffe's rounding, so every pixel reaches every layer (module docstring);
            # an average over a partial window divides by the pixels it covers
            pool = nn.MaxPool2d(2, 2, ceil_mode=True) if pooling == "max" else nn.AvgPool2d(2, 2, ceil_mode=True)
            layers[next(names)] = pool
        else:
            layers[next(names)] = nn.Conv2d(in_ch, int(v), kernel_size=3, padding=1)
            layers[next(names)] = nn.ReLU(inplace=True)
            in_ch = int(v)
    return nn.Sequential(layers)


class VGG19Features(nn.Module):
    """VGG-19's (or VGG-16's) convolutional part with named layers; frozen; input normalisation inside.

    Args:
        weights: ``"auto"`` (default), ``"imagenet"``, ``"imagenet-vgg16"``, ``"random"`` or a path
            to a torchvision VGG-19 or VGG-16 state dict. The architecture follows the weights
            (:attr:`arch`): 13 convolutions make a VGG-16.
        pooling: ``"max"`` (torchvision) or ``"avg"`` (Gatys et al. 2016 report that average
            pooling gives slightly more appealing results); either rounds odd sizes up, as Caffe.
        precision: ``"auto"`` runs the backward pass of the convolutions in bfloat16 on CPUs
            with native bf16 (AMX / AVX512-BF16) and everything in float32 elsewhere; ``"fp32"`` or
            ``"bf16"`` force it. The forward pass, and so every feature map and loss value, is always
            float32 (see :class:`nstlib.speed.Bf16BackwardConv` for why).
        device: where the weights live (default: :func:`nstlib.config.default_device`).
        seed: seed of the random weights (``weights="random"`` only).
        leak: shape of the random weights (``weights="random"`` only): 0 = a plain random ReLU
            network, 0.4 = the one reconstructions use (:func:`nstlib.weights.init_random_`).
        normalize: apply Gatys' normalisation (each filter's mean activation over the calibration
            photos becomes 1; :mod:`nstlib.calibration`).
        arch: ``"vgg19"`` or ``"vgg16"`` for random weights (default VGG-19); a file or
            ``"imagenet-vgg16"`` decides it, and a different ``arch`` is an error.

    Speed (:mod:`nstlib.speed`): on CPUs the maps are computed in channels-last memory layout
    (attribute :attr:`channels_last`). In bf16 mode the convs in :attr:`fp32_convs` (default
    ``{"conv1_1"}``: 3 input channels, <1% of the work) stay float32 so that the gradient reaching
    the pixels themselves is not rounded to bf16's 8 significant bits.

    Example::

        enc = VGG19Features(weights="random")
        feats = enc(img, ["conv4_2", "relu1_1"])  # {"conv4_2": (1, 512, H/8, W/8), ...}
    """

    layer_names: tuple[str, ...] = LAYER_NAMES  # VGG-16's are set per instance
    mean: Tensor  # (1, 3, 1, 1) buffers: ImageNet statistics
    std: Tensor

    def __init__(
        self,
        weights: str | os.PathLike = "auto",
        pooling: str = "max",
        precision: str = "auto",
        device: str | torch.device | None = None,
        seed: int = 0,
        normalize: bool = True,
        leak: float = 0.0,
        arch: str | None = None,
    ) -> None:
        super().__init__()
        from .config import default_device

        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
        if arch not in (None, *VGG_CONFIGS):
            raise ValueError(f"arch must be None, 'vgg16' or 'vgg19', got {arch!r}")
        self.pooling = pooling
        state, source = fetch_state(resolve_weights(weights))
        found = arch_of(state) if state is not None else None
        if found is not None and arch is not None and found != arch:
            raise ValueError(f"weights {source!r} are a {found} network, but arch={arch!r} was asked for")
        #: "vgg19" or "vgg16": what the weights are (random weights: ``arch``, default VGG-19)
        self.arch: str = found or arch or "vgg19"
        self.layer_names = tuple(vgg_layer_names(self.arch))
        self.features = _build(pooling, self.arch)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        #: True when the filters are random: decided here, once, from what was loaded (not from a name)
        self._random = state is None
        if state is None:
            init_random_(self.features, seed, leak=leak)
            detail = f"seed {seed}" + (f", leak {leak:g}" if leak else "") + source[len("random") :]
            source = f"random ({detail})"
        else:
            load_torchvision_state_dict_(self.features, state, source)
        #: "imagenet", "imagenet-vgg16", "random (seed 0)", a file path, ...
        self.weights_source = source
        #: True when Gatys' normalisation was applied (see :mod:`nstlib.calibration`)
        self.normalized = False
        #: seconds the calibration pass took (0 when the means came from the cache or normalize=False)
        self.calibration_seconds = 0.0
        #: filters that never activate on the calibration images, e.g. ["conv5_3 filter 17"]
        self.dead_filters: list[str] = []
        #: filters active on fewer than ~1 % of the calibration positions (see nstlib.calibration.filter_scales)
        self.sparse_filters: list[str] = []
        if normalize:
            self._normalize()
        self.requires_grad_(False)
        self.eval()
        device = default_device(device)
        self.to(device)
        self.device = device
        # speed settings (nstlib.speed); none of them changes a feature value
        self.precision = speed.auto_precision(device) if precision == "auto" else precision
        self._bf16_filters = speed.Bf16FilterCache()
        #: convolutions kept in float32 when ``precision == "bf16"`` (see the class docstring)
        self.fp32_convs: frozenset[str] = frozenset({"conv1_1"})
        self.channels_last = device.type == "cpu" or self.precision == "bf16"

    @property
    def channels_last(self) -> bool:
        """Compute in channels-last memory layout (default: on CPUs, and with bf16 on GPUs).

        Setting it also stores the filters in that layout (:func:`nstlib.speed.set_channels_last`).
        """
        return self._channels_last

    @channels_last.setter
    def channels_last(self, value: bool) -> None:
        self._channels_last = bool(value)
        speed.set_channels_last(self.features, self._channels_last)
        self._bf16_filters.clear()

    # ------------------------------------------------------------------ weights
    def _normalize(self) -> None:
        """Gatys' normalisation: each filter's mean activation over the calibration photos becomes 1."""
        from .calibration import cached_stats, normalize_

        stats, self.calibration_seconds = cached_stats(self.features, self.pooling, self.mean, self.std)
        # nstlib's own random recipe is not the user's file: its few odd filters are not worth a warning
        self.dead_filters, self.sparse_filters = normalize_(
            self.features, stats, warn=not self.is_random, source=f"{self.arch_name} weights {self.weights_source!r}"
        )
        self.normalized = True

    @property
    def is_random(self) -> bool:
        """True when the network carries random (untrained) filters: nothing was loaded."""
        return self._random

    @property
    def arch_name(self) -> str:
        """ "VGG-19" or "VGG-16" (for messages and figure labels)."""
        return "VGG-16" if self.arch == "vgg16" else "VGG-19"

    def load_torchvision_state_dict(self, state: object, source: str = "state dict") -> None:
        """Copy the conv filters of a torchvision state dict of this architecture (full model or ``.features``)."""
        load_torchvision_state_dict_(self.features, state, source)

    # ------------------------------------------------------------------ forward
    def check_layers(self, layers: Iterable[str]) -> list[str]:
        """Validate layer names; return them as a list. Unknown names get an error listing valid ones."""
        if isinstance(layers, str):
            layers = [layers]
        layers = list(layers)
        bad = [name for name in layers if name not in self.layer_names]
        if bad:
            raise ValueError(
                f"unknown {self.arch_name} layer name(s) {bad}; valid names are: {', '.join(self.layer_names)}"
            )
        return layers

    def check_size(self, height: int, width: int, layers: Sequence[str]) -> None:
        """Raise a ValueError naming the deepest layer and the minimum size if the image is too small."""
        if not layers:
            return
        need = self.min_size(layers)
        if min(height, width) < need:
            deepest = max(layers, key=pool_count)
            raise ValueError(
                f"image of {height}x{width} px is too small for layer {deepest}: it needs at least "
                f"{need}x{need} px (each pooling halves the map). Use a larger image or size."
            )

    def min_size(self, layers: Iterable[str]) -> int:
        """Smallest image side (px) for which every layer in ``layers`` has at least a 1x1 map.

        >>> VGG19Features.min_size(VGG19Features, ["conv1_1"]), VGG19Features.min_size(VGG19Features, ["pool5"])
        (1, 32)
        """
        return 2 ** max(pool_count(name) for name in layers)

    def _conv(self, name: str, conv: nn.Conv2d, x: Tensor) -> Tensor:
        """``conv(x)`` in float32; in bf16 mode its backward pass runs in bfloat16 (nstlib.speed)."""
        if self.precision == "bf16" and name not in self.fp32_convs:
            return speed.bf16_backward_conv(x, name, conv, self._bf16_filters)
        return conv(x.float())

    def forward(self, x: Tensor, layers: Sequence[str] | str, *, fast_layout: bool = False) -> dict[str, Tensor]:
        """Features of ``x`` at ``layers``, computed in one pass that stops after the deepest one.

        Args:
            x: (B, 3, H, W) RGB images in [0, 1].
            layers: names such as ``["conv4_2", "relu1_1"]`` (see :data:`LAYER_NAMES`).
            fast_layout: return the maps in the layout they were computed in (channels-last on
                CPUs) instead of contiguous NCHW; saves a copy per layer and per backward pass.
                The losses accept both; ``.view`` on channels-last maps fails, so the default
                gives plain contiguous tensors.

        Returns:
            ``{name: (B, C_l, H_l, W_l) float32 tensor}`` in the order of ``layers``.
        """
        layers = self.check_layers(layers)
        if not layers:
            return {}
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(x.shape)}")
        self.check_size(x.shape[-2], x.shape[-1], layers)
        wanted = set(layers)
        deepest = max(self.layer_names.index(name) for name in layers)
        x = (x.to(self.mean.device, torch.float32) - self.mean) / self.std  # (B, 3, H, W)
        x = speed.to_layout(x, self.channels_last)  # same values, maybe another order in memory
        out: dict[str, Tensor] = {}
        for idx, (name, module) in enumerate(self.features.named_children()):
            if isinstance(module, nn.ReLU):
                # A requested convX_Y keeps its pre-ReLU values: ReLU out of place there.
                x = F.relu(x, inplace=f"conv{name[4:]}" not in wanted)
            elif isinstance(module, nn.Conv2d):
                x = self._conv(name, module, x)  # (B, C_l, H_l, W_l)
            else:
                x = module(x)  # pooling: (B, C, H/2, W/2)
            if name in wanted:
                out[name] = x
            if idx == deepest:
                break
        fmt = torch.preserve_format if fast_layout else torch.contiguous_format
        return {name: out[name].to(torch.float32, memory_format=fmt) for name in layers}

    def extra_repr(self) -> str:
        return (
            f"arch={self.arch!r}, weights={self.weights_source!r}, pooling={self.pooling!r}, "
            f"precision={self.precision!r}, "
            f"normalized={self.normalized}"
        )
