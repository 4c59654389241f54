"""Deprecated: the plot helpers moved to :mod:`nstlib.viz` (``show_images``, ``plot_losses``) and
:mod:`nstlib.io` (``to_display``). The old names keep working here for one version, each with a
:class:`DeprecationWarning` naming the new home.
"""

from __future__ import annotations

from ._moved import forwarder

#: {old name: new module}
_MOVED = {"show_images": "nstlib.viz", "plot_losses": "nstlib.viz", "to_display": "nstlib.io"}

__all__ = list(_MOVED)


__getattr__, __dir__ = forwarder("nstlib.plot", _MOVED)
