"""The texture-synthesis panel of notebook 04: layer-weight sliders -> one optimisation from white noise.

Gatys, Ecker & Bethge, "Texture Synthesis Using Convolutional Neural Networks", NeurIPS 2015: the
texture is the set of Gram matrices A^l of the source's feature maps on some layers; synthesis starts
from white noise and minimises sum_l w_l E_l (eq. 5). :class:`TexturePanel` puts one slider per
w_l, the optimiser, the steps and the noise seed on a :class:`~nstlib.widgets.synthesis_panel.SynthesisPanel`;
the targets A^l are computed once per panel, so a slider move and *Run* cost only the optimisation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets

from ..config import pick
from ..defaults import TEXTURE_LAYERS
from ..io import load_image
from ..synthesis import style_targets
from ..vgg import VGG19Features
from .synthesis_panel import LABEL_STYLE, SynthesisPanel, thumbnail

__all__ = ["TexturePanel"]


class TexturePanel(SynthesisPanel):
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
        names = self._add_layer_sliders(layers)
        self._style_targets = style_targets(enc, self.source_image.to(enc.device), names, output_size=self.out_hw)
        self.seed_box = widgets.BoundedIntText(
            value=seed, min=0, max=2**31 - 1, description="noise seed", style=LABEL_STYLE
        )
        self._assemble(
            inputs=[thumbnail(self.source_image, "source texture", 128)],
            controls=[self.seed_box],
            out_hw=self.out_hw,
        )

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for :func:`nstlib.synthesize` from the widgets (targets included)."""
        return dict(
            style_targets=self._style_targets,
            style_layers=self.slider_weights(),
            content_weight=0.0,
            style_weight=1.0,
            init="noise",
            size=self.out_hw,
            optimizer=self.optimizer_dropdown.value,
            steps=int(self.steps_slider.value),
            seed=int(self.seed_box.value),
        )
