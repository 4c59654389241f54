"""Each lesson's classic figure, rendered with given weights: ``python -m nstlib gallery``.

One function per figure, each one call of the experiment the notebook runs, at the library's
defaults unless the figure is *about* a setting (pooling, start, alpha/beta):

- ``content``: content reconstructions by layer (Gatys, Ecker & Bethge, CVPR 2016, Fig. 1 top);
- ``style``: style reconstructions by layer set (Fig. 1 bottom);
- ``textures``: textures of several sources (Gatys, Ecker & Bethge, NeurIPS 2015, Fig. 2) and
  ``depth``: one source with the texture model stopped at pool1 ... pool4;
- ``ratio``: the alpha/beta grid (CVPR 2016, Fig. 4); ``pooling``: max vs average pooling;
  ``start``: photo vs white-noise start; ``transfer``: the default transfer;
- ``controls``: notebook 06 (colour preservation, style scale; Gatys et al. 2017).

Every PNG is titled with the network that made it (``VGG-16 (trained: <file>)``), so a picture of
the trained offline VGG-16 is never taken for the ImageNet VGG-19. The committed gallery
(``docs/gallery/``) was rendered with ``python -m nstlib weights --offline-vgg16``'s file; the same
command with ``--weights imagenet`` renders it with torchvision's VGG-19 for anyone online.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from torch import Tensor

from .defaults import DEFAULTS, STYLE_LAYERS, TEXTURE_LAYERS
from .experiments import get_encoder, reconstruct_content, reconstruct_style, synthesize_texture, transfer
from .io import load_image
from .viz import show_images

__all__ = ["FIGURES", "render", "network_label", "figure_path", "show"]

PHOTO, PAINTING = "chelsea", "brush_strokes"
SOURCES = ("brush_strokes", "mosaic", "brick", "gravel")


def network_label(weights: str | os.PathLike) -> str:
    """'VGG-16 (trained: vgg16-....pth)' or 'VGG-19 (random ...)': what made a picture."""
    enc = get_encoder(weights, pooling="auto")
    kind = "random" if enc.is_random else "trained"
    return f"{enc.arch_name} ({kind}: {Path(str(enc.weights_source)).name})"


def _content(weights, px, steps) -> dict[str, Tensor]:
    img = load_image(PHOTO, size=px)
    out = {"photo": img}
    for layer in ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2"):
        out[layer] = reconstruct_content(img, layer, size=None, steps=steps, weights=weights, progress=False).image
    return out


def _style(weights, px, steps) -> dict[str, Tensor]:
    src = load_image(PAINTING, size=px)
    out = {"painting": src}
    layers = list(STYLE_LAYERS)
    for n in range(1, len(layers) + 1):
        res = reconstruct_style(src, layers[:n], size=None, steps=steps, weights=weights, progress=False)
        out[f"relu1_1..{layers[n - 1]}"] = res.image
    return out


def _textures(weights, px, steps) -> dict[str, Tensor]:
    out = {}
    for name in SOURCES:
        src = load_image(name, size=px)
        out[name] = src
        out[f"{name}: texture"] = synthesize_texture(
            src, size=px, steps=steps, weights=weights, model="vgg", progress=False
        ).image
    return out


def _depth(weights, px, steps) -> dict[str, Tensor]:
    src = load_image(SOURCES[1], size=px)
    out = {"source": src}
    for k in range(1, len(TEXTURE_LAYERS)):
        layers = list(TEXTURE_LAYERS[: k + 1])
        res = synthesize_texture(src, layers, size=px, steps=steps, weights=weights, progress=False)
        out[f"up to {layers[-1]}"] = res.image
    return out


def _ratio(weights, px, steps) -> dict[str, Tensor]:
    first = transfer(PHOTO, PAINTING, size=px, steps=steps, weights=weights, progress=False)
    out = {}
    for factor in (100.0, 10.0, 1.0, 0.1):  # alpha / beta relative to the default strength's
        ratio = factor * float(first.alpha or 1.0) / float(first.beta or 1.0)
        res = first if factor == 1.0 else transfer(
            PHOTO, PAINTING, size=px, steps=steps, weights=weights, style_weight=1.0 / ratio, progress=False
        )  # fmt: skip
        out[f"α/β = {ratio:.2g}"] = res.image
    return out


def _pooling(weights, px, steps) -> dict[str, Tensor]:
    return {
        f"{p} pooling": transfer(
            PHOTO, PAINTING, size=px, steps=steps, encoder=get_encoder(weights, p), progress=False
        ).image
        for p in ("avg", "max")
    }


def _start(weights, px, steps) -> dict[str, Tensor]:
    return {
        f"start: {'photo' if init == 'content' else 'white noise'}": transfer(
            PHOTO, PAINTING, size=px, steps=steps, weights=weights, init=init, progress=False
        ).image
        for init in ("content", "noise")
    }


def _transfer(weights, px, steps) -> dict[str, Tensor]:
    res = transfer(PHOTO, PAINTING, size=px, steps=steps, weights=weights, progress=False)
    return {
        "photo": load_image(PHOTO, size=px),
        "painting": load_image(PAINTING, size=px),
        "default transfer": res.image,
    }


def _controls(weights, px, steps) -> dict[str, Tensor]:
    kw = dict(size=px, steps=steps, weights=weights, progress=False)
    return {
        "default": transfer(PHOTO, PAINTING, **kw).image,
        "colour kept (luminance)": transfer(PHOTO, PAINTING, preserve_color="luminance", **kw).image,
        "style_scale 0.5": transfer(PHOTO, PAINTING, style_scale=0.5, **kw).image,
        "style_scale 2": transfer(PHOTO, PAINTING, style_scale=2.0, **kw).image,
    }


#: name -> (title, function(weights, px, steps) -> {caption: image}, columns)
FIGURES: dict[str, tuple[str, Callable[..., dict[str, Tensor]], int]] = {
    "content": ("Content reconstructions by layer (notebook 02; CVPR 2016 Fig. 1 top)", _content, 6),
    "style": ("Style reconstructions by layer set (notebook 03; CVPR 2016 Fig. 1 bottom)", _style, 6),
    "textures": ("Textures (notebook 04; Gatys et al. 2015)", _textures, 4),
    "depth": ("Texture model stopped at pool1 ... pool4 (notebook 04)", _depth, 5),
    "ratio": ("α/β from mostly the photo to mostly the painting (notebook 05; CVPR 2016 Fig. 4)", _ratio, 4),
    "pooling": ("Average vs max pooling (notebook 05)", _pooling, 2),
    "start": ("Photo vs white-noise start (notebook 05)", _start, 2),
    "transfer": ("The default transfer (notebook 05)", _transfer, 3),
    "controls": ("Colour and scale (notebook 06; Gatys et al. 2017)", _controls, 4),
}


def render(
    weights: str | os.PathLike,
    out_dir: str | os.PathLike,
    figures: list[str] | None = None,
    px: int = 128,
    steps: int = DEFAULTS.steps,
    save_each: str | os.PathLike | None = None,
) -> list[Path]:
    """Render ``figures`` (default: all of :data:`FIGURES`) with ``weights`` into ``out_dir``/<name>.png.

    ``save_each``: also write every single picture there (``<figure>__<caption>.png``), for measuring.
    """
    import matplotlib

    matplotlib.use("Agg")

    names = list(FIGURES) if figures is None else figures
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; choose from {', '.join(FIGURES)}")
    label = network_label(weights)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        title, make, ncols = FIGURES[name]
        images = make(weights, px, steps)
        if save_each is not None:
            from .io import save_image

            Path(save_each).mkdir(parents=True, exist_ok=True)
            for caption, img in images.items():
                safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in caption)
                save_image(img, Path(save_each) / f"{name}__{safe}.png")
        written.append(
            compose(images, folder / f"{name}.png", f"{title}\n{label}, {px} px, {steps} evaluations", ncols)
        )
    return written


def compose(images: dict[str, Tensor], path: Path, title: str, ncols: int) -> Path:
    """One figure: the pictures in a grid under ``title``, wrapped to the figure's width."""
    import textwrap

    import matplotlib.pyplot as plt

    fig = show_images(images, ncols=ncols, size=2.2)
    width = max(30, int(ncols * 2.2 * 72 / 5))  # characters of fontsize 8 that fit across the figure
    fig.suptitle("\n".join(textwrap.fill(line, width) for line in title.splitlines()), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


def figure_path(name: str) -> Path:
    """Where the committed gallery keeps figure ``name`` (``docs/gallery/<name>.png`` of a checkout)."""
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; choose from {', '.join(FIGURES)}")
    return Path(__file__).resolve().parents[1] / "docs" / "gallery" / f"{name}.png"


def show(name: str):
    """Show the committed gallery's figure ``name`` in a notebook ("what a trained network gives").

    Returns an ``IPython.display.Image``, or prints where the figure is when this installation has
    no ``docs/`` folder (a pip install): the gallery is in the project's repository.
    """
    path = figure_path(name)
    if not path.is_file():
        print(f"What a trained network gives: docs/gallery/{name}.png in nstlib's repository.")
        return None
    from IPython.display import Image

    return Image(filename=str(path))
