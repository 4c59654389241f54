"""nstlib.lbfgs: the same iterates as torch.optim.LBFGS, the box solution of scipy's L-BFGS-B, and
one host read per evaluation of run_loop (counted with torch.profiler)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from nstlib import VGG19Features, content_targets, make_objective, style_targets
from nstlib.lbfgs import LBFGS, two_loop

from .helpers import one_thread, smooth_image  # noqa: F401 (one_thread: an autouse fixture)


def quadratic(n: int, seed: int, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A (n, n) symmetric positive definite A and a (n,) b, float64: f(x) = 1/2 x^T A x - b^T x."""
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(n, n, dtype=torch.float64, generator=g)
    return M @ M.T / n + 0.1 * torch.eye(n, dtype=torch.float64), scale * torch.randn(
        n, dtype=torch.float64, generator=g
    )


def iterates(make_opt, fn, x0: torch.Tensor, calls: int) -> list[torch.Tensor]:
    """Every point ``fn`` is evaluated at, over ``calls`` calls of ``step``."""
    x = x0.clone().requires_grad_(True)
    opt = make_opt([x])
    seen: list[torch.Tensor] = []

    def closure():
        opt.zero_grad()
        loss = fn(x)
        loss.backward()
        seen.append(x.detach().clone())
        return loss

    for _ in range(calls):
        opt.step(closure)
    return seen


def torch_lbfgs(**kw):  # torch's with its convergence tests off, as nstlib's loop has always run it
    return lambda params: torch.optim.LBFGS(params, tolerance_grad=-1.0, tolerance_change=-1.0, **kw)


def ours(**kw):
    return lambda params: LBFGS(params, **kw)


def test_two_loop_is_the_bfgs_inverse_hessian_update():
    """-H g by the recursion H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T from H_0 = gamma I (N&W eq. 7.19),
    written out with matrices, against the two-loop recursion; a pair with rho = 0 is skipped."""
    n, g = 7, torch.Generator().manual_seed(3)
    A, _ = quadratic(n, seed=4)
    s = [torch.randn(n, dtype=torch.float64, generator=g) for _ in range(4)]
    y = [A @ si for si in s]  # curvature pairs of a convex quadratic: y^T s > 0
    rho = [1.0 / yi.dot(si) for yi, si in zip(y, s)]
    gamma = s[-1].dot(y[-1]) / y[-1].dot(y[-1])
    grad = torch.randn(n, dtype=torch.float64, generator=g)
    H = gamma * torch.eye(n, dtype=torch.float64)
    eye = torch.eye(n, dtype=torch.float64)
    for si, yi, r in zip(s, y, rho):
        H = (eye - r * torch.outer(si, yi)) @ H @ (eye - r * torch.outer(yi, si)) + r * torch.outer(si, si)
    torch.testing.assert_close(two_loop(grad, y, s, rho, gamma), -H @ grad, rtol=1e-10, atol=1e-12)
    junk = torch.randn(n, dtype=torch.float64, generator=g)
    with_junk = two_loop(grad, [junk, *y], [junk, *s], [torch.zeros((), dtype=torch.float64), *rho], gamma)
    torch.testing.assert_close(with_junk, -H @ grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_same_iterates_as_torch_on_a_quadratic(line_search):
    """40 variables, 3 calls of 8 iterations each (stopped before machine precision, where the two may
    take a pair s^T y < 1e-10 differently), history 5 (so pairs are dropped)."""
    A, b = quadratic(40, seed=0)

    def f(x):
        return 0.5 * x @ A @ x - b @ x

    kw = dict(lr=1.0 if line_search else 0.3, max_iter=8, history_size=5, line_search_fn=line_search)
    theirs = iterates(torch_lbfgs(**kw), f, torch.zeros(40, dtype=torch.float64), calls=3)
    mine = iterates(ours(**kw), f, torch.zeros(40, dtype=torch.float64), calls=3)
    assert len(mine) == len(theirs) >= 24  # the same evaluations; step() calls continue the memory
    for a, b_ in zip(theirs, mine):
        torch.testing.assert_close(b_, a, rtol=1e-9, atol=1e-9)
    x_star = torch.linalg.solve(A, b)
    assert (mine[-1] - x_star).abs().max() < 0.01 * x_star.abs().max()  # and it converges


@pytest.fixture(scope="module")
def small_objective():
    """nstlib's style-transfer objective (content conv2_2, style conv1_1 + conv2_1, beta 1e3) on 24 x 32
    pixels, random VGG-19 weights without Gatys' normalisation (no calibration needed), and a start:
    mid-grey with +-5 % seeded noise."""
    enc = VGG19Features(weights="random", precision="fp32", device="cpu", normalize=False)
    content, style = smooth_image(24, 32, seed=1), smooth_image(24, 32, seed=2)
    objective = make_objective(
        enc,
        content_targets=content_targets(enc, content, ["conv2_2"]),
        style_targets=style_targets(enc, style, ["conv1_1", "conv2_1"]),
        content_layers={"conv2_2": 1.0},
        style_layers={"conv1_1": 0.5, "conv2_1": 0.5},
        content_weight=1.0,
        style_weight=1e3,
        size=(24, 32),
    )
    start = 0.5 + 0.1 * (torch.rand(1, 3, 24, 32, generator=torch.Generator().manual_seed(0)) - 0.5)
    return objective, start


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
def test_same_iterates_as_torch_on_a_real_objective(small_objective, line_search):
    objective, start = small_objective

    def f(x):
        return objective(x)[0]

    kw = dict(max_iter=25, max_eval=25, history_size=20, line_search_fn=line_search)
    theirs = iterates(torch_lbfgs(**kw), f, start, calls=1)
    mine = iterates(ours(**kw), f, start, calls=1)
    assert len(mine) == len(theirs) == 25
    moved = (theirs[-1] - theirs[0]).abs().max()
    assert moved > 0.3  # the run went somewhere (measured: 0.58 / 0.63)
    assert f(theirs[-1]) < 0.1 * f(theirs[0])
    for a, b_ in zip(theirs, mine):  # float32 rounding differs (fused multiply-adds), nothing else
        assert (b_ - a).abs().max() < 1e-3 * moved


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
@pytest.mark.parametrize("seed", [0, 1])
def test_box_solution_matches_scipy_lbfgsb(line_search, seed):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    n = 16
    A, b = quadratic(n, seed=seed, scale=0.6)
    An, bn = A.numpy(), b.numpy()
    ref = scipy_optimize.minimize(
        lambda x: (0.5 * x @ An @ x - bn @ x, An @ x - bn),
        np.full(n, 0.5),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * n,
        options=dict(ftol=0.0, gtol=1e-12, maxiter=10_000),
    )
    at_bounds = int(((ref.x <= 1e-9) | (ref.x >= 1 - 1e-9)).sum())
    assert 2 <= at_bounds <= n - 2  # the box matters, and not everywhere
    unbounded = torch.linalg.solve(A, b)
    assert ((unbounded < 0) | (unbounded > 1)).any()

    x = torch.full((n,), 0.5, dtype=torch.float64, requires_grad=True)
    opt = LBFGS(
        [x], lr=1.0 if line_search else 0.5, max_iter=300, max_eval=300, line_search_fn=line_search, bounds=(0, 1)
    )
    seen = []

    def closure():
        opt.zero_grad()
        loss = 0.5 * x @ A @ x - b @ x
        loss.backward()
        seen.append(x.detach().clone())
        return loss

    opt.step(closure)
    assert all(0.0 <= p.min() and p.max() <= 1.0 for p in seen)  # every evaluation inside the box
    np.testing.assert_allclose(x.detach().numpy(), ref.x, atol=1e-6)


def test_line_search_gets_going_when_float32_cannot_see_the_first_step():
    """f(x) = 1e10 + 1e-3 sum (x - 100)^2 in float32 from x = 0 (n = 1000): L-BFGS's first step 1 / |g|_1
    lowers f by 0.2, far below an ulp of 1e10 (1024), so the first trial's loss equals f exactly (what a
    512 px transfer from the photo met with the trained VGG-16: the loss frozen for 300 evaluations). The
    line search must extrapolate instead of zooming towards t = 0; torch.optim.LBFGS gives up at the start."""
    n, evals = 1000, 30

    def run(make):
        x = torch.zeros(n, requires_grad=True)
        opt = make([x])
        seen: list[float] = []

        def closure():
            x.grad = None
            loss = 1e10 + 1e-3 * (x - 100).pow(2).sum()  # float32
            loss.backward()
            seen.append(loss.item())
            return loss

        opt.step(closure)
        return seen, x.detach()

    excess = 1e-3 * n * 100.0**2  # f(0) - 1e10, worked by hand
    assert 1e-3 * n * (100 - 200e-3 / (200e-3 * n)) ** 2 > excess - 512  # first trial within half an ulp
    kw = dict(max_iter=evals, max_eval=evals, line_search_fn="strong_wolfe")
    torch_seen, _ = run(lambda p: torch.optim.LBFGS(p, **kw))
    ours_seen, x = run(lambda p: LBFGS(p, **kw))
    assert min(torch_seen) == torch_seen[0]  # torch never gets off the start
    assert min(ours_seen) <= 1e10 + 0.1 * excess  # ours removes >= 90 % of the excess
    assert (x - 100).abs().max() < 35


def test_bad_arguments():
    x = torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match="line_search_fn must be None or 'strong_wolfe'"):
        LBFGS([x], line_search_fn="armijo")
    with pytest.raises(ValueError, match=r"bounds = \(1, 0\): give \(lo, hi\) with lo < hi"):
        LBFGS([x], bounds=(1, 0))
    with pytest.raises(ValueError, match="history_size = 0: keep at least 1 curvature pair"):
        LBFGS([x], history_size=0)


def host_reads(run) -> tuple[int, int]:
    """(aten::_local_scalar_dense ops in the profile, Tensor.tolist calls) while ``run()`` runs.

    ``.item()``, ``float(t)``, ``bool(t)`` and ``if t > 0`` are ``_local_scalar_dense``; ``tolist`` (the
    loop's one read) does not go through it on a CPU, so it is counted by hand."""
    calls = [0]
    tolist = torch.Tensor.tolist

    def counting(self, *args, **kwargs):
        calls[0] += 1
        return tolist(self, *args, **kwargs)

    torch.Tensor.tolist = counting  # type: ignore[method-assign]
    try:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            run()
    finally:
        torch.Tensor.tolist = tolist  # type: ignore[method-assign]
    dense = sum(e.count for e in prof.key_averages() if e.key == "aten::_local_scalar_dense")
    return dense, calls[0]


@pytest.mark.parametrize("line_search", [None, "strong_wolfe"])
@pytest.mark.parametrize("box", ["project", "clamp"])
def test_run_loop_reads_the_host_once_per_evaluation(small_objective, line_search, box):
    """Steady state (evaluations 31-60, the memory full at 20 pairs): <= 1 host read per evaluation in
    all, objective + loop + L-BFGS (torch.optim.LBFGS made ~45 at history 20, review 2026-12-06 §4.1)."""
    from nstlib.synthesis import run_loop

    objective, start = small_objective
    counts, restarts = {}, {}
    for n in (30, 60):
        res = {}

        def run(n=n, res=res):
            res["r"] = run_loop(objective, start, steps=n, line_search=line_search, box=box)

        counts[n] = host_reads(run)
        restarts[n] = res["r"].info["restarts"]
        assert len(res["r"].history) == n
    dense = (counts[60][0] - counts[30][0]) / 30
    reads = (counts[60][1] - counts[30][1]) / 30
    assert dense + reads <= 1.0, f"{dense:.2f} _local_scalar_dense + {reads:.2f} tolist per evaluation"


@pytest.mark.parametrize("history", [2, 20])
def test_run_loop_keeps_the_history_it_is_given(history):
    """run_loop(history_size=m) evaluates the points torch.optim.LBFGS(history_size=m) does, on an
    ill-conditioned quadratic (eigenvalues 0.01 ... 1) over a (1, 3, 4, 4) image, unbounded (box "end").
    History 2 and 20 visit points up to 0.04 apart, so a loop that ignored the argument fails."""
    from nstlib.synthesis import run_loop

    g = torch.Generator().manual_seed(5)
    Q, _ = torch.linalg.qr(torch.randn(48, 48, dtype=torch.float64, generator=g))
    A = (Q @ torch.diag(torch.logspace(-2, 0, 48, dtype=torch.float64)) @ Q.T).float()
    b = A @ (0.4 + 0.2 * torch.rand(48, generator=g))  # the minimum x* = A^-1 b inside the box

    def f(x):
        v = x.reshape(-1)
        return 0.5 * v @ A @ v - b @ v

    start = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    seen: list[torch.Tensor] = []
    run_loop(
        lambda x: (f(x), {}), start, steps=30, history_size=history, box="end",
        callback=lambda step, image, terms: seen.append(image.detach().clone()),
    )  # fmt: skip
    kw = dict(max_iter=30, max_eval=30)
    theirs = iterates(torch_lbfgs(history_size=history, **kw), f, start, calls=1)
    other = iterates(torch_lbfgs(history_size=22 - history, **kw), f, start, calls=1)
    assert len(seen) == len(theirs) == 30
    assert max(float((a - c).abs().max()) for a, c in zip(theirs, other)) > 0.01
    for a, mine in zip(theirs, seen):
        torch.testing.assert_close(mine, a, rtol=1e-5, atol=1e-5)
