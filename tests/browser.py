"""Drive a real JupyterLab in headless Chromium (Python Playwright): the harness behind test_browser.py.

What a student does, done by a robot::

    with start_lab(root_dir, tmp) as lab, launch_chromium(chromium) as browser:
        page = LabPage.open(browser, lab, "notebooks/05_style_transfer.ipynb", shots)
        page.wait_kernel_idle()
        page.run_all_cells()                       # Run > Run All Cells, waits for every prompt
        page.move_slider(".nstlib-layer-weight", nth=-1, key="Home")  # focus a noUiSlider handle, press Home
        page.click_run_and_wait(...)               # Run button, wait for the status to say Done

Isolation: the server gets a fresh ``JUPYTER_CONFIG_DIR``, user-settings, app-settings (holding the
``overrides.json`` that turns off the news pop-up, autosave and cell windowing), workspaces,
runtime and IPython directories under a temporary folder, a random token and a free port on
127.0.0.1. Autosave is off so the notebooks in the repository are never rewritten with outputs.
The server is stopped with ``POST /api/shutdown`` and killed if it does not exit.

Nothing here downloads: Chromium is Debian's (``/usr/bin/chromium`` or ``$NSTLIB_CHROMIUM``);
``playwright install`` is never run.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CHROMIUM_ARGS",
    "LAB_OVERRIDES",
    "BrowserTestError",
    "LabPage",
    "LabServer",
    "find_chromium",
    "launch_chromium",
    "png_difference",
    "start_lab",
]

#: Flags Debian's Chromium needs as root in a container without a GPU or network.
CHROMIUM_ARGS: list[str] = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

#: JupyterLab 4.6 settings for an unattended run (written to ``<app_settings_dir>/overrides.json``).
LAB_OVERRIDES: dict[str, dict[str, Any]] = {
    # no "Would you like to receive official Jupyter news?" toast, no update check (no network)
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    # never write outputs back into the repository's notebooks
    "@jupyterlab/docmanager-extension:plugin": {"autosave": False},
    # every cell in the DOM, so prompts and widgets below the fold can be found
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
}


class BrowserTestError(AssertionError):
    """A browser step failed; the message carries the screenshot path and the server log tail."""


def find_chromium() -> str | None:
    """Path of a Chromium binary: ``$NSTLIB_CHROMIUM``, else ``chromium`` / ``chromium-browser`` on PATH."""
    env = os.environ.get("NSTLIB_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LabServer:
    """A running ``jupyter lab`` process: its base ``url``, ``token`` and ``log_path``."""

    url: str
    token: str
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    def api(self, path: str, method: str = "GET", timeout: float = 5.0) -> Any:
        """Call the REST API (``/api/...``) with the token; returns the decoded JSON (or None)."""
        req = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method == "POST" else None,
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body.strip() else None

    def shutdown_kernels(self) -> int:
        """Stop every running kernel (``DELETE /api/kernels/<id>``); returns how many there were."""
        kernels = self.api("/api/kernels") or []
        for k in kernels:
            with contextlib.suppress(Exception):
                self.api(f"/api/kernels/{k['id']}", method="DELETE", timeout=15)
        return len(kernels)

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server (and kernel) log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no JupyterLab log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        """``POST /api/shutdown`` (stops kernels too), then terminate / kill if still running."""
        if self.process.poll() is None:
            with contextlib.suppress(Exception):
                self.api("/api/shutdown", method="POST")
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)


@contextlib.contextmanager
def start_lab(
    root_dir: Path,
    work_dir: Path,
    env: dict[str, str] | None = None,
    startup_timeout: float = 90.0,
) -> Iterator[LabServer]:
    """Start ``jupyter lab`` serving ``root_dir`` on 127.0.0.1 with a random token; stop it on exit.

    ``work_dir`` receives the fresh config/settings/workspace/runtime directories and ``lab.log``.
    ``env`` is added to the server's environment, which kernels inherit (NSTLIB_WEIGHTS, ...).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    dirs = {
        name: work_dir / name
        for name in ("config", "data", "user-settings", "app-settings", "workspaces", "runtime", "ipython")
    }
    for d in dirs.values():
        d.mkdir(exist_ok=True)
    (dirs["app-settings"] / "overrides.json").write_text(json.dumps(LAB_OVERRIDES, indent=2))
    token = secrets.token_hex(16)
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        f"--LabApp.user_settings_dir={dirs['user-settings']}",
        f"--LabApp.app_settings_dir={dirs['app-settings']}",
        f"--LabApp.workspaces_dir={dirs['workspaces']}",
        "--LabApp.news_url=",  # belt and braces: nothing to fetch even if news were on
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    full_env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),  # notebook-signing key etc.; extensions stay in sys.prefix
        "JUPYTER_PLATFORM_DIRS": "1",
        **(env or {}),
    }
    log_path = work_dir / "lab.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=str(root_dir))
    lab = LabServer(url=f"http://127.0.0.1:{port}", token=token, log_path=log_path, process=proc)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                raise BrowserTestError(f"jupyter lab exited with code {proc.returncode}:\n{lab.log_tail()}")
            try:
                lab.api("/api/status", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise BrowserTestError(f"jupyter lab did not answer within {startup_timeout:.0f} s:\n{lab.log_tail()}")
            time.sleep(0.25)
        yield lab
    finally:
        lab.stop()
        log.close()


@contextlib.contextmanager
def launch_chromium(executable: str, headless: bool = True) -> Iterator[Any]:
    """A Playwright ``Browser`` on Debian's Chromium (no downloaded browser); closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=headless, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def png_difference(a: bytes, b: bytes) -> float:
    """Mean absolute pixel difference (0-255 scale) of two images; 255.0 when their sizes differ."""
    import numpy as np
    from PIL import Image

    x = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"), dtype=np.float64)
    y = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.float64)
    if x.shape != y.shape:
        return 255.0
    return float(np.abs(x - y).mean())


# JavaScript run in the page -------------------------------------------------------------------

_JS_IMG_BYTES = """async (img) => {
    const r = await fetch(img.src);
    const buf = new Uint8Array(await r.arrayBuffer());
    let s = ''; for (let i = 0; i < buf.length; i += 0x8000) s += String.fromCharCode(...buf.subarray(i, i + 0x8000));
    return {b64: btoa(s), type: r.headers.get('content-type') || '', w: img.naturalWidth, h: img.naturalHeight};
}"""

# Record every text the status widget shows (a MutationObserver sees the short "Running" too).
_JS_WATCH_STATUS = """(el) => {
    window.__nstlibStatusLog = [el.textContent];
    if (window.__nstlibObserver) window.__nstlibObserver.disconnect();
    window.__nstlibObserver = new MutationObserver((records) => {
        for (const r of records) {
            for (const n of r.addedNodes) window.__nstlibStatusLog.push(n.textContent || '');
            if (r.type === 'characterData') window.__nstlibStatusLog.push(r.target.textContent || '');
        }
        window.__nstlibStatusLog.push(el.textContent);
    });
    window.__nstlibObserver.observe(el, {subtree: true, childList: true, characterData: true});
}"""

_JS_CELL_STATE = """() => {
    const cells = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell')];
    const prompts = cells.map(c => (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '');
    const errors = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output'
        + '[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(e => e.textContent).filter(t => /Error|Traceback/.test(t));
    return {n: cells.length, prompts, errors};
}"""


class LabPage:
    """One JupyterLab tab with one notebook open; every wait fails with a screenshot and the log."""

    def __init__(self, page: Any, lab: LabServer, shots: Path, name: str) -> None:
        self.page = page
        self.lab = lab
        self.shots = shots
        self.name = name
        self._n = 0
        self.console: list[str] = []

    @classmethod
    def open(cls, browser: Any, lab: LabServer, notebook: str, shots: Path, timeout: float = 120.0) -> LabPage:
        """Open ``notebook`` (a path relative to the server root) in a fresh browser context."""
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(30_000)
        self = cls(page, lab, shots, Path(notebook).stem)
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        page.goto(f"{lab.url}/lab/tree/{notebook}?reset&token={lab.token}", wait_until="domcontentloaded")
        self.wait(
            lambda: page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=timeout * 1000),
            f"notebook {notebook} did not render",
        )
        return self

    # failure reporting -------------------------------------------------------------------------

    def screenshot(self, label: str, full_page: bool = False) -> Path:
        """Save a screenshot ``<name>-NN-<label>.png`` under the screenshots folder; returns its path."""
        self._n += 1
        path = self.shots / f"{self.name}-{self._n:02d}-{label}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def fail(self, message: str) -> BrowserTestError:
        """A BrowserTestError naming a fresh screenshot, the page's console and the server log tail."""
        try:
            shot = str(self.screenshot("FAILED"))
        except Exception as exc:  # the page may be gone
            shot = f"(no screenshot: {exc})"
        console = "\n".join(self.console[-15:]) or "(empty)"
        return BrowserTestError(
            f"{message}\nscreenshot: {shot}\nbrowser console (last lines):\n{console}\n"
            f"JupyterLab log (last lines):\n{self.lab.log_tail()}"
        )

    def wait(self, step, message: str) -> Any:
        """Run ``step()``; turn any exception into :meth:`fail` with ``message``."""
        try:
            return step()
        except BrowserTestError:
            raise
        except Exception as exc:
            raise self.fail(f"{message}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc

    # kernel and cells --------------------------------------------------------------------------

    def kernel_state(self) -> dict[str, str]:
        """The notebook toolbar's kernel name and the execution indicator's status."""
        return self.page.evaluate(
            """() => {
            const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
            if (!p) return {name: '', status: ''};
            const name = (p.querySelector('.jp-KernelName, .jp-Toolbar-kernelName') || {}).textContent || '';
            const ind = p.querySelector('.jp-Notebook-ExecutionIndicator');
            return {name: name.trim(), status: ind ? (ind.getAttribute('data-status') || '') : ''};
        }"""
        )

    def wait_kernel_idle(self, timeout: float = 120.0) -> None:
        """Wait until a kernel exists (its name shows, not "No Kernel") and it reports idle.

        Right after load the indicator can read idle before any kernel is started, hence the name.
        A "Select Kernel" dialog (notebook without kernelspec) is accepted with the default kernel.
        """
        deadline = time.monotonic() + timeout
        state: dict[str, str] = {}
        while time.monotonic() < deadline:
            dialog = self.page.locator(".jp-Dialog .jp-mod-accept")
            if dialog.count() and dialog.first.is_visible():
                dialog.first.click()
            state = self.kernel_state()
            name = state.get("name", "")
            if name and "No Kernel" not in name and "Kernel" != name and state.get("status") == "idle":
                return
            time.sleep(0.25)
        raise self.fail(f"kernel not idle after {timeout:.0f} s (toolbar says {state})")

    def run_all_cells(self, timeout: float = 300.0) -> float:
        """Run > Run All Cells through the menu bar; wait until every code cell has a number.

        Fails when a cell raised (Run All stops there) or a prompt still reads ``[*]``/``[ ]``.
        Returns the seconds the run took.
        """
        t0 = time.monotonic()
        page = self.page
        self.wait(
            lambda: page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).first.click(), "no Run menu"
        )
        self.wait(
            lambda: page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).first.click(),
            "no Run All Cells item in the Run menu",
        )
        deadline = t0 + timeout
        state: dict[str, Any] = {}
        stalled_since: float | None = None
        while time.monotonic() < deadline:
            state = page.evaluate(_JS_CELL_STATE)
            busy = [p for p in state["prompts"] if "*" in p]
            numbered = [p for p in state["prompts"] if any(ch.isdigit() for ch in p)]
            idle = self.kernel_state().get("status") == "idle"
            if state["n"] and not busy and idle and len(numbered) == state["n"]:
                return time.monotonic() - t0
            # Run All stops at a cell that raised: the kernel idles with cells left unnumbered.
            if state["n"] and not busy and idle:
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 5:
                    first = next(i for i, p in enumerate(state["prompts"]) if not any(ch.isdigit() for ch in p))
                    errors = "\n".join(t[-2000:] for t in state["errors"]) or "(no traceback on the page)"
                    raise self.fail(
                        f"Run All stopped: code cell {first + 1} of {state['n']} did not run; errors shown:\n{errors}"
                    )
            else:
                stalled_since = None
            time.sleep(0.5)
        raise self.fail(f"cells not all executed after {timeout:.0f} s; prompts: {state.get('prompts')}")

    # widgets -----------------------------------------------------------------------------------

    def locate(self, selector: str, what: str, timeout: float = 30.0, nth: int = 0) -> Any:
        """The ``nth`` element matching ``selector`` (-1: the last), visible and scrolled into view."""
        loc = self.page.locator(selector).nth(nth)
        self.wait(lambda: loc.wait_for(state="visible", timeout=timeout * 1000), f"no {what} ({selector}) on the page")
        loc.scroll_into_view_if_needed()
        return loc

    def image_bytes(self, selector: str, what: str) -> bytes:
        """The bytes the ``<img>`` inside ``selector`` shows (fetched from its blob/data URL)."""
        loc = self.locate(f"{selector} img, img{selector}", what)
        got = self.wait(lambda: loc.evaluate(_JS_IMG_BYTES), f"could not read the {what} image")
        if not got["b64"]:
            raise self.fail(f"the {what} image is empty")
        return base64.b64decode(got["b64"])

    def move_slider(
        self, selector: str, nth: int = 0, key: str = "ArrowRight", presses: int = 1, fallback_key: str | None = None
    ) -> tuple[str, str, str]:
        """Focus the noUiSlider handle of the ``nth`` slider matching ``selector``; press ``key`` ``presses`` times.

        noUiSlider (ipywidgets 8) moves one step per arrow key and to the ends with Home / End.
        If the readout does not move (already at that end) ``fallback_key`` is pressed once.
        Returns the slider's description and its (before, after) readout texts.
        """
        slider = self.locate(selector, "slider", nth=nth)
        readout = slider.locator(".widget-readout")
        label = slider.locator(".widget-label")
        name = label.first.inner_text().strip() if label.count() else selector
        before = readout.first.inner_text().strip()
        handle = slider.locator(".noUi-handle").first
        handle.focus()
        after = before
        for keys in ([key] * presses, [fallback_key] if fallback_key else []):
            for k in keys:
                handle.press(k)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and after == before:
                after = readout.first.inner_text().strip()
                time.sleep(0.1)
            if after != before:
                return name, before, after
        raise self.fail(f"slider {name} did not move with {key} (readout stays {before!r})")

    def click_run_and_wait(
        self,
        button: str,
        status: str,
        done: str = "Done",
        running: str = "Running",
        error: str = "Error",
        timeout: float = 240.0,
    ) -> list[str]:
        """Click ``button``; wait until ``status`` showed ``running`` (or changed) and now starts with ``done``.

        Returns every text the status widget showed meanwhile (recorded by a MutationObserver, so a
        short "Running" is not missed), the final one last. A status starting with ``error`` fails at once.
        """
        status_loc = self.locate(status, "status label")
        status_loc.evaluate(_JS_WATCH_STATUS)
        start_text = status_loc.inner_text()
        self.locate(button, "Run button").click()
        deadline = time.monotonic() + timeout
        log: list[str] = []
        while time.monotonic() < deadline:
            log = self.page.evaluate("() => window.__nstlibStatusLog || []")
            now = status_loc.inner_text()
            if now.strip().startswith(error):
                raise self.fail(f"the run failed; status says {now!r}")
            started = any(t.strip().startswith(running) for t in log[1:]) or now != start_text
            if started and now.strip().startswith(done):
                return [*log, now]
            time.sleep(0.25)
        raise self.fail(f"run not done after {timeout:.0f} s; status texts seen: {log[-10:]}")
