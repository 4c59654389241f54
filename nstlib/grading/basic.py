"""The checks of the nine exercises in notebooks 01-05 (see :data:`nstlib.grading.EXERCISES`), as data.

Each check is a :class:`~nstlib.grading._core.Spec` run by :func:`~nstlib.grading._core.run_spec`:
cases built at check time (seeded, on the grading device), an independent reference (NumPy
formulas, an analytic gradient, a backward interval walk, ``torch.nn.Conv2d``'s parameter count),
an ``output`` function that validates what the student returned (type, shape, graph, behaviour)
and the known wrong variants with their hints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as TF
from torch import Tensor

from ._core import (
    Case,
    Spec,
    _cpu_rand,
    _describe,
    _Failure,
    _inputs,
    _np,
    _on_device,
    _rand,
    _rtol,
    _scalar_output,
    _short,
    _values,
    device,
    run_spec,
)
from ._loops import _reject_loops


def _scalar(what: str) -> Callable[[Any, Case, str], np.ndarray]:
    """An ``output`` for losses: a one-element tensor attached to the inputs' autograd graph."""

    def output(out: Any, case: Case, where: str) -> np.ndarray:
        return _np(_scalar_output(out, case.inputs, graph=True, what=what)).reshape(())

    return output


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


# ----------------------------------------------------------------------------------------------
# 01 receptive fields


def _rf_reference(kernels: Sequence[int], strides: Sequence[int]) -> list[int]:
    """Receptive-field sizes by walking one unit's input interval back to the image.

    Independent of the recurrence: unit 0 of layer l covers [0, 0]; going back through layer j
    (kernel k_j, stride s_j), an interval [a, b] of layer j's outputs reads inputs [a s_j, b s_j + k_j - 1].
    The size at layer l is the width of the interval reached at the image.
    """
    sizes = []
    for l in range(1, len(kernels) + 1):
        a, b = 0, 0
        for j in reversed(range(l)):
            a, b = a * strides[j], b * strides[j] + kernels[j] - 1
        sizes.append(b - a + 1)
    return sizes


def _rf_variant(kernels: Sequence[int], strides: Sequence[int], step: Callable[[int, int, list[int]], int],
                r0: int = 1) -> list[int]:
    """A recurrence r_l = r_{l-1} + step(l, k_l, strides) (for the wrong variants)."""
    r, sizes = r0, []
    for l, k in enumerate(kernels):
        r = r + step(l, k, list(strides))
        sizes.append(r)
    return sizes


def _prod(xs: Sequence[int]) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


_RF_CASES: tuple[tuple[list[int], list[int]], ...] = (
    ([3, 3, 2, 3, 3, 2], [1, 1, 2, 1, 1, 2]),  # VGG's first two blocks: conv conv pool conv conv pool
    ([7, 3, 1, 5, 3], [2, 3, 1, 2, 1]),
    ([11, 3, 5, 3, 3, 3, 3], [4, 2, 1, 2, 1, 1, 2]),  # AlexNet-like
    ([5], [1]),
)


def _rf_cases() -> list[Case]:
    cases = []
    for kernels, strides in _RF_CASES:
        expected = _rf_reference(kernels, strides)
        v = lambda step, r0=1, k=kernels, s=strides: _rf_variant(k, s, step, r0=r0)  # noqa: E731
        variants: list[tuple[str, list[int]]] = [
            ("off by one: start from r_0 = 1 (before any layer a unit sees one pixel), not 0.",
             v(lambda l, k, s: (k - 1) * _prod(s[:l]), r0=0)),
            ("the list should hold one size per layer: don't include r_0 = 1 at the front.", [1] + expected),
            ("off by one in the stride product: layer l is spaced by the strides of the layers BEFORE "
             "it, prod_{i<l} s_i, not including its own stride s_l.", v(lambda l, k, s: (k - 1) * _prod(s[: l + 1]))),
            ("use the product of ALL previous strides prod_{i<l} s_i (the jump between neighbouring "
             "units), not the current layer's stride s_l.", v(lambda l, k, s: (k - 1) * s[l])),
            ("use the product of ALL previous strides prod_{i<l} s_i, not only the previous layer's "
             "stride s_{l-1}.", v(lambda l, k, s: (k - 1) * (s[l - 1] if l else 1))),
            ("the jump is the PRODUCT of the previous strides, not their sum.",
             v(lambda l, k, s: (k - 1) * max(1, sum(s[:l])))),
            ("each layer widens the field by (k_l - 1) * jump, not k_l * jump: a 1x1 kernel adds nothing.",
             v(lambda l, k, s: k * _prod(s[:l]))),
            ("the strides matter: each layer's (k_l - 1) is multiplied by the product of the previous strides.",
             v(lambda l, k, s: k - 1)),
        ]
        cases.append(Case(args=(list(kernels), list(strides)), inputs=f"kernels = {kernels}, strides = {strides}",
                          expected=_constant(expected), variants=[(h, _constant(x)) for h, x in variants], rtol=0.0,
                          data={"kernels": list(kernels), "strides": list(strides), "expected": expected}))
    return cases


def _rf_output(out: Any, case: Case, where: str) -> np.ndarray:
    kernels, strides, expected = case.data["kernels"], case.data["strides"], case.data["expected"]
    if list(case.args[0]) != kernels or list(case.args[1]) != strides:
        raise _Failure("your function modified its input lists", inputs=case.inputs,
                       hint="don't pop/append/sort the lists you are given; read them.")
    if isinstance(out, Tensor):
        out = out.tolist()
    if isinstance(out, (int, np.integer)):
        raise _Failure(f"expected one size per layer ({where})", inputs=case.inputs, expected=str(expected),
                       got=_short(out), hint="return a list with one receptive-field size per layer, "
                       "not only the last layer's.")
    if out is None or not isinstance(out, (list, tuple, np.ndarray)):
        raise _Failure(f"expected a list of ints ({where})", inputs=case.inputs, expected=str(expected),
                       got=_describe(out), hint="did you forget the `return`?" if out is None else
                       "return a list of ints, one per layer.")
    got = list(out)
    if not all(isinstance(v, (int, float, np.integer, np.floating)) and float(v) == int(v) for v in got):
        raise _Failure(f"expected whole numbers ({where})", inputs=case.inputs, expected=str(expected),
                       got=_short(got), hint="sizes are whole pixel counts: use ints (// not /).")
    return np.array([int(v) for v in got], dtype=np.float64)


def _rf_default_hint(case: Case, got: np.ndarray) -> str:
    n = len(case.data["kernels"])
    if got.size != n:
        return f"return exactly one size per layer: {n} layers here, your list has {got.size} entries."
    return "r_0 = 1; r_l = r_{l-1} + (k_l - 1) * prod_{i<l} s_i. Work case 1 out by hand."


RECEPTIVE_FIELD_SIZES = Spec(
    id="receptive_field_sizes",
    signature="receptive_field_sizes(kernels, strides)",
    cases=_rf_cases,
    output=_rf_output,
    default_hint=_rf_default_hint,
    summary="{n} networks (VGG blocks, AlexNet-like, strides 1-4) give the right sizes.",
    noun="sizes",
    show=lambda a: str([int(v) for v in np.ravel(a)]),
)


def check_receptive_field_sizes(fn: Callable[[list[int], list[int]], list[int]]) -> None:
    """Check ``receptive_field_sizes(kernels, strides) -> list[int]``.

    The size of the receptive field of layer l, in input pixels, with r_0 = 1:
    r_l = r_{l-1} + (k_l - 1) * prod_{i<l} s_i, one size per layer (no r_0 in the list). The
    reference walks one unit's input interval back to the image (:func:`_rf_reference`).
    """
    run_spec(RECEPTIVE_FIELD_SIZES, fn)


def _whole_number(value: Any, where: str, inputs: str, expected: str, hint_other: str) -> int:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or \
            float(value) != int(value):
        raise _Failure(f"expected a whole number{where}", inputs=inputs, expected=expected, got=_describe(value),
                       hint="your function returns None: did you forget the `return`?" if value is None else hint_other)
    return int(value)


def _conv1_1_cases() -> list[Case]:
    conv = torch.nn.Conv2d(in_channels=3, out_channels=64, kernel_size=3)  # VGG-19 conv1_1
    expected = sum(p.numel() for p in conv.parameters())
    variants = {
        64 * 3 * 3 * 3: "don't forget the biases: every filter has one.",
        64 * 5 * 5 * 3 + 64: "conv1_1's filters are 3x3 (one slide says 5x5: a slip): every convolution "
        "of VGG uses 3x3 kernels (Simonyan & Zisserman: stacks of small filters instead of large ones).",
        64 * 5 * 5 * 3: "conv1_1's filters are 3x3 (one slide says 5x5: a slip), and each filter has a bias.",
        64 * 3 * 3 + 64: "each filter spans all 3 input channels (RGB): 3 x 3 x 3 weights per filter.",
        64 * 3 * 3: "each filter spans all 3 input channels (RGB), and each filter has a bias.",
        3 * 3 * 3 + 1: "that is one filter: conv1_1 has 64 of them.",
        3 * 3 * 3: "that is one filter without its bias: conv1_1 has 64 filters, each with a bias.",
        64: "that is the number of filters: count their weights and biases.",
    }
    return [Case(args=(), inputs="", expected=_constant(expected),
                 variants=[(h, _constant(v)) for v, h in variants.items()], rtol=0.0,
                 expected_text="the number of weights plus biases of conv1_1 (64 filters, 3x3 kernels, 3 input channels)")]


CONV1_1_PARAMETERS = Spec(
    id="conv1_1_parameters",
    signature="conv1_1_parameters()",
    cases=_conv1_1_cases,
    output=lambda out, case, where: np.array(_whole_number(out, "", "", "", "return the count as an int."), dtype=np.float64),
    default_hint="weights per filter = kernel height x kernel width x input channels; add one bias per filter.",
    summary="1,792 = 64 filters x (3 x 3 kernel x 3 input channels) + 64 biases.",
    noun="parameter count",
    show=lambda a: f"{float(a):,.0f}" if float(a).is_integer() else repr(float(a)),
)


def check_conv1_1_parameters(answer: Callable[[], int] | int) -> None:
    """Check the number of learnable parameters of VGG-19's conv1_1 (a zero-argument function or an int).

    The reference is counted from a ``torch.nn.Conv2d`` with conv1_1's hyperparameters (3 input
    channels, 64 filters, 3x3 kernels, with bias).
    """
    run_spec(CONV1_1_PARAMETERS, answer if callable(answer) else _constant(answer))


# ----------------------------------------------------------------------------------------------
# 02 content reconstruction


def _content_cases() -> list[tuple[Tensor, Tensor]]:
    return [
        (_rand((2, 3, 4, 5), 11, torch.float32, requires_grad=True), _rand((2, 3, 4, 5), 12, torch.float32)),
        (_rand((3, 4, 3, 7), 13, torch.float64, requires_grad=True), _rand((3, 4, 3, 7), 14, torch.float64)),
        (_rand((2, 1, 6, 2), 15, torch.float64, requires_grad=True), _rand((2, 1, 6, 2), 16, torch.float64)),
    ]


def _content_spec_cases() -> list[Case]:
    return [_content_case(F, P) for F, P in _content_cases()]


def _content_case(F, P) -> Case:
    d = _np(F) - _np(P)
    B = F.shape[0]
    variants = [
        ("missing the factor 1/2: L = 1/2 sum (F - P)^2 (one slide drops it; Gatys keeps it).", lambda: np.sum(d**2)),
        ("sum over all entries, don't average: use .sum(), not .mean() (or F.mse_loss, which averages).",
         lambda: 0.5 * np.mean(d**2)),
        ("sum over all entries, don't average: use .sum(), not .mean() (or F.mse_loss, which averages).",
         lambda: np.mean(d**2)),
        ("sum over the whole batch: you used only the first image.", lambda: 0.5 * np.sum(d[0] ** 2)),
        ("sum over the whole batch: you used only the first image (and dropped the 1/2).", lambda: np.sum(d[0] ** 2)),
        ("sum over the batch too, don't divide by the batch size.", lambda: 0.5 * np.sum(d**2) / B),
        ("square the differences; no square root (torch.norm returns the square root of the sum of squares).",
         lambda: 0.5 * np.sqrt(np.sum(d**2))),
        ("square the differences; no square root (torch.norm returns the square root of the sum of squares).",
         lambda: np.sqrt(np.sum(d**2))),
        ("square the differences, don't take absolute values.", lambda: 0.5 * np.sum(np.abs(d))),
        ("square each difference, then sum (not: sum, then square).", lambda: 0.5 * np.sum(d) ** 2),
    ]
    return Case(args=(F, P), inputs=_inputs(F=F, P=P), expected=_constant(0.5 * np.sum(d**2)),
                variants=variants, rtol=_rtol(F.dtype),
                protect=[F, P])


CONTENT_LOSS = Spec(
    id="content_loss",
    signature="content_loss(F, P)",
    cases=_content_spec_cases,
    output=_scalar("the content loss"),
    default_hint="L = 1/2 * sum over all entries (batch included) of (F - P)^2.",
    summary="{n} cases (batches of 2-3, non-square maps, float32/float64) match 1/2 sum (F - P)^2.",
)


def check_content_loss(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Check ``content_loss(F, P) = 1/2 * sum (F - P)^2`` over all entries, batch included.

    F, P: (B, C, H, W); the result is a 0-dim tensor attached to F's autograd graph.
    """
    run_spec(CONTENT_LOSS, fn)


@dataclass
class _StepCase:
    image: Tensor
    loss_fn: Callable[[Tensor], Tensor]
    lr: float
    gradient: np.ndarray  # analytic dL/dx at ``image``
    params: list[Tensor]  # parameters of the model inside loss_fn (must not change)
    description: str


def _step_cases() -> list[_StepCase]:
    """Inputs and analytic gradients computed on the CPU in float64, then moved to the grading device."""
    cases = []
    # 1. a quadratic bowl: L = 1/2 sum w (x - t)^2, dL/dx = w (x - t)
    x = _cpu_rand((1, 3, 5, 6), 21, torch.float32, 0.3, 0.7)
    t = _cpu_rand((1, 3, 5, 6), 22, torch.float32, 0.0, 1.0)
    w = _cpu_rand((1, 3, 5, 6), 23, torch.float32, 0.5, 1.5)
    grad = _np(w) * (_np(x) - _np(t))
    x, t, w = _on_device(x), _on_device(t), _on_device(w)
    cases.append(_StepCase(x, lambda y, w=w, t=t: 0.5 * (w * (y - t) ** 2).sum(), 0.1, grad, [],
                           "L(x) = 1/2 sum w (x - t)^2"))
    # 2. a non-linear loss in float64: L = sum t sin(3x), dL/dx = 3 t cos(3x)
    x = _cpu_rand((1, 3, 4, 7), 24, torch.float64, 0.3, 0.7)
    t = _cpu_rand((1, 3, 4, 7), 25, torch.float64, -1.0, 1.0)
    grad = 3 * _np(t) * np.cos(3 * _np(x))
    x, t = _on_device(x), _on_device(t)
    cases.append(_StepCase(x, lambda y, t=t: (t * torch.sin(3 * y)).sum(), 0.05, grad, [], "L(x) = sum t sin(3x)"))
    # 3. a small conv "network" with learnable weights: L = 1/2 sum conv(x)^2,
    #    dL/dx = conv_transpose(conv(x)) (the adjoint of the convolution), computed without autograd
    x = _cpu_rand((1, 3, 8, 8), 26, torch.float32, 0.3, 0.7)
    conv = torch.nn.Conv2d(3, 4, kernel_size=3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(0.1 * _cpu_rand(conv.weight.shape, 27))
        conv.bias.copy_(0.1 * _cpu_rand(conv.bias.shape, 28))
    W64, b64 = conv.weight.detach().double(), conv.bias.detach().double()
    y = TF.conv2d(x.double(), W64, b64, padding=1)
    grad = TF.conv_transpose2d(y, W64, padding=1).numpy()
    x, conv = _on_device(x), conv.to(device())
    cases.append(_StepCase(x, lambda z, conv=conv: 0.5 * conv(z).pow(2).sum(), 0.2, grad, list(conv.parameters()),
                           "L(x) = 1/2 sum conv(x)^2, conv = Conv2d(3, 4, 3) with learnable weights"))
    return cases


def _step_spec_cases() -> list[Case]:
    return [_step_case(case) for case in _step_cases()]


def _step_case(case) -> Case:
    x, g, lr = _np(case.image), case.gradient, case.lr
    expected = x - lr * g
    variants = [
        ("that is gradient ASCENT: step against the gradient, x - lr * dL/dx.", lambda: x + lr * g),
        ("scale the gradient by the learning rate: x - lr * dL/dx.", lambda: x - g),
        ("return the new image x - lr * dL/dx, not the step.", lambda: -lr * g),
        ("return the new image x - lr * dL/dx, not the gradient.", lambda: g),
        ("the image did not move: is the gradient reaching the image? Call loss_fn on a copy that "
         "requires grad and differentiate with respect to that copy.", lambda: x),
    ]
    return Case(
        args=(case.image, case.loss_fn, case.lr),
        inputs=f"image = {_describe(case.image)}, loss_fn: {case.description}, lr = {case.lr}",
        expected=_constant(expected), variants=variants,
        rtol=_rtol(case.image.dtype), expected_text=f"x - lr * dL/dx: {_values(expected)}",
        data={"before": case.image.clone(), "params": case.params,
              "params_before": [p.detach().clone() for p in case.params]})


def _step_output(out: Any, case: Case, where: str) -> np.ndarray:
    image, inputs = case.args[0], case.inputs
    if not isinstance(out, Tensor):
        raise _Failure(f"expected a tensor ({where})", inputs=inputs, got=_describe(out),
                       hint="return the updated image." if out is not None else
                       "your function returns None: did you forget the `return`?")
    if out is image or not torch.equal(image.detach(), case.data["before"]):
        raise _Failure(f"the input image was changed in place ({where})", inputs=inputs,
                       hint="return a NEW tensor (x.detach() - lr * grad); don't update `image` in place.")
    if image.requires_grad:
        raise _Failure(f"your function switched on requires_grad of the caller's image ({where})",
                       inputs=inputs, hint="work on a copy: x = image.clone().requires_grad_(True).")
    for p, p0 in zip(case.data["params"], case.data["params_before"]):
        if not torch.equal(p.detach(), p0):
            raise _Failure(f"the network's weights changed ({where})", inputs=inputs,
                           hint="style transfer optimises the INPUT: the network stays fixed. "
                           "Update only the image (no optimiser over the model's parameters).")
    if out.requires_grad:
        raise _Failure(f"the returned image still requires grad ({where})", inputs=inputs,
                       expected="a detached tensor", got=_describe(out),
                       hint="return a detached tensor: x.detach() - lr * grad, or do the update "
                       "inside `with torch.no_grad():`.")
    if tuple(out.shape) != tuple(image.shape) or out.dtype != image.dtype:
        raise _Failure(f"wrong shape or dtype ({where})", inputs=inputs,
                       expected=f"{str(image.dtype).replace('torch.', '')} tensor of shape {tuple(image.shape)}",
                       got=_describe(out), hint="return the updated image itself, same shape and dtype.")
    return _np(out)


INPUT_GRADIENT_STEP = Spec(
    id="input_gradient_step",
    signature="input_gradient_step(image, loss_fn, lr)",
    cases=_step_spec_cases,
    output=_step_output,
    default_hint="x_new = x - lr * dL/dx; get dL/dx with loss.backward() (x.grad) or torch.autograd.grad(loss, x).",
    summary="{n} losses (quadratic, sin, a small conv net) give x - lr * dL/dx; input and weights untouched, "
    "result detached.",
    error_hints={"does not require grad": "make a copy of the image that requires grad, "
                 "x = image.clone().requires_grad_(True), and differentiate the loss with respect to it."},
    noun="updated image",
    show=_values,
)


def check_input_gradient_step(fn: Callable[[Tensor, Callable[[Tensor], Tensor], float], Tensor]) -> None:
    """Check ``input_gradient_step(image, loss_fn, lr) -> image - lr * dL/dx``.

    image: (1, 3, H, W), not requiring grad; loss_fn maps an image to a scalar. The result is a new,
    detached tensor of the same shape and dtype; neither the image nor the network inside
    ``loss_fn`` may change. The reference gradient is computed analytically.
    """
    run_spec(INPUT_GRADIENT_STEP, fn)


# ----------------------------------------------------------------------------------------------
# 03 style reconstruction


def _gram_np(f: np.ndarray) -> np.ndarray:
    """Naive Gram matrices of (B, C, H, W) features: G[b, i, j] = sum_k F[b, i, k] F[b, j, k]."""
    B, C = f.shape[:2]
    X = f.reshape(B, C, -1)  # (B, C, M)
    return np.einsum("bik,bjk->bij", X, X)  # (B, C, C)


def _gram_cases() -> list[Tensor]:
    return [
        _rand((2, 3, 4, 5), 31, torch.float32, requires_grad=True),
        _rand((3, 4, 2, 7), 32, torch.float64, requires_grad=True),
        _rand((2, 5, 3, 3), 33, torch.float64, requires_grad=True),
    ]


def _gram_spec_cases() -> list[Case]:
    return [_gram_case(F) for F in _gram_cases()]


def _gram_case(F) -> Case:
    f = _np(F)
    B, C, H, W = F.shape
    M = H * W
    expected = _gram_np(f)
    X = f.reshape(B, C, M)
    variants = [
        ("don't normalise: the Gram matrix here is unnormalised, G_ij = sum_k F_ik F_jk "
         "(the style loss E_l carries the 1/(4 N^2 M^2)); you divided by M = H*W.", lambda: expected / M),
        ("don't normalise: the Gram matrix here is unnormalised (the style loss E_l carries the "
         "normalisation); you divided by C*H*W.", lambda: expected / (C * M)),
        ("don't normalise: the Gram matrix here is unnormalised (the style loss carries the "
         "normalisation); you divided by B*C*H*W.", lambda: expected / (B * C * M)),
        ("don't normalise: the Gram matrix here is unnormalised; you divided by C.", lambda: expected / C),
        ("compute one Gram matrix per image: every entry of your batch holds the first image's.",
         lambda: np.broadcast_to(expected[:1], expected.shape)),
        ("G_ij = sum_k F_ik F_jk is a sum of products over positions, not a product of sums.",
         lambda: np.einsum("bi,bj->bij", X.sum(-1), X.sum(-1))),
    ]
    return Case(args=(F,), inputs=_inputs(F=F), expected=_constant(expected),
                variants=variants, rtol=_rtol(F.dtype),
                protect=[F], data={"expected": expected})


def _gram_output(out: Any, case: Case, where: str) -> np.ndarray:
    F, inputs = case.args[0], case.inputs
    B, C, H, W = F.shape
    M = H * W
    expected = case.data["expected"]
    if not isinstance(out, Tensor):
        raise _Failure(f"expected a tensor ({where})", inputs=inputs, got=_describe(out),
                       hint="your function returns None: did you forget the `return`?" if out is None
                       else "return a torch tensor of shape (B, C, C).")
    shape = tuple(out.shape)
    if shape != (B, C, C):
        if shape == (B, M, M):
            hint = ("you computed F^T F, the (M x M) matrix of positions: the Gram matrix compares "
                    "CHANNELS, G = F F^T with F reshaped to (B, C, H*W).")
        elif shape == (C, C):
            got = _np(out)
            if np.allclose(got, expected[0], rtol=_rtol(F.dtype), atol=_rtol(F.dtype) * np.abs(expected).max()):
                hint = "keep the batch dimension: compute one Gram matrix per image (batched @ or torch.bmm)."
            elif np.allclose(got, expected.sum(0), rtol=_rtol(F.dtype), atol=_rtol(F.dtype) * np.abs(expected).max() * B):
                hint = ("keep the batch dimension: you summed the Gram matrices of all images; "
                        "use a batched product (F @ F.transpose(1, 2) with F of shape (B, C, M)).")
            else:
                hint = "keep the batch dimension: the result is (B, C, C)."
        elif shape == (B, C, M) or shape == (B, C, H, W):
            hint = "multiply the feature matrix by its transpose: G = F F^T, (B, C, M) @ (B, M, C)."
        elif len(shape) == 2 and shape == (B * C, B * C):
            hint = "reshape to (B, C, H*W), not (B*C, H*W): keep images apart."
        else:
            hint = "reshape F to (B, C, H*W) and multiply by its transpose: (B, C, M) @ (B, M, C) -> (B, C, C)."
        raise _Failure(f"wrong shape ({where})", inputs=inputs, expected=f"shape {(B, C, C)} (B, C, C)",
                       got=_describe(out), hint=hint)
    if out.dtype != F.dtype:
        raise _Failure(f"wrong dtype ({where})", inputs=inputs, expected=str(F.dtype), got=str(out.dtype),
                       hint="keep the input's dtype (don't convert, don't build a float32 result).")
    if not out.requires_grad:
        raise _Failure(f"the Gram matrix is detached from the autograd graph ({where})", inputs=inputs,
                       got=_describe(out), hint="use torch operations only (no .detach(), .numpy(), "
                       "torch.tensor(...)): the style loss needs gradients through G.")
    return _np(out)


GRAM_MATRIX = Spec(
    id="gram_matrix",
    signature="gram_matrix(F)",
    cases=_gram_spec_cases,
    output=_gram_output,
    default_hint="G = F F^T with F reshaped to (B, C, H*W): G[b, i, j] = sum over positions k of F[b, i, k] * F[b, j, k].",
    summary="{n} cases (batches of 2-3, non-square maps, float32/float64) match G = F F^T; vectorised (no Python "
    "loop over positions or channels).",
    after=lambda fn: _reject_loops(fn, lambda b, c, h, w: _rand((b, c, h, w), 34), "gram_matrix must be vectorised."),
    noun="values",
)


def check_gram_matrix(fn: Callable[[Tensor], Tensor]) -> None:
    """Check ``gram_matrix(F)``: (B, C, H, W) -> (B, C, C), G_ij = sum_k F_ik F_jk (unnormalised), vectorised.

    The signature of ``nstlib.synthesize``'s ``gram_fn``.
    """
    run_spec(GRAM_MATRIX, fn)


def _style_cases() -> list[tuple[Tensor, Tensor]]:
    cases = []
    for shape, seed, dtype in (((2, 3, 4, 5), 41, torch.float64), ((3, 4, 3, 6), 43, torch.float32),
                               ((2, 6, 2, 3), 45, torch.float64)):
        F = _rand(shape, seed, dtype, requires_grad=True)
        S = _cpu_rand(shape, seed + 1, torch.float64, 0.0, 1.5)  # "style image" features
        A = _on_device(torch.from_numpy(_gram_np(S.numpy())), dtype)  # (B, N, N) unnormalised
        cases.append((F, A))
    return cases


def _style_spec_cases() -> list[Case]:
    return [_style_case(F, A) for F, A in _style_cases()]


def _style_case(F, A) -> Case:
    B, N, H, W = F.shape
    M = H * W
    G = _gram_np(_np(F))
    a = _np(A)
    D = G - a
    variants = [
        ("missing the normalisation: E_l = 1/(4 N^2 M^2) sum (G - A)^2.", lambda: np.sum(D**2)),
        ("that is one slide's 1/2 sum (G - A)^2; nstlib uses Gatys' E_l = 1/(4 N^2 M^2) sum (G - A)^2, "
         "which puts every layer on a comparable scale.", lambda: 0.5 * np.sum(D**2)),
        ("missing the factor 1/4: E_l = 1/(4 N^2 M^2) sum (G - A)^2.", lambda: np.sum(D**2) / (N**2 * M**2)),
        ("N and M are both squared: 1/(4 N^2 M^2), not 1/(4 N M).", lambda: np.sum(D**2) / (4 * N * M)),
        ("N and M are both squared: 1/(4 N^2 M^2), not 1/(N M).", lambda: np.sum(D**2) / (N * M)),
        ("N must be squared too: 1/(4 N^2 M^2).", lambda: np.sum(D**2) / (4 * N * M**2)),
        ("M must be squared too: 1/(4 N^2 M^2).", lambda: np.sum(D**2) / (4 * N**2 * M)),
        ("sum the squared differences, don't average them (.sum(), not .mean()); the normalisation "
         "is 1/(4 N^2 M^2).", lambda: np.mean(D**2)),
        ("sum the squared differences, don't average them (.sum(), not .mean()); the normalisation "
         "is 1/(4 N^2 M^2).", lambda: np.mean(D**2) / (4 * N**2 * M**2)),
        ("A is an UNnormalised Gram matrix: don't divide your G by N*M (or M) before comparing.",
         lambda: np.sum((G / (N * M) - a) ** 2) / (4 * N**2 * M**2)),
        ("A is an UNnormalised Gram matrix: don't divide your G by N*M (or M) before comparing.",
         lambda: np.sum((G / M - a) ** 2) / (4 * N**2 * M**2)),
        ("sum over the whole batch: you used only the first item.", lambda: np.sum(D[0] ** 2) / (4 * N**2 * M**2)),
        ("sum over the batch, don't average over it.", lambda: np.sum(D**2) / (4 * N**2 * M**2) / B),
        ("square the differences (no square root, no absolute value).",
         lambda: np.sqrt(np.sum(D**2)) / (4 * N**2 * M**2)),
        ("square the differences (no square root, no absolute value).",
         lambda: np.sum(np.abs(D)) / (4 * N**2 * M**2)),
    ]
    return Case(args=(F, A), inputs=_inputs(F=F, A=A) + f"  (N = {N}, M = {M})",
                expected=_constant(np.sum(D**2) / (4 * N**2 * M**2)),
                variants=variants, rtol=_rtol(F.dtype),
                protect=[F, A])


STYLE_LAYER_LOSS = Spec(
    id="style_layer_loss",
    signature="style_layer_loss(F, A)",
    cases=_style_spec_cases,
    output=_scalar("the style loss"),
    default_hint="E_l = 1/(4 N^2 M^2) * sum_ij (G_ij - A_ij)^2 with the unnormalised G = F F^T, N channels, "
    "M = H*W positions, summed over the batch.",
    summary="{n} cases (batches of 2-3, non-square maps, float32/float64) match 1/(4 N^2 M^2) sum (G - A)^2.",
    error_hints={"must match the size of tensor": "G(F) must be (B, N, N) like A: the Gram matrix compares "
                 "channels (F F^T with F of shape (B, N, H*W)), not positions (F^T F is (B, M, M))."},
)


def check_style_layer_loss(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Check ``style_layer_loss(F, A) = 1/(4 N^2 M^2) * sum (G(F) - A)^2`` summed over the batch.

    F: (B, N, H, W) features (M = H*W), A: (B, N, N) unnormalised target Gram matrices. The
    signature of ``nstlib.synthesize``'s ``style_loss_fn`` (one layer's E_l).
    """
    run_spec(STYLE_LAYER_LOSS, fn)


# ----------------------------------------------------------------------------------------------
# 04 texture synthesis

# VGG-19's channel counts (Simonyan & Zisserman 2015, configuration E), as inputs for the check.
_VGG19_BLOCKS = ((1, 64, 2), (2, 128, 2), (3, 256, 4), (4, 512, 4), (5, 512, 4))  # block, channels, convs


def _vgg19_channels(layers: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for block, channels, convs in _VGG19_BLOCKS[:4]:
        for i in range(1, convs + 1):
            if layers == "convs_and_pools" or (layers == "conv1_1_and_pools" and (block, i) == (1, 1)):
                out[f"conv{block}_{i}"] = channels
        out[f"pool{block}"] = channels
    return out


def _texture_cases() -> list[Case]:
    cases = []
    for channels in (
        _vgg19_channels("convs_and_pools"),  # conv1_1 ... pool4: Gatys' full texture model
        _vgg19_channels("conv1_1_and_pools"),  # conv1_1, pool1 ... pool4
        {"a": 3, "b": 5},
        {"only": 7},
        {"x": 10, "y": 1, "z": 4},
    ):
        expected = sum(int(torch.triu_indices(n, n).shape[1]) for n in channels.values())
        ns = list(channels.values())
        variants = [
            ("a Gram matrix is symmetric (G_ij = G_ji): count each pair once, N(N+1)/2 per layer, not N^2.",
             sum(n * n for n in ns)),
            ("the diagonal entries G_ii count too: N(N+1)/2 per layer, not N(N-1)/2.", sum(n * (n - 1) // 2 for n in ns)),
            ("the diagonal entries G_ii count too: N(N+1)/2 per layer, not N^2/2.", sum(n * n / 2 for n in ns)),
            ("count the entries of each layer's Gram matrix, not the channels: N(N+1)/2 per layer.", sum(ns)),
            ("compute N(N+1)/2 for EACH layer and add them up (not N(N+1)/2 of the total channel count).",
             sum(ns) * (sum(ns) + 1) // 2),
            ("add up every layer in the dict, not only the first one.", ns[0] * (ns[0] + 1) // 2),
            ("add up every layer in the dict, not only the last one.", ns[-1] * (ns[-1] + 1) // 2),
        ]
        cases.append(Case(args=(dict(channels),), inputs=f"channels = {channels}", expected=_constant(expected),
                          variants=[(h, _constant(v)) for h, v in variants], rtol=0.0,
                          expected_text=f"{expected:,}", data={"channels": dict(channels)}))
    return cases


def _texture_output(out: Any, case: Case, where: str) -> np.ndarray:
    if case.args[0] != case.data["channels"]:
        raise _Failure("your function modified its input dict", inputs=case.inputs,
                       hint="read the dict; don't pop or overwrite its entries.")
    if isinstance(out, Tensor) and out.numel() == 1:
        out = out.item()
    if isinstance(out, bool) or not isinstance(out, (int, float, np.integer, np.floating)):
        raise _Failure(f"expected a number ({where})", inputs=case.inputs, expected=case.expected_text or "",
                       got=_describe(out), hint="your function returns None: did you forget the `return`?"
                       if out is None else "return one int: the total over all layers.")
    return np.array(float(out))


TEXTURE_MODEL_SIZE = Spec(
    id="texture_model_size",
    signature="texture_model_size(channels)",
    cases=_texture_cases,
    output=_texture_output,
    default_hint="unique entries of a symmetric N x N matrix: N(N+1)/2; sum over the layers.",
    summary="{n} cases, including VGG-19 conv1_1..pool4 (852,128) and conv1_1 + pool1..pool4 (176,640).",
    noun="count",
    show=lambda a: f"{float(a):,.0f}" if float(a).is_integer() else repr(float(a)),
)


def check_texture_model_size(fn: Callable[[dict[str, int]], int]) -> None:
    """Check ``texture_model_size(channels) -> int``: unique Gram entries N_l (N_l + 1) / 2 summed over layers.

    The reference counts the upper-triangular entries (diagonal included) of an N x N matrix with
    ``torch.triu_indices``.
    """
    run_spec(TEXTURE_MODEL_SIZE, fn)


# ----------------------------------------------------------------------------------------------
# 05 style transfer


def _total_cases() -> list[tuple[dict[str, Tensor], dict[str, Tensor], float, float, dict[str, float], dict[str, float]]]:
    def terms(names: Sequence[str], seed: int, dtype: torch.dtype) -> dict[str, Tensor]:
        values = _rand((len(names),), seed, torch.float64, 0.5, 3.0)
        return {n: _on_device(values[i], dtype).requires_grad_(True) for i, n in enumerate(names)}

    style5 = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"]
    return [
        (terms(["conv4_2"], 51, torch.float64), terms(style5, 52, torch.float64), 2.0, 5e-3,
         {"conv4_2": 1.0}, dict(zip(style5, [0.1, 0.3, 0.2, 0.25, 0.15]))),
        # weight dicts in a different key order than the terms: look weights up by name
        (terms(["conv2_2", "conv4_2"], 53, torch.float32), terms(style5[:3], 54, torch.float32), 1e-3, 1.0,
         {"conv4_2": 1.5, "conv2_2": 0.5}, {"conv3_1": 0.7, "conv1_1": 0.2, "conv2_1": 0.1}),
        (terms(["conv4_2"], 55, torch.float64), terms(style5[1:], 56, torch.float64), 0.3, 7.0,
         {"conv4_2": 2.0}, dict(zip(style5[1:], [0.4, 0.3, 0.2, 0.1]))),
    ]


def _total_spec_cases() -> list[Case]:
    cases = []
    for ct, st, alpha, beta, cw, sw in _total_cases():
        fmt = lambda d: "{" + ", ".join(f"{k}: {float(v.detach()):.4g}" for k, v in d.items()) + "}"  # noqa: E731
        dtype = next(iter(ct.values())).dtype
        inputs = (f"content_terms = {fmt(ct)}, style_terms = {fmt(st)} ({str(dtype).replace('torch.', '')} 0-dim "
                  f"tensors), alpha = {alpha}, beta = {beta}, content_weights = {cw}, style_weights = {sw}")
        c = {k: float(v.detach()) for k, v in ct.items()}
        s = {k: float(v.detach()) for k, v in st.items()}
        content = sum(cw[k] * c[k] for k in c)
        style = sum(sw[k] * s[k] for k in s)
        zipped_c = sum(w * v for w, v in zip(cw.values(), c.values()))
        zipped_s = sum(w * v for w, v in zip(sw.values(), s.values()))
        variants = [
            ("alpha and beta are swapped: alpha weighs the CONTENT term, beta the STYLE term (Gatys; one "
             "slide writes it the other way round).", beta * content + alpha * style),
            ("use the per-layer weights: sum_l wc_l L_content^l and sum_l w_l E_l.",
             alpha * sum(c.values()) + beta * sum(s.values())),
            ("use the per-layer style weights w_l: beta * sum_l w_l E_l.", alpha * content + beta * sum(s.values())),
            ("use the per-layer content weights wc_l: alpha * sum_l wc_l L_content^l.",
             alpha * sum(c.values()) + beta * style),
            ("sum over the layers, don't average.", alpha * content / len(c) + beta * style / len(s)),
            ("look each weight up by its layer name (content_weights[name]): zipping two dicts pairs "
             "them by insertion order, which need not match.", alpha * zipped_c + beta * zipped_s),
            ("include both terms: alpha * content + beta * style.", alpha * content),
            ("include both terms: alpha * content + beta * style.", beta * style),
            ("multiply the content sum by alpha and the style sum by beta.", content + style),
        ]
        cases.append(Case(args=(dict(ct), dict(st), alpha, beta, dict(cw), dict(sw)), inputs=inputs,
                          expected=_constant(alpha * content + beta * style),
                          variants=[(h, _constant(v)) for h, v in variants], rtol=_rtol(dtype)))
    return cases


TOTAL_LOSS = Spec(
    id="total_loss",
    signature="total_loss(content_terms, style_terms, alpha, beta, content_weights, style_weights)",
    cases=_total_spec_cases,
    output=_scalar("the total loss"),
    default_hint="alpha * sum_l content_weights[l] * content_terms[l] + beta * sum_l style_weights[l] * style_terms[l].",
    summary="{n} cases (1-2 content layers, 3-5 style layers, weight dicts in any order) match.",
    error_hints={"keyerror": "look the weight up by the term's layer name; content weights go with content terms, "
                 "style weights with style terms."},
)


def check_total_loss(fn: Callable[..., Tensor]) -> None:
    """Check ``total_loss(content_terms, style_terms, alpha, beta, content_weights, style_weights)``.

    L_total = alpha * sum_l wc_l L_content^l + beta * sum_l w_l E_l, with the terms and weights
    given as dicts keyed by layer name (0-dim tensors and floats).
    """
    run_spec(TOTAL_LOSS, fn)


def _tv_np(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertical and horizontal neighbour differences of (B, C, H, W) images."""
    return np.diff(x, axis=2), np.diff(x, axis=3)  # (B, C, H-1, W), (B, C, H, W-1)


def _tv_cases() -> list[Case]:
    return [_tv_case(img) for img in (
        _rand((2, 3, 5, 7), 61, torch.float32, 0.0, 1.0, requires_grad=True),
        _rand((3, 2, 4, 6), 62, torch.float64, 0.0, 1.0, requires_grad=True),
        _rand((2, 3, 6, 4), 63, torch.float64, 0.0, 1.0, requires_grad=True),
    )]


def _tv_case(img: Tensor) -> Case:
    x = _np(img)
    dh, dw = _tv_np(x)
    rh = np.roll(x, -1, axis=2) - x
    rw = np.roll(x, -1, axis=3) - x
    variants = [
        ("square the differences (this is the squared TV of nstlib.losses.tv_loss), don't take "
         "absolute values.", lambda: np.sum(np.abs(dh)) + np.sum(np.abs(dw))),
        ("add BOTH directions: vertical (rows i+1 vs i) and horizontal (columns j+1 vs j); you have "
         "only the vertical one.", lambda: np.sum(dh**2)),
        ("add BOTH directions: vertical (rows i+1 vs i) and horizontal (columns j+1 vs j); you have "
         "only the horizontal one.", lambda: np.sum(dw**2)),
        ("sum, don't average: .sum() not .mean().", lambda: np.mean(dh**2) + np.mean(dw**2)),
        ("no square root: the anisotropic squared TV adds dh^2 and dw^2 separately.",
         lambda: np.sum(np.sqrt(dh[..., :, :-1] ** 2 + dw[..., :-1, :] ** 2))),
        ("don't wrap around (torch.roll compares the last row with the first): use slices "
         "x[..., 1:, :] - x[..., :-1, :].", lambda: np.sum(rh**2) + np.sum(rw**2)),
        ("sum over the whole batch: you used only the first image.", lambda: np.sum(dh[0] ** 2) + np.sum(dw[0] ** 2)),
        ("no factor 1/2 here: TV = sum dh^2 + sum dw^2.", lambda: 0.5 * (np.sum(dh**2) + np.sum(dw**2))),
        ("square each difference, then sum (not: sum, then square).", lambda: np.sum(dh) ** 2 + np.sum(dw) ** 2),
    ]
    return Case(args=(img,), inputs=_inputs(img=img), expected=_constant(np.sum(dh**2) + np.sum(dw**2)),
                variants=variants, rtol=_rtol(img.dtype),
                protect=[img])


TV_LOSS = Spec(
    id="tv_loss",
    signature="tv_loss(img)",
    cases=_tv_cases,
    output=_scalar("the TV loss"),
    default_hint="TV = sum (x[..., 1:, :] - x[..., :-1, :])^2 + sum (x[..., :, 1:] - x[..., :, :-1])^2 over "
    "everything, batch included.",
    summary="{n} cases (batches of 2-3, non-square images, float32/float64) match the squared anisotropic TV; "
    "vectorised.",
    after=lambda fn: _reject_loops(fn, lambda b, c, h, w: _rand((b, c, h, w), 64, low=0.0, high=1.0),
                                   "tv_loss must be vectorised."),
)


def check_tv_loss(fn: Callable[[Tensor], Tensor]) -> None:
    """Check ``tv_loss(img)``: sum over neighbouring pixel pairs of squared differences, both directions.

    TV(x) = sum_{b,c,i,j} (x[b,c,i+1,j] - x[b,c,i,j])^2 + (x[b,c,i,j+1] - x[b,c,i,j])^2, vectorised.
    """
    run_spec(TV_LOSS, fn)
