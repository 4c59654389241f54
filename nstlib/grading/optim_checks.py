"""Checks of the optimisation exercises: they watch what the student's function does, not only what it returns.

- ``input_gradient_step`` (02): one gradient step on the input image, x - lr dL/dx, the network fixed
  (Gatys et al. 2016 optimise the image, not the weights);
- ``run_lbfgs`` (02, where L-BFGS first appears; notebooks 04 and 05 reuse it): the L-BFGS closure and
  loop of the synthesis: clamp, zero the gradient, count the evaluations, keep the best image.

The references need no second optimiser run: analytic gradients of three losses for the step, and
for L-BFGS an objective that records every image it is evaluated at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as TF
from torch import Tensor

from ._core import Case, Spec, _Failure, checker
from ._outputs import returned
from ._values import _cpu_rand, _describe, _np, _on_device, _values, device

# ----------------------------------------------------------------------------------------------
# 02 input_gradient_step(image, loss_fn, lr)


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

    def bowl(y: Tensor, w: Tensor = w, t: Tensor = t) -> Tensor:  # defaults: this case's tensors
        return 0.5 * (w * (y - t) ** 2).sum()

    cases.append(_StepCase(x, bowl, 0.1, grad, [], "L(x) = 1/2 sum w (x - t)^2"))
    # 2. a non-linear loss in float64: L = sum t sin(3x), dL/dx = 3 t cos(3x)
    x = _cpu_rand((1, 3, 4, 7), 24, torch.float64, 0.3, 0.7)
    t = _cpu_rand((1, 3, 4, 7), 25, torch.float64, -1.0, 1.0)
    grad = 3 * _np(t) * np.cos(3 * _np(x))
    x, t = _on_device(x), _on_device(t)

    def wave(y: Tensor, t: Tensor = t) -> Tensor:
        return (t * torch.sin(3 * y)).sum()

    cases.append(_StepCase(x, wave, 0.05, grad, [], "L(x) = sum t sin(3x)"))
    # 3. a small conv "network" with learnable weights: L = 1/2 sum conv(x)^2,
    #    dL/dx = conv_transpose(conv(x)) (the adjoint of the convolution), computed without autograd
    x = _cpu_rand((1, 3, 8, 8), 26, torch.float32, 0.3, 0.7)
    conv = torch.nn.Conv2d(3, 4, kernel_size=3, padding=1)
    bias = conv.bias
    assert bias is not None  # Conv2d has a bias by default
    with torch.no_grad():
        conv.weight.copy_(0.1 * _cpu_rand(conv.weight.shape, 27))
        bias.copy_(0.1 * _cpu_rand(bias.shape, 28))
    W64, b64 = conv.weight.detach().double(), bias.detach().double()
    y = TF.conv2d(x.double(), W64, b64, padding=1)  # (1, 4, 8, 8)
    grad = TF.conv_transpose2d(y, W64, padding=1).numpy()  # (1, 3, 8, 8)
    x, conv = _on_device(x), conv.to(device())

    def conv_energy(z: Tensor, conv: torch.nn.Conv2d = conv) -> Tensor:
        return 0.5 * conv(z).pow(2).sum()

    cases.append(
        _StepCase(
            x,
            conv_energy,
            0.2,
            grad,
            list(conv.parameters()),
            "L(x) = 1/2 sum conv(x)^2, conv = Conv2d(3, 4, 3) with learnable weights",
        )
    )
    return cases


def _step_case(case: _StepCase) -> Case:
    return Case(
        args=(case.image, case.loss_fn, case.lr),
        np=(_np(case.image), case.gradient, case.lr),
        inputs=f"image = {_describe(case.image)}, loss_fn: {case.description}, lr = {case.lr}",
        data={
            "before": case.image.clone(),
            "params": case.params,
            "params_before": [p.detach().clone() for p in case.params],
        },
    )


def _step_output(out: Any, case: Case, where: str) -> np.ndarray:
    image, inputs = case.args[0], case.inputs
    if not isinstance(out, Tensor):
        raise _Failure(
            f"expected a tensor ({where})",
            inputs=inputs,
            got=_describe(out),
            hint=returned(out, "return the updated image."),
        )
    if out is image or not torch.equal(image.detach(), case.data["before"]):
        raise _Failure(
            f"the input image was changed in place ({where})",
            inputs=inputs,
            hint="return a NEW tensor (x.detach() - lr * grad); don't update `image` in place.",
        )
    if image.requires_grad:
        raise _Failure(
            f"your function switched on requires_grad of the caller's image ({where})",
            inputs=inputs,
            hint="work on a copy: x = image.clone().requires_grad_(True).",
        )
    for p, p0 in zip(case.data["params"], case.data["params_before"]):
        if not torch.equal(p.detach(), p0):
            raise _Failure(
                f"the network's weights changed ({where})",
                inputs=inputs,
                hint="style transfer optimises the INPUT: the network stays fixed. "
                "Update only the image (no optimiser over the model's parameters).",
            )
    if out.requires_grad:
        raise _Failure(
            f"the returned image still requires grad ({where})",
            inputs=inputs,
            expected="a detached tensor",
            got=_describe(out),
            hint="return a detached tensor: x.detach() - lr * grad, or do the update inside `with torch.no_grad():`.",
        )
    if tuple(out.shape) != tuple(image.shape) or out.dtype != image.dtype:
        raise _Failure(
            f"wrong shape or dtype ({where})",
            inputs=inputs,
            expected=f"{str(image.dtype).replace('torch.', '')} tensor of shape {tuple(image.shape)}",
            got=_describe(out),
            hint="return the updated image itself, same shape and dtype.",
        )
    return _np(out)


INPUT_GRADIENT_STEP = Spec(
    id="input_gradient_step",
    notebook="02_content_reconstruction",
    title="one gradient step on the input image",
    signature="input_gradient_step(image, loss_fn, lr)",
    cases=lambda: [_step_case(c) for c in _step_cases()],
    reference=lambda x, g, lr: x - lr * g,
    wrong=[
        ("that is gradient ASCENT: step against the gradient, x - lr * dL/dx.", lambda x, g, lr: x + lr * g),
        ("scale the gradient by the learning rate: x - lr * dL/dx.", lambda x, g, lr: x - g),
        ("return the new image x - lr * dL/dx, not the step.", lambda x, g, lr: -lr * g),
        ("return the new image x - lr * dL/dx, not the gradient.", lambda x, g, lr: g),
        (
            "the image did not move: is the gradient reaching the image? Call loss_fn on a copy that "
            "requires grad and differentiate with respect to that copy.",
            lambda x, g, lr: x,
        ),
    ],
    output=_step_output,
    default_hint="x_new = x - lr * dL/dx; get dL/dx with loss.backward() (x.grad) or torch.autograd.grad(loss, x).",
    summary="{n} losses (quadratic, sin, a small conv net) give x - lr * dL/dx; input and weights untouched, "
    "result detached.",
    error_hints={
        "does not require grad": "make a copy of the image that requires grad, "
        "x = image.clone().requires_grad_(True), and differentiate the loss with respect to it."
    },
    noun="updated image",
    show=_values,
    expected_text=lambda expected: f"x - lr * dL/dx: {_values(expected)}",
    doc="""Check ``input_gradient_step(image, loss_fn, lr) -> image - lr * dL/dx``.

    image: (1, 3, H, W), not requiring grad; loss_fn maps an image to a scalar. The result is a new,
    detached tensor of the same shape and dtype; neither the image nor the network inside
    ``loss_fn`` may change. The reference gradient is computed analytically.
    """,
    points=2,
)
check_input_gradient_step = checker(INPUT_GRADIENT_STEP)


# ----------------------------------------------------------------------------------------------
# 02 run_lbfgs(objective, x0, steps): the closure and the loop


class _RecordingObjective:
    """L(x) = sum w (x - t)^2 + c_k, recording every image it is evaluated at.

    The target t lies partly outside [0, 1], so an unclamped optimisation leaves the box. c_k, a
    constant that depends on the evaluation number k only (its gradient is 0), is large for the last
    three evaluations: the best image is then not the last one.
    """

    def __init__(self, t: Tensor, w: Tensor, steps: int) -> None:
        self.t, self.w, self.steps = t, w, steps
        self.images: list[Tensor] = []
        self.losses: list[float] = []
        self.true_losses: list[float] = []
        self.accumulated = False
        self.leaves: list[Tensor] = []

    def _check_grad(self, x: Tensor) -> None:
        k = len(self.images) - 1
        expected = 2 * self.w * (self.images[k] - self.t)
        if x.grad is not None and not torch.allclose(
            x.grad, expected, rtol=1e-4, atol=1e-6 * float(expected.abs().max() + 1)
        ):
            self.accumulated = True

    def __call__(self, x: Tensor) -> Tensor:
        if isinstance(x, Tensor) and x.is_leaf and x.requires_grad and not any(x is y for y in self.leaves):
            self.leaves.append(x)
            x.register_post_accumulate_grad_hook(self._check_grad)
        k = len(self.images)
        self.images.append(x.detach().clone())
        base = (self.w * (x - self.t) ** 2).sum()
        bump = 1e3 * (1 + k) if k >= self.steps - 3 else 0.0
        loss = base + bump
        self.true_losses.append(float(base.detach()))
        self.losses.append(float(loss.detach()))
        return loss


def _lbfgs_cases() -> list[Case]:
    cases = []
    for index, (shape, dtype, steps) in enumerate(
        (((1, 3, 6, 7), torch.float32, 12), ((1, 3, 5, 5), torch.float64, 7), ((1, 3, 4, 4), torch.float32, 30))
    ):
        x0 = _on_device(_cpu_rand(shape, 800 + index, torch.float64, 0.2, 0.8), dtype)
        t = _on_device(_cpu_rand(shape, 810 + index, torch.float64, -0.6, 1.6), dtype)
        w = _on_device(_cpu_rand(shape, 820 + index, torch.float64, 0.5, 1.5), dtype)
        obj = _RecordingObjective(t, w, steps)
        cases.append(
            Case(
                args=(obj, x0, steps),
                np=(obj,),
                data={"objective": obj, "x0": x0.clone(), "steps": steps},
                inputs=(
                    f"objective(x) = sum w (x - t)^2 + c_k (t partly outside [0, 1]; c_k large for the last 3 of "
                    f"{steps} evaluations), x0 = {_describe(x0)}, steps = {steps}"
                ),
            )
        )
    return cases


def _evaluations_hint(n: int, steps: int) -> str:
    if n == 0:
        return (
            "your function never called objective: the closure must call objective(x), then loss.backward(), "
            "and return the loss; opt.step(closure) calls it."
        )
    hint = (
        f"the objective was evaluated {n} times for steps = {steps}: count the evaluations in your closure "
        "and give L-BFGS exactly that budget (max_iter and max_eval), or run one evaluation per opt.step "
        "(max_iter=1)."
    )
    if n > steps:
        return hint + (
            " Each opt.step(closure) runs up to max_iter iterations (default 20, max_eval 25 evaluations), "
            "so calling it `steps` times evaluates far too often."
        )
    return hint + (
        " One opt.step(closure) with the defaults stops after max_iter=20 iterations (or earlier, when "
        "the loss stops changing): loop until the budget is used."
    )


def _not_best_hint(got: np.ndarray, obj: _RecordingObjective, x0: Tensor) -> str:
    """Which image the student returned instead of the best evaluated one."""
    n, best = len(obj.images), int(np.argmin(obj.losses))

    def same(a: np.ndarray) -> bool:
        return np.allclose(got, a, rtol=0, atol=1e-6)

    if same(_np(obj.images[-1])):
        return (
            f"that is the LAST evaluated image (evaluation {n - 1}, loss {obj.losses[-1]:.4g}); return the "
            f"best one (evaluation {best}, loss {obj.losses[best]:.4g}): L-BFGS does not decrease the loss "
            "at every evaluation. Keep best = x.detach().clone() whenever the loss is the lowest so far."
        )
    if same(_np(x0)):
        return "that is x0: the image did not move. Return the optimised copy's best state."
    if any(same(_np(leaf)) for leaf in obj.leaves):
        return (
            "that is x after the loop: L-BFGS moves x after its last evaluation, so its loss was never "
            "computed. Keep a COPY of the image with the lowest loss inside the closure "
            "(best = x.detach().clone(); storing x itself keeps a reference that changes in place)."
        )
    k = next((i for i, im in enumerate(obj.images) if same(_np(im))), None)
    if k is not None:
        return (
            f"that is the image of evaluation {k} (loss {obj.losses[k]:.4g}), not the one with the lowest "
            f"loss (evaluation {best}, loss {obj.losses[best]:.4g}): compare each new loss with the best so "
            "far and keep that image."
        )
    return (
        "the image you return was never evaluated: keep a copy of x inside the closure, at the moment "
        "its loss is computed, when that loss is the lowest so far."
    )


def _lbfgs_output(out: Any, case: Case, where: str) -> np.ndarray:
    obj: _RecordingObjective = case.data["objective"]
    x0, steps = case.data["x0"], case.data["steps"]
    x_arg, n, inputs = case.args[1], len(obj.images), case.inputs
    if not torch.equal(x_arg.detach(), x0) or x_arg.requires_grad:
        raise _Failure(
            f"x0 was changed ({where})",
            inputs=inputs,
            hint="optimise a copy: x = x0.detach().clone().requires_grad_(True). x0 is the caller's image "
            "(in notebook 02: the white-noise start), and the optimiser updates its parameter in place.",
        )
    if n != steps:
        raise _Failure(
            f"wrong number of evaluations ({where})",
            inputs=inputs,
            expected=f"{steps} calls of objective",
            got=f"{n} calls",
            hint=_evaluations_hint(n, steps),
        )
    lows, highs = [float(im.min()) for im in obj.images], [float(im.max()) for im in obj.images]
    if min(lows) < -1e-6 or max(highs) > 1 + 1e-6:
        k = next(i for i, (lo, hi) in enumerate(zip(lows, highs)) if lo < -1e-6 or hi > 1 + 1e-6)
        raise _Failure(
            f"the objective saw pixels outside [0, 1] ({where})",
            inputs=inputs,
            got=f"evaluation {k}: values in [{lows[k]:.3g}, {highs[k]:.3g}]",
            hint="clamp the image to [0, 1] in place at the start of each evaluation, before the objective "
            "sees it: with torch.no_grad(): x.clamp_(0, 1).",
        )
    if obj.accumulated:
        raise _Failure(
            f"gradients accumulate across evaluations ({where})",
            inputs=inputs,
            hint="zero the gradient in the closure before each backward (opt.zero_grad()): .backward() "
            "ADDS to x.grad, so L-BFGS gets the sum of all gradients so far.",
        )
    if not isinstance(out, Tensor):
        raise _Failure(
            f"expected the image as a tensor ({where})",
            inputs=inputs,
            got=_describe(out),
            hint=returned(out, "return the best image, a (1, 3, H, W) tensor."),
        )
    if out.requires_grad:
        raise _Failure(
            f"the returned image still requires grad ({where})",
            inputs=inputs,
            got=_describe(out),
            hint="return a detached copy: best.detach().clone().",
        )
    if tuple(out.shape) != tuple(x0.shape):
        raise _Failure(
            f"wrong shape ({where})",
            inputs=inputs,
            expected=f"shape {tuple(x0.shape)}",
            got=_describe(out),
            hint="return the image, shaped like x0.",
        )
    got = _np(out)
    best = int(np.argmin(obj.losses))
    if not np.allclose(got, _np(obj.images[best]), rtol=0, atol=1e-6):
        raise _Failure(
            f"not the best image ({where})",
            inputs=inputs,
            expected=f"the image of evaluation {best} (loss {obj.losses[best]:.4g})",
            got=f"values {_values(got)}",
            hint=_not_best_hint(got, obj, x0),
        )
    if min(obj.true_losses) > 0.7 * obj.true_losses[0]:
        raise _Failure(
            f"the loss hardly went down ({where})",
            inputs=inputs,
            got=f"loss {obj.true_losses[0]:.4g} at the start, best {min(obj.true_losses):.4g}",
            hint="does the optimiser update the image you evaluate? Pass [x] to torch.optim.LBFGS and "
            "call opt.step(closure); the closure must call loss.backward() and return the loss.",
        )
    return got


RUN_LBFGS = Spec(
    id="run_lbfgs",
    notebook="02_content_reconstruction",
    title="the L-BFGS closure and loop: clamp, count, keep the best",
    signature="run_lbfgs(objective, x0, steps)",
    cases=_lbfgs_cases,
    reference=lambda obj: _np(obj.images[int(np.argmin(obj.losses))]),
    output=_lbfgs_output,
    default_hint="return the image with the lowest loss seen.",
    summary="{n} runs (7-30 evaluations, float32/float64): exactly `steps` evaluations, each on an image clamped "
    "to [0, 1] with a fresh gradient; x0 untouched; the best image returned, not the last.",
    noun="image",
    doc="""Check ``run_lbfgs(objective, x0, steps) -> best image``: the L-BFGS closure and loop.

    objective(x) maps a (1, 3, H, W) image to a 0-dim loss. The function optimises a copy of x0
    with ``torch.optim.LBFGS``, clamps the image to [0, 1] before every evaluation, zeroes the
    gradient before every backward, calls the objective exactly ``steps`` times, and returns a
    detached copy of the evaluated image with the lowest loss. The check's objective records every
    image it sees, so it needs no reference run of L-BFGS.
    """,
    points=4,
)
check_run_lbfgs = checker(RUN_LBFGS)
