"""nstlib against PyTorch's NST tutorial algorithm, and against the hardware floor, in one run.

Part 1 -- the tutorial (``benchmarks/tutorial_nst.py``) and nstlib on the same 256x256 images
(astronaut, brush strokes), the same seeded random VGG-19 weights file, the same objective (nstlib's
layer weights mapped onto the tutorial's; checked numerically before any timing) and the same
number of loss evaluations (320 = the tutorial's "300 steps"). Runs alternate (T N N T ...); both
final images are scored with the tutorial's own loss in float32. Then a per-evaluation breakdown:
closure time (interleaved), L-BFGS overhead (history 100 vs 20) and a profile by operator kind.

Part 2 -- the floor: forward + backward (w.r.t. the input only) of torchvision's VGG-19 cut after
conv5_1, in the best layout (NCHW or channels-last, weights pre-converted) and precision (bf16 only
where native) for this CPU, against nstlib's time per evaluation of ``synthesize`` in the paper
configuration (content conv4_2; style conv1_1..conv5_1), at 256 and 512 px, interleaved.

Part 3 (on request) -- precision: nstlib in float32 and in bfloat16 on the tutorial objective and
in the paper configuration; both final images scored in float32.

    python benchmarks/bench_speed.py                       # parts 1 and 2 (long on a busy 2-core CPU)
    python benchmarks/bench_speed.py --parts tutorial      # part 1 only; --parts floor: part 2 only
    python benchmarks/bench_speed.py --repeats 1 --size 128 --evals 40   # a quick smoke run
    python benchmarks/bench_speed.py --parts precision     # part 3: bf16 vs fp32 final loss (slow
                                                           # where bf16 is emulated)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import tutorial_nst as T  # noqa: E402
from benchmarks._common import (  # noqa: E402
    Objective,
    load_pair,
    median,
    paper_objective,
    print_machine,
    table,
    weights_file,
)
from nstlib import VGG19Features, content_targets, style_targets  # noqa: E402
from nstlib.speed import native_bf16  # noqa: E402
from nstlib.vgg import LAYER_NAMES  # noqa: E402


# ----------------------------------------------------------------------------- part 1: tutorial
def tutorial_objective(enc: VGG19Features, content: torch.Tensor, style: torch.Tensor) -> Objective:
    """nstlib's objective with the layer weights and targets that give the tutorial's loss."""
    cw, sw = T.nstlib_layer_weights(content)
    return Objective(enc, cw, sw, content_targets(enc, content, list(cw)), style_targets(enc, style, list(sw)))


def nstlib_run(enc, content, style, evals: int) -> tuple[float, object]:
    """Wall time (targets + optimisation) and result of nstlib on the tutorial's objective."""
    start = time.perf_counter()
    res = tutorial_objective(enc, content, style).run("content", evals, content_image=content)
    return time.perf_counter() - start, res


def tutorial_run(cnn, content, style, num_steps: int) -> tuple[float, T.TutorialResult]:
    """Wall time (model + targets + optimisation) and result of the tutorial's run_style_transfer."""
    start = time.perf_counter()
    res = T.run_style_transfer(cnn, content, style, content.clone(), num_steps=num_steps)
    return time.perf_counter() - start, res


def check_objective(weights: Path, cnn, content, style) -> list[list[object]]:
    """nstlib's objective (one evaluation of synthesize, float32) == the tutorial's loss, at three images."""
    enc = VGG19Features(weights=weights, precision="fp32", device="cpu", normalize=False)
    objective = tutorial_objective(enc, content, style)
    rows = []
    for name, img in (("content image", content), ("style image", style), ("50/50 blend", 0.5 * (content + style))):
        ours = objective.score(img)
        theirs = T.tutorial_loss(cnn, content, style, img)["total"]
        rel = abs(ours - theirs) / theirs
        rows.append([name, theirs, ours, f"{rel:.1e}"])
        if rel > 1e-4:
            raise SystemExit(f"objective mismatch at the {name}: tutorial {theirs} vs nstlib {ours}")
    return rows


def lbfgs_overhead(size: int, evals: int) -> dict[str, float]:
    """Seconds per evaluation that L-BFGS itself costs on a (1, 3, size, size) image.

    The closure is a cheap, badly conditioned quadratic (curvatures 1e-6 .. 1), so L-BFGS neither
    converges nor stops early within ``evals`` evaluations and its history fills up, as in a real
    run; the closure's own time is subtracted.
    """
    out = {}
    g = torch.Generator().manual_seed(0)
    target = torch.rand(1, 3, size, size, generator=g)
    curvature = 10.0 ** (-6.0 * torch.rand(1, 3, size, size, generator=g))
    for name, kwargs in (
        ("tutorial", {}),  # LBFGS defaults: history 100, max_iter 20
        (
            "nstlib",
            {
                "history_size": 20,
                "max_iter": evals,
                "max_eval": evals,
                "tolerance_grad": -1.0,
                "tolerance_change": -1.0,
            },
        ),
    ):
        x = torch.zeros_like(target, requires_grad=True)
        opt = torch.optim.LBFGS([x], **kwargs)
        count, in_closure = [0], [0.0]

        def closure(opt=opt, x=x, count=count, in_closure=in_closure) -> torch.Tensor:  # this iteration's
            t0 = time.perf_counter()
            opt.zero_grad()
            loss = (curvature * (x - target) ** 2).sum()
            loss.backward()
            count[0] += 1
            in_closure[0] += time.perf_counter() - t0
            return loss

        start = time.perf_counter()
        while count[0] < evals:
            opt.step(closure)
        out[name] = (time.perf_counter() - start - in_closure[0]) / count[0]
    return out


def closures(enc, cnn, content, style):
    """One loss evaluation (forward + backward) of each competitor, as zero-argument functions."""
    model, sls, cls = T.get_style_model_and_losses(cnn, style, content)
    model.requires_grad_(False)
    xt = content.clone().requires_grad_(True)

    def tutorial() -> None:
        xt.grad = None
        model(xt)
        loss = T.STYLE_WEIGHT * sum(s.loss for s in sls) + T.CONTENT_WEIGHT * sum(c.loss for c in cls)
        loss.backward()

    return {"tutorial": tutorial, "nstlib": nstlib_closure(content, tutorial_objective(enc, content, style))}


CATEGORIES = (  # first match wins
    ("conv backward", ("convolution_backward",)),
    ("conv forward", ("mkldnn_convolution", "aten::convolution", "aten::_convolution", "conv2d")),
    ("Gram (matmul)", ("aten::mm", "aten::bmm", "aten::matmul", "aten::addmm")),
    ("ReLU + pool (fwd+bwd)", ("relu", "threshold", "clamp_min", "max_pool", "pool")),
)


def profile_breakdown(fns: dict, reps: int = 2) -> list[list[object]]:
    """ms per evaluation by operator kind (self CPU time of torch.profiler, first call excluded)."""
    from torch.profiler import ProfilerActivity, profile

    per: dict[str, dict[str, float]] = {}
    for name, fn in fns.items():
        fn()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(reps):
                fn()
        buckets = {cat: 0.0 for cat, _ in CATEGORIES} | {"losses, adds, copies, other": 0.0}
        for ev in prof.key_averages():
            if ev.key.startswith(("autograd::", "_Gram", "ProfilerStep")):
                continue  # wrappers: their time is in the kernels they call
            ms = ev.self_cpu_time_total / 1e3 / reps
            cat = next((c for c, keys in CATEGORIES if any(k in ev.key for k in keys)), "losses, adds, copies, other")
            buckets[cat] += ms
        per[name] = buckets
    cats = list(next(iter(per.values())))
    return [[c, *(per[n][c] for n in fns)] for c in cats] + [["total", *(sum(per[n].values()) for n in fns)]]


def part_tutorial(args, weights: Path) -> None:
    size, evals = args.size, args.evals
    num_steps = evals - 20  # the tutorial's loop: while run <= num_steps: one L-BFGS step of 20 evaluations
    content, style = load_pair(size)
    cnn = T.load_vgg19_features(str(weights))
    enc = VGG19Features(weights=weights, precision="auto", device="cpu", normalize=False)
    print(
        f"\n## Part 1: tutorial vs nstlib, {size}x{size} px, {evals} loss evaluations each, "
        f"nstlib precision {enc.precision}\n"
    )
    print("Objective check (the tutorial's loss vs nstlib's weighted objective, fp32):\n")
    print(
        table(
            ["image", "tutorial loss", "nstlib objective", "rel. diff"], check_objective(weights, cnn, content, style)
        )
    )

    runs: dict[str, list[tuple[float, float, int, float, float]]] = {"tutorial": [], "nstlib": []}
    for r in range(args.repeats):
        order = ("tutorial", "nstlib") if r % 2 == 0 else ("nstlib", "tutorial")
        for who in order:
            cpu0 = time.process_time()
            if who == "tutorial":
                secs, res = tutorial_run(cnn, content, style, num_steps)
                n, img, seen = res.evaluations, res.image, min(res.losses)
            else:
                secs, res = nstlib_run(enc, content, style, evals)
                n, img, seen = len(res.history), res.image, res.best_loss
            cpu = time.process_time() - cpu0
            score = T.tutorial_loss(cnn, content, style, img)["total"]
            runs[who].append((secs, score, n, cpu, seen))
            print(
                f"  run {r + 1}/{args.repeats} {who:8s}: {secs:7.1f} s wall, {cpu:7.1f} s CPU, {n} evaluations, "
                f"tutorial loss {score:.5g} (lowest seen during the run {seen:.5g})",
                flush=True,
            )

    med = {who: [median([run[i] for run in runs[who]]) for i in range(5)] for who in runs}
    (t_secs, t_loss, t_n, t_cpu, t_seen), (n_secs, n_loss, n_n, n_cpu, n_seen) = med["tutorial"], med["nstlib"]
    rows = [
        ["tutorial (LBFGS defaults)", int(t_n), t_secs, t_secs / t_n * 1e3, t_cpu, t_loss, t_seen, "1.00x"],
        [
            f"nstlib ({enc.precision})",
            int(n_n),
            n_secs,
            n_secs / n_n * 1e3,
            n_cpu,
            n_loss,
            n_seen,
            f"{t_secs / n_secs:.2f}x",
        ],
    ]
    print(
        f"\nMedians of {args.repeats} interleaved runs; final loss = the tutorial's own loss (fp32) of the image "
        "each returns (the tutorial: its last; nstlib: the best it saw):\n"
    )
    print(
        table(["", "evaluations", "wall s", "ms / eval", "CPU s", "final loss", "lowest seen", "speed-up (wall)"], rows)
    )
    pairs = [t[0] / n[0] for t, n in zip(runs["tutorial"], runs["nstlib"])]  # runs adjacent in time
    print(
        f"\nloss ratio nstlib / tutorial: {n_loss / t_loss:.3f} (target <= 1); speed-up: {t_secs / n_secs:.2f}x "
        f"(ratio of medians), {median(pairs):.2f}x (median of the per-repeat ratios "
        f"{', '.join(f'{p:.2f}' for p in pairs)}); target >= 4x"
    )

    print(
        "\nPer evaluation (interleaved, median of "
        f"{args.eval_repeats}; L-BFGS overhead from a cheap closure, see lbfgs_overhead):\n"
    )
    fns = closures(enc, cnn, content, style)
    for layout in ("NCHW", "channels_last"):  # the floor: the same truncated network, nothing else
        net, dt = floor_network(weights, "conv3_1", layout, False)
        xf = content.clone().requires_grad_(True)
        fns[f"floor {layout}"] = lambda net=net, dt=dt, layout=layout, xf=xf: floor_pass(net, dt, layout, xf)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(args.eval_repeats):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    over = lbfgs_overhead(size, evals)
    t_eval, n_eval = median(times["tutorial"]) * 1e3, median(times["nstlib"]) * 1e3
    floor_ms = min(median(times["floor NCHW"]), median(times["floor channels_last"])) * 1e3
    t_opt, n_opt = over["tutorial"] * 1e3, over["nstlib"] * 1e3
    print(
        table(
            ["ms per evaluation", "tutorial", "nstlib", "tutorial / nstlib"],
            [
                ["loss + gradient (closure)", t_eval, n_eval, f"{t_eval / n_eval:.2f}x"],
                ["L-BFGS step overhead", t_opt, n_opt, f"{t_opt / max(n_opt, 1e-9):.2f}x"],
                ["sum", t_eval + t_opt, n_eval + n_opt, f"{(t_eval + t_opt) / (n_eval + n_opt):.2f}x"],
                ["floor: network to conv3_1, fwd + bwd only", floor_ms, floor_ms, ""],
                ["sum / floor", f"{(t_eval + t_opt) / floor_ms:.2f}x", f"{(n_eval + n_opt) / floor_ms:.2f}x", ""],
            ],
        )
    )
    print(
        f"\nfloor by layout: NCHW {median(times['floor NCHW']) * 1e3:.0f} ms, channels_last "
        f"{median(times['floor channels_last']) * 1e3:.0f} ms. A loop that cost only the floor would be "
        f"{(t_eval + t_opt) / floor_ms:.2f}x faster than the tutorial: the most any fp32 implementation "
        "of this objective can gain here without a faster convolution."
    )
    fns = {k: fns[k] for k in ("tutorial", "nstlib")}
    print("\nProfile of one evaluation (ms, torch.profiler self CPU time by operator kind):\n")
    print(table(["operator kind", "tutorial", "nstlib"], profile_breakdown(fns)))


# ----------------------------------------------------------------------------- part 3: precision
def paper_run(enc: VGG19Features, content, style, evals: int):
    """nstlib in the paper configuration (alpha 1, beta 1e3, w_l = 1/5) from the content image."""
    start = time.perf_counter()
    res = paper_objective(enc, content, style).run("content", evals, content_image=content)
    return time.perf_counter() - start, res


def part_precision(args, weights: Path) -> None:
    """bf16 against fp32: the same runs in both precisions, final images scored in fp32."""
    size, evals = args.size, args.evals
    print(
        f"\n## Part 3: bf16 vs fp32 accuracy, {size}x{size} px, {evals} evaluations "
        f"(native bf16 here: {native_bf16('cpu')}; where it is not native, bf16 is emulated and slow)\n"
    )
    content, style = load_pair(size)
    cnn = T.load_vgg19_features(str(weights))
    encs = {p: VGG19Features(weights=weights, precision=p, device="cpu", normalize=False) for p in ("fp32", "bf16")}
    paper_score = paper_objective(encs["fp32"], content, style).score  # the paper objective, one fp32 evaluation

    rows = []
    for config, run, score in (
        (
            "tutorial objective",
            lambda e: nstlib_run(e, content, style, evals),
            lambda img: T.tutorial_loss(cnn, content, style, img)["total"],
        ),
        ("paper config", lambda e: paper_run(e, content, style, evals), paper_score),
    ):
        scores = {}
        for prec, enc in encs.items():
            secs, res = run(enc)
            scores[prec] = score(res.image)
            rows.append(
                [
                    config,
                    prec,
                    secs,
                    len(res.history),
                    scores[prec],
                    "" if prec == "fp32" else f"{scores['bf16'] / scores['fp32'] - 1:+.2%}",
                ]
            )
            print(f"  {config}, {prec}: {secs:.0f} s", flush=True)
    print()
    print(table(["objective", "precision", "wall s", "evaluations", "final loss (fp32)", "bf16 vs fp32"], rows))
    print("\ntarget: bf16's final loss within 2% of fp32's")


# ----------------------------------------------------------------------------- part 2: floor
def floor_network(
    weights: Path, deepest: str, layout: str, bf16: bool, device: torch.device | str = "cpu"
) -> tuple[nn.Sequential, torch.dtype]:
    """torchvision's VGG-19 features cut after ``deepest``, in-place ReLUs, weights in ``layout`` (and bf16)."""
    cnn = T.load_vgg19_features(str(weights))[: LAYER_NAMES.index(deepest) + 1]
    for m in cnn:
        if isinstance(m, nn.ReLU):
            m.inplace = True
    cnn.requires_grad_(False)
    dtype = torch.bfloat16 if bf16 else torch.float32
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    return cnn.to(device=device, dtype=dtype, memory_format=fmt), dtype


def floor_pass(net: nn.Sequential, dtype: torch.dtype, layout: str, x: torch.Tensor) -> None:
    """One forward + backward w.r.t. the input ``x`` (normalisation included, as in nstlib)."""
    mean = torch.tensor(T.IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(T.IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    x.grad = None
    h = (x - mean) / std
    if layout == "channels_last":
        h = h.contiguous(memory_format=torch.channels_last)
    out = net(h.to(dtype))
    out.backward(torch.ones_like(out))


def nstlib_closure(content: torch.Tensor, objective: Objective):
    """One evaluation of nstlib's loss + gradient on ``objective`` from ``content``, no optimiser."""
    from nstlib.losses import content_loss, style_layer_loss
    from nstlib.speed import gram_matrix as fast_gram  # layout-aware: the maps are channels-last on CPUs

    enc, cw, st = objective.enc, objective.content_layers, objective.style_targets
    sw = {k: objective.style_weight * w for k, w in objective.style_layers.items()}
    layout = torch.channels_last if enc.channels_last else torch.contiguous_format
    ct = {k: v.contiguous(memory_format=layout) for k, v in objective.content_targets.items()}  # as synthesize, once
    layers = list(dict.fromkeys([*cw, *sw]))
    x = content.clone().requires_grad_(True)

    def closure() -> None:
        x.grad = None
        f = enc(x, layers, fast_layout=True)
        loss = sum(cw[k] * content_loss(f[k], ct[k]) for k in cw) + sum(
            sw[k] * style_layer_loss(f[k], st[k], fast_gram) for k in sw
        )
        loss.backward()

    return closure


def synced(device: torch.device, fn: Callable[[], object]) -> float:
    """Seconds of ``fn()``; on a GPU the queue is drained before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def part_floor(args, weights: Path, device: torch.device | str = "cpu") -> list[list[object]]:
    print("\n## Part 2: nstlib per evaluation vs the floor (VGG-19 to conv5_1, forward + backward w.r.t. the input)\n")
    device = torch.device(device)
    enc = VGG19Features(weights=weights, precision="auto", device=device, normalize=False)
    variants = [("NCHW", False), ("channels_last", False)]
    if device.type == "cpu" and native_bf16(device):
        variants += [("channels_last", True)]
    rows: list[list[object]] = []
    for size in args.floor_sizes:
        content, style = (t.to(device) for t in load_pair(size))
        evals = args.floor_evals if size <= 256 else max(3, args.floor_evals // 2)
        nets = {(lay, b): floor_network(weights, "conv5_1", lay, b, device) for lay, b in variants}
        floor_t: dict[tuple[str, bool], list[float]] = {k: [] for k in nets}
        clo_t: list[float] = []
        nst_t: list[float] = []
        x = content.clone().requires_grad_(True)
        paper = paper_objective(enc, content, style)
        closure = nstlib_closure(content, paper)
        for key, (net, dt) in nets.items():  # warm-up: kernels chosen, memory allocated
            synced(device, partial(floor_pass, net, dt, key[0], x))
        synced(device, closure)
        paper.run("content", 3, content_image=content)
        for r in range(args.floor_repeats):
            # Alternate the order: floor, closure, synthesize / synthesize, closure, floor.
            steps = ["floor", "closure", "synthesize"] if r % 2 == 0 else ["synthesize", "closure", "floor"]
            for what in steps:
                if what == "floor":
                    for key, (net, dt) in nets.items():
                        floor_t[key] += [synced(device, partial(floor_pass, net, dt, key[0], x)) for _ in range(evals)]
                elif what == "closure":
                    clo_t += [synced(device, closure) for _ in range(evals)]
                else:  # the loop reads the loss once per evaluation, so its clock follows the device
                    res = paper.run("content", evals + 1, content_image=content)
                    ts = [h["time"] for h in res.history]
                    nst_t += [b - a for a, b in zip(ts, ts[1:])]  # evaluation + L-BFGS step, first one dropped
        best = min(floor_t, key=lambda k: median(floor_t[k]))
        for key, ts in floor_t.items():
            label = f"{key[0]} {'bf16' if key[1] else 'fp32'}" + (" (floor)" if key == best else "")
            rows.append([size, f"torchvision cut at conv5_1, {label}", median(ts) * 1e3, ""])
        f_ms, c_ms, n_ms = median(floor_t[best]) * 1e3, median(clo_t) * 1e3, median(nst_t) * 1e3
        rows.append([size, f"nstlib loss + gradient, paper config ({enc.precision})", c_ms, f"{c_ms / f_ms:.2f}x"])
        rows.append(
            [size, f"nstlib synthesize (+ L-BFGS step), paper config ({enc.precision})", n_ms, f"{n_ms / f_ms:.2f}x"]
        )
        print(f"  {size} px done ({args.floor_repeats} interleaved repeats of {evals} evaluations each)", flush=True)
    print()
    print(table(["px", "what", "ms / evaluation (median)", "vs floor"], rows))
    print("\ntarget: nstlib within 1.3x of the floor")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="tutorial,floor", help="comma-separated: tutorial, floor, precision")
    ap.add_argument("--size", type=int, default=256, help="part 1 image size (square)")
    ap.add_argument("--evals", type=int, default=320, help="part 1 loss evaluations (a multiple of 20)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats (medians reported)")
    ap.add_argument("--eval-repeats", type=int, default=10, help="single-evaluation timings per competitor")
    ap.add_argument("--floor-sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--floor-evals", type=int, default=6, help="timed evaluations per repeat at 256 px (half at 512)")
    ap.add_argument("--floor-repeats", type=int, default=6, help="interleaved repeats of part 2 (medians reported)")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--weights-seed", type=int, default=0)
    args = ap.parse_args()
    if args.evals % 20:
        ap.error("--evals must be a multiple of 20 (the tutorial runs whole L-BFGS steps of 20 evaluations)")
    if args.threads:
        torch.set_num_threads(args.threads)
    print("# nstlib speed benchmark\n")
    print_machine()
    weights = weights_file(args.weights_seed)
    parts = {p.strip() for p in args.parts.split(",")}
    if "tutorial" in parts:
        part_tutorial(args, weights)
    if "floor" in parts:
        part_floor(args, weights)
    if "precision" in parts:
        part_precision(args, weights)


if __name__ == "__main__":
    main()
