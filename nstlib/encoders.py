"""The experiments' shared networks, built once per setting and kept for the kernel.

- :func:`get_encoder`: a :class:`nstlib.vgg.VGG19Features` (Simonyan & Zisserman 2015, with Gatys,
  Ecker & Bethge's normalisation, CVPR 2016) for weights, pooling, precision and device;
- :func:`get_texture_model`: the offline texture model :class:`nstlib.multiscale.MultiScaleTextures`
  (Ustyuzhaninov et al., ICLR 2017).

``weights="auto"`` (no ``NSTLIB_WEIGHTS``) means torchvision's ImageNet VGG-19 when it can be had. The
download is tried once per kernel: after it failed, every later network (another pooling, a
reconstruction's leaky filters) is random at once, without waiting for the same timeout again; and
as soon as the file is in torch's cache (copied there, or downloaded by another process) the next
call loads it instead of keeping the random fallback.
"""

from __future__ import annotations

import functools
import os
from collections import OrderedDict

from .multiscale import MultiScaleTextures
from .vgg import VGG19Features
from .weights import RECONSTRUCTION_LEAK, imagenet_cache_file, resolve_weights

__all__ = ["get_encoder", "get_texture_model", "MAX_ENCODERS"]

#: how many networks :func:`get_encoder` keeps (the least recently used one goes first)
MAX_ENCODERS = 4
#: the key of the random network that stands in for ImageNet weights that could not be downloaded
FALLBACK = "random; imagenet unavailable"

Key = tuple[str, str, str, "str | None", float]  # (weights, pooling, precision, device, leak)
_ENCODERS: OrderedDict[Key, VGG19Features] = OrderedDict()
#: whether this kernel already tried to download the ImageNet weights for "auto" and failed
_download_failed = False


def _auto_weights() -> str:
    """What ``weights="auto"`` (no ``NSTLIB_WEIGHTS``) stands for now: ``"imagenet"`` when the file is in
    torch's cache, the random :data:`FALLBACK` when this kernel's download failed, else ``"auto"``
    (one download attempt, with ``NSTLIB_DOWNLOAD_TIMEOUT``)."""
    if imagenet_cache_file().exists():
        return "imagenet"
    return FALLBACK if _download_failed else "auto"


def _encoder(weights: str, pooling: str, precision: str, device: str | None, leak: float = 0.0) -> VGG19Features:
    """The kept network for these settings, built if needed; "auto" is stored under what it turned out to be."""
    global _download_failed
    key: Key = (weights, pooling, precision, device, leak)
    if key in _ENCODERS:
        _ENCODERS.move_to_end(key)
        return _ENCODERS[key]
    if weights == FALLBACK:  # random filters, labelled as the fallback they are (no second download)
        enc = VGG19Features(weights="random", pooling=pooling, precision=precision, device=device, leak=leak)
        enc.weights_source = enc.weights_source[:-1] + "; imagenet unavailable)"
    else:
        enc = VGG19Features(weights=weights, pooling=pooling, precision=precision, device=device, leak=leak)
    if weights == "auto":  # the download was tried: remember how it went
        _download_failed = enc.is_random
        key = (FALLBACK if enc.is_random else "imagenet", pooling, precision, device, leak)
    _ENCODERS[key] = enc
    while len(_ENCODERS) > MAX_ENCODERS:
        _ENCODERS.popitem(last=False)
    return enc


def get_encoder(
    weights: str | os.PathLike = "auto", pooling: str = "max", precision: str = "auto", device: str | None = None
) -> VGG19Features:
    """A shared :class:`VGG19Features` (built once per settings; notebooks call this repeatedly).

    ``pooling="auto"`` (what the reconstructions and textures use): average pooling, as Gatys et
    al. (2015, 2016) use for all image synthesis; with random weights also the random filters with
    a leak (:data:`nstlib.weights.RECONSTRUCTION_LEAK`, see :func:`nstlib.weights.init_random_`),
    which keep deep layers invertible (measurements: ``docs/offline.md``).

    ``weights="auto"`` tries the ImageNet download once per kernel (see the module docstring): a
    failed download is not retried for every pooling, and the file is used once it is there.
    """
    resolved = resolve_weights(weights)
    name = _auto_weights() if resolved == "auto" else str(resolved)
    if pooling != "auto":
        return _encoder(name, pooling, precision, device)
    if name not in ("random", FALLBACK):  # trained, or not known until the download was tried
        enc = _encoder(name, "avg", precision, device)
        if not enc.is_random:
            return enc
        name = _auto_weights()  # the download failed just now: the fallback, without a second try
    return _encoder(name, "avg", precision, device, RECONSTRUCTION_LEAK)


@functools.lru_cache(maxsize=2)
def get_texture_model(device: str | None = None) -> MultiScaleTextures:
    """A shared :class:`nstlib.multiscale.MultiScaleTextures` (the offline texture model)."""
    return MultiScaleTextures(device=device)
