"""The exercises in notebook order (read from the check records) and the score report."""

from __future__ import annotations

import os

from ._core import _RESULTS, FAIL, NOT_IMPLEMENTED, PASS, Exercise, Spec
from .answer_checks import MATCH_RECONSTRUCTIONS, RECEPTIVE_FIELD_SIZES
from .choice_checks import (
    EXPLAIN_GREY_TEXTURE,
    MEASURE_LAYER_EQUALITY,
    PREDICT_PHOTO_START,
    PREDICT_STRUCTURE_SIZE,
)
from .count_checks import COUNT_MODEL
from .feature_checks import EXTRACT_FEATURES
from .gram_checks import GRAD_STYLE_LAYER, GRAM_MATRIX, MASKED_GRAM
from .loss_checks import CONTENT_LOSS, STYLE_LAYER_LOSS, STYLE_LOSS, TOTAL_LOSS, TV_LOSS
from .optim_checks import INPUT_GRADIENT_STEP, RUN_LBFGS
from .speed_checks import SPEED_SPECS

#: every check, in the order of the notebooks and their cells (``report`` lists them in this order).
#: ``conv1_1_parameters`` and ``texture_model_size`` are now one task, ``count_model`` (04); their
#: checks stay importable for courses that still use them, outside the catalogue.
SPECS: tuple[Spec, ...] = (
    RECEPTIVE_FIELD_SIZES,  # 01
    CONTENT_LOSS,
    INPUT_GRADIENT_STEP,
    RUN_LBFGS,
    PREDICT_PHOTO_START,
    EXTRACT_FEATURES,
    MATCH_RECONSTRUCTIONS,  # 02
    GRAM_MATRIX,
    STYLE_LAYER_LOSS,
    MEASURE_LAYER_EQUALITY,
    STYLE_LOSS,
    GRAD_STYLE_LAYER,
    PREDICT_STRUCTURE_SIZE,  # 03
    COUNT_MODEL,
    EXPLAIN_GREY_TEXTURE,  # 04
    TOTAL_LOSS,
    TV_LOSS,  # 05
    MASKED_GRAM,  # 06
    *SPEED_SPECS,  # 07
)

#: ids of the checks whose notebook cell is not written yet (empty: every check has its cell). Remove
#: an id when its cell lands in the notebook's master.
_PENDING: frozenset[str] = frozenset()

#: The exercises that have a cell in a notebook (``report(notebook)`` lists these).
EXERCISES: tuple[Exercise, ...] = tuple(s.exercise for s in SPECS if s.id not in _PENDING)

#: Exercises whose check is ready but whose notebook cell is not written yet.
PENDING_EXERCISES: tuple[Exercise, ...] = tuple(s.exercise for s in SPECS if s.id in _PENDING)


def _notebook_exercises(notebook: str | int) -> list[Exercise]:
    key = os.path.basename(str(notebook)).removesuffix(".ipynb")
    if key.isdigit():
        key = f"{int(key):02d}"
    chosen = [e for e in EXERCISES if e.notebook == key or e.notebook.startswith(key + "_")]
    if not chosen:
        known = sorted({e.notebook for e in EXERCISES + PENDING_EXERCISES})
        raise ValueError(f"no exercises for notebook {notebook!r}; known notebooks: {', '.join(known)}")
    return chosen


_LABELS = {PASS: "PASS", FAIL: "FAIL", NOT_IMPLEMENTED: "not implemented yet", None: "not run"}


def report(notebook: str | int | None = None) -> None:
    """Print which exercises passed, failed or are not implemented yet, with a score line.

    Args:
        notebook: ``None`` for the exercises checked in this kernel session; or a notebook
            (``"03"``, ``3``, ``"03_style_reconstruction"`` or its ``.ipynb`` path) to list all of that
            notebook's exercises, those not checked yet shown as "not run".
    """
    if notebook is None:
        chosen = [e for e in EXERCISES + PENDING_EXERCISES if e.id in _RESULTS]
        title = "Exercises checked in this session"
    else:
        chosen = _notebook_exercises(notebook)
        title = f"Exercises of notebook {chosen[0].notebook}"
    if not chosen:
        print(f"{title}: none yet. Run the check cells (nstlib.grading.check_...) first.")
        return
    statuses = [(_RESULTS[e.id].status if e.id in _RESULTS else None) for e in chosen]
    passed = sum(s == PASS for s in statuses)
    points = sum(e.points for e, s in zip(chosen, statuses) if s == PASS)
    total = sum(e.points for e in chosen)
    width = max(len(e.id) for e in chosen)
    lines = [title + ":"]
    for e, status in zip(chosen, statuses):
        pts = f"{e.points} pt" + ("s" if e.points != 1 else "")
        lines.append(f"  {_LABELS[status]:<20} {e.notebook[:2]}  {e.id:<{width}}  {pts:>5}  {e.title}")
    lines.append(f"Score: {points}/{total} points ({passed}/{len(chosen)} exercises pass).")
    if passed == len(chosen):
        lines.append("All done: well done!")
    print("\n".join(lines))
