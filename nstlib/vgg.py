"""VGG-19 as a feature extractor with Gatys' layer names (the encoder stage of the pipeline).

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", 2014.
Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016.

Every layer of ``torchvision.models.vgg19().features`` gets the name the papers use::

    conv1_1 relu1_1 conv1_2 relu1_2 pool1 conv2_1 ... conv5_4 relu5_4 pool5

``convX_Y`` is the convolution's output *before* its ReLU, ``reluX_Y`` the same map after it.
ImageNet mean/std normalisation is the first step inside :class:`VGG19Features`, so callers pass
plain ``[0, 1]`` RGB images. One forward pass returns every requested layer and stops after the
deepest one.

Weights (argument ``weights`` or the ``NSTLIB_WEIGHTS`` environment variable):

- ``"imagenet"``: torchvision's ``VGG19_Weights.IMAGENET1K_V1``, downloaded once into torch's cache.
- a path to a torchvision-format VGG-19 state dict, loaded with ``torch.load(weights_only=True)``.
- ``"random"``: seeded random filters, rescaled as Gatys et al. did for their network so that every
  filter's mean (post-ReLU) activation over an image is 1; activations then neither vanish nor
  explode through the 16 convolutions. Such a network shows the *mechanics* of style transfer, not
  what a trained network sees.
- ``"auto"``: ``$NSTLIB_WEIGHTS`` if set, else ImageNet weights when cached or downloadable within
  a few seconds, else random weights with a warning that says how to get the real ones.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "VGG19Features",
    "LAYER_NAMES",
    "vgg_layer_names",
    "VGG_CONFIGS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "native_bf16",
    "WeightsError",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Channel counts per block ("M" = 2x2 max pool), as in torchvision's VGG configurations.
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}

# torchvision's VGG19_Weights.IMAGENET1K_V1.url, written out so that `import nstlib` does not import
# torchvision.models (~1.5 s); the download asks torchvision's weights API (_imagenet_url). Tests and
# mirrors may point IMAGENET_URL elsewhere; its file name carries the sha256 prefix (<arch>-<prefix>.pth).
IMAGENET_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
_TORCHVISION_URL = IMAGENET_URL


class WeightsError(ValueError):
    """A weights argument or file that cannot be used as VGG-19 weights."""


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


def native_bf16(device: torch.device | str) -> bool:
    """True when ``device`` multiplies bfloat16 matrices in hardware (AMX/AVX512-BF16 CPUs, Ampere+ GPUs).

    Only then is bf16 autocast faster than float32; elsewhere it is emulated and slower.
    """
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        try:  # pre-Ampere GPUs emulate bf16 (slowly); recent torch can tell
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # pragma: no cover - torch < 2.3
            return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    # oneDNN *emulates* bf16 on plain AVX-512 (there it is ~4x slower than float32): require
    # hardware bf16 (AMX tiles or AVX512-BF16).
    cpu = torch.cpu
    for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(cpu, probe, None)
        try:
            if check is not None and check():
                return True
        except RuntimeError:  # pragma: no cover
            pass
    return False


def _build(pooling: str) -> nn.Sequential:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    in_ch = 3
    names = iter(LAYER_NAMES)
    for v in VGG_CONFIGS["vgg19"]:
        if v == "M":
            pool = nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2)
            layers[next(names)] = pool
        else:
            layers[next(names)] = nn.Conv2d(in_ch, int(v), kernel_size=3, padding=1)
            layers[next(names)] = nn.ReLU(inplace=True)
            in_ch = int(v)
    return nn.Sequential(layers)


def _resolve_weights(weights: str | os.PathLike) -> str | Path:
    if isinstance(weights, os.PathLike):
        return Path(weights)
    if not isinstance(weights, str):
        raise WeightsError(
            f"weights must be 'auto', 'imagenet', 'random' or a path to a VGG-19 state dict, got {weights!r}"
        )
    if weights == "auto":
        env = os.environ.get("NSTLIB_WEIGHTS", "").strip()
        if env and env != "auto":
            return _resolve_weights(env)
        return "auto"
    if weights in ("imagenet", "random"):
        return weights
    path = Path(weights).expanduser()
    if path.suffix or os.sep in weights or path.exists():
        return path
    raise WeightsError(
        f"unknown weights {weights!r}: use 'auto', 'imagenet', 'random' or a path to a VGG-19 state dict (.pth)"
    )


def _imagenet_url() -> str:
    """The checkpoint's URL: torchvision's ``VGG19_Weights.IMAGENET1K_V1.url``, or ``IMAGENET_URL`` where
    that was pointed elsewhere (tests' loopback server, a mirror)."""
    if IMAGENET_URL != _TORCHVISION_URL:
        return IMAGENET_URL
    from torchvision.models import VGG19_Weights  # imported here: ~1.5 s, only when weights are fetched

    return VGG19_Weights.IMAGENET1K_V1.url


def _imagenet_cache_file() -> Path:
    """Where torchvision's weights API keeps the checkpoint: ``torch.hub.get_dir()/checkpoints/<file name>``
    (``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``), as ``VGG19_Weights.IMAGENET1K_V1.get_state_dict()``."""
    name = os.path.basename(urllib.parse.urlparse(_imagenet_url()).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def _download_imagenet(timeout: float) -> Path:
    """Download torchvision's VGG-19 checkpoint into torch's hub cache (if it is not there yet).

    The download is torchvision's: ``torch.hub.download_url_to_file`` with a progress bar on stderr and
    the sha256 prefix of the file name checked (``check_hash=True`` in torchvision's weights API). It
    writes a temporary ``.partial`` file next to the target and renames it only when complete and
    verified, so a failure leaves no file behind. torch.hub has no timeout of its own: the socket
    timeout is ``timeout`` seconds (per connect and per read) during the download, then restored.

    Raises:
        OSError: offline, HTTP errors, timeouts (``weights='auto'`` falls back to random weights).
        WeightsError: the downloaded file's sha256 does not match (the file is deleted).
    """
    target = _imagenet_cache_file()
    if target.exists():
        return target
    url = _imagenet_url()
    target.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(target.name)  # torchvision names files <arch>-<sha256 prefix>.pth
    prefix = match.group(1) if match else None
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        torch.hub.download_url_to_file(url, str(target), hash_prefix=prefix, progress=True)
    except RuntimeError as err:  # torch.hub's hash check: 'invalid hash value (expected ..., got ...)'
        raise WeightsError(
            f"downloaded {url} but its sha256 does not start with {prefix} ({err}): the download is "
            f"corrupt or was altered, and was deleted. Try again, or copy a good vgg19-dcbb9e9d.pth into "
            f"{target.parent} or set NSTLIB_WEIGHTS=/path/to/vgg19.pth."
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
    return target


def _torchvision_keys() -> list[tuple[str, str]]:
    """(torchvision index key, our name) pairs for every conv parameter, e.g. ('0.weight', 'conv1_1.weight')."""
    pairs = []
    for i, name in enumerate(LAYER_NAMES):
        if name.startswith("conv"):
            pairs += [(f"{i}.weight", f"{name}.weight"), (f"{i}.bias", f"{name}.bias")]
    return pairs


def _pink_noise(size: int, gen: torch.Generator) -> Tensor:
    """(1, 3, size, size) noise in [0, 1] with a 1/f amplitude spectrum, like natural images."""
    fy = torch.fft.fftfreq(size).view(-1, 1)
    fx = torch.fft.rfftfreq(size).view(1, -1)
    amp = 1.0 / torch.sqrt(fx**2 + fy**2).clamp_min(1.0 / size)  # (size, size // 2 + 1)
    phase = torch.rand(3, size, size // 2 + 1, generator=gen) * 2 * torch.pi
    img = torch.fft.irfft2(amp * torch.exp(1j * phase), s=(size, size))  # (3, size, size)
    img = (img - img.mean()) / (4 * img.std()) + 0.5
    return img.clamp(0, 1).unsqueeze(0)


class _Bf16BackwardConv(torch.autograd.Function):
    """A VGG 3x3 convolution (padding 1) whose forward runs in float32 and whose backward runs in bf16.

    Why not bf16 in both directions: rounding the *forward* maps to bf16 moves max-pooling's argmax
    and ReLU's mask, and the input gradient of a style loss at conv5_1 then differs from float32's
    by ~40 % (measured on VGG-19, 128 px); after 160 L-BFGS evaluations the paper configuration
    ended 12-22 % above the float32 loss. The *backward* in bf16 (grad_output and filters rounded,
    products accumulated in float32 by oneDNN) changes that gradient by < 1 %. The backward is half
    of the work, so on hardware with native bf16 this buys up to 2x on it at float32's accuracy.
    Filters are frozen: no gradient for them.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, weight_bf16: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(weight_bf16)
        ctx.input_shape = x.shape
        return F.conv2d(x, weight, bias, padding=1)  # (B, C_out, H, W), float32

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        (weight_bf16,) = ctx.saved_tensors
        g = torch.nn.grad.conv2d_input(ctx.input_shape, weight_bf16, grad_out.to(torch.bfloat16), padding=1)
        return g.float(), None, None, None  # (B, C_in, H, W)


class VGG19Features(nn.Module):
    """VGG-19's convolutional part with named layers; frozen; input normalisation inside.

    Args:
        weights: ``"auto"`` (default), ``"imagenet"``, ``"random"`` or a path to a state dict.
        pooling: ``"max"`` (torchvision) or ``"avg"`` (Gatys et al. 2016 report that average
            pooling gives slightly more appealing results).
        precision: ``"auto"`` runs the backward pass of the convolutions in bfloat16 on CPUs
            with native bf16 (AMX / AVX512-BF16) and everything in float32 elsewhere (on GPUs the
            bf16 backward was measured slower); ``"fp32"`` or ``"bf16"`` force it. The forward pass, and so every feature
            map and loss value, is always float32 (see :class:`_Bf16BackwardConv` for why).
        device: where the weights live (default: :func:`nstlib.config.default_device`).
        seed: seed of the random weights (``weights="random"`` only).

    Speed (measurements in ``docs/performance.md``): on CPUs the maps are computed in channels-last
    memory layout, oneDNN's native one (attribute :attr:`channels_last`; the filters are stored in
    it too). In bf16 mode the bf16 filters are cast once and cached, not at every call, and the convs
    in :attr:`fp32_convs` (default ``{"conv1_1"}``: 3 input channels, <1% of the work) stay float32
    so that the gradient reaching the pixels themselves is not rounded to bf16's 8 significant bits.

    Example::

        enc = VGG19Features(weights="random")
        feats = enc(img, ["conv4_2", "relu1_1"])  # {"conv4_2": (1, 512, H/8, W/8), ...}
    """

    layer_names: tuple[str, ...] = LAYER_NAMES

    def __init__(
        self,
        weights: str | os.PathLike = "auto",
        pooling: str = "max",
        precision: str = "auto",
        device: str | torch.device | None = None,
        seed: int = 0,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        from .config import default_device

        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        if precision not in ("auto", "fp32", "bf16"):
            raise ValueError(f"precision must be 'auto', 'fp32' or 'bf16', got {precision!r}")
        self.pooling = pooling
        self.features = _build(pooling)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.weights_source = self._load_weights(_resolve_weights(weights), seed)
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
        if precision == "auto":
            # bf16 backward only on CPUs with native bf16 (AMX / AVX512-BF16). On an H200 (torch 2.11,
            # 512 px, paper configuration) it was measured slower than float32: 7.5 vs 5.1 ms per
            # loss + gradient evaluation (docs/performance.md), so GPUs stay in float32.
            precision = "bf16" if device.type == "cpu" and native_bf16(device) else "fp32"
        self.precision = precision
        self._bf16_cache: dict[str, tuple[tuple[int, int, torch.device], Tensor]] = {}
        #: convolutions kept in float32 when ``precision == "bf16"`` (see the class docstring)
        self.fp32_convs: frozenset[str] = frozenset({"conv1_1"})
        self.channels_last = device.type == "cpu" or precision == "bf16"

    @property
    def channels_last(self) -> bool:
        """Compute in channels-last memory layout (default: on CPUs, and with bf16 on GPUs).

        Setting it also stores the filters in that layout: a convolution would otherwise convert
        them at every call (measured: ~5% of a forward+backward pass at 256 px).
        """
        return self._channels_last

    @channels_last.setter
    def channels_last(self, value: bool) -> None:
        self._channels_last = bool(value)
        self.features.to(memory_format=torch.channels_last if value else torch.contiguous_format)
        self._bf16_cache.clear()

    # ------------------------------------------------------------------ weights
    def _normalize(self) -> None:
        """Gatys' normalisation: each filter's mean activation over the calibration photos becomes 1."""
        from .calibration import cached_stats, normalize_

        stats, self.calibration_seconds = cached_stats(self.features, self.pooling, self.mean, self.std)
        # nstlib's own random recipe is not the user's file: its few odd filters are not worth a warning
        self.dead_filters, self.sparse_filters = normalize_(self.features, stats, warn=not self.is_random,
                                                            source=f"VGG-19 weights {self.weights_source!r}")
        self.normalized = True

    @property
    def is_random(self) -> bool:
        """True when the network carries random (untrained) filters."""
        return self.weights_source.startswith("random")

    def _load_weights(self, weights: str | Path, seed: int) -> str:
        if weights == "auto":
            try:
                path = _download_imagenet(timeout=float(os.environ.get("NSTLIB_DOWNLOAD_TIMEOUT", "5")))
            except (OSError, WeightsError) as err:
                warnings.warn(
                    "nstlib: pretrained VGG-19 weights are not available "
                    f"({type(err).__name__}: {err}); using RANDOM weights instead. Results show the "
                    "mechanics of style transfer, not what a trained network sees. To get the real "
                    "weights, run once with internet access: "
                    "python -c \"import nstlib; nstlib.VGG19Features(weights='imagenet')\" "
                    "or copy vgg19-dcbb9e9d.pth into "
                    f"{_imagenet_cache_file().parent} or set NSTLIB_WEIGHTS=/path/to/vgg19.pth.",
                    stacklevel=3,
                )
                self._init_random(seed)
                return f"random (seed {seed}; imagenet unavailable)"
            self._load_state_file(path)
            return "imagenet"
        if weights == "imagenet":
            self._load_state_file(_download_imagenet(timeout=60.0))
            return "imagenet"
        if weights == "random":
            self._init_random(seed)
            return f"random (seed {seed})"
        self._load_state_file(Path(weights))
        return str(weights)

    def _load_state_file(self, path: Path) -> None:
        if not path.is_file():
            raise WeightsError(
                f"weights file {str(path)!r} does not exist (or is not a file); pass an existing "
                "torchvision VGG-19 state dict, or weights='imagenet' / 'random'"
            )
        try:
            try:  # memory-mapped: the classifier's ~480 MB of a full checkpoint is never read into RAM
                state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:  # legacy (pre-zipfile) checkpoints cannot be memory-mapped
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - torch raises many kinds here
            raise WeightsError(
                f"could not read weights file {str(path)!r} as a PyTorch state dict "
                f"({type(err).__name__}: {err}); expected the file torchvision's vgg19().state_dict() saves"
            ) from None
        self.load_torchvision_state_dict(state, source=str(path))

    def load_torchvision_state_dict(self, state: object, source: str = "state dict") -> None:
        """Copy the conv filters of a torchvision VGG-19 state dict (full model or ``.features``)."""
        if not isinstance(state, dict):
            raise WeightsError(f"{source}: expected a dict of tensors (a state dict), got {type(state).__name__}")
        if any(k.startswith("features.") for k in state):
            state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        own = self.features.state_dict()
        new = {}
        for tv_key, our_key in _torchvision_keys():
            if tv_key not in state:
                raise WeightsError(
                    f"{source} is not a VGG-19 state dict: key 'features.{tv_key}' ({our_key}) is missing. "
                    "Expected torchvision.models.vgg19().state_dict() (keys 'features.0.weight' ... "
                    "'features.34.bias')."
                )
            tensor = state[tv_key]
            if not isinstance(tensor, Tensor) or tensor.shape != own[our_key].shape:
                got = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
                raise WeightsError(
                    f"{source} is not a VGG-19 state dict: 'features.{tv_key}' ({our_key}) has shape "
                    f"{got}, expected {tuple(own[our_key].shape)}"
                )
            if not bool(torch.isfinite(tensor).all()):
                raise WeightsError(f"{source}: 'features.{tv_key}' ({our_key}) contains NaN or inf values; "
                                   "the file is corrupt. Download or save it again.")
            new[our_key] = tensor.float()
        self.features.load_state_dict(new)

    @torch.no_grad()
    def _init_random(self, seed: int, size: int = 128) -> None:
        """Seeded random filters whose activations neither vanish nor explode through 16 convolutions.

        Layer by layer on a calibration image (seeded 1/f "pink" noise of ``size`` px, whose power
        spectrum falls off like that of natural photographs): Kaiming-normal filters; each filter is
        then standardised (bias -mu/sigma, weights / sigma, so its pre-activation has mean 0 and
        standard deviation 1: no filter is dead or dominant), and finally rescaled as Gatys et al.
        rescaled their network: the mean post-ReLU activation of every filter over the image is 1.
        Without the standardisation a few nearly-dead filters get huge gains and deep layers'
        Gram matrices differ from shallow ones by ~10 orders of magnitude.
        """
        gen = torch.Generator().manual_seed(seed)
        x = _pink_noise(size, gen)  # (1, 3, size, size) in [0, 1]
        x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                fan_in = module.in_channels * 9
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                module.bias.zero_()
                pre = module(x)  # (1, C, H, W)
                mu, sigma = pre.mean(dim=(0, 2, 3)), pre.std(dim=(0, 2, 3)).clamp_min(1e-6)  # (C,)
                module.weight.div_(sigma.view(-1, 1, 1, 1))
                module.bias.copy_(-mu / sigma)
                mean = F.relu(module(x)).mean(dim=(0, 2, 3))  # (C,), about 0.4 after standardising
                scale = 1.0 / mean.clamp_min(1e-3)
                module.weight.mul_(scale.view(-1, 1, 1, 1))
                module.bias.mul_(scale)
            x = module(x)

    # ------------------------------------------------------------------ forward
    def check_layers(self, layers: Iterable[str]) -> list[str]:
        """Validate layer names; return them as a list. Unknown names get an error listing valid ones."""
        if isinstance(layers, str):
            layers = [layers]
        layers = list(layers)
        bad = [name for name in layers if name not in self.layer_names]
        if bad:
            raise ValueError(
                f"unknown VGG-19 layer name(s) {bad}; valid names are: {', '.join(self.layer_names)}"
            )
        return layers

    def check_size(self, height: int, width: int, layers: Sequence[str]) -> None:
        """Raise a ValueError naming the deepest layer and the minimum size if the image is too small."""
        if not layers:
            return
        need = self.min_size(layers)
        if min(height, width) < need:
            deepest = max(layers, key=LAYER_NAMES.index)
            raise ValueError(
                f"image of {height}x{width} px is too small for layer {deepest}: it needs at least "
                f"{need}x{need} px (each pooling halves the map). Use a larger image or size."
            )

    def min_size(self, layers: Iterable[str]) -> int:
        """Smallest image side (px) for which every layer in ``layers`` has at least a 1x1 map.

        >>> VGG19Features.min_size(VGG19Features, ["conv1_1"]), VGG19Features.min_size(VGG19Features, ["pool5"])
        (1, 32)
        """
        deepest = max(LAYER_NAMES.index(name) for name in layers)
        pools = sum(1 for name in LAYER_NAMES[: deepest + 1] if name.startswith("pool"))
        return 2**pools

    def _bf16_weight(self, name: str, conv: nn.Conv2d) -> Tensor:
        """``conv``'s filters in bfloat16 (for the backward pass), cast once and cached until they change."""
        key = (conv.weight.data_ptr(), conv.weight._version, conv.weight.device)
        hit = self._bf16_cache.get(name)
        if hit is None or hit[0] != key:
            weight = conv.weight.detach().to(torch.bfloat16)
            if self.channels_last:
                weight = weight.contiguous(memory_format=torch.channels_last)
            hit = (key, weight)
            self._bf16_cache[name] = hit
        return hit[1]

    def forward(self, x: Tensor, layers: Sequence[str] | str, *, fast_layout: bool = False) -> dict[str, Tensor]:
        """Features of ``x`` at ``layers``, computed in one pass that stops after the deepest one.

        Args:
            x: (B, 3, H, W) RGB images in [0, 1].
            layers: names such as ``["conv4_2", "relu1_1"]`` (see :data:`LAYER_NAMES`).
            fast_layout: return the maps in the layout they were computed in (channels-last on
                CPUs) instead of contiguous NCHW; saves a copy per layer and per backward pass.
                :mod:`nstlib.losses` accepts both; ``.view`` on channels-last maps fails, so the
                default gives plain contiguous tensors.

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
        deepest_idx = max(LAYER_NAMES.index(name) for name in layers)
        bf16 = self.precision == "bf16"
        x = (x.to(self.mean.device, torch.float32) - self.mean) / self.std  # (B, 3, H, W)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out: dict[str, Tensor] = {}
        for idx, (name, module) in enumerate(self.features.named_children()):
            if isinstance(module, nn.ReLU):
                # A requested convX_Y keeps its pre-ReLU values: ReLU out of place there.
                x = F.relu(x, inplace=f"conv{name[4:]}" not in wanted)
            elif bf16 and isinstance(module, nn.Conv2d) and name not in self.fp32_convs:
                x = _Bf16BackwardConv.apply(x.float(), module.weight, module.bias, self._bf16_weight(name, module))
            elif isinstance(module, nn.Conv2d):
                x = module(x.float())
            else:
                x = module(x)
            if name in wanted:
                out[name] = x
            if idx == deepest_idx:
                break
        fmt = torch.preserve_format if fast_layout else torch.contiguous_format
        return {name: out[name].to(torch.float32, memory_format=fmt) for name in layers}

    def extra_repr(self) -> str:
        return (f"weights={self.weights_source!r}, pooling={self.pooling!r}, precision={self.precision!r}, "
                f"normalized={self.normalized}")
