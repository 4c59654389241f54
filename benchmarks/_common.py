"""Helpers shared by the benchmark scripts: machine description, the shared weights file, tables, and
:class:`Objective`, one fixed objective of :func:`nstlib.synthesize` run or scored many times.

Benchmarks are scripts, not tests: run them by hand (``python benchmarks/bench_speed.py``); CI
only runs ``tests/test_benchmarks.py``, which checks the tutorial/nstlib objective mapping.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from nstlib.synthesis import SynthesisResult

__all__ = [
    "machine_info",
    "print_machine",
    "weights_file",
    "table",
    "median",
    "timed",
    "load_pair",
    "Objective",
    "paper_objective",
]

ONEDNN_PROBE = "import torch; torch.nn.Conv2d(64, 64, 3, padding=1)(torch.rand(1, 64, 64, 64))"  # a oneDNN conv


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _onednn_isa() -> str:
    """The ISA oneDNN reports for this CPU (``ONEDNN_VERBOSE=1`` in a subprocess), e.g.
    'Intel AVX-512 with Intel DL Boost'."""
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "DNNL_VERBOSE": "1"}
    try:
        out = subprocess.run(
            [sys.executable, "-c", ONEDNN_PROBE], env=env, capture_output=True, text=True, timeout=120
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    m = re.search(r"isa:([^\n,]+)", out)
    return m.group(1).strip() if m else "unknown"


def machine_info() -> dict[str, str]:
    """CPU model, cores, oneDNN ISA, native bf16, torch version and thread count."""
    from nstlib.speed import native_bf16

    return {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "onednn isa": _onednn_isa(),
        "native bf16": str(native_bf16("cpu")),
        "torch": torch.__version__,
        "torch threads": str(torch.get_num_threads()),
        "load average": " ".join(f"{v:.1f}" for v in os.getloadavg()),
    }


def print_machine() -> dict[str, str]:
    info = machine_info()
    print(table(["machine", ""], [[k, v] for k, v in info.items()]))
    return info


def weights_file(seed: int = 0, directory: str | os.PathLike | None = None, full: bool = False) -> Path:
    """A seeded random torchvision VGG-19 state dict saved to a file (made once).

    Keys are torchvision's (``features.0.weight`` ...), so both the tutorial re-implementation
    (``torchvision.models.vgg19().features``) and ``nstlib.VGG19Features(weights=path)`` load it.
    ``full=True`` keeps the classifier too (548 MB, like the ImageNet checkpoint users download);
    otherwise only ``features`` (80 MB).
    """
    import torchvision

    directory = Path(directory or Path(tempfile.gettempdir()) / "nstlib-bench")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"vgg19-{'full' if full else 'features'}-seed{seed}.pth"
    if not path.exists():
        torch.manual_seed(seed)
        model = torchvision.models.vgg19(weights=None)
        state = model.state_dict() if full else {f"features.{k}": v for k, v in model.features.state_dict().items()}
        tmp = path.with_suffix(".part")
        torch.save(state, tmp)
        tmp.replace(path)
    return path


def load_pair(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The benchmark's (content, style) images, both (1, 3, size, size): skimage's astronaut and
    nstlib's procedural brush strokes (both offline)."""
    from nstlib import load_image

    return load_image("astronaut", size=(size, size)), load_image("brush_strokes", size=(size, size))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """(wall seconds, result) of ``fn()``."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table (also valid Markdown): right-aligned numbers, left-aligned text."""
    cells = [[str(c) for c in header]] + [[f"{c:.4g}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        parts = []
        for i, c in enumerate(row):
            numeric = bool(re.fullmatch(r"[-+0-9.e%x]+", c))
            parts.append(c.rjust(widths[i]) if numeric else c.ljust(widths[i]))
        return "| " + " | ".join(parts) + " |"

    lines = [fmt(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(lines + [fmt(r) for r in cells[1:]])


@dataclass(frozen=True)
class Objective:
    """One objective of :func:`nstlib.synthesize` with its targets read once on ``enc``:

    L(x) = sum_l content_layers[l] L_content^l(x) + style_weight * sum_l style_layers[l] E_l(x)  (alpha = 1).
    """

    enc: Any  # the nstlib.VGG19Features the targets were read on
    content_layers: Mapping[str, float]
    style_layers: Mapping[str, float]
    content_targets: Mapping[str, torch.Tensor]
    style_targets: Mapping[str, torch.Tensor]
    style_weight: float = 1.0

    def run(self, init: Any, steps: int, **kwargs: Any) -> SynthesisResult:
        """``synthesize`` on this objective, no progress bar; ``init="content"`` needs ``content_image=``."""
        from nstlib.synthesis import synthesize

        return synthesize(
            self.enc,
            content_targets=self.content_targets,
            style_targets=self.style_targets,
            content_layers=self.content_layers,
            style_layers=self.style_layers,
            content_weight=1.0,
            style_weight=self.style_weight,
            init=init,
            steps=steps,
            progress=False,
            **kwargs,
        )

    def score(self, image: torch.Tensor) -> float:
        """The objective of ``image`` (1, 3, H, W): one evaluation of synthesize, no step taken."""
        return self.run(image, 1).history[0]["total"]


def paper_objective(
    enc: Any, content: torch.Tensor, style: torch.Tensor, output_size: tuple[int, int] | None = None
) -> Objective:
    """Gatys et al. (CVPR 2016)'s configuration as nstlib names it (GATYS_CONTENT_LAYERS / GATYS_STYLE_LAYERS):
    content relu4_2, style relu1_1 ... relu5_1 at w_l = 1/5, alpha 1, beta 1e3; the style targets
    rescaled to ``output_size`` when given."""
    from nstlib.experiments import GATYS_CONTENT_LAYERS, GATYS_STYLE_LAYERS
    from nstlib.synthesis import content_targets, style_targets

    return Objective(
        enc,
        GATYS_CONTENT_LAYERS,
        GATYS_STYLE_LAYERS,
        content_targets(enc, content, list(GATYS_CONTENT_LAYERS)),
        style_targets(enc, style, list(GATYS_STYLE_LAYERS), output_size=output_size),
        style_weight=1e3,
    )
