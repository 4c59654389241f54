"""The notebook widgets, proven in a real JupyterLab driven by headless Chromium (Playwright).

For each panel notebook (05 style transfer, 04 texture synthesis) a robot does what a student does:
open it in JupyterLab, Run > Run All Cells, move a layer-weight slider, press Run, wait until the
status says Done; then it checks that the preview image and the per-layer loss plot show different
pixels than before. Screenshots of each step are saved for a person to look at (the folder is
printed; ``$NSTLIB_SCREENSHOTS`` or ``tests/screenshots/``).

The panels' contract (CSS classes set with ``add_class`` in ``nstlib/widgets/panel.py``):
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
    pytest.skip("Python Playwright is not installed (pip install playwright; no browser download needed)",
                allow_module_level=True)
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


def drive_panel(browser, lab, notebook: str, shots: Path) -> dict[str, float]:
    """Run ``notebook`` in JupyterLab, move a layer-weight slider, press Run, check the images changed.

    Returns timings in seconds. Leaves the notebook file in the repository untouched (autosave off).
    """
    t0 = time.monotonic()
    original = (REPO / notebook).read_bytes()
    ui = LabPage.open(browser, lab, notebook, shots)
    try:
        ui.wait_kernel_idle()
        t_open = time.monotonic() - t0
        t_cells = ui.run_all_cells()
        ui.locate(RUN, "Run button")
        ui.screenshot("after-run-all")

        preview0 = ui.image_bytes(PREVIEW, "preview")
        plot0 = ui.image_bytes(LOSS_PLOT, "loss plot")
        (shots / f"{ui.name}-preview-before.png").write_bytes(preview0)
        (shots / f"{ui.name}-lossplot-before.png").write_bytes(plot0)

        before, after = ui.move_slider(SLIDER)
        ui.locate(SLIDER, "slider").screenshot(path=str(shots / f"{ui.name}-slider-moved.png"))
        t1 = time.monotonic()
        statuses = ui.click_run_and_wait(RUN, STATUS)
        t_run = time.monotonic() - t1
        ui.locate(PREVIEW, "preview")
        ui.screenshot("after-slider-run")

        preview1 = ui.image_bytes(PREVIEW, "preview")
        plot1 = ui.image_bytes(LOSS_PLOT, "loss plot")
        (shots / f"{ui.name}-preview-after.png").write_bytes(preview1)
        (shots / f"{ui.name}-lossplot-after.png").write_bytes(plot1)
        d_preview = png_difference(preview0, preview1)
        d_plot = png_difference(plot0, plot1)
        print(f"[browser] {notebook}: slider {before} -> {after}; status texts {statuses[-3:]}; "
              f"mean |pixel change| preview {d_preview:.2f}, loss plot {d_plot:.2f}")
        if d_preview <= 0.5:
            raise ui.fail(f"preview image did not change after slider + Run (mean |diff| {d_preview:.3f})")
        if d_plot <= 0.05:
            raise ui.fail(f"loss plot did not change after slider + Run (mean |diff| {d_plot:.3f})")
    finally:
        ui.page.context.close()
    assert (REPO / notebook).read_bytes() == original, f"the browser run rewrote {notebook}"
    return {"open": t_open, "run_all": t_cells, "run": t_run, "total": time.monotonic() - t0}


# A small notebook following the panel contract, with no nstlib in it: proves the harness
# (server, browser, menu, slider, button, image comparison) on its own, in seconds.
SYNTHETIC_CELLS = [
    "import io\nimport ipywidgets as W\nimport numpy as np\nfrom PIL import Image\n",
    '''def png(a):
    buf = io.BytesIO(); Image.fromarray(a.astype("uint8")).save(buf, format="PNG"); return buf.getvalue()

def render(w):
    y, x = np.mgrid[0:64, 0:64]
    return png(np.stack([255 * (x < 64 * w), 255 * (y < 64 * w), 128 + 0 * x], -1))

slider = W.FloatSlider(value=0.2, min=0, max=1, step=0.1, description="conv1_1")
slider.add_class("nstlib-layer-weight")
run = W.Button(description="Run"); run.add_class("nstlib-run")
preview = W.Image(value=render(0.2), format="png"); preview.add_class("nstlib-preview")
plot = W.Image(value=render(0.9), format="png"); plot.add_class("nstlib-loss-plot")
status = W.Label("Ready"); status.add_class("nstlib-status")

def on_run(_):
    status.value = "Running"
    preview.value = render(slider.value)
    plot.value = render(1 - slider.value)
    status.value = "Done"

run.on_click(on_run)
W.VBox([slider, run, status, W.HBox([preview, plot])])
''',
]


def synthetic_notebook(path: Path) -> Path:
    """Write the contract notebook to ``path`` (nbformat 4 JSON) and return it."""
    nb = {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}},
        "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None, "outputs": [],
                   "source": src} for i, src in enumerate(SYNTHETIC_CELLS)],
    }
    path.write_text(json.dumps(nb, indent=1))
    return path


def test_synthetic_contract_notebook(browser, lab, shots):
    """The harness itself: a contract notebook without nstlib runs, its slider moves, Run updates both images."""
    scratch = REPO / "tests" / "screenshots" / "_synthetic"
    scratch.mkdir(parents=True, exist_ok=True)
    nb = synthetic_notebook(scratch / "browser_contract.ipynb")
    times = drive_panel(browser, lab, str(nb.relative_to(REPO)), shots)
    print(f"[browser] synthetic timings: {times}")
