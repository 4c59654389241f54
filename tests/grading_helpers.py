"""Shared by the grading tests: a fresh result registry per test, and PASS / FAIL assertions on a check's output."""

from __future__ import annotations

import pytest

from nstlib import grading


@pytest.fixture(autouse=True)
def fresh_registry():
    """Every test starts and ends with an empty grading registry (import it into a test module to use it)."""
    grading.reset()
    yield
    grading.reset()


def passes(check, fn, capsys) -> str:
    """Run ``check(fn)``; assert it printed PASS; return the output."""
    check(fn)
    out = capsys.readouterr().out
    assert out.startswith("PASS"), out
    return out


def fails(check, fn, capsys, *parts) -> str:
    """Run ``check(fn)``; assert it raised, printed FAIL with every one of ``parts``; return the output."""
    with pytest.raises(AssertionError):
        check(fn)
    out = capsys.readouterr().out
    assert out.startswith("FAIL"), out
    for part in parts:
        assert part in out, f"{part!r} not in:\n{out}"
    return out
