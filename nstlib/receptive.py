"""Receptive fields of VGG layers: the theoretical box and the effective (gradient) field.

Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019.
Luo, Li, Urtasun & Zemel, "Understanding the Effective Receptive Field in Deep Convolutional
Neural Networks", NeurIPS 2016.

Theoretical receptive field (Araujo et al., single-path networks). Layer ``l`` has kernel ``k_l``
(dilated: ``d_l * (k_l - 1) + 1``), stride ``s_l`` and left/top padding ``p_l``; a ReLU is
``k = 1, s = 1, p = 0``. With ``r_0 = 1, S_0 = 1, P_0 = 0``::

    r_l = r_{l-1} + (k_l - 1) * S_{l-1}     # size of the field, input pixels
    S_l = S_{l-1} * s_l                     # effective stride ("jump")
    P_l = P_{l-1} + p_l * S_{l-1}           # effective padding

This is the paper's closed form ``r = 1 + sum_l (k_l - 1) prod_{i<l} s_i`` and
``P = sum_l p_l prod_{i<l} s_i`` written as a recurrence. Unit ``i`` of layer ``l`` (0-based)
sees input rows ``u = i * S_l - P_l`` to ``v = u + r_l - 1`` (inclusive), centred on
``i * S_l - P_l + (r_l - 1) / 2``; ``u`` is negative when part of the field lies in the padding.

VGG-19: conv1_1 3, pool1 6, conv2_1 10, conv3_1 24, conv4_2 84, conv5_1 156, pool5 268 px, stride 32.

Effective receptive field (Luo et al.): the absolute gradient of one centre unit with respect to
the input pixels. Inside the theoretical box it is roughly Gaussian and occupies only a fraction
of the box, the more so the deeper the layer.

Example::

    table = receptive_field_table("vgg19")
    print(table)                        # layer, kind, k, s, p, channels, S, P, size
    table["conv4_2"].size               # 84
    receptive_field_box(table["pool1"], 3, 5)   # (4, 8, 10, 14): rows 4..9, cols 8..13
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .vgg import VGG_CONFIGS, vgg_layer_names

__all__ = [
    "ReceptiveField",
    "ReceptiveFieldTable",
    "receptive_field_table",
    "receptive_field_box",
    "effective_receptive_field",
    "erf_radius",
]

# Layers that act on each pixel separately: kernel 1, stride 1, padding 0 (the size is unchanged).
_POINTWISE = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.BatchNorm2d,
    nn.InstanceNorm2d,
    nn.Dropout,
    nn.Dropout2d,
    nn.Identity,
)


@dataclass(frozen=True)
class ReceptiveField:
    """One layer's receptive field, along one image axis (VGG's fields are square).

    Attributes:
        layer: the layer's name (``"conv4_2"``, or the child name of a custom model).
        kind: ``"conv"``, ``"relu"`` (any pointwise layer), ``"maxpool"`` or ``"avgpool"``.
        kernel: this layer's kernel size ``k_l`` (dilation included; 1 for pointwise layers).
        layer_stride: this layer's own stride ``s_l``.
        layer_padding: this layer's own top/left padding ``p_l``.
        stride: effective stride ``S_l = prod s_i``: input pixels between neighbouring units.
        padding: effective padding ``P_l = sum p_l * S_{l-1}``.
        size: receptive field size ``r_l`` in input pixels.
        channels: number of output channels, ``None`` where unknown.
    """

    layer: str
    kind: str
    kernel: int
    layer_stride: int
    layer_padding: int
    stride: int
    padding: int
    size: int
    channels: int | None = None

    def center(self, i: float) -> float:
        """Input coordinate (pixel centres at integers) of the centre of unit ``i``: ``i*S - P + (r-1)/2``."""
        return i * self.stride - self.padding + (self.size - 1) / 2

    def box(self, i: int, j: int, image_size: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
        """Same as :func:`receptive_field_box` for this layer."""
        return receptive_field_box(self, i, j, image_size)


_COLUMNS = ("layer", "kind", "kernel", "layer_stride", "layer_padding", "channels", "stride", "padding", "size")
_HEADERS = ("layer", "kind", "k", "s", "p", "channels", "S (stride)", "P (padding)", "r (size)")


class ReceptiveFieldTable(list):
    """A list of :class:`ReceptiveField`, one per layer in order, that prints as a table.

    ``table["conv4_2"]`` (or :meth:`row`) looks a layer up by name; integer indices and slices work
    as for any list. ``print(table)`` gives a text table, Jupyter shows an HTML one.
    """

    def row(self, layer: str) -> ReceptiveField:
        """The record of ``layer``; ``KeyError`` listing the valid names if there is none."""
        for record in self:
            if record.layer == layer:
                return record
        raise KeyError(f"no layer {layer!r} in the table; layers are: {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        """Layer names in order."""
        return [record.layer for record in self]

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.row(key)
        return super().__getitem__(key)

    def _cells(self) -> list[list[str]]:
        return [["-" if getattr(r, c) is None else str(getattr(r, c)) for c in _COLUMNS] for r in self]

    def __str__(self) -> str:
        rows = [list(_HEADERS)] + self._cells()
        widths = [max(len(row[c]) for row in rows) for c in range(len(_HEADERS))]
        lines = [
            "  ".join(cell.rjust(w) if c > 1 else cell.ljust(w) for c, (cell, w) in enumerate(zip(row, widths)))
            for row in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in _HEADERS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self._cells())
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# ---------------------------------------------------------------------------- layer geometry
def _single(value: int | tuple[int, ...], what: str, name: str) -> int:
    """A square layer's value from an int or a tuple of equal ints."""
    if isinstance(value, int):
        return value
    values = tuple(value)
    if len(set(values)) != 1:
        raise ValueError(f"layer {name!r}: non-square {what} {values} is not supported")
    return int(values[0])


def _geometry(name: str, module: nn.Module) -> tuple[str, int, int, int, int | None]:
    """(kind, kernel, stride, padding, out_channels or None) of one layer."""
    if isinstance(module, nn.Conv2d):
        k = _single(module.kernel_size, "kernel", name)
        d = _single(module.dilation, "dilation", name)
        s = _single(module.stride, "stride", name)
        k_eff = d * (k - 1) + 1
        if isinstance(module.padding, str):  # "valid" or "same", the only strings PyTorch accepts
            p = 0 if module.padding == "valid" else (k_eff - 1) // 2  # "same": the smaller half on the top/left
        else:
            p = _single(module.padding, "padding", name)
        return "conv", k_eff, s, p, module.out_channels
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        k = _single(module.kernel_size, "kernel", name)
        s = _single(module.stride if module.stride not in (None, ()) else k, "stride", name)
        p = _single(module.padding, "padding", name)
        if isinstance(module, nn.MaxPool2d):
            k = _single(module.dilation, "dilation", name) * (k - 1) + 1
            return "maxpool", k, s, p, None
        return "avgpool", k, s, p, None
    if isinstance(module, _POINTWISE):
        return "relu", 1, 1, 0, None
    raise TypeError(
        f"layer {name!r} is a {type(module).__name__}; receptive fields are computed for Conv2d, "
        "MaxPool2d, AvgPool2d and pointwise layers (ReLU, BatchNorm2d, Dropout, ...)"
    )


def _config_layers(arch: str) -> list[tuple[str, tuple[str, int, int, int, int | None]]]:
    """(name, geometry) of VGG ``arch``'s feature layers: 3x3 convs with padding 1, 2x2 max pools."""
    names = iter(vgg_layer_names(arch))
    layers: list[tuple[str, tuple[str, int, int, int, int | None]]] = []
    for v in VGG_CONFIGS[arch]:
        if v == "M":
            layers.append((next(names), ("maxpool", 2, 2, 0, None)))
        else:
            layers.append((next(names), ("conv", 3, 1, 1, int(v))))
            layers.append((next(names), ("relu", 1, 1, 0, None)))
    return layers


def _gatys_names(geometry: list[tuple[str, int, int, int, int | None]]) -> list[str] | None:
    """Gatys names when ``geometry`` is (a prefix of) a VGG configuration, else ``None``.

    Only the layer sequence (kind, kernel, stride, padding) is compared, not channel counts, so a
    slimmed VGG is named too; average pools match max pools.
    """
    signature = [(g[0].replace("avg", "max"), *g[1:4]) for g in geometry]
    for arch in VGG_CONFIGS:
        reference = _config_layers(arch)
        if len(signature) <= len(reference) and signature == [g[:4] for _, g in reference[: len(signature)]]:
            return [name for name, _ in reference[: len(signature)]]
    return None


def _model_layers(model: nn.Module) -> list[tuple[str, tuple[str, int, int, int, int | None]]]:
    features = getattr(model, "features", model)
    if not isinstance(features, nn.Sequential):
        raise TypeError(f"expected 'vgg19', 'vgg16', a VGG19Features or an nn.Sequential, got {type(model).__name__}")
    children = list(features.named_children())
    geometry = [_geometry(name, module) for name, module in children]
    names = [name for name, _ in children]
    if all(name.isdigit() for name in names):
        names = _gatys_names(geometry) or names
    return list(zip(names, geometry))


def receptive_field_table(arch_or_model: str | nn.Module = "vgg19") -> ReceptiveFieldTable:
    """Theoretical receptive field of every layer, in order (Araujo et al. 2019).

    Args:
        arch_or_model: ``"vgg19"``, ``"vgg16"``, a :class:`~nstlib.VGG19Features`, or an
            ``nn.Sequential`` of Conv2d / MaxPool2d / AvgPool2d / pointwise layers (such as
            ``torchvision.models.vgg19().features``). Integer-named children that match a VGG
            configuration (or a prefix of one, e.g. ``vgg19().features[:21]``) get Gatys' names;
            otherwise the child names are kept.

    Returns:
        A :class:`ReceptiveFieldTable`; ``table["pool5"]`` is ``size=268, stride=32`` for VGG-19.

    >>> t = receptive_field_table("vgg19")
    >>> [t[n].size for n in ("conv1_1", "pool1", "conv2_1", "conv3_1", "conv4_2", "conv5_1", "pool5")]
    [3, 6, 10, 24, 84, 156, 268]
    """
    if isinstance(arch_or_model, str):
        if arch_or_model not in VGG_CONFIGS:
            raise ValueError(f"unknown architecture {arch_or_model!r}; choose one of {sorted(VGG_CONFIGS)}")
        layers = _config_layers(arch_or_model)
    else:
        layers = _model_layers(arch_or_model)
    table = ReceptiveFieldTable()
    r, S, P, channels = 1, 1, 0, None
    for name, (kind, k, s, p, out_channels) in layers:
        r, P, S = r + (k - 1) * S, P + p * S, S * s  # r_l, P_l use S_{l-1}; then S_l
        channels = out_channels if out_channels is not None else channels
        table.append(ReceptiveField(name, kind, k, s, p, S, P, r, channels))
    return table


def receptive_field_box(
    rf: ReceptiveField, i: int, j: int, image_size: tuple[int, int] | None = None
) -> tuple[int, int, int, int]:
    """Input-pixel box ``(top, left, bottom, right)`` seen by unit ``(i, j)`` of a layer.

    Half-open like a slice: rows ``top:bottom``, columns ``left:right``, so ``bottom - top`` is the
    receptive field size ``r`` and ``matplotlib.patches.Rectangle((left - 0.5, top - 0.5),
    right - left, bottom - top)`` outlines it over ``imshow``. ``top = i*S - P``, the centre is
    ``i*S - P + (r-1)/2`` (Araujo et al. 2019).

    Args:
        rf: the layer's record, e.g. ``receptive_field_table("vgg19")["conv3_1"]``.
        i, j: row and column of the unit in the layer's feature map (0-based).
        image_size: ``(H, W)`` to clip the box to the image; ``None`` (default) returns the
            unclipped box, whose ``top``/``left`` are negative where the field covers padding.
    """
    top, left = i * rf.stride - rf.padding, j * rf.stride - rf.padding
    bottom, right = top + rf.size, left + rf.size
    if image_size is not None:
        H, W = image_size
        top, left = min(max(top, 0), H), min(max(left, 0), W)
        bottom, right = min(max(bottom, 0), H), min(max(right, 0), W)
    return top, left, bottom, right


# ---------------------------------------------------------------------------- effective field
def _forward_to(model: nn.Module, x: Tensor, layer: str) -> Tensor:
    """Activation of ``layer``: ``model(x, [layer])`` for a VGG19Features, else run the Sequential.

    A Sequential's layers are named as in :func:`receptive_field_table` (Gatys names for VGG).
    """
    if hasattr(model, "check_layers"):
        return model(x, [layer])[layer]
    names = [name for name, _ in _model_layers(model)]
    if layer not in names:
        raise ValueError(f"no layer {layer!r} in the model; layers are: {', '.join(names)}")
    for name, module in zip(names, getattr(model, "features", model).children()):
        x = module(x)
        if name == layer:
            return x
    raise AssertionError("unreachable")


def effective_receptive_field(
    model: nn.Module,
    layer: str,
    size: int | tuple[int, int] = 96,
    n_samples: int = 4,
    seed: int = 0,
    image: Tensor | None = None,
    channel: int | None = None,
) -> Tensor:
    """Effective receptive field of the centre unit of ``layer`` (Luo et al. 2016).

    ``ERF(y, x) = mean_b |d f_l[b, c, h // 2, w // 2] / d img[b, :, y, x]|``, summed over the 3 input
    channels, normalised to max 1. ``f_l`` is ``layer``'s ``(B, C, h, w)`` map; the unit is summed
    over channels ``c`` (or only ``channel``; a ReLU unit that is 0 gives an all-zero map). Its theoretical box is
    ``receptive_field_box(table[layer], h // 2, w // 2)``; outside it the ERF is exactly 0.

    Args:
        model: a :class:`~nstlib.VGG19Features` (or an ``nn.Sequential`` with named children).
        layer: e.g. ``"conv4_2"``.
        size: input side(s) in px for the random inputs.
        n_samples: number of uniform random ``[0, 1]`` images (seeded with ``seed``) to average over.
        image: a ``(3, H, W)`` or ``(1, 3, H, W)`` image in ``[0, 1]`` to use instead of random ones.
        channel: one channel of ``layer`` instead of the sum over all of them.

    Returns:
        ``(H, W)`` float32 tensor in ``[0, 1]`` on the CPU.
    """
    if image is not None:
        x = (image if image.dim() == 4 else image.unsqueeze(0)).detach().float().cpu().clone()  # (1, 3, H, W)
    else:
        H, W = (size, size) if isinstance(size, int) else size
        gen = torch.Generator().manual_seed(seed)
        x = torch.rand(n_samples, 3, H, W, generator=gen)  # (B, 3, H, W)
    param = next(model.parameters(), None)
    x = x.to(param.device if param is not None else "cpu").requires_grad_(True)
    with torch.enable_grad():
        f = _forward_to(model, x, layer)  # (B, C, h, w)
        h, w = f.shape[-2:]
        unit = f[:, :, h // 2, w // 2] if channel is None else f[:, channel : channel + 1, h // 2, w // 2]
        (grad,) = torch.autograd.grad(unit.sum(), x)  # samples are independent: one backward for all
    erf = grad.abs().sum(dim=1).mean(dim=0).float().cpu()  # (H, W)
    peak = erf.max()
    return erf / peak if peak > 0 else erf


def erf_radius(erf: Tensor, fraction: float = 0.9) -> float:
    """Radius (px) of the smallest disc around the ERF's centre of mass holding ``fraction`` of its mass.

    ``erf`` is an ``(H, W)`` map such as :func:`effective_receptive_field` returns. Compare
    ``2 * erf_radius(erf)`` with the theoretical size ``r``: the ERF fills only a part of the box.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    H, W = erf.shape
    mass = erf.double().clamp_min(0)  # (H, W)
    total = mass.sum()
    if total <= 0:
        return 0.0
    ys = torch.arange(H, dtype=torch.float64).view(H, 1)
    xs = torch.arange(W, dtype=torch.float64).view(1, W)
    cy, cx = (mass * ys).sum() / total, (mass * xs).sum() / total
    dist = ((ys - cy) ** 2 + (xs - cx) ** 2).sqrt().flatten()  # (H*W,)
    order = dist.argsort()
    cumulative = mass.flatten()[order].cumsum(0)  # (H*W,)
    idx = int(torch.searchsorted(cumulative, fraction * total).clamp_max(len(order) - 1))
    return float(dist[order][idx])
