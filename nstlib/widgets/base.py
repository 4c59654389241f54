"""The run panel every optimisation widget is built on: a Run button, a status line, a live preview
and live loss curves around one call of :func:`nstlib.synthesize` (or a function built on it).

- :func:`image_png` and :func:`loss_plot_png` render a tensor and a loss history to PNG bytes (no
  pyplot, no global state);
- :class:`LiveView` is the ``callback`` of :func:`nstlib.synthesize` that redraws both, throttled;
- :class:`RunPanel` holds the shared widgets and the Run logic. A subclass builds its own controls,
  lays them out (``self.children``) and implements :meth:`RunPanel._optimise`, which runs the
  optimisation with the :class:`LiveView` it is given.

The run happens synchronously in the kernel; every ``min_interval`` seconds the callback redraws the
preview (the current image) and the per-layer loss curves, and those widget updates reach the browser
while the optimisation is still running. Kernel -> Interrupt stops a run early and keeps the best image.

CSS-class contract (the browser test relies on it; keep it exactly):

=========================  ======================================================================
class                      widget
=========================  ======================================================================
``nstlib-layer-weight``    every layer-weight slider (``FloatSlider``, one per style/texture layer)
``nstlib-run``             the Run button
``nstlib-preview``         the preview, an ``ipywidgets.Image`` holding PNG bytes
``nstlib-loss-plot``       the loss curves, an ``ipywidgets.Image`` holding PNG bytes (Agg)
``nstlib-status``          the status label: "Running ..." while running, "Done ..." when a run
                           finished, "Error: ..." when it failed
=========================  ======================================================================
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Mapping, Sequence

import ipywidgets as widgets
from torch import Tensor

from ..config import pick
from ..defaults import DEFAULTS
from ..experiments import get_encoder
from ..io import to_png
from ..synthesis import SynthesisResult
from ..vgg import VGG19Features

__all__ = [
    "RunPanel",
    "LiveView",
    "image_png",
    "loss_plot_png",
    "LAYER_WEIGHT_CLASS",
    "RUN_CLASS",
    "PREVIEW_CLASS",
    "LOSS_PLOT_CLASS",
    "STATUS_CLASS",
]

LAYER_WEIGHT_CLASS = "nstlib-layer-weight"
RUN_CLASS = "nstlib-run"
PREVIEW_CLASS = "nstlib-preview"
LOSS_PLOT_CLASS = "nstlib-loss-plot"
STATUS_CLASS = "nstlib-status"


# ---------------------------------------------------------------------------------------------
# Rendering: tensors and loss histories to PNG bytes
# ---------------------------------------------------------------------------------------------


def image_png(img: Tensor) -> bytes:
    """PNG bytes of an image tensor (1, 3, H, W) or (3, H, W) with values in [0, 1] (clamped).

    >>> import torch
    >>> image_png(torch.zeros(1, 3, 2, 2))[:4]
    b'\\x89PNG'
    """
    shape = tuple(img.shape)
    if len(shape) not in (3, 4) or shape[-3] != 3 or (len(shape) == 4 and shape[0] < 1):
        raise ValueError(f"image_png expects a (1, 3, H, W) or (3, H, W) tensor, got {shape}")
    return to_png(img)  # (H, W, 3) uint8 through nstlib.io.to_display


def loss_plot_png(
    history: Sequence[Mapping[str, float]],
    weights: Mapping[str, float] | None = None,
    figsize: tuple[float, float] = (5.0, 3.4),
    dpi: int = 80,
    title: str | None = None,
) -> bytes:
    """PNG bytes of the per-term loss curves of ``history`` (one line per layer term plus the total).

    Drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas, so nothing is shown
    inline and pyplot's global state is untouched.

    Args:
        history: :attr:`SynthesisResult.history` (a dict per loss evaluation); may be empty.
        weights: if given, each term is multiplied by its weight (its share of the total).
        figsize, dpi: size of the picture (inches, dots per inch).
        title: plot title (default: "loss per layer (raw terms)").
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..viz import plot_losses

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if title is None:
        title = "loss per layer" + (" (weighted: share of total)" if weights else " (raw terms)")
    if history:
        plot_losses(history, ax=ax, weights=weights, title=title)
    else:
        ax.set_title(title)
        ax.text(0.5, 0.5, "press Run", ha="center", va="center", transform=ax.transAxes, color="gray")
        ax.set_xlabel("loss evaluation")
        ax.set_xticks([])
        ax.set_yticks([])
        fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# The live view: a synthesize() callback that redraws two Image widgets, throttled
# ---------------------------------------------------------------------------------------------


class LiveView:
    """Preview image, loss plot and status label, updated from :func:`nstlib.synthesize`'s callback.

    Redrawing costs far more than sending: the PNGs are re-rendered at most once every
    ``min_interval`` seconds (and always for the first evaluation and in :meth:`finish`).

    Args:
        preview: the ``ipywidgets.Image`` that shows the current image.
        loss_plot: the ``ipywidgets.Image`` that shows the loss curves.
        status: the label whose ``value`` reports progress.
        steps: the evaluation budget (for "step k / steps").
        min_interval: seconds between two redraws (0: redraw at every evaluation).
        max_draw_share: the largest fraction of the wall time spent redrawing: after a redraw that
            took d seconds, the next waits at least d * (1 / max_draw_share - 1) seconds (on a
            slow CPU the loss plot takes a good fraction of a second to render). 1 disables it.
        weighted: plot each term times its weight instead of the raw term.
        term_weights: the weights for ``weighted`` plots ({term: factor}).
        clock: the time function (tests pass a fake one).
    """

    def __init__(
        self,
        preview: widgets.Image,
        loss_plot: widgets.Image,
        status: widgets.Label,
        steps: int,
        min_interval: float = 0.5,
        max_draw_share: float = 0.25,
        weighted: bool = False,
        term_weights: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not 0 < max_draw_share <= 1:
            raise ValueError(f"max_draw_share must be in (0, 1], got {max_draw_share}")
        self.preview, self.loss_plot, self.status = preview, loss_plot, status
        self.steps = steps
        self.min_interval = float(min_interval)
        self.max_draw_share = float(max_draw_share)
        self.weighted = weighted
        self.term_weights = dict(term_weights or {})
        self.clock = clock
        self.history: list[dict[str, float]] = []
        self.redraws = 0
        self._next = -math.inf  # clock time from which the next redraw may happen

    def callback(self, step: int, image: Tensor, terms: Mapping[str, float]) -> None:
        """``synthesize``'s callback: record the evaluation; redraw when the throttle allows it."""
        self.history.append(dict(terms))
        start = self.clock()
        if start < self._next:
            return
        self.status.value = (
            f"Running: evaluation {step + 1} / {self.steps}, total loss {terms.get('total', math.nan):.4g}"
        )
        self.draw(image)
        cost = self.clock() - start
        self._next = start + max(self.min_interval, cost / self.max_draw_share)

    def draw(self, image: Tensor | None) -> None:
        """Re-render the preview (if ``image`` is given) and the loss curves from the history so far."""
        if image is not None:
            self.preview.value = image_png(image)
        weights = self.term_weights if self.weighted else None
        self.loss_plot.value = loss_plot_png(self.history, weights=weights)
        self.redraws += 1

    def set_term_weights(self, weights: Mapping[str, float]) -> None:
        """The factors of the terms in the total (``synthesize``'s ``on_start`` hook calls this)."""
        self.term_weights = dict(weights)

    def finish(self, result: SynthesisResult) -> None:
        """Show the best image and the complete history of a finished run."""
        self.history = [dict(h) for h in result.history]
        self.term_weights = dict(result.term_weights)
        self.draw(result.image)


# ---------------------------------------------------------------------------------------------
# The run panel
# ---------------------------------------------------------------------------------------------


class RunPanel(widgets.VBox):
    """Shared parts of every run panel: the steps slider, Run button, status, preview and loss plot.

    A subclass creates its controls after ``super().__init__``, sets ``self.children`` (using
    :attr:`steps_slider`, :attr:`run_button`, :attr:`status`, :attr:`preview`, :attr:`loss_plot`)
    and implements :meth:`_optimise`; :meth:`describe` may name the settings in the status line, and
    a :attr:`weighted_checkbox` it creates switches the live plot to weighted terms.

    Args:
        encoder: the VGG-19 (default: ``get_encoder(pooling=self.default_pooling)``).
        steps: the steps slider's first value (default 100, quick mode 10); ``steps_range`` its
            (min, max, step).
        min_interval, max_draw_share: the redraw throttle (see :class:`LiveView`).
        preview_width, plot_width: widths in pixels of the preview and the loss plot.
        ready: the status line before the first run. run_tooltip: the Run button's tooltip.
        label_style: the ``style`` of the steps slider (e.g. a wider description).
    """

    #: the pooling of the encoder built when none is given: what the function a panel drives uses by
    #: default (transfers: the defaults table's; reconstructions and textures: "auto", see get_encoder)
    default_pooling: str = DEFAULTS.pooling

    def __init__(
        self,
        *,
        encoder: VGG19Features | None,
        steps: int | None,
        min_interval: float,
        max_draw_share: float = 0.25,
        preview_width: int = 256,
        plot_width: int = 400,
        steps_range: tuple[int, int, int] = (5, 500, 5),
        ready: str = "Ready: press Run.",
        run_tooltip: str = "optimise the image's pixels with these settings",
        label_style: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.encoder = encoder if encoder is not None else get_encoder(pooling=self.default_pooling)
        self.min_interval = min_interval
        self.max_draw_share = max_draw_share
        self.preview_width = preview_width
        self.result: SynthesisResult | None = None
        self.error: BaseException | None = None
        self.view: LiveView | None = None
        #: a subclass's "plot weighted terms" checkbox (None: always raw terms)
        self.weighted_checkbox: widgets.Checkbox | None = None
        lo, hi, step = steps_range
        self.steps_slider = widgets.IntSlider(
            value=steps if steps is not None else pick(100, 10),
            min=lo,
            max=hi,
            step=step,
            description="steps",
            continuous_update=False,
            style=dict(label_style or {}),
            tooltip="loss evaluations (each one a forward and backward pass through VGG-19)",
        )
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play", tooltip=run_tooltip)
        self.run_button.add_class(RUN_CLASS)
        self.run_button.on_click(lambda _button: self.run())
        self.status = widgets.Label(value=ready)
        self.status.add_class(STATUS_CLASS)
        self.preview = widgets.Image(format="png", width=preview_width)
        self.preview.add_class(PREVIEW_CLASS)
        self.loss_plot = widgets.Image(value=loss_plot_png([]), format="png", width=plot_width)
        self.loss_plot.add_class(LOSS_PLOT_CLASS)

    # -- to implement ----------------------------------------------------------------------------
    def _optimise(self, view: LiveView) -> SynthesisResult:
        """Run the optimisation with the current settings, reporting to ``view`` (its ``callback``,
        and its ``set_term_weights`` as ``synthesize``'s ``on_start``)."""
        raise NotImplementedError

    def describe(self) -> str:
        """A few words on the current settings for the status line ("" to say nothing)."""
        return ""

    # -- running ---------------------------------------------------------------------------------
    def show(self) -> None:
        """Display the panel in the notebook (the same as evaluating ``panel`` in a cell)."""
        from IPython.display import display

        display(self)

    def run(self, raise_errors: bool = False) -> SynthesisResult | None:
        """Run the optimisation with the current settings (what the Run button does).

        The preview and loss plot update live; the status says "Running ...", then "Done ..." or
        "Error: ...". Returns the :class:`SynthesisResult` (also kept as ``panel.result``), or
        ``None`` when the settings were invalid or the run failed (``panel.error`` holds why;
        ``raise_errors=True`` re-raises instead).
        """
        self.error = None
        self.run_button.disabled = True
        what = self.describe()
        self.status.value = f"Running: {what or 'preparing targets'} ..."
        try:
            weighted = self.weighted_checkbox is not None and bool(self.weighted_checkbox.value)
            self.view = LiveView(
                self.preview,
                self.loss_plot,
                self.status,
                steps=int(self.steps_slider.value),
                min_interval=self.min_interval,
                max_draw_share=self.max_draw_share,
                weighted=weighted,
            )
            result = self._optimise(self.view)
        except KeyboardInterrupt:  # before the optimisation started (synthesize handles it during)
            self.status.value = "Interrupted before the optimisation started; press Run again."
            return None
        except Exception as err:  # noqa: BLE001 - shown to the student instead of a traceback in the log
            self.error = err
            self.status.value = f"Error: {err}"
            if raise_errors:
                raise
            return None
        finally:
            self.run_button.disabled = False
        self.view.finish(result)
        self.result = result
        done = "Done" + (f" ({what})" if what else "")
        if result.stopped:
            self.status.value = f"{done}, stopped early ({result.stopped}): {result.message}"
        else:
            self.status.value = f"{done}: {result.message}"
        return result
