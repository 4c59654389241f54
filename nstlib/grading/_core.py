"""The grading core: outcomes, the PASS / FAIL / not-implemented protocol, and the one loop every check runs.

A check is a :class:`Spec`, a record of data: the inputs to try, a reference implementation, the
known wrong variants each with the hint it should trigger, and an ``output`` function that
validates what the student returned. :func:`run_spec` calls the student's function on every case,
compares the result with the reference and, on a mismatch, names the closest wrong variant;
:func:`_grade` prints and records the outcome. :func:`checker` turns a spec into the public
``check_<id>`` function, so adding a check is adding a record.
"""

from __future__ import annotations

import contextlib
import copy
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..config import grading_strict
from ._values import (
    _arguments,
    _close,
    _rtol,
    _short,
    _show,
    as_numpy,
    changed,
    realize,
    snapshot,
    tensors,
)

PASS, FAIL, NOT_IMPLEMENTED = "pass", "fail", "not implemented"


@dataclass(frozen=True)
class Exercise:
    """One exercise: its id (the student function's name), its notebook, a one-line title and its points.

    ``points`` weighs the exercise by effort (a one-line formula 1, a loop with state 2-4); it is the
    ``points`` of the check cell's nbgrader metadata, and :func:`nstlib.grading.report` sums it.
    """

    id: str
    notebook: str
    title: str
    points: int = 1


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


def strict() -> bool:
    """True when an unimplemented exercise must fail rather than only print "not implemented yet".

    That is under nbgrader's ``autograde`` and ``validate`` (which set ``NBGRADER_EXECUTION``), so a
    submission that leaves the stub in place scores 0 for that check cell, or when
    ``NSTLIB_GRADING_STRICT=1`` is set (any other grading script); read by :func:`nstlib.config.grading_strict`.
    """
    return grading_strict()


# ----------------------------------------------------------------------------------------------
# The protocol: a check body returns the PASS summary or raises one of these


class _NotImplemented(Exception):
    """The student's function raised NotImplementedError (the generated stub)."""


class _Failure(Exception):
    """A failed test case, with everything a student needs to find the mistake."""

    def __init__(self, headline: str, *, inputs: str = "", expected: str = "", got: str = "", hint: str = ""):
        super().__init__(headline)
        self.headline, self.inputs, self.expected, self.got, self.hint = headline, inputs, expected, got, hint

    def render(self, exercise: str) -> str:
        lines = [f"FAIL  {exercise}: {self.headline}"]
        for label, text in (
            ("input", self.inputs),
            ("expected", self.expected),
            ("got", self.got),
            ("hint", self.hint),
        ):
            if text:
                body = textwrap.indent(text, " " * 12).lstrip()
                lines.append(f"  {label + ':':<9} {body}")
        return "\n".join(lines)


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


@contextlib.contextmanager
def _full_precision():
    """float32 matrix products and convolutions in full float32 while a student's function runs.

    CUDA lets cuDNN convolutions use TF32 by default (about 3 significant digits), and notebooks may
    switch matmuls to TF32 (``torch.set_float32_matmul_precision("high")``); a right answer would
    then miss the checks' float32 tolerance on a GPU only. Restored afterwards.
    """
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.get_float32_matmul_precision(),
    )
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.set_float32_matmul_precision(saved[2])


_ERROR_HINTS = {
    "view size is not compatible": "use .reshape(...) instead of .view(...): the tensor may not be contiguous.",
    "must match the size of tensor": "two tensors' shapes do not match: print the shapes of your intermediate results.",
    "does not require grad": "the tensor you differentiate must require grad: x = image.clone().requires_grad_(True).",
    "can't call numpy() on tensor that requires grad": "stay in torch: converting to NumPy cuts the autograd graph.",
    "expected scalar type": "mixing dtypes: keep the input's dtype (create new tensors with dtype=x.dtype).",
    "found dtype": "mixing dtypes: keep the input's dtype (create new tensors with dtype=x.dtype).",
}


def _call(
    fn: Callable[..., Any],
    args: Sequence[Any],
    inputs: str,
    hints: Mapping[str, str] | None = None,
    context: Callable[[], Any] | None = None,
) -> Any:
    """Call the student's function; NotImplementedError -> not implemented; other errors -> FAIL."""
    try:
        with _full_precision(), context() if context is not None else contextlib.nullcontext():
            return fn(*args)
    except NotImplementedError as exc:
        raise _NotImplemented(str(exc)) from None
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}"
        known = [*(hints or {}).items(), *_ERROR_HINTS.items()]  # the check's own hints first
        hint = next((h for key, h in known if key.lower() in text.lower()), "")
        raise _Failure(
            "your function raised an exception",
            inputs=inputs,
            got=text.strip().splitlines()[0][:400] if text.strip() else type(exc).__name__,
            hint=hint or "read the error message; print the shapes of your intermediate tensors.",
        ) from None


def _diagnose(got: np.ndarray, variants: Sequence[tuple[str, Callable[[], Any]]], rtol: float, default: str) -> str:
    """The hint of the first known wrong variant whose output equals the student's, else ``default``."""
    for hint, variant in variants:
        try:
            value = np.asarray(variant(), dtype=np.float64)
        except Exception:
            continue
        if _close(got, value, rtol):
            return hint
    return default


# ----------------------------------------------------------------------------------------------
# Checks written as data


@dataclass
class Case:
    """One test case: the arguments the student's function gets and what to compare its output with.

    For a :class:`Spec` with ``inputs``, the runner builds the cases: ``args`` realised from the
    recipes, ``np`` their float64 views, ``protect`` the arguments themselves, ``expected`` and
    ``variants`` from the spec's ``reference`` and ``wrong``. A behavioural check builds its own
    (``Spec.cases``) and may set any of them; ``expected`` and the variants are thunks evaluated after
    the student's call. ``protect``: values the student's function must not modify.
    """

    args: tuple[Any, ...]
    inputs: str = ""
    expected: Callable[[], Any] | None = None
    variants: Sequence[tuple[str, Callable[[], Any]]] = ()
    rtol: float | None = None
    protect: Any = ()
    data: dict[str, Any] = field(default_factory=dict)
    #: the arguments of ``Spec.reference`` and of each wrong variant (default: float64 views of ``args``)
    np: tuple[Any, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class Spec:
    """One exercise's check, as data.

    Attributes:
        id, notebook, title: the exercise (the student function's name, where its cell is, one line).
        signature: how the student's function is called, for messages (names the arguments).
        inputs: the cases to try, each a tuple of arguments or recipes (:mod:`._values`), realised at
            check time; or ``cases``, a function that builds the :class:`Case` list (behavioural checks).
        reference: the right answer, computed from a case's ``np`` (float64 views of the arguments).
        wrong: the known mistakes, ``(hint, variant)``: a variant computes the wrong answer from the same
            ``np``; a student output equal to it gets that hint (the first match wins).
        output: validates the student's output (type, shape, graph, behaviour; raises :class:`_Failure`
            with its own hint) and converts it to an array to compare with the reference.
        default_hint: the hint when no wrong variant matches (or a function of the case and the output).
        summary: the PASS line (``{n}`` is the number of cases).
        describe: the "input:" line of a case from its arguments (default: names and shapes).
        rtol: the tolerance (default: by the inputs' dtype; a float32 output is judged at float32 precision).
        error_hints: substrings of an exception message -> hint.
        after: runs once all cases passed (e.g. the loop rejection), may raise :class:`_Failure`.
        context: a context manager factory the student's function runs inside (e.g. inference mode).
        noun: "wrong <noun>" in the FAIL headline.
        show: formats the expected and the student's values (default: a few values).
        expected_text: shown as "expected:" instead of the reference (a text, or a function of it).
        value_ok: the answer may be a value instead of a zero-argument function.
        doc: the docstring of the ``check_<id>`` function.
        points: what the exercise is worth, by effort (the check cell's nbgrader ``points``).
    """

    id: str
    notebook: str
    title: str
    signature: str
    output: Callable[[Any, Case, str], Any]
    default_hint: str | Callable[[Case, Any], str]
    summary: str
    reference: Callable[..., Any] | None = None
    wrong: Sequence[tuple[str, Callable[..., Any]]] = ()
    inputs: Sequence[tuple[Any, ...]] = ()
    cases: Callable[[], list[Case]] | None = None
    describe: Callable[..., str] | None = None
    rtol: float | None = None
    error_hints: Mapping[str, str] = field(default_factory=dict)
    after: Callable[[Callable[..., Any]], None] | None = None
    context: Callable[[], Any] | None = None
    noun: str = "value"
    show: Callable[[Any], str] = _show
    expected_text: str | Callable[[Any], str] | None = None
    value_ok: bool = False
    doc: str = ""
    points: int = 1

    @property
    def exercise(self) -> Exercise:
        return Exercise(self.id, self.notebook, self.title, self.points)


def _memo(thunk: Callable[[], Any]) -> Callable[[], Any]:
    """``thunk``, evaluated once (a reference can be slow; validators and the runner both ask for it)."""
    cache: list[Any] = []

    def value() -> Any:
        if not cache:
            cache.append(thunk())
        return cache[0]

    return value


def build_cases(spec: Spec) -> list[Case]:
    """The spec's cases, complete: arguments, float64 views, description, reference, variants, tolerance."""
    cases = spec.cases() if spec.cases is not None else [Case(args=a, protect=a) for a in map(realize, spec.inputs)]
    for case in cases:
        if case.np is None:
            case.np = as_numpy(case.args)
        if not case.inputs and (case.args or spec.describe):
            case.inputs = spec.describe(*case.args) if spec.describe else _arguments(spec.signature, case.args)
        if case.expected is None and spec.reference is not None:
            case.expected = _memo(partial(spec.reference, *case.np))
        if not case.variants:
            case.variants = [(hint, partial(f, *case.np)) for hint, f in spec.wrong]
        if case.rtol is None:
            dtypes = [t.dtype for t in tensors(case.args)]
            case.rtol = spec.rtol if spec.rtol is not None else _rtol(*dtypes) if dtypes else 1e-4
    return cases


def _modified(arg: Any, inputs: str) -> _Failure:
    hint = (
        "don't update tensors in place (+=, -=, .sub_(), .add_()): compute a new tensor."
        if isinstance(arg, Tensor)
        else "don't pop, append, sort or overwrite the lists and dicts you are given: read them."
    )
    return _Failure("your function modified its input", inputs=inputs, hint=hint)


def run_spec(spec: Spec, fn: Any) -> None:
    """Grade ``fn`` against ``spec``: every case, then ``spec.after``; print and record the outcome."""

    def body() -> str:
        student = fn
        if spec.value_ok and not callable(fn):

            def value_copy() -> Any:  # a value answer: grade a fresh copy of it at every call
                return copy.deepcopy(fn)

            student = value_copy
        if not callable(student):
            raise _Failure(
                "expected your function, got a value",
                got=f"{type(fn).__name__}: {_short(fn)}",
                hint=f"pass the function itself, without calling it: check_...({spec.signature.split('(')[0]})",
            )
        cases = build_cases(spec)
        for index, case in enumerate(cases, 1):
            where = f"test case {index} of {len(cases)}"
            before = snapshot(case.protect)
            out = _call(student, case.args, case.inputs, spec.error_hints, context=spec.context)
            if (arg := changed(case.protect, before)) is not None:
                raise _modified(arg, case.inputs)
            got = spec.output(out, case, where)
            assert case.expected is not None and case.rtol is not None
            expected = np.asarray(case.expected(), dtype=np.float64)
            # a float32 result of float64 inputs is judged at float32 precision
            rtol = max(case.rtol, _rtol(out.dtype)) if isinstance(out, Tensor) else case.rtol
            if _close(got, expected, rtol):
                continue
            default = spec.default_hint if isinstance(spec.default_hint, str) else spec.default_hint(case, got)
            shown = spec.expected_text(expected) if callable(spec.expected_text) else spec.expected_text
            raise _Failure(
                f"wrong {spec.noun} ({where})",
                inputs=case.inputs,
                expected=shown or spec.show(expected),
                got=spec.show(got),
                hint=_diagnose(np.asarray(got, dtype=np.float64), case.variants, rtol, default),
            )
        if spec.after is not None:
            spec.after(student)
        return spec.summary.format(n=len(cases))

    _grade(spec.id, body)


def checker(spec: Spec) -> Callable[[Any], None]:
    """The public ``check_<id>(fn)`` of a spec: runs it, prints PASS / FAIL / not implemented."""

    def check(fn: Any) -> None:
        run_spec(spec, fn)

    check.__name__ = check.__qualname__ = f"check_{spec.id}"
    check.__doc__ = spec.doc
    check.__module__ = "nstlib.grading"
    check.spec = spec  # type: ignore[attr-defined]
    return check
