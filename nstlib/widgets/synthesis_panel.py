"""What the transfer and texture panels share: layer-weight sliders, the optimiser, the layout, the run.

Both panels minimise a weighted sum of per-layer losses with :func:`nstlib.synthesize` (Gatys, Ecker &
Bethge: texture synthesis, NeurIPS 2015, eq. 5: sum_l w_l E_l; style transfer, CVPR 2016, eq. 7:
alpha L_content + beta sum_l w_l E_l). This module holds the part that does not depend on which:

- :class:`SynthesisPanel`: a :class:`~nstlib.widgets.base.RunPanel` with one slider per layer
  weight w_l (:meth:`SynthesisPanel.slider_weights` reads them), the optimiser dropdown, the
  "plot weighted terms" box, the three-row layout and the run through :func:`nstlib.synthesize`;
- :func:`weight_slider`, :func:`thumbnail`, :func:`initial_weights`, :data:`LABEL_STYLE`: its parts.

The panels themselves: :class:`nstlib.widgets.panel.TransferPanel` and
:class:`nstlib.widgets.texture_panel.TexturePanel`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import torch
from torch import Tensor

from ..recipes import layer_weights
from ..synthesis import SynthesisResult, synthesize
from .base import LAYER_WEIGHT_CLASS, LiveView, RunPanel, image_png

__all__ = ["SynthesisPanel", "weight_slider", "thumbnail", "initial_weights", "LABEL_STYLE"]

#: the panels' label width: room for "content layer" without truncation
LABEL_STYLE = {"description_width": "95px"}


def weight_slider(layer: str, value: float) -> widgets.FloatSlider:
    """The slider of one layer weight w_l in [0, 1], carrying the CSS class ``nstlib-layer-weight``."""
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


def thumbnail(img: Tensor, title: str, width: int) -> widgets.VBox:
    """A titled picture of an image tensor (1, 3, H, W), ``width`` px wide."""
    return widgets.VBox([widgets.Label(title), widgets.Image(value=image_png(img), format="png", width=width)])


def initial_weights(layers: Mapping[str, float] | Sequence[str] | str) -> dict[str, float]:
    """{layer: initial slider value}: a dict as given, or equal weights 1/L for a list of L names
    (the library's rule, :func:`nstlib.transfer`'s); every value must lie in the sliders' [0, 1]."""
    out = {k: float(v) for k, v in layer_weights(layers, {}).items()}
    if not out:
        raise ValueError("give at least one layer")
    bad = {k: v for k, v in out.items() if not 0.0 <= v <= 1.0}
    if bad:
        raise ValueError(f"initial layer weights must lie in [0, 1] (the slider range), got {bad}")
    return out


class SynthesisPanel(RunPanel):
    """A :class:`RunPanel` around :func:`nstlib.synthesize`: layer-weight sliders, optimiser, weighted plot.

    Subclasses build their controls (the layer sliders with :meth:`_add_layer_sliders`), then call
    :meth:`_assemble`, and implement :meth:`settings` (the keyword arguments of
    :func:`nstlib.synthesize` read from the widgets).
    """

    #: {layer: its w_l slider}, in the order given
    layer_sliders: dict[str, widgets.FloatSlider]

    def __init__(self, *, optimizer: str, **run_options: Any) -> None:
        """``optimizer``: the dropdown's first value ("lbfgs" or "adam"); ``run_options``: the keyword
        arguments of :class:`RunPanel` (encoder, steps, min_interval, max_draw_share, preview_width)."""
        super().__init__(ready="Ready: set the sliders and press Run.", label_style=LABEL_STYLE, **run_options)
        self.layer_sliders = {}
        self.optimizer_dropdown = widgets.Dropdown(
            options=["lbfgs", "adam"], value=optimizer, description="optimiser", style=LABEL_STYLE
        )
        self.weighted_checkbox = widgets.Checkbox(
            value=False,
            description="plot weighted terms",
            indent=False,
            tooltip="plot each term times its weight (its share of the total) instead of the raw loss",
        )

    def _add_layer_sliders(self, layers: Mapping[str, float] | Sequence[str]) -> list[str]:
        """One w_l slider per layer (names or {layer: initial w_l}), checked against the encoder; the names."""
        initial = initial_weights(layers)
        self.encoder.check_layers(list(initial))
        self.layer_sliders = {layer: weight_slider(layer, w) for layer, w in initial.items()}
        return list(initial)

    def slider_weights(self) -> dict[str, float]:
        """{layer: w_l} from the sliders; a ValueError that says what to move when every one is 0."""
        weights = {layer: float(s.value) for layer, s in self.layer_sliders.items()}
        if not any(w > 0 for w in weights.values()):
            raise ValueError("every layer weight is 0: move at least one layer-weight slider above 0")
        return weights

    def _assemble(
        self,
        inputs: list[widgets.Widget],
        controls: list[widgets.Widget],
        out_hw: tuple[int, int],
    ) -> None:
        # Until the first run the preview is a plain grey placeholder of the output's size.
        self.preview.value = image_png(torch.full((1, 3, *out_hw), 0.85))
        common = [self.optimizer_dropdown, self.steps_slider, self.weighted_checkbox]
        sliders = list(self.layer_sliders.values())
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
