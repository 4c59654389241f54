"""Loop rejection and devices: the same verdicts on every device and whatever a first call does.

Issue 14: on a CUDA machine the reference Gram matrix FAILed "not vectorised" (0, 24 and 24
instructions). The cause is the Python version there (3.12), not CUDA: since 3.12 the first traced
call in a process sees no opcode events. These tests reproduce that first-call effect on the CPU
(a tracer that misses the first call, a student function whose first call per shape does extra work),
run a fresh interpreter whose very first check is the Gram matrix, and run the checks on every
device available here plus ``$NSTLIB_DEVICE``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from nstlib import grading
from nstlib.grading import check_gram_matrix, check_tv_loss
from tests.grading_helpers import fails as _fails
from tests.grading_helpers import fresh_registry  # noqa: F401  (an autouse fixture: importing it activates it)
from tests.grading_helpers import passes as _passes
from tests.test_grading import (
    REFERENCES,
    _gram_loop_over_channels,
    _gram_loop_over_positions,
    _tv_loops,
    gram_matrix,
)

DEVICES = ["cpu"] + [d for d in [os.environ.get("NSTLIB_DEVICE", "")] if d and d != "cpu"]


# ----------------------------------------------------------------------------------------------
# The first call differs from the later ones


@pytest.fixture
def tracer_misses_first_call(monkeypatch):
    """sys.settrace as Python >= 3.12 behaves in a fresh process: the first traced call sees no opcodes."""
    real = sys.settrace
    state = {"missed": 0}

    def settrace(func):
        if func is not None and state["missed"] == 0:
            state["missed"] = 1
            return real(lambda frame, event, arg: None)
        return real(func)

    monkeypatch.setattr(sys, "settrace", settrace)
    return state


def test_reference_gram_passes_when_the_first_traced_call_counts_nothing(tracer_misses_first_call, capsys):
    _passes(check_gram_matrix, gram_matrix, capsys)
    assert tracer_misses_first_call["missed"] == 1  # the glitch did happen inside the check


def test_the_simulated_glitch_is_the_issue_pattern(tracer_misses_first_call):
    """Unwarmed counts show the issue's pattern: 0 for the first call, then the real count."""
    counts = [
        grading._loops._count_opcodes(gram_matrix, (torch.randn(*s),))
        for s in [(2, 3, 4, 5), (2, 3, 8, 10), (2, 3, 8, 10)]
    ]
    assert counts[0] == 0 and counts[2] > 10  # (on Python >= 3.12 the real gap can swallow the second call too)


@pytest.mark.parametrize(
    ("fn", "what"), [(_gram_loop_over_positions, "positions"), (_gram_loop_over_channels, "channels")]
)
def test_loops_still_fail_when_the_first_traced_call_counts_nothing(tracer_misses_first_call, fn, what, capsys):
    _fails(check_gram_matrix, fn, capsys, f"Python loop over {what}")


_SEEN_SHAPES: set[tuple[int, ...]] = set()


def _gram_lazy_per_shape(F):
    """Right; the first call for each new shape does extra Python work (a per-shape plan, like a kernel cache)."""
    shape = tuple(F.shape)
    if shape not in _SEEN_SHAPES:
        _SEEN_SHAPES.add(shape)
        plan = [d for d in shape for _ in range(d)]  # Python work that grows with the shape, once
        del plan
    X = F.flatten(2)
    return X @ X.transpose(1, 2)


def test_a_right_gram_with_per_shape_first_call_work_passes(capsys):
    _SEEN_SHAPES.clear()
    _passes(check_gram_matrix, _gram_lazy_per_shape, capsys)


def test_fresh_interpreter_first_check_is_the_gram_matrix():
    """The issue's situation for real: a new process whose very first traced call is the check
    (on Python >= 3.12 this is what counted 0 instructions), on the device the tests run on."""
    code = textwrap.dedent("""
        import torch
        from nstlib import grading
        def gram_matrix(F):
            B, C, H, W = F.shape
            X = F.reshape(B, C, H * W)
            return X @ X.transpose(1, 2)
        def tv_loss(img):
            return ((img[..., 1:, :] - img[..., :-1, :]) ** 2).sum() + ((img[..., :, 1:] - img[..., :, :-1]) ** 2).sum()
        grading.check_gram_matrix(gram_matrix)
        grading.check_tv_loss(tv_loss)
        def loop(F):
            G = 0
            for y in range(F.shape[2]):
                for x in range(F.shape[3]):
                    f = F[:, :, y, x]
                    G = G + f[:, :, None] * f[:, None, :]
            return G
        try:
            grading.check_gram_matrix(loop)
        except AssertionError:
            print("LOOP REJECTED")
    """)
    env = dict(os.environ, NSTLIB_DEVICE=DEVICES[-1])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("PASS  gram_matrix"), proc.stdout
    assert "PASS  tv_loss" in proc.stdout and "LOOP REJECTED" in proc.stdout, proc.stdout


# ----------------------------------------------------------------------------------------------
# Without the tracer: the torch-operation counter alone


@pytest.fixture
def no_tracer(monkeypatch):
    """A debugger or coverage tool that owns tracing: sys.settrace installs nothing."""
    monkeypatch.setattr(sys, "settrace", lambda func: None)


@pytest.mark.parametrize(
    ("fn", "what"), [(_gram_loop_over_positions, "positions"), (_gram_loop_over_channels, "channels")]
)
def test_gram_loops_fail_without_the_tracer(no_tracer, fn, what, capsys):
    _fails(check_gram_matrix, fn, capsys, f"Python loop over {what}", "torch operations")


def test_tv_loop_fails_without_the_tracer(no_tracer, capsys):
    _fails(check_tv_loss, _tv_loops, capsys, "not vectorised")


def test_reference_passes_without_the_tracer(no_tracer, capsys):
    _passes(check_gram_matrix, gram_matrix, capsys)


def test_torch_op_count_is_independent_of_size_for_vectorised_code():
    counts = {grading._loops._count_torch_ops(gram_matrix, (torch.randn(*s),)) for s in grading._loops.SIZES}
    assert len(counts) == 1 and counts.pop() > 0
    loop = [
        grading._loops._count_torch_ops(_gram_loop_over_positions, (torch.randn(*s),)) for s in grading._loops.SIZES[:2]
    ]
    assert loop[1] - loop[0] >= 60  # 20 -> 80 positions, at least one op each


def test_pure_python_arithmetic_loop_is_caught_by_the_tracer(capsys):
    """A loop that converts to Python floats dispatches few torch ops: the opcode counter sees it."""

    def gram_python(F):
        B, C, H, W = F.shape
        vals = F.detach().reshape(B, C, H * W).tolist()
        G = [
            [[sum(a * b for a, b in zip(vals[b][i], vals[b][j])) for j in range(C)] for i in range(C)] for b in range(B)
        ]
        return torch.tensor(G, dtype=F.dtype, device=F.device) + 0 * F.sum()

    _fails(check_gram_matrix, gram_python, capsys, "not vectorised", "Python loop over positions")


# ----------------------------------------------------------------------------------------------
# Every device: the same verdicts, the student's function sees tensors on that device


@pytest.fixture(params=DEVICES)
def grading_device(request, monkeypatch):
    monkeypatch.setenv("NSTLIB_DEVICE", request.param)
    return torch.device(request.param)


@pytest.mark.parametrize(("check", "solution"), REFERENCES, ids=[c.__name__ for c, _ in REFERENCES])
def test_references_pass_on_every_device(grading_device, check, solution, capsys):
    _passes(check, solution, capsys)


def test_inputs_are_on_the_grading_device(grading_device, capsys):
    seen = set()

    def spy(F):
        seen.add(F.device.type)
        return gram_matrix(F)

    _passes(check_gram_matrix, spy, capsys)
    assert seen == {grading_device.type}
    assert grading.device() == grading_device


def test_a_function_that_builds_a_cpu_tensor_fails_on_an_accelerator(grading_device, capsys):
    def gram_cpu_zeros(F):
        B, C, H, W = F.shape
        return torch.zeros(B, C, C, dtype=F.dtype) + F.flatten(2) @ F.flatten(2).transpose(1, 2)

    if grading_device.type == "cpu":
        _passes(check_gram_matrix, gram_cpu_zeros, capsys)
    else:
        _fails(check_gram_matrix, gram_cpu_zeros, capsys, "your function raised an exception")


@pytest.mark.parametrize(
    ("fn", "what"), [(_gram_loop_over_positions, "positions"), (_gram_loop_over_channels, "channels")]
)
def test_loops_fail_on_every_device(grading_device, fn, what, capsys):
    _fails(check_gram_matrix, fn, capsys, f"Python loop over {what}")


def test_student_code_runs_in_full_float32_and_the_setting_is_restored(capsys):
    """TF32 (CUDA's default for convolutions; opt-in for matmuls) would put right answers outside the
    float32 tolerance on a GPU only: the checks switch it off around the student's call."""
    saved = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    seen = []

    def spy(F):
        seen.append((torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32))
        return gram_matrix(F)

    try:
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.allow_tf32 = True
        _passes(check_gram_matrix, spy, capsys)
        assert seen[:3] == [("highest", False)] * 3  # the three value cases
        assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32) == ("high", True)
    finally:
        torch.set_float32_matmul_precision(saved[0])
        torch.backends.cudnn.allow_tf32 = saved[1]


def test_the_grading_device_follows_nstlib_device(monkeypatch):
    """Inputs are made on the CPU from seeds and moved to $NSTLIB_DEVICE ('meta' stands in for an accelerator)."""
    monkeypatch.setenv("NSTLIB_DEVICE", "meta")
    assert grading.device() == torch.device("meta")
    t = grading._values._rand((2, 3), 0, torch.float64)
    assert t.device.type == "meta" and t.dtype == torch.float64
    monkeypatch.setenv("NSTLIB_DEVICE", "cpu")
    a, b = grading._values._rand((2, 3), 0), grading._values._rand((2, 3), 0)
    assert torch.equal(a, b) and a.device.type == "cpu"


def test_float64_cases_run_in_float32_on_mps_only():
    """MPS has no float64: the float64 cases fall back to float32 there, nowhere else."""
    assert grading._values._dtype(torch.float64, torch.device("mps")) == torch.float32
    assert grading._values._dtype(torch.float64, torch.device("cuda")) == torch.float64
    assert grading._values._dtype(torch.float64, torch.device("cpu")) == torch.float64
    assert grading._values._dtype(torch.float32, torch.device("mps")) == torch.float32
