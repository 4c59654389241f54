"""The package's import layers read top to bottom: no module imports, directly or through others, a module
that imports it back (docs/architecture.md lists the layers).

The graph is read from the source with :mod:`ast`, not by importing: every ``import nstlib.x`` /
``from .x import y`` in a module counts, also the ones inside functions (a lazy import hides a cycle
from Python but not from a reader); only imports under ``if TYPE_CHECKING:`` are left out, since
they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nstlib"


def module_name(path: Path, root: Path = PACKAGE) -> str:
    """``nstlib/widgets/base.py`` -> ``"nstlib.widgets.base"``; a package's ``__init__.py`` -> the package."""
    parts = ["nstlib", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, here: str, is_package: bool, known: set[str]) -> set[str]:
    """The package modules that the statements of ``tree`` import (resolved to names in ``known``)."""
    found: set[str] = set()
    base = here if is_package else here.rpartition(".")[0]  # what "from . import" means in this file

    def add(name: str) -> None:
        while name and name not in known:  # "nstlib.io.load_image" -> "nstlib.io"
            name = name.rpartition(".")[0]
        if name and name != here:
            found.add(name)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "nstlib":
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base
                for _ in range(node.level - 1):
                    parent = parent.rpartition(".")[0]
                source = f"{parent}.{node.module}" if node.module else parent
            elif (node.module or "").split(".")[0] == "nstlib":
                source = node.module or ""
            else:
                source = ""
            if source:
                for alias in node.names:  # "from . import speed" imports the module nstlib.speed
                    sub = f"{source}.{alias.name}"
                    add(sub if sub in known else source)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """{module: the package modules it imports} for every ``.py`` file under ``root``."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    known = set(files)
    return {
        name: _imports(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", known)
        for name, path in files.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None. Importing a package's ``__init__`` from
    one of its own modules is counted like any other import."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = dfs(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = dfs(node)
            if cycle:
                return cycle
    return None


def layers(graph: dict[str, set[str]]) -> list[list[str]]:
    """Modules grouped by depth: layer 0 imports no package module, layer k only modules of layers < k."""
    depth: dict[str, int] = {}

    def level(node: str) -> int:
        if node not in depth:
            depth[node] = 0  # a cycle would recurse forever; find_cycle rules it out first
            depth[node] = 1 + max((level(d) for d in graph[node]), default=-1)
        return depth[node]

    for node in graph:
        level(node)
    out: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for node, d in sorted(depth.items()):
        out[d].append(node)
    return out


# ---------------------------------------------------------------- the tests


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "nstlib.experiments" in graph and "nstlib.objective" in graph["nstlib.synthesis"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_reader_finds_the_cycles_that_are_there(tmp_path):
    """The checker itself: a planted two-module cycle, a three-module one through a lazy import, and
    imports that must not count (under TYPE_CHECKING; a name imported from a module, not a module)."""
    pkg = tmp_path / "nstlib"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "from .a import f\n",
        "a.py": "from . import b\n",
        "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n",
        "c.py": "def g():\n    from .sub.d import h\n",
        "sub/__init__.py": "",
        "sub/d.py": "from ..e import k\n",
        "e.py": "import nstlib.c\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    graph = import_graph(pkg)
    assert graph["nstlib.a"] == {"nstlib.b"} and graph["nstlib.b"] == set()  # TYPE_CHECKING left out
    assert graph["nstlib.sub.d"] == {"nstlib.e"}
    assert find_cycle(graph) == ["nstlib.c", "nstlib.sub.d", "nstlib.e", "nstlib.c"]  # through a lazy import
    (pkg / "e.py").write_text("X = 1\n")
    assert find_cycle(import_graph(pkg)) is None
    assert layers(import_graph(pkg))[0] == ["nstlib.b", "nstlib.e", "nstlib.sub"]
    (pkg / "b.py").write_text("import nstlib.a\n")  # now a real cycle of two
    assert find_cycle(import_graph(pkg)) == ["nstlib.a", "nstlib.b", "nstlib.a"]
