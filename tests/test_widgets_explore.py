"""Widgets of notebooks 01-03: controls drive the drawing / the reconstruction they promise."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from nstlib.widgets import (  # noqa: E402
    ContentReconstructionWidget,
    ReceptiveFieldExplorer,
    StyleReconstructionWidget,
)

from .helpers import smooth_image  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _boxes(fig) -> dict[str, tuple[float, float, float, float]]:
    """{layer: (x, y, width, height)} of the receptive-field rectangles drawn on the figure."""
    return {
        p.get_gid(): (p.get_x(), p.get_y(), p.get_width(), p.get_height())
        for ax in fig.axes
        for p in ax.patches
        if isinstance(p, Rectangle) and p.get_gid()
    }


def test_receptive_field_explorer_redraws_on_every_control():
    ex = ReceptiveFieldExplorer(smooth_image(96, 96), size=None, layer="conv3_1")
    first = ex.figure
    assert _boxes(first) == {
        "conv1_1": (46.5, 46.5, 3, 3),  # pixel (48, 48): conv1_1 unit 48 sees rows 47..49
        "conv2_1": (43.5, 43.5, 10, 10),  # unit 24 of conv2_1: top = 24*2 - 4 = 44
        "conv3_1": (37.5, 37.5, 24, 24),  # unit 12 of conv3_1: top = 12*4 - 10 = 38
    }
    assert "r = 24 px" in ex.info.value and "S = 4 px" in ex.info.value

    ex.layer.value = "conv4_2"  # pick a deeper layer: its box is added, the figure is replaced
    assert ex.figure is not first
    assert _boxes(ex.figure)["conv4_2"][2:] == (84, 84) and len(_boxes(ex.figure)) == 5
    assert "r = 84 px" in ex.info.value

    ex.nested.value = False  # only the chosen layer
    assert list(_boxes(ex.figure)) == ["conv4_2"]

    ex.layer.value = "conv1_1"
    ex.x.value = 10  # move the pixel: the box follows
    assert _boxes(ex.figure) == {"conv1_1": (8.5, 46.5, 3, 3)}
    assert ex.shown_layers() == ["conv1_1"]


def test_receptive_field_explorer_rejects_unknown_layers():
    with pytest.raises(KeyError, match="conv9_9"):
        ReceptiveFieldExplorer(smooth_image(32, 32), layers=["conv1_1", "conv9_9"], size=None)


def test_content_reconstruction_widget_runs_the_chosen_layer(encoder):
    w = ContentReconstructionWidget(smooth_image(32, 40), size=40, steps=3, encoder=encoder, min_interval=0.0)
    assert w.layer_dropdown.value == "relu4_2"  # the rectified map, as Gatys' code and w.result is None
    before = w.preview.value
    w.layer_dropdown.value = "relu2_2"
    w.steps_slider.value = 4
    w.run_button.click()  # what the student does
    assert w.error is None and w.result is not None
    assert len(w.result.history) == 4
    assert list(w.result.term_weights) == ["content/relu2_2"]
    assert tuple(w.result.image.shape) == (1, 3, 32, 40)
    assert w.preview.value != before and w.preview.value[:4] == b"\x89PNG"
    assert w.status.value.startswith("Done") and "relu2_2" in w.status.value
    assert not w.run_button.disabled


def test_style_reconstruction_widget_uses_the_ticked_layers(encoder):
    w = StyleReconstructionWidget(smooth_image(32, 32), size=32, steps=2, encoder=encoder, min_interval=0.0)
    assert w.selected() == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    for box in w.layer_boxes.values():
        box.value = False
    assert w.run() is None and "tick at least one" in w.status.value  # an error the student can read
    with pytest.raises(ValueError, match="tick at least one"):
        w.run(raise_errors=True)
    w.layer_boxes["relu1_1"].value = True
    w.layer_boxes["relu2_1"].value = True
    result = w.run()
    assert result is w.result and len(result.history) == 2
    assert result.term_weights == {"style/relu1_1": 0.5, "style/relu2_1": 0.5}  # equal w_l over the ticked
    assert w.status.value.startswith("Done") and "relu1_1+relu2_1" in w.status.value
