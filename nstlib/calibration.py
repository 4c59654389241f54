"""Gatys' normalisation of VGG-19: every filter's mean activation over a set of images is 1.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016, §2:
"We normalized the network by scaling the weights such that the mean activation of each
convolutional filter over images and positions is equal to one. Such re-scaling can be done for
the VGG network without changing its output, because it contains only rectifying linear
activation functions and no normalization or pooling over feature maps."

Why it matters here: the loss weights alpha / beta (and the style-layer weights w_l) are numbers
*about feature magnitudes*. An un-normalised network (ImageNet weights used raw, a file, another
random draw) has per-channel scales that differ by orders of magnitude between layers and between
weight files, so the same alpha / beta means a different balance on each; after normalisation
they mean the same thing on every network, which is what makes the paper's numbers usable.

How (one forward pass suffices): ReLU, max pooling and average pooling commute with a positive
per-channel factor, so if conv ``l`` divides its filter ``k`` (weights and bias) by ``m_l[k]``,
the mean post-ReLU activation of that filter over the calibration images, and conv ``l+1``
multiplies its input channel ``k`` by ``m_l[k]``, the network computes the same maps up to the
factors ``1 / m_l[k]``. The means ``m`` are therefore measured once on the raw network::

    W'_l[k, j] = W_l[k, j] * m_{l-1}[j] / m_l[k]        b'_l[k] = b_l[k] / m_l[k]      (m_0 = 1)

Calibration set (:data:`CALIBRATION_IMAGES`): the nine photos and textures that ship with
scikit-image and matplotlib, resized to a longer side of 224 px (ImageNet's input size): portraits,
an animal, objects on a table, a launch, a star field and three grey textures, so that colour,
object and texture filters all see inputs they respond to. They are offline, fixed and licensed for
redistribution, so the normalisation is reproducible everywhere. The means are cached per weights
(keyed by a hash of the filters, the pooling and this recipe) in ``$NSTLIB_CACHE/calibration``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CALIBRATION_IMAGES",
    "CALIBRATION_SIZE",
    "SPARSE_RATIO",
    "calibration_images",
    "channel_stats",
    "filter_scales",
    "normalize_",
    "cached_stats",
    "DeadFiltersWarning",
]

#: Built-in images whose average activations define "mean activation 1" (see the module docstring).
CALIBRATION_IMAGES: tuple[str, ...] = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "grace_hopper",
    "brick",
    "grass",
    "gravel",
)
CALIBRATION_SIZE = 224
_RECIPE = "gatys-mean-activation-v3-ceil"  # part of the cache key: change it when the recipe (or pooling) changes


class DeadFiltersWarning(UserWarning):
    """Some filters never activate on the calibration images (mean activation 0)."""


def calibration_images(size: int = CALIBRATION_SIZE) -> list[Tensor]:
    """The calibration photos as (1, 3, H, W) tensors in [0, 1], longer side ``size``."""
    from .io import load_image

    return [load_image(name, size=size) for name in CALIBRATION_IMAGES]


#: Warn about a weights file when one layer has more than this share of dead filters, or of sparse ones
#: (a trained VGG-16 has at most 0.4 % dead and 21 % sparse, in conv5_3; torchvision's random init many more).
WARN_DEAD = 0.01
WARN_SPARSE = 0.3

#: A filter whose mean activation is below this fraction of its root-mean-square activation fires on
#: fewer than ~1 % of the calibration positions (for a filter that is either off or at one value,
#: mean / rms = sqrt(active fraction)); see :func:`filter_scales`.
SPARSE_RATIO = 0.1


@torch.no_grad()
def channel_stats(features: nn.Sequential, images: list[Tensor], mean: Tensor, std: Tensor) -> dict[str, Tensor]:
    """Per conv filter, over the calibration images: {conv name: (3, C)} with rows

    0. the mean post-ReLU activation (Gatys' statistic), 1. the root-mean-square post-ReLU
    activation, 2. the standard deviation of the pre-ReLU map. Each image counts equally, whatever
    its number of positions; each image is ImageNet-normalised first, as the encoder does.
    """
    sums: dict[str, Tensor] = {}
    for img in images:
        x = (img.to(mean.device, torch.float32) - mean) / std  # (1, 3, H, W)
        pre = x
        for name, module in features.named_children():
            if isinstance(module, nn.Conv2d):
                x = pre = module(x)  # (1, C, H, W)
            else:
                x = F.relu(x) if isinstance(module, nn.ReLU) else module(x)
            if name.startswith("relu"):
                stats = torch.stack(
                    [x.mean(dim=(0, 2, 3)), x.pow(2).mean(dim=(0, 2, 3)), pre.std(dim=(0, 2, 3))]
                ).double()  # (3, C)
                conv = "conv" + name[4:]
                sums[conv] = sums[conv] + stats if conv in sums else stats
    out = {}
    for k, v in sums.items():
        v = v / len(images)
        v[1] = v[1].sqrt()  # mean of squares -> rms
        out[k] = v.float()
    return out


def filter_scales(stats: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The factor each filter is divided by, from its (3, C) statistics; also the sparse and dead masks.

    - regular filters: their mean activation (Gatys): afterwards it is 1;
    - sparse filters (mean < SPARSE_RATIO * rms: they fire on < ~1 % of the calibration positions,
      so their mean is a poor estimate from nine images and dividing by it would blow their rare
      activations up by orders of magnitude): SPARSE_RATIO * rms, i.e. their rms becomes 10;
    - dead filters (never active on the calibration images): the std of their pre-ReLU map, so
      that their scale does not depend on the file's per-channel scales either (1 if constant).

    Each rule is proportional to the filter's own scale, so a network whose filters were rescaled
    per channel (the next layer compensating) is normalised to the same network.
    """
    m, rms, pre_std = stats[0], stats[1], stats[2]
    dead = ~(rms > 0)
    sparse = ~dead & (m < SPARSE_RATIO * rms)
    scale = torch.where(sparse, SPARSE_RATIO * rms, m)
    scale = torch.where(dead, torch.where(pre_std > 0, pre_std, torch.ones_like(pre_std)), scale)
    return scale, sparse, dead


@torch.no_grad()
def normalize_(
    features: nn.Sequential, stats: dict[str, Tensor], source: str = "weights", warn: bool = True
) -> tuple[list[str], list[str]]:
    """Rescale ``features``' convolutions in place so that each filter's mean activation becomes 1.

    ``stats`` comes from :func:`channel_stats`. Sparse and dead filters (see :func:`filter_scales`)
    are scaled by other rules, named in a :class:`DeadFiltersWarning` when a layer has more of them
    than a trained network (:data:`WARN_DEAD`, :data:`WARN_SPARSE`), and returned as
    ``(dead, sparse)`` lists such as ``["conv5_3 filter 17", ...]``. Non-finite statistics, or a
    layer whose filters are all dead, raise ``ValueError``. ``warn=False`` only returns the lists.
    """
    dead_names: list[str] = []
    sparse_names: list[str] = []
    unusual = False  # a layer with more odd filters than a trained network has (see WARN_DEAD, WARN_SPARSE)
    prev: Tensor | None = None  # m_{l-1}: the scale each input channel of this conv arrives with
    for name, module in features.named_children():
        if not isinstance(module, nn.Conv2d):
            continue
        st = stats[name].to(module.weight.device, torch.float32)  # (3, C_out)
        if not torch.isfinite(st).all():
            raise ValueError(
                f"{source}: the activations of {name} are not finite (NaN or inf) on the calibration "
                "images; the weights file is broken"
            )
        scale, sparse, dead = filter_scales(st)
        if bool(dead.all()):
            raise ValueError(
                f"{source}: every filter of {name} is dead (mean activation 0 on the calibration "
                "images), so the network cannot be normalised. Check the weights file."
            )
        unusual |= float(dead.float().mean()) > WARN_DEAD or float(sparse.float().mean()) > WARN_SPARSE
        dead_names += [f"{name} filter {int(k)}" for k in torch.nonzero(dead).flatten()]
        sparse_names += [f"{name} filter {int(k)}" for k in torch.nonzero(sparse).flatten()]
        if prev is not None:
            module.weight.mul_(prev.view(1, -1, 1, 1))
        module.weight.div_(scale.view(-1, 1, 1, 1))
        assert module.bias is not None  # VGG's convolutions have biases
        module.bias.div_(scale)
        prev = scale
    if warn and unusual:

        def shown(names: list[str]) -> str:
            return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")

        parts = []
        if dead_names:
            parts.append(
                f"{len(dead_names)} filter(s) never activate on the calibration images ({shown(dead_names)}): "
                "scaled by the spread of their input instead"
            )
        if sparse_names:
            parts.append(
                f"{len(sparse_names)} filter(s) fire on fewer than ~1 % of the positions "
                f"({shown(sparse_names)}): scaled to an rms activation of {1 / SPARSE_RATIO:g} instead of "
                "a mean of 1"
            )
        warnings.warn(
            f"{source}: " + "; ".join(parts) + ". Every other filter has mean activation 1. A trained "
            "network has few such filters (a trained VGG-16: 1-2 dead, and sparse ones almost only in "
            "conv5_3, the last layer); untrained or damaged weights many.",
            DeadFiltersWarning,
            stacklevel=3,
        )
    return dead_names, sparse_names


def weights_key(features: nn.Sequential, pooling: str, size: int = CALIBRATION_SIZE) -> str:
    """A hash of the conv filters, the pooling and the recipe: the cache key of the means."""
    h = hashlib.sha256(f"{_RECIPE}|{pooling}|{size}|{','.join(CALIBRATION_IMAGES)}".encode())
    for name, module in features.named_children():
        if isinstance(module, nn.Conv2d):
            h.update(name.encode())
            assert module.bias is not None  # VGG's convolutions have biases
            for t in (module.weight, module.bias):
                h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().data)  # no copy of the filters
    return h.hexdigest()[:24]


def cached_stats(
    features: nn.Sequential, pooling: str, mean: Tensor, std: Tensor, size: int = CALIBRATION_SIZE
) -> tuple[dict[str, Tensor], float]:
    """:func:`channel_stats` of ``features`` from the cache, or computed and cached; also the seconds spent computing.

    The cache lives in ``$NSTLIB_CACHE/calibration`` (default ``~/.cache/nstlib/calibration``); an
    unwritable cache only costs the recomputation.
    """
    from .config import cache_dir

    folder = cache_dir() / "calibration"
    path = folder / f"{weights_key(features, pooling, size)}.pt"
    if path.is_file():
        try:
            stats = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(stats, dict) and all(isinstance(v, Tensor) and v.dim() == 2 for v in stats.values()):
                return stats, 0.0
        except Exception:  # noqa: BLE001 - a corrupt cache file is recomputed
            pass
    start = time.perf_counter()
    stats = channel_stats(features, calibration_images(size), mean, std)
    seconds = time.perf_counter() - start
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
        os.close(fd)
        torch.save({k: v.cpu() for k, v in stats.items()}, tmp)
        os.replace(tmp, path)
    except OSError:
        pass
    return stats, seconds
