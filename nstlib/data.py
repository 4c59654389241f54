"""Images to experiment with: bundled photos, procedural styles, and pinned downloadable paintings.

Three kinds of built-in image, all loadable by name with ``nstlib.load_image(name)``:

- photos and textures that ship inside installed packages (scikit-image's ``skimage.data`` and
  matplotlib's sample data), so they work offline;
- procedural styles that nstlib draws itself with numpy (:func:`brush_strokes`, :func:`mosaic`,
  :func:`waves`, :func:`plaid`): deterministic for a given seed, offline, and with the strong
  colour and orientation statistics that make a good style image;
- paintings used by Gatys et al. and by jcjohnson/neural-style, downloaded on first use by
  :func:`fetch`, verified against the sha256 and size pinned in ``nstlib/registry/paintings.json``, and
  cached in ``$NSTLIB_CACHE`` (default ``~/.cache/nstlib``).

``list_images()`` prints a table of all of them with source and licence; ``data/README.md``
documents the same table for the repository.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Union

import numpy as np
import torch

from . import config

__all__ = [
    "ImageInfo",
    "ImageList",
    "DownloadError",
    "list_images",
    "builtin_names",
    "get",
    "fetch",
    "paintings",
    "brush_strokes",
    "mosaic",
    "waves",
    "plaid",
    "PROCEDURAL",
    "REGISTRY_PATH",
]

#: The pin registry: single source of truth for downloadable paintings.
REGISTRY_PATH = Path(__file__).resolve().parent / "registry" / "paintings.json"  # shipped in the wheel

#: A download gives up after ``_TOTAL_FACTOR * timeout`` seconds in all, even if bytes trickle in.
_TOTAL_FACTOR = 6.0

Size = Union[int, tuple[int, int], None]


class DownloadError(OSError):
    """A painting could not be downloaded or failed verification; the message says what to do."""


# ----------------------------------------------------------------------------------------------
# Records and the table printed by list_images()
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInfo:
    """One built-in image.

    Attributes
    ----------
    name : str
        What to pass to ``nstlib.load_image(name)``.
    kind : str
        ``"photo"``, ``"texture"``, ``"procedural"`` or ``"painting"``.
    source : str
        Where the pixels come from.
    licence : str
        The licence as recorded by the source.
    available_offline : bool
        True unless it is a painting that is not yet in the cache (downloaded and verified).
    description : str
        One line saying what is in the picture.
    """

    name: str
    kind: str
    source: str
    licence: str
    available_offline: bool
    description: str


class ImageList(list):
    """A list of :class:`ImageInfo` that prints as a table (``repr``, ``str`` and HTML in Jupyter)."""

    _COLUMNS = ("name", "kind", "offline", "description", "licence")

    def _rows(self) -> list[tuple[str, ...]]:
        return [
            (i.name, i.kind, "yes" if i.available_offline else "no", i.description, i.licence)
            for i in self
        ]

    def __str__(self) -> str:
        rows = [self._COLUMNS, *self._rows()]
        widths = [min(48, max(len(r[c]) for r in rows)) for c in range(len(self._COLUMNS))]

        def fmt(r: tuple[str, ...]) -> str:
            cells = [(s if len(s) <= w else s[: w - 1] + "…").ljust(w) for s, w in zip(r, widths)]
            return "  ".join(cells).rstrip()

        lines = [fmt(rows[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows[1:]]
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{c}</th>" for c in self._COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in self._rows()
        )
        return f"<table><tr>{head}</tr>{body}</table>"


# ----------------------------------------------------------------------------------------------
# Procedural styles (numpy only)
# ----------------------------------------------------------------------------------------------


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (tuple, list)):
        h, w = int(size[0]), int(size[1])
    else:
        h = w = int(size)
    if h <= 0 or w <= 0:
        raise ValueError(f"size={size!r}: both sides must be positive, e.g. size=512 or (256, 384).")
    return h, w


def _coords(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (v, u), each (H, W), in units where the longer side is 1."""
    s = float(max(h, w))
    v = (np.arange(h, dtype=np.float32)[:, None] + 0.5) / s
    u = (np.arange(w, dtype=np.float32)[None, :] + 0.5) / s
    return np.broadcast_to(v, (h, w)), np.broadcast_to(u, (h, w))


def _smooth_noise(rng: np.random.Generator, v: np.ndarray, u: np.ndarray, n: int = 10,
                  freq: tuple[float, float] = (1.0, 5.0)) -> np.ndarray:
    """A smooth random field, mostly in [-1, 1]: a sum of ``n`` random plane waves (amplitude 1/f).

    ``v`` and ``u`` are the (H, W) grids from :func:`_coords`. Each wave
    cos(a*u + b*v + p) = cos(a*u + p) cos(b*v) - sin(a*u + p) sin(b*v) is built from 1-D
    factors, so the cost is one multiply-add per pixel and wave.
    """
    v1, u1 = v[:, :1], u[:1, :]  # (H, 1), (1, W)
    out = np.zeros(np.broadcast_shapes(v.shape, u.shape), np.float32)
    total = 0.0
    for _ in range(n):
        f = rng.uniform(*freq)
        a = rng.uniform(0.0, 2.0 * np.pi)
        p = rng.uniform(0.0, 2.0 * np.pi)
        ku, kv = 2.0 * np.pi * f * np.cos(a), 2.0 * np.pi * f * np.sin(a)
        cu, su = np.cos(ku * u1 + p), np.sin(ku * u1 + p)
        out += ((cu * np.cos(kv * v1) - su * np.sin(kv * v1)) / f).astype(np.float32)
        total += 1.0 / f
    return out / (0.5 * total)


def _palette(t: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Map t in [0, 1] (H, W) to RGB (H, W, 3) by linear interpolation along ``colours`` (K, 3)."""
    t = np.clip(t, 0.0, 1.0) * (len(colours) - 1)
    i = np.minimum(t.astype(np.int64), len(colours) - 2)
    f = (t - i)[..., None]
    return colours[i] * (1.0 - f) + colours[i + 1] * f


def _to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) float array -> (1, 3, H, W) float32 tensor clipped to [0, 1]."""
    rgb = np.clip(rgb, 0.0, 1.0).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None]


_STARRY = np.array(
    [[0.06, 0.10, 0.30], [0.12, 0.25, 0.58], [0.30, 0.52, 0.80], [0.55, 0.70, 0.80],
     [0.93, 0.85, 0.45], [0.98, 0.72, 0.18]], np.float32)


def _brush_strokes_array(size: int | tuple[int, int], seed: int) -> np.ndarray:
    h, w = _hw(size)
    rng = np.random.default_rng(seed)
    v, u = _coords(h, w)
    # Flow field: a smooth angle field with swirls; strokes follow it (line integral convolution).
    angle = 1.8 * _smooth_noise(rng, v, u, n=8, freq=(0.8, 3.0))
    dy, dx = np.sin(angle), np.cos(angle)
    # Per-stroke tone: coarse random cells (about 1/110 of the longer side) around a smooth
    # regional tone, so neighbouring strokes differ but regions cohere. Mapped to colour at the end.
    cell = max(1, round(max(h, w) / 110))
    ch, cw = -(-h // cell), -(-w // cell)
    region = 0.5 + 0.45 * _smooth_noise(rng, *_coords(ch, cw), n=6, freq=(0.7, 2.5))
    tone = np.clip(region + 0.28 * rng.standard_normal((ch, cw)), 0.0, 1.0).astype(np.float32)
    tone = np.repeat(np.repeat(tone, cell, 0), cell, 1)[:h, :w].ravel()  # (H*W,)
    bristle = rng.random(h * w, dtype=np.float32)  # (H*W,)
    fy, fx = dy.astype(np.float32).ravel(), dx.astype(np.float32).ravel()
    # Line integral convolution: average tone and bristle noise along the flow, both ways.
    steps = max(2, round(max(h, w) / 48))
    acc_t, acc_b = tone.copy(), bristle.copy()
    y0, x0 = np.mgrid[0:h, 0:w].astype(np.float32)
    for sign in (1.0, -1.0):
        y, x = y0.ravel().copy(), x0.ravel().copy()
        k = np.arange(h * w)
        for _ in range(steps):
            y += sign * fy[k]
            x += sign * fx[k]
            k = np.clip(y, 0, h - 1).astype(np.int64) * w + np.clip(x, 0, w - 1).astype(np.int64)
            acc_t += tone[k]
            acc_b += bristle[k]
    n = 2 * steps + 1
    rgb = _palette((acc_t / n).reshape(h, w), _STARRY)  # (H, W, 3)
    streak = (acc_b / n - 0.5).reshape(h, w) * np.sqrt(12.0 * n)  # unit-variance bristle noise
    rgb = rgb * (1.0 + 0.18 * streak[..., None])
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


_TILES = np.array(
    [[0.70, 0.25, 0.15], [0.85, 0.60, 0.20], [0.93, 0.85, 0.65], [0.20, 0.45, 0.50],
     [0.12, 0.22, 0.50], [0.55, 0.12, 0.15]], np.float32)


def _mosaic_array(size: int | tuple[int, int], seed: int) -> np.ndarray:
    h, w = _hw(size)
    rng = np.random.default_rng(seed)
    cs = max(h, w) / 26.0  # tile size in pixels
    ny, nx = int(np.ceil(h / cs)) + 2, int(np.ceil(w / cs)) + 2
    # One jittered seed point per grid cell (with a border ring), Voronoi cells become tiles.
    gy, gx = np.mgrid[-1:ny - 1, -1:nx - 1].astype(np.float32)
    sy = (gy + 0.5 + rng.uniform(-0.4, 0.4, gy.shape)) * cs
    sx = (gx + 0.5 + rng.uniform(-0.4, 0.4, gx.shape)) * cs
    # Tile colour: a smooth field picks the palette region, plus a per-tile random offset.
    tv, tu = sy / max(h, w), sx / max(h, w)
    t = 0.5 + 0.4 * _smooth_noise(rng, tv, tu, n=6, freq=(0.8, 2.5)) + 0.12 * rng.standard_normal(gy.shape)
    tile_rgb = _palette(np.clip(t, 0, 1), _TILES) * rng.uniform(0.85, 1.1, gy.shape + (1,))
    py, px = np.mgrid[0:h, 0:w].astype(np.float32) + np.float32(0.5)
    sy, sx = sy.astype(np.float32), sx.astype(np.float32)
    cy, cx = (py // cs).astype(np.int64) + 1, (px // cs).astype(np.int64) + 1
    d = np.empty((9, h, w), np.float32)
    idx = np.empty((9, h, w), np.int64)
    k = 0
    for oy in (-1, 0, 1):
        for ox in (-1, 0, 1):
            jy, jx = np.clip(cy + oy, 0, ny - 1), np.clip(cx + ox, 0, nx - 1)
            d[k] = np.hypot(sy[jy, jx] - py, sx[jy, jx] - px)
            idx[k] = jy * nx + jx
            k += 1
    k1 = d.argmin(axis=0)[None]  # nearest seed, (1, H, W)
    d1 = np.take_along_axis(d, k1, 0)[0]
    nearest = np.take_along_axis(idx, k1, 0)[0]
    d2 = np.partition(d, 1, axis=0)[1]  # second nearest distance
    rgb = tile_rgb.reshape(-1, 3)[nearest]  # (H, W, 3)
    rgb = rgb * (1.05 - 0.3 * (d1 / cs))[..., None]  # slightly domed tiles
    grout = np.clip((d2 - d1) / (0.09 * cs), 0.0, 1.0)[..., None]  # 0 on the boundary
    return np.clip(rgb * grout + np.array([0.16, 0.14, 0.12]) * (1 - grout), 0, 1).astype(np.float32)


_SEA = np.array(
    [[0.03, 0.09, 0.25], [0.07, 0.22, 0.45], [0.20, 0.45, 0.68], [0.55, 0.75, 0.86],
     [0.95, 0.94, 0.88]], np.float32)


def _waves_array(size: int | tuple[int, int], seed: int) -> np.ndarray:
    h, w = _hw(size)
    rng = np.random.default_rng(seed)
    v, u = _coords(h, w)
    warp = 0.035 * _smooth_noise(rng, v, u, n=8, freq=(1.0, 4.0))
    vv = v + warp + 0.025 * np.sin(2 * np.pi * (3.0 * u + rng.uniform()))
    band = vv * 11.0 + 0.35 * np.sin(2 * np.pi * (4.0 * u + 1.5 * vv + rng.uniform()))
    t = band - np.floor(band)  # position inside one wave, 0 at the trough, 1 at the crest
    crest = t ** 2.5
    lines = 0.5 + 0.5 * np.sin(2 * np.pi * 70.0 * vv + 6.0 * warp)  # fine engraving lines
    shade = crest * (0.88 + 0.12 * lines)
    return _palette(shade, _SEA).astype(np.float32)


_TARTAN = np.array(
    [[0.55, 0.08, 0.10], [0.05, 0.15, 0.10], [0.05, 0.10, 0.30], [0.90, 0.80, 0.30],
     [0.95, 0.95, 0.92]], np.float32)


def _plaid_array(size: int | tuple[int, int], seed: int) -> np.ndarray:
    h, w = _hw(size)
    rng = np.random.default_rng(seed)
    # A sett: a random sequence of stripe colours and widths, repeated; same for warp and weft.
    n = 8
    colours = _TARTAN[rng.integers(0, len(_TARTAN), n)]
    widths = rng.integers(2, 12, n).astype(np.float64)
    period = max(h, w) / 3.0
    edges = np.cumsum(widths) / widths.sum() * period

    def stripes(coord: np.ndarray) -> np.ndarray:  # (N,) pixel coordinate -> (N, 3) colour
        return colours[np.searchsorted(edges, np.mod(coord, period), side="right").clip(0, n - 1)]

    rows = stripes(np.arange(h) + 0.5)[:, None, :]  # (H, 1, 3)
    cols = stripes(np.arange(w) + 0.5)[None, :, :]  # (1, W, 3)
    yy, xx = np.mgrid[0:h, 0:w]
    twill = (((xx + yy) // 2) % 2)[..., None]  # 2/2 twill: diagonal weave alternates warp/weft
    rgb = np.where(twill == 1, rows, cols) * (0.9 + 0.1 * twill)
    return rgb.astype(np.float32)


def brush_strokes(size: int | tuple[int, int] = 512, seed: int = 0) -> torch.Tensor:
    """Swirling blue-and-yellow brush strokes (after Van Gogh), drawn by line integral convolution.

    Short strokes of palette colours are smeared along a smooth random flow field, with bristle
    noise along each stroke. Deterministic for a given ``seed``; no download.

    Parameters
    ----------
    size : int or (H, W)
        An int gives a square image. Features scale with the image.
    seed : int
        Random seed.

    Returns
    -------
    torch.Tensor
        float32 (1, 3, H, W) in [0, 1].

    >>> brush_strokes(64).shape
    torch.Size([1, 3, 64, 64])
    """
    return _to_tensor(_brush_strokes_array(size, seed))


def mosaic(size: int | tuple[int, int] = 512, seed: int = 0) -> torch.Tensor:
    """A tile mosaic: Voronoi tiles in terracotta, ochre and lapis with dark grout lines.

    About 26 tiles along the longer side. Returns float32 (1, 3, H, W) in [0, 1].

    >>> mosaic((32, 48)).shape
    torch.Size([1, 3, 32, 48])
    """
    return _to_tensor(_mosaic_array(size, seed))


def waves(size: int | tuple[int, int] = 512, seed: int = 0) -> torch.Tensor:
    """Stylised sea waves (after Hokusai): warped bands from deep blue to white crests.

    Strongly horizontal orientation with fine engraving lines. Returns float32 (1, 3, H, W).

    >>> float(waves(32).max()) <= 1.0
    True
    """
    return _to_tensor(_waves_array(size, seed))


def plaid(size: int | tuple[int, int] = 512, seed: int = 0) -> torch.Tensor:
    """A tartan: a random sett of coloured stripes woven as a 2/2 twill (vertical, horizontal
    and diagonal structure). Returns float32 (1, 3, H, W).

    >>> plaid(16).shape
    torch.Size([1, 3, 16, 16])
    """
    return _to_tensor(_plaid_array(size, seed))


#: Procedural styles by name: ``PROCEDURAL[name](size, seed) -> (1, 3, H, W)`` tensor.
PROCEDURAL: dict[str, Callable[..., torch.Tensor]] = {
    "brush_strokes": brush_strokes,
    "mosaic": mosaic,
    "waves": waves,
    "plaid": plaid,
}

# ----------------------------------------------------------------------------------------------
# Photos and textures from installed packages
# ----------------------------------------------------------------------------------------------

_SKIMAGE = "scikit-image (skimage.data.{fn})"
#: name -> (skimage.data function, kind, description, licence), as the skimage docstrings record.
_PACKAGED: dict[str, tuple[str, str, str, str]] = {
    "astronaut": ("astronaut", "photo", "Eileen Collins, NASA astronaut, portrait (512x512)",
                  "public domain (NASA; no known copyright restrictions)"),
    "coffee": ("coffee", "photo", "a cup of coffee on a wooden table (400x600)",
               "CC0 (photographer Rachel Michetti, courtesy of Pikolo Espresso Bar)"),
    "chelsea": ("chelsea", "photo", "Chelsea the cat (300x451)",
                "CC0 (photographer Stefan van der Walt)"),
    "rocket": ("rocket", "photo", "SpaceX Falcon 9 launching DSCOVR (427x640)",
               "public domain (released by SpaceX)"),
    "hubble_deep_field": ("hubble_deep_field", "photo", "Hubble eXtreme Deep Field (872x1000)",
                          "public domain (NASA)"),
    "brick": ("brick", "texture", "brick wall, grayscale (512x512)",
              "CC0 (from CC0Textures, Bricks25)"),
    "grass": ("grass", "texture", "grass, grayscale (512x512)",
              "CC0 (from DeviantArt user linolafett, Grass-01)"),
    "gravel": ("gravel", "texture", "gravel, grayscale (512x512)",
               "CC0 (from CC0Textures, Gravel04)"),
}

_HOPPER_LICENCE = (
    "not stated by matplotlib; the image is the official 1984 U.S. Navy portrait of "
    "Commodore Grace M. Hopper, a work of the U.S. government (public domain)"
)


_HOPPER_POSITION = 5  # listed after the skimage photos, before the textures


def _load_packaged(name: str) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 array from the installed scikit-image."""
    import skimage.data

    return getattr(skimage.data, _PACKAGED[name][0])()


def _grace_hopper_path() -> Path:
    from matplotlib import cbook

    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


# ----------------------------------------------------------------------------------------------
# Paintings: the pin registry and the downloader
# ----------------------------------------------------------------------------------------------


def paintings(registry_path: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """The pinned paintings from ``nstlib/registry/paintings.json``: name -> entry.

    Each entry has ``name``, ``url``, ``sha256`` (64 hex digits), ``size`` (bytes), ``title``,
    ``licence`` and ``credit``.
    """
    path = Path(registry_path) if registry_path else REGISTRY_PATH
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["paintings"]
    except FileNotFoundError:
        raise FileNotFoundError(
            f"The painting registry {path} is missing: this nstlib installation is incomplete. "
            "Reinstall it (`pip install --force-reinstall nstlib`, or `pip install -e .` in a checkout)."
        ) from None
    return {e["name"]: e for e in entries}


def _cache_path(entry: Mapping[str, Any], folder: Path) -> Path:
    suffix = Path(urllib.parse.urlsplit(entry["url"]).path).suffix or ".jpg"
    return folder / "paintings" / f"{entry['name']}{suffix}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verified(path: Path, entry: Mapping[str, Any]) -> bool:
    return (path.is_file() and path.stat().st_size == int(entry["size"])
            and _sha256(path) == entry["sha256"])


def _offline_help(entry: Mapping[str, Any], target: Path) -> str:
    return (
        f"To work offline: download {entry['url']} by hand and save it as {target} "
        f"(sha256 {entry['sha256']}), or use a style that needs no download: "
        f"{', '.join(PROCEDURAL)} (see nstlib.list_images())."
    )


def fetch(name: str, *, timeout: float = 10.0, cache_dir: str | os.PathLike | None = None,
          registry: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Download the pinned painting ``name`` once, verify it, and return its cached path.

    A file already in the cache that matches the pinned sha256 and size is returned without
    touching the network. Otherwise the file is downloaded to a temporary file next to its final
    place, checked (byte count, sha256) and only then renamed into place; on any failure the
    temporary file is removed and :class:`DownloadError` explains what happened and what to do.

    Parameters
    ----------
    name : str
        A painting name, e.g. ``"starry_night"`` (see ``paintings()``).
    timeout : float
        Seconds to wait for the server on any one read; the whole download gives up after
        ``6 * timeout`` seconds.
    cache_dir : path, optional
        Defaults to ``nstlib.config.cache_dir()`` (``$NSTLIB_CACHE`` or ``~/.cache/nstlib``).
        Files go in its ``paintings/`` folder.
    registry : mapping, optional
        name -> entry, in the format of ``nstlib/registry/paintings.json``; defaults to that file. For tests
        and mirrors.

    Returns
    -------
    pathlib.Path
        The verified file.
    """
    table = paintings() if registry is None else registry
    if name not in table:
        raise KeyError(f"No painting named {name!r}. Pinned paintings: {', '.join(table)}.")
    entry = table[name]
    folder = Path(cache_dir).expanduser() if cache_dir is not None else config.cache_dir()
    target = _cache_path(entry, folder)
    if target.exists():
        if _verified(target, entry):
            return target
        warnings.warn(f"The cached {target} does not match its pinned sha256; downloading it again.",
                      stacklevel=2)
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            got_bytes, digest = _download(entry, out, timeout, target)
        if got_bytes != int(entry["size"]) or digest != entry["sha256"]:
            raise DownloadError(
                f"The download of {name!r} from {entry['url']} does not match its pin: got "
                f"{got_bytes} bytes with sha256 {digest}, expected {entry['size']} bytes with "
                f"sha256 {entry['sha256']}. The file was deleted. The server may now serve a "
                "different file: try again later, or report it so nstlib/registry/paintings.json can be "
                f"checked. {_offline_help(entry, target)}"
            )
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return target


def _download(entry: Mapping[str, Any], out, timeout: float, target: Path) -> tuple[int, str]:
    """Stream ``entry['url']`` into the open file ``out``; return (bytes written, sha256)."""
    url = entry["url"]
    deadline = time.monotonic() + _TOTAL_FACTOR * timeout
    digest = hashlib.sha256()
    n = 0
    request = urllib.request.Request(url, headers={"User-Agent": "nstlib"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            expected = response.headers.get("Content-Length")
            while True:
                if time.monotonic() > deadline:
                    raise DownloadError(
                        f"Downloading {url} took longer than {_TOTAL_FACTOR * timeout:.0f} s "
                        f"({n} bytes so far) and was stopped; the connection is too slow. "
                        f"Retry with a larger timeout=. {_offline_help(entry, target)}"
                    )
                chunk = response.read1(64 * 1024)  # whatever has arrived, so the deadline is checked
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                n += len(chunk)
                if n > 4 * int(entry["size"]) + (1 << 20):
                    raise DownloadError(
                        f"{url} sent far more data than the pinned {entry['size']} bytes; stopped."
                    )
    except urllib.error.HTTPError as e:
        raise DownloadError(
            f"The server answered HTTP {e.code} {e.reason} for {url}. The pinned URL may have "
            f"moved: please report it. {_offline_help(entry, target)}"
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
        if isinstance(e, DownloadError):
            raise
        reason = getattr(e, "reason", e)
        stalled = isinstance(reason, TimeoutError) or isinstance(e, TimeoutError)
        what = (f"the server did not answer within timeout={timeout} s" if stalled
                else f"{type(reason).__name__}: {reason}")
        raise DownloadError(
            f"Could not download the painting {entry['name']!r} from {url} ({what}). You may be "
            f"offline, or the server is unreachable. {_offline_help(entry, target)}"
        ) from None
    if expected is not None and n != int(expected):
        raise DownloadError(
            f"The download of {url} was cut off: got {n} of {expected} bytes. Nothing was saved; "
            f"try again. {_offline_help(entry, target)}"
        )
    return n, digest.hexdigest()


# ----------------------------------------------------------------------------------------------
# The catalogue
# ----------------------------------------------------------------------------------------------


def builtin_names() -> list[str]:
    """All names ``load_image`` accepts, in ``list_images()`` order."""
    packaged = list(_PACKAGED)
    packaged.insert(_HOPPER_POSITION, "grace_hopper")
    return [*packaged, *PROCEDURAL, *paintings()]


def list_images(kind: str | None = None) -> ImageList:
    """All built-in images, as an :class:`ImageList` that prints as a table.

    Parameters
    ----------
    kind : str, optional
        Keep only ``"photo"``, ``"texture"``, ``"procedural"`` or ``"painting"``.

    Returns
    -------
    ImageList
        A list of :class:`ImageInfo`; ``print(list_images())`` (or just evaluating it in a
        notebook cell) shows the table.
    """
    kinds = ("photo", "texture", "procedural", "painting")
    if kind is not None and kind not in kinds:
        raise ValueError(f"kind={kind!r}; choose one of {', '.join(kinds)} (or None for all).")
    items = [
        ImageInfo(name, k, _SKIMAGE.format(fn=fn), lic, True, desc)
        for name, (fn, k, desc, lic) in _PACKAGED.items()
    ]
    items.insert(_HOPPER_POSITION, ImageInfo(
        "grace_hopper", "photo", "matplotlib sample data (grace_hopper.jpg)", _HOPPER_LICENCE,
        True, "Commodore Grace M. Hopper, 1984 portrait (600x512)",
    ))
    for name, fn in PROCEDURAL.items():
        items.append(ImageInfo(name, "procedural", "generated by nstlib (numpy, seeded)",
                               "part of nstlib (MIT)", True,
                               (fn.__doc__ or "").strip().splitlines()[0].rstrip(".")))
    folder = config.cache_dir()
    for name, e in paintings().items():
        items.append(ImageInfo(name, "painting", f"download: {e['url']}", e["licence"],
                               _verified(_cache_path(e, folder), e), e["title"]))
    return ImageList(i for i in items if kind is None or i.kind == kind)


def get(name: str, size: Size = None) -> Union[np.ndarray, torch.Tensor, Path]:
    """The raw source behind a built-in name, for ``load_image`` to decode and resize.

    Returns a uint8 array (packaged photos and textures), a path (grace_hopper, paintings:
    downloaded on demand) or a (1, 3, H, W) tensor (procedural, drawn directly at ``size``:
    an int gives a square, ``None`` 512 x 512).
    """
    if name in _PACKAGED:
        return _load_packaged(name)
    if name == "grace_hopper":
        return _grace_hopper_path()
    if name in PROCEDURAL:
        return PROCEDURAL[name](512 if size is None else size)
    table = paintings()
    if name in table:
        return fetch(name)
    raise KeyError(f"No built-in image named {name!r}. Names: {', '.join(builtin_names())}.")
