"""Small experiments behind notebooks 01-03: architecture, receptive fields, content and style.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016.
Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019.
Luo, Li, Urtasun & Zemel, "Understanding the Effective Receptive Field in Deep CNNs", NeurIPS 2016.

Notation (the lectures'): layer ``l`` has ``N_l`` feature maps of ``M_l = H_l * W_l`` positions;
``F^l`` (N_l, M_l) are the generated image's features, ``P^l`` the content image's,
``G^l = F^l (F^l)^T`` the Gram matrix and ``A^l`` the style image's Gram matrix.

Every ``plot_*`` / ``draw_*`` function returns its matplotlib Figure and changes no global state.

- notebook 01: :func:`architecture_table`, :func:`draw_receptive_fields`,
  :func:`effective_receptive_fields`, :func:`plot_effective_receptive_fields`, :func:`plot_feature_maps`
- notebook 02: :func:`input_gradient_step`, :func:`plot_reconstruction_losses`
- notebook 03: :func:`shuffle_patches`, :func:`representation_change`, :func:`style_terms`,
  :func:`plot_style_terms`, :func:`plot_gram`
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .losses import gram_matrix
from .optim import SynthesisResult, layer_shape, style_targets
from .plot import to_display
from .receptive import ReceptiveFieldTable, effective_receptive_field, erf_radius, receptive_field_table
from .vgg import LAYER_NAMES

__all__ = [
    "LayerInfo",
    "ArchitectureTable",
    "architecture_table",
    "unit_at",
    "draw_receptive_fields",
    "effective_receptive_fields",
    "plot_effective_receptive_fields",
    "plot_feature_maps",
    "input_gradient_step",
    "plot_reconstruction_losses",
    "shuffle_patches",
    "RepresentationChange",
    "representation_change",
    "StyleTerm",
    "style_terms",
    "plot_style_terms",
    "plot_gram",
]

#: Colours of successive layers in receptive-field drawings (matplotlib's tab10, dark first).
_COLOURS = ("#d62728", "#ff7f0e", "#bcbd22", "#2ca02c", "#17becf", "#1f77b4", "#9467bd", "#e377c2", "#8c564b")


# ============================================================================ notebook 01
@dataclass(frozen=True)
class LayerInfo:
    """One layer of the encoder as the architecture table shows it.

    Attributes:
        layer: Gatys name (``"conv1_1"``, ``"pool1"``, ...).
        kind: ``"conv"``, ``"relu"``, ``"maxpool"`` or ``"avgpool"``.
        out_shape: (C, H, W) of the layer's output for the table's input size.
        weight_shape: (N_out, N_in, k, k) of a convolution's filters, ``None`` otherwise.
        parameters: number of weights plus biases (0 for ReLU and pooling).
    """

    layer: str
    kind: str
    out_shape: tuple[int, int, int]
    weight_shape: tuple[int, ...] | None
    parameters: int


class ArchitectureTable(list):
    """A list of :class:`LayerInfo` that prints as a table; ``table["conv1_1"]`` looks a layer up."""

    _HEADERS = ("layer", "kind", "output (C, H, W)", "filters (N_out, N_in, k, k)", "parameters")

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            for row in self:
                if row.layer == key:
                    return row
            raise KeyError(f"no layer {key!r} in the table; layers are: {', '.join(r.layer for r in self)}")
        return super().__getitem__(key)

    @property
    def total_parameters(self) -> int:
        """Sum of the parameters of every layer in the table."""
        return sum(row.parameters for row in self)

    def _cells(self) -> list[list[str]]:
        return [
            [r.layer, r.kind, str(r.out_shape), "-" if r.weight_shape is None else str(r.weight_shape),
             f"{r.parameters:,}"]
            for r in self
        ]

    def __str__(self) -> str:
        rows = [list(self._HEADERS)] + self._cells() + [["total", "", "", "", f"{self.total_parameters:,}"]]
        widths = [max(len(row[c]) for row in rows) for c in range(len(self._HEADERS))]
        lines = ["  ".join(cell.rjust(w) if c == 4 else cell.ljust(w) for c, (cell, w) in enumerate(zip(row, widths)))
                 for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.insert(len(lines) - 1, lines[1])
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._HEADERS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self._cells())
        foot = f"<tr><th>total</th><td></td><td></td><td></td><th>{self.total_parameters:,}</th></tr>"
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}{foot}</tbody></table>"


def architecture_table(
    encoder: nn.Module, input_size: int | tuple[int, int] = 224, include_relu: bool = False
) -> ArchitectureTable:
    """The encoder's layers read from the model itself: output shapes, filter shapes, parameter counts.

    Args:
        encoder: a :class:`~nstlib.VGG19Features` (its ``.features`` children carry Gatys names).
        input_size: the input image's side (or (H, W)); 224 is VGG's ImageNet size.
        include_relu: also list the ReLU layers (they have no parameters and keep the shape).

    Returns:
        :class:`ArchitectureTable`; for VGG-19 ``table["conv1_1"].weight_shape == (64, 3, 3, 3)``
        and ``table.total_parameters == 20_024_384`` (the convolutional part).
    """
    H, W = (input_size, input_size) if isinstance(input_size, int) else input_size
    table = ArchitectureTable()
    channels = 3
    for name, module in getattr(encoder, "features", encoder).named_children():
        h, w = layer_shape(name, H, W) if name in LAYER_NAMES else (H, W)
        if isinstance(module, nn.Conv2d):
            channels = module.out_channels
            weight_shape = tuple(int(s) for s in module.weight.shape)
            params = sum(p.numel() for p in module.parameters())
            kind = "conv"
        else:
            weight_shape, params = None, 0
            kind = {nn.MaxPool2d: "maxpool", nn.AvgPool2d: "avgpool"}.get(type(module), "relu")
        if kind == "relu" and not include_relu:
            continue
        table.append(LayerInfo(name, kind, (channels, h, w), weight_shape, params))
    return table


def unit_at(rf, y: float, x: float, map_size: tuple[int, int]) -> tuple[int, int]:
    """The unit (i, j) of a layer whose receptive field is centred nearest to input pixel (y, x).

    Unit ``i`` is centred on ``i * S - P + (r - 1) / 2`` (Araujo et al.), so
    ``i = round((y + P - (r - 1) / 2) / S)``, clipped to the map of ``map_size`` = (H_l, W_l).
    """
    def nearest(c: float, n: int) -> int:
        return int(min(max(round((c + rf.padding - (rf.size - 1) / 2) / rf.stride), 0), n - 1))

    return nearest(y, map_size[0]), nearest(x, map_size[1])


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
        rect = Rectangle((l - 0.5, t - 0.5), r - l, b - t, fill=False, edgecolor=colour, linewidth=2,
                         label=f"{name}: {rf.size} px", gid=name, zorder=3)
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


def effective_receptive_fields(
    encoder: nn.Module, layers: Sequence[str], size: int = 224, n_samples: int = 4, seed: int = 0
) -> dict[str, Tensor]:
    """{layer: (size, size) effective receptive field of the centre unit}, see
    :func:`nstlib.receptive.effective_receptive_field` (Luo et al. 2016): mean |d unit / d pixel|
    over ``n_samples`` seeded uniform-noise images, normalised to max 1."""
    return {
        name: effective_receptive_field(encoder, name, size=size, n_samples=n_samples, seed=seed) for name in layers
    }


def plot_effective_receptive_fields(
    erfs: Mapping[str, Tensor], table: ReceptiveFieldTable | None = None, fraction: float = 0.9, gamma: float = 0.5,
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
        ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False,
                               edgecolor="#4fc3f7", linewidth=1.5, gid=name))
        mass = erf.clamp_min(0).double()
        ys = torch.arange(H, dtype=torch.float64).view(H, 1)
        xs = torch.arange(W, dtype=torch.float64).view(1, W)
        cy, cx = float((mass * ys).sum() / mass.sum()), float((mass * xs).sum() / mass.sum())
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
    fig.suptitle(f"effective receptive field (heat map of erf^{gamma}); blue box: theoretical field; "
                 f"dashed circle: {fraction:.0%} of the ERF's mass" + ("; panels zoomed to the box" if zoom else ""),
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


@torch.no_grad()
def plot_feature_maps(encoder: nn.Module, image: Tensor, layers: Sequence[str], n_channels: int = 5):
    """Rows of feature maps: the image, then for each layer its ``n_channels`` most active maps.

    The maps are shown at the layer's own resolution (H_l, W_l), each scaled to its own maximum,
    so one sees how the maps get coarser (and, with trained weights, more abstract) with depth.

    Args:
        encoder: :class:`~nstlib.VGG19Features`.
        image: (1, 3, H, W) in [0, 1].
        layers: e.g. ``["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]``.
        n_channels: maps per layer (the channels with the largest mean activation).
    """
    import matplotlib.pyplot as plt

    feats = encoder(image, list(layers))
    fig, axes = plt.subplots(len(layers), n_channels + 1, figsize=(1.7 * (n_channels + 1), 1.7 * len(layers) + 0.3),
                             squeeze=False)
    for row, name in zip(axes, layers):
        f = feats[name][0]  # (C, H_l, W_l)
        top = f.mean(dim=(1, 2)).argsort(descending=True)[:n_channels]
        row[0].imshow(to_display(image))
        row[0].set_ylabel(f"{name}\n{tuple(f.shape[-2:])}", fontsize=9)
        for ax, c in zip(row[1:], top.tolist()):
            m = f[c]
            ax.imshow((m / m.abs().max().clamp_min(1e-12)).numpy(), cmap="viridis")
            ax.set_title(f"map {c}", fontsize=8)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


# ============================================================================ notebook 02
def input_gradient_step(image: Tensor, loss_fn: Callable[[Tensor], Tensor], lr: float) -> Tensor:
    """One gradient-descent step on the *input*: ``x_new = x - lr * dL/dx`` (the model is not updated).

    Args:
        image: (1, 3, H, W) image (need not require grad; it is not modified).
        loss_fn: maps an image (1, 3, H, W) to a scalar loss, e.g. a content loss through the encoder.
        lr: step size.

    Returns:
        A new detached (1, 3, H, W) tensor.

    >>> input_gradient_step(torch.tensor([3.0]), lambda x: (x ** 2).sum(), 0.25)  # x - 0.25 * 2x
    tensor([1.5000])
    """
    x = image.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss_fn(x), x)
    return (x - lr * grad).detach()


def plot_reconstruction_losses(
    results: Mapping[str, SynthesisResult], relative: bool = True, best_so_far: bool = True, ax=None,
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


# ============================================================================ notebook 03
def shuffle_patches(image: Tensor, patch: int, seed: int = 0) -> Tensor:
    """Cut ``image`` into ``patch`` x ``patch`` tiles and put them back in a random order.

    Every pixel value survives, in a new place: what is *where* changes, the local statistics do not.

    Args:
        image: (B, C, H, W). H and W are cropped (bottom/right) to multiples of ``patch``.
        patch: tile side in pixels; at least two tiles must fit.
        seed: seeds the permutation (never the identity).

    Returns:
        (B, C, H', W') with H' = patch * (H // patch), W' = patch * (W // patch).
    """
    B, C, H, W = image.shape
    nh, nw = H // patch, W // patch
    if patch < 1 or nh * nw < 2:
        raise ValueError(f"patch={patch} leaves fewer than two {patch}x{patch} tiles in a {H}x{W} image")
    x = image[..., : nh * patch, : nw * patch]
    tiles = x.reshape(B, C, nh, patch, nw, patch).permute(0, 2, 4, 1, 3, 5).reshape(B, nh * nw, C, patch, patch)
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(nh * nw, generator=gen)
    while torch.equal(perm, torch.arange(nh * nw)):
        perm = torch.randperm(nh * nw, generator=gen)
    tiles = tiles[:, perm]  # (B, nh*nw, C, p, p)
    return tiles.reshape(B, nh, nw, C, patch, patch).permute(0, 3, 1, 4, 2, 5).reshape(B, C, nh * patch, nw * patch)


@dataclass(frozen=True)
class RepresentationChange:
    """How much a layer's representations change between two images (relative Frobenius norms).

    Attributes:
        content: ||F(a) - F(b)|| / ||F(a)||, the features themselves (where things are).
        gram: ||G(a) - G(b)|| / ||G(a)||, their Gram matrices (which features occur together).
    """

    content: float
    gram: float


@torch.no_grad()
def representation_change(
    encoder: nn.Module, image: Tensor, other: Tensor, layers: Sequence[str]
) -> dict[str, RepresentationChange]:
    """{layer: :class:`RepresentationChange`} between ``image`` and ``other`` (both (1, 3, H, W), same size).

    With ``other = shuffle_patches(image, p)`` the content change is large and the Gram change
    small at layers whose receptive field is smaller than the patches: the Gram matrix sums over
    positions, so it does not care where a feature occurs.
    """
    if image.shape != other.shape:
        raise ValueError(f"images must have the same shape, got {tuple(image.shape)} and {tuple(other.shape)}")
    fa, fb = encoder(image, list(layers)), encoder(other, list(layers))
    out = {}
    for name in layers:
        a, b = fa[name].double(), fb[name].double()  # (1, N, H_l, W_l)
        ga, gb = gram_matrix(a), gram_matrix(b)  # (1, N, N)
        out[name] = RepresentationChange(
            content=float((a - b).norm() / a.norm().clamp_min(1e-30)),
            gram=float((ga - gb).norm() / ga.norm().clamp_min(1e-30)),
        )
    return out


@dataclass(frozen=True)
class StyleTerm:
    """One layer's style term, raw and normalised.

    Attributes:
        raw: sum_ij (G_ij - A_ij)^2.
        normalised: E_l = raw / (4 N_l^2 M_l^2) (Gatys et al.).
        N: number of feature maps N_l.
        M: positions per map M_l = H_l * W_l.
    """

    raw: float
    normalised: float
    N: int
    M: int


@torch.no_grad()
def style_terms(encoder: nn.Module, image: Tensor, style: Tensor, layers: Sequence[str]) -> dict[str, StyleTerm]:
    """{layer: :class:`StyleTerm`} of ``image`` against the style of ``style``.

    A^l is the style image's Gram matrix rescaled to ``image``'s size exactly as the optimisation
    does (:func:`nstlib.style_targets`), so ``normalised`` equals :func:`nstlib.style_layer_loss`.

    Args:
        encoder: :class:`~nstlib.VGG19Features`.
        image: (1, 3, H, W) the generated image (e.g. white noise).
        style: (1, 3, H', W') the style image.
        layers: e.g. ``["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]``.
    """
    targets = style_targets(encoder, style, list(layers), output_size=tuple(image.shape[-2:]))
    feats = encoder(image, list(layers))
    out = {}
    for name in layers:
        f = feats[name].double()  # (1, N, H_l, W_l)
        N, M = f.shape[1], f.shape[2] * f.shape[3]
        raw = float((gram_matrix(f) - targets[name].double()).pow(2).sum())
        out[name] = StyleTerm(raw=raw, normalised=raw / (4.0 * N**2 * M**2), N=N, M=M)
    return out


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

    ax.set_title(title or f"style term per layer: raw spans {spread(raw):.1f} decades, E_l {spread(norm):.1f}",
                 fontsize=10)
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
