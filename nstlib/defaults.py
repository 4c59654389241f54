"""One table of defaults for the library, the command line, the panels and the notebooks.

Two presets of the same optimisation (:func:`nstlib.synthesize`):

- ``"default"``: what ``nstlib.transfer(photo, painting)`` does when nothing else is said; tuned to
  *show* the style within a few hundred evaluations on a laptop, with random or trained weights, at
  any size: the paper's feature space, start from the photo, beta set from a dimensionless style
  ``strength`` (:func:`nstlib.synthesis.balance`).
- ``"paper"``: Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks",
  CVPR 2016: content relu4_2, style relu1_1 ... relu5_1 with w_l = 1/5, average pooling, white
  noise start, L-BFGS, alpha / beta = 1e-3 (CVPR 2016; its Fig. 4 sweeps 1e-5 to 1e-2) on the normalised
  network at 512 px (:func:`nstlib.synthesis.size_factor` keeps that meaning at other sizes).

``python -m nstlib defaults`` prints this table; README and notebooks quote it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

__all__ = ["Preset", "PRESETS", "DEFAULTS", "preset", "STYLE_LAYERS", "CONTENT_LAYERS", "TEXTURE_LAYERS"]

#: Gatys et al. 2016: content at relu4_2; style at relu1_1 ... relu5_1 with w_l = 1/5 (rectified maps,
#: as in the authors' code; the paper's text says conv4_2 etc. for the layer, the code reads the ReLU).
CONTENT_LAYERS: dict[str, float] = {"relu4_2": 1.0}
STYLE_LAYERS: dict[str, float] = {f"relu{i}_1": 1 / 5 for i in range(1, 6)}
#: Gatys et al. 2015 (texture synthesis): conv1_1 and pool1 ... pool4, conv1_1 rectified as in the authors'
#: code (their Caffe blob conv1_1 is ReLU'd in place). Before its ReLU, conv1_1's Gram matrix hardly changes
#: when the normalised image is negated, and textures came out with their colours inverted around ImageNet's
#: mean (a trained VGG-16: an orange sky turned cyan-blue).
TEXTURE_LAYERS: tuple[str, ...] = ("relu1_1", "pool1", "pool2", "pool3", "pool4")


@dataclass(frozen=True)
class Preset:
    """A complete set of transfer settings; ``style_weight=None`` means beta comes from ``strength``."""

    name: str
    description: str
    content_layers: dict[str, float] = field(default_factory=lambda: dict(CONTENT_LAYERS))
    style_layers: dict[str, float] = field(default_factory=lambda: dict(STYLE_LAYERS))
    pooling: str = "max"
    init: str = "content"
    content_weight: float = 1.0
    style_weight: float | None = None
    strength: float | None = 1.0
    steps: int = 300
    size: int = 256
    optimizer: str = "lbfgs"
    line_search: str | None = None
    layer_balance: bool = False
    tv_weight: float = 0.0
    balance_at: str = "noise"

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, Preset] = {
    "default": Preset(
        "default",
        "start from the photo; beta from the style strength (1 = content and style pull equally hard, "
        "3 = style three times as hard), every style layer pulling equally where the run starts, L-BFGS with "
        "line search",
        pooling="avg",
        strength=3.0,
        layer_balance=True,
        line_search="strong_wolfe",
        tv_weight=30.0,
        steps=300,
        balance_at="start",
    ),
    "paper": Preset(
        "paper",
        "Gatys et al. 2016: white-noise start, average pooling, alpha/beta = 1e-3 on the normalised VGG-19",
        pooling="avg",
        init="noise",
        content_weight=1.0,
        style_weight=1e3,
        strength=None,
        line_search="strong_wolfe",
        steps=500,
        size=512,
    ),
}

#: The settings used when nothing else is given.
DEFAULTS = PRESETS["default"]


def preset(name: str | Preset) -> Preset:
    """The preset called ``name`` ("default" or "paper"), with a clear error for other names."""
    if isinstance(name, Preset):
        return name
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def table() -> str:
    """The presets as a Markdown table (what ``python -m nstlib defaults`` prints)."""
    keys = [
        "content_layers",
        "style_layers",
        "pooling",
        "init",
        "content_weight",
        "style_weight",
        "strength",
        "layer_balance",
        "tv_weight",
        "steps",
        "size",
        "optimizer",
        "line_search",
        "balance_at",
    ]
    fmt = lambda v: ", ".join(f"{k}: {w:g}" for k, w in v.items()) if isinstance(v, dict) else str(v)  # noqa: E731
    lines = ["| setting | " + " | ".join(PRESETS) + " |", "|---|" + "---|" * len(PRESETS)]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(fmt(getattr(p, k)) for p in PRESETS.values()) + " |")
    return "\n".join(lines)
