"""nstlib's L-BFGS (``nstlib.lbfgs``) against ``torch.optim.LBFGS``, time to the tutorial's best picture,
and the time from ``import nstlib`` to the first preview (issue 24).

Part ``optimiser``: the PyTorch tutorial's objective (``benchmarks/tutorial_nst.py``, mapped onto
nstlib's layer weights; a seeded random VGG-19 file), one closure, the same number of evaluations,
history 20 and the same line search for both; the image clamped to [0, 1] before every evaluation for
both (the loop torch's L-BFGS ran in), plus nstlib's L-BFGS with the box in the optimiser
(``bounds=(0, 1)``). Runs interleaved (A B C C B A ...); medians of final loss and wall time.

Part ``target``: the tutorial's own run (``run_style_transfer``: 320 evaluations, from the photo)
gives the lowest loss L* it ever reaches and the wall time it takes to get there (model and targets
included). nstlib's ``synthesize`` on the same objective then runs until its loss is <= L*: the wall
time from the call to that evaluation, per lever: float32 vs bf16 backward where bf16 is native; the
line search; the box; L-BFGS's history; coarse stages first (Gatys et al. 2017's coarse-to-fine, one
or several sizes); the start (the photo, or the photo recoloured to the painting's colour statistics;
the photo's own fine detail added to each upsampled coarse result). Interleaved. The evaluations
counted are the full-size ones; the coarse stages' time is in the wall time.

Part ``preview``: a fresh Python process runs ``import nstlib`` and the notebook-05 transfer
(``nstlib.transfer("chelsea", "brush_strokes")``, 256 px) until its first callback. "cold": an empty
calibration cache; "warm": the cache filled by the previous run. The file read, encoder build,
calibration and first evaluation are timed inside the process.

    python benchmarks/bench_lbfgs.py                                  # all parts, 256 px
    python benchmarks/bench_lbfgs.py --parts optimiser --size 64 --evals 20 --repeats 1   # smoke run
    python benchmarks/bench_lbfgs.py --parts target --weights <VGG-16 file> --repeats 2 \
        --levers bf16/strong_wolfe/project bf16/none/project/h100/64+128   # the library's loop, the fastest lever
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import tutorial_nst as T  # noqa: E402
from benchmarks._common import Objective, load_pair, median, print_machine, table, weights_file  # noqa: E402
from nstlib import VGG19Features, content_targets, make_objective, save_image, style_targets  # noqa: E402
from nstlib.control import match_color  # noqa: E402
from nstlib.lbfgs import LBFGS  # noqa: E402
from nstlib.recipes import resize, upsample  # noqa: E402
from nstlib.speed import native_bf16  # noqa: E402


def cpu_flags() -> str:
    """The CPU's model name and whether it has amx_bf16 / avx512_bf16 (from /proc/cpuinfo)."""
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return f"{model}; amx_bf16: {'amx_bf16' in flags}; avx512_bf16: {'avx512_bf16' in flags}"


def tutorial_objective(enc: VGG19Features, content: torch.Tensor, style: torch.Tensor):
    """nstlib's objective equal to the tutorial's loss (``T.nstlib_layer_weights``)."""
    cw, sw = T.nstlib_layer_weights(content)
    return make_objective(
        enc,
        content_targets=content_targets(enc, content, list(cw)),
        style_targets=style_targets(enc, style, list(sw)),
        content_layers=cw,
        style_layers=sw,
        content_weight=1.0,
        style_weight=1.0,
        size=tuple(content.shape[-2:]),
    )


# ----------------------------------------------------------------------------- part: optimiser
def optimise(objective, x0: torch.Tensor, evals: int, make: Callable, clamp: bool) -> tuple[float, list[float]]:
    """Wall seconds and the loss of every evaluation of one optimiser run of ``evals`` evaluations."""
    x = x0.clone().requires_grad_(True)
    opt = make([x])
    losses: list[torch.Tensor] = []

    def closure():
        if len(losses) >= evals:
            raise StopIteration
        if clamp:
            with torch.no_grad():
                x.clamp_(0, 1)
        x.grad = None
        total, _ = objective(x)
        total.backward()
        losses.append(total.detach())
        return total

    start = time.perf_counter()
    try:
        while True:
            opt.step(closure)
    except StopIteration:
        pass
    return time.perf_counter() - start, torch.stack(losses).tolist()


def part_optimiser(args, enc: VGG19Features) -> None:
    content, style = load_pair(args.size)
    objective = tutorial_objective(enc, content, style)
    ls = None if args.line_search == "none" else args.line_search
    common = dict(max_iter=args.evals, max_eval=args.evals, history_size=20, line_search_fn=ls)
    makers = {
        "torch.optim.LBFGS, clamp in closure": (
            lambda p: torch.optim.LBFGS(p, tolerance_grad=-1, tolerance_change=-1, **common),
            True,
        ),
        "nstlib.lbfgs.LBFGS, clamp in closure": (lambda p: LBFGS(p, **common), True),
        "nstlib.lbfgs.LBFGS, bounds=(0, 1)": (lambda p: LBFGS(p, bounds=(0.0, 1.0), **common), False),
    }
    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in makers}
    for r in range(args.repeats):
        order = list(makers) if r % 2 == 0 else list(reversed(makers))
        for name in order:
            make, clamp = makers[name]
            secs, losses = optimise(objective, content, args.evals, make, clamp)
            runs[name].append((secs, min(losses)))
            print(f"  {name}: {secs:.1f} s, lowest loss {min(losses):.5g}", flush=True)
    base = median([s for s, _ in runs["torch.optim.LBFGS, clamp in closure"]])
    rows = []
    for name, rs in runs.items():
        secs, loss = median([s for s, _ in rs]), median([v for _, v in rs])
        rows.append([name, args.evals, secs, f"{base / secs:.2f}x", loss])
    print(f"\n### Optimiser at equal evaluations ({args.size} px, line search {args.line_search}, {enc.precision})\n")
    print(table(["optimiser", "evaluations", "wall s (median)", "speed vs torch", "lowest loss (median)"], rows))


# ----------------------------------------------------------------------------- part: target
def time_to(
    target: float, run: Callable[[Callable], object], save: Path | None = None
) -> tuple[float | None, int, float]:
    """(seconds from the call to the first evaluation with loss <= target or None, evaluations, lowest);
    ``save``: write the image of that evaluation there (PNG)."""
    start = time.perf_counter()
    hit: list[float] = []
    seen: list[float] = []

    def callback(step, image, terms):
        seen.append(terms["total"])
        if terms["total"] <= target and not hit:
            hit.append(time.perf_counter() - start)
            if save is not None:
                save_image(image, save)
            raise KeyboardInterrupt  # synthesize stops cleanly and returns

    run(callback)
    return (hit[0] if hit else None), len(seen), min(seen)


def part_target(args, weights: Path) -> None:
    content, style = load_pair(args.size)
    cnn = T.load_vgg19_features(str(weights))
    encs = {"fp32": VGG19Features(weights=weights, precision="fp32", device="cpu", normalize=False)}
    if native_bf16("cpu"):
        encs["bf16"] = VGG19Features(weights=weights, precision="bf16", device="cpu", normalize=False)

    def nstlib_run(
        prec: str,
        line_search: str | None,
        box: str,
        coarse: Sequence[int] = (),
        history: int = 20,
        colour: bool = False,
        detail: bool = False,
    ):
        """One nstlib run on the tutorial's objective; ``coarse``: first ``args.coarse_evals`` evaluations
        on the same objective at each of these longer sides in turn (Gatys et al. 2017's coarse-to-fine; each
        result upsampled as the next stage's start);
        ``history``: L-BFGS's stored pairs (nstlib's default 20, the tutorial's 100); ``colour``: start from
        the photo recoloured to the painting's mean colour and colour covariance (``nstlib.control.match_color``)
        instead of the photo itself; ``detail``: add the photo's own fine detail to each upsampled coarse
        result (photo - upsample(photo at the coarse size), a Laplacian-pyramid level), so the next stage does
        not begin blurred."""
        enc = encs[prec]

        def stage(photo: torch.Tensor, painting: torch.Tensor, start, steps: int, callback=None):
            cw, sw = T.nstlib_layer_weights(photo)  # the tutorial's mse normalisations at this size
            ct = content_targets(enc, photo, list(cw))
            st = style_targets(enc, painting, list(sw), output_size=tuple(photo.shape[-2:]))
            return Objective(enc, cw, sw, ct, st).run(
                start, steps, content_image=photo, line_search=line_search, callback=callback, box=box,
                history_size=history,
            )  # fmt: skip

        def grow(image: torch.Tensor, small: int, photo: torch.Tensor) -> torch.Tensor:
            """A stage's result at longer side ``small`` as the start at ``photo``'s size."""
            hw = (int(photo.shape[-2]), int(photo.shape[-1]))
            out = upsample(image, hw)
            if detail:  # the photo's fine detail that a stage at ``small`` px could not hold
                out = (out + photo - upsample(resize(content, small), hw)).clamp(0, 1)
            return out

        def run(callback):
            start = match_color(content, style) if colour else content  # (1, 3, H, W)
            for i, px in enumerate(coarse):
                photo = resize(content, px)
                first = grow(start, coarse[i - 1], photo) if i else resize(start, px)
                start = stage(photo, resize(style, px), first, args.coarse_evals).image
            if coarse:
                start = grow(start, coarse[-1], content)
            stage(content, style, start, args.max_evals, callback)

        return run

    levers: dict[str, Callable] = {}
    # each lever: precision/line search/box[/coarse px[+px]][/hN][/colour][/detail], e.g. bf16/none/project/64+128/h100
    for lever in args.levers:
        prec, ls, box, *rest = lever.split("/")
        history = next((int(r[1:]) for r in rest if r.startswith("h")), 20)
        coarse = next(([int(px) for px in r.split("+")] for r in rest if r[0].isdigit()), [])
        colour, detail = "colour" in rest, "detail" in rest
        if prec in encs:
            name = f"nstlib {prec}, line search {ls}, box {box}, history {history}"
            name += f", from {' then '.join(map(str, coarse))} px" if coarse else ""
            name += (", recoloured start" if colour else "") + (", photo's detail added" if detail else "")
            levers[name] = nstlib_run(prec, None if ls == "none" else ls, box, coarse, history, colour, detail)
    rows: dict[str, list] = {k: [] for k in ["tutorial", *levers]}
    for r in range(args.repeats):
        tut = T.run_style_transfer(cnn, content, style, content.clone(), num_steps=300)
        if args.save_dir:  # lever<i>.png: the i-th lever of --levers
            Path(args.save_dir).mkdir(parents=True, exist_ok=True)
            save_image(tut.image, Path(args.save_dir) / "tutorial.png")
        best = min(range(len(tut.losses)), key=tut.losses.__getitem__)
        target, t_tut = tut.losses[best], tut.times[best]
        rows["tutorial"].append((t_tut, best + 1, target))
        print(f"  tutorial: lowest loss {target:.5g} at evaluation {best + 1}, {t_tut:.1f} s", flush=True)
        for name in levers if r % 2 == 0 else list(reversed(levers)):
            png = Path(args.save_dir) / f"lever{list(levers).index(name) + 1}.png" if args.save_dir else None
            secs, n, low = time_to(target, levers[name], png)
            rows[name].append((secs, n, low))
            print(f"  {name}: {'not reached' if secs is None else f'{secs:.1f} s'}, {n} evaluations", flush=True)
    t_ref = median([t for t, _, _ in rows["tutorial"]])
    out = []
    for name, rs in rows.items():
        reached = [t for t, _, _ in rs if t is not None]
        secs = median(reached) if len(reached) == len(rs) else None
        out.append(
            [
                name,
                "not reached" if secs is None else secs,
                median([n for _, n, _ in rs]),
                "" if secs is None else f"{t_ref / secs:.2f}x",
            ]
        )
    print(f"\n### Time to the tutorial's lowest loss ({args.size} px; median of {args.repeats})\n")
    print(table(["run", "wall s to L*", "evaluations", "sooner than the tutorial"], out))
    print("\ntarget: >= 4x sooner on a CPU with native bf16")


# ----------------------------------------------------------------------------- part: preview
PREVIEW = r"""
import json, sys, time
t0 = time.perf_counter()
import nstlib
import nstlib.calibration as C, nstlib.weights as W
t_import = time.perf_counter() - t0
spent = {"read": 0.0, "calibration": 0.0, "key": 0.0}
def timed(mod, name, key):
    fn = getattr(mod, name)
    def wrapper(*a, **k):
        s = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            spent[key] += time.perf_counter() - s
    setattr(mod, name, wrapper)
timed(W, "read_state_file", "read"); timed(C, "channel_stats", "calibration"); timed(C, "weights_key", "key")
first = {}
def cb(step, image, terms):
    first["t"] = time.perf_counter() - t0
    raise KeyboardInterrupt
nstlib.transfer("chelsea", "brush_strokes", size=SIZE, weights=WEIGHTS, progress=False, callback=cb)
times = dict(import_s=t_import, first_preview_s=first["t"], **{k + "_s": v for k, v in spent.items()})
print("RESULT " + json.dumps(times))
"""


def preview_once(weights: str, cache: str, size: int) -> dict[str, float]:
    code = PREVIEW.replace("SIZE", str(size)).replace("WEIGHTS", repr(weights))
    env = {**os.environ, "NSTLIB_CACHE": cache}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def part_preview(args) -> None:
    rows = []
    for weights in args.preview_weights:
        results: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as cache:
                for kind in ("cold", "warm"):  # the warm run finds the cold run's calibration
                    results[kind].append(preview_once(weights, cache, args.preview_size))
                    print(f"  {weights} {kind}: {results[kind][-1]}", flush=True)
        for kind, rs in results.items():
            rows.append(
                [
                    weights,
                    kind,
                    *(
                        median([r[k] for r in rs])
                        for k in ("import_s", "read_s", "key_s", "calibration_s", "first_preview_s")
                    ),
                ]
            )
    print(f"\n### import nstlib -> first preview of the notebook-05 transfer ({args.preview_size} px; medians)\n")
    print(
        table(["weights", "cache", "import s", "file read s", "cache key s", "calibration s", "first preview s"], rows)
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="optimiser,target,preview")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--evals", type=int, default=300, help="evaluations per run in part optimiser")
    ap.add_argument("--max-evals", type=int, default=320, help="nstlib's budget in part target")
    ap.add_argument("--line-search", default="strong_wolfe", choices=["none", "strong_wolfe"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--coarse-evals", type=int, default=100, help="part target: evaluations of a coarse stage")
    ap.add_argument(
        "--levers",
        nargs="+",
        default=[
            *("fp32/none/clamp", "fp32/none/project"),
            *("bf16/none/clamp", "bf16/none/project", "bf16/strong_wolfe/project", "bf16/strong_wolfe/project/128"),
        ],
        help="part target: precision/line search/box[/coarse px[+px...]][/hN history][/colour start][/detail] of each"
        " nstlib run (bf16 runs only where native)",
    )
    ap.add_argument(
        "--save-dir", default=None, help="part target: save the tutorial's last image and each lever's at L*"
    )
    ap.add_argument("--preview-size", type=int, default=256)
    ap.add_argument("--preview-weights", nargs="+", default=["random"])
    ap.add_argument("--weights-seed", type=int, default=0)
    ap.add_argument("--weights", default=None, help="VGG-16/19 file for optimiser, target (default: random VGG-19)")
    args = ap.parse_args(argv)
    print("# nstlib's L-BFGS, time to a good picture, first preview\n")
    print(f"CPU: {cpu_flags()}\n")
    print_machine()
    parts = {p.strip() for p in args.parts.split(",")}
    weights = None
    if parts & {"optimiser", "target"}:
        weights = Path(args.weights) if args.weights else weights_file(args.weights_seed)
        print(f"weights (optimiser, target): {weights}\n")
    if "optimiser" in parts:
        assert weights is not None
        part_optimiser(args, VGG19Features(weights=weights, precision="auto", device="cpu", normalize=False))
    if "target" in parts:
        assert weights is not None
        part_target(args, weights)
    if "preview" in parts:
        part_preview(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
