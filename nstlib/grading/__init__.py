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

Layout: a small core and the checks written as data. The core: :mod:`._core` (outcomes, the FAIL
protocol, :class:`Spec` and the one loop :func:`run_spec`, :func:`checker`), :mod:`._values` (seeded
inputs on the grading device, float64 views, descriptions), :mod:`._outputs` (what a function must
return), :mod:`._loops` (loop rejection), :mod:`._catalogue` (the exercises in order, ``report``).
The checks, each a :class:`Spec` record (inputs to try, a reference, the wrong variants with their
hints) and its ``check_<id> = checker(SPEC)``: :mod:`.answer_checks` (numbers, lists, the matching),
:mod:`.loss_checks` (the losses), :mod:`.gram_checks` (Gram matrices and their gradient),
:mod:`.optim_checks` (the gradient step and the L-BFGS loop), :mod:`.feature_checks` (hooks on a
torchvision VGG-19). Adding a check is adding a record and listing it in ``_catalogue.SPECS``.

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

from ._catalogue import EXERCISES, PENDING_EXERCISES, SPECS, report
from ._core import (  # PASS, FAIL, NOT_IMPLEMENTED: the Outcome.status values
    FAIL,
    NOT_IMPLEMENTED,
    PASS,
    Case,
    Exercise,
    Outcome,
    Spec,
    checker,
    passed,
    reset,
    results,
    run_spec,
    strict,
)
from ._values import device
from .answer_checks import (
    PUZZLE_LAYERS,
    check_conv1_1_parameters,
    check_match_reconstructions,
    check_receptive_field_sizes,
    check_texture_model_size,
    reconstruction_puzzle,
)
from .choice_checks import (
    check_explain_grey_texture,
    check_measure_layer_equality,
    check_predict_photo_start,
    check_predict_structure_size,
)
from .count_checks import check_count_model
from .feature_checks import check_extract_features
from .gram_checks import (
    check_grad_style_layer,
    check_gram_matrix,
    check_masked_gram_matrix,
)
from .loss_checks import check_content_loss, check_total_loss, check_tv_loss
from .optim_checks import check_input_gradient_step, check_run_lbfgs
from .speed_checks import (
    check_adain,
    check_instance_norm,
    check_transformer_parameters,
    check_transformer_receptive_field,
)
from .style_loss_checks import check_style_layer_loss, check_style_loss

__all__ = [
    "EXERCISES",
    "PENDING_EXERCISES",
    "SPECS",
    "Exercise",
    "Outcome",
    "PASS",
    "FAIL",
    "NOT_IMPLEMENTED",
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
    "check_count_model",
    "check_predict_photo_start",
    "check_measure_layer_equality",
    "check_predict_structure_size",
    "check_explain_grey_texture",
    "check_instance_norm",
    "check_transformer_receptive_field",
    "check_adain",
    "check_transformer_parameters",
    "reconstruction_puzzle",
    "PUZZLE_LAYERS",
    "checker",
    "device",
    "passed",
    "report",
    "results",
    "reset",
    "run_spec",
    "strict",
]
