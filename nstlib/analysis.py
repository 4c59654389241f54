"""Computations behind the experiments of notebooks 01-03: what a layer is, sees and keeps.

Each function returns numbers or tensors and draws nothing; :mod:`nstlib.viz` plots them.

- the encoder (notebook 01): :func:`architecture_table` (shapes and parameter counts read from the
  model), :func:`unit_at` (the unit centred on a pixel), :func:`effective_receptive_fields` and
  :func:`erf_centre` (Luo et al. 2016), :func:`strongest_feature_maps`;
- content (notebook 02): :func:`input_gradient_step`, one step of gradient descent on the pixels;
- style (notebook 03): :func:`shuffle_patches`, :func:`representation_change` (features vs Gram
  matrices under shuffling), :func:`style_terms` (raw and normalised E_l per layer).

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016.
Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019.
Luo, Li, Urtasun & Zemel, "Understanding the Effective Receptive Field in Deep CNNs", NeurIPS 2016.

Notation (the lectures'): layer ``l`` has ``N_l`` feature maps of ``M_l = H_l * W_l`` positions;
``F^l`` (N_l, M_l) are the generated image's features, ``P^l`` the content image's,
``G^l = F^l (F^l)^T`` the Gram matrix and ``A^l`` the style image's Gram matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .losses import gram_matrix
from .objective import style_targets
from .receptive import effective_receptive_field
from .table import Table
from .vgg import LAYER_NAMES, VGG19Features, layer_shape

__all__ = [
    "LayerInfo",
    "ArchitectureTable",
    "architecture_table",
    "unit_at",
    "effective_receptive_fields",
    "erf_centre",
    "strongest_feature_maps",
    "input_gradient_step",
    "shuffle_patches",
    "RepresentationChange",
    "representation_change",
    "StyleTerm",
    "style_terms",
]


# ---------------------------------------------------------------------------- the encoder (01)
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


class ArchitectureTable(Table):
    """A list of :class:`LayerInfo` that prints as a table; ``table["conv1_1"]`` looks a layer up."""

    headers = ("layer", "kind", "output (C, H, W)", "filters (N_out, N_in, k, k)", "parameters")
    key = "layer"
    right = frozenset({4})

    @property
    def total_parameters(self) -> int:
        """Sum of the parameters of every layer in the table."""
        return sum(row.parameters for row in self)

    def cells(self, r: LayerInfo) -> list[str]:
        return [
            r.layer,
            r.kind,
            str(r.out_shape),
            "-" if r.weight_shape is None else str(r.weight_shape),
            f"{r.parameters:,}",
        ]

    def footer(self) -> list[str]:
        return ["total", "", "", "", f"{self.total_parameters:,}"]


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


def effective_receptive_fields(
    encoder: nn.Module, layers: Sequence[str], size: int = 224, n_samples: int = 4, seed: int = 0
) -> dict[str, Tensor]:
    """{layer: (size, size) effective receptive field of the centre unit}, see
    :func:`nstlib.receptive.effective_receptive_field` (Luo et al. 2016): mean |d unit / d pixel|
    over ``n_samples`` seeded uniform-noise images, normalised to max 1."""
    return {
        name: effective_receptive_field(encoder, name, size=size, n_samples=n_samples, seed=seed) for name in layers
    }


def erf_centre(erf: Tensor) -> tuple[float, float]:
    """(y, x) centre of mass of an effective receptive field (H, W) (negative values count as 0).

    >>> erf_centre(torch.tensor([[0.0, 1.0], [0.0, 3.0]]))
    (0.75, 1.0)
    """
    mass = erf.detach().clamp_min(0).double()  # (H, W)
    H, W = mass.shape
    ys = torch.arange(H, dtype=torch.float64).view(H, 1)
    xs = torch.arange(W, dtype=torch.float64).view(1, W)
    total = mass.sum()
    return float((mass * ys).sum() / total), float((mass * xs).sum() / total)


@torch.no_grad()
def strongest_feature_maps(
    encoder: nn.Module, image: Tensor, layers: Sequence[str], n_channels: int = 5
) -> dict[str, tuple[list[int], Tensor]]:
    """{layer: (channels, maps)}: the ``n_channels`` maps of ``image`` with the largest mean activation.

    ``maps`` is (n_channels, H_l, W_l) at the layer's own resolution, each map divided by its largest
    absolute value (so every map spans [-1, 1] or [0, 1]); ``channels`` are their indices, strongest first.
    """
    feats = encoder(image, list(layers))
    out = {}
    for name in layers:
        f = feats[name][0]  # (C, H_l, W_l)
        top = f.mean(dim=(1, 2)).argsort(descending=True)[:n_channels].tolist()
        maps = f[top]  # (n, H_l, W_l)
        maps = maps / maps.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1e-12)
        out[name] = (top, maps.cpu())
    return out


# ---------------------------------------------------------------------------- content (02)
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


# ---------------------------------------------------------------------------- style (03)
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
def style_terms(encoder: VGG19Features, image: Tensor, style: Tensor, layers: Sequence[str]) -> dict[str, StyleTerm]:
    """{layer: :class:`StyleTerm`} of ``image`` against the style of ``style``.

    A^l is the style image's Gram matrix rescaled to ``image``'s size exactly as the optimisation
    does (:func:`nstlib.style_targets`), so ``normalised`` equals :func:`nstlib.style_layer_loss`.

    Args:
        encoder: :class:`~nstlib.VGG19Features`.
        image: (1, 3, H, W) the generated image (e.g. white noise).
        style: (1, 3, H', W') the style image.
        layers: e.g. ``["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]``.
    """
    out_hw = (int(image.shape[-2]), int(image.shape[-1]))
    targets = style_targets(encoder, style, list(layers), output_size=out_hw)  # {layer: (1, N_l, N_l)}
    feats = encoder(image, list(layers))
    out = {}
    for name in layers:
        f = feats[name].double()  # (1, N, H_l, W_l)
        N, M = f.shape[1], f.shape[2] * f.shape[3]
        raw = float((gram_matrix(f) - targets[name].double()).pow(2).sum())
        out[name] = StyleTerm(raw=raw, normalised=raw / (4.0 * N**2 * M**2), N=N, M=M)
    return out
