"""Procedural style images drawn with numpy: :func:`brush_strokes`, :func:`mosaic`, :func:`waves`, :func:`plaid`.

Deterministic for a given seed, offline, and with the strong colour and orientation statistics
that make a good style image: the Gram matrices of Gatys et al. (2016) capture such
statistics. Source: drawn by nstlib itself, part of nstlib (MIT licence), no third-party pixels.
Each returns a float32 (1, 3, H, W) tensor in [0, 1]; ``PROCEDURAL`` maps the names to them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = ["PROCEDURAL", "brush_strokes", "mosaic", "plaid", "waves"]


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


def _smooth_noise(
    rng: np.random.Generator, v: np.ndarray, u: np.ndarray, n: int = 10, freq: tuple[float, float] = (1.0, 5.0)
) -> np.ndarray:
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
    [
        [0.06, 0.10, 0.30],
        [0.12, 0.25, 0.58],
        [0.30, 0.52, 0.80],
        [0.55, 0.70, 0.80],
        [0.93, 0.85, 0.45],
        [0.98, 0.72, 0.18],
    ],
    np.float32,
)


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
    [
        [0.70, 0.25, 0.15],
        [0.85, 0.60, 0.20],
        [0.93, 0.85, 0.65],
        [0.20, 0.45, 0.50],
        [0.12, 0.22, 0.50],
        [0.55, 0.12, 0.15],
    ],
    np.float32,
)


def _mosaic_array(size: int | tuple[int, int], seed: int) -> np.ndarray:
    h, w = _hw(size)
    rng = np.random.default_rng(seed)
    cs = max(h, w) / 26.0  # tile size in pixels
    ny, nx = int(np.ceil(h / cs)) + 2, int(np.ceil(w / cs)) + 2
    # One jittered seed point per grid cell (with a border ring), Voronoi cells become tiles.
    gy, gx = np.mgrid[-1 : ny - 1, -1 : nx - 1].astype(np.float32)
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
    [[0.03, 0.09, 0.25], [0.07, 0.22, 0.45], [0.20, 0.45, 0.68], [0.55, 0.75, 0.86], [0.95, 0.94, 0.88]], np.float32
)


def _waves_array(size: int | tuple[int, int], seed: int) -> np.ndarray:
    h, w = _hw(size)
    rng = np.random.default_rng(seed)
    v, u = _coords(h, w)
    warp = 0.035 * _smooth_noise(rng, v, u, n=8, freq=(1.0, 4.0))
    vv = v + warp + 0.025 * np.sin(2 * np.pi * (3.0 * u + rng.uniform()))
    band = vv * 11.0 + 0.35 * np.sin(2 * np.pi * (4.0 * u + 1.5 * vv + rng.uniform()))
    t = band - np.floor(band)  # position inside one wave, 0 at the trough, 1 at the crest
    crest = t**2.5
    lines = 0.5 + 0.5 * np.sin(2 * np.pi * 70.0 * vv + 6.0 * warp)  # fine engraving lines
    shade = crest * (0.88 + 0.12 * lines)
    return _palette(shade, _SEA).astype(np.float32)


_TARTAN = np.array(
    [[0.55, 0.08, 0.10], [0.05, 0.15, 0.10], [0.05, 0.10, 0.30], [0.90, 0.80, 0.30], [0.95, 0.95, 0.92]], np.float32
)


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
