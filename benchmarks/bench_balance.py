"""Does the default style transfer visibly transfer style, at every size? (issue "Style you can see")

For three content/style pairs of built-in images at 128, 256 and 512 px, runs
``nstlib.transfer(content, style, size=px, weights="random")`` at its defaults and measures the
result against the photo and the style with code that is *not* nstlib's:

- change: mean absolute difference from the photo, in grey levels (0..255);
- colour share: share of the photo-to-style distance of the RGB statistics that the result closes,
  ``1 - d(result, style) / d(photo, style)`` with ``d = ||mean_a - mean_b|| + ||cov_a - cov_b||_F``;
- Gram share: the same share for Gram matrices (per position) of an *independent* network:
  torchvision's VGG-16 with its own default random initialisation (seed 1234), layers relu1_2,
  relu2_2, relu3_3, averaged over the layers;
- edge corr: Pearson correlation of the blurred Sobel edge maps of result and photo (structure kept;
  blur sigma 2 px at 256 px, scaled with the size).

Targets (issue 12): change >= 15, colour share >= 0.4, Gram share >= 0.3, edge corr >= 0.45 at every
size; and each figure within 0.15 across the three sizes (the change: within 15 % of its mean).

The script only calls ``nstlib.transfer`` and ``nstlib.load_image``, so the same file measures any
version of nstlib (``--repo`` points ``sys.path`` at another checkout: the "before" table).

    python benchmarks/bench_balance.py                       # 3 pairs x 128, 256, 512 px
    python benchmarks/bench_balance.py --sizes 128 256 --steps 100
    python benchmarks/bench_balance.py --repo /tmp/nstlib-before --save-dir /tmp/before
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

PAIRS = (("chelsea", "brush_strokes"), ("astronaut", "mosaic"), ("coffee", "waves"))
TARGETS = {"change": 15.0, "colour share": 0.4, "Gram share": 0.3, "edge corr": 0.45}


def colour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mean_a - mean_b|| + ||cov_a - cov_b||_F of the RGB values of two (H, W, 3) images in [0, 1]."""
    pa, pb = a.reshape(-1, 3), b.reshape(-1, 3)
    return float(np.linalg.norm(pa.mean(0) - pb.mean(0)) + np.linalg.norm(np.cov(pa.T) - np.cov(pb.T)))


_NET = None


def _independent_net():
    global _NET
    if _NET is None:
        import torch
        import torchvision

        torch.manual_seed(1234)
        _NET = torchvision.models.vgg16(weights=None).features.eval()
    return _NET


def gram_features(img: np.ndarray) -> list[np.ndarray]:
    """Per-position Gram matrices (C, C) of torchvision VGG-16 (random) at relu1_2, relu2_2, relu3_3."""
    import torch

    net = _independent_net()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (torch.from_numpy(img).permute(2, 0, 1)[None].float() - mean) / std
    out = []
    with torch.no_grad():
        for i, layer in enumerate(net):
            x = layer(x)
            if i in (3, 8, 15):  # relu1_2, relu2_2, relu3_3 of torchvision's vgg16().features
                f = x[0].reshape(x.shape[1], -1)  # (C, M)
                out.append((f @ f.T / f.shape[1]).numpy())
            if i == 15:
                break
    return out


def gram_share(result: np.ndarray, photo: np.ndarray, style: np.ndarray) -> float:
    gr, gp, gs = gram_features(result), gram_features(photo), gram_features(style)
    shares = [1 - np.linalg.norm(r - s) / np.linalg.norm(p - s) for r, p, s in zip(gr, gp, gs)]
    return float(np.mean(shares))


def edge_corr(result: np.ndarray, photo: np.ndarray) -> float:
    from skimage.filters import gaussian, sobel

    sigma = 2.0 * max(photo.shape[:2]) / 256
    grey = lambda im: im @ np.array([0.299, 0.587, 0.114])  # noqa: E731
    er, ep = gaussian(sobel(grey(result)), sigma), gaussian(sobel(grey(photo)), sigma)
    return float(np.corrcoef(er.ravel(), ep.ravel())[0, 1])


def measure(result: np.ndarray, photo: np.ndarray, style: np.ndarray) -> dict[str, float]:
    """The four figures for (H, W, 3) float images in [0, 1]; ``style`` at the same size as the others."""
    return {
        "change": float(np.abs(result - photo).mean() * 255),
        "colour share": 1 - colour_distance(result, style) / colour_distance(photo, style),
        "Gram share": gram_share(result, photo, style),
        "edge corr": edge_corr(result, photo),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512])
    ap.add_argument("--steps", type=int, default=None, help="loss evaluations (default: transfer()'s default)")
    ap.add_argument("--repo", type=Path, default=None, help="import nstlib from this checkout instead")
    ap.add_argument("--save-dir", type=Path, default=None, help="write each result as a PNG here")
    ap.add_argument("--strength", type=float, default=None, help="style strength (default: transfer()'s default)")
    ap.add_argument("--pairs", type=int, default=len(PAIRS), help="how many of the three pairs to run")
    args = ap.parse_args(argv)
    if args.repo is not None:
        sys.path.insert(0, str(args.repo.resolve()))
    import torch

    import nstlib

    print(
        f"nstlib from {Path(nstlib.__file__).parent}; torch {torch.__version__}; "
        f"device {nstlib.default_device()}; random weights; transfer() defaults"
        + (f"; steps {args.steps}" if args.steps else "")
        + (f"; strength {args.strength:g}" if args.strength is not None else "")
    )
    np_img = lambda t: t[0].permute(1, 2, 0).cpu().numpy().astype(np.float64)  # noqa: E731
    rows, by_size = [], {}
    for content, style in PAIRS[: args.pairs]:
        for px in args.sizes:
            kwargs = {"size": px, "weights": "random", "progress": False}
            if args.steps:
                kwargs["steps"] = args.steps
            if args.strength is not None:
                kwargs["strength"] = args.strength
            start = time.perf_counter()
            res = nstlib.transfer(content, style, **kwargs)
            seconds = time.perf_counter() - start
            out = np_img(res.image)
            photo = np_img(nstlib.load_image(content, size=px))
            h, w = out.shape[:2]
            style_img = np_img(nstlib.load_image(style, size=(h, w)))
            m = measure(out, photo, style_img)
            by_size.setdefault((content, style), {})[px] = m
            rows.append((f"{content} + {style}", px, m, seconds))
            print(
                f"  {content} + {style} @ {px}: "
                + ", ".join(f"{k} {v:.3g}" for k, v in m.items())
                + f" ({seconds:.0f} s)",
                flush=True,
            )
            if args.save_dir is not None:
                args.save_dir.mkdir(parents=True, exist_ok=True)
                nstlib.save_image(res.image, args.save_dir / f"{content}-{style}-{px}.png")
    print()
    print("| pair | px | change (grey levels) | colour share | Gram share (VGG-16) | edge corr | seconds |")
    print("|---|---|---|---|---|---|---|")
    for name, px, m, seconds in rows:
        print(
            f"| {name} | {px} | {m['change']:.1f} | {m['colour share']:.2f} | {m['Gram share']:.2f} | "
            f"{m['edge corr']:.2f} | {seconds:.0f} |"
        )
    print()
    print(
        "targets: " + ", ".join(f"{k} >= {v}" for k, v in TARGETS.items()) + "; spread across sizes <= 0.15 "
        "(change: <= 15 % of its mean)"
    )
    ok_all = True
    for pair, per in by_size.items():
        spreads = {}
        for k in TARGETS:
            vals = [per[px][k] for px in per]
            spread = max(vals) - min(vals)
            spreads[k] = spread / statistics.mean(vals) if k == "change" else spread
        met = all(per[px][k] >= t for px in per for k, t in TARGETS.items()) and all(
            v <= 0.15 for v in spreads.values()
        )
        ok_all &= met
        print(
            f"  {pair[0]} + {pair[1]}: spread "
            + ", ".join(f"{k} {v:.2f}" for k, v in spreads.items())
            + f" -> {'all targets met' if met else 'NOT all met'}"
        )
    print("all targets met" if ok_all else "some targets not met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
