"""Every nstlib name a notebook quotes exists (issue 22, F6-F9).

A name that no longer exists turns a "Try this" into a NameError or an AttributeError for the
student who copies it. For every committed notebook (masters in notebooks/source/ and the generated
student copies in notebooks/), in markdown and in code:

- every dotted name that starts with ``nstlib.`` (``nstlib.defaults.TEXTURE_LAYERS``,
  ``nstlib.analysis.input_gradient_step``, ...) resolves: each part is an attribute of the one
  before, or a submodule that imports; none goes through a deprecated forwarder (a
  ``DeprecationWarning`` fails);
- every ``alias.name`` where the notebook imported ``alias`` from nstlib (``from nstlib import viz``)
  resolves the same way;
- a name quoted in markdown (between backticks) that starts with an nstlib module the notebook did
  not import (``explore.plot_feature_maps`` with only ``analysis`` and ``viz`` imported) is reported:
  copied into the notebook it raises a NameError.

README.md and docs/**/*.md get the same check on their ``nstlib.`` names, and every repository path
they quote (``nstlib/lbfgs.py``, ``benchmarks/bench_box.py``, ``docs/offline.md``, ...) must exist.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import warnings
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

import nstlib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PATHS = sorted(p for p in NOTEBOOKS.rglob("[0-9][0-9]_*.ipynb") if ".ipynb_checkpoints" not in p.parts)
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

#: a dotted name starting at the package: nstlib.a, nstlib.a.b, ... (not part of a longer word or path)
NSTLIB_NAME = re.compile(r"(?<![\w./-])nstlib(?:\.[A-Za-z_]\w*)+")
#: ``from nstlib[.sub] import a, b as c`` (one line or parenthesised)
FROM_IMPORT = re.compile(r"^\s*from\s+(nstlib(?:\.\w+)*)\s+import\s+\(?([^)\n]+)\)?", re.MULTILINE)
#: ``import nstlib.sub as alias``
IMPORT_AS = re.compile(r"^\s*import\s+(nstlib(?:\.\w+)+)\s+as\s+(\w+)", re.MULTILINE)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
#: a repository path quoted in a document: nstlib/..., benchmarks/..., tests/..., docs/..., notebooks/...
REPO_PATH = re.compile(r"(?<![\w/.-])((?:nstlib|benchmarks|tests|docs|notebooks)/[\w./-]*\w)")
#: module names of earlier versions, gone or deprecated; quoted without an import they are NameErrors too
FORMER_MODULES = {"explore", "plot", "optim"}


def resolve(dotted: str) -> object:
    """The object a dotted name ``nstlib.a.b`` names; raises LookupError naming the first missing part."""
    parts = dotted.split(".")
    obj: object = importlib.import_module(parts[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # a deprecated forwarder is not a valid name
        for i, part in enumerate(parts[1:], start=1):
            here = ".".join(parts[:i])
            try:
                obj = getattr(obj, part)
                continue
            except AttributeError:
                pass
            except DeprecationWarning as exc:
                raise LookupError(f"{here}.{part} is deprecated: {exc}") from None
            if isinstance(obj, ModuleType):
                try:
                    obj = importlib.import_module(f"{here}.{part}")
                    continue
                except ModuleNotFoundError:
                    pass
                except DeprecationWarning as exc:
                    raise LookupError(f"{here}.{part} is deprecated: {exc}") from None
            raise LookupError(f"{here} ({type(obj).__name__}) has no attribute {part!r}")
    return obj


def imported_aliases(code: str) -> dict[str, str]:
    """{alias: dotted nstlib name} for the ``from nstlib... import`` and ``import nstlib.x as y`` lines of ``code``."""
    aliases = {}
    for module, names in FROM_IMPORT.findall(code):
        for item in names.split(","):
            item = item.strip().rstrip("\\").strip()
            if not item or item.startswith("#"):
                continue
            name, _, alias = item.partition(" as ")
            aliases[(alias or name).strip()] = f"{module}.{name.strip()}"
    for module, alias in IMPORT_AS.findall(code):
        aliases[alias] = module
    return aliases


def bound_names(cells: list[str]) -> set[str]:
    """Names the code cells bind themselves (variables, parameters, functions, imports): ``objective.loss``
    on a variable named ``objective`` is not nstlib's module ``objective``."""
    names = set()
    for source in cells:
        try:
            tree = ast.parse(source)
        except SyntaxError:  # a cell with IPython syntax
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def nstlib_modules() -> set[str]:
    """The top-level module and package names of nstlib (``analysis``, ``viz``, ``grading``, ...)."""
    return {m.name for m in pkgutil.iter_modules(nstlib.__path__) if not m.name.startswith("_")}


def quoted_names(nb: nbformat.NotebookNode) -> list[tuple[int, str, str]]:
    """[(cell index, dotted nstlib name, how it was written)] for every nstlib name the notebook quotes,
    aliases expanded; a module name used without its import comes back as ``"<not imported> alias.name"``."""
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    code = "\n".join(cells)
    aliases = imported_aliases(code)
    alias_name = None
    if aliases:
        alias_name = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, sorted(aliases))) + r")((?:\.[A-Za-z_]\w*)+)")
    modules = (nstlib_modules() | FORMER_MODULES) - set(aliases) - bound_names(cells)
    module_name = re.compile(r"(?<![\w.])(" + "|".join(sorted(modules)) + r")\.([A-Za-z_]\w*)")
    found = []
    for index, cell in enumerate(nb.cells):
        texts = [cell.source] if cell.cell_type == "code" else CODE_SPAN.findall(cell.source)
        if cell.cell_type == "markdown":
            texts.append(cell.source)  # nstlib.x.y written outside backticks counts too
        for text in texts:
            for match in NSTLIB_NAME.finditer(text):
                found.append((index, match.group(0), match.group(0)))
            if alias_name is not None:
                for match in alias_name.finditer(text):
                    found.append((index, aliases[match.group(1)] + match.group(2), match.group(0)))
        if cell.cell_type == "markdown":
            for span in CODE_SPAN.findall(cell.source):
                for match in module_name.finditer(span):
                    found.append((index, f"<not imported> {match.group(0)}", match.group(0)))
    return sorted(set(found))


def bad_names(nb: nbformat.NotebookNode) -> list[str]:
    """One line per quoted nstlib name that does not resolve: ``cell N: `written`: why``."""
    problems = []
    for index, dotted, written in quoted_names(nb):
        if dotted.startswith("<not imported> "):
            module = written.split(".")[0]
            problems.append(f"cell {index}: `{written}`: {module} is not imported in this notebook (a NameError)")
            continue
        try:
            resolve(dotted)
        except (LookupError, ImportError) as exc:
            problems.append(f"cell {index}: `{written}` ({dotted}): {exc}")
    return problems


def bad_doc_names(text: str, folder: Path) -> list[str]:
    """One line per ``nstlib.`` name in a markdown document that does not resolve, and per quoted
    repository path that exists neither from the repository's root nor from the document's ``folder``
    (``notebooks/NN_...`` placeholders aside; ``benchmarks/x.func`` counts when ``benchmarks/x.py`` exists)."""
    problems = []
    for dotted in sorted(set(NSTLIB_NAME.findall(text))):
        try:
            resolve(dotted)
        except (LookupError, ImportError) as exc:
            problems.append(f"`{dotted}`: {exc}")
    for quoted in sorted(set(REPO_PATH.findall(text))):
        if "NN_" in quoted:
            continue
        candidates = [ROOT / quoted, folder / quoted, ROOT / (quoted.rsplit(".", 1)[0] + ".py")]
        if not any(c.exists() for c in candidates):
            problems.append(f"{quoted}: no such file or folder")
    return problems


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_every_nstlib_name_and_path_in_the_docs_exists(path):
    problems = bad_doc_names(path.read_text(encoding="utf-8"), path.parent)
    assert not problems, f"{path.relative_to(ROOT)}: names or paths that do not exist:\n" + "\n".join(problems)


def test_the_document_scanner_reports_planted_bad_names():
    """A stale name and a stale path planted in a small document are reported; current ones pass."""
    stale = "Use `nstlib.transfer.TEXTURE_LAYERS` (see nstlib/explore.py and benchmarks/no_such_bench.py)."
    problems = bad_doc_names(stale, ROOT / "docs")
    assert len(problems) == 3, problems
    assert "has no attribute 'TEXTURE_LAYERS'" in problems[0]
    current = "Use `nstlib.defaults.TEXTURE_LAYERS` (nstlib/lbfgs.py, benchmarks/bench_box.py, docs/offline.md)."
    assert bad_doc_names(current, ROOT / "docs") == []


@pytest.mark.parametrize("path", PATHS, ids=[str(p.relative_to(NOTEBOOKS)) for p in PATHS])
def test_every_quoted_nstlib_name_resolves(path):
    nb = nbformat.read(path, as_version=4)
    assert quoted_names(nb), "no nstlib name found at all: the scanner is broken"
    problems = bad_names(nb)
    assert not problems, f"{path.name}: names that do not exist:\n" + "\n".join(problems)


def _notebook(*cells: tuple[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source))
    return nb


def test_the_scanner_reports_planted_bad_names():
    """Each stale name the teaching review found (F6, F7, F8), planted in a small notebook, is reported;
    the same notebook with the current names passes."""
    imports = ("code", "import nstlib\nfrom nstlib import analysis, viz\n")
    stale = _notebook(
        imports,
        ("markdown", "Call `explore.plot_feature_maps` on the brick image."),  # F6: module not imported
        ("markdown", "the layers `nstlib.transfer.TEXTURE_LAYERS`."),  # F7: nstlib.transfer is a function
        ("code", "x = analysis.no_such_function(x)"),  # an alias with a missing attribute
        ("markdown", "see nstlib.no_such_module.thing"),  # outside backticks
    )
    problems = bad_names(stale)
    assert len(problems) == 4, problems
    assert "explore is not imported" in problems[0]
    assert "nstlib.transfer (function) has no attribute 'TEXTURE_LAYERS'" in problems[1]
    assert "no attribute 'no_such_function'" in problems[2]
    assert "no_such_module" in problems[3]

    current = _notebook(
        imports,
        ("markdown", "Call `viz.plot_feature_maps`; the layers `nstlib.defaults.TEXTURE_LAYERS`."),
        ("code", "x = analysis.input_gradient_step(x, f, lr=0.01)\nnstlib.grading.report()"),
        ("markdown", "`nstlib.analysis.input_gradient_step` and `torch.optim.LBFGS` (not nstlib's)."),
    )
    assert bad_names(current) == []
    assert {d for _, d, _ in quoted_names(current)} >= {
        "nstlib.viz.plot_feature_maps",
        "nstlib.defaults.TEXTURE_LAYERS",
        "nstlib.analysis.input_gradient_step",
        "nstlib.grading.report",
    }


def test_resolve_rejects_a_deprecated_forwarder(monkeypatch):
    """A name that only resolves through a forwarder's DeprecationWarning does not count as existing."""
    shim = ModuleType("nstlib._planted_shim")

    def __getattr__(name):  # noqa: N807 (a module's __getattr__)
        warnings.warn(f"nstlib._planted_shim.{name} moved to nstlib.viz", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module("nstlib.viz"), name)

    shim.__getattr__ = __getattr__
    monkeypatch.setitem(__import__("sys").modules, "nstlib._planted_shim", shim)
    monkeypatch.setattr(nstlib, "_planted_shim", shim, raising=False)
    with pytest.raises(LookupError, match="deprecated"):
        resolve("nstlib._planted_shim.plot_feature_maps")
    assert resolve("nstlib.viz.plot_feature_maps") is importlib.import_module("nstlib.viz").plot_feature_maps
