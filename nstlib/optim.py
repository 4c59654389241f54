"""Deprecated name of :mod:`nstlib.synthesis` (the objective and the one optimisation loop).

``nstlib.optim.X`` keeps working for one version with a :class:`DeprecationWarning`; import
``nstlib.synthesis.X`` (or ``nstlib.X``) instead.
"""

from __future__ import annotations

import warnings
from typing import Any

from . import synthesis as _new


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    value = getattr(_new, name)  # AttributeError for names that never existed
    warnings.warn(
        f"nstlib.optim is now nstlib.synthesis: use nstlib.synthesis.{name}", DeprecationWarning, stacklevel=2
    )
    return value


def __dir__() -> list[str]:
    return sorted(_new.__all__)
