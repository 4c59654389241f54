"""Interactive panels for notebooks 04 and 05: sliders -> one optimisation -> live preview and loss curves.

- :class:`TransferPanel`: style transfer (Gatys, Ecker & Bethge, CVPR 2016). One slider per style
  layer weight w_l, the ratio alpha/beta on a log slider, the content layer, the initialisation,
  the optimiser and the number of steps.
- :class:`TexturePanel`: texture synthesis (Gatys, Ecker & Bethge, NeurIPS 2015). One slider per
  texture layer (conv1_1, pool1 ... pool4), the optimiser, the steps and the noise seed.

Both are ``ipywidgets.VBox`` subclasses: evaluate ``panel`` as the last line of a cell (or call
``panel.show()``) to display it, press *Run*. The run happens synchronously in the kernel; every
``min_interval`` seconds the callback of :func:`nstlib.synthesize` redraws the preview (the current
image) and the per-layer loss curves, and those widget updates reach the browser while the
optimisation is still running. Kernel -> Interrupt stops a run early and keeps the best image.

The style targets A^l (Gram matrices) are computed once per panel and the content targets P^l once
per content layer, so moving a slider and pressing *Run* again costs only the optimisation.

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
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from torch import Tensor

from ..config import pick
from ..image import load_image
from ..optim import SynthesisResult, content_targets, style_targets, synthesize
from ..defaults import DEFAULTS
from ..transfer import TEXTURE_LAYERS, get_encoder
from ..vgg import VGG19Features

__all__ = [
    "TransferPanel",
    "TexturePanel",
    "LiveView",
    "image_png",
    "loss_plot_png",
    "CONTENT_LAYER_CHOICES",
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

_LABEL = {"description_width": "95px"}  # room for "content layer" without truncation

#: Content layers offered by :class:`TransferPanel` (Gatys et al. 2016 use conv4_2; Fig. 5 compares conv2_2).
CONTENT_LAYER_CHOICES: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2", "conv4_2")


# ---------------------------------------------------------------------------------------------
# Rendering: tensors and loss histories to PNG bytes (no pyplot, no global state)
# ---------------------------------------------------------------------------------------------


def image_png(img: Tensor) -> bytes:
    """PNG bytes of an image tensor (1, 3, H, W) or (3, H, W) with values in [0, 1] (clamped).

    >>> image_png(torch.zeros(1, 3, 2, 2))[:4]
    b'\\x89PNG'
    """
    from PIL import Image

    t = img.detach().float().cpu()
    if t.dim() == 4:
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"image_png expects a (1, 3, H, W) or (3, H, W) tensor, got {tuple(img.shape)}")
    arr = (t.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)  # (H, W, 3)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


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

    from ..plot import plot_losses

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
        self.status.value = f"Running: evaluation {step + 1} / {self.steps}, total loss {terms.get('total', math.nan):.4g}"
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
# The panels
# ---------------------------------------------------------------------------------------------


def _weight_slider(layer: str, value: float) -> widgets.FloatSlider:
    slider = widgets.FloatSlider(
        value=value, min=0.0, max=1.0, step=0.05, description=layer, readout_format=".2f",
        continuous_update=False, style={"description_width": "70px"},
        tooltip=f"w_l of {layer}: its weight in the sum of layer losses",
    )
    slider.add_class(LAYER_WEIGHT_CLASS)
    return slider


def _thumbnail(img: Tensor, title: str, width: int) -> widgets.VBox:
    return widgets.VBox([widgets.Label(title), widgets.Image(value=image_png(img), format="png", width=width)])


class _SynthesisPanel(widgets.VBox):
    """Shared parts of the panels: Run button, status label, preview, loss plot, steps, optimiser.

    Subclasses build their controls, then call :meth:`_assemble`, and implement :meth:`settings`
    (the keyword arguments of :func:`nstlib.synthesize` read from the widgets).
    """

    def __init__(self, *, encoder: VGG19Features | None, steps: int | None, optimizer: str,
                 min_interval: float, max_draw_share: float, preview_width: int) -> None:
        super().__init__()
        self.encoder = encoder if encoder is not None else get_encoder()
        self.min_interval = min_interval
        self.max_draw_share = max_draw_share
        self.preview_width = preview_width
        self.result: SynthesisResult | None = None
        self.error: BaseException | None = None
        self.view: LiveView | None = None
        self.steps_slider = widgets.IntSlider(
            value=steps if steps is not None else pick(100, 10), min=5, max=500, step=5,
            description="steps", continuous_update=False, style=_LABEL,
            tooltip="loss evaluations (each one a forward and backward pass through VGG-19)",
        )
        self.optimizer_dropdown = widgets.Dropdown(options=["lbfgs", "adam"], value=optimizer, description="optimiser",
                                                   style=_LABEL)
        self.weighted_checkbox = widgets.Checkbox(
            value=False, description="plot weighted terms", indent=False,
            tooltip="plot each term times its weight (its share of the total) instead of the raw loss",
        )
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play",
                                         tooltip="optimise the image's pixels with these settings")
        self.run_button.add_class(RUN_CLASS)
        self.run_button.on_click(lambda _button: self.run())
        self.status = widgets.Label(value="Ready: set the sliders and press Run.")
        self.status.add_class(STATUS_CLASS)
        self.preview = widgets.Image(format="png", width=preview_width)
        self.preview.add_class(PREVIEW_CLASS)
        self.loss_plot = widgets.Image(value=loss_plot_png([]), format="png", width=400)
        self.loss_plot.add_class(LOSS_PLOT_CLASS)

    def _assemble(self, inputs: list[widgets.Widget], sliders: list[widgets.Widget],
                  controls: list[widgets.Widget], out_hw: tuple[int, int]) -> None:
        # Until the first run the preview is a plain grey placeholder of the output's size.
        self.preview.value = image_png(torch.full((1, 3, *out_hw), 0.85))
        common = [self.optimizer_dropdown, self.steps_slider, self.weighted_checkbox]
        self.children = [
            widgets.HBox([widgets.VBox(inputs), widgets.VBox([widgets.Label("result (live; grey until Run)"), self.preview]),
                          self.loss_plot]),
            widgets.HBox([widgets.VBox([widgets.Label("layer weights w_l"), *sliders]),
                          widgets.VBox([*controls, *common])]),
            widgets.HBox([self.run_button, self.status]),
        ]

    # -- to implement ----------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """Keyword arguments for :func:`nstlib.synthesize` built from the current widget values."""
        raise NotImplementedError

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
        self.status.value = "Running: preparing targets ..."
        try:
            kwargs = self.settings()
            self.view = LiveView(self.preview, self.loss_plot, self.status, steps=kwargs["steps"],
                                 min_interval=self.min_interval, max_draw_share=self.max_draw_share,
                                 weighted=self.weighted_checkbox.value)
            result = synthesize(self.encoder, progress=False, callback=self.view.callback,
                                on_start=self.view.set_term_weights, **kwargs)
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
        if result.stopped:
            self.status.value = f"Done, stopped early ({result.stopped}): {result.message}"
        else:
            self.status.value = f"Done: {result.message}"
        return result


def _check_some_weight(weights: Mapping[str, float]) -> None:
    if not any(w > 0 for w in weights.values()):
        raise ValueError("every layer weight is 0: move at least one layer-weight slider above 0")


class TransferPanel(_SynthesisPanel):
    """Style transfer with live preview: L_total = alpha * L_content + beta * sum_l w_l E_l.

    Widgets: one slider per style layer (default relu1_1 ... relu5_1), the style strength on a log
    slider (the main knob: beta is set so the style pulls ``strength`` times as hard as the content,
    see :func:`nstlib.optim.balance`; defaults from :mod:`nstlib.defaults`), the content layer, the
    initialisation (content image or white noise), the optimiser, the steps. With layer balance on
    (the default), the layer sliders say how much each layer counts *relative to the balance*.
    Give ``ratio=`` instead to set alpha/beta explicitly on a log slider (the paper's grid).

    Args:
        content, style: images (anything :func:`nstlib.load_image` accepts, e.g. "chelsea", "waves").
        encoder: a :class:`VGG19Features` (default :func:`nstlib.get_encoder`).
        size: output size (longer side; default 192, quick mode 64); the content image is resized to it.
        style_size: the style image's longer side (default: the output's).
        steps: initial number of loss evaluations (default 100, quick mode 10).
        style_layers: layer names or {layer: initial w_l} (default Gatys' relu1_1 ... relu5_1, 1/5).
        content_layer: initial content layer (one of :data:`CONTENT_LAYER_CHOICES`).
        strength: initial style strength (default: the library's, :data:`nstlib.defaults.DEFAULTS`).
        ratio: give it to set alpha/beta explicitly instead (a log slider from 1e-10 to 1).
        layer_balance: balance the style layers' pulls (default: the library's).
        init: "content" or "noise". optimizer: "lbfgs" or "adam".
        tv_weight: factor of the total-variation term (no widget; default: the library's).
        min_interval: seconds between two live redraws; max_draw_share: the largest share of the
            run's time spent redrawing (see :class:`LiveView`). preview_width: preview width in pixels.

    Example::

        panel = nstlib.widgets.TransferPanel("chelsea", "brush_strokes", encoder=enc)
        panel            # displays it; press Run (or call panel.run())
    """

    def __init__(
        self,
        content: Any,
        style: Any,
        *,
        encoder: VGG19Features | None = None,
        size: int | tuple[int, int] | None = None,
        style_size: int | None = None,
        steps: int | None = None,
        style_layers: Mapping[str, float] | Sequence[str] = tuple(DEFAULTS.style_layers),
        content_layer: str = next(iter(DEFAULTS.content_layers)),
        strength: float = DEFAULTS.strength or 1.0,
        ratio: float | None = None,
        layer_balance: bool = DEFAULTS.layer_balance,
        init: str = DEFAULTS.init,
        optimizer: str = DEFAULTS.optimizer,
        tv_weight: float = DEFAULTS.tv_weight,
        seed: int = 0,
        min_interval: float = 0.5,
        max_draw_share: float = 0.25,
        preview_width: int = 256,
    ) -> None:
        super().__init__(encoder=encoder, steps=steps, optimizer=optimizer, min_interval=min_interval,
                         max_draw_share=max_draw_share, preview_width=preview_width)
        if content_layer not in CONTENT_LAYER_CHOICES:
            raise ValueError(f"content_layer must be one of {CONTENT_LAYER_CHOICES}, got {content_layer!r}")
        if ratio is not None and not ratio > 0:
            raise ValueError(f"ratio = alpha / beta must be > 0, got {ratio}")
        if not (math.isfinite(strength) and strength > 0):
            raise ValueError(f"strength = {strength}: the style strength must be a finite number > 0")
        self.tv_weight = float(tv_weight)
        self.layer_balance = bool(layer_balance)
        self.seed = seed
        size = size if size is not None else pick(192, 64)
        enc = self.encoder
        self.content_image = load_image(content, size=size)  # (1, 3, H, W)
        out_hw = tuple(self.content_image.shape[-2:])
        self.style_image = load_image(style, size=style_size if style_size is not None else max(out_hw))
        initial = _initial_weights(style_layers)
        enc.check_layers(list(initial))
        # A^l for every style layer, once: (1, N_l, N_l), rescaled to the output's size.
        self._style_targets = style_targets(enc, self.style_image.to(enc.device), list(initial), output_size=out_hw)
        self._content_targets: dict[str, dict[str, Tensor]] = {}  # per content layer, on demand

        self.layer_sliders = {layer: _weight_slider(layer, w) for layer, w in initial.items()}
        #: the explicit alpha/beta slider (None in strength mode)
        self.ratio_slider = None if ratio is None else widgets.FloatLogSlider(
            value=ratio, base=10, min=-10, max=0, step=0.25, description="α/β", readout_format=".1e", style=_LABEL,
            continuous_update=False, tooltip="alpha / beta: content weight over style weight (alpha = 1)",
        )
        #: the style strength slider (None when alpha/beta is explicit)
        self.strength_slider = None if ratio is not None else widgets.FloatLogSlider(
            value=strength, base=10, min=-1, max=2, step=0.1, description="style strength", readout_format=".3g",
            style=_LABEL, continuous_update=False,
            tooltip="how hard the style pulls on the image compared with the content (1 = equally hard)",
        )
        self.content_dropdown = widgets.Dropdown(options=list(CONTENT_LAYER_CHOICES), value=content_layer,
                                                 description="content layer", style=_LABEL)
        self.init_dropdown = widgets.Dropdown(options=["content", "noise"], value=init, description="start from",
                                              style=_LABEL)
        self._assemble(
            inputs=[_thumbnail(self.content_image, "content", 128), _thumbnail(self.style_image, "style", 128)],
            sliders=list(self.layer_sliders.values()),
            controls=[self.strength_slider or self.ratio_slider, self.content_dropdown, self.init_dropdown],
            out_hw=out_hw,
        )

    @property
    def alpha(self) -> float:
        """Content weight alpha (fixed at 1; the ratio slider sets beta)."""
        return 1.0

    @property
    def beta(self) -> float | None:
        """Style weight beta: alpha / (the alpha/beta slider), or in strength mode the beta of the last run."""
        if self.ratio_slider is not None:
            return self.alpha / self.ratio_slider.value
        return self.result.beta if self.result is not None else None

    def _content_target(self, layer: str) -> dict[str, Tensor]:
        if layer not in self._content_targets:
            enc = self.encoder
            self._content_targets[layer] = content_targets(enc, self.content_image.to(enc.device), [layer])
        return self._content_targets[layer]

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for :func:`nstlib.synthesize` from the widgets (targets included)."""
        weights = {layer: float(s.value) for layer, s in self.layer_sliders.items()}
        _check_some_weight(weights)
        layer = self.content_dropdown.value
        return dict(
            content_targets=self._content_target(layer), style_targets=self._style_targets,
            content_layers={layer: 1.0}, style_layers=weights,
            content_weight=self.alpha, tv_weight=self.tv_weight, layer_balance=self.layer_balance,
            **({"style_weight": self.beta} if self.ratio_slider is not None else {"strength": self.strength_slider.value}),
            init=self.init_dropdown.value, content_image=self.content_image,
            optimizer=self.optimizer_dropdown.value, steps=int(self.steps_slider.value), seed=self.seed,
            line_search=DEFAULTS.line_search if self.optimizer_dropdown.value == "lbfgs" else None,
        )


class TexturePanel(_SynthesisPanel):
    """Texture synthesis with live preview: minimise sum_l w_l E_l from white noise (Gatys et al. 2015).

    Widgets: one slider per texture layer weight w_l (default conv1_1, pool1 ... pool4, 1/5 each),
    the optimiser, the steps and the seed of the white-noise start.

    Args:
        source: the texture to imitate (anything :func:`nstlib.load_image` accepts, e.g. "brick").
        encoder: a :class:`VGG19Features` (default :func:`nstlib.get_encoder`).
        size: output size (longer side or (H, W); default 128, quick mode 48).
        source_size: the source's longer side (default: the output's longer side).
        steps: initial number of loss evaluations (default 100, quick mode 10).
        layers: layer names or {layer: initial w_l} (default :data:`nstlib.transfer.TEXTURE_LAYERS`).
        optimizer: "lbfgs" or "adam". seed: initial noise seed.
        min_interval, max_draw_share: redraw throttle (see :class:`LiveView`).
        preview_width: preview width in pixels.
    """

    def __init__(
        self,
        source: Any,
        *,
        encoder: VGG19Features | None = None,
        size: int | tuple[int, int] | None = None,
        source_size: int | None = None,
        steps: int | None = None,
        layers: Mapping[str, float] | Sequence[str] = TEXTURE_LAYERS,
        optimizer: str = "lbfgs",
        seed: int = 0,
        min_interval: float = 0.5,
        max_draw_share: float = 0.25,
        preview_width: int = 256,
    ) -> None:
        super().__init__(encoder=encoder, steps=steps, optimizer=optimizer, min_interval=min_interval,
                         max_draw_share=max_draw_share, preview_width=preview_width)
        size = size if size is not None else pick(128, 48)
        self.out_hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        enc = self.encoder
        self.source_image = load_image(source, size=source_size or max(self.out_hw))
        initial = _initial_weights(layers)
        enc.check_layers(list(initial))
        self._style_targets = style_targets(enc, self.source_image.to(enc.device), list(initial), output_size=self.out_hw)
        self.layer_sliders = {layer: _weight_slider(layer, w) for layer, w in initial.items()}
        self.seed_box = widgets.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="noise seed",
                                               style=_LABEL)
        self._assemble(
            inputs=[_thumbnail(self.source_image, "source texture", 128)],
            sliders=list(self.layer_sliders.values()),
            controls=[self.seed_box],
            out_hw=self.out_hw,
        )

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for :func:`nstlib.synthesize` from the widgets (targets included)."""
        weights = {layer: float(s.value) for layer, s in self.layer_sliders.items()}
        _check_some_weight(weights)
        return dict(
            style_targets=self._style_targets, style_layers=weights, content_weight=0.0, style_weight=1.0,
            init="noise", size=self.out_hw, optimizer=self.optimizer_dropdown.value,
            steps=int(self.steps_slider.value), seed=int(self.seed_box.value),
        )


def _initial_weights(layers: Mapping[str, float] | Sequence[str]) -> dict[str, float]:
    """{layer: initial slider value}: a dict as given, or equal weights 1/L for a list of L names."""
    if isinstance(layers, str):
        layers = [layers]
    if isinstance(layers, Mapping):
        out = {k: float(v) for k, v in layers.items()}
    else:
        layers = list(layers)
        out = {k: 1.0 / len(layers) for k in layers}
    if not out:
        raise ValueError("give at least one layer")
    bad = {k: v for k, v in out.items() if not 0.0 <= v <= 1.0}
    if bad:
        raise ValueError(f"initial layer weights must lie in [0, 1] (the slider range), got {bad}")
    return out
