"""The style-mix widget: Run uses the slider's mix and redraws the image."""

from __future__ import annotations

import torch

from nstlib.widgets.blend import BlendWidget
from nstlib.widgets.panel import image_png

from .helpers import smooth_image


def test_run_uses_the_mix_and_updates_the_image(encoder):
    wdg = BlendWidget(
        smooth_image(32, 32),
        smooth_image(32, 32, seed=1),
        smooth_image(32, 32, seed=2),
        encoder=encoder,
        size=32,
        steps=2,
        style_layers=["conv1_1"],
    )
    assert wdg.image.value == b""
    wdg.mix.value = 0.0
    first = wdg.run()
    assert first.info["style_blend"] == [1.0, 0.0] and wdg.image.value == image_png(first.image)
    wdg.mix.value = 1.0
    wdg.run_button.click()
    assert wdg.last_result.info["style_blend"] == [0.0, 1.0]
    assert "Done" in wdg.status.value
    assert not torch.equal(first.image, wdg.last_result.image)
