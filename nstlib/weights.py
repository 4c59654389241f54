"""Where the VGG-19 filters come from: ImageNet download, a state-dict file, or seeded random filters.

The logistics behind :class:`nstlib.vgg.VGG19Features`'s ``weights`` argument (or the
``NSTLIB_WEIGHTS`` environment variable, read by :func:`nstlib.config.weights_setting`):

- ``"imagenet"``: torchvision's ``VGG19_Weights.IMAGENET1K_V1``, downloaded once into torch's cache
  (``$TORCH_HOME/hub/checkpoints``) with a progress bar and its sha256 prefix checked.
- a path to a torchvision-format VGG-19 state dict, loaded with ``torch.load(weights_only=True)``;
  torchvision's index keys (``features.0.weight``) map onto Gatys' names (``conv1_1.weight``).
- ``"random"``: seeded random filters in mirrored pairs (:func:`init_random_`; with a ``leak``
  even conv4_2 keeps enough of the image to reconstruct it), rescaled as Gatys et al. did for
  their network so that every filter's mean (post-ReLU) activation over an image is 1. Such a network
  shows the *mechanics* of style transfer, not what a trained network sees.
- ``"auto"``: ``$NSTLIB_WEIGHTS`` if set, else ImageNet weights when cached or downloadable within
  ``$NSTLIB_DOWNLOAD_TIMEOUT`` seconds (5), else random weights with a warning that says how to get
  the real ones.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import config

__all__ = [
    "WeightsError",
    "IMAGENET_URL",
    "resolve_weights",
    "fetch_state",
    "arch_of",
    "IMAGENET16_URL",
    "load_torchvision_state_dict_",
    "read_state_file",
    "download_imagenet",
    "imagenet_url",
    "imagenet_cache_file",
    "init_random_",
    "RECONSTRUCTION_LEAK",
]

# torchvision's VGG19_Weights.IMAGENET1K_V1.url, written out so that `import nstlib` does not import
# torchvision.models (~1.5 s); the download asks torchvision's weights API (imagenet_url). Tests and
# mirrors may point IMAGENET_URL elsewhere; its file name carries the sha256 prefix (<arch>-<prefix>.pth).
IMAGENET_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
#: torchvision's VGG16_Weights.IMAGENET1K_V1.url (``weights="imagenet-vgg16"``), pointed elsewhere like IMAGENET_URL
IMAGENET16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
_TORCHVISION_URLS = {"vgg19": IMAGENET_URL, "vgg16": IMAGENET16_URL}
#: how many 3x3 convolutions each architecture has: the number in a state dict decides which it is
CONV_COUNTS = {13: "vgg16", 16: "vgg19"}

# ImageNet statistics (the same as nstlib.vgg's; repeated so that this module does not import vgg)
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class WeightsError(ValueError):
    """A weights argument or file that cannot be used as VGG-16 or VGG-19 weights."""


def resolve_weights(weights: str | os.PathLike) -> str | Path:
    """``"imagenet"``, ``"imagenet-vgg16"``, ``"random"``, ``"auto"`` or a :class:`~pathlib.Path`;
    ``"auto"`` reads ``$NSTLIB_WEIGHTS``.

    >>> resolve_weights("random"), resolve_weights("my/vgg19.pth").name
    ('random', 'vgg19.pth')
    """
    if isinstance(weights, os.PathLike):
        return Path(weights)
    if not isinstance(weights, str):
        raise WeightsError(
            "weights must be 'auto', 'imagenet', 'imagenet-vgg16', 'random' or a path to a VGG-16/VGG-19 "
            f"state dict, got {weights!r}"
        )
    if weights == "auto":
        env = config.weights_setting()
        if env and env != "auto":
            return resolve_weights(env)
        return "auto"
    if weights in ("imagenet", "imagenet-vgg16", "random"):
        return weights
    path = Path(weights).expanduser()
    if path.suffix or os.sep in weights or path.exists():
        return path
    raise WeightsError(
        f"unknown weights {weights!r}: use 'auto', 'imagenet', 'imagenet-vgg16', 'random' or a path to a "
        "VGG-16/VGG-19 state dict (.pth)"
    )


def fetch_state(weights: str | Path) -> tuple[dict | None, str]:
    """The state dict that resolved ``weights`` name, and where it came from; ``None`` for random weights.

    The source reads ``"imagenet"`` (torchvision's VGG-19), ``"imagenet-vgg16"``, the file's path,
    ``"random"``, or ``"random; imagenet unavailable"`` when ``"auto"`` could not get the ImageNet
    file (with a warning that says how to get it). What was loaded, not a name, later decides
    whether the network is random (:attr:`nstlib.VGG19Features.is_random`).
    """
    if weights == "auto":
        try:
            path = download_imagenet(timeout=config.download_timeout())
        except (OSError, WeightsError) as err:
            warnings.warn(
                "nstlib: pretrained VGG-19 weights are not available "
                f"({type(err).__name__}: {err}); using RANDOM weights instead. Results show the "
                "mechanics of style transfer, not what a trained network sees. To get the real "
                "weights, run once with internet access: "
                "python -c \"import nstlib; nstlib.VGG19Features(weights='imagenet')\" "
                "or copy vgg19-dcbb9e9d.pth into "
                f"{imagenet_cache_file().parent} or set NSTLIB_WEIGHTS=/path/to/vgg19.pth.",
                stacklevel=3,  # the caller of VGG19Features(...)
            )
            return None, "random; imagenet unavailable"
        return _state_dict(read_state_file(path), str(path)), "imagenet"
    if weights in ("imagenet", "imagenet-vgg16"):
        arch = "vgg16" if weights == "imagenet-vgg16" else "vgg19"
        path = download_imagenet(timeout=60.0, arch=arch)
        return _state_dict(read_state_file(path), str(path)), str(weights)
    if weights == "random":
        return None, "random"
    return _state_dict(read_state_file(Path(weights)), str(weights)), str(weights)


def _state_dict(state: object, source: str) -> dict:
    """``state``'s conv part with torchvision's ``features`` indices as keys (``"0.weight"``, ...)."""
    if not isinstance(state, dict):
        raise WeightsError(f"{source}: expected a dict of tensors (a state dict), got {type(state).__name__}")
    if any(isinstance(k, str) and k.startswith("features.") for k in state):
        state = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    return state


def arch_of(state: dict) -> str:
    """``"vgg16"`` for a torchvision-layout state dict with 13 convolutions, else ``"vgg19"`` (16).

    A dict with another count is taken as a broken VGG-19 file, so that loading it names the
    first missing or misshapen key.

    >>> import torch
    >>> arch_of({f"{i}.weight": torch.zeros(1, 1, 3, 3) for i in range(13)})
    'vgg16'
    """
    convs = sum(1 for k, v in _state_dict(state, "state dict").items() if k.endswith("weight") and _is_kernel(v))
    return CONV_COUNTS.get(convs, "vgg19")


def _is_kernel(v: object) -> bool:
    return isinstance(v, Tensor) and v.dim() == 4


# ----------------------------------------------------------------------------- state dicts
def read_state_file(path: Path) -> object:
    """The object saved in ``path`` (``torch.load(weights_only=True)``, memory-mapped where possible)."""
    if not path.is_file():
        raise WeightsError(
            f"weights file {str(path)!r} does not exist (or is not a file); pass an existing "
            "torchvision VGG-19 state dict, or weights='imagenet' / 'random'"
        )
    try:
        try:  # memory-mapped: the classifier's ~480 MB of a full checkpoint is never read into RAM
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # legacy (pre-zipfile) checkpoints cannot be memory-mapped
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds here
        raise WeightsError(
            f"could not read weights file {str(path)!r} as a PyTorch state dict "
            f"({type(err).__name__}: {err}); expected the file torchvision's vgg19().state_dict() saves"
        ) from None


def torchvision_keys(features: nn.Sequential) -> list[tuple[str, str]]:
    """(torchvision index key, our name) for every conv parameter, e.g. ('0.weight', 'conv1_1.weight')."""
    pairs = []
    for i, (name, module) in enumerate(features.named_children()):
        if isinstance(module, nn.Conv2d):
            pairs += [(f"{i}.weight", f"{name}.weight"), (f"{i}.bias", f"{name}.bias")]
    return pairs


def load_torchvision_state_dict_(features: nn.Sequential, state: object, source: str = "state dict") -> None:
    """Copy the conv filters of a torchvision VGG state dict (full model or ``.features``) into ``features``."""
    state = _state_dict(state, source)
    arch = "VGG-16" if sum(isinstance(m, nn.Conv2d) for m in features) == 13 else "VGG-19"
    own = features.state_dict()
    new = {}
    for tv_key, our_key in torchvision_keys(features):
        if tv_key not in state:
            raise WeightsError(
                f"{source} is not a {arch} state dict: key 'features.{tv_key}' ({our_key}) is missing. "
                "Expected torchvision.models.vgg19().state_dict() (keys 'features.0.weight' ... "
                "'features.34.bias') or vgg16()'s (13 convolutions, up to 'features.28.bias')."
            )
        tensor = state[tv_key]
        if not isinstance(tensor, Tensor) or tensor.shape != own[our_key].shape:
            got = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
            raise WeightsError(
                f"{source} is not a {arch} state dict: 'features.{tv_key}' ({our_key}) has shape "
                f"{got}, expected {tuple(own[our_key].shape)}"
            )
        if not bool(torch.isfinite(tensor).all()):
            raise WeightsError(
                f"{source}: 'features.{tv_key}' ({our_key}) contains NaN or inf values; "
                "the file is corrupt. Download or save it again."
            )
        new[our_key] = tensor.float()
    features.load_state_dict(new)


# ----------------------------------------------------------------------------- ImageNet download
def imagenet_url(arch: str = "vgg19") -> str:
    """The checkpoint's URL: torchvision's ``VGG19_Weights.IMAGENET1K_V1.url`` (``VGG16_Weights``' for
    ``arch="vgg16"``), or ``IMAGENET_URL`` / ``IMAGENET16_URL`` where that was pointed elsewhere (tests'
    loopback server, a mirror)."""
    url = IMAGENET16_URL if arch == "vgg16" else IMAGENET_URL
    if url != _TORCHVISION_URLS[arch]:
        return url
    from torchvision.models import VGG16_Weights, VGG19_Weights  # imported here: ~1.5 s, only when fetched

    return (VGG16_Weights if arch == "vgg16" else VGG19_Weights).IMAGENET1K_V1.url


def imagenet_cache_file(arch: str = "vgg19") -> Path:
    """Where torchvision's weights API keeps the checkpoint: ``torch.hub.get_dir()/checkpoints/<file name>``
    (``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``), as ``VGG19_Weights.IMAGENET1K_V1.get_state_dict()``."""
    name = os.path.basename(urllib.parse.urlparse(imagenet_url(arch)).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def download_imagenet(timeout: float, arch: str = "vgg19") -> Path:
    """Download torchvision's VGG-19 (or ``arch="vgg16"``) checkpoint into torch's hub cache (if not there yet).

    The download is torchvision's: ``torch.hub.download_url_to_file`` with a progress bar on stderr and
    the sha256 prefix of the file name checked (``check_hash=True`` in torchvision's weights API). It
    writes a temporary ``.partial`` file next to the target and renames it only when complete and
    verified, so a failure leaves no file behind. torch.hub has no timeout of its own: the socket
    timeout is ``timeout`` seconds (per connect and per read) during the download, then restored.

    Raises:
        OSError: offline, HTTP errors, timeouts (``weights='auto'`` falls back to random weights).
        WeightsError: the downloaded file's sha256 does not match (the file is deleted).
    """
    target = imagenet_cache_file(arch)
    if target.exists():
        return target
    url = imagenet_url(arch)
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
            f"corrupt or was altered, and was deleted. Try again, or copy a good {target.name} into "
            f"{target.parent} or set NSTLIB_WEIGHTS=/path/to/vgg19.pth."
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
    return target


# ----------------------------------------------------------------------------- random filters
def pink_noise(size: int, gen: torch.Generator) -> Tensor:
    """(1, 3, size, size) noise in [0, 1] with a 1/f amplitude spectrum, like natural images."""
    fy = torch.fft.fftfreq(size).view(-1, 1)
    fx = torch.fft.rfftfreq(size).view(1, -1)
    amp = 1.0 / torch.sqrt(fx**2 + fy**2).clamp_min(1.0 / size)  # (size, size // 2 + 1)
    phase = torch.rand(3, size, size // 2 + 1, generator=gen) * 2 * torch.pi
    img = torch.fft.irfft2(amp * torch.exp(1j * phase), s=(size, size))  # (3, size, size)
    img = (img - img.mean()) / (4 * img.std()) + 0.5
    return img.clamp(0, 1).unsqueeze(0)


#: the leak of the random network that reconstructions use (see init_random_ and nstlib.get_encoder)
RECONSTRUCTION_LEAK = 0.4


@torch.no_grad()
def init_random_(features: nn.Sequential, seed: int, size: int = 128, leak: float = 0.0) -> None:
    """Seeded random filters in mirrored pairs; with ``leak > 0`` deep layers still see the whole image.

    Plain random ReLU networks (Kaiming-normal filters) lose the image with depth: each ReLU
    throws half of every response away, and after ten of them the input gradient is "shattered"
    (Balduzzi et al., ICML 2017, "The Shattered Gradients Problem"): optimising pixels against
    conv4_2 of such a network ends in noise although the loss falls (128 px photos, 300
    evaluations from white noise: SSIM 0.01-0.02; ``benchmarks/bench_offline.py``, ``docs/offline.md``).

    The recipe, layer by layer on a calibration image (seeded 1/f "pink" noise of ``size`` px):

    - each conv's ``2K`` filters are ``K`` random filters ``w`` followed by their negatives ``-w``
      (the "looks-linear" pairs of Balduzzi et al. and the CReLU of Shang et al., ICML 2016), so
      the ReLU keeps both halves of a response: ``relu(h)`` and ``relu(-h)``;
    - the next conv reads each pair with one random filter ``v`` as ``v relu(h) - leak v relu(-h)
      = v leaky_relu(h, leak)``. ``leak = 1`` would make the network linear (every layer
      invertible, but Gram matrices would then only see the power spectrum); ``leak = 0`` (the
      default) is a plain random ReLU network, whose sensitivity to every pixel holds a photo's
      details in a style transfer; :data:`RECONSTRUCTION_LEAK` = 0.4, which reconstructions use
      (:func:`nstlib.get_encoder` with ``pooling="auto"``), keeps deep reconstructions from noise
      recognisable (conv4_2 SSIM 0.5-0.7 instead of 0.03) and conv5_2 blurred;
    - each ``w`` is standardised on the calibration image (pre-activation mean 0, standard
      deviation 1; the pair shares the bias with opposite signs) and the pair is rescaled so that
      its mean post-ReLU activation is 1, as Gatys et al. rescaled their network. The same random
      draws with one seed give the same filters on every machine.
    """
    if not 0.0 <= leak <= 1.0:
        raise ValueError(f"leak must be in [0, 1] (0: ReLU network, 1: linear network), got {leak!r}")
    gen = torch.Generator().manual_seed(seed)
    x = pink_noise(size, gen)  # (1, 3, size, size) in [0, 1]
    x = (x - torch.tensor(_MEAN).view(1, 3, 1, 1)) / torch.tensor(_STD).view(1, 3, 1, 1)
    first = True
    for module in features:
        if isinstance(module, nn.Conv2d) and module.bias is not None:  # VGG's convs all have a bias
            k, c_in = module.out_channels // 2, module.in_channels
            if first:  # conv1_1 reads the (normalised) RGB image itself
                w = torch.randn(k, c_in, 3, 3, generator=gen)  # (K, 3, 3, 3)
            else:  # the input arrives as pairs (relu(h), relu(-h)): channels j and j + c_in / 2
                v = torch.randn(k, c_in // 2, 3, 3, generator=gen)  # (K, C_in / 2, 3, 3)
                w = torch.cat([v, -leak * v], dim=1)  # (K, C_in, 3, 3)
            module.weight.copy_(torch.cat([w, -w], dim=0))  # (2K, C_in, 3, 3): filters and negatives
            module.bias.zero_()
            pre = module(x)[:, :k]  # (1, K, H, W)
            mu, sigma = pre.mean(dim=(0, 2, 3)), pre.std(dim=(0, 2, 3)).clamp_min(1e-6)  # (K,)
            module.weight.div_(torch.cat([sigma, sigma]).view(-1, 1, 1, 1))
            module.bias.copy_(torch.cat([-mu / sigma, mu / sigma]))
            mean = F.relu(module(x)).mean(dim=(0, 2, 3))  # (2K,), about 0.4 after standardising
            pair = 2.0 / (mean[:k] + mean[k:]).clamp_min(1e-3)  # (K,): one factor per pair keeps the leak
            scale = torch.cat([pair, pair])
            module.weight.mul_(scale.view(-1, 1, 1, 1))
            module.bias.mul_(scale)
            first = False
        x = module(x)
