"""The grading core: exercises, outcomes, the PASS / FAIL / not-implemented protocol, helpers.

Every check in :mod:`nstlib.grading.basic` and :mod:`nstlib.grading.pipeline` goes through
:func:`_grade` (print and record one outcome) and, for the checks written as data, through
:func:`run_spec` (call the student's function on every :class:`Case`, validate, compare with the
reference, name the closest wrong variant). Inputs are generated on the CPU from fixed seeds, in
float64, then moved to the grading device (:func:`device`: ``$NSTLIB_DEVICE``, else cuda, else mps,
else cpu), so a check sees the same numbers on every device; on MPS, which has no float64, the
float64 cases run in float32.
"""

from __future__ import annotations

import contextlib
import os
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from ..config import default_device

PASS, FAIL, NOT_IMPLEMENTED = "pass", "fail", "not implemented"


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id (the student function's name), its notebook and a one-line title."""

    id: str
    notebook: str
    title: str


#: The exercises that have a cell in a notebook (``report(notebook)`` lists these).
EXERCISES: tuple[Exercise, ...] = (
    Exercise("receptive_field_sizes", "01_receptive_fields", "receptive-field size of every layer"),
    Exercise("conv1_1_parameters", "01_receptive_fields", "number of parameters of conv1_1"),
    Exercise("content_loss", "02_content_reconstruction", "content loss 1/2 sum (F - P)^2"),
    Exercise("input_gradient_step", "02_content_reconstruction", "one gradient step on the input image"),
    Exercise("extract_features", "02_content_reconstruction", "named features from a torchvision VGG-19 via hooks"),
    Exercise("match_reconstructions", "02_content_reconstruction", "which layer made which reconstruction"),
    Exercise("gram_matrix", "03_style_reconstruction", "Gram matrix G = F F^T, vectorised"),
    Exercise("style_layer_loss", "03_style_reconstruction", "style loss E_l = 1/(4 N^2 M^2) sum (G - A)^2"),
    Exercise("style_loss", "03_style_reconstruction", "L_style = sum_l w_l E_l over several layers"),
    Exercise("grad_style_layer", "03_style_reconstruction", "dE_l/dF by hand, checked against autograd"),
    Exercise("texture_model_size", "04_texture_synthesis", "number of parameters of the texture model"),
    Exercise("run_lbfgs", "04_texture_synthesis", "the L-BFGS closure and loop: clamp, count, keep the best"),
    Exercise("total_loss", "05_style_transfer", "alpha * content + beta * style"),
    Exercise("tv_loss", "05_style_transfer", "total-variation loss, vectorised"),
    Exercise("masked_gram_matrix", "06_going_further", "Gram matrix of a masked region, normalised"),
)

#: Exercises whose check is ready but whose notebook cell is not written yet. Move an entry to
#: :data:`EXERCISES` when its cell lands in the notebook's master. (Empty: every check has its cell.)
PENDING_EXERCISES: tuple[Exercise, ...] = ()


def _all_exercises() -> tuple[Exercise, ...]:
    return EXERCISES + PENDING_EXERCISES


@dataclass(frozen=True)
class Outcome:
    """The last outcome of one exercise's check: ``status`` is ``pass``, ``fail`` or ``not implemented``."""

    exercise: str
    status: str
    message: str


_RESULTS: dict[str, Outcome] = {}


def results() -> dict[str, Outcome]:
    """A copy of the registry: exercise id -> last :class:`Outcome`, in the order first checked."""
    return dict(_RESULTS)


def passed(exercise: str) -> bool:
    """True when ``exercise``'s last check in this session passed (the notebooks then plug the
    student's function into the library; otherwise they use the library's own)."""
    outcome = _RESULTS.get(exercise)
    return outcome is not None and outcome.status == PASS


def reset() -> None:
    """Forget every recorded outcome (a fresh kernel session)."""
    _RESULTS.clear()


# ----------------------------------------------------------------------------------------------
# The grading machinery: failures, the student call, descriptions of values, comparisons.


class _NotImplemented(Exception):
    """The student's function raised NotImplementedError (the generated stub)."""


class _Failure(Exception):
    """A failed test case, with everything a student needs to find the mistake."""

    def __init__(self, headline: str, *, inputs: str = "", expected: str = "", got: str = "", hint: str = ""):
        super().__init__(headline)
        self.headline, self.inputs, self.expected, self.got, self.hint = headline, inputs, expected, got, hint

    def render(self, exercise: str) -> str:
        lines = [f"FAIL  {exercise}: {self.headline}"]
        for label, text in (("input", self.inputs), ("expected", self.expected), ("got", self.got), ("hint", self.hint)):
            if text:
                body = textwrap.indent(text, " " * 12).lstrip()
                lines.append(f"  {label + ':':<9} {body}")
        return "\n".join(lines)


def strict() -> bool:
    """True when an unimplemented exercise must fail rather than only print "not implemented yet".

    That is under nbgrader's ``autograde`` and ``validate`` (which set ``NBGRADER_EXECUTION``), so a
    submission that leaves the stub in place scores 0 for that check cell, or when
    ``NSTLIB_GRADING_STRICT=1`` is set (any other grading script).
    """
    if os.environ.get("NBGRADER_EXECUTION", "").strip().lower() in {"autograde", "validate"}:
        return True
    return os.environ.get("NSTLIB_GRADING_STRICT", "").strip().lower() in {"1", "true", "yes", "on"}


def _record(exercise: str, status: str, message: str) -> None:
    _RESULTS[exercise] = Outcome(exercise, status, message)


def _grade(exercise: str, body: Callable[[], str]) -> None:
    """Run one check body; print and record PASS / FAIL / not implemented; raise on FAIL."""
    try:
        summary = body()
    except _NotImplemented as exc:
        detail = f" ({exc})" if str(exc) else ""
        message = (
            f"not implemented yet  {exercise}: your function still raises NotImplementedError{detail}.\n"
            "  Replace the `raise NotImplementedError(...)` line with your code, run that cell, then this one."
        )
        _record(exercise, NOT_IMPLEMENTED, message)
        print(message)
        if strict():
            raise AssertionError(f"{exercise}: not implemented (strict grading scores it 0)") from None
        return
    except _Failure as failure:
        message = failure.render(exercise)
        _record(exercise, FAIL, message)
        print(message)
        raise AssertionError(f"{exercise}: {failure.headline} (see the FAIL report above)") from None
    message = f"PASS  {exercise}: {summary}"
    _record(exercise, PASS, message)
    print(message)


def _require_callable(fn: Any, signature: str) -> None:
    if not callable(fn):
        raise _Failure(
            "expected your function, got a value",
            got=f"{type(fn).__name__}: {_short(fn)}",
            hint=f"pass the function itself, without calling it: check_...({signature.split('(')[0]})",
        )


@contextlib.contextmanager
def _full_precision():
    """float32 matrix products and convolutions in full float32 while a student's function runs.

    CUDA lets cuDNN convolutions use TF32 by default (about 3 significant digits), and notebooks may
    switch matmuls to TF32 (``torch.set_float32_matmul_precision("high")``); a right answer would
    then miss the checks' float32 tolerance on a GPU only. Restored afterwards.
    """
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision())
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.set_float32_matmul_precision(saved[2])


def _call(fn: Callable[..., Any], args: Sequence[Any], inputs: str, hints: dict[str, str] | None = None,
          context: Callable[[], Any] | None = None) -> Any:
    """Call the student's function; NotImplementedError -> not implemented; other errors -> FAIL."""
    try:
        with _full_precision(), (context() if context is not None else contextlib.nullcontext()):
            return fn(*args)
    except NotImplementedError as exc:
        raise _NotImplemented(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - any student error becomes a readable FAIL
        text = f"{type(exc).__name__}: {exc}"
        hint = next((h for key, h in (hints or {}).items() if key.lower() in text.lower()), "")
        if not hint:
            hint = next((h for key, h in _ERROR_HINTS.items() if key.lower() in text.lower()), "")
        raise _Failure(
            "your function raised an exception",
            inputs=inputs,
            got=text.strip().splitlines()[0][:400] if text.strip() else type(exc).__name__,
            hint=hint or "read the error message; print the shapes of your intermediate tensors.",
        ) from None


_ERROR_HINTS = {
    "view size is not compatible": "use .reshape(...) instead of .view(...): the tensor may not be contiguous.",
    "must match the size of tensor": "two tensors' shapes do not match: print the shapes of your intermediate results.",
    "does not require grad": "the tensor you differentiate must require grad: x = image.clone().requires_grad_(True).",
    "can't call numpy() on tensor that requires grad": "stay in torch: converting to NumPy cuts the autograd graph.",
    "expected scalar type": "mixing dtypes: keep the input's dtype (create new tensors with dtype=x.dtype).",
    "found dtype": "mixing dtypes: keep the input's dtype (create new tensors with dtype=x.dtype).",
}


def _short(x: Any, limit: int = 200) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(x: Any) -> str:
    """A one-line description of a value: dtype and shape for tensors, values when small."""
    if isinstance(x, Tensor):
        dtype = str(x.dtype).replace("torch.", "")
        flags = ", requires_grad" if x.requires_grad else ""
        if x.numel() <= 6:
            values = np.array2string(x.detach().cpu().double().numpy(), precision=6, separator=", ")
            return f"{dtype} tensor of shape {tuple(x.shape)}{flags}: {values}"
        return f"{dtype} tensor of shape {tuple(x.shape)}{flags}"
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape}"
    return f"{type(x).__name__}: {_short(x)}"


def _values(a: np.ndarray, limit: int = 6) -> str:
    """A few values of an array (all when small), with the shape."""
    flat = np.asarray(a, dtype=np.float64).ravel()
    shown = np.array2string(flat[:limit], precision=6, separator=", ")
    more = f" ... ({flat.size} values)" if flat.size > limit else ""
    return shown + more


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy()


def _rtol(*dtypes: torch.dtype) -> float:
    return 1e-9 if all(d == torch.float64 for d in dtypes) else 1e-4


def _close(got: np.ndarray, expected: np.ndarray, rtol: float) -> bool:
    """Equal shapes and values within ``rtol`` (relative to the largest expected magnitude)."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return False
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-12)
    return bool(np.all(np.isfinite(got)) and np.allclose(got, expected, rtol=rtol, atol=rtol * scale))


def _diagnose(got: np.ndarray, variants: Sequence[tuple[str, Callable[[], Any]]], rtol: float, default: str) -> str:
    """The hint of the first known wrong variant whose output equals the student's, else ``default``."""
    for hint, variant in variants:
        try:
            value = np.asarray(variant(), dtype=np.float64)
        except Exception:  # noqa: BLE001 - a variant that does not apply to this input
            continue
        if _close(got, value, rtol):
            return hint
    return default


def device() -> torch.device:
    """The device the checks run the student's functions on: ``$NSTLIB_DEVICE``, else cuda, mps, cpu.

    The same device the notebooks compute on (:func:`nstlib.default_device`), so a function that
    builds a tensor on the wrong device fails here, not later inside the optimisation.
    """
    return default_device()


def _dtype(dtype: torch.dtype, dev: torch.device | None = None) -> torch.dtype:
    """``dtype``, except float64 -> float32 on MPS (which has no float64)."""
    dev = dev or device()
    return torch.float32 if (dtype == torch.float64 and dev.type == "mps") else dtype


def _on_device(t: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """A CPU-made tensor moved to the grading device (float64 -> float32 on MPS)."""
    dev = device()
    return t.to(device=dev, dtype=_dtype(dtype or t.dtype, dev))


def _cpu_rand(shape: Sequence[int], seed: int, dtype: torch.dtype = torch.float32, low: float | None = None,
              high: float | None = None) -> Tensor:
    """Seeded normal (or uniform in [low, high]) CPU tensor, generated in float64 then cast."""
    g = torch.Generator().manual_seed(seed)
    if low is None or high is None:
        t = torch.randn(*shape, generator=g, dtype=torch.float64)
    else:
        t = low + (high - low) * torch.rand(*shape, generator=g, dtype=torch.float64)
    return t.to(dtype)


def _rand(shape: Sequence[int], seed: int, dtype: torch.dtype = torch.float32, low: float | None = None,
          high: float | None = None, requires_grad: bool = False) -> Tensor:
    """:func:`_cpu_rand` (the same numbers on every device) moved to the grading device."""
    return _on_device(_cpu_rand(shape, seed, torch.float64, low, high), dtype).requires_grad_(requires_grad)


def _inputs(**named: Any) -> str:
    return ", ".join(f"{k} = {_describe(v)}" for k, v in named.items())


def _scalar_output(out: Any, inputs: str, *, graph: bool, what: str) -> Tensor:
    """Validate a loss value: a one-element tensor, attached to the autograd graph when ``graph``."""
    if not isinstance(out, Tensor):
        hint = "return a torch tensor, not a Python number: .item() / float() cut the autograd graph."
        if out is None:
            hint = "your function returns None: did you forget the `return`?"
        raise _Failure(f"{what} must be a torch tensor", inputs=inputs, expected="a 0-dim tensor", got=_describe(out), hint=hint)
    if out.numel() != 1:
        raise _Failure(
            f"{what} must be a single number",
            inputs=inputs,
            expected="a 0-dim tensor (shape ())",
            got=_describe(out),
            hint="sum over every dimension, batch included (e.g. .sum() with no dim argument).",
        )
    if graph and not out.requires_grad:
        raise _Failure(
            f"{what} is detached from the autograd graph",
            inputs=inputs,
            expected="a tensor that requires grad (the inputs do)",
            got=_describe(out),
            hint="compute with torch operations only: .item(), .detach(), .numpy(), float() or torch.tensor(...) "
            "of a result cut the graph, and the optimiser gets no gradient.",
        )
    return out


def _unchanged(before: Sequence[Tensor], after: Sequence[Tensor], inputs: str) -> None:
    for b, a in zip(before, after):
        if not torch.equal(b, a.detach()):
            raise _Failure(
                "your function modified its input",
                inputs=inputs,
                hint="don't update tensors in place (+=, -=, .sub_(), .add_()): compute a new tensor.",
            )



# ----------------------------------------------------------------------------------------------
# Checks written as data: a Spec (what the exercise is) and its Cases (inputs, reference, wrong
# variants with their hints); run_spec is the one loop every such check runs.


@dataclass
class Case:
    """One test case: the arguments, their description, the reference and the known wrong variants.

    ``expected`` and each variant's value are thunks, evaluated after the student's call (a
    behavioural check such as :func:`nstlib.grading.check_run_lbfgs` only knows its reference once
    the student's function has run). ``protect``: tensors the student's function must not modify.
    """

    args: tuple[Any, ...]
    inputs: str
    expected: Callable[[], Any]
    variants: Sequence[tuple[str, Callable[[], Any]]] = ()
    rtol: float = 1e-4
    protect: Sequence[Tensor] = ()
    data: dict[str, Any] = field(default_factory=dict)
    #: shown as "expected:" instead of the reference's values (e.g. not to give an answer away)
    expected_text: str | None = None


@dataclass(frozen=True)
class Spec:
    """One exercise's check as data.

    Attributes:
        id: the exercise id (the student function's name).
        signature: how the student's function is called, for messages.
        cases: builds the cases at check time (seeded, on the grading device).
        output: validates the student's output and converts it to an array to compare with the
            reference; raises :class:`_Failure` (with its own hint) for a wrong type, shape, a
            detached result or a behavioural mistake.
        default_hint: the hint when no known wrong variant matches (or a function of the case and
            the student's converted output that returns it).
        summary: the PASS line (``{n}`` is the number of cases).
        error_hints: substrings of an exception message -> hint.
        after: runs once all cases passed (e.g. the loop rejection), may raise :class:`_Failure`.
        context: a context manager factory the student's function runs inside (e.g. inference mode).
        noun: "wrong <noun>" in the FAIL headline.
        show: formats the expected and the student's converted values (default: a few values).
    """

    id: str
    signature: str
    cases: Callable[[], list[Case]]
    output: Callable[[Any, Case, str], Any]
    default_hint: str | Callable[[Case, Any], str]
    summary: str
    error_hints: dict[str, str] = field(default_factory=dict)
    after: Callable[[Callable[..., Any]], None] | None = None
    context: Callable[[], Any] | None = None
    noun: str = "value"
    show: Callable[[Any], str] | None = None


def _show(a: Any) -> str:
    arr = np.asarray(a, dtype=np.float64)
    return f"{float(arr):.8g}" if arr.ndim == 0 else f"shape {arr.shape}: {_values(arr)}"


def run_spec(spec: Spec, fn: Any) -> None:
    """Grade ``fn`` against ``spec``: every case, then ``spec.after``; print and record the outcome."""

    def body() -> str:
        _require_callable(fn, spec.signature)
        cases = spec.cases()
        for index, case in enumerate(cases, 1):
            where = f"test case {index} of {len(cases)}"
            before = [t.detach().clone() for t in case.protect]
            out = _call(fn, case.args, case.inputs, spec.error_hints, context=spec.context)
            _unchanged(before, case.protect, case.inputs)
            got = spec.output(out, case, where)
            expected = np.asarray(case.expected(), dtype=np.float64)
            # a float32 result of float64 inputs is judged at float32 precision
            rtol = max(case.rtol, _rtol(out.dtype)) if isinstance(out, Tensor) else case.rtol
            if _close(got, expected, rtol):
                continue
            show = spec.show or _show
            default = spec.default_hint if isinstance(spec.default_hint, str) else spec.default_hint(case, got)
            raise _Failure(
                f"wrong {spec.noun} ({where})",
                inputs=case.inputs,
                expected=case.expected_text or show(expected),
                got=show(got),
                hint=_diagnose(np.asarray(got, dtype=np.float64), case.variants, rtol, default),
            )
        if spec.after is not None:
            spec.after(fn)
        return spec.summary.format(n=len(cases))

    _grade(spec.id, body)

# ----------------------------------------------------------------------------------------------
# The score


def _notebook_exercises(notebook: str | int) -> list[Exercise]:
    key = str(notebook)
    key = os.path.basename(key).removesuffix(".ipynb")
    if key.isdigit():
        key = f"{int(key):02d}"
    chosen = [e for e in EXERCISES if e.notebook == key or e.notebook.startswith(key + "_")]
    if not chosen:
        known = sorted({e.notebook for e in _all_exercises()})
        raise ValueError(f"no exercises for notebook {notebook!r}; known notebooks: {', '.join(known)}")
    return chosen


_LABELS = {PASS: "PASS", FAIL: "FAIL", NOT_IMPLEMENTED: "not implemented yet", None: "not run"}


def report(notebook: str | int | None = None) -> None:
    """Print which exercises passed, failed or are not implemented yet, with a score line.

    Args:
        notebook: ``None`` for the exercises checked in this kernel session; or a notebook
            (``"03"``, ``3``, ``"03_style_reconstruction"`` or its ``.ipynb`` path) to list all of that
            notebook's exercises, those not checked yet shown as "not run".
    """
    if notebook is None:
        chosen = [e for e in _all_exercises() if e.id in _RESULTS]
        title = "Exercises checked in this session"
    else:
        chosen = _notebook_exercises(notebook)
        title = f"Exercises of notebook {chosen[0].notebook}"
    if not chosen:
        print(f"{title}: none yet. Run the check cells (nstlib.grading.check_...) first.")
        return
    statuses = [(_RESULTS[e.id].status if e.id in _RESULTS else None) for e in chosen]
    passed = sum(s == PASS for s in statuses)
    width = max(len(e.id) for e in chosen)
    lines = [title + ":"]
    for e, status in zip(chosen, statuses):
        lines.append(f"  {_LABELS[status]:<20} {e.notebook[:2]}  {e.id:<{width}}  {e.title}")
    lines.append(f"Score: {passed}/{len(chosen)} exercises pass.")
    if passed == len(chosen):
        lines.append("All done: well done!")
    print("\n".join(lines))
