"""Notebook 07's checks: the reference and another right solution pass; plausible mistakes fail with their own hint."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nstlib.grading.speed_checks import (
    check_adain,
    check_instance_norm,
    check_transformer_parameters,
    check_transformer_receptive_field,
)
from tests.grading_helpers import fails, fresh_registry, passes  # noqa: F401  (fresh_registry: autouse fixture)

# ----------------------------------------------------------------------------------------------
# instance_norm


def instance_norm(x, eps):  # the master's solution
    mu = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    return (x - mu) / torch.sqrt(var + eps)


def instance_norm_torch(x, eps):  # another right one: torch's own layer
    return nn.functional.instance_norm(x, eps=eps)


def test_instance_norm_right_solutions_pass(capsys):
    passes(check_instance_norm, instance_norm, capsys)
    passes(check_instance_norm, instance_norm_torch, capsys)


def _norm(dims, unbiased=False, eps_outside=False):
    def f(x, eps):
        mu = x.mean(dim=dims, keepdim=True)
        var = x.var(dim=dims, keepdim=True, unbiased=unbiased)
        return (x - mu) / (var.sqrt() + eps if eps_outside else (var + eps).sqrt())

    return f


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (_norm((0, 2, 3)), "that is batch norm"),
        (_norm((1, 2, 3)), "that is layer norm"),
        (_norm((2, 3), unbiased=True), "population variance"),
        (_norm((2, 3), eps_outside=True), "eps goes inside the square root"),
        (lambda x, eps: x / (x.var(dim=(2, 3), keepdim=True, unbiased=False) + eps).sqrt(), "subtract the mean"),
        (_norm((1,)), "not the channels"),
        (lambda x, eps: (x - x.mean(dim=(2, 3))) / x.std(), "keepdim=True"),
        (lambda x, eps: instance_norm(x, eps)[0], "keepdim=True"),
    ],
    ids=["batch-norm", "layer-norm", "unbiased", "eps-outside", "no-mean", "over-channels", "no-keepdim", "shape"],
)
def test_instance_norm_mistakes(fn, hint, capsys):
    fails(check_instance_norm, fn, capsys, hint)


# ----------------------------------------------------------------------------------------------
# transformer_receptive_field


def transformer_receptive_field(blocks):  # the master's solution: the recurrence of notebook 01
    r, jump = 1, 1
    for k, s in [(9, 1), (3, 2), (3, 2)] + [(3, 1)] * (2 * blocks):
        r += (k - 1) * jump
        jump *= s
    return r


def test_transformer_receptive_field_right_solutions_pass(capsys):
    passes(check_transformer_receptive_field, transformer_receptive_field, capsys)
    passes(check_transformer_receptive_field, lambda blocks: 15 + 16 * blocks, capsys)  # worked out by hand


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda b: 14 + 16 * b, "start from r_0 = 1"),
        (lambda b: 15 + 8 * b, "TWO 3x3 convolutions"),
        (lambda b: 13 + 4 * b, "a 3x3 convolution there adds"),
        (lambda b: 15, "the residual blocks are part of it"),
        (lambda b: 1 + 9 + 3 + 6 + 24 * b, "not k * jump"),
        (lambda b: 21 + 16 * b, "still adds (3 - 1) * 1"),
    ],
    ids=["r0", "one-conv-per-block", "no-stride", "no-blocks", "k-not-k-1", "own-stride"],
)
def test_transformer_receptive_field_mistakes(fn, hint, capsys):
    fails(check_transformer_receptive_field, fn, capsys, hint)


# ----------------------------------------------------------------------------------------------
# adain


def adain(x, y, eps):  # the master's solution
    mu_x, mu_y = x.mean(dim=(2, 3), keepdim=True), y.mean(dim=(2, 3), keepdim=True)
    sd_x = (x.var(dim=(2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    sd_y = (y.var(dim=(2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    return sd_y * (x - mu_x) / sd_x + mu_y


def adain_via_instance_norm(x, y, eps):  # another right one: standardise with torch's instance norm
    mu_y = y.mean(dim=(2, 3), keepdim=True)
    sd_y = ((y - mu_y).pow(2).mean(dim=(2, 3), keepdim=True) + eps).sqrt()
    return nn.functional.instance_norm(x, eps=eps) * sd_y + mu_y


def test_adain_right_solutions_pass(capsys):
    passes(check_adain, adain, capsys)
    passes(check_adain, adain_via_instance_norm, capsys)


def _adain(dims, unbiased=False):
    def f(x, y, eps):
        mu_x, mu_y = x.mean(dim=dims, keepdim=True), y.mean(dim=dims, keepdim=True)
        sd_x = (x.var(dim=dims, keepdim=True, unbiased=unbiased) + eps).sqrt()
        sd_y = (y.var(dim=dims, keepdim=True, unbiased=unbiased) + eps).sqrt()
        return sd_y * (x - mu_x) / sd_x + mu_y

    return f


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (lambda x, y, eps: adain(y, x, eps), "content and style swapped"),
        (_adain((0, 2, 3)), "not the batch"),
        (_adain((1, 2, 3)), "not all channels together"),
        (_adain((2, 3), unbiased=True), "population variance"),
        (lambda x, y, eps: adain(x, y, eps) - y.mean(dim=(2, 3), keepdim=True), "add the style's mean"),
        (
            lambda x, y, eps: (
                (x - x.mean(dim=(2, 3), keepdim=True)) / (x.var(dim=(2, 3), keepdim=True, unbiased=False) + eps).sqrt()
                + y.mean(dim=(2, 3), keepdim=True)
            ),
            "multiply by the style's standard deviation",
        ),
    ],
    ids=["swapped", "over-batch", "over-channels", "unbiased", "no-style-mean", "no-style-std"],
)
def test_adain_mistakes(fn, hint, capsys):
    fails(check_adain, fn, capsys, hint)


# ----------------------------------------------------------------------------------------------
# transformer_parameters


def transformer_parameters(base, blocks):  # the master's solution
    c1, c2, c3 = base, 2 * base, 4 * base

    def conv(c_in, c_out, k):
        return c_in * c_out * k * k + c_out

    convs = conv(3, c1, 9) + conv(c1, c2, 3) + conv(c2, c3, 3) + 2 * blocks * conv(c3, c3, 3)
    convs += conv(c3, c2, 3) + conv(c2, c1, 3) + conv(c1, 3, 9)
    norms = 2 * (c1 + c2 + c3 + 2 * blocks * c3 + c2 + c1)
    return convs + norms


def test_transformer_parameters_right_solutions_pass(capsys):
    from nstlib.feedforward import TransformerNet, parameter_count

    out = passes(check_transformer_parameters, transformer_parameters, capsys)
    assert "1,679,235" in out
    passes(check_transformer_parameters, lambda b, r: parameter_count(TransformerNet(b, r)), capsys)


def _params(bias=True, norm=2, per_block=2, big=9):
    def f(base, blocks):
        c1, c2, c3 = base, 2 * base, 4 * base

        def conv(i, o, k):
            return i * o * k * k + (o if bias else 0)

        total = conv(3, c1, big) + conv(c1, c2, 3) + conv(c2, c3, 3) + per_block * blocks * conv(c3, c3, 3)
        total += conv(c3, c2, 3) + conv(c2, c1, 3) + conv(c1, 3, big)
        return total + norm * (c1 + c2 + c3 + per_block * blocks * c3 + c2 + c1)

    return f


@pytest.mark.parametrize(
    ("fn", "hint"),
    [
        (_params(bias=False), "don't forget the biases"),
        (_params(norm=1), "a scale AND a shift"),
        (_params(norm=0), "count the instance norms too"),
        (_params(per_block=1), "TWO 3x3 convolutions"),
        (_params(big=3), "are 9x9"),
        (lambda b, r: transformer_parameters(b, r) + 6, "has no instance norm after it"),
    ],
    ids=["no-bias", "scale-only", "no-norm", "one-conv-per-block", "all-3x3", "norm-after-last"],
)
def test_transformer_parameters_mistakes(fn, hint, capsys):
    fails(check_transformer_parameters, fn, capsys, hint)
