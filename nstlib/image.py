"""Deprecated: ``nstlib.image`` is now :mod:`nstlib.io` (load, save, check and convert images).

``nstlib.image.load_image`` and the other names still work for one version, with a
``DeprecationWarning``; import them from ``nstlib.io`` (or ``nstlib``) instead.
"""

from __future__ import annotations

from ._moved import forwarder

#: the public names of the old module, all in nstlib.io now
_MOVED = dict.fromkeys(
    ["ImageError", "ImageNotFoundError", "MAX_SIDE", "load_image", "save_image", "check_image", "to_pil", "to_numpy"],
    "nstlib.io",
)

__getattr__, __dir__ = forwarder(__name__, _MOVED)
