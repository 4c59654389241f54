"""Peak resident memory (RSS) of a 512 px style transfer in the paper configuration.

Each case runs in a fresh ``python`` under ``/usr/bin/time -v`` (Debian package ``time``:
``apt-get install -y time``), which reports the process's "Maximum resident set size":

- baseline: ``import torch, nstlib`` and build the VGG-19 encoder from a weights file (what every
  notebook pays; by default a seeded random file with the ImageNet checkpoint's 548 MB of keys,
  classifier included, so that loading it counts);
- transfer: ``nstlib.transfer`` at 512x512 px, content conv4_2, style conv1_1..conv5_1, L-BFGS
  (history 20), ``--steps`` evaluations (default 40: L-BFGS's history is full after 20, so
  memory has reached its plateau).

Target (issue "Fast on a laptop CPU"): <= 3 GB for the 512 px transfer.

    python benchmarks/bench_memory.py [--size 512] [--steps 40] [--weights checkpoint|random|PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_machine, table, weights_file  # noqa: E402

TARGET_MB = 3000.0

BASELINE = """
import torch, nstlib
enc = nstlib.VGG19Features(weights={weights!r})
"""

TRANSFER = """
import torch, nstlib
enc = nstlib.VGG19Features(weights={weights!r})
res = nstlib.transfer("astronaut", "brush_strokes", size=({size}, {size}), style_size=({size}, {size}),
                      steps={steps}, encoder=enc, progress=False)
assert res.image.shape[-2:] == ({size}, {size}) and len(res.history) == {steps}, res
print("precision", enc.precision, "evaluations", len(res.history))
"""


def peak_rss_mb(code: str) -> tuple[float, float, str]:
    """(peak RSS in MB, wall seconds, how measured) of ``python -c code`` in a fresh process."""
    cmd = [sys.executable, "-c", textwrap.dedent(code)]
    timer = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    start = time.perf_counter()
    if timer:
        proc = subprocess.run([timer, "-v", *cmd], capture_output=True, text=True)
        secs = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"benchmark process failed:\n{proc.stderr[-3000:]}")
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        if m:
            return int(m.group(1)) / 1024, secs, "/usr/bin/time -v"
    # Fallback without GNU time: the kernel's accounting of the largest child so far (ru_maxrss, KiB).
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(cmd, capture_output=True, text=True)
    secs = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"benchmark process failed:\n{proc.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(after, before) / 1024, secs, "getrusage (install 'time' for /usr/bin/time -v)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument(
        "--weights",
        default="checkpoint",
        help="'checkpoint' (default: a seeded random state dict of the ImageNet checkpoint's size and "
        "keys, so loading it is measured too), 'random', 'imagenet' or a state-dict path",
    )
    args = ap.parse_args()
    if args.weights == "checkpoint":
        args.weights = str(weights_file(0, full=True))
    print("# nstlib peak memory\n")
    print_machine()
    rows = []
    base, secs, how = peak_rss_mb(BASELINE.format(weights=args.weights))
    rows.append(["import torch + nstlib, build VGG-19", base, secs, ""])
    peak, secs, how = peak_rss_mb(TRANSFER.format(weights=args.weights, size=args.size, steps=args.steps))
    rows.append(
        [
            f"transfer {args.size}x{args.size}, paper config, {args.steps} evaluations",
            peak,
            secs,
            "yes" if peak <= TARGET_MB else "NO",
        ]
    )
    print()
    print(table(["process", "peak RSS MB", "wall s", f"<= {TARGET_MB:.0f} MB"], rows))
    print(f"\nmeasured with {how}; the transfer adds {peak - base:.0f} MB to the baseline")


if __name__ == "__main__":
    main()
