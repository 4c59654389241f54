"""nstlib: neural style transfer for teaching (Gatys, Ecker & Bethge 2015, 2016).

The pipeline (image -> VGG features -> losses -> optimisation loop -> plot), one module a stage::

    config.py       every environment variable (NSTLIB_WEIGHTS, NSTLIB_QUICK, ...) and the device
    io.py           load_image / save_image / to_display: every image is a float32 (1, 3, H, W) in [0, 1]
    data/           images to experiment with: catalogue, procedural styles, one checked downloader
    vgg.py          VGG19Features: Gatys' layer names, ImageNet normalisation, truncation, layer shapes
    weights.py      where the filters come from: ImageNet download, a state-dict file, seeded random
    calibration.py  Gatys' normalisation: every filter's mean activation over 9 photos is 1
    speed.py        opt-in speed machinery (bf16 backward, channels-last, fast Gram); not needed to read
    losses.py       gram_matrix, content_loss, style_layer_loss, tv_loss
    objective.py    the weighted terms as a function of the image: make_objective, balance (strength), size_factor
    inputs.py       synthesize's argument checks and the start image (photo, white noise, quiet start)
    synthesis.py    run_loop (the one optimisation loop) + make_objective = synthesize
    defaults.py     the one table of defaults: presets "default" and "paper"
    encoders.py     get_encoder / get_texture_model: the shared networks, one download attempt per kernel
    recipes.py      every choice resolved in one place: AUTO, a preset's settings, Gatys 2017's controls
    experiments.py  transfer, reconstruct_content, reconstruct_style, synthesize_texture
    multiscale.py   random multi-scale filters for offline textures (Ustyuzhaninov et al. 2017)
    control.py      colour, scale and spatial control (Gatys et al. 2017)
    receptive.py    receptive-field table and effective receptive fields
    analysis.py     computations behind notebooks 01-03: what a layer is, sees and keeps
    viz.py          all plotting: image grids, loss curves, receptive fields, feature maps
    table.py        one printable table (text and HTML) for the analysis results
    widgets/        the notebooks' interactive panels on one run-panel base (ipywidgets)
    grading/        the auto-graded exercises: a small core plus checks written as data
    assignments.py  student notebooks from the instructor masters (nbgrader-compatible)
    cli.py          python -m nstlib demo | transfer CONTENT STYLE -o OUT.png

No module imports one that imports it back: docs/architecture.md lists the import layers top to
bottom, and tests/test_import_layers.py fails on a cycle.
"""

from .config import default_device, quick_mode
from .data import list_images
from .experiments import get_encoder, reconstruct_content, reconstruct_style, synthesize_texture, transfer
from .io import ImageError, check_image, load_image, save_image
from .losses import content_loss, gram_matrix, style_layer_loss, tv_loss
from .multiscale import MultiScaleTextures
from .receptive import effective_receptive_field, receptive_field_table
from .synthesis import Objective, SynthesisResult, content_targets, make_objective, run_loop, style_targets, synthesize
from .vgg import LAYER_NAMES, VGG19Features
from .viz import plot_losses, show_images

__version__ = "0.1.0"

__all__ = [
    "LAYER_NAMES",
    "MultiScaleTextures",
    "ImageError",
    "Objective",
    "SynthesisResult",
    "VGG19Features",
    "check_image",
    "content_loss",
    "content_targets",
    "default_device",
    "effective_receptive_field",
    "get_encoder",
    "gram_matrix",
    "list_images",
    "load_image",
    "make_objective",
    "plot_losses",
    "quick_mode",
    "receptive_field_table",
    "reconstruct_content",
    "reconstruct_style",
    "run_loop",
    "save_image",
    "show_images",
    "style_layer_loss",
    "style_targets",
    "synthesize",
    "synthesize_texture",
    "transfer",
    "tv_loss",
]
