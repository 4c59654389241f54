"""nstlib.student: the capstone transfer built from the student's functions (notebook 05).

- with the library's own functions it reproduces ``nstlib.transfer`` at the same explicit settings
  (measured: bit for bit on the CPU; asserted to 1e-4 of the pixel range);
- with right solutions written the way the notebooks' exercises ask (a different L-BFGS loop
  included) it gives the same picture to within half a grey level;
- a planted wrong function changes the picture visibly (several grey levels);
- its start loss equals Gatys' objective computed here by hand in float64;
- unsolved exercises (the stub's NotImplementedError) are replaced by the library's, and named.
"""

from __future__ import annotations

import pytest
import torch

import nstlib
from nstlib.student import FUNCTIONS, choose_functions, library_functions, student_transfer
from tests.helpers import smooth_image

STYLE_W = {"relu1_1": 0.3, "relu2_1": 0.2, "relu3_1": 0.2, "relu4_1": 0.2, "relu5_1": 0.1}
SETTINGS = dict(content_layers={"relu4_2": 1.0}, style_layers=STYLE_W, tv_weight=30.0, size=40, steps=8, seed=0)
ALPHA, BETA = 1.0, 1e3


@pytest.fixture(scope="module")
def avg_encoder():
    """A float32 random-weight VGG-19 with average pooling on the CPU (what notebook 05 uses)."""
    return nstlib.VGG19Features(weights="random", precision="fp32", device="cpu", pooling="avg")


@pytest.fixture(scope="module")
def images():
    return smooth_image(32, 40, seed=1), smooth_image(32, 32, seed=2)


def library_transfer(encoder, content, style, init):
    """nstlib.transfer with every setting of SETTINGS given explicitly (no balance, no line search, clamp)."""
    key = (id(encoder), init)
    if key not in _RUNS:
        _RUNS[key] = _library_transfer(encoder, content, style, init)
    return _RUNS[key]


_RUNS: dict = {}  # one library run per (encoder, start) for the module: the machine is shared


def _library_transfer(encoder, content, style, init):
    return nstlib.transfer(
        content,
        style,
        encoder=encoder,
        size=SETTINGS["size"],
        steps=SETTINGS["steps"],
        content_weight=ALPHA,
        style_weight=BETA,
        content_layers=SETTINGS["content_layers"],
        style_layers=SETTINGS["style_layers"],
        layer_balance=False,
        tv_weight=SETTINGS["tv_weight"],
        init=init,
        optimizer="lbfgs",
        line_search="none",
        box="clamp",  # the loop of notebook 02's run_lbfgs, as notebook 05's capstone compares
        seed=SETTINGS["seed"],
        progress=False,
    )


def grey_levels(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean |a - b| in grey levels (0..255)."""
    return float((a - b).abs().mean()) * 255


# ------------------------------------------------------------------------------------------------
# Right solutions as a student writes them from the exercises' prompts (independent of nstlib.losses)


def my_content_loss(F, P):
    return 0.5 * ((F - P) ** 2).sum()


def my_gram_matrix(F):
    return torch.einsum("bihw,bjhw->bij", F, F)  # (B, C, C)


def my_style_layer_loss(F, A):
    B, N, H, W = F.shape
    return ((my_gram_matrix(F) - A) ** 2).sum() / (4 * N**2 * (H * W) ** 2)


def my_total_loss(content_terms, style_terms, alpha, beta, content_weights, style_weights):
    content = sum(content_weights[k] * content_terms[k] for k in content_terms)
    style = sum(style_weights[k] * style_terms[k] for k in style_terms)
    return alpha * content + beta * style


def my_tv_loss(img):
    return ((img[:, :, 1:] - img[:, :, :-1]) ** 2).sum() + ((img[..., 1:] - img[..., :-1]) ** 2).sum()


def my_run_lbfgs(objective, x0, steps):  # notebook 04's loop: one evaluation per opt.step, the best image kept
    x = x0.detach().clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], max_iter=1, history_size=20)
    best = [float("inf"), x.detach().clone()]

    def closure():
        with torch.no_grad():
            x.clamp_(0, 1)
        opt.zero_grad()
        loss = objective(x)
        loss.backward()
        if loss.item() < best[0]:
            best[:] = [loss.item(), x.detach().clone()]
        return loss

    for _ in range(steps):
        opt.step(closure)
    return best[1]


MINE = dict(
    content_loss=my_content_loss,
    gram_matrix=my_gram_matrix,
    style_layer_loss=my_style_layer_loss,
    total_loss=my_total_loss,
    tv_loss=my_tv_loss,
    run_lbfgs=my_run_lbfgs,
)


# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("init", ["content", "noise"])
def test_library_functions_reproduce_transfer(avg_encoder, images, init):
    content, style = images
    lib = library_transfer(avg_encoder, content, style, init)
    mine = student_transfer(content, style, encoder=avg_encoder, alpha=ALPHA, beta=BETA, init=init, **SETTINGS)
    assert mine.image.shape == lib.image.shape == (1, 3, 32, 40)
    assert float((mine.image - lib.image).abs().max()) <= 1e-4  # measured: 0 on the CPU (the same operations)
    assert mine.final_loss == pytest.approx(lib.best_loss, rel=1e-5)
    assert mine.start_loss == pytest.approx(lib.history[0]["total"], rel=1e-5)


@pytest.mark.parametrize("init", ["content", "noise"])
def test_right_solutions_paint_the_same_picture(avg_encoder, images, init):
    content, style = images
    lib = library_transfer(avg_encoder, content, style, init)
    losses = {k: v for k, v in MINE.items() if k != "run_lbfgs"}  # the library's loop: the same box
    kw = dict(encoder=avg_encoder, alpha=ALPHA, beta=BETA, init=init, **SETTINGS)
    mine = student_transfer(content, style, **kw, **losses)
    assert grey_levels(mine.image, lib.image) < 0.5
    assert mine.final_loss == pytest.approx(lib.best_loss, rel=1e-3)
    # with the student's loop too (torch.optim.LBFGS, clamp before each evaluation, as box="clamp")
    looped = student_transfer(content, style, **kw, **MINE)
    assert grey_levels(looped.image, lib.image) < 0.5
    assert looped.final_loss < looped.start_loss


def _wrong(name):
    """A plausible mistake in each function (the kind the checks' hints name)."""
    return {
        "content_loss": lambda F, P: ((F - P) ** 2).mean(),  # mean instead of 1/2 sum
        "style_layer_loss": lambda F, A: ((my_gram_matrix(F) - A) ** 2).sum(),  # no 1/(4 N^2 M^2)
        "total_loss": lambda c, s, a, b, wc, ws: my_total_loss(c, s, b, a, wc, ws),  # alpha and beta swapped
        "tv_loss": lambda img: my_tv_loss(img) * 1e3,  # a factor off: TV dominates
    }[name]


@pytest.mark.parametrize("name", ["content_loss", "style_layer_loss", "total_loss", "tv_loss"])
def test_a_wrong_function_changes_the_picture(avg_encoder, images, name):
    content, style = images
    right = library_transfer(avg_encoder, content, style, "noise")  # = the student path with right functions
    wrong = student_transfer(
        content, style, encoder=avg_encoder, alpha=ALPHA, beta=BETA, init="noise", **SETTINGS, **{name: _wrong(name)}
    )
    assert grey_levels(wrong.image, right.image) > 3.0


def test_start_loss_is_gatys_objective_by_hand(avg_encoder, images):
    """L_total at the white-noise start, from the formulas in float64 (the library only computes features)."""
    content, style = images
    res = student_transfer(
        content, style, encoder=avg_encoder, alpha=ALPHA, beta=BETA, init="noise", **{**SETTINGS, "steps": 1}
    )
    x = torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(0))  # the seeded white noise
    fx = {k: v.double() for k, v in avg_encoder(x, ["relu4_2", *STYLE_W]).items()}
    fp = avg_encoder(content, ["relu4_2"])["relu4_2"].double()
    fs = {k: v.double() for k, v in avg_encoder(style, list(STYLE_W)).items()}
    # relu4_2 of 32 x 40 px is 4 x 5 (three poolings); of 512 x 512 px 64 x 64: size factor 4096 / 20
    content_term = (4096 / 20) * 0.5 * ((fx["relu4_2"] - fp) ** 2).sum()
    style_term = 0.0
    for k, w in STYLE_W.items():
        F, S = fx[k][0].flatten(1), fs[k][0].flatten(1)  # (N, M) and (N, M_style)
        N, M = F.shape
        A = (S @ S.T) * M / S.shape[1]  # the style's Gram matrix at the output's number of positions
        style_term = style_term + w * ((F @ F.T - A) ** 2).sum() / (4 * N**2 * M**2)
    xd = x.double()
    tv = ((xd[..., 1:, :] - xd[..., :-1, :]) ** 2).sum() + ((xd[..., 1:] - xd[..., :-1]) ** 2).sum()
    expected = ALPHA * content_term + BETA * style_term + 30.0 * (512 * 512 / (32 * 40)) * tv
    assert res.start_loss == pytest.approx(float(expected), rel=1e-4)


def _stub(*args):
    raise NotImplementedError("Exercise: replace this line with your code")


def test_unsolved_exercises_are_replaced_by_the_librarys():
    chosen, stood_in = choose_functions(
        content_loss=my_content_loss, gram_matrix=_stub, style_layer_loss=_stub, total_loss=None, run_lbfgs=_stub
    )
    assert stood_in == ["gram_matrix", "style_layer_loss", "total_loss", "tv_loss", "run_lbfgs"]
    library = library_functions()
    assert chosen["content_loss"] is my_content_loss
    assert all(chosen[name] is library[name] for name in stood_in)
    assert set(chosen) == set(FUNCTIONS)


def test_style_loss_stands_in_for_an_unsolved_style_layer_loss():
    """Notebook 03's multi-layer style_loss, used for one layer, gives E_l."""

    def style_loss(features, targets, weights):
        return sum(w * my_style_layer_loss(features[k], targets[k]) for k, w in weights.items())

    chosen, stood_in = choose_functions(style_layer_loss=_stub, style_loss=style_loss)
    assert "style_layer_loss" not in stood_in
    F, A = torch.rand(2, 3, 4, 5, dtype=torch.float64), torch.rand(2, 3, 3, dtype=torch.float64)
    G = torch.einsum("bihw,bjhw->bij", F, F)
    expected = ((G - A) ** 2).sum() / (4 * 3**2 * 20**2)
    assert float(chosen["style_layer_loss"](F, A)) == pytest.approx(float(expected), rel=1e-12)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"unknown function name\(s\) \['gram'\]"):
        choose_functions(gram=my_gram_matrix)

    def broken(F, P):
        return F.view(-1, 7).sum()

    with pytest.raises(ValueError, match="your content_loss raised RuntimeError.*notebook 02"):
        choose_functions(content_loss=broken)
    with pytest.raises(ValueError, match="init must be 'content' or 'noise'"):
        student_transfer(
            "chelsea", "waves", encoder=None, alpha=1.0, beta=1.0, tv_weight=0.0, size=32, steps=1, init="quiet"
        )
