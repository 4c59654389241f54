"""What every optimisation of the series returns: the best image, the per-term loss history and the
settings used (:func:`nstlib.synthesis.run_loop` makes it; :func:`nstlib.transfer` and the
reconstructions add to its ``info``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

__all__ = ["SynthesisResult"]


@dataclass
class SynthesisResult:
    """What :func:`synthesize` returns.

    Attributes:
        image: (1, 3, H, W) the best image seen (lowest total loss), in [0, 1], on the CPU.
        history: one dict per loss evaluation with "step", "total", "time" (seconds since the
            start) and each raw term by name ("content/conv4_2", "style/conv1_1", "tv").
        term_weights: the factor of each term in the total (alpha * wc_l, beta * w_l, tv_weight),
            so ``total = sum(term_weights[k] * history[i][k])``.
        best_step: the evaluation (0-based) whose image is returned.
        stopped: ``None`` when all steps ran, else ``"interrupted"`` or ``"non-finite loss"``.
        message: a human-readable summary.
    """

    image: Tensor
    history: list[dict[str, float]]
    term_weights: dict[str, float]
    best_step: int
    stopped: str | None = None
    message: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def best_loss(self) -> float:
        return self.history[self.best_step]["total"] if self.history else math.inf

    @property
    def alpha(self) -> float | None:
        """The content weight alpha used (None for a bare :func:`run_loop`)."""
        return self.info.get("alpha")

    @property
    def beta(self) -> float | None:
        """The style weight beta used: given, or set from ``strength`` by :func:`balance`."""
        return self.info.get("beta")

    @property
    def style_layer_weights(self) -> dict[str, float]:
        """The w_l used, {layer: w_l} (sum 1 by default)."""
        return dict(self.info.get("style_layers", {}))

    @property
    def terms(self) -> list[str]:
        """Names of the loss terms recorded in :attr:`history`."""
        return list(self.term_weights)

    @property
    def seconds(self) -> float:
        """Wall time of the optimisation."""
        return self.history[-1]["time"] if self.history else 0.0

    def plot_losses(self, ax=None, weighted: bool = False, **kwargs):
        """Per-term loss curves on a log scale (one curve per named term); returns the Figure."""
        from .viz import plot_losses

        return plot_losses(self.history, ax=ax, weights=self.term_weights if weighted else None, **kwargs)

    def __repr__(self) -> str:
        return (
            f"SynthesisResult(image={tuple(self.image.shape)}, evaluations={len(self.history)}, "
            f"best_loss={self.best_loss:.4g} at step {self.best_step}, seconds={self.seconds:.1f}, "
            f"stopped={self.stopped!r})"
        )
