"""Interactive panels for notebooks 04 and 05: sliders -> one optimisation -> live preview and loss curves.

- :class:`TransferPanel`: style transfer (Gatys, Ecker & Bethge, CVPR 2016). One slider per style
  layer weight w_l, the lecture's alpha/beta on a log slider (or beta set from a style strength), the
  total-variation weight, the pooling, the content layer, the initialisation, the optimiser and the
  number of steps.
- :class:`TexturePanel`: texture synthesis (Gatys, Ecker & Bethge, NeurIPS 2015). One slider per
  texture layer (conv1_1, pool1 ... pool4), the optimiser, the steps and the noise seed. It lives in
  :mod:`nstlib.widgets.texture_panel` and is re-exported here.

Both are :class:`~nstlib.widgets.synthesis_panel.SynthesisPanel` subclasses (layer-weight sliders,
optimiser, layout; a :class:`~nstlib.widgets.base.RunPanel`, an ``ipywidgets.VBox``): evaluate ``panel``
as the last line of a cell (or call ``panel.show()``) to display it, press *Run*. The Run button,
status, live preview, loss plot and the CSS-class contract are the base's (see
:mod:`nstlib.widgets.base`). The term weights are the library's: the panel hands the slider values
to :func:`nstlib.synthesize`, which turns a strength into beta with :func:`nstlib.synthesis.balance` and
reports the final weights to the live plot through its ``on_start`` hook.

The style targets A^l (Gram matrices) are computed once per panel and the content targets P^l once
per content layer, so moving a slider and pressing *Run* again costs only the optimisation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
from torch import Tensor

from ..config import pick
from ..defaults import DEFAULTS
from ..experiments import get_encoder
from ..io import load_image
from ..synthesis import SynthesisResult, content_targets, style_targets, synthesize
from ..vgg import VGG19Features
from .base import (
    LAYER_WEIGHT_CLASS,
    LOSS_PLOT_CLASS,
    PREVIEW_CLASS,
    RUN_CLASS,
    STATUS_CLASS,
    LiveView,
    image_png,
    loss_plot_png,
)
from .synthesis_panel import LABEL_STYLE, SynthesisPanel, thumbnail
from .texture_panel import TexturePanel

__all__ = [
    "TransferPanel",
    "TexturePanel",
    "LiveView",
    "image_png",
    "loss_plot_png",
    "CONTENT_LAYER_CHOICES",
    "TV_CHOICES",
    "BETA_FROM",
    "LAYER_WEIGHT_CLASS",
    "RUN_CLASS",
    "PREVIEW_CLASS",
    "LOSS_PLOT_CLASS",
    "STATUS_CLASS",
]


#: Content layers offered by :class:`TransferPanel` (Gatys et al. 2016 use conv4_2; Fig. 5 compares conv2_2).
CONTENT_LAYER_CHOICES: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2", "conv4_2")


def _log_slider(
    value: float, lo: float, hi: float, step: float, label: str, fmt: str, tip: str
) -> widgets.FloatLogSlider:
    """A base-10 log slider from 10**lo to 10**hi that reports only on release."""
    return widgets.FloatLogSlider(
        value=value,
        base=10,
        min=lo,
        max=hi,
        step=step,
        description=label,
        readout_format=fmt,
        style=LABEL_STYLE,
        continuous_update=False,
        tooltip=tip,
    )


#: TV weights offered by :class:`TransferPanel` (0: off; the defaults table's value is added if missing)
TV_CHOICES: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
#: how :class:`TransferPanel` sets beta: the lecture's ratio alpha/beta, or a style strength (He et al. 2016)
BETA_FROM: tuple[tuple[str, str], ...] = (("α/β (the paper's knob)", "ratio"), ("style strength", "strength"))


class TransferPanel(SynthesisPanel):
    """Style transfer with live preview: L_total = alpha * L_content + beta * sum_l w_l E_l (+ lambda_TV TV).

    Widgets: one slider per style layer (default relu1_1 ... relu5_1); how beta is set ("β from"):
    the lecture's **alpha/beta** on a log slider (alpha = 1), or a **style strength** on a log slider
    (beta set so the style pulls ``strength`` times as hard as the content where the run starts, see
    :func:`nstlib.synthesis.balance`; after such a run the alpha/beta slider shows the ratio it found);
    the TV weight lambda_TV; the pooling (each pooling has its own normalised encoder); the content
    layer; the start (content image or white noise); the optimiser; the steps. With layer balance on
    (the default), the layer sliders say how much each layer counts *relative to the balance*.
    Settings not on a widget come from :mod:`nstlib.defaults` (``balance_at``, the line search).

    Args:
        content, style: images (anything :func:`nstlib.load_image` accepts, e.g. "chelsea", "waves").
        encoder: a :class:`VGG19Features` (default :func:`nstlib.get_encoder` with the defaults table's
            pooling, as :func:`nstlib.transfer`).
        size: output size (longer side; default 192, quick mode 64); the content image is resized to it.
        style_size: the style image's longer side (default: the output's).
        steps: initial number of loss evaluations (default 100, quick mode 10).
        style_layers: layer names or {layer: initial w_l} (default Gatys' relu1_1 ... relu5_1, 1/5).
        content_layer: initial content layer (one of :data:`CONTENT_LAYER_CHOICES`).
        strength: initial style strength (default: the library's, :data:`nstlib.defaults.DEFAULTS`).
        ratio: initial alpha/beta; given, the panel starts with "β from: α/β" (a log slider from
            1e-10 to 1, or wider to include ``ratio``), else with the strength (and the alpha/beta
            slider at the paper's 1e-3).
        layer_balance: balance the style layers' pulls (default: the library's).
        init: "content" or "noise". optimizer: "lbfgs" or "adam".
        tv_weight: initial factor of the total-variation term (default: the library's).
        min_interval: seconds between two live redraws; max_draw_share: the largest share of the
            run's time spent redrawing (see :class:`LiveView`). preview_width: preview width in pixels.

    Example::

        panel = nstlib.widgets.TransferPanel("chelsea", "brush_strokes", encoder=enc, ratio=1e-3)
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
        super().__init__(
            encoder=encoder,
            steps=steps,
            optimizer=optimizer,
            min_interval=min_interval,
            max_draw_share=max_draw_share,
            preview_width=preview_width,
        )
        if content_layer not in CONTENT_LAYER_CHOICES:
            raise ValueError(f"content_layer must be one of {CONTENT_LAYER_CHOICES}, got {content_layer!r}")
        if ratio is not None and not (math.isfinite(ratio) and ratio > 0):
            raise ValueError(f"ratio = alpha / beta must be a finite number > 0, got {ratio}")
        if not (math.isfinite(strength) and strength > 0):
            raise ValueError(f"strength = {strength}: the style strength must be a finite number > 0")
        if not (math.isfinite(tv_weight) and tv_weight >= 0):
            raise ValueError(f"tv_weight = {tv_weight}: must be a finite number >= 0 (0 switches TV off)")
        self.layer_balance = bool(layer_balance)
        self.seed = seed
        size = size if size is not None else pick(192, 64)
        enc = self.encoder
        self.content_image = load_image(content, size=size)  # (1, 3, H, W)
        self.out_hw = (int(self.content_image.shape[-2]), int(self.content_image.shape[-1]))
        self.style_image = load_image(style, size=style_size if style_size is not None else max(self.out_hw))
        self._style_layers = self._add_layer_sliders(style_layers)
        self._encoders: dict[str, VGG19Features] = {enc.pooling: enc}  # one normalised encoder per pooling
        # A^l (1, N_l, N_l) rescaled to the output's size, per pooling; P^l per (pooling, content layer)
        self._style_targets: dict[str, dict[str, Tensor]] = {}
        self._content_targets: dict[tuple[str, str], dict[str, Tensor]] = {}
        self._targets_for(enc.pooling)  # the style targets now: a bad style image fails here, not at Run

        self.beta_dropdown = widgets.Dropdown(
            options=list(BETA_FROM),
            value="ratio" if ratio is not None else "strength",
            description="β from",
            style=LABEL_STYLE,
        )
        #: alpha/beta (alpha = 1): the lecture's knob; after a strength run, the ratio that run used
        start = ratio if ratio is not None else 1e-3
        self.ratio_slider = _log_slider(  # 1e-10 ... 1, wider when the given ratio lies outside
            start,
            min(-10, math.floor(math.log10(start))),
            max(0, math.ceil(math.log10(start))),
            0.25,
            "α/β",
            ".1e",
            "alpha / beta: content weight over style weight (alpha = 1); Gatys et al. use 1e-3 (1e-5 to 1e-2)",
        )
        #: the style strength: beta set so that the style pulls this many times as hard as the content
        self.strength_slider = _log_slider(
            strength,
            -1,
            2,
            0.1,
            "style strength",
            ".3g",
            "how hard the style pulls on the image compared with the content where the run starts (1 = equally)",
        )
        tv_options = sorted({*TV_CHOICES, float(tv_weight)})
        self.tv_slider = widgets.SelectionSlider(
            options=[(f"{v:g}", v) for v in tv_options],
            value=float(tv_weight),
            description="TV weight",
            continuous_update=False,
            style=LABEL_STYLE,
            tooltip="lambda_TV: the factor of the total-variation term (0: off)",
        )
        self.pooling_dropdown = widgets.Dropdown(
            options=["avg", "max"], value=enc.pooling, description="pooling", style=LABEL_STYLE
        )
        self.content_dropdown = widgets.Dropdown(
            options=list(CONTENT_LAYER_CHOICES), value=content_layer, description="content layer", style=LABEL_STYLE
        )
        self.init_dropdown = widgets.Dropdown(
            options=["content", "noise"], value=init, description="start from", style=LABEL_STYLE
        )
        self.beta_dropdown.observe(lambda _change: self._enable_beta_slider(), names="value")
        self._enable_beta_slider()
        self._assemble(
            inputs=[thumbnail(self.content_image, "content", 128), thumbnail(self.style_image, "style", 128)],
            controls=[
                self.beta_dropdown,
                self.ratio_slider,
                self.strength_slider,
                self.tv_slider,
                self.pooling_dropdown,
                self.content_dropdown,
                self.init_dropdown,
            ],
            out_hw=self.out_hw,
        )

    def _enable_beta_slider(self) -> None:
        """Only the slider that sets beta is active; the other one is shown greyed out."""
        by_ratio = self.beta_dropdown.value == "ratio"
        self.ratio_slider.disabled, self.strength_slider.disabled = not by_ratio, by_ratio

    @property
    def tv_weight(self) -> float:
        """lambda_TV, the TV slider's value."""
        return float(self.tv_slider.value)

    @property
    def alpha(self) -> float:
        """Content weight alpha (fixed at 1; the ratio slider sets beta)."""
        return 1.0

    @property
    def beta(self) -> float | None:
        """Style weight beta: alpha / (the alpha/beta slider), or with "β from: strength" the beta of the last run."""
        if self.beta_dropdown.value == "ratio":
            return self.alpha / self.ratio_slider.value
        return self.result.beta if self.result is not None else None

    @property
    def pooling_encoder(self) -> VGG19Features:
        """The encoder for the pooling chosen: the panel's own, or the same weights with the other pooling."""
        pooling = self.pooling_dropdown.value
        if pooling not in self._encoders:
            enc = self.encoder
            weights = "random" if enc.is_random else enc.weights_source  # "imagenet", "imagenet-vgg16" or a path
            self._encoders[pooling] = get_encoder(weights, pooling, precision=enc.precision, device=str(enc.device))
        return self._encoders[pooling]

    def _targets_for(self, pooling: str) -> dict[str, Tensor]:
        if pooling not in self._style_targets:
            enc = self._encoders[pooling]
            self._style_targets[pooling] = style_targets(
                enc, self.style_image.to(enc.device), self._style_layers, output_size=self.out_hw
            )
        return self._style_targets[pooling]

    def _content_target(self, layer: str) -> dict[str, Tensor]:
        enc = self.pooling_encoder
        key = (enc.pooling, layer)
        if key not in self._content_targets:
            self._content_targets[key] = content_targets(enc, self.content_image.to(enc.device), [layer])
        return self._content_targets[key]

    def describe(self) -> str:
        if self.beta_dropdown.value == "ratio":
            return f"α/β = {self.ratio_slider.value:.1e}"
        return f"strength {self.strength_slider.value:.3g}"

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for :func:`nstlib.synthesize` from the widgets (targets included)."""
        weights = self.slider_weights()
        layer = self.content_dropdown.value
        enc = self.pooling_encoder
        if (
            self.beta_dropdown.value == "strength"
        ):  # beta from the strength: nstlib.synthesis.balance, inside synthesize
            beta: dict[str, Any] = {"strength": self.strength_slider.value}
        else:
            beta = {"style_weight": self.beta}
        return dict(
            content_targets=self._content_target(layer),
            style_targets=self._targets_for(enc.pooling),
            content_layers={layer: 1.0},
            style_layers=weights,
            content_weight=self.alpha,
            tv_weight=self.tv_weight,
            layer_balance=self.layer_balance,
            **beta,
            init=self.init_dropdown.value,
            content_image=self.content_image,
            optimizer=self.optimizer_dropdown.value,
            steps=int(self.steps_slider.value),
            seed=self.seed,
            line_search=DEFAULTS.line_search if self.optimizer_dropdown.value == "lbfgs" else None,
            balance_at=DEFAULTS.balance_at,  # as nstlib.transfer: the style pulls measured where the run starts
        )

    def _optimise(self, view: LiveView) -> SynthesisResult:
        settings = self.settings()
        result = synthesize(
            self.pooling_encoder, progress=False, callback=view.callback, on_start=view.set_term_weights, **settings
        )
        if "strength" in settings and result.beta:  # show the alpha/beta the strength found
            ratio = self.alpha / result.beta
            self.ratio_slider.value = min(max(ratio, 10**self.ratio_slider.min), 10**self.ratio_slider.max)
        return result
