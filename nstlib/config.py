"""Run-time settings read from the environment, and device selection.

Environment variables (all optional):

- ``NSTLIB_WEIGHTS``: default VGG-19 weights: ``imagenet``, ``random`` or a path to a state dict
  (see :func:`weights_setting` and :mod:`nstlib.weights`).
- ``NSTLIB_DOWNLOAD_TIMEOUT``: seconds ``weights="auto"`` waits for the ImageNet download before it
  falls back to random weights (default 5; see :func:`download_timeout`).
- ``NSTLIB_QUICK``: ``1`` makes notebooks and demos use small images and few steps (CI, smoke tests).
- ``NSTLIB_CACHE``: where downloaded paintings are kept (default ``~/.cache/nstlib``).
- ``NSTLIB_DEVICE``: force a device (``cpu``, ``cuda``, ``mps``); default: the best available.
- ``NSTLIB_GRADING_STRICT``: ``1`` makes an unimplemented exercise fail its check (see :func:`grading_strict`);
  nbgrader's ``NBGRADER_EXECUTION=autograde`` or ``validate`` does the same.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["quick_mode", "grading_strict", "pick", "cache_dir", "default_device", "weights_setting", "download_timeout"]


def quick_mode() -> bool:
    """True when ``NSTLIB_QUICK`` is set to a true value (1, true, yes)."""
    return os.environ.get("NSTLIB_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}


def grading_strict() -> bool:
    """True when an unimplemented exercise must fail its check instead of printing "not implemented yet".

    That is under nbgrader's ``autograde`` and ``validate`` (they set ``NBGRADER_EXECUTION``), or when
    ``NSTLIB_GRADING_STRICT`` is set to a true value (any other grading script).
    """
    if os.environ.get("NBGRADER_EXECUTION", "").strip().lower() in {"autograde", "validate"}:
        return True
    return os.environ.get("NSTLIB_GRADING_STRICT", "").strip().lower() in {"1", "true", "yes", "on"}


def pick(default, quick):
    """Return ``quick`` in quick mode, else ``default``: one switch for every size and step count.

    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"NSTLIB_QUICK": "0"}):  # the environment is restored afterwards
    ...     pick(512, 64)
    512
    >>> with mock.patch.dict(os.environ, {"NSTLIB_QUICK": "1"}):
    ...     pick(512, 64)
    64
    """
    return quick if quick_mode() else default


def cache_dir() -> Path:
    """The download cache: ``$NSTLIB_CACHE`` or ``~/.cache/nstlib`` (created on demand by callers)."""
    env = os.environ.get("NSTLIB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nstlib"


def default_device(device: str | torch.device | None = None) -> torch.device:
    """cuda, else mps, else cpu; ``device`` or ``$NSTLIB_DEVICE`` override the choice."""
    device = device or os.environ.get("NSTLIB_DEVICE") or None
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def weights_setting() -> str | None:
    """``$NSTLIB_WEIGHTS`` (stripped), or None when unset or empty: the weights ``weights="auto"`` means."""
    return os.environ.get("NSTLIB_WEIGHTS", "").strip() or None


def download_timeout() -> float:
    """``$NSTLIB_DOWNLOAD_TIMEOUT`` in seconds (default 5): how long ``weights="auto"`` waits for ImageNet."""
    value = os.environ.get("NSTLIB_DOWNLOAD_TIMEOUT", "").strip() or "5"
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"NSTLIB_DOWNLOAD_TIMEOUT must be a number of seconds, got {value!r}") from None
