"""Old names that moved keep working for one version: a module-level ``__getattr__`` that forwards
them with a ``DeprecationWarning`` saying where they live now (used by every deprecated module)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def forwarder(old: str, moved: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for module ``old`` whose names moved.

    ``moved`` maps an old name to its new module (``"nstlib.io"``) or to ``"module:new_name"`` when
    the name changed too (``"nstlib.speed:Bf16BackwardConv"``).
    """

    def __getattr__(name: str) -> Any:
        if name not in moved:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        module, _, new = moved[name].partition(":")
        new = new or name
        warnings.warn(
            f"{old}.{name} moved to {module}.{new}; the old name will be removed in the next version. "
            f"Use `from {module} import {new}`.",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), new)

    def __dir__() -> list[str]:
        return sorted(moved)

    return __getattr__, __dir__
