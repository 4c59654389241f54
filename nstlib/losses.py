"""Gatys' losses: content, Gram-matrix style, total variation (the loss stage of the pipeline).

Gatys, Ecker & Bethge, "Texture Synthesis Using Convolutional Neural Networks", NeurIPS 2015.
Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural Networks", CVPR 2016.

Notation (the papers' and the lectures'): layer ``l`` has ``N_l`` feature maps of ``M_l = H_l * W_l``
positions; ``F^l`` is the (N_l, M_l) matrix of the generated image's features, ``P^l`` the content
image's, ``G^l = F^l (F^l)^T`` the Gram matrix and ``A^l`` the style image's Gram matrix.

- content:  L_content = 1/2 * sum_ij (F_ij - P_ij)^2
- style:    E_l = 1 / (4 N_l^2 M_l^2) * sum_ij (G_ij - A_ij)^2,   L_style = sum_l w_l E_l
- total variation (anisotropic, squared): TV(x) = sum (x[.., i+1, j] - x[.., i, j])^2 + (x[.., i, j+1] - x[.., i, j])^2

All losses sum over the batch. The Gram matrix is *unnormalised* (as in the papers); E_l carries the
normalisation, which puts every layer's term on a comparable scale.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["gram_matrix", "content_loss", "style_layer_loss", "tv_loss"]


def gram_matrix(F: Tensor) -> Tensor:
    """Unnormalised Gram matrix of feature maps: G_ij = sum_k F_ik F_jk.

    Args:
        F: (B, C, H, W) feature maps (float32 or float64).

    Returns:
        (B, C, C) Gram matrices, computed in ``F``'s dtype even under autocast (a sum of H*W
        products loses too much in bfloat16).

    >>> gram_matrix(torch.tensor([[[[1., 2.]], [[3., 4.]]]]))  # C=2 maps of 1x2 pixels
    tensor([[[ 5., 11.],
             [11., 25.]]])
    """
    if F.dim() != 4:
        raise ValueError(f"gram_matrix expects feature maps of shape (B, C, H, W), got {tuple(F.shape)}")
    B, C, H, W = F.shape
    X = F.reshape(B, C, H * W)  # (B, C, M): row i is feature map i, flattened (the papers' F^l)
    with torch.autocast(F.device.type, enabled=False):
        return X @ X.transpose(1, 2)  # (B, C, C)


def content_loss(F: Tensor, P: Tensor) -> Tensor:
    """L_content = 1/2 * sum (F - P)^2 over all entries (batch included).

    Args:
        F: (B, C, H, W) features of the generated image.
        P: (B, C, H, W) or (1, C, H, W) features of the content image (the target).

    >>> content_loss(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))
    tensor(2.)
    """
    if F.shape[1:] != P.shape[1:]:
        raise ValueError(f"content_loss: feature shapes differ: {tuple(F.shape)} vs target {tuple(P.shape)}")
    return 0.5 * (F - P).pow(2).sum()  # P broadcasts over F's batch


def style_layer_loss(F: Tensor, A: Tensor, gram_fn=None) -> Tensor:
    """E_l = 1 / (4 N^2 M^2) * sum_ij (G(F)_ij - A_ij)^2, summed over the batch.

    Args:
        F: (B, N, H, W) features of the generated image at layer l (N channels, M = H*W positions).
        A: (B, N, N) or (1, N, N) Gram matrix of the style image at the same layer (unnormalised).
        gram_fn: the Gram-matrix function to use (default :func:`gram_matrix`; a plug-in point for
            your own).

    >>> style_layer_loss(torch.ones(1, 1, 1, 2), torch.zeros(1, 1, 1))  # G = 2, N = 1, M = 2
    tensor(0.2500)
    """
    _, N, H, W = F.shape
    if A.shape[-2:] != (N, N):
        raise ValueError(f"style_layer_loss: target Gram has shape {tuple(A.shape)}, expected (B, {N}, {N})")
    M = H * W
    G = (gram_fn or gram_matrix)(F)  # (B, N, N)
    return (G - A).pow(2).sum() / (4.0 * N**2 * M**2)


def tv_loss(img: Tensor) -> Tensor:
    """Squared anisotropic total variation: sum over neighbouring pixel pairs of their squared difference.

    TV(x) = sum_{b,c,i,j} (x[b,c,i+1,j] - x[b,c,i,j])^2 + (x[b,c,i,j+1] - x[b,c,i,j])^2

    Args:
        img: (B, C, H, W) image.

    >>> tv_loss(torch.tensor([[[[0., 1.], [1., 1.]]]]))  # two differences of 1
    tensor(2.)
    """
    if img.dim() != 4:
        raise ValueError(f"tv_loss expects images of shape (B, C, H, W), got {tuple(img.shape)}")
    dh = img[..., 1:, :] - img[..., :-1, :]  # (B, C, H-1, W)
    dw = img[..., :, 1:] - img[..., :, :-1]  # (B, C, H, W-1)
    return dh.pow(2).sum() + dw.pow(2).sum()
