"""Deprecated: the plot helpers moved to :mod:`nstlib.viz` (``show_images``, ``plot_losses``) and
:mod:`nstlib.io` (``to_display``). The old names keep working here for one version, each with a
:class:`DeprecationWarning` naming the new home.
"""

from __future__ import annotations

import importlib
import warnings

#: {old name: new module}
_MOVED = {"show_images": "nstlib.viz", "plot_losses": "nstlib.viz", "to_display": "nstlib.io"}

__all__ = list(_MOVED)


def __getattr__(name: str):
    if name not in _MOVED:
        raise AttributeError(f"module 'nstlib.plot' has no attribute {name!r}")
    new = _MOVED[name]
    warnings.warn(
        f"nstlib.plot.{name} moved to {new}.{name}; nstlib.plot goes away in the next version",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(new), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_MOVED])
