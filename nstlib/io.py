"""Images in and out: every image nstlib handles is a float32 tensor (1, 3, H, W) in [0, 1].

The first stage of the pipeline (``load_image`` -> VGG features -> losses -> loop -> plot), in the
spirit of pystiche's ``image`` module: the rest of the package never sees uint8, H x W x C arrays,
alpha channels or ImageNet normalisation.

- :func:`load_image` reads a path, a built-in name (see ``nstlib.list_images()``), a PIL image, a
  numpy array or a tensor and returns the standard tensor (the decoding details: EXIF rotation,
  gray, alpha, 16-bit, truncated files, the size rules, live in ``nstlib/_decode.py``).
- :func:`save_image` writes PNG or JPEG through :func:`atomic_write`, the one "temporary file, then
  ``os.replace``" writer of the package (defined next to the painting downloader that uses it too,
  in ``nstlib/data/download.py``, and re-exported here).
- :func:`check_image` is the validator other modules call on their inputs.
- :func:`to_display` is the one tensor-to-picture converter (matplotlib's ``imshow``, PNG bytes for
  the widgets); :func:`to_numpy` and :func:`to_pil` are its strict relatives for standard images.

Every error is an :class:`ImageError` (a ``ValueError``) whose message names the input and the fix.

Imports run one way: ``io`` -> ``_decode`` (errors, size rules, decoding) and ``io`` -> ``data`` (the
built-in images, ``atomic_write``); neither imports ``io``.
"""

from __future__ import annotations

import io as _stdlib_io  # the standard library's io (this module is nstlib.io)
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from . import _decode, data
from ._decode import MAX_SIDE, ImageError, ImageNotFoundError, Size, _check_range
from .data.download import atomic_write

__all__ = [
    "MAX_SIDE",
    "ImageError",
    "ImageNotFoundError",
    "atomic_write",
    "check_image",
    "load_image",
    "save_image",
    "to_display",
    "to_numpy",
    "to_pil",
    "to_png",
]

ImageSource = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor


# ----------------------------------------------------------------------------------------------
# Loading and saving
# ----------------------------------------------------------------------------------------------


def load_image(source: ImageSource, size: Size = None) -> torch.Tensor:
    """Load an image as a float32 tensor of shape (1, 3, H, W) with values in [0, 1], on the CPU.

    Parameters
    ----------
    source
        One of

        - a path (``str`` or ``pathlib.Path``) to a PNG, JPEG, GIF, ... file;
        - a built-in name such as ``"astronaut"``, ``"waves"`` or ``"starry_night"``
          (``nstlib.list_images()`` lists them; paintings are downloaded on first use;
          an existing file of the same name takes precedence);
        - a ``PIL.Image.Image``;
        - a numpy array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), dtype uint8
          (0..255), uint16 (0..65535) or float in [0, 1];
        - a tensor of shape (3, H, W) or (1, 3, H, W) in [0, 1]; gray (1, H, W) or
          (1, 1, H, W) is repeated to 3 channels.
    size
        ``None``: keep the size, but images whose longer side exceeds ``MAX_SIDE`` (4096) are
        downsized with a warning. An ``int``: the length of the longer side, aspect ratio kept.
        A tuple ``(H, W)``: exactly that size. Resizing is antialiased (Lanczos on files,
        antialiased bicubic on arrays and tensors).

    Returns
    -------
    torch.Tensor
        float32, shape (1, 3, H, W), values in [0, 1].

    Raises
    ------
    ImageError
        With a message naming the input and the fix (missing file, directory, empty or
        truncated file, not an image, wrong shape, dtype or value range, bad ``size``).

    Examples
    --------
    >>> import numpy as np
    >>> load_image(np.zeros((2, 4, 3), dtype=np.uint8)).shape
    torch.Size([1, 3, 2, 4])
    >>> load_image(np.zeros((2, 4), dtype=np.uint8), size=2).shape  # longer side 4 -> 2
    torch.Size([1, 3, 1, 2])
    >>> load_image(np.full((1, 1), 65535, dtype=np.uint16)).flatten().tolist()
    [1.0, 1.0, 1.0]
    """
    _decode.check_size(size)
    if isinstance(source, torch.Tensor):
        return _decode.resize_tensor(_decode.tensor_to_image(source), size, what="the tensor")
    if isinstance(source, np.ndarray):
        return _decode.resize_tensor(_decode.array_to_image(source), size, what="the array")
    if isinstance(source, Image.Image):
        return _decode.pil_to_image(source, size, what="the PIL image")
    if isinstance(source, (str, os.PathLike)):
        return _load_path_or_name(source, size)
    raise ImageError(
        f"load_image() got a {type(source).__name__}, which is not an image source. "
        "Pass a file path, a built-in name (see nstlib.list_images()), a PIL image, "
        "a numpy array (H, W, 3) or a tensor (1, 3, H, W) in [0, 1]."
    )


def _load_path_or_name(source: str | os.PathLike, size: Size) -> torch.Tensor:
    path = Path(source).expanduser()
    if path.exists():
        return _decode.load_file(path, size)
    if isinstance(source, str):
        if source in data.builtin_names():
            return load_image(data.get(source, size), size)
        names = ", ".join(data.builtin_names())
        raise ImageNotFoundError(
            f"{source!r} is neither an existing file nor a built-in image name. "
            f"No file at {path.resolve()} (current folder: {Path.cwd()}): check the spelling "
            f"and the folder. Built-in names (see nstlib.list_images()): {names}."
        )
    raise ImageNotFoundError(
        f"No image file at {path.resolve()} (current folder: {Path.cwd()}). Check the path; "
        "nstlib.list_images() lists built-in images you can pass by name instead."
    )


def save_image(img: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write a (1, 3, H, W) or (3, H, W) tensor in [0, 1] to ``path`` as PNG or JPEG.

    The format follows the suffix (``.png``, ``.jpg``/``.jpeg``; other suffixes PIL can write also
    work). Parent folders are created. The file is written by :func:`atomic_write`, so an
    interrupted save never leaves a half-written image. Values within 1e-3 of [0, 1] are clamped;
    anything further out is an error.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, torch
    >>> p = save_image(torch.ones(3, 2, 2), Path(tempfile.mkdtemp()) / "white.png")
    >>> load_image(p).min().item()
    1.0
    """
    path = Path(path)
    if not isinstance(img, torch.Tensor):
        raise ImageError(
            f"save_image() got a {type(img).__name__}, expected a tensor of shape (1, 3, H, W) "
            "in [0, 1]. Convert first with nstlib.load_image(x)."
        )
    if img.dim() == 3:
        img = img.unsqueeze(0)
    img = check_image(img.detach(), name="the image passed to save_image()")
    suffix = path.suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None or fmt not in Image.SAVE:
        raise ImageError(
            f"Cannot save to {str(path)!r}: unknown image suffix {suffix or '(none)'!r}. "
            "End the file name with .png (lossless) or .jpg."
        )
    pil = to_pil(img)
    options = {"quality": 95} if fmt == "JPEG" else {}
    with atomic_write(path) as f:
        pil.save(f, format=fmt, **options)
    return path


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


def check_image(t: torch.Tensor, name: str = "image") -> torch.Tensor:
    """Validate that ``t`` is a float tensor of shape (1, 3, H, W) in [0, 1] and return it.

    Values within 1e-3 outside [0, 1] (rounding noise) are accepted and the clamped tensor is
    returned; otherwise ``t`` itself is returned. ``name`` is used in the error message.

    Examples
    --------
    >>> check_image(torch.zeros(1, 3, 4, 4)).shape
    torch.Size([1, 3, 4, 4])
    >>> check_image(torch.zeros(3, 4, 4), name="style")
    Traceback (most recent call last):
    ...
    nstlib.io.ImageError: style has shape (3, 4, 4), expected (1, 3, H, W).
    Add the batch dimension with t.unsqueeze(0), or pass it through nstlib.load_image(t).
    """
    if not isinstance(t, torch.Tensor):
        raise ImageError(
            f"{name} is a {type(t).__name__}, expected a torch.Tensor of shape (1, 3, H, W) in "
            "[0, 1]. Convert it with nstlib.load_image(x)."
        )
    shape = tuple(t.shape)
    if t.dim() != 4 or shape[0] != 1 or shape[1] != 3:
        hint = (
            "Add the batch dimension with t.unsqueeze(0), or pass it through nstlib.load_image(t)."
            if t.dim() == 3
            else "Pass it through nstlib.load_image(t), which also expands gray and drops alpha."
        )
        if t.dim() == 4 and shape[0] > 1 and shape[1] == 3:
            hint = "nstlib works on one image at a time: select one with t[i:i+1]."
        raise ImageError(f"{name} has shape {shape}, expected (1, 3, H, W). {hint}")
    if not t.is_floating_point():
        raise ImageError(
            f"{name} has dtype {t.dtype}, expected a float tensor in [0, 1]. "
            + ("Divide by 255: t.float() / 255." if t.dtype == torch.uint8 else "Use t.float().")
        )
    return _check_range(t, name)


# ----------------------------------------------------------------------------------------------
# Conversions for display
# ----------------------------------------------------------------------------------------------


def to_display(img: Any, *, uint8: bool = False) -> np.ndarray:
    """A picture to show: (H, W, C) or (H, W) for one channel, clamped to [0, 1] (or 0..255).

    Lenient on purpose (it draws what it is given, it validates nothing):

    - a tensor (1, C, H, W), (C, H, W) with C = 1 or 3, or (H, W): any device, dtype or
      ``requires_grad``; a batch shows its first image; values are clamped to [0, 1]
      (uint8 tensors are divided by 255);
    - a numpy array or PIL image, (H, W) or (H, W, C): divided by 255 when its maximum exceeds 1
      (0..255 data), else taken as [0, 1].

    Returns float32 in [0, 1], ready for ``plt.imshow(x, vmin=0, vmax=1)`` (2-D: use a gray
    colormap), or with ``uint8=True`` the rounded 0..255 values for PNG encoding.

    >>> to_display(torch.ones(1, 3, 2, 5)).shape
    (2, 5, 3)
    >>> to_display(torch.tensor([[[0.5, 2.0]]]), uint8=True).tolist()  # (1, 1, 2): gray, clamped
    [[128, 255]]
    """
    if isinstance(img, torch.Tensor):
        t = img.detach().cpu()
        t = t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
        if t.dim() == 4:
            t = t[0]  # (C, H, W)
        if t.dim() == 3 and t.shape[0] in (1, 3):
            t = t.permute(1, 2, 0)  # (H, W, C)
        arr = t.numpy()
    else:
        arr = np.asarray(img, dtype=np.float32)
        if arr.size and arr.max() > 1.0:
            arr = arr / 255.0
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]  # (H, W): gray
    arr = np.clip(arr, 0.0, 1.0).astype(np.float32, copy=False)  # a new array, never a view
    if uint8:
        return np.rint(arr * 255.0).astype(np.uint8)
    return arr


def to_numpy(img: torch.Tensor) -> np.ndarray:
    """Convert a (1, 3, H, W) or (3, H, W) tensor in [0, 1] to an (H, W, 3) float32 array.

    Strict, unlike :func:`to_display`: anything :func:`check_image` refuses is an
    :class:`ImageError`. Ready for ``matplotlib.pyplot.imshow``.

    >>> to_numpy(torch.zeros(1, 3, 2, 5)).shape
    (2, 5, 3)
    """
    return to_display(_as_batched(img))


def to_pil(img: torch.Tensor) -> Image.Image:
    """Convert a (1, 3, H, W) or (3, H, W) tensor in [0, 1] to an RGB ``PIL.Image`` (uint8).

    >>> to_pil(torch.ones(3, 2, 5)).size  # PIL reports (W, H)
    (5, 2)
    """
    return Image.fromarray(to_display(_as_batched(img), uint8=True), mode="RGB")


def to_png(img: Any) -> bytes:
    """PNG bytes of whatever :func:`to_display` accepts (for ``ipywidgets.Image`` and HTML).

    >>> to_png(torch.zeros(1, 3, 2, 2))[:4]
    b'\\x89PNG'
    """
    buf = _stdlib_io.BytesIO()
    Image.fromarray(to_display(img, uint8=True)).save(buf, format="PNG")
    return buf.getvalue()


def _as_batched(img: torch.Tensor) -> torch.Tensor:
    """A checked (1, 3, H, W) float CPU tensor from a (1, 3, H, W) or (3, H, W) one."""
    if isinstance(img, torch.Tensor) and img.dim() == 3:
        img = img.unsqueeze(0)
    return check_image(img.detach() if isinstance(img, torch.Tensor) else img).float().cpu()
