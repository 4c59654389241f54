"""The catalogue of built-in images: bundled photos and textures, procedural styles, pinned paintings.

Every name here loads with ``nstlib.load_image(name)``; :func:`list_images` prints them as a table
with source and licence (``data/README.md`` in the repository documents the same table).

- Photos and textures ship inside installed packages, so they work offline: scikit-image's
  ``skimage.data`` (the licences below are those its docstrings record) and matplotlib's sample
  data (``grace_hopper.jpg``).
- Procedural styles are drawn by :mod:`nstlib.data.procedural`.
- Paintings used by Gatys et al. and by jcjohnson/neural-style are pinned (URL, sha256, size,
  title, licence, credit) in ``nstlib/registry/paintings.json``; :func:`fetch` downloads one on
  first use with :func:`nstlib.data.download.download_file` and caches it in ``$NSTLIB_CACHE``
  (default ``~/.cache/nstlib``).
"""

from __future__ import annotations

import json
import os
import urllib.parse
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import config
from .download import download_file, verified
from .procedural import PROCEDURAL

__all__ = [
    "REGISTRY_PATH",
    "ImageInfo",
    "ImageList",
    "builtin_names",
    "fetch",
    "get",
    "list_images",
    "paintings",
]

#: The pin registry: single source of truth for downloadable paintings (shipped in the wheel).
REGISTRY_PATH = Path(__file__).resolve().parent.parent / "registry" / "paintings.json"

Size = int | tuple[int, int] | None

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
        return [(i.name, i.kind, "yes" if i.available_offline else "no", i.description, i.licence) for i in self]

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
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in self._rows())
        return f"<table><tr>{head}</tr>{body}</table>"


# ----------------------------------------------------------------------------------------------
# Photos and textures from installed packages
# ----------------------------------------------------------------------------------------------

_SKIMAGE = "scikit-image (skimage.data.{fn})"
#: name -> (skimage.data function, kind, description, licence), as the skimage docstrings record.
_PACKAGED: dict[str, tuple[str, str, str, str]] = {
    "astronaut": (
        "astronaut",
        "photo",
        "Eileen Collins, NASA astronaut, portrait (512x512)",
        "public domain (NASA; no known copyright restrictions)",
    ),
    "coffee": (
        "coffee",
        "photo",
        "a cup of coffee on a wooden table (400x600)",
        "CC0 (photographer Rachel Michetti, courtesy of Pikolo Espresso Bar)",
    ),
    "chelsea": ("chelsea", "photo", "Chelsea the cat (300x451)", "CC0 (photographer Stefan van der Walt)"),
    "rocket": ("rocket", "photo", "SpaceX Falcon 9 launching DSCOVR (427x640)", "public domain (released by SpaceX)"),
    "hubble_deep_field": ("hubble_deep_field", "photo", "Hubble eXtreme Deep Field (872x1000)", "public domain (NASA)"),
    "brick": ("brick", "texture", "brick wall, grayscale (512x512)", "CC0 (from CC0Textures, Bricks25)"),
    "grass": ("grass", "texture", "grass, grayscale (512x512)", "CC0 (from DeviantArt user linolafett, Grass-01)"),
    "gravel": ("gravel", "texture", "gravel, grayscale (512x512)", "CC0 (from CC0Textures, Gravel04)"),
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
# Paintings: the pin registry and the cache
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


def _verified(path: Path, entry: Mapping[str, Any]) -> bool:
    return verified(path, entry["sha256"], int(entry["size"]))


def _offline_help(entry: Mapping[str, Any], target: Path) -> str:
    return (
        f"To work offline: download {entry['url']} by hand and save it as {target} "
        f"(sha256 {entry['sha256']}), or use a style that needs no download: "
        f"{', '.join(PROCEDURAL)} (see nstlib.list_images())."
    )


def fetch(
    name: str,
    *,
    timeout: float = 10.0,
    cache_dir: str | os.PathLike | None = None,
    registry: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Download the pinned painting ``name`` once, verify it, and return its cached path.

    A file already in the cache that matches the pinned sha256 and size is returned without
    touching the network. Otherwise the file is downloaded to a temporary file next to its final
    place, checked (byte count, sha256) and only then renamed into place; on any failure the
    temporary file is removed and :class:`~nstlib.data.DownloadError` explains what happened and
    what to do.

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
        name -> entry, in the format of ``nstlib/registry/paintings.json``; defaults to that file.
        For tests and mirrors.

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
        warnings.warn(f"The cached {target} does not match its pinned sha256; downloading it again.", stacklevel=2)
        target.unlink()
    return download_file(
        entry["url"],
        target,
        sha256=entry["sha256"],
        size=int(entry["size"]),
        timeout=timeout,
        what=f"the painting {name!r}",
        advice=_offline_help(entry, target),
    )


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
        ImageInfo(name, k, _SKIMAGE.format(fn=fn), lic, True, desc) for name, (fn, k, desc, lic) in _PACKAGED.items()
    ]
    items.insert(
        _HOPPER_POSITION,
        ImageInfo(
            "grace_hopper",
            "photo",
            "matplotlib sample data (grace_hopper.jpg)",
            _HOPPER_LICENCE,
            True,
            "Commodore Grace M. Hopper, 1984 portrait (600x512)",
        ),
    )
    for name, fn in PROCEDURAL.items():
        items.append(
            ImageInfo(
                name,
                "procedural",
                "generated by nstlib (numpy, seeded)",
                "part of nstlib (MIT)",
                True,
                (fn.__doc__ or "").strip().splitlines()[0].rstrip("."),
            )
        )
    folder = config.cache_dir()
    for name, e in paintings().items():
        items.append(
            ImageInfo(
                name,
                "painting",
                f"download: {e['url']}",
                e["licence"],
                _verified(_cache_path(e, folder), e),
                e["title"],
            )
        )
    return ImageList(i for i in items if kind is None or i.kind == kind)


def get(name: str, size: Size = None) -> np.ndarray | torch.Tensor | Path:
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
