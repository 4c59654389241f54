"""Deprecated: the checks of notebooks 01-05 are records in :mod:`nstlib.grading.answer_checks`,
:mod:`~nstlib.grading.loss_checks`, :mod:`~nstlib.grading.gram_checks` and
:mod:`~nstlib.grading.optim_checks`; use ``nstlib.grading.check_...(your function)``. The old names work for one
version, with a ``DeprecationWarning``."""

from __future__ import annotations

from .._moved import forwarder

_G = "nstlib.grading"
__getattr__, __dir__ = forwarder(
    __name__,
    {
        **{
            f"check_{e}": _G
            for e in (
                "receptive_field_sizes",
                "conv1_1_parameters",
                "content_loss",
                "input_gradient_step",
                "gram_matrix",
                "style_layer_loss",
                "texture_model_size",
                "total_loss",
                "tv_loss",
            )
        },
        "RECEPTIVE_FIELD_SIZES": f"{_G}.answer_checks",
        "CONV1_1_PARAMETERS": f"{_G}.answer_checks",
        "TEXTURE_MODEL_SIZE": f"{_G}.answer_checks",
        "CONTENT_LOSS": f"{_G}.loss_checks",
        "STYLE_LAYER_LOSS": f"{_G}.loss_checks",
        "TOTAL_LOSS": f"{_G}.loss_checks",
        "TV_LOSS": f"{_G}.loss_checks",
        "GRAM_MATRIX": f"{_G}.gram_checks",
        "INPUT_GRADIENT_STEP": f"{_G}.optim_checks",
    },
)
