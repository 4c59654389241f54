"""Output validators: what a student's function must return, each failing with the hint for the usual slip.

A :class:`~nstlib.grading._core.Spec`'s ``output`` is one of these (or a check's own function built
from them): it raises :class:`~nstlib.grading._core._Failure` for a wrong type, shape, dtype or a
result cut from the autograd graph, and otherwise returns the value as a float64 array for the
comparison with the reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from torch import Tensor

from ._core import Case, _Failure
from ._values import _describe, _np

NO_RETURN = "your function returns None: did you forget the `return`?"


def returned(out: Any, otherwise: str) -> str:
    """The hint for an output of the wrong type: the missing ``return`` when it is None, else ``otherwise``."""
    return NO_RETURN if out is None else otherwise


def _scalar_output(out: Any, inputs: str, *, graph: bool, what: str) -> Tensor:
    """Validate a loss value: a one-element tensor, attached to the autograd graph when ``graph``."""
    if not isinstance(out, Tensor):
        hint = returned(out, "return a torch tensor, not a Python number: .item() / float() cut the autograd graph.")
        raise _Failure(
            f"{what} must be a torch tensor", inputs=inputs, expected="a 0-dim tensor", got=_describe(out), hint=hint
        )
    if out.numel() != 1:
        raise _Failure(
            f"{what} must be a single number",
            inputs=inputs,
            expected="a 0-dim tensor (shape ())",
            got=_describe(out),
            hint="sum over every dimension, batch included (e.g. .sum() with no dim argument).",
        )
    if graph and not out.requires_grad:
        raise _Failure(
            f"{what} is detached from the autograd graph",
            inputs=inputs,
            expected="a tensor that requires grad (the inputs do)",
            got=_describe(out),
            hint="compute with torch operations only: .item(), .detach(), .numpy(), float() or torch.tensor(...) "
            "of a result cut the graph, and the optimiser gets no gradient.",
        )
    return out


def scalar(what: str) -> Callable[[Any, Case, str], np.ndarray]:
    """An ``output`` for losses: a one-element tensor attached to the inputs' autograd graph."""

    def output(out: Any, case: Case, where: str) -> np.ndarray:
        return _np(_scalar_output(out, case.inputs, graph=True, what=what)).reshape(())

    return output


def tensor(
    out: Any,
    case: Case,
    where: str,
    shape: tuple[int, ...],
    *,
    returns: str,
    shape_hint: Callable[[tuple[int, ...]], str],
    expected_shape: str = "",
    dtype: Any = None,
    graph: tuple[str, str] | None = None,
) -> np.ndarray:
    """Validate a tensor output: its type, ``shape``, ``dtype`` (when given) and, with ``graph`` = (what, hint),
    that it is attached to the autograd graph. ``shape_hint`` explains a wrong shape from the shape returned."""
    if not isinstance(out, Tensor):
        raise _Failure(
            f"expected a tensor ({where})", inputs=case.inputs, got=_describe(out), hint=returned(out, returns)
        )
    if tuple(out.shape) != shape:
        raise _Failure(
            f"wrong shape ({where})",
            inputs=case.inputs,
            expected=expected_shape or f"shape {shape}",
            got=_describe(out),
            hint=shape_hint(tuple(out.shape)),
        )
    if dtype is not None and out.dtype != dtype:
        raise _Failure(
            f"wrong dtype ({where})",
            inputs=case.inputs,
            expected=str(dtype),
            got=str(out.dtype),
            hint="keep the input's dtype (don't convert, don't build a float32 result).",
        )
    if graph is not None and not out.requires_grad:
        raise _Failure(
            f"{graph[0]} is detached from the autograd graph ({where})",
            inputs=case.inputs,
            got=_describe(out),
            hint=graph[1],
        )
    return _np(out)


def number(*, whole: bool, otherwise: str, show_expected: bool = True) -> Callable[[Any, Case, str], np.ndarray]:
    """An ``output`` for counts: a Python or NumPy number (or a one-element tensor); ``whole``: an integer value.
    ``show_expected``: the failure shows the right count (off when that would give the answer away)."""

    def output(out: Any, case: Case, where: str) -> np.ndarray:
        value = out.item() if isinstance(out, Tensor) and out.numel() == 1 else out
        is_number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if not is_number or (whole and not float(value).is_integer()):
            expected = f"{float(np.asarray(case.expected())):,.0f}" if show_expected and case.expected else ""
            raise _Failure(
                f"expected a {'whole ' if whole else ''}number ({where})",
                inputs=case.inputs,
                expected=expected,
                got=_describe(value),
                hint=returned(out, otherwise),
            )
        return np.array(float(value))

    return output
