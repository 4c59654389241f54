"""Graded predictions and explanations: checked multiple choice ("tick every true statement"), as data.

The lectures' "explain ..." objectives, assessed (Gatys, Ecker & Bethge, NeurIPS 2015 and CVPR 2016):

- ``predict_photo_start`` (02): why the content term starts at 0, with a zero gradient, from the photo;
- ``measure_layer_equality`` (03): "1/(4 N^2 M^2) makes the layers equal" (a lecture slide), measured;
- ``predict_structure_size`` (03): which layer set reproduces larger structures, and why;
- ``explain_grey_texture`` (04): why a grey source gives a grey texture.

A student answers with the letters of every true statement (``"ac"``, ``"A, C"``, ``["c", "a"]`` or a
set). A wrong answer gets the hint of the first statement it misjudges: the hint explains the principle
behind that statement, never the letters to tick. Each answer is a zero-argument function (or the value).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._core import Case, Spec, _Failure, checker
from ._outputs import returned
from ._values import _describe


def _letters(out: Any, options: Sequence[str]) -> frozenset[str]:
    """The set of upper-case letters in a student's answer (a string, or an iterable of strings)."""
    if isinstance(out, str):
        items = re.findall(r"[A-Za-z]", out)
    elif isinstance(out, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in out):
        items = [c for v in out for c in re.findall(r"[A-Za-z]", v)]
    else:
        raise _Failure(
            "expected the letters of the true statements",
            got=_describe(out),
            hint=returned(out, 'return a string of letters such as "bd" (or a list of letters).'),
        )
    chosen = frozenset(c.upper() for c in items)
    unknown = sorted(chosen - set(options))
    if unknown:
        raise _Failure(
            "unknown letters",
            got=repr(out),
            hint=f"{', '.join(unknown)} is not a statement here: choose among {', '.join(options)}.",
        )
    return chosen


def _vector(chosen: frozenset[str] | set[str] | str, options: Sequence[str]) -> np.ndarray:
    return np.array([1.0 if o in chosen else 0.0 for o in options])


def choice_spec(
    *,
    id: str,
    notebook: str,
    title: str,
    correct: str,
    hints: dict[str, str],
    summary: str,
    points: int = 1,
) -> Spec:
    """A "tick every true statement" check.

    Args:
        id, notebook, title: the exercise (the student function's name, its notebook, one line).
        correct: the letters of the true statements, e.g. ``"AC"``.
        hints: one hint per statement letter, in order (``{"A": ..., "B": ...}``): the principle a
            student who misjudges that statement needs. It should not say whether the statement is true.
        summary: the PASS line.
        points: the exercise's points.

    The wrong variants are the answers with exactly one statement misjudged, each with that
    statement's hint; any other wrong answer gets the hint of its first misjudged statement.
    """
    options = sorted(hints)
    truth = frozenset(correct.upper())

    def output(out: Any, case: Case, where: str) -> np.ndarray:
        return _vector(_letters(out, options), options)

    def first_misjudged(case: Case, got: Any) -> str:
        wrong = [o for o, g, t in zip(options, np.ravel(got), _vector(truth, options)) if g != t]
        return hints[wrong[0]] if wrong else "read every statement again."

    def flipped(o: str) -> np.ndarray:
        return _vector(truth ^ {o}, options)

    return Spec(
        id=id,
        notebook=notebook,
        title=title,
        signature=f"{id}()",
        inputs=[()],
        reference=lambda: _vector(truth, options),
        wrong=[(hints[o], (lambda o=o: flipped(o))) for o in options],
        rtol=0.0,
        output=output,
        default_hint=first_misjudged,
        summary=summary,
        noun="answer",
        show=lambda a: "".join(o for o, v in zip(options, np.ravel(a)) if v) or "(nothing ticked)",
        expected_text="the letters of every true statement (the hint explains one you misjudged)",
        value_ok=True,
        points=points,
        doc=f"""Check ``{id}() -> str``: the letters of the true statements ({title}).

    Any format of letters works ("ac", "A, C", ["c", "a"]); a wrong answer gets the hint of the first
    statement it misjudges.
    """,
    )


PREDICT_PHOTO_START = choice_spec(
    id="predict_photo_start",
    notebook="02_content_reconstruction",
    title="prediction: the content term when the run starts from the photo",
    correct="AC",
    hints={
        "A": "at the start x is the photo, so F = P at every layer: L_content = 1/2 sum (F - P)^2 = 0, and its "
        "gradient, sum (F - P) dF/dx, is a sum of zeros.",
        "B": "the gradient of 1/2 sum (F - P)^2 is sum (F - P) dF/dx: every term has the factor F - P, which is 0 "
        "at the photo. A minimum of a sum of squares is a point where the gradient vanishes.",
        "C": "in a transfer the style term moves the image away from the photo; from then on F != P, so the "
        "content term grows from 0 and pulls back, harder the further the image goes.",
        "D": "the content term is 0 only at the start: once the style term moves the image, alpha sets how hard "
        "the content term pulls it back. A larger alpha keeps the result closer to the photo.",
        "E": "the network is a fixed, deterministic function: the same image gives exactly the same features, "
        "ReLUs included, so F - P is exactly 0, not small.",
    },
    summary="right: from the photo the content term and its gradient are exactly 0; it grows only once "
    "another term moves the image.",
)

MEASURE_LAYER_EQUALITY = choice_spec(
    id="measure_layer_equality",
    notebook="03_style_reconstruction",
    title="measured: does 1/(4 N^2 M^2) make the layers equal?",
    correct="BCE",
    hints={
        "A": "read the measurement again: the cell printed the largest E_l divided by the smallest. The factor "
        "removes the dependence on N_l and M_l, not the difference between what the layers' statistics are.",
        "B": "compare the E_l the cell printed: how many factors of 10 lie between the largest and the smallest?",
        "C": "the cell printed the norm of dE_l/dx, each layer's pull on the pixels: compare the largest with "
        "the smallest. The pull also depends on how the layer's features change with the pixels.",
        "D": "equal weights times unequal pulls give unequal influence: the layer that pulls hardest decides the "
        "first steps. That is why section 4 may set the w_l from the measured pulls.",
        "E": "the tiled-canvas cell above: the raw term grew about 16-fold with four times the area, E_l stayed "
        "within a factor of about 1.6 at the first layers. That is what dividing by M_l^2 is for.",
    },
    summary="right: E_l is size-free, but the layers' E_l and their pulls on the image still differ by "
    "orders of magnitude; the w_l must balance them.",
)

PREDICT_STRUCTURE_SIZE = choice_spec(
    id="predict_structure_size",
    notebook="03_style_reconstruction",
    title="prediction: which layer set reproduces larger structures",
    correct="AE",
    hints={
        "A": "a Gram entry of layer l says which features occur together within one unit's receptive field "
        "(notebook 01): relu1_1's units see 3 px, relu5_1's 156 px (VGG-19).",
        "B": "the number of positions M_l says how many units are averaged, not how much of the image one "
        "unit sees: a structure larger than every receptive field is invisible to the model.",
        "C": "the Gram matrix forgets where a feature occurs in the image, but not what the feature is: a deep "
        "feature describes a pattern as large as its receptive field.",
        "D": "every G^l sums over positions (section 2): however many layers you add, nothing in the loss says "
        "where in the image a structure must be.",
        "E": "two features can only occur 'together' in a Gram entry when one unit computes both from its "
        "receptive field: a structure larger than the deepest field cannot be described.",
    },
    summary="right: deeper layers have larger receptive fields, so their Gram matrices describe larger "
    "structures; no layer set keeps the arrangement.",
)

EXPLAIN_GREY_TEXTURE = choice_spec(
    id="explain_grey_texture",
    notebook="04_texture_synthesis",
    title="explanation: why a grey source gives a grey texture",
    correct="AE",
    hints={
        "A": "split each first-layer filter into a brightness part (the same weight on R, G and B) and a "
        "colour-difference part. On a grey image the colour part sees only what the brightness (through VGG's "
        "fixed per-channel normalisation) puts there; colour in the generated image would move the first "
        "layer's Gram entries away from the source's.",
        "B": "VGG reads three channels, normalises each with its own mean and std, and its first filters weigh R, "
        "G and B differently: a colour image does give other features than its grey version.",
        "C": "colour is seen directly by the first layer, whose filters read the pixels; the deep layers see "
        "colour only through it. Which layer's Gram matrix pins the colour down?",
        "D": "the optimiser follows the loss: from the same coloured noise the mosaic's texture comes out in "
        "colour. More steps only match the source's statistics better.",
        "E": "the model never compares pixels: it asks only for the source's Gram matrices. Whatever colour the "
        "result has, it must come from, or be forbidden by, those statistics.",
    },
    summary="right: the texture model constrains colour only through the first layer's Gram matrices, and a "
    "grey source's leave no room for colour.",
)

check_predict_photo_start = checker(PREDICT_PHOTO_START)
check_measure_layer_equality = checker(MEASURE_LAYER_EQUALITY)
check_predict_structure_size = checker(PREDICT_STRUCTURE_SIZE)
check_explain_grey_texture = checker(EXPLAIN_GREY_TEXTURE)
