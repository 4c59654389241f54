"""The exercise checks: reference solutions pass, plausible mistakes fail with the matching hint,
stubs report "not implemented yet" without raising, Python loops are rejected, report() scores.

The references inside nstlib.grading are themselves checked against independent oracles here:
nstlib.losses, naive Python loops and nstlib.receptive's VGG-19 table.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

import nstlib
import nstlib.config
from nstlib import grading
from nstlib.grading import (
    check_content_loss,
    check_conv1_1_parameters,
    check_gram_matrix,
    check_input_gradient_step,
    check_receptive_field_sizes,
    check_style_layer_loss,
    check_texture_model_size,
    check_total_loss,
    check_tv_loss,
)
from nstlib.grading._core import Spec, _close, _diagnose, build_cases, checker
from nstlib.grading._values import _gram_np
from nstlib.grading.answer_checks import _rf_reference, _vgg19_channels
from nstlib.grading.optim_checks import _step_cases
from tests.grading_helpers import fresh_registry  # noqa: F401  (an autouse fixture: importing it activates it)

# ----------------------------------------------------------------------------------------------
# Reference solutions (what the notebook masters hold between the solution markers)


def receptive_field_sizes(kernels: list[int], strides: list[int]) -> list[int]:
    sizes, r, jump = [], 1, 1
    for k, s in zip(kernels, strides):
        r += (k - 1) * jump
        sizes.append(r)
        jump *= s
    return sizes


def conv1_1_parameters() -> int:
    return 64 * 3 * 3 * 3 + 64


def content_loss(F, P):
    return 0.5 * ((F - P) ** 2).sum()


def input_gradient_step(image, loss_fn, lr):
    x = image.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(x), x)
    return (x - lr * grad).detach()


def gram_matrix(F):
    B, C, H, W = F.shape
    X = F.reshape(B, C, H * W)  # (B, C, M)
    return X @ X.transpose(1, 2)  # (B, C, C)


def style_layer_loss(F, A):
    B, N, H, W = F.shape
    M = H * W
    return ((gram_matrix(F) - A) ** 2).sum() / (4 * N**2 * M**2)


def texture_model_size(channels: dict[str, int]) -> int:
    return sum(n * (n + 1) // 2 for n in channels.values())


def total_loss(content_terms, style_terms, alpha, beta, content_weights, style_weights):
    content = sum(content_weights[name] * term for name, term in content_terms.items())
    style = sum(style_weights[name] * term for name, term in style_terms.items())
    return alpha * content + beta * style


def tv_loss(img):
    return ((img[..., 1:, :] - img[..., :-1, :]) ** 2).sum() + ((img[..., :, 1:] - img[..., :, :-1]) ** 2).sum()


REFERENCES = [
    (check_receptive_field_sizes, receptive_field_sizes),
    (check_content_loss, content_loss),
    (check_input_gradient_step, input_gradient_step),
    (check_gram_matrix, gram_matrix),
    (check_style_layer_loss, style_layer_loss),
    (check_total_loss, total_loss),
    (check_tv_loss, tv_loss),
]
IDS = [check.__name__.removeprefix("check_") for check, _ in REFERENCES]
#: checks outside the catalogue (merged into count_model), kept importable for courses that still use them
RETIRED = [(check_conv1_1_parameters, conv1_1_parameters), (check_texture_model_size, texture_model_size)]


def test_every_exercise_has_a_check():
    pipeline_ids = {
        "extract_features",
        "match_reconstructions",
        "style_loss",
        "grad_style_layer",
        "run_lbfgs",
        "masked_gram_matrix",
    }  # checked in test_grading_pipeline.py
    pipeline_ids |= {  # checked in test_grading_choices.py
        "count_model",
        "predict_photo_start",
        "measure_layer_equality",
        "predict_structure_size",
        "explain_grey_texture",
    }
    series = [e for e in grading.EXERCISES if e.notebook[:2] <= "06"]  # later notebooks test their own checks
    assert [e.id for e in series if e.id not in pipeline_ids] == IDS
    assert {e.id for e in series} == set(IDS) | pipeline_ids
    assert all(callable(getattr(grading, f"check_{e.id}")) for e in grading.EXERCISES)
    assert {e.notebook[:2] for e in series} == {"01", "02", "03", "04", "05", "06"}  # each has at least one


@pytest.mark.parametrize(
    ("check", "solution"), REFERENCES + RETIRED, ids=IDS + ["conv1_1_parameters", "texture_model_size"]
)
def test_reference_solution_passes(check, solution, capsys):
    assert check(solution) is None
    out = capsys.readouterr().out
    assert out.startswith("PASS  " + check.__name__.removeprefix("check_"))
    assert grading.results()[check.__name__.removeprefix("check_")].status == grading.PASS


@pytest.mark.parametrize(
    ("check", "library_fn"),
    [
        (check_content_loss, nstlib.content_loss),
        (check_gram_matrix, nstlib.gram_matrix),
        (check_style_layer_loss, nstlib.style_layer_loss),
        (check_tv_loss, nstlib.tv_loss),
    ],
    ids=["content_loss", "gram_matrix", "style_layer_loss", "tv_loss"],
)
def test_library_losses_pass_the_checks(check, library_fn, capsys):
    """nstlib.losses is an oracle for the checks' independent references (and vice versa)."""
    check(library_fn)
    assert capsys.readouterr().out.startswith("PASS")


def test_conv1_1_accepts_a_plain_int_and_a_count_read_from_the_model(capsys, encoder):
    check_conv1_1_parameters(1792)
    conv = dict(encoder.named_modules())
    layer = next(m for name, m in conv.items() if name.endswith("conv1_1"))
    check_conv1_1_parameters(lambda: sum(p.numel() for p in layer.parameters()))
    assert capsys.readouterr().out.count("PASS") == 2


# ----------------------------------------------------------------------------------------------
# Plausible mistakes fail, with the hint that names the mistake


def _fails_with(check, fn, capsys, *hint_parts: str) -> str:
    with pytest.raises(AssertionError):
        check(fn)
    out = capsys.readouterr().out
    name = check.__name__.removeprefix("check_")
    assert out.startswith(f"FAIL  {name}"), out
    for part in hint_parts:
        assert part in out, f"{part!r} not in:\n{out}"
    assert grading.results()[name].status == grading.FAIL
    return out


def _rf_recurrence(r0=1, stride=lambda s, l: math.prod(s[:l]), add=lambda k: k - 1, prepend=False):
    def fn(kernels, strides):
        r, sizes = r0, [1] if prepend else []
        for l, k in enumerate(kernels):
            r += add(k) * stride(strides, l)
            sizes.append(r)
        return sizes

    return fn


RF_WRONG = [
    (_rf_recurrence(r0=0), "off by one: start from r_0 = 1"),
    (_rf_recurrence(stride=lambda s, l: math.prod(s[: l + 1])), "not including its own stride"),
    (_rf_recurrence(stride=lambda s, l: s[l]), "not the current layer's stride"),
    (_rf_recurrence(stride=lambda s, l: s[l - 1] if l else 1), "not only the previous layer's"),
    (_rf_recurrence(add=lambda k: k), "not k_l * jump"),
    (_rf_recurrence(prepend=True), "don't include r_0 = 1"),
    (lambda k, s: receptive_field_sizes(k, s)[-1], "not only the last layer's"),
]


@pytest.mark.parametrize(("fn", "hint"), RF_WRONG, ids=[h[:24] for _, h in RF_WRONG])
def test_receptive_field_mistakes(fn, hint, capsys):
    out = _fails_with(check_receptive_field_sizes, fn, capsys, hint)
    assert "expected:" in out and "got:" in out and "kernels = [3, 3, 2, 3, 3, 2]" in out


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        (1728, "don't forget the biases"),
        (4864, "one slide says 5x5"),
        (640, "all 3 input channels"),
        (64, "number of filters"),
        (1791.5, "expected a whole number"),
    ],
)
def test_conv1_1_mistakes(value, hint, capsys):
    out = _fails_with(check_conv1_1_parameters, lambda: value, capsys, hint)
    assert "1,792" not in out and "1792" not in out  # the answer is not given away


CONTENT_WRONG = [
    (lambda F, P: ((F - P) ** 2).sum(), "missing the factor 1/2"),
    (lambda F, P: 0.5 * ((F - P) ** 2).mean(), "don't average"),
    (lambda F, P: torch.nn.functional.mse_loss(F, P), "don't average"),
    (lambda F, P: 0.5 * ((F[0] - P[0]) ** 2).sum(), "only the first image"),
    (lambda F, P: 0.5 * torch.norm(F - P), "no square root"),
    (lambda F, P: 0.5 * (F - P).abs().sum(), "don't take absolute values"),
    (lambda F, P: torch.tensor(0.5 * ((F - P) ** 2).sum().detach().item()), "detached from the autograd graph"),
    (lambda F, P: 0.5 * ((F - P) ** 2).sum(dim=(1, 2, 3)), "must be a single number"),
    (lambda F, P: (0.5 * ((F - P) ** 2).sum()).detach().item(), "not a Python number"),
]


@pytest.mark.parametrize(("fn", "hint"), CONTENT_WRONG, ids=[f"{i}-{h[:20]}" for i, (_, h) in enumerate(CONTENT_WRONG)])
def test_content_loss_mistakes(fn, hint, capsys):
    out = _fails_with(check_content_loss, fn, capsys, hint)
    assert "input:" in out and "float32 tensor of shape (2, 3, 4, 5)" in out


def _step_ascent(image, loss_fn, lr):
    x = image.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(x), x)
    return (x + lr * g).detach()


def _step_in_place(image, loss_fn, lr):
    x = image.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(x), x)
    image -= lr * g
    return image


def _step_not_detached(image, loss_fn, lr):
    x = image.clone().requires_grad_(True)
    loss_fn(x).backward()
    return x - lr * x.grad


def _step_flags_callers_image(image, loss_fn, lr):
    image.requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(image), image)
    return (image - lr * g).detach()


def _step_updates_model(image, loss_fn, lr):
    x = image.clone().requires_grad_(True)
    loss = loss_fn(x)
    loss.backward()
    captured = [c.cell_contents for c in loss_fn.__closure__ or ()] + list(loss_fn.__defaults__ or ())
    for obj in captured:  # an "optimiser" that also steps the network's weights
        if isinstance(obj, torch.nn.Module):
            with torch.no_grad():
                for p in obj.parameters():
                    p -= lr * p.grad
    return (x - lr * x.grad).detach()


def _step_no_lr(image, loss_fn, lr):
    x = image.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(x), x)
    return (x - g).detach()


def _step_returns_gradient(image, loss_fn, lr):
    x = image.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(x), x)
    return g


def _step_no_grad(image, loss_fn, lr):
    loss_fn(image).backward()  # the image does not require grad
    return image


STEP_WRONG = [
    (_step_ascent, "gradient ASCENT"),
    (_step_in_place, "changed in place"),
    (_step_not_detached, "still requires grad"),
    (_step_flags_callers_image, "work on a copy"),
    (_step_updates_model, "the network stays fixed"),
    (_step_no_lr, "scale the gradient by the learning rate"),
    (_step_returns_gradient, "not the gradient"),
    (_step_no_grad, "requires_grad_(True)"),
]


@pytest.mark.parametrize(("fn", "hint"), STEP_WRONG, ids=[f.__name__ for f, _ in STEP_WRONG])
def test_input_gradient_step_mistakes(fn, hint, capsys):
    _fails_with(check_input_gradient_step, fn, capsys, hint)


def test_input_gradient_step_reference_stays_inside_the_image_range():
    """The cases are chosen so that clamping to [0, 1] would not change a correct answer."""
    for case in _step_cases():
        x = case.image.double().cpu().numpy() - case.lr * case.gradient
        assert 0.0 < x.min() and x.max() < 1.0


def test_input_gradient_step_analytic_gradients_match_autograd():
    for case in _step_cases():
        x = case.image.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(case.loss_fn(x), x)
        torch.testing.assert_close(g.double().cpu(), torch.from_numpy(case.gradient), rtol=1e-4, atol=1e-6)


def _gram_of(X):
    return X @ X.transpose(1, 2)


GRAM_WRONG = [
    (lambda F: _gram_of(F.flatten(2)) / (F.shape[2] * F.shape[3]), "you divided by M = H*W"),
    (lambda F: _gram_of(F.flatten(2)) / F[0].numel(), "you divided by C*H*W"),
    (lambda F: _gram_of(F.flatten(2).transpose(1, 2)), "you computed F^T F"),
    (lambda F: F[0].flatten(1) @ F[0].flatten(1).T, "keep the batch dimension"),
    (lambda F: _gram_of(F.flatten(2)).sum(0), "you summed the Gram matrices"),
    (lambda F: _gram_of(F.flatten(2)).detach(), "detached from the autograd graph"),
    (lambda F: _gram_of(F.flatten(2)).float(), "wrong dtype"),
    (
        lambda F: (
            F.view(F.shape[0], F.shape[1], -1).sum(-1, keepdim=True)
            @ F.flatten(2).sum(-1, keepdim=True).transpose(1, 2)
        ),
        "not a product of sums",
    ),
]


@pytest.mark.parametrize(("fn", "hint"), GRAM_WRONG, ids=[h[:20] for _, h in GRAM_WRONG])
def test_gram_matrix_mistakes(fn, hint, capsys):
    _fails_with(check_gram_matrix, fn, capsys, hint)


def _gram_loop_over_positions(F):
    B, C, H, W = F.shape
    G = torch.zeros(B, C, C, dtype=F.dtype, device=F.device)
    for y in range(H):
        for x in range(W):
            f = F[:, :, y, x]  # (B, C)
            G = G + f[:, :, None] * f[:, None, :]
    return G


def _gram_loop_over_channels(F):
    X = F.flatten(2)
    return torch.stack([(X[:, i : i + 1] * X).sum(-1) for i in range(X.shape[1])], dim=1)


def _gram_naive_loops(F):
    B, C, H, W = F.shape
    X = F.reshape(B, C, H * W)
    rows = []
    for b in range(B):
        rows.append(
            torch.stack(
                [torch.stack([sum(X[b, i, k] * X[b, j, k] for k in range(H * W)) for j in range(C)]) for i in range(C)]
            )
        )
    return torch.stack(rows)


def _gram_loop_over_batch(F):
    return torch.stack([f.flatten(1) @ f.flatten(1).T for f in F])


@pytest.mark.parametrize(
    ("fn", "what"),
    [
        (_gram_loop_over_positions, "positions (H, W)"),
        (_gram_loop_over_channels, "channels (C)"),
        (_gram_naive_loops, "positions (H, W) and channels (C)"),
    ],
)
def test_gram_matrix_rejects_python_loops(fn, what, capsys):
    out = _fails_with(check_gram_matrix, fn, capsys, f"Python loop over {what}", "a loop over the batch is fine")
    assert "for " in out  # the offending source line is quoted


def test_gram_matrix_allows_a_loop_over_the_batch(capsys):
    check_gram_matrix(_gram_loop_over_batch)
    assert capsys.readouterr().out.startswith("PASS")


def _style(fn_of_D_N_M):
    def loss(F, A):
        B, N, H, W = F.shape
        return fn_of_D_N_M(gram_matrix(F) - A, N, H * W)

    return loss


STYLE_WRONG = [
    (_style(lambda D, N, M: (D**2).sum()), "missing the normalisation"),
    (_style(lambda D, N, M: 0.5 * (D**2).sum()), "one slide's 1/2 sum (G - A)^2"),
    (_style(lambda D, N, M: (D**2).sum() / (N**2 * M**2)), "missing the factor 1/4"),
    (_style(lambda D, N, M: (D**2).sum() / (4 * N * M)), "both squared"),
    (_style(lambda D, N, M: (D**2).mean()), "don't average them"),
    (_style(lambda D, N, M: (D[0] ** 2).sum() / (4 * N**2 * M**2)), "only the first item"),
    (
        lambda F, A: (
            ((gram_matrix(F) / (F.shape[1] * F.shape[2] * F.shape[3]) - A) ** 2).sum()
            / (4 * F.shape[1] ** 2 * (F.shape[2] * F.shape[3]) ** 2)
        ),
        "A is an UNnormalised Gram matrix",
    ),
    (lambda F, A: (((lambda X: X.transpose(1, 2) @ X)(F.flatten(2)) - A) ** 2).sum(), "not positions"),
]


@pytest.mark.parametrize(("fn", "hint"), STYLE_WRONG, ids=[h[:20] for _, h in STYLE_WRONG])
def test_style_layer_loss_mistakes(fn, hint, capsys):
    out = _fails_with(check_style_layer_loss, fn, capsys, hint)
    assert "(N = 3, M = 20)" in out or "shapes" in out or "not positions" in out


TEXTURE_WRONG = [
    (lambda ch: sum(n * n for n in ch.values()), "count each pair once"),
    (lambda ch: sum(n * (n - 1) // 2 for n in ch.values()), "the diagonal entries G_ii count too"),
    (lambda ch: sum(ch.values()), "not the channels"),
    (lambda ch: (lambda t: t * (t + 1) // 2)(sum(ch.values())), "for EACH layer"),
    (lambda ch: (lambda n: n * (n + 1) // 2)(next(iter(ch.values()))), "not only the first one"),
    (lambda ch: None, "forget the `return`"),
]


@pytest.mark.parametrize(("fn", "hint"), TEXTURE_WRONG, ids=[h[:20] for _, h in TEXTURE_WRONG])
def test_texture_model_size_mistakes(fn, hint, capsys):
    out = _fails_with(check_texture_model_size, fn, capsys, hint)
    assert "852,128" in out  # the first case is Gatys' model, whose size the notebook asserts anyway


def test_texture_model_size_accepts_integral_floats(capsys):
    check_texture_model_size(lambda ch: sum(n * (n + 1) / 2 for n in ch.values()))
    assert capsys.readouterr().out.startswith("PASS")


def _total_swapped(ct, st, alpha, beta, cw, sw):
    return total_loss(ct, st, beta, alpha, cw, sw)


def _total_unweighted(ct, st, alpha, beta, cw, sw):
    return alpha * sum(ct.values()) + beta * sum(st.values())


def _total_zipped(ct, st, alpha, beta, cw, sw):
    return alpha * sum(w * t for w, t in zip(cw.values(), ct.values())) + beta * sum(
        w * t for w, t in zip(sw.values(), st.values())
    )


def _total_mean(ct, st, alpha, beta, cw, sw):
    return (
        total_loss(ct, st, alpha, beta, cw, sw) * 0
        + alpha * sum(cw[k] * v for k, v in ct.items()) / len(ct)
        + beta * sum(sw[k] * v for k, v in st.items()) / len(st)
    )


def _total_item(ct, st, alpha, beta, cw, sw):
    return torch.tensor(total_loss(ct, st, alpha, beta, cw, sw).detach().item())


def _total_style_only(ct, st, alpha, beta, cw, sw):
    return beta * sum(sw[k] * v for k, v in st.items())


TOTAL_WRONG = [
    (_total_swapped, "alpha and beta are swapped"),
    (_total_unweighted, "use the per-layer weights"),
    (_total_zipped, "zipping two dicts"),
    (_total_mean, "don't average"),
    (_total_item, "detached from the autograd graph"),
    (_total_style_only, "include both terms"),
    (
        lambda ct, st, a, b, cw, sw: a * sum(cw[k] * v for k, v in ct.items()) + b * sum(st.values()),
        "use the per-layer style weights",
    ),
    (
        lambda ct, st, a, b, cw, sw: a * sum(ct.values()) + b * sum(sw[k] * v for k, v in st.items()),
        "use the per-layer content weights",
    ),
]


@pytest.mark.parametrize(("fn", "hint"), TOTAL_WRONG, ids=[h[:24] for _, h in TOTAL_WRONG])
def test_total_loss_mistakes(fn, hint, capsys):
    _fails_with(check_total_loss, fn, capsys, hint)


def test_total_loss_gradient_reaches_every_term():
    """What the check's "detached" test protects: the terms get alpha * wc_l and beta * w_l."""
    ct = {"conv4_2": torch.tensor(2.0, requires_grad=True)}
    st = {"conv1_1": torch.tensor(3.0, requires_grad=True), "conv2_1": torch.tensor(4.0, requires_grad=True)}
    total_loss(ct, st, 0.5, 10.0, {"conv4_2": 2.0}, {"conv2_1": 0.25, "conv1_1": 0.75}).backward()
    assert (ct["conv4_2"].grad.item(), st["conv1_1"].grad.item(), st["conv2_1"].grad.item()) == (1.0, 7.5, 2.5)


def _dh(img):
    return img[..., 1:, :] - img[..., :-1, :]


def _dw(img):
    return img[..., :, 1:] - img[..., :, :-1]


TV_WRONG = [
    (lambda img: _dh(img).abs().sum() + _dw(img).abs().sum(), "don't take absolute values"),
    (lambda img: (_dh(img) ** 2).sum(), "only the vertical one"),
    (lambda img: (_dw(img) ** 2).sum(), "only the horizontal one"),
    (lambda img: (_dh(img) ** 2).mean() + (_dw(img) ** 2).mean(), "don't average"),
    (
        lambda img: ((torch.roll(img, -1, 2) - img) ** 2).sum() + ((torch.roll(img, -1, 3) - img) ** 2).sum(),
        "don't wrap around",
    ),
    (lambda img: (_dh(img[:1]) ** 2).sum() + (_dw(img[:1]) ** 2).sum(), "only the first image"),
    (lambda img: (_dh(img)[..., :, :-1] ** 2 + _dw(img)[..., :-1, :] ** 2).sqrt().sum(), "no square root"),
]


@pytest.mark.parametrize(("fn", "hint"), TV_WRONG, ids=[h[:20] for _, h in TV_WRONG])
def test_tv_loss_mistakes(fn, hint, capsys):
    _fails_with(check_tv_loss, fn, capsys, hint)


def _tv_loops(img):
    B, C, H, W = img.shape
    total = img.new_zeros(())
    for i in range(H - 1):
        total = total + ((img[:, :, i + 1, :] - img[:, :, i, :]) ** 2).sum()
    for j in range(W - 1):
        total = total + ((img[:, :, :, j + 1] - img[:, :, :, j]) ** 2).sum()
    return total


def _tv_while_loop(img):
    total, i = img.new_zeros(()), 0
    while i < img.shape[2] - 1:
        total = total + ((img[:, :, i + 1] - img[:, :, i]) ** 2).sum()
        i += 1
    return total + (_dw(img) ** 2).sum()


@pytest.mark.parametrize("fn", [_tv_loops, _tv_while_loop])
def test_tv_loss_rejects_python_loops(fn, capsys):
    out = _fails_with(check_tv_loss, fn, capsys, "not vectorised", "Python loop over positions")
    assert "line " in out


def test_a_raised_exception_is_a_readable_fail(capsys):
    out = _fails_with(
        check_gram_matrix,
        lambda F: F.transpose(2, 3).view(F.shape[0], F.shape[1], -1) @ F.flatten(2).transpose(1, 2),
        capsys,
        "your function raised an exception",
        "RuntimeError",
        "use .reshape(...)",
    )
    assert "input:" in out


def test_passing_a_value_instead_of_the_function_fails(capsys):
    F = torch.randn(1, 2, 3, 3)
    _fails_with(check_gram_matrix, gram_matrix(F), capsys, "without calling it")


# ----------------------------------------------------------------------------------------------
# Stubs: "not implemented yet", no exception


def _stub(*args, **kwargs):
    raise NotImplementedError("Exercise: stub — replace this line with your code")


@pytest.mark.parametrize("check", [c for c, _ in REFERENCES], ids=IDS)
def test_stub_reports_not_implemented_without_raising(check, capsys):
    check(_stub)
    out = capsys.readouterr().out
    assert "not implemented yet" in out and "FAIL" not in out and "PASS" not in out
    assert grading.results()[check.__name__.removeprefix("check_")].status == grading.NOT_IMPLEMENTED


@pytest.mark.parametrize(
    ("var", "value"),
    [("NBGRADER_EXECUTION", "autograde"), ("NBGRADER_EXECUTION", "validate"), ("NSTLIB_GRADING_STRICT", "1")],
)
def test_stub_scores_zero_under_autograde(var, value, monkeypatch, capsys):
    """nbgrader autograde awards a check cell's points when it does not raise: a stub must raise there."""
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("NSTLIB_GRADING_STRICT", raising=False)
    monkeypatch.setenv(var, value)
    assert grading.strict() and nstlib.config.grading_strict()
    with pytest.raises(AssertionError, match="not implemented"):
        check_tv_loss(_stub)
    assert "not implemented yet" in capsys.readouterr().out
    check_tv_loss(tv_loss)  # a solution still passes
    monkeypatch.delenv(var)
    assert not grading.strict()


def test_style_loss_using_an_unimplemented_gram_is_not_implemented(capsys):
    def my_gram(F):
        raise NotImplementedError("Exercise: gram_matrix — replace this line with your code")

    check_style_layer_loss(lambda F, A: ((my_gram(F) - A) ** 2).sum())
    out = capsys.readouterr().out
    assert "not implemented yet" in out and "gram_matrix" in out


# ----------------------------------------------------------------------------------------------
# The references inside grading.py against independent oracles


def test_receptive_field_reference_matches_the_vgg19_table():
    table = nstlib.receptive_field_table("vgg19")
    rows = list(table)
    kernels = [r.kernel for r in rows]
    strides = [r.layer_stride for r in rows]
    sizes = dict(zip([r.layer for r in rows], _rf_reference(kernels, strides)))
    assert [sizes[n] for n in ("conv1_1", "pool1", "conv2_1", "conv3_1", "conv4_2", "conv5_1", "pool5")] == [
        3,
        6,
        10,
        24,
        84,
        156,
        268,
    ]
    assert [r.size for r in rows] == _rf_reference(kernels, strides)


def test_texture_model_sizes_of_gatys_are_the_papers():
    assert texture_model_size(_vgg19_channels("convs_and_pools")) == 852_128
    assert texture_model_size(_vgg19_channels("conv1_1_and_pools")) == 176_640
    assert len(_vgg19_channels("convs_and_pools")) == 16 + 4 - 4  # conv1_1..conv4_4 (12) + pool1..pool4


def test_texture_channels_match_the_encoder(encoder):
    F = encoder(torch.rand(1, 3, 32, 32), layers=list(_vgg19_channels("convs_and_pools")))
    assert {name: f.shape[1] for name, f in F.items()} == _vgg19_channels("convs_and_pools")


def test_gram_reference_matches_a_naive_loop():
    F = torch.randn(2, 3, 2, 3, dtype=torch.float64)
    G = _gram_np(F.numpy())
    for b, i, j in itertools.product(range(2), range(3), range(3)):
        assert G[b, i, j] == pytest.approx(sum(float(F[b, i].flatten()[k] * F[b, j].flatten()[k]) for k in range(6)))


def test_opcode_count_is_independent_of_size_for_vectorised_code():
    """Warm counts (grading._loops._work): on Python >= 3.12 an unwarmed first traced call counts 0."""

    def make(*shape: int) -> torch.Tensor:
        return torch.randn(*shape)

    counts = {
        grading._loops._work(gram_matrix, lambda s=s: (make(*s),))[0]
        for s in [(2, 3, 4, 5), (2, 3, 8, 10), (2, 6, 4, 5)]
    }
    assert len(counts) == 1 and counts.pop() > 0
    small = grading._loops._work(_gram_loop_over_positions, lambda: (make(2, 3, 4, 5),))[0]
    large = grading._loops._work(_gram_loop_over_positions, lambda: (make(2, 3, 8, 10),))[0]
    assert large > small + 200


# ----------------------------------------------------------------------------------------------
# report()


def test_report_lists_the_session_and_scores(capsys):
    check_gram_matrix(gram_matrix)
    check_tv_loss(_stub)
    with pytest.raises(AssertionError):
        check_content_loss(lambda F, P: ((F - P) ** 2).sum())
    capsys.readouterr()
    grading.report()
    out = capsys.readouterr().out
    assert "Exercises checked in this session" in out
    lines = {line.split()[-1]: line for line in out.splitlines()}
    assert "PASS" in next(l for l in out.splitlines() if " gram_matrix " in l)
    assert "not implemented yet" in next(l for l in out.splitlines() if " tv_loss " in l)
    assert "FAIL" in next(l for l in out.splitlines() if " content_loss " in l)
    assert "Score: 1/3 points (1/3 exercises pass)." in out
    del lines


@pytest.mark.parametrize("notebook", ["03", 3, "03_style_reconstruction", "notebooks/03_style_reconstruction.ipynb"])
def test_report_for_a_notebook_shows_unrun_exercises(notebook, capsys):
    check_gram_matrix(gram_matrix)
    capsys.readouterr()
    grading.report(notebook)
    out = capsys.readouterr().out
    assert "03_style_reconstruction" in out
    assert "not run" in next(l for l in out.splitlines() if " style_layer_loss " in l)
    assert "not run" in next(l for l in out.splitlines() if " grad_style_layer " in l)
    # 1 point of 9: gram_matrix 1, style_layer_loss 1, measure_layer_equality 1, style_loss 2,
    # grad_style_layer 3, predict_structure_size 1
    assert "Score: 1/9 points (1/6 exercises pass)." in out


def test_report_all_pass_and_empty_session(capsys):
    grading.report()
    assert "none yet" in capsys.readouterr().out
    check_receptive_field_sizes(receptive_field_sizes)
    check_conv1_1_parameters(conv1_1_parameters)
    capsys.readouterr()
    grading.report("01")
    out = capsys.readouterr().out
    assert "Score: 2/2" in out and "well done" in out
    with pytest.raises(ValueError, match="known notebooks"):
        grading.report("99")


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("NBGRADER_EXECUTION", "feedback"),
        ("NBGRADER_EXECUTION", ""),
        ("NSTLIB_GRADING_STRICT", "0"),
        ("NSTLIB_GRADING_STRICT", "no"),
    ],
)
def test_other_settings_are_not_strict(var, value, monkeypatch, capsys):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("NSTLIB_GRADING_STRICT", raising=False)
    monkeypatch.setenv(var, value)
    assert not nstlib.config.grading_strict()
    check_tv_loss(_stub)  # prints, does not raise
    assert "not implemented yet" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# The checks are data: every wrong variant is detected with its own hint; a new record is a new check


@pytest.mark.parametrize("spec", [s for s in grading.SPECS if s.wrong], ids=lambda s: s.id)
def test_every_wrong_variant_is_detected_with_its_hint(spec):
    """What a student who makes one of the known mistakes sees: the first case on which that mistake's output
    differs from the reference FAILs, and the hint is that mistake's (not an earlier variant's, not the default)."""
    cases = build_cases(spec)
    for index, (hint, _) in enumerate(spec.wrong):
        for case in cases:
            try:
                value = np.asarray(case.variants[index][1](), dtype=np.float64)
            except Exception:
                continue
            if _close(value, case.expected(), case.rtol):
                continue  # this case cannot tell the mistake apart: the student passes it
            assert _diagnose(value, case.variants, case.rtol, "<default hint>") == hint, (index, hint)
            break
        else:
            pytest.fail(f"wrong variant {index} is never detected: {hint}")


def test_every_record_has_its_check_and_its_exercise():
    assert [s.exercise for s in grading.SPECS] == list(grading.EXERCISES)
    for spec in grading.SPECS:
        check = getattr(grading, f"check_{spec.id}")
        assert check.__name__ == f"check_{spec.id}" and check.spec is spec and check.__doc__ == spec.doc
        assert spec.doc.startswith("Check ") and spec.notebook in {e.notebook for e in grading.EXERCISES}


DOUBLE = Spec(  # a check written from scratch: adding a check is adding a record
    id="double",
    notebook="00_demo",
    title="twice the input",
    signature="double(x)",
    inputs=[(grading._values.Rand((2, 3), 1, grad=True),), (grading._values.Rand((4,), 2, torch.float64, grad=True),)],
    reference=lambda x: 2 * x,
    wrong=[("twice, not squared.", lambda x: x**2), ("twice, not plus two.", lambda x: x + 2)],
    output=lambda out, case, where: out.detach().double().cpu().numpy(),
    default_hint="multiply by two.",
    summary="{n} cases doubled.",
)


def test_a_new_record_is_a_working_check(capsys):
    check_double = checker(DOUBLE)
    check_double(lambda x: 2 * x)
    assert capsys.readouterr().out == "PASS  double: 2 cases doubled.\n"
    for fn, hint in [
        (lambda x: x * x, "twice, not squared."),
        (lambda x: x + 2, "twice, not plus two."),
        (lambda x: 3 * x, "multiply by two."),
    ]:
        with pytest.raises(AssertionError):
            check_double(fn)
        out = capsys.readouterr().out
        assert out.startswith("FAIL  double: wrong value (test case 1 of 2)") and f"hint:     {hint}" in out, out
        assert "input:    x = float32 tensor of shape (2, 3), requires_grad" in out
    check_double(_stub)
    assert capsys.readouterr().out.startswith("not implemented yet  double")
    assert grading.results()["double"].status == grading.NOT_IMPLEMENTED


def _pop_last(kernels, strides):
    kernels.pop()
    return receptive_field_sizes(kernels, strides) + [0]


@pytest.mark.parametrize(
    ("check", "fn"),
    [
        (check_receptive_field_sizes, _pop_last),
        (check_receptive_field_sizes, lambda k, s: (k.sort(), receptive_field_sizes(k, s))[1]),
        (check_texture_model_size, lambda ch: (ch.pop(next(iter(ch))), texture_model_size(ch))[1]),
        (check_total_loss, lambda ct, st, a, b, cw, sw: (cw.update(conv4_2=0.0), total_loss(ct, st, a, b, cw, sw))[1]),
        (check_content_loss, lambda F, P: (P.mul_(0), content_loss(F, P))[1]),
    ],
    ids=["list-pop", "list-sort", "dict-pop", "weights-dict", "tensor"],
)
def test_modifying_an_input_fails(check, fn, capsys):
    out = _fails_with(check, fn, capsys, "your function modified its input")
    assert "read them" in out or "in place" in out
