"""Deprecated name of :mod:`nstlib.synthesis` (the loop) and :mod:`nstlib.objective` (the terms).

``nstlib.optim.X`` keeps working for one version with a :class:`DeprecationWarning`; import
``nstlib.synthesis.X`` (or ``nstlib.X``) instead.
"""

from __future__ import annotations

from . import synthesis
from ._moved import forwarder

#: every public name the old module had, all importable from nstlib.synthesis now
_OLD = [*synthesis.__all__, "RESTART_PATIENCE", "NONFINITE_HINT", "LossFn", "Callback"]

__getattr__, __dir__ = forwarder(__name__, dict.fromkeys(_OLD, "nstlib.synthesis"))
