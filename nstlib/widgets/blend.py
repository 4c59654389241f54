"""A mix slider for blending two styles (notebook 06): one call of ``nstlib.transfer`` per Run."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from ..synthesis import SynthesisResult
from .base import image_png

__all__ = ["BlendWidget"]


class BlendWidget(w.VBox):
    """Slider ``mix`` in [0, 1] (0 = first style only, 1 = second only) and a Run button.

    Run calls ``nstlib.transfer(content, [style_a, style_b], style_blend=[1 - mix, mix], **kwargs)``
    and shows the result. ``last_result`` holds the last :class:`~nstlib.SynthesisResult`.
    """

    def __init__(self, content: Any, style_a: Any, style_b: Any, **transfer_kwargs: Any) -> None:
        from ..experiments import transfer

        self._transfer = transfer
        self.content, self.styles, self.kwargs = content, [style_a, style_b], transfer_kwargs
        self.kwargs.setdefault("progress", False)
        self.mix = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="mix", continuous_update=False)
        self.run_button = w.Button(description="Run", button_style="primary")
        self.status = w.Label("Move the slider, then press Run.")
        self.image = w.Image(format="png")
        self.last_result: SynthesisResult | None = None
        self.run_button.on_click(lambda _: self.run())
        for widget, cls in (
            (self.mix, "nstlib-blend-mix"),
            (self.run_button, "nstlib-run"),
            (self.image, "nstlib-preview"),
            (self.status, "nstlib-status"),
        ):
            widget.add_class(cls)
        super().__init__([w.HBox([self.mix, self.run_button]), self.status, self.image])

    def run(self):
        """Run one transfer at the slider's mix and show it; returns the result."""
        self.status.value = f"Running (mix {self.mix.value:.2f}) ..."
        try:
            result = self._transfer(
                self.content, self.styles, style_blend=[1.0 - self.mix.value, self.mix.value], **self.kwargs
            )
        except Exception as err:  # shown in the widget, not lost in a log
            self.status.value = f"Error: {err}"
            raise
        self.last_result = result
        self.image.value = image_png(result.image)
        self.status.value = f"Done: mix {self.mix.value:.2f}, {result.message}"
        return result
