"""Deprecated: the pipeline checks are records in :mod:`nstlib.grading.loss_checks`,
:mod:`~nstlib.grading.gram_checks`, :mod:`~nstlib.grading.feature_checks`,
:mod:`~nstlib.grading.optim_checks` and :mod:`~nstlib.grading.answer_checks`; use
``nstlib.grading.check_...(your function)``. The old names work for one version, with a ``DeprecationWarning``."""

from __future__ import annotations

from .._moved import forwarder

_G = "nstlib.grading"
_PUBLIC = [
    "check_extract_features",
    "check_style_loss",
    "check_grad_style_layer",
    "check_run_lbfgs",
    "check_match_reconstructions",
    "check_masked_gram_matrix",
    "reconstruction_puzzle",
    "PUZZLE_LAYERS",
]
__getattr__, __dir__ = forwarder(
    __name__,
    {
        **dict.fromkeys(_PUBLIC, _G),
        "STYLE_LOSS": f"{_G}.loss_checks",
        "GRAD_STYLE_LAYER": f"{_G}.gram_checks",
        "MASKED_GRAM": f"{_G}.gram_checks",
        "EXTRACT_FEATURES": f"{_G}.feature_checks",
        "RUN_LBFGS": f"{_G}.optim_checks",
        "MATCH_RECONSTRUCTIONS": f"{_G}.answer_checks",
    },
)
