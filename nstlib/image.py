"""Image input and output: every image nstlib handles is a float32 tensor (1, 3, H, W) in [0, 1].

This is the first stage of the pipeline (``load_image`` -> encoder -> losses -> optimiser), in
the spirit of pystiche's ``image`` module: the rest of the package never sees uint8, HxWxC
arrays, alpha channels or ImageNet normalisation.

- :func:`load_image` reads a path, a built-in name (see ``nstlib.list_images()``), a PIL image,
  a numpy array or a tensor, and returns the standard tensor. It loads EXIF-rotated photos
  upright, expands grayscale to RGB, composites transparency on white, scales 16-bit images by
  65535 and refuses truncated files.
- :func:`save_image` writes PNG or JPEG atomically (temporary file + ``os.replace``).
- :func:`check_image` is the validator other modules call on their inputs.
- :func:`to_pil` / :func:`to_numpy` convert back for plotting.

Every error is an :class:`ImageError` (a ``ValueError``) whose message names the input and the fix.
"""

from __future__ import annotations

import contextlib
import os
import uuid
import warnings
from pathlib import Path
from typing import Iterator, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

__all__ = [
    "ImageError",
    "ImageNotFoundError",
    "MAX_SIDE",
    "load_image",
    "save_image",
    "check_image",
    "to_pil",
    "to_numpy",
]

#: Longer side (pixels) that ``load_image(..., size=None)`` downsizes larger images to.
MAX_SIDE = 4096

#: Values this far outside [0, 1] are treated as rounding noise and clamped; more is an error.
_TOL = 1e-3

Size = Union[int, tuple[int, int], None]
ImageSource = Union[str, os.PathLike, Image.Image, np.ndarray, torch.Tensor]


class ImageError(ValueError):
    """An image could not be loaded, saved or validated; the message says why and how to fix it."""


class ImageNotFoundError(ImageError, FileNotFoundError):
    """A path that does not exist (and is not a built-in image name either)."""


# ----------------------------------------------------------------------------------------------
# Public API
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
    _check_size(size)
    if isinstance(source, torch.Tensor):
        return _resize_tensor(_tensor_to_image(source), size, what="the tensor")
    if isinstance(source, np.ndarray):
        return _resize_tensor(_array_to_image(source), size, what="the array")
    if isinstance(source, Image.Image):
        return _pil_to_image(source, size, what="the PIL image")
    if isinstance(source, (str, os.PathLike)):
        return _load_path_or_name(source, size)
    raise ImageError(
        f"load_image() got a {type(source).__name__}, which is not an image source. "
        "Pass a file path, a built-in name (see nstlib.list_images()), a PIL image, "
        "a numpy array (H, W, 3) or a tensor (1, 3, H, W) in [0, 1]."
    )


def save_image(img: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write a (1, 3, H, W) or (3, H, W) tensor in [0, 1] to ``path`` as PNG or JPEG.

    The format follows the suffix (``.png``, ``.jpg``/``.jpeg``; other suffixes PIL can write also
    work). Parent folders are created. The file is written to a temporary file in the same
    folder and renamed over ``path`` only when complete, so an interrupted save never leaves a
    half-written image. Values within 1e-3 of [0, 1] are clamped; anything further out is an error.

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
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique hidden name in the same folder (so os.replace is atomic); open() honours the umask.
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "xb") as f:
            pil.save(f, format=fmt, **options)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


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
    nstlib.image.ImageError: style has shape (3, 4, 4), expected (1, 3, H, W). Add the batch dimension with t.unsqueeze(0), or pass it through nstlib.load_image(t).
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


def to_pil(img: torch.Tensor) -> Image.Image:
    """Convert a (1, 3, H, W) or (3, H, W) tensor in [0, 1] to an RGB ``PIL.Image`` (uint8).

    >>> to_pil(torch.ones(3, 2, 5)).size  # PIL reports (W, H)
    (5, 2)
    """
    return Image.fromarray(_to_uint8(img), mode="RGB")


def to_numpy(img: torch.Tensor) -> np.ndarray:
    """Convert a (1, 3, H, W) or (3, H, W) tensor in [0, 1] to an (H, W, 3) float32 array.

    Ready for ``matplotlib.pyplot.imshow``.

    >>> to_numpy(torch.zeros(1, 3, 2, 5)).shape
    (2, 5, 3)
    """
    return _as_batched(img).squeeze(0).permute(1, 2, 0).numpy().copy()


# ----------------------------------------------------------------------------------------------
# Sizes
# ----------------------------------------------------------------------------------------------


def _check_size(size: Size) -> None:
    fix = "Use size=None (keep), an int for the longer side (e.g. 512), or a tuple (H, W)."
    if size is None:
        return
    if isinstance(size, (bool, float)) or not isinstance(size, (int, tuple, list, np.integer)):
        raise ImageError(f"size={size!r} ({type(size).__name__}) is not a valid size. {fix}")
    if isinstance(size, (tuple, list)):
        ok = len(size) == 2 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size
        )
        if not ok:
            raise ImageError(f"size={size!r} is not a valid size: a tuple must be two ints (H, W). {fix}")
        if min(size) <= 0:
            raise ImageError(f"size={size!r} has a side <= 0; both H and W must be positive. {fix}")
    elif size <= 0:
        raise ImageError(f"size={size!r} must be positive. {fix}")


def _target_hw(h: int, w: int, size: Size, what: str) -> tuple[int, int]:
    """The (H, W) to resize an h x w image to (warns when a huge image is capped at MAX_SIDE)."""
    if isinstance(size, (tuple, list)):
        return int(size[0]), int(size[1])
    if size is None:
        if max(h, w) <= MAX_SIDE:
            return h, w
        th, tw = _fit_longer_side(h, w, MAX_SIDE)
        _warn(
            f"{what} is {w}x{h} pixels (W x H); downsized to {tw}x{th} so that the longer side "
            f"is at most {MAX_SIDE}. Pass size=... to choose the size yourself."
        )
        return th, tw
    return _fit_longer_side(h, w, int(size))


def _warn(message: str) -> None:
    """Warn, attributing the warning to the first caller outside nstlib's own modules."""
    import sys

    here = Path(__file__).resolve().parent
    frame, level = sys._getframe(1), 2
    while frame is not None and Path(frame.f_code.co_filename).resolve().parent == here:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, stacklevel=level)


def _fit_longer_side(h: int, w: int, side: int) -> tuple[int, int]:
    scale = side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


# ----------------------------------------------------------------------------------------------
# Tensors and arrays
# ----------------------------------------------------------------------------------------------


def _check_range(t: torch.Tensor, name: str) -> torch.Tensor:
    if t.numel() == 0:
        raise ImageError(f"{name} is empty (shape {tuple(t.shape)}); it needs at least 1x1 pixels.")
    if torch.isnan(t).any() or torch.isinf(t).any():
        raise ImageError(f"{name} contains NaN or infinite values; an image must be finite, in [0, 1].")
    lo, hi = t.min().item(), t.max().item()
    if lo >= 0.0 and hi <= 1.0:
        return t
    if lo >= -_TOL and hi <= 1.0 + _TOL:
        return t.clamp(0.0, 1.0)
    if lo >= 0.0 and hi <= 255.0:
        hint = "It looks like 0..255 values: divide by 255."
    elif lo >= -1.0 - _TOL and hi <= 1.0 + _TOL:
        hint = "It looks like values in [-1, 1]: map them with (x + 1) / 2."
    elif lo < 0.0 and hi < 4.0:
        hint = ("It looks ImageNet-normalised: undo it with x * std + mean "
                "(mean 0.485, 0.456, 0.406; std 0.229, 0.224, 0.225).")
    else:
        hint = "Rescale it, e.g. (x - x.min()) / (x.max() - x.min()), or clamp with x.clamp(0, 1)."
    raise ImageError(f"{name} has values in [{lo:.4g}, {hi:.4g}], expected [0, 1]. {hint}")


def _tensor_to_image(t: torch.Tensor) -> torch.Tensor:
    """(3,H,W) / (1,3,H,W) / (1,H,W) / (1,1,H,W) tensor in [0, 1] -> (1, 3, H, W) float32 copy."""
    shape = tuple(t.shape)
    expected = "expected (3, H, W) or (1, 3, H, W) (gray: (1, H, W) or (1, 1, H, W))"
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.dim() != 4 or t.shape[1] not in (1, 3):
        hint = ""
        if t.dim() == 4 and t.shape[-1] in (1, 3, 4) and t.shape[1] not in (1, 3):
            hint = " Channels seem to be last: use t.permute(0, 3, 1, 2)."
        elif t.dim() == 4 and t.shape[1] == 4:
            hint = " Drop the alpha channel with t[:, :3]."
        elif t.dim() == 2:
            hint = " For a gray image add a channel: t[None]."
        raise ImageError(f"load_image() got a tensor of shape {shape}; {expected}.{hint}")
    if t.shape[0] != 1:
        raise ImageError(
            f"load_image() got a batch of {t.shape[0]} images (shape {shape}); it loads one "
            "image: pass t[i] or t[i:i+1]."
        )
    if not t.is_floating_point():
        hint = "divide by 255: t.float() / 255" if t.dtype == torch.uint8 else "convert with t.float()"
        raise ImageError(
            f"load_image() got a tensor of dtype {t.dtype}; expected a float tensor in [0, 1]: {hint}."
        )
    t = t.detach().to(device="cpu", dtype=torch.float32)
    t = _check_range(t, f"the tensor passed to load_image() (shape {shape})")
    if t.shape[1] == 1:
        t = t.expand(1, 3, *t.shape[2:])
    return t.contiguous().clone()


def _array_to_image(a: np.ndarray) -> torch.Tensor:
    """(H,W) / (H,W,1|3|4) uint8, uint16 or float array -> (1, 3, H, W) float32 (alpha on white)."""
    shape = a.shape
    expected = "expected (H, W), (H, W, 3) or (H, W, 4)"
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 3, 4):
        raise ImageError(
            f"load_image() got an array of shape {shape}; {expected}. Channels seem to be first: "
            "use a.transpose(1, 2, 0)."
        )
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or 0 in a.shape:
        raise ImageError(f"load_image() got an array of shape {shape}; {expected}.")
    if a.dtype == np.uint8:
        x = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        x = a.astype(np.float32) / 65535.0
    elif a.dtype == np.bool_:
        x = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.floating):
        x = a.astype(np.float32)
        x = _check_range(torch.from_numpy(x), f"the {a.dtype} array passed to load_image()").numpy()
    else:
        raise ImageError(
            f"load_image() got an array of dtype {a.dtype}; expected uint8 (0..255), uint16 "
            "(0..65535) or float in [0, 1]. For 0..255 integers use a.astype(np.uint8)."
        )
    x = _composite_on_white(x)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def _composite_on_white(x: np.ndarray) -> np.ndarray:
    """(H, W, C) float in [0, 1], C in 1..4 (gray, gray+alpha, RGB, RGBA) -> (H, W, 3) RGB."""
    c = x.shape[2]
    if c in (2, 4):
        color, alpha = x[:, :, : c - 1], x[:, :, c - 1 :]
        x = color * alpha + (1.0 - alpha)  # "over" a white background
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return x.astype(np.float32, copy=False)


def _resize_tensor(t: torch.Tensor, size: Size, what: str) -> torch.Tensor:
    h, w = t.shape[-2:]
    th, tw = _target_hw(h, w, size, what)
    if (th, tw) == (h, w):
        return t
    t = F.interpolate(t, size=(th, tw), mode="bicubic", antialias=True, align_corners=False)
    return t.clamp_(0.0, 1.0)


def _as_batched(img: torch.Tensor) -> torch.Tensor:
    if isinstance(img, torch.Tensor) and img.dim() == 3:
        img = img.unsqueeze(0)
    return check_image(img.detach() if isinstance(img, torch.Tensor) else img).float().cpu()


def _to_uint8(img: torch.Tensor) -> np.ndarray:
    x = _as_batched(img).squeeze(0).permute(1, 2, 0)  # (H, W, 3)
    return (x * 255.0).round_().to(torch.uint8).numpy()


# ----------------------------------------------------------------------------------------------
# Files and PIL images
# ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _strict_pil() -> Iterator[None]:
    """Truncated files must raise, even if some other code set LOAD_TRUNCATED_IMAGES = True."""
    old = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = old


def _load_path_or_name(source: str | os.PathLike, size: Size) -> torch.Tensor:
    path = Path(source).expanduser()
    if not path.exists():
        if isinstance(source, str):
            from . import data  # local import: data imports this module

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
    if path.is_dir():
        raise ImageError(
            f"{str(path)!r} is a folder, not an image file. Pass the path of one image inside it, "
            "e.g. load_image('photos/cat.jpg')."
        )
    nbytes = path.stat().st_size
    if nbytes == 0:
        raise ImageError(
            f"{str(path)!r} is an empty file (0 bytes), probably an interrupted download or copy. "
            "Download or export the image again."
        )
    what = f"the image {str(path)!r}"
    with _strict_pil(), warnings.catch_warnings():
        # PIL warns about images over 89 Mpx; we downsize those and say so in our own warning.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                return _pil_to_image(im, size, what=what)
        except UnidentifiedImageError:
            with open(path, "rb") as f:
                head = f.read(16)
            raise ImageError(
                f"{str(path)!r} ({nbytes} bytes, starting with {head!r}) is not an image file "
                "PIL can read. Pass a PNG or JPEG image, or check the file was saved correctly "
                "(an HTML error page saved as .jpg looks like this)."
            ) from None
        except Image.DecompressionBombError as e:
            raise ImageError(
                f"{str(path)!r} is too large to decode safely ({e}). Downsize it with an image "
                "editor first."
            ) from None
        except (OSError, SyntaxError, ValueError) as e:
            if isinstance(e, ImageError):
                raise
            raise ImageError(
                f"{str(path)!r} ({nbytes} bytes) is truncated or corrupt and cannot be decoded "
                f"(PIL: {e}). Download or export the image again."
            ) from None


def _pil_to_image(im: Image.Image, size: Size, what: str) -> torch.Tensor:
    """Decode an open PIL image to (1, 3, H, W) float32, upright, resized to ``size``.

    Large files are shrunk while decoding (JPEG ``draft``) and resized in their 8-bit or
    single-channel mode, so a 10000 x 10000 file never becomes a 1.2 GB float array.
    """
    # Orientation tags 5-8 swap width and height once exif_transpose has run.
    orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
    swap = orientation in (5, 6, 7, 8)
    w0, h0 = im.size
    h, w = (w0, h0) if swap else (h0, w0)
    th, tw = _target_hw(h, w, size, what)
    if (th, tw) != (h, w) and im.format == "JPEG":  # draft works only before load(); im is fresh here
        im.draft(im.mode, (tw, th) if not swap else (th, tw))  # DCT-domain shrink, >= request
    im.load()
    im = ImageOps.exif_transpose(im) if orientation != 1 else im

    im, scale = _normalise_mode(im)
    if im.size != (tw, th):
        k = min(im.width // tw, im.height // th)
        if k >= 2 and max(im.size) > MAX_SIDE:
            im = im.reduce(k)  # box-filter by an integer factor first: fast on huge images
        im = im.resize((tw, th), Image.LANCZOS, reducing_gap=2.0)
    x = np.asarray(im, dtype=np.float32) / scale  # (H, W) or (H, W, C)
    np.clip(x, 0.0, 1.0, out=x)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.shape[2] in (2, 4):
        x = _composite_on_white(x)
    t = torch.from_numpy(x).permute(2, 0, 1)[None]  # (1, C, H, W), C = 1 or 3
    return t.expand(1, 3, th, tw).contiguous() if t.shape[1] == 1 else t.contiguous()


def _normalise_mode(im: Image.Image) -> tuple[Image.Image, float]:
    """Convert to L, LA, RGB, RGBA (8-bit, scale 255) or F (16/32-bit gray, scale 65535 or 1)."""
    mode = im.mode
    if mode.startswith("I"):  # I;16, I;16B, I;16L, I: 16-bit PNG / TIFF gray, 0..65535
        return im.convert("I").convert("F") if mode != "I" else im.convert("F"), 65535.0
    if mode == "F":
        return im, 1.0
    has_alpha = "A" in mode or "a" in mode or "transparency" in im.info
    if mode in ("1", "L", "LA", "La"):
        target = "LA" if has_alpha else "L"
    else:
        target = "RGBA" if has_alpha else "RGB"
    return (im if im.mode == target else im.convert(target)), 255.0
