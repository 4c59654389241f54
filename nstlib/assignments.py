"""Student notebooks from the instructor masters, nbgrader-compatible.

Usage (from the repository root)::

    python -m nstlib.assignments                 # notebooks/source/NN_*.ipynb -> notebooks/NN_*.ipynb
    python -m nstlib.assignments --check         # exit 1 if a committed student copy is stale
    python -m nstlib.assignments --source DIR --dest DIR

For every master ``NN_name.ipynb`` the student copy

- replaces each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region of a code cell with
  ``raise NotImplementedError("Exercise: <function> — replace this line with your code")`` at the
  marker's indentation (``<function>`` is the enclosing ``def``; regions must lie inside one, so
  the student notebook still runs top to bottom), and of a markdown cell with ``YOUR ANSWER HERE``;
- removes ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` blocks (markers included);
- strips outputs, execution counts and per-cell execution timings;
- keeps every cell's metadata (nbgrader's ``grade_id``, ``points``, ``locked``, tags) and ids;
- starts with two cells of its own (:func:`with_colab_cells`): an "Open in Colab" badge linking to
  the student copy on GitHub, and a setup cell that installs nstlib where it is missing (Google
  Colab, a bare Jupyter kernel) and turns on Colab's support for ipywidgets 8; where nstlib is
  installed (Binder, JupyterHub, a laptop set up as in the README) the setup cell does nothing;
- is written as deterministic JSON (nbformat's sorted keys, one-space indent, final newline), so
  re-generation is byte-identical and ``--check`` can compare bytes.

The masters stay usable with nbgrader itself (``nbgrader generate_assignment``): the markers and
the cell metadata are nbgrader's. See notebooks/INSTRUCTORS.md.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path

try:  # instructors' tool: nbformat comes with the notebook stack, not with `pip install nstlib`
    import nbformat
    from nbformat import NotebookNode
except ImportError as _err:
    raise ImportError(
        f"nstlib.assignments needs nbformat, part of the notebook stack ({_err}). "
        'Install it with: pip install "nstlib[notebooks]"'
    ) from _err

__all__ = [
    "AssignmentError",
    "Generated",
    "student_notebook",
    "student_source",
    "with_colab_cells",
    "colab_url",
    "SETUP_SOURCE",
    "render",
    "masters",
    "generate",
    "main",
]

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
MARKDOWN_STUB = "YOUR ANSWER HERE"
MASTER_NAME = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")
_DEF = re.compile(r"^(\s*)(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(")


# The repository of the README's Binder badge: the Colab links and the setup cell's install point there.
GITHUB_REPO = "nstlib/nstlib"
GITHUB_BRANCH = "main"
STUDENT_FOLDER = "notebooks"  # where the student copies live in the repository
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_CELL_ID = "open-in-colab"
SETUP_CELL_ID = "setup-nstlib"
PIP_INSTALL = f'install -q "nstlib @ git+https://github.com/{GITHUB_REPO}" "ipywidgets>=8"'

# The student notebooks' setup cell. Plain Python (tests/test_assignments.py runs it with a fake
# IPython): the %pip magic is called through get_ipython() so that the cell stays valid Python.
SETUP_SOURCE = f'''# Setup: installs nstlib when it is missing (Google Colab, a Jupyter without it) and, on Colab,
# turns on its support for ipywidgets 8. Where nstlib is installed (Binder, JupyterHub, a laptop set
# up as in the README) it does nothing. On Colab, Runtime > Change runtime type > GPU is faster.
import sys


def setup_nstlib():
    """Install nstlib with %pip if it cannot be imported; enable Colab's custom widget manager."""
    try:
        import nstlib  # noqa: F401
    except ImportError:
        get_ipython().run_line_magic("pip", {PIP_INSTALL!r})
        import importlib.util

        importlib.invalidate_caches()
        if importlib.util.find_spec("nstlib") is None:
            raise RuntimeError("nstlib could not be installed (see pip's messages above). Check the "
                               "internet connection, then run this cell again.")
    if "google.colab" in sys.modules:  # nstlib's widgets are ipywidgets 8: Colab needs this to show them
        from google.colab import output

        output.enable_custom_widget_manager()


setup_nstlib()'''


class AssignmentError(ValueError):
    """A master notebook that cannot be turned into a student notebook (unbalanced markers, ...)."""


def stub_line(indent: str, name: str) -> str:
    """The line that replaces a solution region in a code cell."""
    return f'{indent}raise NotImplementedError("Exercise: {name} — replace this line with your code")'


def _enclosing_function(lines: list[str], index: int, indent: str) -> str | None:
    """Name of the nearest ``def`` above line ``index`` that is less indented than ``indent``."""
    for line in reversed(lines[:index]):
        match = _DEF.match(line)
        if match and len(match.group(1)) < len(indent):
            return match.group(2)
    return None


def _strip_block(lines: list[str], begin: str, end: str, where: str) -> list[tuple[int, int]]:
    """(start, stop) line indices of every ``begin`` ... ``end`` block; raises on unbalanced markers."""
    blocks, start = [], None
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith(begin):
            if start is not None:
                raise AssignmentError(
                    f"{where}: nested '{begin}' (line {i + 1}) inside the block opened on line {start + 1}"
                )
            start = i
        elif text.startswith(end):
            if start is None:
                raise AssignmentError(f"{where}: '{end}' on line {i + 1} without a '{begin}' before it")
            blocks.append((start, i))
            start = None
    if start is not None:
        raise AssignmentError(f"{where}: '{begin}' on line {start + 1} is never closed by '{end}'")
    return blocks


def student_source(source: str, cell_type: str = "code", grade_id: str | None = None, where: str = "cell") -> str:
    """One cell's student source: solution regions replaced by a stub, hidden tests removed.

    >>> print(student_source("def f(x):\\n    ### BEGIN SOLUTION\\n    return 2 * x\\n    ### END SOLUTION"))
    def f(x):
        raise NotImplementedError("Exercise: f — replace this line with your code")
    """
    lines = source.split("\n")
    hidden = _strip_block(lines, BEGIN_HIDDEN, END_HIDDEN, where)
    drop = {i for start, stop in hidden for i in range(start, stop + 1)}
    lines = [line for i, line in enumerate(lines) if i not in drop]
    out: list[str] = []
    regions = dict(_strip_block(lines, BEGIN_SOLUTION, END_SOLUTION, where))
    i = 0
    while i < len(lines):
        if i in regions:
            line = lines[i]
            indent = line[: len(line) - len(line.lstrip())]
            if cell_type == "code":
                name = _enclosing_function(lines, i, indent)
                if name is None:
                    raise AssignmentError(
                        f"{where}: the solution region on line {i + 1} is not inside a function; put it in one "
                        "(value exercises too: def answer() -> int: ...) so the student notebook still runs"
                    )
                out.append(stub_line(indent, name))
            else:
                out.append(indent + MARKDOWN_STUB)
            i = regions[i] + 1
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def _nbgrader(cell: NotebookNode) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def student_notebook(master: NotebookNode, name: str = "notebook") -> NotebookNode:
    """The student version of a master notebook (a new object; the master is not modified).

    Raises:
        AssignmentError: unbalanced or misplaced markers, a solution cell without markers, or
            duplicate nbgrader grade ids.
    """
    nb = copy.deepcopy(master)
    seen: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        meta = _nbgrader(cell)
        grade_id = meta.get("grade_id")
        if grade_id is not None:
            if grade_id in seen:
                raise AssignmentError(f"{where}: grade_id {grade_id!r} already used by cell {seen[grade_id]}")
            seen[grade_id] = index
        source = cell.get("source", "")
        has_solution = BEGIN_SOLUTION in source
        if meta.get("solution") and not has_solution and cell.cell_type == "code":
            raise AssignmentError(f"{where}: nbgrader solution cell {grade_id!r} has no '{BEGIN_SOLUTION}' region")
        if meta.get("grade") and "points" not in meta:
            raise AssignmentError(f"{where}: graded cell {grade_id!r} has no 'points' in its nbgrader metadata")
        if cell.cell_type == "markdown" and meta.get("solution") and not has_solution:
            cell.source = MARKDOWN_STUB  # nbgrader's rule for a written-answer cell without markers
        elif cell.cell_type in ("code", "markdown"):
            cell.source = student_source(source, cell.cell_type, grade_id, where)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.get("metadata", {}).pop("execution", None)  # nbclient timings
    nb.metadata.pop("widgets", None)  # saved widget state of a run
    return nb


def colab_url(name: str) -> str:
    """The "Open in Colab" address of the student copy ``name`` (e.g. ``01_receptive_fields.ipynb``) on GitHub."""
    if not MASTER_NAME.match(name):
        raise AssignmentError(f"{name!r} is not a notebook name like 01_receptive_fields.ipynb")
    return f"https://colab.research.google.com/github/{GITHUB_REPO}/blob/{GITHUB_BRANCH}/{STUDENT_FOLDER}/{name}"


def with_colab_cells(nb: NotebookNode, name: str) -> NotebookNode:
    """``nb`` (a new object) preceded by the "Open in Colab" badge cell and the setup cell.

    Raises:
        AssignmentError: ``name`` is not ``NN_name.ipynb``, or ``nb`` already has a cell with one of
            the two cells' ids (``open-in-colab``, ``setup-nstlib``; e.g. a student copy passed twice).
    """
    url = colab_url(name)
    for index, cell in enumerate(nb.cells):
        if cell.get("id") in (BADGE_CELL_ID, SETUP_CELL_ID):
            raise AssignmentError(f"{name}, cell {index}: id {cell.id!r} is reserved for the generated Colab cells")
    out = copy.deepcopy(nb)
    badge = nbformat.v4.new_markdown_cell(f"[![Open In Colab]({COLAB_BADGE})]({url})", id=BADGE_CELL_ID)
    setup = nbformat.v4.new_code_cell(SETUP_SOURCE, id=SETUP_CELL_ID)
    out.cells = [badge, setup, *out.cells]
    return out


def render(nb: NotebookNode) -> str:
    """Deterministic JSON of a notebook: nbformat's sorted keys and indent, and a final newline."""
    nbformat.validate(nb)
    text = nbformat.writes(nb, version=nbformat.NO_CONVERT)
    return text if text.endswith("\n") else text + "\n"


def masters(source: Path) -> list[Path]:
    """The master notebooks ``NN_name.ipynb`` in ``source``, sorted."""
    return sorted(p for p in Path(source).glob("*.ipynb") if MASTER_NAME.match(p.name))


@dataclass(frozen=True)
class Generated:
    """One master's student copy: where it goes, its text, and whether the file on disk differs."""

    master: Path
    student: Path
    text: str
    stale: bool
    exercises: int


def generate(source: Path, dest: Path, write: bool = True) -> list[Generated]:
    """Generate (and with ``write``, save) the student copy of every master in ``source`` into ``dest``."""
    done = []
    for path in masters(source):
        master = nbformat.read(path, as_version=4)
        text = render(with_colab_cells(student_notebook(master, path.name), path.name))
        target = Path(dest) / path.name
        stale = not target.exists() or target.read_bytes() != text.encode("utf-8")
        exercises = sum(1 for c in master.cells if _nbgrader(c).get("solution") and c.cell_type == "code")
        if write and stale:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
        done.append(Generated(path, target, text, stale, exercises))
    return done


def _orphans(source: Path, dest: Path) -> list[Path]:
    """Student notebooks in ``dest`` named like a master but without one in ``source``."""
    names = {p.name for p in masters(source)}
    return sorted(p for p in Path(dest).glob("*.ipynb") if MASTER_NAME.match(p.name) and p.name not in names)


def main(argv: list[str] | None = None) -> int:
    """Command line: generate the student notebooks, or ``--check`` that the committed ones are fresh."""
    parser = argparse.ArgumentParser(prog="python -m nstlib.assignments", description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path("notebooks/source"), help="masters (default: %(default)s)")
    parser.add_argument("--dest", type=Path, default=Path("notebooks"), help="student copies (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a student copy differs")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(f"error: no master folder {args.source}", file=sys.stderr)
        return 2
    try:
        results = generate(args.source, args.dest, write=not args.check)
    except AssignmentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    orphans = _orphans(args.source, args.dest)
    if args.check:
        stale = [r for r in results if r.stale]
        for r in stale:
            why = "missing" if not r.student.exists() else "differs from a fresh generation"
            print(f"stale: {r.student} ({why}; master {r.master})")
        for p in orphans:
            print(f"stale: {p} (no master {args.source / p.name})")
        if stale or orphans:
            print("run `python -m nstlib.assignments` and commit the student notebooks", file=sys.stderr)
            return 1
        print(f"ok: {len(results)} student notebook(s) up to date")
        return 0
    for r in results:
        state = "wrote" if r.stale else "unchanged"
        print(f"{state}: {r.student} ({r.exercises} exercise(s))")
    for p in orphans:
        print(f"warning: {p} has no master in {args.source}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
