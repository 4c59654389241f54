"""pyproject.toml and environment.yml name the same packages; the README's commands are the real ones."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

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


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(d) for d in project["dependencies"]} | {_name(d) for d in project["optional-dependencies"]["test"]}
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


def test_wheel_ships_every_module_and_the_painting_registry(tmp_path):
    """A plain `pip install nstlib` (no checkout) must still have the pin registry and every module."""
    src = tmp_path / "src"  # build from a copy: setuptools writes build/ and *.egg-info next to the sources
    shutil.copytree(ROOT / "nstlib", src / "nstlib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("nstlib-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "nstlib").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    assert "nstlib/registry/paintings.json" in names
    # the installed copy reads the registry from inside the package, not from a checkout's data/
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    code = "import nstlib.data as d; print(d.__file__, len(d.paintings()), sorted(d.paintings())[0])"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(unpacked)})
    where, count, first = out.stdout.split()
    assert Path(where).is_relative_to(unpacked), where  # the wheel's copy ran, not the checkout
    assert (count, first) == ("5", "shipwreck")
