"""The values a check works with: seeded inputs on the grading device, float64 views, comparisons, descriptions.

Inputs are generated on the CPU from fixed seeds, in float64, then moved to the grading device
(:func:`device`: ``$NSTLIB_DEVICE``, else cuda, else mps, else cpu), so a check sees the same numbers
on every device; on MPS, which has no float64, the float64 cases run in float32. A check lists its
inputs as recipes (:class:`Rand`, :class:`Made`, or any object with a ``make()`` method) that
:func:`realize` turns into tensors at check time. References and wrong variants then compute on
:func:`as_numpy` views of the same values, in float64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..config import default_device


def device() -> torch.device:
    """The device the checks run the student's functions on: ``$NSTLIB_DEVICE``, else cuda, mps, cpu.

    The same device the notebooks compute on (:func:`nstlib.default_device`), so a function that
    builds a tensor on the wrong device fails here, not later inside the optimisation.
    """
    return default_device()


def _dtype(dtype: torch.dtype, dev: torch.device | None = None) -> torch.dtype:
    """``dtype``, except float64 -> float32 on MPS (which has no float64)."""
    dev = dev or device()
    return torch.float32 if (dtype == torch.float64 and dev.type == "mps") else dtype


def _on_device(t: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """A CPU-made tensor moved to the grading device (float64 -> float32 on MPS)."""
    dev = device()
    return t.to(device=dev, dtype=_dtype(dtype or t.dtype, dev))


def _cpu_rand(
    shape: Sequence[int],
    seed: int,
    dtype: torch.dtype = torch.float32,
    low: float | None = None,
    high: float | None = None,
) -> Tensor:
    """Seeded normal (or uniform in [low, high]) CPU tensor, generated in float64 then cast."""
    g = torch.Generator().manual_seed(seed)
    if low is None or high is None:
        t = torch.randn(*shape, generator=g, dtype=torch.float64)
    else:
        t = low + (high - low) * torch.rand(*shape, generator=g, dtype=torch.float64)
    return t.to(dtype)


def _rand(
    shape: Sequence[int],
    seed: int,
    dtype: torch.dtype = torch.float32,
    low: float | None = None,
    high: float | None = None,
    requires_grad: bool = False,
) -> Tensor:
    """:func:`_cpu_rand` (the same numbers on every device) moved to the grading device."""
    return _on_device(_cpu_rand(shape, seed, torch.float64, low, high), dtype).requires_grad_(requires_grad)


def _gram_np(f: np.ndarray) -> np.ndarray:
    """Naive Gram matrices of (B, C, H, W) features: G[b, i, j] = sum_k F[b, i, k] F[b, j, k]."""
    B, C = f.shape[:2]
    X = f.reshape(B, C, -1)  # (B, C, M)
    return np.einsum("bik,bjk->bij", X, X)  # (B, C, C)


# ----------------------------------------------------------------------------------------------
# Input recipes


@dataclass(frozen=True)
class Rand:
    """A seeded input tensor: normal, or uniform in [low, high]; ``gram``: the (B, C, C) Gram matrix of
    such a (B, C, H, W) map instead (an unnormalised style target)."""

    shape: tuple[int, ...]
    seed: int
    dtype: torch.dtype = torch.float32
    low: float | None = None
    high: float | None = None
    grad: bool = False
    gram: bool = False

    def make(self) -> Tensor:
        t = _cpu_rand(self.shape, self.seed, torch.float64, self.low, self.high)
        if self.gram:
            t = torch.from_numpy(_gram_np(t.numpy()))
        return _on_device(t, self.dtype).requires_grad_(self.grad)


@dataclass(frozen=True)
class Made:
    """An input tensor built on the CPU in float64 by ``build()``, then cast and moved to the grading device."""

    build: Callable[[], Tensor]
    dtype: torch.dtype = torch.float32
    grad: bool = False

    def make(self) -> Tensor:
        return _on_device(self.build(), self.dtype).requires_grad_(self.grad)


def _tree(fn: Callable[[Any], Any], x: Any) -> Any:
    """``fn`` applied to every leaf of ``x``, through tuples, lists and dicts (into fresh containers)."""
    if isinstance(x, dict):
        return {k: _tree(fn, v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_tree(fn, v) for v in x)
    return fn(x)


def realize(x: Any) -> Any:
    """Recipes -> values (fresh containers: a case owns its arguments)."""
    return _tree(lambda v: v.make() if callable(getattr(v, "make", None)) else v, x)


def as_numpy(x: Any) -> Any:
    """Tensors -> float64 arrays; everything else as it is."""
    return _tree(lambda v: _np(v) if isinstance(v, Tensor) else v, x)


def snapshot(x: Any) -> Any:
    """A copy of the tensors, lists and dicts in ``x`` (other objects by reference), for :func:`changed`."""
    return _tree(lambda v: v.detach().clone() if isinstance(v, Tensor) else v, x)


def changed(x: Any, before: Any) -> Any:
    """The first part of ``x`` that differs from its :func:`snapshot` ``before`` (None: unchanged)."""
    if isinstance(before, Tensor):
        same = (
            isinstance(x, Tensor)
            and x.dtype == before.dtype
            and x.shape == before.shape
            and torch.equal(x.detach(), before)
        )
        return None if same else x
    if isinstance(before, dict):
        if not isinstance(x, dict) or list(x) != list(before):
            return x
        return next((c for k in before if (c := changed(x[k], before[k])) is not None), None)
    if isinstance(before, (list, tuple)):
        if not isinstance(x, (list, tuple)) or len(x) != len(before):
            return x
        return next((c for a, b in zip(x, before) if (c := changed(a, b)) is not None), None)
    return None if (x is before or x == before) else x


def tensors(x: Any) -> list[Tensor]:
    """The tensors in ``x``, through tuples, lists and dicts."""
    found: list[Tensor] = []
    _tree(lambda v: found.append(v) if isinstance(v, Tensor) else None, x)
    return found


# ----------------------------------------------------------------------------------------------
# Numbers and comparisons


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy()


def _rtol(*dtypes: torch.dtype) -> float:
    return 1e-9 if all(d == torch.float64 for d in dtypes) else 1e-4


def _close(got: Any, expected: Any, rtol: float) -> bool:
    """Equal shapes and values within ``rtol`` (relative to the largest expected magnitude)."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return False
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-12)
    return bool(np.all(np.isfinite(got)) and np.allclose(got, expected, rtol=rtol, atol=rtol * scale))


# ----------------------------------------------------------------------------------------------
# Descriptions, for the FAIL report


def _short(x: Any, limit: int = 200) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(x: Any) -> str:
    """A one-line description of a value: dtype and shape for tensors, values when small."""
    if isinstance(x, Tensor):
        dtype = str(x.dtype).replace("torch.", "")
        flags = ", requires_grad" if x.requires_grad else ""
        if x.numel() <= 6:
            values = np.array2string(x.detach().cpu().double().numpy(), precision=6, separator=", ")
            return f"{dtype} tensor of shape {tuple(x.shape)}{flags}: {values}"
        return f"{dtype} tensor of shape {tuple(x.shape)}{flags}"
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape}"
    return f"{type(x).__name__}: {_short(x)}"


def _values(a: Any, limit: int = 6) -> str:
    """A few values of an array (all when small), with the shape."""
    flat = np.asarray(a, dtype=np.float64).ravel()
    shown = np.array2string(flat[:limit], precision=6, separator=", ")
    more = f" ... ({flat.size} values)" if flat.size > limit else ""
    return shown + more


def _show(a: Any) -> str:
    arr = np.asarray(a, dtype=np.float64)
    return f"{float(arr):.8g}" if arr.ndim == 0 else f"shape {arr.shape}: {_values(arr)}"


def _inputs(**named: Any) -> str:
    """``name = description`` for every argument: tensors by dtype and shape, other values by repr."""
    return ", ".join(f"{k} = {_describe(v) if isinstance(v, Tensor) else _short(v, 400)}" for k, v in named.items())


def _arguments(signature: str, args: Sequence[Any]) -> str:
    """:func:`_inputs` with the argument names of ``signature`` (``"content_loss(F, P)"``)."""
    names = [n.strip() for n in signature.partition("(")[2].rstrip(")").split(",") if n.strip()]
    return _inputs(**dict(zip(names, args)))
