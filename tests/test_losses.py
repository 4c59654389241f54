"""Losses against naive loops and hand computations; gradients against finite differences."""

from __future__ import annotations

import itertools

import pytest
import torch

from nstlib import content_loss, gram_matrix, style_layer_loss, tv_loss


def naive_gram(F: torch.Tensor) -> torch.Tensor:
    B, C, H, W = F.shape
    G = torch.zeros(B, C, C, dtype=torch.float64)
    for b, i, j in itertools.product(range(B), range(C), range(C)):
        G[b, i, j] = sum(float(F[b, i, y, x]) * float(F[b, j, y, x]) for y in range(H) for x in range(W))
    return G


@pytest.mark.parametrize("shape", [(1, 3, 2, 2), (2, 4, 3, 5)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_gram_matches_naive_loop(shape, channels_last):
    F = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    if channels_last:
        F = F.contiguous(memory_format=torch.channels_last)
    G = gram_matrix(F)
    assert G.shape == (shape[0], shape[1], shape[1])
    torch.testing.assert_close(G, naive_gram(F))


def test_gram_hand_example():
    # two 1x2 maps: f1 = (1, 2), f2 = (3, 4) -> G = [[1+4, 3+8], [3+8, 9+16]]
    F = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    assert gram_matrix(F).tolist() == [[[5.0, 11.0], [11.0, 25.0]]]


def test_gram_stays_float32_under_bf16_autocast():
    F = torch.randn(1, 8, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        G = gram_matrix(F)
    assert G.dtype == torch.float32
    torch.testing.assert_close(G, naive_gram(F).float(), rtol=1e-5, atol=1e-4)


def test_content_loss_hand_computation():
    F = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    P = torch.tensor([[[[0.0, 2.0], [1.0, 1.0]]]])
    # 1/2 * (1 + 0 + 4 + 9) = 7
    assert content_loss(F, P).item() == pytest.approx(7.0)


def test_content_loss_mixed_layouts():
    g = torch.Generator().manual_seed(1)
    F, P = torch.randn(2, 5, 4, 3, generator=g), torch.randn(2, 5, 4, 3, generator=g)
    expected = 0.5 * sum(float(a - b) ** 2 for a, b in zip(F.flatten(), P.flatten()))
    got = content_loss(F.contiguous(memory_format=torch.channels_last), P)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_content_loss_one_target_for_a_batch():
    """A (1, C, H, W) target is compared with every image of the batch: the sum of per-image losses."""
    g = torch.Generator().manual_seed(5)
    F, P = (
        torch.randn(3, 2, 4, 5, generator=g, dtype=torch.float64),
        torch.randn(1, 2, 4, 5, generator=g, dtype=torch.float64),
    )
    expected = sum(0.5 * float(((F[b] - P[0]) ** 2).sum()) for b in range(3))
    assert content_loss(F, P).item() == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="feature shapes differ"):
        content_loss(F, P[:, :1])


def test_style_layer_loss_formula():
    g = torch.Generator().manual_seed(2)
    F = torch.randn(1, 3, 2, 4, generator=g, dtype=torch.float64)
    A = torch.randn(1, 3, 3, generator=g, dtype=torch.float64)
    N, M = 3, 8
    G = naive_gram(F)
    expected = float(((G - A) ** 2).sum()) / (4 * N**2 * M**2)
    assert style_layer_loss(F, A).item() == pytest.approx(expected, rel=1e-10)


def test_style_layer_loss_by_hand():
    # one channel of two pixels (1, 1): G = 2, A = 0 -> (2 - 0)^2 / (4 * 1 * 4) = 0.25
    assert style_layer_loss(torch.ones(1, 1, 1, 2), torch.zeros(1, 1, 1)).item() == pytest.approx(0.25)


def test_style_layer_loss_rejects_wrong_gram_shape():
    with pytest.raises(ValueError, match="expected"):
        style_layer_loss(torch.ones(1, 4, 2, 2), torch.zeros(1, 3, 3))


def test_tv_loss_naive_loop():
    x = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    expected = 0.0
    for b, c, i, j in itertools.product(range(2), range(3), range(4), range(5)):
        if i + 1 < 4:
            expected += float(x[b, c, i + 1, j] - x[b, c, i, j]) ** 2
        if j + 1 < 5:
            expected += float(x[b, c, i, j + 1] - x[b, c, i, j]) ** 2
    assert tv_loss(x).item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("channels_last", [False, True])
def test_gradients_match_finite_differences(channels_last):
    g = torch.Generator().manual_seed(4)
    F = torch.randn(2, 3, 3, 4, dtype=torch.float64, generator=g)
    if channels_last:
        F = F.contiguous(memory_format=torch.channels_last)
    F.requires_grad_(True)
    P = torch.randn(2, 3, 3, 4, dtype=torch.float64, generator=g)
    A = torch.randn(1, 3, 3, dtype=torch.float64, generator=g)
    assert torch.autograd.gradcheck(gram_matrix, (F,))
    assert torch.autograd.gradcheck(lambda f: content_loss(f, P), (F,))
    assert torch.autograd.gradcheck(lambda f: style_layer_loss(f, A), (F,))
    assert torch.autograd.gradcheck(tv_loss, (F,))
