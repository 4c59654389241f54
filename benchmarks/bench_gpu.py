"""Issue 24, item 4, on a GPU: per evaluation against the network's own forward + backward, and the
PyTorch tutorial's algorithm against nstlib at the same evaluations. One script of a few minutes,
prepared for a session that is lent a GPU (``benchmarks/gpu_check.sh`` runs it, then the test suite
with ``NSTLIB_DEVICE=cuda``).

Part ``floor`` (paper configuration: content relu4_2, style relu1_1 ... relu5_1, beta 1e3), per
image size: the floor is torchvision's VGG-19 cut after conv5_1, in-place ReLUs, forward + backward
w.r.t. the input only (NCHW and channels-last, float32; the faster is the floor). Against it, nstlib's
loss + gradient (no optimiser) and ``synthesize`` per evaluation (loss + gradient + the L-BFGS step,
from the differences of the loop's evaluation times). Interleaved repeats, medians; every timed call
is bracketed by ``torch.cuda.synchronize()``. Target: ``synthesize`` <= 1.3x the floor at 512 px.

Part ``tutorial``: ``benchmarks/tutorial_nst.py`` (``torch.optim.LBFGS``, history 100, no line search,
clamp in the closure, 320 evaluations) against nstlib's ``synthesize`` on the same objective, the same
320 evaluations, both from the photo, interleaved; both final images scored by the tutorial's own loss
in float32. Target: nstlib >= 3x faster with no higher loss.

Weights: a seeded random torchvision VGG-19 (``_common.weights_file``) unless ``--weights`` names a
file; the speed does not depend on them.

    python benchmarks/bench_gpu.py                                                   # a CUDA machine
    python benchmarks/bench_gpu.py --device cpu --sizes 64 --tutorial-size 64 --evals 40 --repeats 1   # smoke
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import bench_speed  # noqa: E402
from benchmarks import tutorial_nst as T  # noqa: E402
from benchmarks._common import load_pair, median, print_machine, table, weights_file  # noqa: E402
from benchmarks.bench_speed import synced, tutorial_objective  # noqa: E402
from nstlib import VGG19Features  # noqa: E402


def part_floor(args, weights: Path, device: torch.device) -> list[list[object]]:
    """``bench_speed``'s part 2 on ``device``: the floor, nstlib's loss + gradient and ``synthesize``."""
    floor_args = argparse.Namespace(floor_sizes=args.sizes, floor_evals=args.floor_evals, floor_repeats=args.repeats)
    return bench_speed.part_floor(floor_args, weights, device)


def part_tutorial(args, weights: Path, device: torch.device) -> list[list[object]]:
    size, evals = args.tutorial_size, args.evals
    content, style = (t.to(device) for t in load_pair(size))
    cnn = T.load_vgg19_features(str(weights)).to(device)
    enc = VGG19Features(weights=weights, precision="auto", device=device, normalize=False)
    objective = tutorial_objective(enc, content, style)

    def tutorial() -> tuple[torch.Tensor, int]:
        res = T.run_style_transfer(cnn, content, style, content.clone(), num_steps=evals - 20)
        return res.image, res.evaluations

    def nstlib() -> tuple[torch.Tensor, int]:
        res = objective.run("content", evals, content_image=content)
        return res.image, len(res.history)

    runs: dict[str, list[tuple[float, float, int]]] = {"tutorial": [], "nstlib": []}
    fns = {"tutorial": tutorial, "nstlib": nstlib}
    T.run_style_transfer(cnn, content, style, content.clone(), num_steps=0)  # warm-up: kernel choice, allocator
    objective.run("content", 2, content_image=content)
    for r in range(args.repeats):
        for name in fns if r % 2 == 0 else list(fns)[::-1]:
            out: list[tuple[torch.Tensor, int]] = []
            secs = synced(device, partial(lambda fn, out: out.append(fn()), fns[name], out))
            loss = T.tutorial_loss(cnn, content, style, out[0][0])["total"]
            runs[name].append((secs, loss, out[0][1]))
            print(f"  {name}: {secs:.2f} s, final loss {loss:.5g}", flush=True)
    t_s, t_l = median([r[0] for r in runs["tutorial"]]), median([r[1] for r in runs["tutorial"]])
    rows: list[list[object]] = []
    for name, rs in runs.items():
        s, v, n = median([r[0] for r in rs]), median([r[1] for r in rs]), int(median([r[2] for r in rs]))
        rows.append([name, n, s, s / n * 1e3, v, f"{t_s / s:.2f}x", f"{v / t_l:.3f}"])
    print(
        f"\n### The tutorial's algorithm vs nstlib, {size} x {size} px, {evals} evaluations, median of {args.repeats}\n"
    )
    print(
        table(
            ["run", "evaluations", "wall s", "ms / eval", "final loss", "speed vs tutorial", "loss vs tutorial"], rows
        )
    )
    print("\ntarget: nstlib >= 3x faster with no higher loss")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--parts", default="floor,tutorial")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="part floor: image sizes (square)")
    ap.add_argument("--floor-evals", type=int, default=10, help="part floor: timed evaluations per repeat")
    ap.add_argument("--tutorial-size", type=int, default=512)
    ap.add_argument("--evals", type=int, default=320, help="part tutorial: evaluations (a multiple of 20)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--weights", default=None, help="a VGG-16/19 state dict file (default: a seeded random VGG-19)")
    args = ap.parse_args(argv)
    if args.evals % 20:
        ap.error("--evals must be a multiple of 20 (the tutorial runs whole L-BFGS steps of 20 evaluations)")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("no CUDA device here: run it on a GPU machine, or pass --device cpu for a smoke run")
    print("# nstlib on a GPU (issue 24, item 4)\n")
    print_machine()
    if device.type == "cuda":
        print(f"\ndevice: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    weights = Path(args.weights) if args.weights else weights_file()
    parts = {p.strip() for p in args.parts.split(",")}
    if "floor" in parts:
        part_floor(args, weights, device)
    if "tutorial" in parts:
        part_tutorial(args, weights, device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
