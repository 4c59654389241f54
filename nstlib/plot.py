"""Plot helpers for notebooks: each returns its matplotlib Figure (nothing global is changed)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from torch import Tensor

__all__ = ["show_images", "plot_losses", "to_display"]


def to_display(img) -> np.ndarray:
    """(H, W, 3) float array in [0, 1] for ``imshow`` from a (1, 3, H, W)/(3, H, W) tensor or an array."""
    if isinstance(img, Tensor):
        t = img.detach().float().cpu()
        if t.dim() == 4:
            t = t[0]
        if t.dim() == 3 and t.shape[0] in (1, 3):
            t = t.permute(1, 2, 0)
        arr = t.numpy()
    else:
        arr = np.asarray(img, dtype=np.float32)
        if arr.max() > 1.0:
            arr = arr / 255.0
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return np.clip(arr, 0.0, 1.0)


def show_images(
    images: Sequence | Mapping[str, object],
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    size: float = 3.0,
    suptitle: str | None = None,
):
    """A grid of images with titles; ``images`` may be a list or a {title: image} dict. Returns the Figure."""
    import matplotlib.pyplot as plt

    if isinstance(images, Mapping):
        titles = list(images.keys()) if titles is None else titles
        images = list(images.values())
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image")
    n = len(images)
    ncols = min(n, ncols or 5)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            arr = to_display(images[k])
            ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
            if titles is not None and k < len(titles):
                ax.set_title(str(titles[k]), fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_losses(
    history: Sequence[Mapping[str, float]],
    terms: Sequence[str] | None = None,
    ax=None,
    weights: Mapping[str, float] | None = None,
    x: str = "step",
    logy: bool = True,
    title: str | None = None,
):
    """Per-term loss curves (one line per named term, plus the total), log scale. Returns the Figure.

    Args:
        history: ``SynthesisResult.history``: a dict per evaluation.
        terms: which terms to draw (default: every "content/...", "style/..." and "tv" term, and "total").
        weights: multiply each term by its weight (the term's share of the total) instead of raw values.
        x: "step" or "time" on the x axis.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    if terms is None:
        keys = [k for k in (history[0] if history else {}) if "/" in k or k == "tv"]
        terms = [*keys, "total"]
    xs = [h[x] for h in history]
    for term in terms:
        ys = [h.get(term, float("nan")) * (weights.get(term, 1.0) if weights and term != "total" else 1.0) for h in history]
        style = dict(color="black", linewidth=2) if term == "total" else {}
        ax.plot(xs, ys, label=term, **style)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("loss evaluation" if x == "step" else "seconds")
    ax.set_ylabel("weighted loss" if weights else "loss (raw term)")
    ax.set_title(title or "loss per term")
    if terms:
        ax.legend(fontsize=8, loc="upper right")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
