"""Images to experiment with: bundled photos, procedural styles, and pinned downloadable paintings.

Three kinds of built-in image, all loadable by name with ``nstlib.load_image(name)``:

- photos and textures that ship inside installed packages (scikit-image's ``skimage.data`` and
  matplotlib's sample data), so they work offline;
- procedural styles that nstlib draws itself with numpy (:func:`brush_strokes`, :func:`mosaic`,
  :func:`waves`, :func:`plaid`): deterministic for a given seed, offline, and with the strong
  colour and orientation statistics that make a good style image;
- paintings used by Gatys et al. and by jcjohnson/neural-style, downloaded on first use by
  :func:`fetch`, verified against the sha256 and size pinned in ``nstlib/registry/paintings.json``,
  and cached in ``$NSTLIB_CACHE`` (default ``~/.cache/nstlib``).

``list_images()`` prints a table of all of them with source and licence; ``data/README.md``
documents the same table for the repository.

Where things live: ``catalogue.py`` (the names, their sources and licences, :func:`list_images`,
:func:`get`, :func:`fetch`), ``procedural.py`` (the four drawn styles) and ``download.py`` (the one
download helper with its sha256 check).
"""

from __future__ import annotations

from .catalogue import (
    REGISTRY_PATH,
    ImageInfo,
    ImageList,
    builtin_names,
    fetch,
    get,
    list_images,
    paintings,
)
from .catalogue import (
    Size as Size,  # the type of size= arguments, as before
)
from .download import DownloadError
from .procedural import PROCEDURAL, brush_strokes, mosaic, plaid, waves

__all__ = [
    "PROCEDURAL",
    "REGISTRY_PATH",
    "DownloadError",
    "ImageInfo",
    "ImageList",
    "brush_strokes",
    "builtin_names",
    "fetch",
    "get",
    "list_images",
    "mosaic",
    "paintings",
    "plaid",
    "waves",
]
