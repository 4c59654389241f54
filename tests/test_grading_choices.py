"""The exercises added for "exercises that need thought" (issue 22, item 4): ``count_model`` (04) and the
four checked multiple-choice predictions (02-04), with the points every exercise is worth.

For each check: the reference and another right solution pass; plausible wrong answers fail, each with its
own hint; hints of the predictions explain a principle and never name a letter to tick. Expected counts come
from torchvision's VGG-19 and naive loops, not from the check's reference.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import torchvision

from nstlib import grading
from nstlib.grading import (
    check_count_model,
    check_explain_grey_texture,
    check_measure_layer_equality,
    check_predict_photo_start,
    check_predict_structure_size,
)
from nstlib.grading.count_checks import vgg19_weight_shapes
from tests.grading_helpers import (
    fails,
    fresh_registry,  # noqa: F401  (an autouse fixture: importing it activates it)
    passes,
)

MASTERS = Path(__file__).resolve().parents[1] / "notebooks" / "source"

# ----------------------------------------------------------------------------------------------
# count_model(weight_shapes) -> {"parameters", "gram_entries"}


def count_model(weight_shapes):
    """Reference solution: formulas per layer."""
    parameters = sum(o * i * kh * kw + o for o, i, kh, kw in weight_shapes.values())
    gram = sum(o * (o + 1) // 2 for o, _, _, _ in weight_shapes.values())
    return {"parameters": parameters, "gram_entries": gram}


def count_model_by_modules(weight_shapes):
    """Another right solution: build each convolution and count its tensors; count the pairs i <= j by a loop."""
    out = {"gram_entries": 0, "parameters": 0}
    for n_out, n_in, kh, kw in weight_shapes.values():
        conv = torch.nn.Conv2d(n_in, n_out, (kh, kw), device="meta")
        out["parameters"] += sum(p.numel() for p in conv.parameters())
        out["gram_entries"] += sum(1 for i in range(n_out) for j in range(n_out) if i <= j)
    return out


def test_count_model_right_solutions_pass(capsys):
    passes(check_count_model, count_model, capsys)
    passes(check_count_model, count_model_by_modules, capsys)


def test_count_model_of_vgg19_is_torchvisions():
    """Independent figures: torchvision's VGG-19 parameter count; Gram pairs counted by a naive loop."""
    features = torchvision.models.vgg19(weights=None).features
    convs = [m for m in features if isinstance(m, torch.nn.Conv2d)]
    assert [tuple(m.weight.shape) for m in convs] == list(vgg19_weight_shapes().values())
    counted = count_model(vgg19_weight_shapes())
    assert counted["parameters"] == sum(p.numel() for p in features.parameters()) == 20_024_384
    pairs = sum(sum(1 for i in range(m.out_channels) for j in range(i, m.out_channels)) for m in convs)
    assert counted["gram_entries"] == pairs
    # with the four poolings (the maps of the conv before each), the lecture's texture model up to pool4
    up_to_pool4 = count_model(vgg19_weight_shapes(4))["gram_entries"]
    assert up_to_pool4 + sum(n * (n + 1) // 2 for n in (64, 128, 256, 512)) == 852_128


def _count(params, gram):
    return lambda ws: {
        "parameters": sum(params(*s) for s in ws.values()),
        "gram_entries": sum(gram(*s) for s in ws.values()),
    }


def _p(o, i, kh, kw):
    return o * i * kh * kw + o


def _g(o, *_):
    return o * (o + 1) // 2


COUNT_WRONG = [
    (_count(lambda o, i, kh, kw: o * i * kh * kw, _g), "every filter also has a bias"),
    (_count(lambda o, i, kh, kw: o * kh * kw + o, _g), "reads all N_in maps"),
    (_count(lambda o, i, kh, kw: o * i * kh * kh + o, _g), "a kernel need not be square"),
    (_count(lambda o, i, kh, kw: o * i * (kh * kw + 1), _g), "one bias per filter, not one per filter and input"),
    (_count(_p, lambda o, *_: o * o), "a Gram matrix is symmetric"),
    (_count(_p, lambda o, *_: o * (o - 1) // 2), "the diagonal G_ii"),
    (_count(_p, lambda o, i, *_: i * (i + 1) // 2), "compares the maps the layer OUTPUTS"),
    (
        lambda ws: {"parameters": sum(_p(*s) for s in ws.values()), "gram_entries": _g(sum(s[0] for s in ws.values()))},
        "each layer has its own Gram matrix",
    ),
    (lambda ws: {"parameters": _p(*next(iter(ws.values()))), "gram_entries": _g(*next(iter(ws.values())))}, "add up"),
    (lambda ws: [1, 2], "expected a dict"),
    (lambda ws: {"params": 1, "gram_entries": 2}, "wrong keys"),
    (lambda ws: {"parameters": 1.5, "gram_entries": 2}, "must be a whole number"),
    (lambda ws: None, "forget the `return`"),
]


@pytest.mark.parametrize(("fn", "hint"), COUNT_WRONG, ids=[h[:28] for _, h in COUNT_WRONG])
def test_count_model_mistakes(fn, hint, capsys):
    out = fails(check_count_model, fn, capsys, hint)
    expected = [line for line in out.splitlines() if line.lstrip().startswith("expected:")]
    assert not any(ch.isdigit() for line in expected for ch in line)  # the right counts are never shown


def test_count_model_must_not_modify_its_input(capsys):
    fails(check_count_model, lambda ws: (ws.popitem(), count_model(ws))[1], capsys, "modified its input")


# ----------------------------------------------------------------------------------------------
# The predictions: "tick every true statement"

CHOICES = [  # check, the true letters, the statements' principles (a phrase of each statement's hint)
    (
        check_predict_photo_start,
        "AC",
        {
            "A": "F = P at every layer",
            "B": "every term has the factor F - P",
            "C": "the content term grows from 0",
            "D": "alpha sets how hard",
            "E": "fixed, deterministic function",
        },
    ),
    (
        check_measure_layer_equality,
        "BCE",
        {
            "A": "printed the largest E_l divided by the smallest",
            "B": "how many factors of 10",
            "C": "each layer's pull on the pixels",
            "D": "equal weights times unequal pulls",
            "E": "the tiled-canvas cell",
        },
    ),
    (
        check_predict_structure_size,
        "AE",
        {
            "A": "within one unit's receptive field",
            "B": "not how much of the image one unit sees",
            "C": "forgets where a feature occurs",
            "D": "nothing in the loss says where",
            "E": "one unit computes both",
        },
    ),
    (
        check_explain_grey_texture,
        "AE",
        {
            "A": "a brightness part",
            "B": "normalises each with its own mean",
            "C": "colour is seen directly by the first layer",
            "D": "the optimiser follows the loss",
            "E": "the model never compares pixels",
        },
    ),
]
IDS = [check.__name__.removeprefix("check_") for check, _, _ in CHOICES]


@pytest.mark.parametrize(("check", "truth", "principles"), CHOICES, ids=IDS)
def test_choice_right_answers_pass_in_any_format(check, truth, principles, capsys):
    passes(check, lambda: truth.lower(), capsys)  # the reference, as a function
    passes(check, ", ".join(reversed(truth)), capsys)  # another right answer: a value, reordered, upper case
    passes(check, lambda: set(truth.lower()), capsys)


@pytest.mark.parametrize(("check", "truth", "principles"), CHOICES, ids=IDS)
def test_choice_each_misjudged_statement_gets_its_own_hint(check, truth, principles, capsys):
    """Five plausible wrong answers (one statement misjudged each), five different hints, none naming a letter."""
    hints = set()
    for letter, principle in principles.items():
        answer = "".join(sorted(set(truth) ^ {letter}))
        out = fails(check, answer, capsys, principle)
        hint = out[out.index("hint:") :]
        assert not re.search(r"\b(tick|true|false|statements?|letters?)\b|\b[A-E]\.|['\"][A-E]", hint, re.I), hint
        hints.add(hint)
    assert len(hints) == len(principles) >= 4


@pytest.mark.parametrize(("check", "truth", "principles"), CHOICES, ids=IDS)
def test_choice_bad_answers_are_explained(check, truth, principles, capsys):
    fails(check, "AZ", capsys, "Z is not a statement here")
    fails(check, lambda: 3, capsys, "return a string of letters")
    fails(check, lambda: None, capsys, "forget the `return`")
    fails(check, "", capsys, "(nothing ticked)")
    all_letters = "".join(principles)
    fails(check, all_letters, capsys, principles[min(set(all_letters) - set(truth))])  # the first misjudged


# ----------------------------------------------------------------------------------------------
# Points by effort: the catalogue, the notebooks' check cells and the report agree


def test_points_by_effort_and_the_notebooks_agree():
    points = {e.id: e.points for e in grading.EXERCISES}
    assert points["run_lbfgs"] == points["extract_features"] == 4 and points["grad_style_layer"] == 3
    assert points["content_loss"] == points["gram_matrix"] == points["predict_photo_start"] == 1
    for path in sorted(MASTERS.glob("0[1-4]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        graded = [c["metadata"]["nbgrader"] for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
        assert {g["grade_id"].removesuffix("-check"): g["points"] for g in graded} == {
            e.id: e.points for e in grading.EXERCISES if e.notebook == path.stem
        }, path.name


def test_report_sums_points(capsys):
    check_predict_photo_start("AC")
    capsys.readouterr()
    grading.report("02")
    out = capsys.readouterr().out
    total = sum(e.points for e in grading.EXERCISES if e.notebook.startswith("02"))
    assert total == 13
    assert f"Score: 1/{total} points (1/6 exercises pass)." in out
    assert "4 pts" in next(line for line in out.splitlines() if " run_lbfgs " in line)
