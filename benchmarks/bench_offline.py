"""Offline pictures: what random weights show in content reconstructions and textures (issue 13).

Content: for three built-in photos, ``nstlib.reconstruct_content`` at conv2_2, conv3_2, conv4_2
and conv5_2 with random weights; the figure is the SSIM to the photo (scikit-image, colour, data
range 1). Rows (all with the random-weight defaults: average pooling, L-BFGS with a strong-Wolfe
line search):

- "relu, noise": a plain random ReLU network (``nstlib.get_encoder("random", "avg")``, leak 0:
  the random filters transfers use, like nstlib's random filters before), from white noise;
- "pairs, noise": the random filters reconstructions use now (``get_encoder(pooling="auto")``:
  mirrored pairs read with leak 0.4, ``nstlib.weights.init_random_``), from white noise (the
  issue's measurement);
- "pairs, auto": the library's defaults now (``init="auto"``: the white noise turned down to
  mid-grey +- 5 %),

at the benchmark's size and at notebook 02's quick settings.

Textures: for two texture photos and two painting-like images, ``nstlib.synthesize_texture`` with
the random VGG-19 (``model="vgg"``; with random weights ``pooling="auto"`` picks average pooling and
the leaky reconstruction filters) and with the random multi-scale filter model (``model="multiscale"``,
Ustyuzhaninov et al. 2017, the default offline). Figures, both from
outside nstlib:

- Gram share: 1 - d(result, source) / d(noise, source), d = distance of per-position Gram matrices
  of torchvision's VGG-16 with its own random initialisation (seed 1234) at relu1_2, relu2_2,
  relu3_3 (the same independent network as ``bench_balance.py``); 1 = statistics of the source.
- coarse Gram share: the same at a quarter of the size (2-D average of 4 x 4 pixels), where the
  network's fields cover a quarter of the image: how blobs, bricks and bands are *arranged*, which
  the full-size figure, dominated by pixel-level statistics, hardly sees.
- spectrum corr: correlation of the radially averaged log power spectra (grey levels) of result
  and source; white noise has a flat spectrum, natural images fall off like 1/f^2.

Writes a grid (source | VGG-19 | multi-scale) to ``--grid`` and the reconstructions to ``--recon-grid``.
Run: ``python benchmarks/bench_offline.py`` (about 25 minutes on a loaded 2-core CPU).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import print_machine  # noqa: E402
from bench_balance import gram_features  # noqa: E402

import nstlib  # noqa: E402

LAYERS = ("conv2_2", "conv3_2", "conv4_2", "conv5_2")
TARGETS = {"conv2_2": 0.9, "conv3_2": 0.6, "conv4_2": 0.3}


def _np(img: torch.Tensor) -> np.ndarray:
    return img[0].permute(1, 2, 0).clamp(0, 1).double().numpy()  # (H, W, 3)


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(_np(a), _np(b), channel_axis=2, data_range=1.0))


def gram_distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(sum(np.linalg.norm(x - y) / np.linalg.norm(y) for x, y in zip(gram_features(a), gram_features(b))))


def radial_spectrum(img: np.ndarray) -> np.ndarray:
    """Radially averaged log power spectrum of the grey levels of an (H, W, 3) image, 1 bin per cycle."""
    grey = img @ np.array([0.299, 0.587, 0.114])
    power = np.abs(np.fft.fftshift(np.fft.fft2(grey - grey.mean()))) ** 2
    h, w = grey.shape
    yy, xx = np.indices((h, w))
    r = np.hypot(yy - h // 2, xx - w // 2).astype(int)
    n = min(h, w) // 2
    sums = np.bincount(r.ravel(), power.ravel())[1:n]
    counts = np.bincount(r.ravel())[1:n]
    return np.log(sums / counts + 1e-12)


def _coarse(img: np.ndarray, k: int = 4) -> np.ndarray:
    h, w = img.shape[0] // k * k, img.shape[1] // k * k
    return img[:h, :w].reshape(h // k, k, w // k, k, 3).mean(axis=(1, 3))


def texture_figures(result: torch.Tensor, source: torch.Tensor, seed: int = 0) -> dict[str, float]:
    r, s = _np(result), _np(source)
    noise = np.random.default_rng(seed).random(r.shape)
    return {
        "gram": 1 - gram_distance(r, s) / gram_distance(noise, s),
        "coarse": 1 - gram_distance(_coarse(r), _coarse(s)) / gram_distance(_coarse(noise), _coarse(s)),
        "spectrum": float(np.corrcoef(radial_spectrum(r), radial_spectrum(s))[0, 1]),
    }


RECIPES = {"relu, noise": "noise", "pairs, noise": "noise", "pairs, auto": "auto"}


def content_table(photos: list[str], px: int, steps: int) -> dict:
    print(f"\n### Content reconstructions, random weights, {px} px, {steps} evaluations")
    print("| photo | recipe | " + " | ".join(LAYERS) + " | s per reconstruction |")
    print("|---" * (len(LAYERS) + 3) + "|")
    images = {}
    relu = nstlib.get_encoder("random", "avg")  # leak 0: a plain random ReLU network
    for photo in photos:
        img = nstlib.load_image(photo, size=px)
        for recipe, init in RECIPES.items():
            row, seconds = [], []
            for layer in LAYERS:
                t = time.perf_counter()
                res = nstlib.reconstruct_content(
                    img,
                    layer,
                    size=None,
                    steps=steps,
                    weights="random",
                    encoder=relu if recipe.startswith("relu") else None,
                    init=init,
                    progress=False,
                )
                seconds.append(time.perf_counter() - t)
                row.append(ssim(res.image, img))
                images[(photo, recipe, layer)] = res.image
            print(
                f"| {photo} | {recipe} | " + " | ".join(f"{v:.2f}" for v in row) + f" | {np.mean(seconds):.1f} |",
                flush=True,
            )
        images[(photo, "photo", "")] = img
    print("targets (issue 13): " + ", ".join(f"{k} >= {v}" for k, v in TARGETS.items()))
    return images


def texture_table(sources: list[str], px: int, steps: int, save: Path | None = None) -> dict:
    print(f"\n### Textures from white noise, random weights, {px} px, {steps} evaluations")
    print("| source | model | Gram share (VGG-16) | coarse Gram share | spectrum corr | seconds |")
    print("|---|---|---|---|---|---|")
    images = {}
    for name in sources:
        src = nstlib.load_image(name, size=px)
        images[(name, "source")] = src
        for model in ("vgg", "multiscale"):
            t = time.perf_counter()
            res = nstlib.synthesize_texture(src, size=px, steps=steps, weights="random", model=model, progress=False)
            seconds = time.perf_counter() - t
            fig = texture_figures(res.image, src)
            images[(name, model)] = res.image
            print(
                f"| {name} | {model} | {fig['gram']:.2f} | {fig['coarse']:.2f} | {fig['spectrum']:.2f} "
                f"| {seconds:.0f} |",
                flush=True,
            )
            if save is not None:
                save.mkdir(parents=True, exist_ok=True)
                torch.save({"source": src, "result": res.image}, save / f"{name}_{model}.pt")
    return images


def save_grid(rows: list[list[torch.Tensor]], titles: list[str], row_names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), len(titles), figsize=(2.3 * len(titles), 2.4 * len(rows)), squeeze=False)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            ax = axes[i][j]
            ax.imshow(_np(img), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j], fontsize=9)
            if j == 0:
                ax.set_ylabel(row_names[i], fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", default="astronaut,chelsea,coffee")
    p.add_argument("--px", type=int, default=128)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--quick-px", type=int, default=48, help="notebook 02's quick-mode size")
    p.add_argument("--quick-steps", type=int, default=30, help="notebook 02's quick-mode evaluations")
    p.add_argument("--textures", default="brick,gravel,brush_strokes,mosaic")
    p.add_argument("--tex-px", type=int, default=96)
    p.add_argument("--tex-steps", type=int, default=200)
    p.add_argument("--save", type=Path, default=None, help="folder for the synthesised textures (.pt)")
    p.add_argument("--skip", choices=["content", "textures", "none"], default="none")
    p.add_argument("--grid", type=Path, default=Path("docs/offline-textures.png"))
    p.add_argument("--recon-grid", type=Path, default=Path("docs/offline-reconstructions.png"))
    args = p.parse_args(argv)
    print_machine()
    photos = args.photos.split(",")
    if args.skip != "content":
        content_table(photos, args.quick_px, args.quick_steps)
        images = content_table(photos, args.px, args.steps)
        rows = [
            [images[(ph, "photo", "")]] + [images[(ph, recipe, layer)] for layer in LAYERS]
            for ph in photos
            for recipe in RECIPES
        ]
        names = [f"{ph}, {recipe}" for ph in photos for recipe in RECIPES]
        save_grid(rows, ["photo", *LAYERS], names, args.recon_grid)
    if args.skip != "textures":
        sources = args.textures.split(",")
        images = texture_table(sources, args.tex_px, args.tex_steps, args.save)
        rows = [[images[(s, "source")], images[(s, "vgg")], images[(s, "multiscale")]] for s in sources]
        titles = ["source", "random VGG-19 (leaky filters)", "multi-scale (default offline)"]
        save_grid(rows, titles, sources, args.grid)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
