"""Module-level ``__getattr__`` for the old grading modules (``basic``, ``pipeline``): names that moved
keep working for one version, with a ``DeprecationWarning`` that says where they live now."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def forwarder(old: str, moved: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for module ``old`` whose names moved: {name: new module}."""

    def __getattr__(name: str) -> Any:
        if name not in moved:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        new = moved[name]
        warnings.warn(
            f"{old}.{name} moved to {new}.{name}; {old} will be removed in the next version. "
            f"Use `from {new} import {name}`.",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(new), name)

    def __dir__() -> list[str]:
        return sorted(moved)

    return __getattr__, __dir__
