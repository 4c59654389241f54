"""Every committed notebook (masters in notebooks/source/ and generated student copies in
notebooks/) is valid nbformat v4, stored without outputs or execution counts, on the python3 kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PATHS = sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def _problems(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    problems = []
    if nb.nbformat != 4:
        problems.append(f"nbformat {nb.nbformat}, expected 4")
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        problems.append(f"invalid nbformat: {exc.message}")
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel not in (None, "python3"):
        problems.append(f"kernelspec {kernel!r}, expected 'python3'")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {index} has {len(cell.outputs)} output(s)")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {index} has execution_count {cell.execution_count}")
    return problems


@pytest.mark.parametrize("path", PATHS, ids=[str(p.relative_to(NOTEBOOKS)) for p in PATHS])
def test_notebook_is_clean(path):
    problems = _problems(path)
    assert not problems, (
        f"{path.relative_to(NOTEBOOKS.parent)}: "
        + "; ".join(problems)
        + " (save notebooks without outputs; regenerate student copies with `python -m nstlib.assignments`)"
    )


def test_the_cleanliness_check_catches_outputs_and_counts(tmp_path):
    """The check above can fail: an executed notebook is reported."""
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    nb = new_notebook(metadata={"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}})
    nb.cells = [
        new_code_cell(
            "1 + 1",
            execution_count=1,
            outputs=[new_output("execute_result", data={"text/plain": "2"}, execution_count=1)],
        )
    ]
    path = tmp_path / "executed.ipynb"
    nbformat.write(nb, path)
    problems = _problems(path)
    assert any("output" in p for p in problems) and any("execution_count 1" in p for p in problems)
    assert any("kernelspec 'ir'" in p for p in problems)
