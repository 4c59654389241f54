"""How :func:`nstlib.io.load_image` turns files, PIL images, arrays and tensors into (1, 3, H, W).

The details a reader of the pipeline can skip: the ``size=`` rules (longer side, (H, W), the
``MAX_SIDE`` cap), EXIF rotation, gray and palette images, alpha composited on white, 16-bit
files scaled by 65535, JPEG draft decoding of huge files, and truncated files refused even when
PIL was told to be lenient. Every function returns a float32
(1, 3, H, W) tensor in [0, 1] or raises :class:`nstlib.io.ImageError` naming the input and the fix.

The errors, the size cap and the value-range check are defined here, below :mod:`nstlib.io`, which
re-exports them: io imports this module, never the other way round.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

#: Longer side (pixels) that ``load_image(..., size=None)`` downsizes larger images to.
MAX_SIDE = 4096

#: Values this far outside [0, 1] are treated as rounding noise and clamped; more is an error.
_TOL = 1e-3

Size = int | tuple[int, int] | None


class ImageError(ValueError):
    """An image could not be loaded, saved or validated; the message says why and how to fix it."""


class ImageNotFoundError(ImageError, FileNotFoundError):
    """A path that does not exist (and is not a built-in image name either)."""


# their public home (tracebacks and pickles name it): nstlib.io, which re-exports them
ImageError.__module__ = ImageNotFoundError.__module__ = "nstlib.io"


# ----------------------------------------------------------------------------------------------
# Values
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
        hint = (
            "It looks ImageNet-normalised: undo it with x * std + mean "
            "(mean 0.485, 0.456, 0.406; std 0.229, 0.224, 0.225)."
        )
    else:
        hint = "Rescale it, e.g. (x - x.min()) / (x.max() - x.min()), or clamp with x.clamp(0, 1)."
    raise ImageError(f"{name} has values in [{lo:.4g}, {hi:.4g}], expected [0, 1]. {hint}")


# ----------------------------------------------------------------------------------------------
# Sizes
# ----------------------------------------------------------------------------------------------


def check_size(size: Size) -> None:
    fix = "Use size=None (keep), an int for the longer side (e.g. 512), or a tuple (H, W)."
    if size is None:
        return
    if isinstance(size, (bool, float)) or not isinstance(size, (int, tuple, list, np.integer)):
        raise ImageError(f"size={size!r} ({type(size).__name__}) is not a valid size. {fix}")
    if isinstance(size, (tuple, list)):
        ok = len(size) == 2 and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in size)
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


def _fit_longer_side(h: int, w: int, side: int) -> tuple[int, int]:
    scale = side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def _warn(message: str) -> None:
    """Warn, attributing the warning to the first caller outside the nstlib package."""
    package = Path(__file__).resolve().parent
    frame: FrameType | None = sys._getframe(1)
    level = 2
    while frame is not None and Path(frame.f_code.co_filename).resolve().is_relative_to(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, stacklevel=level)


# ----------------------------------------------------------------------------------------------
# Tensors and arrays
# ----------------------------------------------------------------------------------------------


def tensor_to_image(t: torch.Tensor) -> torch.Tensor:
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
        raise ImageError(f"load_image() got a tensor of dtype {t.dtype}; expected a float tensor in [0, 1]: {hint}.")
    t = t.detach().to(device="cpu", dtype=torch.float32)
    t = _check_range(t, f"the tensor passed to load_image() (shape {shape})")
    if t.shape[1] == 1:
        t = t.expand(1, 3, *t.shape[2:])
    return t.contiguous().clone()


def array_to_image(a: np.ndarray) -> torch.Tensor:
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


def resize_tensor(t: torch.Tensor, size: Size, what: str) -> torch.Tensor:
    """Antialiased bicubic resize of a (1, 3, H, W) tensor to ``size`` (see ``load_image``)."""
    h, w = t.shape[-2:]
    th, tw = _target_hw(h, w, size, what)
    if (th, tw) == (h, w):
        return t
    t = F.interpolate(t, size=(th, tw), mode="bicubic", antialias=True, align_corners=False)
    return t.clamp_(0.0, 1.0)


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


def load_file(path: Path, size: Size) -> torch.Tensor:
    """Decode the existing file ``path``; every failure is an ImageError that says what to do."""
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
                return pil_to_image(im, size, what=what)
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
                f"{str(path)!r} is too large to decode safely ({e}). Downsize it with an image editor first."
            ) from None
        except (OSError, SyntaxError, ValueError) as e:
            if isinstance(e, ImageError):
                raise
            raise ImageError(
                f"{str(path)!r} ({nbytes} bytes) is truncated or corrupt and cannot be decoded "
                f"(PIL: {e}). Download or export the image again."
            ) from None


def pil_to_image(im: Image.Image, size: Size, what: str) -> torch.Tensor:
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
        im = im.resize(
            (tw, th),
            Image.LANCZOS,  # type: ignore[attr-defined]
            reducing_gap=2.0,
        )
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
