"""pyproject.toml and environment.yml name the same packages; the README's commands are the real ones."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[;]", spec.strip(), maxsplit=1)[0].lower()


def _environment_yml() -> tuple[set[str], list[str]]:
    conda, pip, in_pip, in_deps = set(), [], False, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.split("#", 1)[0].rstrip()
        if stripped and not stripped.startswith(" "):  # a top-level key
            in_deps = stripped.startswith("dependencies:")
            continue
        if not in_deps or not stripped.strip().startswith("- "):
            continue
        item = stripped.strip()[2:].strip()
        indent = len(stripped) - len(stripped.lstrip())
        if item == "pip:":
            in_pip = True
            continue
        if in_pip and indent > 2:
            pip.append(item)
        else:
            in_pip = False
            conda.add(CONDA_NAMES.get(_name(item), _name(item)))
    return conda, pip


NOTEBOOK_STACK = {"jupyterlab", "ipywidgets", "nbformat"}  # what `pip install nstlib` must not pull in


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _extra(project: dict, extra: str) -> set[str]:
    """Package names an extra brings, with self-references such as nstlib[notebooks] expanded."""
    names = set()
    for spec in project["optional-dependencies"][extra]:
        if _name(spec) == project["name"]:
            for inner in re.search(r"\[([^\]]+)\]", spec).group(1).split(","):
                names |= _extra(project, inner.strip())
        else:
            names.add(_name(spec))
    return names


def test_environment_yml_matches_pyproject():
    project = _project()
    wanted = {_name(d) for d in project["dependencies"]} | _extra(project, "test")
    assert NOTEBOOK_STACK <= wanted and "pytest" in wanted  # README's `pip install -e ".[test]"` has everything
    conda, pip = _environment_yml()
    pip_names = {_name(p) for p in pip if not p.startswith("-e")}
    assert (conda | pip_names) - {"python", "pip"} == wanted
    assert "-e ." in pip or "." in pip  # the project itself comes from the pip section
    assert project["requires-python"] == ">=3.10"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    install = re.search(r"```(?:bash|sh)?\n(pip install [^\n]+)", readme)
    assert install, "README quick start must show the install command"
    assert install.group(1).split("&&")[0].strip() in ci
    assert re.search(r"^pytest\b", readme, re.M), "README must show the test command"
    assert re.search(r"^\s*python -m pytest|^\s*pytest", ci, re.M)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """nstlib's wheel, built once from a copy of the checkout (what `pip install .` installs)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # build from a copy: setuptools writes build/ and *.egg-info next to the sources
    shutil.copytree(ROOT / "nstlib", src / "nstlib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp)],
        check=True,
        capture_output=True,
    )
    (built,) = tmp.glob("nstlib-*.whl")
    return built


def test_wheel_ships_every_module_and_the_painting_registry(wheel, tmp_path):
    """A plain `pip install nstlib` (no checkout) must still have the pin registry and every module."""
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "nstlib").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    assert "nstlib/registry/paintings.json" in names
    # the installed copy reads the registry from inside the package, not from a checkout's data/
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    code = "import nstlib.data as d; print(d.__file__, len(d.paintings()), sorted(d.paintings())[0])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(unpacked)},
    )
    where, count, first = out.stdout.split()
    assert Path(where).is_relative_to(unpacked), where  # the wheel's copy ran, not the checkout
    assert (count, first) == ("5", "shipwreck")


# ------------------------------------------------------------------ the library without the notebook stack


def _requires_dist(wheel: Path) -> dict[str | None, set[str]]:
    """The wheel's METADATA Requires-Dist names, by extra (None: what a plain `pip install` pulls in)."""
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        text = zf.read(meta).decode()
    by_extra: dict[str | None, set[str]] = {}
    for line in text.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        spec = line.split(":", 1)[1].strip()
        extra = re.search(r"""extra\s*==\s*['"]([^'"]+)['"]""", spec)
        name = _name(spec) + (re.search(r"\[[^\]]+\]", spec.split(";")[0]) or [""])[0]
        by_extra.setdefault(extra.group(1) if extra else None, set()).add(name)
    return by_extra


def test_wheel_metadata_keeps_the_notebook_stack_in_extras(wheel):
    deps = _requires_dist(wheel)
    assert deps[None] == {"torch", "torchvision", "numpy", "pillow", "matplotlib", "tqdm", "scikit-image"}
    assert deps["notebooks"] == NOTEBOOK_STACK
    assert {"nstlib[notebooks]", "pytest", "nbval", "nbclient"} <= deps["test"]
    assert not NOTEBOOK_STACK & deps[None]


# Hides the notebook stack from a fresh interpreter, as in a `pip install nstlib` without extras.
HIDE = """
import importlib.abc, sys
HIDDEN = {"ipywidgets", "nbformat", "jupyterlab", "nbclient", "nbval", "ipykernel", "IPython", "comm", "traitlets"}
assert not HIDDEN & {m.split(".")[0] for m in sys.modules}, "already imported at start-up"
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
sys.meta_path.insert(0, Hide())
"""


def _run_hidden(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)  # this checkout
    env = {
        **os.environ,
        "NSTLIB_WEIGHTS": "random",
        "NSTLIB_CACHE": str(tmp_path / "cache"),
        "MPLBACKEND": "Agg",
        "PYTHONPATH": pythonpath,
    }
    return subprocess.run(
        [sys.executable, "-c", HIDE + code], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.slow  # ~20 s: a fresh interpreter imports torch and runs a tiny transfer
def test_import_nstlib_and_a_transfer_without_the_notebook_stack(tmp_path):
    code = """
import nstlib, nstlib.cli
r = nstlib.transfer("chelsea", "brush_strokes", size=32, steps=2, weights="random", progress=False)
print("ok", tuple(r.image.shape), sorted(m for m in sys.modules if m.split(".")[0] in HIDDEN | {"torchvision"}))
"""
    done = _run_hidden(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines()[-1] == "ok (1, 3, 21, 32) []", done.stdout  # chelsea is 451x300: 32x21 px


def test_the_hidden_stack_is_really_hidden_and_its_modules_say_what_to_install(tmp_path):
    """The blocker works (the test above can fail), and nstlib.widgets / nstlib.assignments name the extra."""
    code = """
for module in ("nstlib.widgets", "nstlib.assignments"):
    try:
        __import__(module)
    except ImportError as err:
        print(module, "->", err)
"""
    done = _run_hidden(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2, done.stdout
    assert (
        lines[0].startswith("nstlib.widgets -> nstlib.widgets needs ipywidgets")
        and "'ipywidgets' (hidden by the test)" in lines[0]
        and 'pip install "nstlib[notebooks]"' in lines[0]
    )
    assert (
        lines[1].startswith("nstlib.assignments -> nstlib.assignments needs nbformat")
        and 'pip install "nstlib[notebooks]"' in lines[1]
    )
