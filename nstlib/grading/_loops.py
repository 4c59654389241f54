"""Vectorisation: reject Python loops over positions or channels, the same way on every device.

Two independent counters measure how much work the student's function does *in Python* while it
runs on inputs of three sizes (the batch size fixed):

- bytecode instructions executed in the student's own code objects (``sys.settrace`` with opcode
  events, frames outside the standard library, site-packages and nstlib: notebook cells, scripts);
- torch operations the student's code dispatches (a ``TorchFunctionMode``: every ``torch.*``
  function and tensor method called, whatever the device).

A vectorised function does the same few operations at every size; a Python loop over positions adds
work per position. Each size is run once to warm up and then measured, because the first call of
a function can differ from the later ones for reasons that have nothing to do with the student's
code. One such reason made the reference Gram matrix FAIL on a CUDA machine (issue 14: "0, 24 and
24 instructions"). The cause is that machine's Python (3.12), not CUDA: from Python 3.12 on, the
first traced call in a process sees no opcode events (measured: a fresh 3.12.3 process on that
machine counts 0, 24, 24 with CPU tensors exactly as with CUDA tensors; pure-Python probes on
3.12.1 and 3.13.0 count 0, 8, 8; 3.11 counts 8, 8, 8). Most likely ``sys.settrace``, rebuilt on
``sys.monitoring`` in 3.12, enables opcode events only from the next ``sys.settrace`` call after a
frame first sets ``f_trace_opcodes``. Lazy initialisation (CUDA context, cuBLAS handles, a
student's own per-shape cache) is a first-call effect of the same kind. The warm call makes the
counts independent of all of them; the torch-operation counter does not use the tracer at all (it
still works under a debugger or a coverage tool that owns ``sys.settrace``).
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
import sysconfig
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor
from torch.overrides import TorchFunctionMode

from ._core import _Failure

_LIBRARY_PREFIXES = tuple(
    sorted(
        {
            os.path.join(os.path.realpath(p), "")
            for k in ("stdlib", "platstdlib", "purelib", "platlib")
            if (p := sysconfig.get_paths().get(k))
        }
        | {os.path.join(os.path.realpath(os.path.dirname(os.path.dirname(__file__))), "")}
    )
)


def _is_student_code(filename: str) -> bool:
    """True for code outside the standard library, site-packages and nstlib (notebook cells, scripts)."""
    if filename.startswith("<frozen"):
        return False
    return not os.path.realpath(filename).startswith(_LIBRARY_PREFIXES)


def _count_opcodes(fn: Callable[..., Any], args: Sequence[Any]) -> int:
    """Bytecode instructions executed in student code (incl. helpers, comprehensions) while running ``fn(*args)``.

    One traced call, as it comes (no warm-up): see :func:`_work` for the measurement the checks use.
    """
    count = 0
    student_files: dict[str, bool] = {}

    def local(frame, event, arg):
        nonlocal count
        if event == "opcode":
            count += 1
        return local

    def global_(frame, event, arg):
        name = frame.f_code.co_filename
        if name not in student_files:
            student_files[name] = _is_student_code(name)
        if student_files[name]:
            frame.f_trace_opcodes = True
            return local
        return None

    previous = sys.gettrace()
    sys.settrace(global_)
    try:
        fn(*args)
    finally:
        sys.settrace(previous)
    return count


class _OpCounter(TorchFunctionMode):
    """Counts the torch functions and tensor methods called (nested calls inside one op are not counted)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def _count_torch_ops(fn: Callable[..., Any], args: Sequence[Any]) -> int:
    """Torch operations dispatched while running ``fn(*args)`` (device independent)."""
    with _OpCounter() as counter:
        fn(*args)
    return counter.count


def _work(fn: Callable[..., Any], make: Callable[[], Sequence[Any]]) -> tuple[int, int]:
    """(bytecode instructions, torch operations) of a warm call: a traced warm-up call, then the measured ones."""
    _count_opcodes(fn, make())  # warm-up: first-call effects (tracer start, lazy initialisation)
    return _count_opcodes(fn, make()), _count_torch_ops(fn, make())


def _loop_lines(fn: Callable[..., Any]) -> list[str]:
    """Source lines of the loops (for/while/comprehensions) in ``fn``, for the rejection message."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        first = inspect.getsourcelines(fn)[1]
    except (OSError, TypeError):
        return []
    lines = source.splitlines()
    found = []
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a lambda inside a larger expression
        return []
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.While, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            found.append(f"line {first + node.lineno - 1}: {lines[node.lineno - 1].strip()}")
    return sorted(set(found))


#: the sizes compared: (B, C, H, W); 4x the positions, then 3x the channels (the batch stays 2)
SIZES = ((2, 3, 4, 5), (2, 3, 8, 10), (2, 9, 4, 5))
_OPCODE_MARGIN = 16  # size-dependent branches may differ by a few instructions; loops add hundreds
_OP_MARGIN = 2  # a vectorised function dispatches the same torch operations at every size


def _reject_loops(fn: Callable[..., Any], make: Callable[[int, int, int, int], Tensor], what: str) -> None:
    """FAIL when the work done in Python grows with the number of positions (H, W) or channels (C).

    Runs ``fn`` on :data:`SIZES` and compares the warm counts of bytecode instructions and of torch
    operations (see the module docstring). Loops over the batch are allowed.
    """

    def inputs(shape: tuple[int, int, int, int]) -> Callable[[], tuple[Tensor]]:
        return lambda: (make(*shape),)

    counts = [_work(fn, inputs(s)) for s in SIZES]
    (base_code, base_ops), *others = counts
    names = ("positions (H, W)", "channels (C)")
    # A debugger or coverage tool owning sys.settrace hides the student's code from the tracer (every
    # count 0): the op counter still works then.
    over = [
        name
        for name, (code, ops) in zip(names, others)
        if code > base_code + _OPCODE_MARGIN or ops > base_ops + _OP_MARGIN
    ]
    if over:
        loops = _loop_lines(fn)
        raise _Failure(
            f"not vectorised: your code runs a Python loop over {' and '.join(over)}",
            inputs=f"inputs of shapes {', '.join(str(s) for s in SIZES[:-1])} and {SIZES[-1]}",
            expected="the same amount of Python work for every size (a few tensor operations)",
            got=f"{', '.join(str(c) for c, _ in counts[:-1])} and {counts[-1][0]} bytecode instructions "
            f"executed in your code; {', '.join(str(o) for _, o in counts[:-1])} and {counts[-1][1]} torch "
            "operations" + ("\n" + "\n".join(loops) if loops else ""),
            hint=f"{what} A Python loop over positions runs once per pixel: at conv1_1 of a 512x512 image "
            "that is 262,144 iterations per step instead of one optimised kernel call. Express it with "
            "whole-tensor operations (reshape, @ / torch.bmm, slicing, .sum()); a loop over the batch is fine.",
        )
