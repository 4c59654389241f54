"""Interactive panels for notebooks 04 and 05: sliders -> one optimisation -> live preview and loss curves.

- :class:`TransferPanel`: style transfer (Gatys, Ecker & Bethge, CVPR 2016). One slider per style
  layer weight w_l, the lecture's alpha/beta on a log slider (or beta set from a style strength), the
  total-variation weight, the pooling, the content layer, the initialisation, the optimiser and the
  number of steps.
- :class:`TexturePanel`: texture synthesis (Gatys, Ecker & Bethge, NeurIPS 2015). One slider per
  texture layer (conv1_1, pool1 ... pool4), the optimiser, the steps and the noise seed.

Both are :class:`~nstlib.widgets.base.RunPanel` subclasses (``ipywidgets.VBox``): evaluate ``panel``
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
import torch
from torch import Tensor

from ..config import pick
from ..defaults import DEFAULTS
from ..experiments import TEXTURE_LAYERS, _layer_weights, get_encoder
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
    RunPanel,
    image_png,
    loss_plot_png,
)

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

_LABEL = {"description_width": "95px"}  # room for "content layer" without truncation

#: Content layers offered by :class:`TransferPanel` (Gatys et al. 2016 use conv4_2; Fig. 5 compares conv2_2).
CONTENT_LAYER_CHOICES: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2", "conv4_2")


def _log_slider(value: float, lo: float, hi: float, step: float, label: str, fmt: str, tip: str):
    """A base-10 log slider from 10**lo to 10**hi that reports only on release."""
    return widgets.FloatLogSlider(
        value=value,
        base=10,
        min=lo,
        max=hi,
        step=step,
        description=label,
        readout_format=fmt,
        style=_LABEL,
        continuous_update=False,
        tooltip=tip,
    )


#: TV weights offered by :class:`TransferPanel` (0: off; the defaults table's value is added if missing)
TV_CHOICES: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
#: how :class:`TransferPanel` sets beta: the lecture's ratio alpha/beta, or a style strength (He et al. 2016)
BETA_FROM: tuple[tuple[str, str], ...] = (("α/β (the paper's knob)", "ratio"), ("style strength", "strength"))


def _weight_slider(layer: str, value: float) -> widgets.FloatSlider:
    slider = widgets.FloatSlider(
        value=value,
        min=0.0,
        max=1.0,
        step=0.05,
        description=layer,
        readout_format=".2f",
        continuous_update=False,
        style={"description_width": "70px"},
        tooltip=f"w_l of {layer}: its weight in the sum of layer losses",
    )
    slider.add_class(LAYER_WEIGHT_CLASS)
    return slider


def _thumbnail(img: Tensor, title: str, width: int) -> widgets.VBox:
    return widgets.VBox([widgets.Label(title), widgets.Image(value=image_png(img), format="png", width=width)])


def _initial_weights(layers: Mapping[str, float] | Sequence[str] | str) -> dict[str, float]:
    """{layer: initial slider value}: a dict as given, or equal weights 1/L for a list of L names
    (the library's rule, :func:`nstlib.transfer`'s); every value must lie in the sliders' [0, 1]."""
    out = {k: float(v) for k, v in _layer_weights(layers, {}).items()}
    if not out:
        raise ValueError("give at least one layer")
    bad = {k: v for k, v in out.items() if not 0.0 <= v <= 1.0}
    if bad:
        raise ValueError(f"initial layer weights must lie in [0, 1] (the slider range), got {bad}")
    return out


def _check_some_weight(weights: Mapping[str, float]) -> None:
    if not any(w > 0 for w in weights.values()):
        raise ValueError("every layer weight is 0: move at least one layer-weight slider above 0")


class _SynthesisPanel(RunPanel):
    """A :class:`RunPanel` around :func:`nstlib.synthesize`: layer-weight sliders, optimiser, weighted plot.

    Subclasses build their controls, then call :meth:`_assemble`, and implement :meth:`settings`
    (the keyword arguments of :func:`nstlib.synthesize` read from the widgets).
    """

    def __init__(
        self,
        *,
        encoder: VGG19Features | None,
        steps: int | None,
        optimizer: str,
        min_interval: float,
        max_draw_share: float,
        preview_width: int,
    ) -> None:
        super().__init__(
            encoder=encoder,
            steps=steps,
            min_interval=min_interval,
            max_draw_share=max_draw_share,
            preview_width=preview_width,
            ready="Ready: set the sliders and press Run.",
            label_style=_LABEL,
        )
        self.optimizer_dropdown = widgets.Dropdown(
            options=["lbfgs", "adam"], value=optimizer, description="optimiser", style=_LABEL
        )
        self.weighted_checkbox = widgets.Checkbox(
            value=False,
            description="plot weighted terms",
            indent=False,
            tooltip="plot each term times its weight (its share of the total) instead of the raw loss",
        )

    def _assemble(
        self,
        inputs: list[widgets.Widget],
        sliders: list[widgets.Widget],
        controls: list[widgets.Widget],
        out_hw: tuple[int, int],
    ) -> None:
        # Until the first run the preview is a plain grey placeholder of the output's size.
        self.preview.value = image_png(torch.full((1, 3, *out_hw), 0.85))
        common = [self.optimizer_dropdown, self.steps_slider, self.weighted_checkbox]
        self.children = [
            widgets.HBox(
                [
                    widgets.VBox(inputs),
                    widgets.VBox([widgets.Label("result (live; grey until Run)"), self.preview]),
                    self.loss_plot,
                ]
            ),
            widgets.HBox(
                [widgets.VBox([widgets.Label("layer weights w_l"), *sliders]), widgets.VBox([*controls, *common])]
            ),
            widgets.HBox([self.run_button, self.status]),
        ]

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for :func:`nstlib.synthesize` built from the current widget values."""
        raise NotImplementedError

    def _optimise(self, view: LiveView) -> SynthesisResult:
        # on_start hands the final term weights (after balance / balance_layers) to the live plot
        return synthesize(
            self.encoder, progress=False, callback=view.callback, on_start=view.set_term_weights, **self.settings()
        )


class TransferPanel(_SynthesisPanel):
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
        initial = _initial_weights(style_layers)
        enc.check_layers(list(initial))
        self._style_layers = list(initial)
        self._encoders: dict[str, VGG19Features] = {enc.pooling: enc}  # one normalised encoder per pooling
        # A^l (1, N_l, N_l) rescaled to the output's size, per pooling; P^l per (pooling, content layer)
        self._style_targets: dict[str, dict[str, Tensor]] = {}
        self._content_targets: dict[tuple[str, str], dict[str, Tensor]] = {}
        self._targets_for(enc.pooling)  # the style targets now: a bad style image fails here, not at Run

        self.layer_sliders = {layer: _weight_slider(layer, w) for layer, w in initial.items()}
        self.beta_dropdown = widgets.Dropdown(
            options=list(BETA_FROM),
            value="ratio" if ratio is not None else "strength",
            description="β from",
            style=_LABEL,
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
            style=_LABEL,
            tooltip="lambda_TV: the factor of the total-variation term (0: off)",
        )
        self.pooling_dropdown = widgets.Dropdown(
            options=["avg", "max"], value=enc.pooling, description="pooling", style=_LABEL
        )
        self.content_dropdown = widgets.Dropdown(
            options=list(CONTENT_LAYER_CHOICES), value=content_layer, description="content layer", style=_LABEL
        )
        self.init_dropdown = widgets.Dropdown(
            options=["content", "noise"], value=init, description="start from", style=_LABEL
        )
        self.beta_dropdown.observe(lambda _change: self._enable_beta_slider(), names="value")
        self._enable_beta_slider()
        self._assemble(
            inputs=[_thumbnail(self.content_image, "content", 128), _thumbnail(self.style_image, "style", 128)],
            sliders=list(self.layer_sliders.values()),
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
        weights = {layer: float(s.value) for layer, s in self.layer_sliders.items()}
        _check_some_weight(weights)
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


class TexturePanel(_SynthesisPanel):
    """Texture synthesis with live preview: minimise sum_l w_l E_l from white noise (Gatys et al. 2015).

    Widgets: one slider per texture layer weight w_l (default conv1_1, pool1 ... pool4, 1/5 each),
    the optimiser, the steps and the seed of the white-noise start.

    Args:
        source: the texture to imitate (anything :func:`nstlib.load_image` accepts, e.g. "brick").
        encoder: a :class:`VGG19Features` (default :func:`nstlib.get_encoder` with ``pooling="auto"``, as
            :func:`nstlib.synthesize_texture`'s VGG-19).
        size: output size (longer side or (H, W); default 128, quick mode 48).
        source_size: the source's longer side (default: the output's longer side).
        steps: initial number of loss evaluations (default 100, quick mode 10).
        layers: layer names or {layer: initial w_l} (default :data:`nstlib.experiments.TEXTURE_LAYERS`).
        optimizer: "lbfgs" or "adam". seed: initial noise seed.
        min_interval, max_draw_share: redraw throttle (see :class:`LiveView`).
        preview_width: preview width in pixels.
    """

    default_pooling = "auto"

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
        super().__init__(
            encoder=encoder,
            steps=steps,
            optimizer=optimizer,
            min_interval=min_interval,
            max_draw_share=max_draw_share,
            preview_width=preview_width,
        )
        size = size if size is not None else pick(128, 48)
        self.out_hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
        enc = self.encoder
        self.source_image = load_image(source, size=source_size or max(self.out_hw))
        initial = _initial_weights(layers)
        enc.check_layers(list(initial))
        self._style_targets = style_targets(
            enc, self.source_image.to(enc.device), list(initial), output_size=self.out_hw
        )
        self.layer_sliders = {layer: _weight_slider(layer, w) for layer, w in initial.items()}
        self.seed_box = widgets.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="noise seed", style=_LABEL)
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
            style_targets=self._style_targets,
            style_layers=weights,
            content_weight=0.0,
            style_weight=1.0,
            init="noise",
            size=self.out_hw,
            optimizer=self.optimizer_dropdown.value,
            steps=int(self.steps_slider.value),
            seed=int(self.seed_box.value),
        )
