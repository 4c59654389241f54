"""The exercise table in ``nstlib.grading``'s docstring is the catalogue (issue 22 item 1, stale references).

The table once listed retired exercises (``conv1_1_parameters``, ``texture_model_size``) and put
``run_lbfgs`` in notebook 04 after it had moved to 02. Here every row (id, notebook, points, the
student function's name) is read from the docstring and compared, in order, with
``nstlib.grading._catalogue.SPECS``, the list that ``report()`` and the notebooks use.
"""

from __future__ import annotations

import re

import nstlib.grading
from nstlib.grading._catalogue import SPECS

#: a table row: id, notebook (NN_name), points, then the student function's signature
ROW = re.compile(r"^(\w+)\s+(\d\d_\w+)\s+(\d+)\s+(\w+)\(", re.MULTILINE)


def docstring_rows(doc: str) -> list[tuple[str, str, int, str]]:
    """[(id, notebook, points, function name)] for every row of the docstring's exercise table."""
    return [(i, nb, int(points), fn) for i, nb, points, fn in ROW.findall(doc)]


def test_docstring_table_is_the_catalogue():
    rows = docstring_rows(nstlib.grading.__doc__ or "")
    catalogue = [(s.id, s.notebook, s.exercise.points, s.signature.split("(")[0]) for s in SPECS]
    assert rows == catalogue


def test_the_reader_sees_a_stale_row():
    """The reader is not vacuous: a retired exercise, a moved one and a changed point count are seen."""
    doc = nstlib.grading.__doc__ or ""
    assert len(docstring_rows(doc)) == len(SPECS) > 10
    moved = re.sub(r"^(run_lbfgs\s+)02_content_reconstruction", r"\g<1>04_texture_synthesis", doc, flags=re.M)
    retired = re.sub(r"^count_model(\s+)", r"conv1_1_parameters\1", doc, flags=re.M)
    repointed = re.sub(r"^(grad_style_layer\s+\w+\s+)3", r"\g<1>1", doc, flags=re.M)
    for stale in (moved, retired, repointed):
        assert docstring_rows(stale) != docstring_rows(doc)
