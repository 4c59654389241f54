"""The strength and the layer balance measured where the run starts (``balance_at="start"``, the default).

The oracle recomputes w_l and beta from the formulas with its own Gram matrices and losses in float64
(not nstlib.objective): w_l = (1 / ||grad_x E_l(x0)||) / sum_k (1 / ||grad_x E_k(x0)||) at the start x0
(the photo), and beta = strength * ||grad_x s L_content(noise)|| / ||grad_x sum_l w_l E_l(x0)||, the
content pull at the seeded white noise (at the photo it is 0).
"""

from __future__ import annotations

import pytest
import torch

import nstlib

LAYERS = ["relu1_1", "relu2_1", "relu3_1"]


def _gram(f: torch.Tensor) -> torch.Tensor:  # (1, N, H, W) -> (N, N)
    m = f[0].flatten(1).double()  # (N, M)
    return m @ m.T


def _oracle(encoder, photo, style, strength, seed=0):
    H, W = photo.shape[-2:]
    noise = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(seed + 1))
    sfeats = encoder(style, LAYERS)
    target = encoder(photo, ["relu4_2"])["relu4_2"].double()

    def grad_norm(x, fn):
        x = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(x), x)
        return float(g.norm())

    def E(x, name):
        f = encoder(x, [name])[name]
        N, M = f.shape[1], f.shape[2] * f.shape[3]
        A = _gram(sfeats[name]) * M / (sfeats[name].shape[2] * sfeats[name].shape[3])
        return (_gram(f) - A).pow(2).sum() / (4.0 * N**2 * M**2)

    h, w = target.shape[-2:]
    factor = (512 // 8) ** 2 / (h * w)  # relu4_2 sits after 3 poolings
    inv = {k: 1.0 / grad_norm(photo, lambda x, k=k: E(x, k)) for k in LAYERS}
    wl = {k: v / sum(inv.values()) for k, v in inv.items()}
    g_c = grad_norm(noise, lambda x: factor * 0.5 * (encoder(x, ["relu4_2"])["relu4_2"].double() - target).pow(2).sum())
    g_s = grad_norm(photo, lambda x: sum(wl[k] * E(x, k) for k in LAYERS))
    return wl, strength * g_c / g_s


def test_default_transfer_balances_where_it_starts(encoder):
    photo = nstlib.load_image("chelsea", size=48)
    style = nstlib.load_image("brush_strokes", size=48)
    res = nstlib.transfer(photo, style, encoder=encoder, style_layers=LAYERS, strength=2.0, steps=1, progress=False)
    assert res.info["balance_at"] == "start" and res.info["init"] == "content"
    wl, beta = _oracle(encoder, photo, style, 2.0)
    for k in LAYERS:
        assert res.style_layer_weights[k] == pytest.approx(wl[k], rel=1e-4)
    assert res.beta == pytest.approx(beta, rel=1e-4)


def test_balance_at_noise_is_still_available_and_differs(encoder):
    photo = nstlib.load_image("chelsea", size=48)
    kw = dict(encoder=encoder, style_layers=LAYERS, strength=2.0, steps=1, progress=False)
    at_noise = nstlib.transfer(photo, "brush_strokes", balance_at="noise", **kw)
    at_start = nstlib.transfer(photo, "brush_strokes", **kw)
    assert at_noise.info["balance_at"] == "noise"
    assert at_noise.style_layer_weights != pytest.approx(at_start.style_layer_weights, rel=1e-3)
    with pytest.raises(ValueError, match="balance_at must be 'noise' or 'start'"):
        nstlib.transfer(photo, "brush_strokes", balance_at="photo", **kw)
