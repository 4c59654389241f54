"""The trained path, measured: does every lesson do what it teaches with a trained network? (issue 21)

Runs the series' experiments with given trained weights (default: the offline trained VGG-16 of
``python -m nstlib weights --offline-vgg16``; any torchvision VGG-16/19 file, or ``imagenet``) and
measures them with code that is not nstlib's:

- content reconstructions (Gatys et al. 2016, Fig. 1 top) of three built-in photos at relu2_2,
  relu3_2, relu4_2, relu5_2: SSIM to the photo (scikit-image). Targets >= 0.85 / 0.65 / 0.35.
- style reconstructions (Fig. 1 bottom) and textures (Gatys et al. 2015) of four built-in sources:
  high-frequency energy of the result over the source's (mean squared grey-level difference to a
  Gaussian blur of sigma 1 px; target <= 1.5) and the distance of the mean colours (Euclidean, in
  grey levels; target <= 20).
- the default transfer of three pairs (``bench_balance.measure``: change from the photo, colour
  share, Gram share of an independent network, edge correlation; targets 15 / 0.4 / - / 0.45).

``--recipe before`` passes the settings the trained path had before issue 21 explicitly (max
pooling, white-noise start, L-BFGS's fixed step, textures at conv1_1 + pool1-4, the transfer's
strength balanced at white noise), so one script prints both tables. ``--save DIR`` keeps every
picture as a PNG.

    python benchmarks/bench_trained.py                                  # library defaults
    python benchmarks/bench_trained.py --recipe before --parts content
    python benchmarks/bench_trained.py --parts transfer --sizes 128 256 512
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nstlib  # noqa: E402
from benchmarks._common import print_machine, table  # noqa: E402
from benchmarks.bench_balance import PAIRS, measure  # noqa: E402
from benchmarks.bench_offline import ssim  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee")
CONTENT_LAYERS = ("relu2_2", "relu3_2", "relu4_2", "relu5_2")
CONTENT_TARGETS = {"relu2_2": 0.85, "relu3_2": 0.65, "relu4_2": 0.35}
SOURCES = ("brush_strokes", "mosaic", "brick", "gravel")
STYLE_SETS = tuple(tuple(f"relu{b}_1" for b in range(1, n + 1)) for n in range(1, 6))
BEFORE = dict(pooling="max", init="noise", line_search=None)  # the trained path before issue 21


def _np(img: torch.Tensor) -> np.ndarray:
    return img[0].permute(1, 2, 0).clamp(0, 1).double().cpu().numpy()  # (H, W, 3)


def high_freq(img: np.ndarray) -> float:
    """Mean squared difference (grey levels^2) between the grey image and its Gaussian blur (sigma 1 px)."""
    from scipy.ndimage import gaussian_filter

    grey = img @ np.array([0.299, 0.587, 0.114]) * 255
    return float(np.mean((grey - gaussian_filter(grey, 1.0)) ** 2))


def texture_figures(result: torch.Tensor, source: torch.Tensor) -> dict[str, float]:
    r, s = _np(result), _np(source)
    return {
        "HF ratio": high_freq(r) / high_freq(s),
        "colour off": float(np.linalg.norm(r.reshape(-1, 3).mean(0) - s.reshape(-1, 3).mean(0)) * 255),
    }


def _save(img: torch.Tensor, folder: Path | None, name: str) -> None:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        nstlib.save_image(img, folder / f"{name}.png")


def content_part(weights: str, recipe: str, px: int, steps: int, save: Path | None, photos=PHOTOS) -> None:
    print(f"\n### Content reconstructions, {px} px, {steps} evaluations, recipe {recipe!r}: SSIM to the photo")
    rows = []
    for photo in photos:
        img = nstlib.load_image(photo, size=px)
        row: list[object] = [photo]
        t = time.perf_counter()
        for layer in CONTENT_LAYERS:
            kw = BEFORE if recipe == "before" else {}
            res = nstlib.reconstruct_content(img, layer, size=None, steps=steps, weights=weights, progress=False, **kw)
            row.append(f"{ssim(res.image, img):.2f}")
            _save(res.image, save, f"content_{recipe}_{photo}_{layer}")
        row.append(f"{(time.perf_counter() - t) / len(CONTENT_LAYERS):.0f}")
        rows.append(row)
        print(f"{photo}: {row[1:]}", flush=True)
    print(table(["photo", *CONTENT_LAYERS, "s each"], rows))
    print("targets: " + ", ".join(f"{k} >= {v}" for k, v in CONTENT_TARGETS.items()))


def style_part(weights: str, recipe: str, px: int, steps: int, save: Path | None) -> None:
    print(f"\n### Style reconstructions, {px} px, {steps} evaluations, recipe {recipe!r}: HF ratio / colour off")
    rows = []
    for source in SOURCES[:2]:
        src = nstlib.load_image(source, size=px)
        row: list[object] = [source]
        for layers in STYLE_SETS:
            kw = dict(BEFORE, layer_balance=False) if recipe == "before" else {}
            res = nstlib.reconstruct_style(
                src, list(layers), size=None, steps=steps, weights=weights, progress=False, **kw
            )
            f = texture_figures(res.image, src)
            row.append(f"{f['HF ratio']:.2f} / {f['colour off']:.0f}")
            _save(res.image, save, f"style_{recipe}_{source}_{len(layers)}")
        rows.append(row)
    print(table(["source", *(f"relu1_1..{s[-1]}" for s in STYLE_SETS)], rows), flush=True)
    print("targets: HF ratio <= 1.5, colour off <= 20 grey levels")


def texture_part(weights: str, recipe: str, px: int, steps: int, save: Path | None) -> None:
    print(f"\n### Textures, {px} px, {steps} evaluations, recipe {recipe!r}")
    rows = []
    for source in SOURCES:
        src = nstlib.load_image(source, size=px)
        t = time.perf_counter()
        if recipe == "before":
            enc = nstlib.get_encoder(weights, "max")
            layers = ("conv1_1", "pool1", "pool2", "pool3", "pool4")
            res = nstlib.synthesize_texture(
                src, list(layers), size=px, steps=steps, encoder=enc, init="noise", line_search=None,
                layer_balance=False, progress=False,
            )  # fmt: skip
        else:
            res = nstlib.synthesize_texture(src, size=px, steps=steps, weights=weights, model="vgg", progress=False)
        f = texture_figures(res.image, src)
        rows.append([source, f"{f['HF ratio']:.2f}", f"{f['colour off']:.0f}", f"{time.perf_counter() - t:.0f}"])
        _save(res.image, save, f"texture_{recipe}_{source}")
    print(table(["source", "HF ratio", "colour off", "s"], rows), flush=True)
    print("targets: HF ratio <= 1.5, colour off <= 20 grey levels")


def transfer_part(
    weights: str, recipe: str, sizes: list[int], steps: int | None, save: Path | None, pairs=PAIRS
) -> None:
    print(f"\n### Default transfer, recipe {recipe!r}, steps {steps or 'default'}")
    rows = []
    for px in sizes:
        for content, style in pairs:
            t = time.perf_counter()
            kw = dict(balance_at="noise") if recipe == "before" else {}
            res = nstlib.transfer(content, style, size=px, steps=steps, weights=weights, progress=False, **kw)
            photo = nstlib.load_image(content, size=px)
            sty = nstlib.load_image(style, size=tuple(photo.shape[-2:]))
            m = measure(_np(res.image), _np(photo), _np(sty))
            rows.append(
                [px, f"{content} / {style}", *(f"{v:.2f}" for v in m.values()), f"{time.perf_counter() - t:.0f}"]
            )
            _save(res.image, save, f"transfer_{recipe}_{px}_{content}_{style}")
            print(f"{px} {content}/{style}: " + ", ".join(f"{k} {v:.2f}" for k, v in m.items()), flush=True)
    print(table(["px", "pair", "change", "colour share", "Gram share", "edge corr", "s"], rows))
    print("targets: change >= 15, colour share >= 0.4, edge corr >= 0.45")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="trained weights (default: the cached offline VGG-16)")
    ap.add_argument("--recipe", choices=["defaults", "before"], default="defaults")
    ap.add_argument("--parts", nargs="+", default=["content", "style", "texture", "transfer"])
    ap.add_argument("--px", type=int, default=128)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--transfer-steps", type=int, default=None)
    ap.add_argument("--save", type=Path, default=None)
    ap.add_argument("--photos", nargs="+", default=list(PHOTOS), help="content reconstructions of these photos")
    ap.add_argument("--pairs", nargs="+", default=[f"{c}/{s}" for c, s in PAIRS], help="transfer pairs, photo/style")
    args = ap.parse_args(argv)
    weights = args.weights or os.environ.get("NSTLIB_WEIGHTS")
    if not weights or weights in ("random", "auto"):
        from nstlib.offline_vgg16 import cached_weights_path

        weights = str(cached_weights_path())
    print_machine()
    print(f"weights: {weights}")
    if "content" in args.parts:
        content_part(weights, args.recipe, args.px, args.steps, args.save, args.photos)
    if "style" in args.parts:
        style_part(weights, args.recipe, args.px, args.steps, args.save)
    if "texture" in args.parts:
        texture_part(weights, args.recipe, args.px, args.steps, args.save)
    if "transfer" in args.parts:
        pairs = [tuple(p.split("/", 1)) for p in args.pairs]
        transfer_part(weights, args.recipe, args.sizes, args.transfer_steps, args.save, pairs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
