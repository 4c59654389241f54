"""Notebooks 02 and 03: reconstruct an image from one layer's content or some layers' style.

- :class:`ContentReconstructionWidget`: a layer dropdown and a steps slider; *Run* calls
  :func:`nstlib.reconstruct_content` (white noise -> match F^l to P^l, style weight 0).
- :class:`StyleReconstructionWidget`: one checkbox per style layer (equal weights w_l over the
  ticked ones) and a steps slider; *Run* calls :func:`nstlib.reconstruct_style` (white noise ->
  match G^l to A^l, content weight 0).

Both are :class:`~nstlib.widgets.base.RunPanel` subclasses (``ipywidgets.VBox``; evaluate one as the
last line of a cell): the Run button, status line, live preview and loss curve are the base's, the
same as the transfer panels'. ``widget.run()`` is what the button does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
from torch import Tensor

from ..config import pick
from ..experiments import GATYS_STYLE_LAYERS, reconstruct_content, reconstruct_style
from ..io import load_image
from ..synthesis import SynthesisResult
from ..vgg import VGG19Features
from .base import LiveView, RunPanel, image_png

__all__ = [
    "ContentReconstructionWidget",
    "StyleReconstructionWidget",
    "CONTENT_RECONSTRUCTION_LAYERS",
    "STYLE_RECONSTRUCTION_LAYERS",
]

#: Gatys et al. 2016, Fig. 1 (top): content reconstructions from these layers.
#: The rectified maps (relu), which Gatys' code reads; the paper's text names the conv layers.
CONTENT_RECONSTRUCTION_LAYERS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
#: Gatys et al. 2016, Fig. 1 (bottom): style reconstructions from relu1_1, ..., relu5_1.
STYLE_RECONSTRUCTION_LAYERS: tuple[str, ...] = tuple(GATYS_STYLE_LAYERS)


class _ReconstructionWidget(RunPanel):
    """A :class:`RunPanel` that shows the target image beside the live reconstruction."""

    default_pooling = "auto"  # as reconstruct_content / reconstruct_style

    def __init__(
        self,
        image: Any,
        *,
        size: int | None,
        steps: int | None,
        encoder: VGG19Features | None,
        min_interval: float,
        preview_width: int,
    ) -> None:
        super().__init__(
            encoder=encoder,
            steps=steps,
            min_interval=min_interval,
            preview_width=preview_width,
            plot_width=380,
            steps_range=(1, 500, 1),
            ready="Ready: choose and press Run.",
            run_tooltip="optimise a white-noise image's pixels",
        )
        self.image: Tensor = load_image(image, size=size if size is not None else pick(128, 48))  # (1, 3, H, W)
        self._original = widgets.Image(value=image_png(self.image), format="png", width=preview_width)
        self.preview.value = image_png(self.image * 0 + 0.5)  # grey until the first run

    def _assemble(self, controls: list[widgets.Widget]) -> None:
        self.children = [
            widgets.HBox(
                [
                    widgets.VBox([widgets.Label("target image"), self._original]),
                    widgets.VBox([widgets.Label("reconstruction (live)"), self.preview]),
                    self.loss_plot,
                ]
            ),
            widgets.HBox([*controls, self.steps_slider]),
            widgets.HBox([self.run_button, self.status]),
        ]

    def _optimise(self, view: LiveView) -> SynthesisResult:
        return self._reconstruct(int(self.steps_slider.value), view.callback)

    def _reconstruct(self, steps: int, callback) -> SynthesisResult:
        raise NotImplementedError


class ContentReconstructionWidget(_ReconstructionWidget):
    """Pick a layer and a number of steps; *Run* reconstructs the image from that layer's features.

    Args:
        image: anything :func:`nstlib.load_image` accepts (default the cat ``"chelsea"``).
        layers: the dropdown's choices (default relu1_2 ... relu5_2, as in Gatys et al. 2016 Fig. 1).
        layer: the layer selected first.
        size: the image's longer side in px (default ``pick(128, 48)``).
        steps: the slider's first value (default ``pick(100, 10)``).
        encoder: the VGG-19 (default :func:`nstlib.get_encoder` with ``pooling="auto"``, as
            :func:`nstlib.reconstruct_content`).
        min_interval: seconds between two live redraws.

    Attributes:
        layer_dropdown, steps_slider, run_button, status, preview, loss_plot: the controls.
        result: the last :class:`~nstlib.SynthesisResult` (``None`` before the first run).
    """

    def __init__(
        self,
        image: Any = "chelsea",
        layers: Sequence[str] = CONTENT_RECONSTRUCTION_LAYERS,
        layer: str = "relu4_2",
        *,
        size: int | None = None,
        steps: int | None = None,
        encoder: VGG19Features | None = None,
        min_interval: float = 0.5,
        preview_width: int = 220,
    ) -> None:
        super().__init__(
            image, size=size, steps=steps, encoder=encoder, min_interval=min_interval, preview_width=preview_width
        )
        layers = self.encoder.check_layers(list(layers))
        self.layer_dropdown = widgets.Dropdown(
            options=layers,
            value=layer if layer in layers else layers[0],
            description="layer",
            tooltip="the layer l whose F^l must match P^l",
        )
        self._assemble([self.layer_dropdown])

    def describe(self) -> str:
        return f"content of {self.layer_dropdown.value}, {self.steps_slider.value} steps"

    def _reconstruct(self, steps: int, callback) -> SynthesisResult:
        return reconstruct_content(
            self.image,
            self.layer_dropdown.value,
            size=None,
            steps=steps,
            encoder=self.encoder,
            progress=False,
            callback=callback,
        )


class StyleReconstructionWidget(_ReconstructionWidget):
    """Tick style layers and pick a number of steps; *Run* reconstructs the image's style from them.

    The ticked layers get equal weights w_l = 1 / (number ticked), as in Gatys et al. 2016.

    Args:
        image: anything :func:`nstlib.load_image` accepts (default ``"brush_strokes"``).
        layers: one checkbox per layer (default relu1_1 ... relu5_1).
        ticked: the layers ticked first (default: all).
        size, steps, encoder, min_interval: as for :class:`ContentReconstructionWidget`.

    Attributes:
        layer_boxes: {layer: Checkbox}. Others as for :class:`ContentReconstructionWidget`.
    """

    def __init__(
        self,
        image: Any = "brush_strokes",
        layers: Sequence[str] = STYLE_RECONSTRUCTION_LAYERS,
        ticked: Sequence[str] | None = None,
        *,
        size: int | None = None,
        steps: int | None = None,
        encoder: VGG19Features | None = None,
        min_interval: float = 0.5,
        preview_width: int = 220,
    ) -> None:
        super().__init__(
            image, size=size, steps=steps, encoder=encoder, min_interval=min_interval, preview_width=preview_width
        )
        layers = self.encoder.check_layers(list(layers))
        chosen = set(layers if ticked is None else self.encoder.check_layers(list(ticked)))
        self.layer_boxes = {
            name: widgets.Checkbox(
                value=name in chosen, description=name, indent=False, layout=widgets.Layout(width="90px")
            )
            for name in layers
        }
        self._assemble([widgets.Label("style layers:"), *self.layer_boxes.values()])

    def selected(self) -> list[str]:
        """The ticked layers, shallow to deep."""
        return [name for name, box in self.layer_boxes.items() if box.value]

    def describe(self) -> str:
        return f"style of {'+'.join(self.selected()) or 'no layer'}, {self.steps_slider.value} steps"

    def _reconstruct(self, steps: int, callback) -> SynthesisResult:
        layers = self.selected()
        if not layers:
            raise ValueError("tick at least one style layer")
        return reconstruct_style(  # equal w_l over the ticked layers, also with random weights (no balancing)
            self.image,
            layers,
            size=None,
            steps=steps,
            encoder=self.encoder,
            layer_balance=False,
            progress=False,
            callback=callback,
        )
