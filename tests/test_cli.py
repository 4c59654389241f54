"""The command line as a user runs it: python -m nstlib ..."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    # the checkout under test, whatever an installed nstlib points to
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "NSTLIB_WEIGHTS": "random", "PYTHONPATH": pythonpath}
    return subprocess.run(
        [sys.executable, "-m", "nstlib", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def test_help_explains_options():
    out = run("transfer", "--help")
    assert out.returncode == 0
    for flag in ("--size", "--steps", "--weights", "--style-layers", "--content-layers", "--optimizer", "--init"):
        assert flag in out.stdout


def test_demo_writes_png_and_says_where(tmp_path):
    out = run("demo", "--size", "64", "--steps", "3", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    path = tmp_path / "nstlib-demo.png"
    assert f"wrote {path}" in out.stdout
    img = np.asarray(Image.open(path))
    assert img.shape == (43, 64, 3)  # chelsea is 300x451: longer side 64
    assert "nstlib" in out.stderr  # the progress bar


def test_transfer_with_files_and_layers(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(tmp_path / "c.png")
    Image.fromarray(rng.integers(0, 255, (50, 50, 3), dtype=np.uint8)).save(tmp_path / "s.jpg")
    out = run(
        "transfer",
        "c.png",
        "s.jpg",
        "-o",
        "out/o.png",
        "--size",
        "48",
        "--steps",
        "2",
        "--style-layers",
        "conv1_1:0.5,conv2_1:0.5",
        "--content-layers",
        "conv3_2",
        "--no-progress",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert Image.open(tmp_path / "out" / "o.png").size == (48, 32)


def test_transfer_missing_file_is_a_clear_error(tmp_path):
    out = run("transfer", "nope.jpg", "brick", "-o", "x.png", cwd=tmp_path)
    assert out.returncode == 1
    assert "nope.jpg" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "x.png").exists()


def test_going_further_flags(tmp_path):
    rng = np.random.default_rng(1)
    for name in ("c.png", "s1.png", "s2.png"):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(tmp_path / name)
    mask = np.zeros((48, 48), dtype=np.uint8)
    mask[:20] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = run(
        "transfer",
        "c.png",
        "s1.png",
        "s2.png",
        "--style-blend",
        "0.7,0.3",
        "--preserve-color",
        "luminance",
        "--style-scale",
        "0.5",
        "--coarse-to-fine",
        "32",
        "--fine-steps",
        "1",
        "--mask",
        "mask.png",
        "--size",
        "48",
        "--steps",
        "2",
        "--style-layers",
        "conv1_1,conv2_1",
        "--no-progress",
        "-o",
        "o.png",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert Image.open(tmp_path / "o.png").size == (48, 48)
    bad = run("transfer", "c.png", "s1.png", "--style-blend", "x", "-o", "o2.png", cwd=tmp_path)
    assert bad.returncode == 2 and "comma-separated numbers" in bad.stderr


@pytest.mark.parametrize(
    "preset_line_search, flag, expected",
    [
        ("strong_wolfe", [], "strong_wolfe"),
        ("strong_wolfe", ["--line-search", "none"], None),
        (None, ["--line-search", "strong_wolfe"], "strong_wolfe"),
        (None, [], None),
    ],
)
def test_line_search_flag_reaches_lbfgs(tmp_path, monkeypatch, capsys, preset_line_search, flag, expected):
    """--line-search is what run_loop's L-BFGS (nstlib.lbfgs.LBFGS) gets (in-process, with the default
    preset's line search swapped)."""
    from dataclasses import replace

    import nstlib.lbfgs
    from nstlib.cli import main
    from nstlib.defaults import PRESETS

    seen = []

    class Recording(nstlib.lbfgs.LBFGS):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen.append(self.defaults["line_search_fn"])

    monkeypatch.setattr(nstlib.lbfgs, "LBFGS", Recording)
    monkeypatch.setitem(PRESETS, "default", replace(PRESETS["default"], line_search=preset_line_search))
    rng = np.random.default_rng(2)
    for name in ("c.png", "s.png"):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / name)
    argv = [
        "transfer",
        str(tmp_path / "c.png"),
        str(tmp_path / "s.png"),
        "-o",
        str(tmp_path / "o.png"),
        "--size",
        "32",
        "--steps",
        "2",
        "--weights",
        "random",
        "--no-progress",
        *flag,
    ]
    assert main(argv) == 0, capsys.readouterr().err
    assert seen and set(seen) == {expected}
