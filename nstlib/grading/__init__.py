"""Auto-graded exercises: one ``check_*`` per exercise of the notebook series, and ``report()``.

Every check runs the student's function on several seeded inputs (batch > 1, non-square maps,
float32 and float64) on the grading device (:func:`device`: the notebooks' device), compares the
result with a reference computed *at check time* by an independent implementation in this package
(NumPy formulas, naive loops, autograd, torchvision layers; no stored answer files, and not
``nstlib.losses``), and prints one of

- ``PASS  <exercise>: ...``
- ``FAIL  <exercise>: ...`` with what went in (shapes, dtypes), what was expected, what came out
  and a hint. The hint comes from comparing the student's output with known wrong variants
  (missing 1/2, mean instead of sum, transposed Gram, off-by-one, alpha/beta swapped, ...).
  A FAIL raises ``AssertionError`` so that nbgrader's autograde (or a CI run) scores it.
- ``not implemented yet`` when the student's function still raises ``NotImplementedError`` (the
  generated stub). This does *not* raise, so a student notebook runs top to bottom; under
  nbgrader's autograde/validate (``NBGRADER_EXECUTION``) or ``NSTLIB_GRADING_STRICT=1`` it raises
  ``AssertionError`` too, so an unsolved exercise scores 0 (see :func:`strict`).

The vectorised exercises (``gram_matrix``, ``tv_loss``) also reject Python loops over positions or
channels: warm counts of the bytecode executed in the student's own code and of the torch
operations it dispatches, on inputs of three sizes (:mod:`nstlib.grading._loops`).

Layout: :mod:`._core` (outcomes, the FAIL protocol, the data-driven runner :func:`run_spec`,
``report``), :mod:`._loops` (loop rejection), :mod:`.basic` (the nine exercises of notebooks
01-05), :mod:`.pipeline` (the exercises that build the real pipeline, written as data).

Exercises (id: notebook; student function). :data:`EXERCISES` have a notebook cell;
:data:`PENDING_EXERCISES` would list checks without a cell (none now). :func:`passed` says whether an
exercise passed in this session: the notebooks then plug the student's function into the library.

====================== =========================== ===============================================
id                     notebook                    student function / value
====================== =========================== ===============================================
receptive_field_sizes  01_receptive_fields         receptive_field_sizes(kernels, strides) -> list
conv1_1_parameters     01_receptive_fields         conv1_1_parameters() -> int
content_loss           02_content_reconstruction   content_loss(F, P) -> Tensor
input_gradient_step    02_content_reconstruction   input_gradient_step(image, loss_fn, lr)
gram_matrix            03_style_reconstruction     gram_matrix(F) -> Tensor (B, C, C)
style_layer_loss       03_style_reconstruction     style_layer_loss(F, A) -> Tensor
texture_model_size     04_texture_synthesis        texture_model_size(channels) -> int
total_loss             05_style_transfer           total_loss(content_terms, style_terms, ...)
tv_loss                05_style_transfer           tv_loss(img) -> Tensor
---------------------- --------------------------- -----------------------------------------------
extract_features       02_content_reconstruction   extract_features(model, image, layers) -> dict
match_reconstructions  02_content_reconstruction   match_reconstructions() -> dict[str, str]
style_loss             03_style_reconstruction     style_loss(features, targets, weights) -> Tensor
grad_style_layer       03_style_reconstruction     grad_style_layer(F, A) -> Tensor (B, N, H, W)
run_lbfgs              04_texture_synthesis        run_lbfgs(objective, x0, steps) -> Tensor
masked_gram_matrix     06_going_further            masked_gram_matrix(F, mask) -> Tensor (B, C, C)
====================== =========================== ===============================================
"""

from __future__ import annotations

from ._core import (
    EXERCISES,
    FAIL,
    NOT_IMPLEMENTED,
    PASS,
    PENDING_EXERCISES,
    Case,
    Exercise,
    Outcome,
    Spec,
    device,
    passed,
    report,
    reset,
    results,
    run_spec,
    strict,
)
from ._loops import _count_opcodes, _count_torch_ops, _reject_loops
from .pipeline import (
    PUZZLE_LAYERS,
    check_extract_features,
    check_grad_style_layer,
    check_masked_gram_matrix,
    check_match_reconstructions,
    check_run_lbfgs,
    check_style_loss,
    reconstruction_puzzle,
)
from .basic import (
    _gram_np,
    _rf_reference,
    _step_cases,
    _vgg19_channels,
    check_content_loss,
    check_conv1_1_parameters,
    check_gram_matrix,
    check_input_gradient_step,
    check_receptive_field_sizes,
    check_style_layer_loss,
    check_texture_model_size,
    check_total_loss,
    check_tv_loss,
)

__all__ = [
    "EXERCISES",
    "PENDING_EXERCISES",
    "Exercise",
    "Outcome",
    "Case",
    "Spec",
    "check_receptive_field_sizes",
    "check_conv1_1_parameters",
    "check_content_loss",
    "check_input_gradient_step",
    "check_gram_matrix",
    "check_style_layer_loss",
    "check_texture_model_size",
    "check_total_loss",
    "check_tv_loss",
    "check_extract_features",
    "check_style_loss",
    "check_grad_style_layer",
    "check_run_lbfgs",
    "check_match_reconstructions",
    "check_masked_gram_matrix",
    "reconstruction_puzzle",
    "PUZZLE_LAYERS",
    "device",
    "passed",
    "report",
    "results",
    "reset",
    "run_spec",
    "strict",
]
