"""All plotting: every function draws into a matplotlib Figure and returns it.

Nothing global changes (no ``plt.show``, no style changes); pass ``ax=`` where offered to draw into
an Axes of your own. The numbers come from :mod:`nstlib.analysis`, :mod:`nstlib.receptive` and
:func:`nstlib.synthesize`'s history; images go through :func:`nstlib.io.to_display`.

- images and optimisation runs: :func:`show_images`, :func:`plot_losses`,
  :func:`plot_reconstruction_losses`;
- the encoder (notebook 01): :func:`draw_receptive_fields` (Araujo et al., Distill 2019),
  :func:`plot_effective_receptive_fields` (Luo et al., NeurIPS 2016), :func:`plot_feature_maps`;
- style (notebook 03): :func:`plot_style_terms` (raw vs normalised E_l, Gatys et al. 2016),
  :func:`plot_gram`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from .analysis import StyleTerm, erf_centre, strongest_feature_maps, unit_at
from .io import to_display
from .receptive import ReceptiveFieldTable, erf_radius, receptive_field_table
from .vgg import layer_shape

if TYPE_CHECKING:  # only named in annotations: viz sits above the loop, and synthesis calls viz
    from .synthesis import SynthesisResult

__all__ = [
    "show_images",
    "plot_losses",
    "plot_reconstruction_losses",
    "draw_receptive_fields",
    "plot_effective_receptive_fields",
    "plot_feature_maps",
    "plot_style_terms",
    "plot_gram",
]

#: Colours of successive layers in receptive-field drawings (matplotlib's tab10, dark first).
_COLOURS = ("#d62728", "#ff7f0e", "#bcbd22", "#2ca02c", "#17becf", "#1f77b4", "#9467bd", "#e377c2", "#8c564b")


# ---------------------------------------------------------------------------- images and runs
def show_images(
    images: Sequence | Mapping[str, object],
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    size: float = 3.0,
    suptitle: str | None = None,
):
    """A grid of images with titles; ``images`` may be a list or a {title: image} dict. Returns the Figure."""
    import matplotlib.pyplot as plt

    if isinstance(images, Mapping):
        titles = list(images.keys()) if titles is None else titles
        images = list(images.values())
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image")
    n = len(images)
    ncols = min(n, ncols or 5)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            arr = to_display(images[k])
            ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
            if titles is not None and k < len(titles):
                ax.set_title(str(titles[k]), fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_losses(
    history: Sequence[Mapping[str, float]],
    terms: Sequence[str] | None = None,
    ax=None,
    weights: Mapping[str, float] | None = None,
    x: str = "step",
    logy: bool = True,
    title: str | None = None,
):
    """Per-term loss curves (one line per named term, plus the total), log scale. Returns the Figure.

    Args:
        history: ``SynthesisResult.history``: a dict per evaluation.
        terms: which terms to draw (default: every "content/...", "style/..." and "tv" term, and "total").
        weights: multiply each term by its weight (the term's share of the total) instead of raw values.
        x: "step" or "time" on the x axis.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    if terms is None:
        keys = [k for k in (history[0] if history else {}) if "/" in k or k == "tv"]
        terms = [*keys, "total"]
    xs = [h[x] for h in history]
    for term in terms:
        ys = [
            h.get(term, float("nan")) * (weights.get(term, 1.0) if weights and term != "total" else 1.0)
            for h in history
        ]
        style = dict(color="black", linewidth=2) if term == "total" else {}
        ax.plot(xs, ys, label=term, **style)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("loss evaluation" if x == "step" else "seconds")
    ax.set_ylabel("weighted loss" if weights else "loss (raw term)")
    ax.set_title(title or "loss per term")
    if terms:
        ax.legend(fontsize=8, loc="upper right")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_reconstruction_losses(
    results: Mapping[str, SynthesisResult],
    relative: bool = True,
    best_so_far: bool = True,
    ax=None,
    title: str | None = None,
):
    """One loss curve per reconstruction (e.g. one per layer), log scale; returns the Figure.

    Args:
        results: {label: SynthesisResult}, e.g. {"conv1_2": reconstruct_content(...), ...}.
        relative: divide each curve by its first value (layers' raw losses differ by orders of
            magnitude; relative curves compare how far each optimisation got).
        best_so_far: plot the running minimum (what the returned image achieved; L-BFGS also
            evaluates trial points that are worse).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.8))
    else:
        fig = ax.figure
    for label, result in results.items():
        ys = torch.tensor([h["total"] for h in result.history], dtype=torch.float64)
        if best_so_far:
            ys = torch.cummin(ys, dim=0).values
        if relative and len(ys):
            ys = ys / ys[0]
        ax.plot([h["step"] for h in result.history], ys.numpy(), label=label)
    ax.set_yscale("log")
    ax.set_xlabel("loss evaluation")
    ax.set_ylabel(("loss / initial loss" if relative else "loss") + (" (best so far)" if best_so_far else ""))
    ax.set_title(title or "reconstruction loss per layer")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- the encoder (01)
def draw_receptive_fields(
    image: Tensor,
    layers: Sequence[str],
    point: tuple[float, float] | None = None,
    table: ReceptiveFieldTable | None = None,
    ax=None,
    title: str | None = None,
):
    """Outline the theoretical receptive field of one unit per layer on ``image``; returns the Figure.

    For each layer the unit whose field is centred nearest to ``point`` is chosen (:func:`unit_at`)
    and its box ``receptive_field_box`` is drawn *unclipped*: parts outside the image lie in the
    zero padding (shaded grey). The legend gives each field's size r_l in pixels.

    Args:
        image: (1, 3, H, W) or (3, H, W) image in [0, 1].
        layers: Gatys names, e.g. ``["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]``.
        point: (y, x) pixel to centre on (default: the image centre).
        table: receptive-field table (default ``receptive_field_table("vgg19")``).
        ax: draw into this Axes instead of a new figure.

    Each rectangle's label is ``"<layer>: <r> px"`` and its ``gid`` is the layer name.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    table = table or receptive_field_table("vgg19")
    img = to_display(image)
    H, W = img.shape[:2]
    y, x = point if point is not None else ((H - 1) / 2, (W - 1) / 2)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 5.5 * H / W + 0.4))
    else:
        fig = ax.figure
    boxes = []
    for name in layers:
        rf = table[name]
        i, j = unit_at(rf, y, x, layer_shape(name, H, W))
        boxes.append((name, rf, (i, j), rf.box(i, j)))
    top = min([0] + [b[3][0] for b in boxes])
    left = min([0] + [b[3][1] for b in boxes])
    bottom = max([H] + [b[3][2] for b in boxes])
    right = max([W] + [b[3][3] for b in boxes])
    ax.set_facecolor("#dddddd")  # the zero padding around the image
    ax.imshow(img, extent=(-0.5, W - 0.5, H - 0.5, -0.5), zorder=1)
    for k, (name, rf, (i, j), (t, l, b, r)) in enumerate(boxes):
        colour = _COLOURS[k % len(_COLOURS)]
        rect = Rectangle(
            (l - 0.5, t - 0.5),
            r - l,
            b - t,
            fill=False,
            edgecolor=colour,
            linewidth=2,
            label=f"{name}: {rf.size} px",
            gid=name,
            zorder=3,
        )
        ax.add_patch(rect)
        cy, cx = rf.center(i), rf.center(j)
        ax.plot([cx], [cy], marker="+", color=colour, markersize=8, zorder=4)
    m = 0.03 * max(bottom - top, right - left)  # a margin, so that no box lies on the frame
    ax.set_xlim(left - 0.5 - m, right - 0.5 + m)
    ax.set_ylim(bottom - 0.5 + m, top - 0.5 - m)
    ax.set_aspect("equal")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, title="receptive field")
    ax.set_title(title or f"receptive fields of the units centred near pixel (y={y:.0f}, x={x:.0f})", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_effective_receptive_fields(
    erfs: Mapping[str, Tensor],
    table: ReceptiveFieldTable | None = None,
    fraction: float = 0.9,
    gamma: float = 0.5,
    zoom: bool = True,
):
    """One panel per layer: the effective receptive field as a heat map inside its theoretical box.

    Args:
        erfs: {layer: (H, W) map} from :func:`effective_receptive_fields` (centre unit of each layer).
        table: receptive-field table (default VGG-19's).
        fraction: the dashed circle holds this fraction of the ERF's mass (:func:`nstlib.receptive.erf_radius`).
        gamma: the heat map shows ``erf ** gamma`` so that the faint tails stay visible.
        zoom: show each panel's box with a margin (small fields stay visible); ``False`` shows
            the whole input, at the same scale for every layer.

    Returns the Figure; each panel's title gives the box size r_l and the circle's diameter.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, Rectangle

    table = table or receptive_field_table("vgg19")
    n = len(erfs)
    if n == 0:
        raise ValueError("plot_effective_receptive_fields needs at least one layer")
    fig, axes = plt.subplots(1, n, figsize=(2.8 * n, 3.2), squeeze=False)
    for ax, (name, erf) in zip(axes[0], erfs.items()):
        H, W = erf.shape
        rf = table[name]
        h, w = layer_shape(name, H, W)
        top, left, bottom, right = rf.box(h // 2, w // 2)
        ax.imshow(erf.clamp_min(0).pow(gamma).numpy(), cmap="magma", vmin=0, vmax=1)
        ax.add_patch(
            Rectangle(
                (left - 0.5, top - 0.5),
                right - left,
                bottom - top,
                fill=False,
                edgecolor="#4fc3f7",
                linewidth=1.5,
                gid=name,
            )
        )
        cy, cx = erf_centre(erf)
        radius = erf_radius(erf, fraction)
        ax.add_patch(Circle((cx, cy), radius, fill=False, edgecolor="white", linestyle="--", linewidth=1))
        if zoom:  # the box and a margin around it, so that small fields stay visible
            m = max(3, rf.size // 4)
            ax.set_xlim(left - m - 0.5, right + m - 0.5)
            ax.set_ylim(bottom + m - 0.5, top - m - 0.5)
        else:
            ax.set_xlim(min(left, 0) - 0.5, max(right, W) - 0.5)
            ax.set_ylim(max(bottom, H) - 0.5, min(top, 0) - 0.5)
        ax.set_facecolor("black")  # the ERF is 0 outside the image too
        ax.set_title(f"{name}\nbox {rf.size} px, ERF {2 * radius:.0f} px", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"effective receptive field (heat map of erf^{gamma}); blue box: theoretical field; "
        f"dashed circle: {fraction:.0%} of the ERF's mass" + ("; panels zoomed to the box" if zoom else ""),
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def plot_feature_maps(encoder: nn.Module, image: Tensor, layers: Sequence[str], n_channels: int = 5):
    """Rows of feature maps: the image, then for each layer its ``n_channels`` most active maps.

    The maps (:func:`nstlib.analysis.strongest_feature_maps`) are shown at the layer's own resolution
    (H_l, W_l), each scaled to its own maximum, so one sees how the maps get coarser (and, with
    trained weights, more abstract) with depth.

    Args:
        encoder: :class:`~nstlib.VGG19Features`.
        image: (1, 3, H, W) in [0, 1].
        layers: e.g. ``["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]``.
        n_channels: maps per layer (the channels with the largest mean activation).
    """
    import matplotlib.pyplot as plt

    strongest = strongest_feature_maps(encoder, image, layers, n_channels)
    fig, axes = plt.subplots(
        len(layers), n_channels + 1, figsize=(1.7 * (n_channels + 1), 1.7 * len(layers) + 0.3), squeeze=False
    )
    for row, name in zip(axes, layers):
        channels, maps = strongest[name]  # (n, H_l, W_l)
        row[0].imshow(to_display(image))
        row[0].set_ylabel(f"{name}\n{tuple(maps.shape[-2:])}", fontsize=9)
        for ax, c, m in zip(row[1:], channels, maps):
            ax.imshow(m.numpy(), cmap="viridis")
            ax.set_title(f"map {c}", fontsize=8)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- style (03)
def plot_style_terms(terms: Mapping[str, StyleTerm], ax=None, title: str | None = None):
    """Bars per layer, log scale: the raw term sum (G - A)^2 beside E_l = raw / (4 N^2 M^2).

    The title states how many orders of magnitude separate the largest and smallest layer in each
    case. Returns the Figure; the raw bars carry the label ``"raw"``, the others ``"E_l"``.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(terms)
    raw = np.array([terms[k].raw for k in names])
    norm = np.array([terms[k].normalised for k in names])
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 3.8))
    else:
        fig = ax.figure
    pos = np.arange(len(names))
    ax.bar(pos - 0.2, raw, width=0.4, label="raw", color="#9e9e9e")
    ax.bar(pos + 0.2, norm, width=0.4, label="E_l", color="#1f77b4")
    ax.set_yscale("log")
    ax.set_xticks(pos)
    ax.set_xticklabels([f"{k}\nN={terms[k].N}, M={terms[k].M}" for k in names], fontsize=8)

    def spread(v):
        v = v[v > 0]
        return math.log10(v.max() / v.min()) if len(v) else float("nan")

    ax.set_title(
        title or f"style term per layer: raw spans {spread(raw):.1f} decades, E_l {spread(norm):.1f}", fontsize=10
    )
    ax.legend(labels=[r"raw $\sum_{ij}(G_{ij}-A_{ij})^2$", r"$E_l = $ raw $/\,(4N_l^2M_l^2)$"], fontsize=8)
    ax.grid(True, axis="y", which="major", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_gram(G: Tensor, max_channels: int = 64, ax=None, title: str | None = None, cmap: str = "viridis"):
    """Heat map of a Gram matrix (its first ``max_channels`` x ``max_channels`` block); returns the Figure.

    Args:
        G: (N, N) or (1, N, N) Gram matrix, e.g. ``nstlib.gram_matrix(F)``.
        max_channels: show at most this many feature maps (VGG layers have up to 512).
    """
    import matplotlib.pyplot as plt

    g = G.detach().float().cpu()
    if g.dim() == 3:
        g = g[0]
    if g.dim() != 2 or g.shape[0] != g.shape[1]:
        raise ValueError(f"expected a square (N, N) or (1, N, N) Gram matrix, got {tuple(G.shape)}")
    g = g[:max_channels, :max_channels]
    if ax is None:
        fig, ax = plt.subplots(figsize=(4, 3.6))
    else:
        fig = ax.figure
    im = ax.imshow(g.numpy(), cmap=cmap)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xlabel("feature map j")
    ax.set_ylabel("feature map i")
    ax.set_title(title or f"Gram matrix ({g.shape[0]} of {G.shape[-1]} maps)", fontsize=10)
    fig.tight_layout()
    return fig
