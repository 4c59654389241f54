"""Controlling perceptual factors: colour, scale and space (Gatys et al., CVPR 2017).

Gatys, Ecker, Bethge, Hertzmann & Shechtman, "Controlling Perceptual Factors in Neural Style
Transfer", CVPR 2017, https://arxiv.org/abs/1611.07865

- Colour preservation, two ways (Sec. 5):
  * luminance-only transfer: transfer on the luminance channel Y of YIQ, then put the content's
    chrominance (I, Q) back (:func:`rgb_to_yiq`, :func:`yiq_to_rgb`, :func:`match_luminance`);
  * colour histogram matching: a linear map of the style image's pixels so that their mean and
    covariance equal the content's, before the transfer (:func:`match_color`).
- Spatial control (Sec. 4): a mask restricts the style statistics to a region; the Gram matrix of a
  region is computed on the features multiplied by the mask downsampled to the layer
  (:func:`layer_masks`).

These are pre- and post-processing steps around the one optimisation routine; the parameters of
:func:`nstlib.transfer` (``preserve_color``, ``style_scale``, ``style_blend``, ``coarse_to_fine``,
``mask``) combine them.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor

from .vgg import layer_shape

__all__ = [
    "rgb_to_yiq",
    "yiq_to_rgb",
    "luminance",
    "match_luminance",
    "match_color",
    "layer_masks",
    "sky_mask",
]

# NTSC YIQ (FCC 1953 coefficients).
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])


def rgb_to_yiq(img: Tensor) -> Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 3, H, W) YIQ (Y in [0, 1], I and Q signed).

    >>> rgb_to_yiq(torch.ones(1, 3, 1, 1)).flatten().round(decimals=4).tolist()
    [1.0, 0.0, 0.0]
    """
    m = _RGB_TO_YIQ.to(img)
    return torch.einsum("ij,bjhw->bihw", m, img)


def yiq_to_rgb(yiq: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_yiq` (not clamped)."""
    m = torch.linalg.inv(_RGB_TO_YIQ.double()).to(yiq)
    return torch.einsum("ij,bjhw->bihw", m, yiq)


def luminance(img: Tensor) -> Tensor:
    """The Y channel repeated three times: a grey (B, 3, H, W) image the network can read."""
    return rgb_to_yiq(img)[:, :1].expand(-1, 3, -1, -1).clamp(0.0, 1.0).contiguous()


def match_luminance(style_y: Tensor, content_y: Tensor) -> Tensor:
    """Shift and scale the style's luminance to the content's mean and standard deviation (Sec. 5.1).

    Both are (B, C, H, W) luminance images; returns the adjusted style luminance in [0, 1].
    """
    mu_s, sd_s = style_y.mean(), style_y.std().clamp_min(1e-6)
    mu_c, sd_c = content_y.mean(), content_y.std()
    return ((style_y - mu_s) * (sd_c / sd_s) + mu_c).clamp(0.0, 1.0)


def _sqrtm(cov: Tensor) -> Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    return vecs @ torch.diag(vals.clamp_min(1e-10).sqrt()) @ vecs.T


def match_color(style: Tensor, content: Tensor) -> Tensor:
    """Colour histogram matching (Gatys et al. 2017, Sec. 5.2): map the style's pixels x to
    A (x - mu_s) + mu_c with A = Sigma_c^(1/2) Sigma_s^(-1/2), so that the result has the content's
    mean colour mu_c and colour covariance Sigma_c (the "image analogies" variant).

    Args:
        style: (1, 3, Hs, Ws) RGB in [0, 1]. content: (1, 3, Hc, Wc) RGB in [0, 1].

    Returns:
        (1, 3, Hs, Ws) the recoloured style image, clamped to [0, 1].
    """
    xs = style[0].reshape(3, -1).double()  # (3, Ms)
    xc = content[0].reshape(3, -1).double()  # (3, Mc)
    mu_s, mu_c = xs.mean(1, keepdim=True), xc.mean(1, keepdim=True)
    cov_s = torch.cov(xs) + 1e-6 * torch.eye(3, dtype=xs.dtype)
    cov_c = torch.cov(xc) + 1e-6 * torch.eye(3, dtype=xs.dtype)
    A = _sqrtm(cov_c) @ torch.linalg.inv(_sqrtm(cov_s))  # (3, 3)
    out = A @ (xs - mu_s) + mu_c  # (3, Ms)
    return out.reshape_as(style[0]).unsqueeze(0).to(style.dtype).clamp(0.0, 1.0)


def layer_masks(mask: Tensor, layers: Iterable[str], height: int, width: int) -> dict[str, Tensor]:
    """The mask downsampled to each layer's map: {layer: (1, 1, H_l, W_l)} with values in [0, 1].

    Args:
        mask: (H, W), (1, H, W) or (1, 1, H, W) weights in [0, 1] over the output image (1 = style).
        height, width: the output image size the mask refers to.
    """
    m = mask.float()
    while m.dim() < 4:
        m = m.unsqueeze(0)
    if m.shape[:2] != (1, 1):
        raise ValueError(f"mask must be (H, W), (1, H, W) or (1, 1, H, W), got {tuple(mask.shape)}")
    if m.min() < 0 or m.max() > 1:
        raise ValueError(f"mask values must lie in [0, 1], got [{m.min().item():.3g}, {m.max().item():.3g}]")
    m = F.interpolate(m, size=(height, width), mode="bilinear", align_corners=False)
    out = {}
    for name in layers:
        h, w = layer_shape(name, height, width)
        out[name] = F.adaptive_avg_pool2d(m, (h, w))  # (1, 1, H_l, W_l): the area share of each unit
    return out


def sky_mask(image: Tensor, fraction: float | None = None) -> Tensor:
    """A simple procedural sky/ground mask: 1 above the horizon, 0 below, with a soft edge.

    The horizon is the row where the image's mean brightness drops most (top part brighter), or
    ``fraction`` of the height when given. Returns (1, 1, H, W) in [0, 1].
    """
    _, _, H, W = image.shape
    if fraction is None:
        rows = image.mean(dim=(0, 1, 3))  # (H,)
        cums = torch.cumsum(rows, 0)
        idx = torch.arange(1, H, dtype=rows.dtype)
        top = cums[:-1] / idx
        bottom = (cums[-1] - cums[:-1]) / (H - idx)
        horizon = int(torch.argmax(top - bottom).item()) + 1
        horizon = min(max(horizon, H // 8), H - H // 8)
    else:
        horizon = int(round(fraction * H))
    y = torch.arange(H, dtype=torch.float32).view(1, 1, H, 1)
    soft = max(H / 40.0, 1.0)
    return torch.sigmoid((horizon - y) / soft).expand(1, 1, H, W).contiguous()
