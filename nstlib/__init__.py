"""nstlib: neural style transfer for teaching (Gatys, Ecker & Bethge 2015, 2016).

The pipeline, one module a stage::

    image.py       load_image / save_image: every image is a float32 (1, 3, H, W) tensor in [0, 1]
    vgg.py         VGG19Features: named layers (relu4_2, relu1_1, ...), ImageNet normalisation inside
    calibration.py Gatys' normalisation: every filter's mean activation over 9 photos is 1
    losses.py      gram_matrix, content_loss, style_layer_loss, tv_loss
    optim.py       make_objective + run_loop = synthesize; balance (the style strength), size_factor
    defaults.py    the one table of defaults: presets "default" and "paper"
    transfer.py    transfer, reconstruct_content, reconstruct_style, synthesize_texture
    receptive.py   receptive-field table and effective receptive fields
    plot.py        image grids and per-layer loss curves
"""

from .config import default_device, quick_mode
from .data import list_images
from .experiments import get_encoder, reconstruct_content, reconstruct_style, synthesize_texture, transfer
from .io import ImageError, check_image, load_image, save_image
from .losses import content_loss, gram_matrix, style_layer_loss, tv_loss
from .receptive import effective_receptive_field, receptive_field_table
from .synthesis import Objective, SynthesisResult, content_targets, make_objective, run_loop, style_targets, synthesize
from .vgg import LAYER_NAMES, VGG19Features
from .viz import plot_losses, show_images

__version__ = "0.1.0"


def _transfer_module_shim() -> None:
    """``nstlib.transfer`` is the function; the module that held it is now :mod:`nstlib.experiments`.

    Old code ``from nstlib.transfer import TEXTURE_LAYERS`` keeps working for one version (with a
    DeprecationWarning) through a stand-in module registered in ``sys.modules``; the package
    attribute ``nstlib.transfer`` stays the function, so ``import nstlib.transfer as t`` cannot
    silently rebind it to a module.
    """
    import sys
    import types
    import warnings

    from . import experiments

    class _Moved(types.ModuleType):
        def __getattr__(self, name: str):
            if name.startswith("__"):
                raise AttributeError(name)
            value = getattr(experiments, name)
            warnings.warn(
                f"the module nstlib.transfer is now nstlib.experiments: use nstlib.experiments.{name} "
                "(nstlib.transfer is the function)",
                DeprecationWarning,
                stacklevel=2,
            )
            return value

    sys.modules.setdefault(__name__ + ".transfer", _Moved(__name__ + ".transfer", experiments.__doc__))


_transfer_module_shim()

__all__ = [
    "LAYER_NAMES",
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
