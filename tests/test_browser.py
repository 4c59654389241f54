"""The notebook widgets, proven in a real JupyterLab driven by headless Chromium (Playwright).

For each panel notebook (05 style transfer, 04 texture synthesis) a robot does what a student does:
open it in JupyterLab, Run > Run All Cells, move a layer-weight slider, press Run, wait until the
status says Done; then it checks that the preview image and the per-layer loss plot show different
pixels than before. Screenshots of each step are saved for a person to look at (the folder is
printed; ``$NSTLIB_SCREENSHOTS`` or ``tests/screenshots/``).

The panels' contract (CSS classes set with ``add_class`` in ``nstlib/widgets/base.py`` and ``synthesis_panel.py``):
``nstlib-layer-weight`` (each layer-weight slider), ``nstlib-run`` (Run button), ``nstlib-preview``
and ``nstlib-loss-plot`` (``ipywidgets.Image`` with PNG bytes), ``nstlib-status`` (text that says
"Running" while running and "Done" when finished).

Skipped with the reason when Playwright, Chromium or JupyterLab is missing. Run it alone with
``python -m pytest -m browser tests/test_browser.py -s`` (``-s`` shows the screenshot folder).
The kernel runs with ``NSTLIB_WEIGHTS=random NSTLIB_QUICK=1 MPLBACKEND=Agg``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import pytest

from tests.browser import LabPage, find_chromium, launch_chromium, png_difference, start_lab

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = find_chromium()

if importlib.util.find_spec("playwright") is None:
    pytest.skip(
        "Python Playwright is not installed (pip install playwright; no browser download needed)",
        allow_module_level=True,
    )
if CHROMIUM is None:
    pytest.skip("no Chromium binary (apt-get install chromium, or set NSTLIB_CHROMIUM)", allow_module_level=True)
if importlib.util.find_spec("jupyterlab") is None:
    pytest.skip("JupyterLab is not installed", allow_module_level=True)

KERNEL_ENV = {"NSTLIB_WEIGHTS": "random", "NSTLIB_QUICK": "1", "MPLBACKEND": "Agg"}

# contract selectors
SLIDER = ".nstlib-layer-weight"
RUN = ".nstlib-run"
PREVIEW = ".nstlib-preview"
LOSS_PLOT = ".nstlib-loss-plot"
STATUS = ".nstlib-status"


@pytest.fixture(scope="module")
def shots() -> Path:
    """The screenshot folder (``$NSTLIB_SCREENSHOTS`` or ``tests/screenshots``), printed for a person."""
    path = Path(os.environ.get("NSTLIB_SCREENSHOTS") or REPO / "tests" / "screenshots").resolve()
    path.mkdir(parents=True, exist_ok=True)
    print(f"\n[browser] screenshots in {path}")
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One JupyterLab server for the module, serving the repository root."""
    with start_lab(REPO, tmp_path_factory.mktemp("jupyterlab"), env=KERNEL_ENV) as server:
        yield server


@pytest.fixture(scope="module")
def browser(lab):
    """Headless Debian Chromium through Playwright (the server fixture first, so it stops last)."""
    with launch_chromium(CHROMIUM) as b:
        yield b


def _grab(ui: LabPage, shots: Path, label: str) -> tuple[bytes, bytes]:
    """Save a screenshot and the preview / loss-plot PNG bytes under ``label``; return the two PNGs."""
    ui.locate(PREVIEW, "preview")
    ui.screenshot(label)
    preview = ui.image_bytes(PREVIEW, "preview")
    plot = ui.image_bytes(LOSS_PLOT, "loss plot")
    (shots / f"{ui.name}-{label}-preview.png").write_bytes(preview)
    (shots / f"{ui.name}-{label}-lossplot.png").write_bytes(plot)
    return preview, plot


def drive_panel(
    browser, lab, notebook: str, shots: Path, nth: int = -1, key: str = "Home", presses: int = 1
) -> dict[str, float]:
    """Run ``notebook`` in JupyterLab, press Run twice, move a layer-weight slider, press Run; check the images.

    Four states of the panel, each read as the PNG bytes the browser shows:

    0. after Run All: the placeholders;
    1. after Run with the default weights: preview and loss plot differ from 0 (Run works);
    1b. after Run again, nothing touched: identical to 1 (runs are seeded; a control, so that the
        next difference can only come from the slider);
    2. after moving the ``nth`` layer-weight slider with ``key`` (default: the last slider, the
       deepest layer, to 0 with Home; End if it already is 0) and Run: differs from 1 (the
       slider's value reaches the optimisation).

    The deepest layer is the default because with random weights (``NSTLIB_WEIGHTS=random``) the
    Gram terms grow by about 1e10 from conv1_1 to conv5_1, so conv1_1's weight is below float32
    resolution of the total and the style-transfer preview does not change at all (measured).
    Returns timings in seconds. The notebook file stays untouched.
    """
    t0 = time.monotonic()
    original = (REPO / notebook).read_bytes()
    for stale in shots.glob(f"{Path(notebook).stem}-*.png"):  # a previous run's pictures
        stale.unlink()
    ui = LabPage.open(browser, lab, notebook, shots)
    timings: dict[str, float] = {}
    try:
        ui.wait_kernel_idle()
        timings["open"] = time.monotonic() - t0
        timings["run_all"] = ui.run_all_cells()
        placeholder = _grab(ui, shots, "0-after-run-all")

        t = time.monotonic()
        ui.click_run_and_wait(RUN, STATUS)
        timings["run_default"] = time.monotonic() - t
        default = _grab(ui, shots, "1-run-default")
        ui.click_run_and_wait(RUN, STATUS)
        again = _grab(ui, shots, "1b-run-again")

        name, before, after = ui.move_slider(SLIDER, nth=nth, key=key, presses=presses, fallback_key="End")
        ui.locate(SLIDER, "slider", nth=nth).screenshot(path=str(shots / f"{ui.name}-slider-moved.png"))
        t = time.monotonic()
        statuses = ui.click_run_and_wait(RUN, STATUS)
        timings["run_slider"] = time.monotonic() - t
        moved = _grab(ui, shots, "2-run-slider")

        d = {
            (what, pair): png_difference(x[k], y[k])
            for pair, x, y in (("0->1", placeholder, default), ("1->1b", default, again), ("1->2", default, moved))
            for k, what in enumerate(("preview", "loss plot"))
        }
        print(
            f"\n[browser] {notebook}: slider {name} {before} -> {after}; last status {statuses[-1]!r}; "
            "mean |pixel change| (0-255) " + ", ".join(f"{w} {p}: {v:.3f}" for (w, p), v in d.items())
        )
        for what in ("preview", "loss plot"):
            if d[what, "0->1"] <= 0.0:
                raise ui.fail(f"Run did not change the {what} (placeholder after Run All -> first Run)")
            if d[what, "1->1b"] != 0.0:
                raise ui.fail(
                    f"the {what} changed between two Runs with the same settings (mean |diff| "
                    f"{d[what, '1->1b']:.4f}): runs are not reproducible, so 1->2 proves nothing"
                )
            if d[what, "1->2"] <= 0.0:
                raise ui.fail(f"the {what} did not change after moving slider {name} {before} -> {after} and Run")
    finally:
        ui.page.context.close()
        lab.shutdown_kernels()  # free the kernel's memory and CPU before the next notebook
    assert (REPO / notebook).read_bytes() == original, f"the browser run rewrote {notebook}"
    timings["total"] = time.monotonic() - t0
    return timings


# A small notebook following the panel contract, with no nstlib in it: proves the harness
# (server, browser, menu, slider, button, image comparison) on its own, in seconds.
SYNTHETIC_CELLS = [
    "import io\nimport ipywidgets as W\nimport numpy as np\nfrom PIL import Image\n",
    """def png(a):
    buf = io.BytesIO(); Image.fromarray(a.astype("uint8")).save(buf, format="PNG"); return buf.getvalue()

def render(w):
    y, x = np.mgrid[0:64, 0:64]
    return png(np.stack([255 * (x < 64 * w), 255 * (y < 64 * w), 128 + 0 * x], -1))

slider = W.FloatSlider(value=0.2, min=0, max=1, step=0.1, description="conv1_1")
slider.add_class("nstlib-layer-weight")
run = W.Button(description="Run"); run.add_class("nstlib-run")
grey = png(np.full((64, 64, 3), 200))
preview = W.Image(value=grey, format="png"); preview.add_class("nstlib-preview")
plot = W.Image(value=grey, format="png"); plot.add_class("nstlib-loss-plot")
status = W.Label("Ready"); status.add_class("nstlib-status")

def on_run(_):
    status.value = "Running"
    preview.value = render(slider.value)
    plot.value = render(1 - slider.value)
    status.value = "Done"

run.on_click(on_run)
W.VBox([slider, run, status, W.HBox([preview, plot])])
""",
]


def synthetic_notebook(path: Path) -> Path:
    """Write the contract notebook to ``path`` (nbformat 4 JSON) and return it."""
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
        "cells": [
            {"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None, "outputs": [], "source": src}
            for i, src in enumerate(SYNTHETIC_CELLS)
        ],
    }
    path.write_text(json.dumps(nb, indent=1))
    return path


def test_synthetic_contract_notebook(browser, lab, shots):
    """The harness itself: a contract notebook without nstlib runs, its slider moves, Run updates both images."""
    scratch = REPO / "tests" / "screenshots" / "_synthetic"
    scratch.mkdir(parents=True, exist_ok=True)
    nb = synthetic_notebook(scratch / "browser_contract.ipynb")
    times = drive_panel(browser, lab, str(nb.relative_to(REPO)), shots, nth=0, key="ArrowRight", presses=3)
    print(f"[browser] synthetic timings: {times}")


PANEL_NOTEBOOKS = ["05_style_transfer.ipynb", "04_texture_synthesis.ipynb"]


def notebook_path(name: str) -> str:
    """The student copy ``notebooks/<name>`` if committed, else the master ``notebooks/source/<name>``."""
    for rel in (Path("notebooks") / name, Path("notebooks") / "source" / name):
        if (REPO / rel).exists():
            return str(rel)
    pytest.fail(f"neither notebooks/{name} nor notebooks/source/{name} exists")


@pytest.mark.parametrize("name", PANEL_NOTEBOOKS)
def test_panel_notebook(browser, lab, shots, name):
    """A student's session: Run All, Run, move a layer-weight slider, Run: preview and loss plot change."""
    times = drive_panel(browser, lab, notebook_path(name), shots)
    print(f"[browser] {name} timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
