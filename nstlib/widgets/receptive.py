"""Notebook 01's widget: pick a layer and a pixel, see the receptive fields of the units there.

The drawing is :func:`nstlib.viz.draw_receptive_fields` (a plain function returning a Figure);
this module only wires ipywidgets controls to it. Every change of a control calls
:meth:`ReceptiveFieldExplorer.redraw`, which replaces :attr:`ReceptiveFieldExplorer.figure`.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from ..io import load_image
from ..receptive import receptive_field_table
from ..viz import draw_receptive_fields

__all__ = ["ReceptiveFieldExplorer", "DEFAULT_RF_LAYERS"]

#: The first convolution of every block, the layers of Gatys' style representation, and pool5.
DEFAULT_RF_LAYERS: tuple[str, ...] = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1", "pool5")


class ReceptiveFieldExplorer:
    """Dropdown (layer) + sliders (pixel y, x) + checkbox (show the shallower layers too).

    The figure outlines the receptive field of the chosen layer's unit centred nearest to the pixel
    (and, with "nested" ticked, those of the shallower layers in the list), on the image.

    Args:
        image: anything :func:`nstlib.load_image` accepts, e.g. ``"chelsea"`` or a (1, 3, H, W) tensor.
        layers: layers offered in the dropdown, shallow to deep.
        size: the image's longer side in px (224 is VGG's ImageNet size).
        layer: the layer selected first (default: the third in ``layers``).

    Attributes:
        layer, y, x, nested: the ipywidgets controls. figure: the current matplotlib Figure.
        widget: the whole ``VBox`` (a notebook cell displays the explorer itself).

    Example::

        ReceptiveFieldExplorer("chelsea")   # last line of a cell
    """

    def __init__(
        self,
        image="chelsea",
        layers: Sequence[str] = DEFAULT_RF_LAYERS,
        size: int | None = 224,
        layer: str | None = None,
    ) -> None:
        import ipywidgets as w

        self.image: Tensor = load_image(image, size=size)  # (1, 3, H, W)
        self.table = receptive_field_table("vgg19")
        self.layers = [self.table[name].layer for name in layers]  # KeyError for unknown names
        H, W = self.image.shape[-2:]
        self.layer = w.Dropdown(
            options=self.layers, value=layer or self.layers[min(2, len(self.layers) - 1)], description="layer"
        )
        self.y = w.IntSlider(value=H // 2, min=0, max=H - 1, description="pixel y", continuous_update=False)
        self.x = w.IntSlider(value=W // 2, min=0, max=W - 1, description="pixel x", continuous_update=False)
        self.nested = w.Checkbox(value=True, description="shallower layers too")
        self.info = w.HTML()
        self.output = w.Output()
        self.figure = None
        for control in (self.layer, self.y, self.x, self.nested):
            control.observe(self._on_change, names="value")
        self.widget = w.VBox([w.HBox([self.layer, self.nested]), w.HBox([self.y, self.x]), self.info, self.output])
        self.redraw()

    def shown_layers(self) -> list[str]:
        """The layers drawn now: the selected one, preceded by the shallower ones when nested."""
        idx = self.layers.index(self.layer.value)
        return self.layers[: idx + 1] if self.nested.value else [self.layer.value]

    def redraw(self) -> None:
        """Draw the boxes for the current control values into :attr:`figure` and the output area."""
        import matplotlib.pyplot as plt
        from IPython.display import display

        if self.figure is not None:
            plt.close(self.figure)
        rf = self.table[self.layer.value]
        self.figure = draw_receptive_fields(
            self.image, self.shown_layers(), point=(self.y.value, self.x.value), table=self.table
        )
        plt.close(self.figure)  # shown through the Output widget only, not again by the inline backend
        self.info.value = (
            f"<b>{rf.layer}</b>: receptive field r = {rf.size} px, stride S = {rf.stride} px "
            f"(neighbouring units' fields are {rf.stride} px apart), {rf.channels} feature maps"
        )
        with self.output:
            self.output.clear_output(wait=True)
            display(self.figure)

    def _on_change(self, change) -> None:
        self.redraw()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
