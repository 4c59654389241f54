"""The pipeline exercises (issue 14): references and other right solutions pass, plausible mistakes fail
with the hint that names them, stubs report "not implemented yet".

The checks' own references are checked here against independent oracles: nstlib.losses, autograd,
nstlib.VGG19Features (the library's encoder, loaded with the same torchvision weights),
nstlib.receptive_field_table and nstlib.control.layer_masks.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nstlib
import nstlib.control
from nstlib import grading
from nstlib.grading import (
    answer_checks,
    check_extract_features,
    check_grad_style_layer,
    check_masked_gram_matrix,
    check_match_reconstructions,
    check_run_lbfgs,
    check_style_loss,
    feature_checks,
    gram_checks,
    loss_checks,
    optim_checks,
)
from nstlib.grading._core import build_cases
from tests.grading_helpers import (
    fails,
    fresh_registry,  # noqa: F401  (an autouse fixture: importing it activates it)
)
from tests.grading_helpers import passes as _passes


def _fails_with(check, fn, capsys, *parts) -> str:
    out = fails(check, fn, capsys, *parts)
    name = check.__name__.removeprefix("check_")
    assert out.startswith(f"FAIL  {name}"), out
    assert grading.results()[name].status == grading.FAIL
    return out


def _gram(F):
    X = F.flatten(2)
    return X @ X.transpose(1, 2)


# ----------------------------------------------------------------------------------------------
# style_loss(features, targets, weights)


def style_loss(features, targets, weights):
    total = 0.0
    for name, w in weights.items():
        F = features[name]
        B, N, H, W = F.shape
        M = H * W
        total = total + w * ((_gram(F) - targets[name]) ** 2).sum() / (4 * N**2 * M**2)
    return total


def style_loss_with_library(features, targets, weights):
    return sum(w * nstlib.style_layer_loss(features[n], targets[n]) for n, w in weights.items())


def _style_variant(*, four=4, pn=2, pm=2, weighted=True, zipped=False, average=False, first_nm=False, mean=False):
    def fn(features, targets, weights):
        names = [n for n in features if n in weights] if zipped else list(weights)
        ws = list(weights.values()) if zipped else [weights[n] for n in names]
        first = features[next(iter(weights))]
        total = 0.0
        for name, w in zip(names, ws):
            F = features[name]
            _, N, H, W = (first if first_nm else F).shape
            D2 = (_gram(F) - targets[name]) ** 2
            E = (D2.mean() if mean else D2.sum()) / (four * N**pn * (H * W) ** pm)
            total = total + (w if weighted else 1.0) * E
        return total / len(weights) if average else total

    return fn


def _style_over_all_features(features, targets, weights):
    return sum(weights.get(n, 1.0) * nstlib.style_layer_loss(F, targets[n]) for n, F in features.items())


STYLE_WRONG = [
    (_style_variant(four=1), "missing the factor 1/4"),
    (_style_variant(pm=1), "M_l must be squared"),
    (_style_variant(pn=1), "N_l must be squared"),
    (_style_variant(weighted=False), "multiply each layer's E_l by its weight"),
    (_style_variant(zipped=True), "zipping the weights with the features"),
    (_style_variant(average=True), "don't average"),
    (_style_variant(first_nm=True), "not from the first layer's"),
    (_style_variant(mean=True), "don't average them"),
    (_style_variant(four=1, pn=0, pm=0), "missing the normalisation"),
    (_style_over_all_features, "content layer conv4_2"),
    (lambda f, t, w: style_loss(f, t, w).item(), "not a Python number"),
]


def test_style_loss_right_solutions_pass(capsys):
    _passes(check_style_loss, style_loss, capsys)
    _passes(check_style_loss, style_loss_with_library, capsys)


@pytest.mark.parametrize(("fn", "hint"), STYLE_WRONG, ids=[h[:24] for _, h in STYLE_WRONG])
def test_style_loss_mistakes(fn, hint, capsys):
    _fails_with(check_style_loss, fn, capsys, hint)


def test_style_loss_reference_matches_the_library():
    for case in build_cases(loss_checks.STYLE_LOSS):
        features, targets, weights = case.args
        lib = sum(w * nstlib.style_layer_loss(features[n].double(), targets[n].double()) for n, w in weights.items())
        assert float(case.expected()) == pytest.approx(float(lib.detach()), rel=1e-5)


# ----------------------------------------------------------------------------------------------
# grad_style_layer(F, A)


def grad_style_layer(F, A):
    B, N, H, W = F.shape
    M = H * W
    X = F.reshape(B, N, M)
    G = X @ X.transpose(1, 2)
    return ((G - A) @ X / (N**2 * M**2)).reshape(B, N, H, W)


def grad_style_layer_einsum(F, A):
    """Right, written differently: per entry, sum_j (G - A)_ij F_jk, with the factors kept apart."""
    B, N, H, W = F.shape
    M = H * W
    X = F.flatten(2)
    D = torch.einsum("bik,bjk->bij", X, X) - A
    dE_dG = 2 * D / (4 * N**2 * M**2)  # from the square
    dE_dX = torch.einsum("bij,bjk->bik", dE_dG + dE_dG.transpose(1, 2), X)  # dG = dX X^T + X dX^T
    return dE_dX.view(B, N, H, W)


def _grad_with_autograd(F, A):
    x = F.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(nstlib.style_layer_loss(x, A), x)
    return g


GRAD_WRONG = [
    (lambda F, A: grad_style_layer(F, A) / 2, "one factor of 2 is missing"),
    (lambda F, A: grad_style_layer(F, A) / 4, "two factors of 2 are missing"),
    (
        lambda F, A: (A @ F.flatten(2) / (F.shape[1] ** 2 * (F.shape[2] * F.shape[3]) ** 2)).reshape(F.shape),
        "not A alone",
    ),
    (lambda F, A: -grad_style_layer(F, A), "that is -dE/dF"),
    (
        lambda F, A: (
            (F.flatten(2).transpose(1, 2) @ (_gram(F) - A)).reshape(F.shape)
            / (F.shape[1] ** 2 * (F.shape[2] * F.shape[3]) ** 2)
        ),
        "you computed F^T (G - A)",
    ),
    (lambda F, A: (_gram(F) - A) @ F.flatten(2), "reshape the (B, N, M) result"),
    (
        lambda F, A: grad_style_layer(F, A) * (F.shape[1] ** 2 * (F.shape[2] * F.shape[3]) ** 2),
        "the normalisation is missing",
    ),
    (_grad_with_autograd, "derive dE/dF by hand"),
    (lambda F, A: grad_style_layer(F, A) / F.shape[0], "don't divide by B"),  # the first case's B is 3, not 2
]


def test_grad_style_layer_right_solutions_pass(capsys):
    _passes(check_grad_style_layer, grad_style_layer, capsys)
    _passes(check_grad_style_layer, grad_style_layer_einsum, capsys)


@pytest.mark.parametrize(("fn", "hint"), GRAD_WRONG, ids=[h[:24] for _, h in GRAD_WRONG])
def test_grad_style_layer_mistakes(fn, hint, capsys):
    _fails_with(check_grad_style_layer, fn, capsys, hint)


def test_grad_reference_matches_the_library_gradient():
    """The check's autograd-of-a-naive-formula reference against autograd through nstlib.style_layer_loss."""
    for case in build_cases(gram_checks.GRAD_STYLE_LAYER):
        F, A = (t.double().cpu() for t in case.args)
        x = F.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(nstlib.style_layer_loss(x, A), x)
        np.testing.assert_allclose(case.expected(), g.numpy(), rtol=1e-7, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# masked_gram_matrix(F, mask)


def masked_gram_matrix(F, mask):
    m = TF.adaptive_avg_pool2d(mask, F.shape[-2:])  # (1 or B, 1, h, w)
    X = (F * m).flatten(2)
    return (X @ X.transpose(1, 2)) / (m**2).sum(dim=(1, 2, 3)).expand(F.shape[0])[:, None, None]


def masked_gram_matrix_avgpool(F, mask):
    s = mask.shape[-1] // F.shape[-1]
    m = TF.avg_pool2d(mask, s) if s > 1 else mask
    Fm = F * m
    G = torch.einsum("bihw,bjhw->bij", Fm, Fm)
    z = (m * m).flatten(1).sum(1)
    return G / z.reshape(-1, 1, 1)


def _masked(down="area", norm="m2", both=True):
    def fn(F, mask):
        s = mask.shape[-1] // F.shape[-1]
        if down == "area":
            m = TF.adaptive_avg_pool2d(mask, F.shape[-2:])
        elif down == "nearest":
            m = mask[..., ::s, ::s]
        else:
            m = TF.max_pool2d(mask, s)
        m = m.expand(F.shape[0], -1, -1, -1)
        X = (F * m).flatten(2)
        Y = X if both else F.flatten(2)
        G = X @ Y.transpose(1, 2)
        z = {
            "m2": (m**2).flatten(1).sum(1),
            "m": m.flatten(1).sum(1),
            "M": torch.full((F.shape[0],), float(m[0].numel()), dtype=F.dtype, device=F.device),
            "none": torch.ones(F.shape[0], dtype=F.dtype, device=F.device),
            "batch": (m**2).sum().expand(F.shape[0]),
        }[norm]
        return G / z[:, None, None]

    return fn


MASKED_WRONG = [
    (_masked(down="nearest"), "don't pick one pixel per block"),
    (_masked(down="max"), "don't take its maximum"),
    (_masked(norm="m"), "not sum m: then constant features"),
    (_masked(norm="M"), "not by the whole map's size"),
    (_masked(norm="none"), "does not depend on the region's size"),
    (_masked(norm="batch"), "not over the batch"),
    (_masked(both=False), "mask BOTH factors"),
    (lambda F, mask: _gram(F * mask), "downsample it to the layer's map first"),
    (lambda F, mask: masked_gram_matrix(F, mask).detach(), "detached from the autograd graph"),
]


def test_masked_gram_right_solutions_pass(capsys):
    _passes(check_masked_gram_matrix, masked_gram_matrix, capsys)
    _passes(check_masked_gram_matrix, masked_gram_matrix_avgpool, capsys)


@pytest.mark.parametrize(("fn", "hint"), MASKED_WRONG, ids=[h[:24] for _, h in MASKED_WRONG])
def test_masked_gram_mistakes(fn, hint, capsys):
    _fails_with(check_masked_gram_matrix, fn, capsys, hint)


def test_masked_gram_reference_constant_features_give_one_and_library_mask_agrees():
    """The property the exercise states, and the downsampling against nstlib.control.layer_masks."""
    for case in build_cases(gram_checks.MASKED_GRAM):
        F, mask = case.args
        f1 = np.ones(F.shape)
        G = gram_checks._masked_gram64(f1, mask.double().cpu().numpy())
        np.testing.assert_allclose(G, np.ones_like(G), rtol=1e-12)
    mask = torch.rand(1, 1, 32, 24, dtype=torch.float64)
    lib = nstlib.control.layer_masks(mask, ["conv3_1"], 32, 24)["conv3_1"].double()  # (1, 1, 8, 6)
    np.testing.assert_allclose(gram_checks._area_down(mask.numpy(), 8, 6), lib.numpy(), rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# extract_features(model, image, layers)

NAMES = list(nstlib.LAYER_NAMES)
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def extract_features(model, image, layers):
    """Reference: forward hooks storing copies, removed in `finally`."""
    x = (image - MEAN.to(image)) / STD.to(image)
    feats, handles = {}, []
    wanted = set(layers)
    try:
        for name, module in zip(NAMES, model):
            if name in wanted:
                handles.append(
                    module.register_forward_hook(lambda mod, inp, out, name=name: feats.__setitem__(name, out.clone()))
                )
        model(x)
    finally:
        for h in handles:
            h.remove()
    return {name: feats[name] for name in layers}


def extract_features_loop(model, image, layers):
    """Right without hooks: run the modules one by one, ReLU out of place, stop after the deepest layer."""
    x = (image - MEAN.to(image)) / STD.to(image)
    out, deepest = {}, max(NAMES.index(n) for n in layers)
    for i, (name, module) in enumerate(zip(NAMES, model)):
        x = torch.relu(x) if isinstance(module, torch.nn.ReLU) else module(x)
        if name in layers:
            out[name] = x
        if i == deepest:
            break
    return {n: out[n] for n in layers}


def _hooks(*, clone=True, remove=True, normalise=True, offset=0, detach=False, store=None):
    def fn(model, image, layers, _store=store):
        x = (image - MEAN.to(image)) / STD.to(image) if normalise else image
        feats = {} if _store is None else _store
        handles = []
        for i, module in enumerate(model):
            name = NAMES[i - offset] if 0 <= i - offset < len(NAMES) else None
            if name in layers:

                def hook(mod, inp, out, name=name):
                    value = out.clone() if clone else out
                    feats[name] = value.detach() if detach else value

                handles.append(module.register_forward_hook(hook))
        model(x)
        if remove:
            for h in handles:
                h.remove()
        return feats if _store is not None else {n: feats[n] for n in layers}

    return fn


def _extract_no_grad(model, image, layers):
    with torch.no_grad():
        return extract_features_loop(model, image, layers)


def _extract_everything(model, image, layers):
    x = (image - MEAN.to(image)) / STD.to(image)
    out = {}
    for name, module in zip(NAMES, model):
        x = torch.relu(x) if isinstance(module, torch.nn.ReLU) else module(x)
        out[name] = x
    return out


EXTRACT_WRONG = [
    (_hooks(clone=False), "the in-place ReLU trap"),
    (_hooks(normalise=False), "normalise the image first"),
    (_hooks(clone=False, normalise=False), "two mistakes"),
    (_hooks(offset=1), "off by one"),
    (_hooks(remove=False), "hooks are still attached"),
    (_hooks(store={}), "build a new dict inside the function at every call"),
    (_hooks(detach=True), "detached from the autograd graph"),
    (_extract_no_grad, "torch.no_grad()"),
    (_extract_everything, "return only the requested layers"),
]


def test_extract_features_right_solutions_pass(capsys):
    _passes(check_extract_features, extract_features, capsys)
    _passes(check_extract_features, extract_features_loop, capsys)


@pytest.mark.parametrize(("fn", "hint"), EXTRACT_WRONG, ids=[h[:24] for _, h in EXTRACT_WRONG])
def test_extract_features_mistakes(fn, hint, capsys):
    _fails_with(check_extract_features, fn, capsys, hint)


def test_extract_reference_matches_the_library_encoder():
    """The check's functional walk and names against nstlib.VGG19Features loaded with the same weights."""
    model = feature_checks._torchvision_vgg19_features()
    assert feature_checks._gatys_names(model) == NAMES
    enc = nstlib.VGG19Features(weights="random", precision="fp32", device="cpu")
    enc.load_torchvision_state_dict(model.state_dict())
    enc.channels_last = False
    image = torch.rand(1, 3, 32, 32)
    walked = feature_checks._walk(model, (image.double() - MEAN.double()) / STD.double())
    ours = enc(image, ["conv1_1", "relu2_1", "conv4_2", "pool5"])
    for name, f in ours.items():
        np.testing.assert_allclose(
            walked[NAMES.index(name)], f.double().numpy(), rtol=1e-3, atol=1e-4 * np.abs(f.numpy()).max()
        )


# ----------------------------------------------------------------------------------------------
# run_lbfgs(objective, x0, steps)


def run_lbfgs(objective, x0, steps):
    """Reference: one L-BFGS budget of exactly `steps` evaluations, re-armed if it stops early."""
    x = x0.detach().clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], max_iter=steps, max_eval=steps, tolerance_grad=-1, tolerance_change=-1)
    best = {"loss": float("inf"), "image": x.detach().clone()}
    count = 0

    def closure():
        nonlocal count
        with torch.no_grad():
            x.clamp_(0, 1)
        opt.zero_grad()
        loss = objective(x)
        loss.backward()
        count += 1
        if loss.item() < best["loss"]:
            best.update(loss=loss.item(), image=x.detach().clone())
        return loss

    while count < steps:
        left = steps - count
        opt.param_groups[0].update(max_iter=left, max_eval=left)
        opt.step(closure)
    return best["image"]


def run_lbfgs_one_eval_per_step(objective, x0, steps):
    """Right, another way: max_iter=1 makes each opt.step evaluate once."""
    x = x0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], max_iter=1)
    best_loss, best = None, None

    def closure():
        nonlocal best_loss, best
        x.data.clamp_(0, 1)
        x.grad = None
        loss = objective(x)
        loss.backward()
        if best_loss is None or loss.item() < best_loss:
            best_loss, best = loss.item(), x.detach().clone()
        return loss

    for _ in range(steps):
        opt.step(closure)
    return best


def _lbfgs(
    *,
    ret="best",
    clamp=True,
    zero=True,
    per_step_default=False,
    single=False,
    in_place=False,
    copy=True,
    one_per_step=False,
):
    def fn(objective, x0, steps):
        x = x0.requires_grad_(True) if in_place else x0.clone().requires_grad_(True)
        if one_per_step:
            opt = torch.optim.LBFGS([x], max_iter=1)
        elif per_step_default or single:
            opt = torch.optim.LBFGS([x])
        else:
            opt = torch.optim.LBFGS([x], max_iter=steps, max_eval=steps, tolerance_grad=-1, tolerance_change=-1)
        state = {"n": 0, "best": None, "loss": float("inf"), "last": None}

        def closure():
            if clamp:
                with torch.no_grad():
                    x.clamp_(0, 1)
            if zero:
                opt.zero_grad()
            loss = objective(x)
            loss.backward()
            state["n"] += 1
            state["last"] = x.detach().clone()
            if loss.item() < state["loss"]:
                state["loss"], state["best"] = loss.item(), (x.detach().clone() if copy else x)
            return loss

        if per_step_default or one_per_step:
            for _ in range(steps):
                opt.step(closure)
        elif single:
            opt.step(closure)
        else:
            while state["n"] < steps:
                opt.step(closure)
        if ret == "last":
            return state["last"]
        if ret == "x":
            return x.detach().clone()
        if ret == "grad":
            return state["best"].requires_grad_(True)
        return state["best"].detach() if not copy else state["best"]

    return fn


LBFGS_WRONG = [
    (_lbfgs(ret="last"), "that is the LAST evaluated image"),
    (_lbfgs(ret="x", one_per_step=True), "that is x after the loop"),
    (_lbfgs(copy=False, one_per_step=True), "storing x itself keeps a reference"),
    (
        _lbfgs(ret="x"),
        "that is the LAST evaluated image",
    ),  # with max_iter=max_eval=steps, x ends at the last evaluation
    (_lbfgs(clamp=False), "clamp the image to [0, 1] in place"),
    (_lbfgs(zero=False), "gradients accumulate"),
    (_lbfgs(per_step_default=True), "calling it `steps` times evaluates far too often"),
    (_lbfgs(single=True), "loop until the budget is used"),
    (_lbfgs(in_place=True), "optimise a copy"),
    (_lbfgs(ret="grad"), "still requires grad"),
    (lambda objective, x0, steps: x0.clone(), "never called objective"),
]


def test_run_lbfgs_right_solutions_pass(capsys):
    out = _passes(check_run_lbfgs, run_lbfgs, capsys)
    assert "exactly `steps` evaluations" in out
    _passes(check_run_lbfgs, run_lbfgs_one_eval_per_step, capsys)


@pytest.mark.parametrize(("fn", "hint"), LBFGS_WRONG, ids=[h[:24] for _, h in LBFGS_WRONG])
def test_run_lbfgs_mistakes(fn, hint, capsys):
    _fails_with(check_run_lbfgs, fn, capsys, hint)


def test_run_lbfgs_objective_makes_best_and_last_differ():
    """The recording objective's constant bumps: the best evaluation is never among the last three."""
    for case in optim_checks._lbfgs_cases():
        obj, x0, steps = case.args
        run_lbfgs(obj, x0, steps)
        losses = obj.losses
        assert len(losses) == steps and int(np.argmin(losses)) < steps - 3
        # the bump has no gradient: the recorded loss minus the quadratic is the constant
        w, t = obj.w, obj.t
        for k, im in enumerate(obj.images):
            assert losses[k] - float((w * (im - t) ** 2).sum()) == pytest.approx(
                1e3 * (k + 1) if k >= steps - 3 else 0, abs=1e-3
            )


# ----------------------------------------------------------------------------------------------
# match_reconstructions()

ANSWER = {"A": "conv3_2", "B": "conv1_2", "C": "conv5_2", "D": "conv4_2"}  # read from the pictures (test below)


MATCH_WRONG = [  # each with its own hint, which teaches the principle and never names the labels
    ({"A": "conv4_2", "B": "conv5_2", "C": "conv1_2", "D": "conv3_2"}, "the order is reversed"),
    ({"A": "conv1_2", "B": "conv3_2", "C": "conv5_2", "D": "conv4_2"}, "Look at the finest detail"),
    ({"A": "conv4_2", "B": "conv1_2", "C": "conv5_2", "D": "conv3_2"}, "Compare how much of the layout survives"),
    ({"A": "conv3_2", "B": "conv1_2", "C": "conv4_2", "D": "conv5_2"}, "Of the two least detailed pictures"),
    ({"A": "conv3_2", "B": "conv1_1", "C": "conv5_2", "D": "conv4_2"}, "not one of the candidate layers"),
    ({"A": "conv3_2", "B": "conv1_2", "C": "conv3_2", "D": "conv4_2"}, "exactly one picture"),
    ({"A": "conv3_2", "B": "conv1_2", "C": "conv5_2"}, "the labels are A, B, C and D"),
    ({"A": "conv4_2", "B": "conv1_2", "C": "conv3_2", "D": "conv5_2"}, "match that order with the layers' receptive"),
]


def test_match_reconstructions_right_answers_pass(capsys):
    _passes(check_match_reconstructions, lambda: dict(ANSWER), capsys)
    _passes(check_match_reconstructions, {k.lower(): v for k, v in ANSWER.items()}, capsys)


@pytest.mark.parametrize(("answer", "hint"), MATCH_WRONG, ids=[h[:24] for _, h in MATCH_WRONG])
def test_match_reconstructions_mistakes(answer, hint, capsys):
    out = _fails_with(check_match_reconstructions, lambda: answer, capsys, hint)
    hint_line = out[out.index("hint:") :]
    if answer.keys() == ANSWER.keys() and set(answer.values()) == set(ANSWER.values()):  # a full, valid matching
        assert not re.search(r"\b[A-D] and [A-D]\b|\b(pictures?|labels?) [A-D]\b", hint_line)  # no labels named


def test_puzzle_receptive_fields_match_the_library_table():
    table = {r.layer: r.size for r in nstlib.receptive_field_table("vgg19")}
    for layer in ["conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2", "pool3"]:
        assert answer_checks._vgg19_receptive_field(layer) == table[layer]


def test_puzzle_is_solvable_detail_lost_grows_with_depth():
    """The pictures the notebook shows: pixel error to the original grows with the layer's depth, so the
    answer can be read from them (at the sizes the notebook uses, with random weights; < 5 s)."""
    import time

    enc = nstlib.VGG19Features(weights="random", precision="fp32", device="cpu")
    start = time.perf_counter()
    pictures = grading.reconstruction_puzzle("astronaut", encoder=enc)  # the defaults: 40 px, 25 evaluations
    elapsed = time.perf_counter() - start
    original = nstlib.load_image("astronaut", size=40)
    err = {grading.PUZZLE_LAYERS[label]: float(((p - original) ** 2).mean()) for label, p in pictures.items()}
    order = sorted(err, key=err.get)
    assert order == ["conv1_2", "conv3_2", "conv4_2", "conv5_2"], err
    assert err["conv3_2"] > 10 * err["conv1_2"] and err["conv4_2"] > 1.1 * err["conv3_2"], err  # apart
    # with this plain random network conv4_2 and conv5_2 are close (measured x1.05); the notebook's leaky filters
    # (get_encoder(pooling="auto")) set them x1.9 apart at 40 px, and the pictures were looked at there
    assert {grading.PUZZLE_LAYERS[k]: k for k in pictures} == {v: k for k, v in ANSWER.items()}
    assert elapsed < 60, elapsed  # 100 evaluations at 40 px; tens of seconds only on a heavily loaded machine


# ----------------------------------------------------------------------------------------------
# Every new check: a stub is "not implemented yet"; a value instead of a function fails


def _stub(*args, **kwargs):
    raise NotImplementedError("Exercise: stub — replace this line with your code")


NEW_CHECKS = [
    check_extract_features,
    check_style_loss,
    check_grad_style_layer,
    check_run_lbfgs,
    check_match_reconstructions,
    check_masked_gram_matrix,
]


@pytest.mark.parametrize("check", NEW_CHECKS, ids=[c.__name__ for c in NEW_CHECKS])
def test_new_stubs_report_not_implemented(check, capsys):
    check(_stub)
    out = capsys.readouterr().out
    assert "not implemented yet" in out and "FAIL" not in out and "PASS" not in out


def test_new_checks_are_notebook_exercises_and_report_lists_them(capsys):
    """Every new check has its notebook cell now: listed in EXERCISES with its notebook, none pending."""
    ids = {c.__name__.removeprefix("check_") for c in NEW_CHECKS}
    notebooks = {e.id: e.notebook for e in grading.EXERCISES}
    assert ids <= set(notebooks) and not grading.PENDING_EXERCISES
    assert {notebooks[i] for i in ids} == {
        "02_content_reconstruction",
        "03_style_reconstruction",
        "06_going_further",
    }
    grading.reset()
    check_style_loss(style_loss)
    capsys.readouterr()
    grading.report()
    out = capsys.readouterr().out
    assert "PASS" in next(line for line in out.splitlines() if " style_loss " in line)
    assert "Score: 2/2 points (1/1 exercises pass)." in out  # style_loss is worth 2
    grading.report("06")
    out = capsys.readouterr().out
    assert "masked_gram_matrix" in out and "not run" in out
    grading.reset()


def test_passed_is_true_only_after_a_pass(capsys):
    grading.reset()
    assert not grading.passed("style_loss")
    check_style_loss(_stub)  # not implemented yet
    assert not grading.passed("style_loss")
    with pytest.raises(AssertionError):
        check_style_loss(lambda f, t, w: sum(w[k] * 0.0 * f[k].sum() for k in w))  # wrong: always 0
    assert not grading.passed("style_loss")
    check_style_loss(style_loss)
    assert grading.passed("style_loss") and not grading.passed("gram_matrix")
    grading.reset()
    assert not grading.passed("style_loss")
    capsys.readouterr()
