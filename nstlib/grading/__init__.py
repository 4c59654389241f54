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
:mod:`.choice_checks` (the graded predictions and explanations, letters A-E), :mod:`.count_checks`
(count the model from its shapes), :mod:`.loss_checks` (content, total and TV losses),
:mod:`.style_loss_checks` (E_l and the multi-layer style loss), :mod:`.gram_checks` (Gram matrices
and their gradient), :mod:`.optim_checks` (the gradient step and the L-BFGS loop),
:mod:`.feature_checks` (hooks on a torchvision VGG-19), :mod:`.speed_checks` (notebook 07). Adding a
check is adding a record and listing it in ``_catalogue.SPECS``.

Exercises (id: notebook, points, student function), in the order of ``_catalogue.SPECS`` (the order of
the notebooks and their cells; ``tests/test_grading_docstring.py`` checks this table against it).
:data:`EXERCISES` have a notebook cell; :data:`PENDING_EXERCISES` would list checks without a cell
(none now). :func:`passed` says whether an exercise passed in this session: the notebooks then plug
the student's function into the library. The retired one-liners ``conv1_1_parameters`` and
``texture_model_size`` (now one task, ``count_model``) keep their checks, importable for courses that
still use them, outside the catalogue.

=========================== ========================= ====== ========================================================
id                          notebook                  points student function
=========================== ========================= ====== ========================================================
receptive_field_sizes       01_receptive_fields       2      receptive_field_sizes(kernels, strides)
content_loss                02_content_reconstruction 1      content_loss(F, P)
input_gradient_step         02_content_reconstruction 2      input_gradient_step(image, loss_fn, lr)
run_lbfgs                   02_content_reconstruction 4      run_lbfgs(objective, x0, steps)
predict_photo_start         02_content_reconstruction 1      predict_photo_start()
extract_features            02_content_reconstruction 4      extract_features(model, image, layers)
match_reconstructions       02_content_reconstruction 1      match_reconstructions()
gram_matrix                 03_style_reconstruction   1      gram_matrix(F)
style_layer_loss            03_style_reconstruction   1      style_layer_loss(F, A)
measure_layer_equality      03_style_reconstruction   1      measure_layer_equality()
style_loss                  03_style_reconstruction   2      style_loss(features, targets, weights)
grad_style_layer            03_style_reconstruction   3      grad_style_layer(F, A)
predict_structure_size      03_style_reconstruction   1      predict_structure_size()
count_model                 04_texture_synthesis      2      count_model(weight_shapes)
explain_grey_texture        04_texture_synthesis      1      explain_grey_texture()
total_loss                  05_style_transfer         1      total_loss(content_terms, style_terms, alpha, beta, ...)
tv_loss                     05_style_transfer         1      tv_loss(img)
masked_gram_matrix          06_going_further          1      masked_gram_matrix(F, mask)
instance_norm               07_speed                  1      instance_norm(x, eps)
transformer_receptive_field 07_speed                  1      transformer_receptive_field(blocks)
adain                       07_speed                  1      adain(x, y, eps)
transformer_parameters      07_speed                  1      transformer_parameters(base, blocks)
=========================== ========================= ====== ========================================================
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
