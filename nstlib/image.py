"""Deprecated: ``nstlib.image`` is now :mod:`nstlib.io` (load, save, check and convert images).

``nstlib.image.load_image`` and the other names still work for one version, with a
``DeprecationWarning``; import them from ``nstlib.io`` (or ``nstlib``) instead.
"""

from __future__ import annotations

import warnings
from typing import Any

from . import io as _io

_MOVED = frozenset(  # the public names of the old module
    {"ImageError", "ImageNotFoundError", "MAX_SIDE", "load_image", "save_image", "check_image", "to_pil", "to_numpy"}
)


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(
            f"nstlib.image.{name} moved to nstlib.io.{name}; nstlib.image will be removed in the "
            f"next version. Use `from nstlib.io import {name}`.",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(_io, name)
    raise AttributeError(f"module 'nstlib.image' has no attribute {name!r} (it moved to nstlib.io)")


def __dir__() -> list[str]:
    return sorted(_MOVED)
