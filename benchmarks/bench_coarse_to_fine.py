"""Coarse-to-fine vs single scale at the same output size (Gatys et al. 2017, Sec. 6).

Both runs optimise the same objective (paper configuration: content conv4_2, style conv1_1..conv5_1,
alpha/beta = 1e-3) for the same content/style at SIZE px. The single-scale run makes STEPS
evaluations at SIZE; the coarse-to-fine run makes STEPS at SIZE/2, upsamples, then STEPS/3 at SIZE.
Both final images are scored with one fresh evaluation of the full-size objective, so the losses
compare directly. Runs are interleaved (A B A B) and medians reported.

    python benchmarks/bench_coarse_to_fine.py [--size 512] [--steps 150] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nstlib  # noqa: E402
from benchmarks._common import paper_objective  # noqa: E402


def score(enc, content, style, image) -> float:
    """The full-size objective of ``image``: one evaluation of synthesize, no step taken."""
    hw = (int(content.shape[-2]), int(content.shape[-1]))
    return paper_objective(enc, content, style, output_size=hw).score(image)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--content", default="chelsea")
    ap.add_argument("--style", default="brush_strokes")
    args = ap.parse_args()

    enc = nstlib.get_encoder()
    content = nstlib.load_image(args.content, size=args.size)
    style = nstlib.load_image(args.style, size=args.size)
    fine = max(1, args.steps // 3)
    rows: dict[str, list[tuple[float, float]]] = {"single": [], "c2f": []}
    for _ in range(args.repeats):
        for kind in ("single", "c2f"):
            t = time.perf_counter()
            if kind == "single":
                res = nstlib.transfer(content, style, encoder=enc, size=args.size, steps=args.steps, progress=False)
            else:
                res = nstlib.transfer(
                    content,
                    style,
                    encoder=enc,
                    size=args.size,
                    steps=args.steps,
                    coarse_to_fine=args.size // 2,
                    fine_steps=fine,
                    progress=False,
                )
            seconds = time.perf_counter() - t
            rows[kind].append((seconds, score(enc, content, style, res.image)))
    print(f"# coarse-to-fine at {tuple(content.shape[-2:])}, weights: {enc.weights_source}, precision {enc.precision}")
    print(f"{'run':42} {'wall s (median)':>16} {'final loss (median)':>20}")
    label = {
        "single": f"single scale: {args.steps} evals at {args.size}",
        "c2f": f"coarse-to-fine: {args.steps} at {args.size // 2} + {fine} at {args.size}",
    }
    med = {k: (statistics.median(s for s, _ in v), statistics.median(l for _, l in v)) for k, v in rows.items()}
    for k, (s, loss) in med.items():
        print(f"{label[k]:42} {s:16.1f} {loss:20.4g}")
    print(
        f"time ratio single / coarse-to-fine: {med['single'][0] / med['c2f'][0]:.2f}x; "
        f"loss ratio coarse-to-fine / single: {med['c2f'][1] / med['single'][1]:.3f}"
    )


if __name__ == "__main__":
    main()
