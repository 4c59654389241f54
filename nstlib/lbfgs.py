"""L-BFGS that keeps its numbers on the device, with an optional box [lo, hi] on the variables.

The method is ``torch.optim.LBFGS``'s (same first step, same memory update, same line search), written
so that a GPU is not stopped to copy a number to the host:

- the two-loop recursion (Nocedal & Wright, *Numerical Optimization*, 2nd ed. 2006, Algorithm 7.4)
  with its 0-dim products alpha_i, beta_i, rho_i kept as tensors (``q.addcmul_(y_i, alpha_i)``,
  where torch's ``q.add_(y_i, alpha=-alpha_i)`` turns each into a Python number: two host
  synchronisations per history entry and step);
- the curvature test ``s^T y > 1e-10`` and the scale gamma = s^T y / y^T y of the initial inverse
  Hessian (N&W eq. 7.20) decided with ``torch.where`` (a rejected pair is stored with rho = 0,
  which makes it a no-op in the recursion);
- no convergence tests (they are host reads; the caller's evaluation budget stops the run);
- the strong-Wolfe line search (N&W Algorithms 3.5 and 3.6, with torch's cubic interpolation,
  ported from ``torch/optim/lswolfe.lua``) needs the loss and the slope g^T d on the host to decide
  where to evaluate next: these are read **once per evaluation**, through one :attr:`LBFGS.read`
  call, which a caller can extend with its own numbers (``nstlib.synthesis.run_loop`` adds its
  loss terms, so an evaluation costs one host transfer in all). The slope g^T d_k at the start of
  a line search is read with the first trial point's numbers, not on its own. One deliberate
  difference from torch's search: when two trial points have exactly the same float32 loss while the
  slope still points downhill, the step is far too short for the loss to judge it, so the search
  extrapolates tenfold instead of bracketing (torch zooms towards t = 0 and gives up; with the
  trained VGG-16 a 512 px transfer from the photo stayed at the photo for its whole budget). At
  most ``MAX_LS`` = 25 evaluations per search, as torch.

Bounds (``bounds=(lo, hi)``) follow the projected L-BFGS idea behind L-BFGS-B (Byrd, Lu, Nocedal &
Zhu, "A limited memory algorithm for bound constrained optimization", SIAM J. Sci. Comput. 16, 1995)
in its simplest form, two-metric projection (Bertsekas, "Projected Newton methods for optimization
problems with simple constraints", SIAM J. Control Optim. 20, 1982): variables at a bound whose
gradient pushes outwards are held fixed, the two-loop direction is computed for the others and
zeroed where it would leave the box, and every trial point is projected, x(t) = P(x + t d). The
line search runs on that projected path (its slope counts only the coordinates still inside); the
curvature pair is the step actually taken, s = x_{k+1} - x_k. Byrd et al.'s generalised Cauchy point
and subspace minimisation are not implemented: the result is the same KKT point, reached by a
simpler path (``tests/test_lbfgs.py`` compares with scipy's L-BFGS-B).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["LBFGS", "two_loop"]

#: Wolfe constants (N&W §3.1: c1 = 1e-4, c2 = 0.9 for quasi-Newton methods), as torch.optim.LBFGS.
C1, C2 = 1e-4, 0.9
#: s^T y at or below this: the pair is not stored (torch's rule).
CURVATURE_EPS = 1e-10
#: At most this many evaluations in one line search (torch.optim.LBFGS's ``max_ls``).
MAX_LS = 25

Reader = Callable[[Tensor], list[float]]


def two_loop(g: Tensor, y: list[Tensor], s: list[Tensor], rho: list[Tensor], gamma: Tensor) -> Tensor:
    """The L-BFGS direction d = -H g by the two-loop recursion (N&W Algorithm 7.4), no host reads.

    Args:
        g: (n,) the gradient.
        y, s: the stored pairs y_i = g_{i+1} - g_i and s_i = x_{i+1} - x_i, oldest first, (n,) each.
        rho: 0-dim tensors 1 / (y_i^T s_i) (0 for a pair that is to be ignored).
        gamma: 0-dim tensor, the initial inverse Hessian H_0 = gamma I.

    Returns:
        (n,) the direction -H g.
    """
    q = g.neg()  # (n,)  the recursion on -g gives -H g directly
    alpha: list[Tensor] = [q] * len(s)
    for i in range(len(s) - 1, -1, -1):  # newest to oldest
        alpha[i] = s[i].dot(q) * rho[i]  # 0-dim, stays on the device
        q.addcmul_(y[i], alpha[i], value=-1)  # q -= alpha_i y_i
    r = q * gamma  # (n,)
    for i in range(len(s)):  # oldest to newest
        beta = y[i].dot(r) * rho[i]  # 0-dim
        r.addcmul_(s[i], alpha[i] - beta)  # r += (alpha_i - beta_i) s_i
    return r


def _cubic_min(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float, lo: float, hi: float) -> float:
    """Minimiser in [lo, hi] of the cubic through (x1, f1, slope g1) and (x2, f2, slope g2) (N&W eq. 3.59)."""
    try:
        d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        d2_square = d1**2 - g1 * g2
        if d2_square < 0:
            return (lo + hi) / 2.0
        d2 = d2_square**0.5
        if x1 <= x2:
            t = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            t = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    except ZeroDivisionError:  # a bracket of width 0, or a flat cubic: bisect
        return (lo + hi) / 2.0
    return min(max(t, lo), hi)


class LBFGS:
    """L-BFGS with a ``torch.optim.LBFGS``-like ``step(closure)``; no host reads but :attr:`read`.

    Shaped like a ``torch.optim.Optimizer`` (``param_groups``, ``state``, ``zero_grad``, ``step``) but
    not derived from it: the base class imports ``torch._dynamo`` when the first optimiser of a
    process is built, which was the largest single cost before a notebook's first preview.

    Args:
        params: the tensors to optimise (one parameter group).
        lr: the step length tried first (1, as torch; the very first step is min(1, 1/|g|_1) * lr).
        max_iter: iterations per :meth:`step` call. max_eval: evaluations per call (default
            max_iter * 5 // 4, as torch).
        history_size: stored pairs (s, y).
        line_search_fn: None (fixed step ``lr``) or "strong_wolfe".
        bounds: None, or (lo, hi): keep every variable in [lo, hi] (projected L-BFGS, see the module).
        read: the one host read: called once after every evaluation of the closure with a 1-D tensor
            of the numbers this optimiser needs on the host (empty without a line search), returns
            their values. Default ``Tensor.tolist`` (not called for an empty tensor). A caller that
            reads numbers of its own appends them and returns this optimiser's share.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        history_size: int = 20,
        line_search_fn: str | None = None,
        bounds: tuple[float, float] | None = None,
        read: Reader | None = None,
    ) -> None:
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        if not lr > 0:
            raise ValueError(f"lr = {lr}: the step length must be > 0")
        if bounds is not None and not bounds[0] < bounds[1]:
            raise ValueError(f"bounds = {bounds}: give (lo, hi) with lo < hi, e.g. (0.0, 1.0)")
        if not (isinstance(history_size, int) and history_size >= 1):
            raise ValueError(
                f"history_size = {history_size!r}: keep at least 1 curvature pair (nstlib's default is 20)"
            )
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults: dict[str, Any] = dict(
            lr=lr,
            max_iter=max_iter,
            max_eval=max_eval,
            history_size=history_size,
            line_search_fn=line_search_fn,
            bounds=bounds,
        )
        self._params: list[Tensor] = list(params)
        if not self._params or not all(isinstance(p, Tensor) for p in self._params):
            raise ValueError("LBFGS takes a non-empty list of tensors (one parameter group)")
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = [dict(params=self._params, **defaults)]
        self.state: dict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.read = read

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the parameters' gradients (as ``torch.optim.Optimizer.zero_grad``)."""
        for p in self._params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    # ------------------------------------------------------------------ flat views of the parameters
    def _flat_grad(self) -> Tensor:
        return torch.cat([torch.zeros_like(p).view(-1) if p.grad is None else p.grad.reshape(-1) for p in self._params])

    def _flat_params(self) -> Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self._params])

    def _set_params(self, flat: Tensor) -> None:
        offset = 0
        for p in self._params:
            p.copy_(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()

    def _host(self, values: list[Tensor], like: Tensor) -> list[float]:
        """The one host read of an evaluation (see :attr:`read`)."""
        stacked = torch.stack([v.reshape(()).to(like.dtype) for v in values]) if values else like.new_empty(0)
        if self.read is not None:
            return self.read(stacked)
        return stacked.tolist() if values else []

    # ------------------------------------------------------------------ the box
    def _project(self, x: Tensor) -> Tensor:
        bounds = self.param_groups[0]["bounds"]
        return x if bounds is None else x.clamp_(*bounds)

    def _free_direction(self, x: Tensor, g: Tensor, direction: Callable[[Tensor], Tensor]) -> Tensor:
        """The descent direction with the box: held variables out of g and of d, d kept inside."""
        bounds = self.param_groups[0]["bounds"]
        if bounds is None:
            return direction(g)
        lo, hi = bounds
        at_lo, at_hi = x <= lo, x >= hi  # (n,) bool
        free = ~((at_lo & (g > 0)) | (at_hi & (g < 0)))  # gradient does not push these out of the box
        d = direction(g * free) * free
        return d * ~((at_lo & (d < 0)) | (at_hi & (d > 0)))  # no component that would leave the box

    def _slope(self, g: Tensor, x0: Tensor, t: float, d: Tensor) -> Tensor:
        """d/dt f(P(x0 + t d)) given g at that point: only coordinates strictly inside the box move."""
        bounds = self.param_groups[0]["bounds"]
        if bounds is None:
            return g.dot(d)
        z = torch.add(x0, d, alpha=t)
        return g.dot(d * ((z > bounds[0]) & (z < bounds[1])))

    # ------------------------------------------------------------------ one evaluation
    def _evaluate(self, closure: Callable[[], Tensor], x0: Tensor, t: float, d: Tensor) -> tuple[Tensor, Tensor]:
        """Set the parameters to P(x0 + t d), evaluate: (loss, flat gradient)."""
        self._set_params(self._project(torch.add(x0, d, alpha=t)))
        loss = closure()
        return loss, self._flat_grad()

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor]) -> Tensor:
        """Up to ``max_iter`` L-BFGS iterations; ``closure()`` zeroes the gradients, evaluates the
        loss, calls ``backward()`` and returns the loss. Returns the first evaluation's loss."""
        closure = torch.enable_grad()(closure)
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        wolfe = group["line_search_fn"] == "strong_wolfe"
        state = self.state[self._params[0]]
        state.setdefault("n_iter", 0)
        state.setdefault("func_evals", 0)

        orig_loss = closure()
        g = self._flat_grad()  # (n,)
        first = state["n_iter"] == 0
        f, t_first = 0.0, lr
        if wolfe:  # the line search needs f(x_k), and the very first step |g|_1
            values = self._host([orig_loss, g.abs().sum()] if first else [orig_loss], g)
            f = values[0]
            if first:
                t_first = min(1.0, 1.0 / values[1]) * lr
        else:
            self._host([], g)
        evals = 1
        state["func_evals"] += 1

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            x = self._flat_params()  # (n,) x_k
            if state["n_iter"] == 1:  # steepest descent; empty memory
                state.update(y=[], s=[], rho=[], gamma=g.new_ones(()))
                d = self._free_direction(x, g, torch.neg)
            else:
                self._remember(g, x)
                d = self._free_direction(
                    x, g, lambda v: two_loop(v, state["y"], state["s"], state["rho"], state["gamma"])
                )
            state["prev_g"], state["prev_x"] = g, x  # g is never changed in place

            if wolfe:
                t0 = t_first if state["n_iter"] == 1 else lr
                f, g, t, ls_evals, descent = self._strong_wolfe(closure, x, t0, d, f, g, min(MAX_LS, max_eval - evals))
                self._set_params(self._project(torch.add(x, d, alpha=t)))
                if not descent:  # not a descent direction (rounding): start the memory again
                    state["n_iter"] = 0
                state["t"] = t
            else:
                if state["n_iter"] == 1:
                    t_dev = torch.clamp(1.0 / g.abs().sum(), max=1.0) * lr  # 0-dim, on the device
                    self._set_params(self._project(x.addcmul(d, t_dev)))
                    state["t"] = t_dev
                else:
                    self._set_params(self._project(torch.add(x, d, alpha=lr)))
                    state["t"] = lr
                ls_evals = 0
                if n_iter != max_iter:  # torch's rule: no evaluation after the last iteration
                    closure()
                    g = self._flat_grad()
                    self._host([], g)
                    ls_evals = 1
            state["d"] = d
            evals += ls_evals
            state["func_evals"] += ls_evals
            if n_iter == max_iter or evals >= max_eval:
                break
        return orig_loss

    def _remember(self, g: Tensor, x: Tensor) -> None:
        """Store the pair (s, y) of the last step, with rho = 0 if s^T y <= eps (no host read)."""
        state = self.state[self._params[0]]
        y = g.sub(state["prev_g"])
        if self.param_groups[0]["bounds"] is None:
            s = state["d"].mul(state["t"])  # torch's s = t d
        else:
            s = x.sub(state["prev_x"])  # the step actually taken (projected)
        ys = y.dot(s)
        ok = ys > CURVATURE_EPS
        if len(state["s"]) == self.param_groups[0]["history_size"]:
            for key in ("y", "s", "rho"):
                state[key].pop(0)
        state["y"].append(y)
        state["s"].append(s)
        state["rho"].append(torch.where(ok, 1.0 / ys, torch.zeros_like(ys)))
        state["gamma"] = torch.where(ok, ys / y.dot(y), state["gamma"])  # N&W eq. 7.20

    # ------------------------------------------------------------------ line search
    def _strong_wolfe(
        self, closure: Callable[[], Tensor], x: Tensor, t: float, d: Tensor, f: float, g: Tensor, max_ls: int
    ) -> tuple[float, Tensor, float, int, bool]:
        """Strong-Wolfe line search (N&W Algorithms 3.5 and 3.6; torch.optim.LBFGS's ``_strong_wolfe``).

        Returns (f, g, t, evaluations, descent) at the accepted step; ``descent`` is False when d
        turned out not to be a descent direction (then t = 0, the point x itself).
        """
        gtd_dev = g.dot(d)  # read with the first trial point's numbers
        loss, g_new = self._evaluate(closure, x, t, d)
        f_new, gtd_new, gtd = self._host([loss, self._slope(g_new, x, t, d), gtd_dev], g)
        if not gtd < 0:
            return f, g, 0.0, 1, False
        evals, ls_iter = 1, 0
        t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
        done = False
        bracket: list[float] = []
        bracket_f: list[float] = []
        bracket_g: list[Tensor] = []
        bracket_gtd: list[float] = []

        def evaluate(t: float) -> tuple[float, Tensor, float]:
            loss, g_t = self._evaluate(closure, x, t, d)
            f_t, gtd_t = self._host([loss, self._slope(g_t, x, t, d)], g_t)
            return f_t, g_t, gtd_t

        while ls_iter < max_ls:  # Algorithm 3.5: bracket a step that satisfies the strong Wolfe conditions
            if f_new == f_prev and gtd_new < 0:  # float32 cannot tell the two points apart: the step is far
                t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new  # too short to judge (seen
                t = t * 10  # at 512 px from the photo, where 1 / |g|_1 moves the loss by a few ulps): extrapolate
                f_new, g_new, gtd_new = evaluate(t)
                evals += 1
                ls_iter += 1
                continue
            too_far = f_new > f + C1 * t * gtd or (ls_iter > 1 and f_new >= f_prev)  # sufficient decrease fails
            if not too_far and abs(gtd_new) <= -C2 * gtd:  # strong Wolfe conditions hold at t
                bracket, bracket_f, bracket_g, bracket_gtd = [t], [f_new], [g_new], [gtd_new]
                done = True
                break
            if too_far or gtd_new >= 0:  # a minimiser lies between t_prev and t
                bracket, bracket_f = [t_prev, t], [f_prev, f_new]
                bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
                break
            t_next = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, t + 0.01 * (t - t_prev), t * 10)
            t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
            t = t_next
            f_new, g_new, gtd_new = evaluate(t)
            evals += 1
            ls_iter += 1
        if ls_iter == max_ls:
            bracket, bracket_f, bracket_g, bracket_gtd = [0.0, t], [f, f_new], [g, g_new], [gtd, gtd_new]

        insufficient = False
        low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
        while not done and ls_iter < max_ls:  # Algorithm 3.6 (zoom): shrink the bracket
            t = _cubic_min(
                bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1],
                min(bracket), max(bracket),
            )  # fmt: skip
            eps = 0.1 * (max(bracket) - min(bracket))
            if min(max(bracket) - t, t - min(bracket)) < eps:  # too close to an end: move 10 % inside
                if insufficient or t >= max(bracket) or t <= min(bracket):
                    t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                    insufficient = False
                else:
                    insufficient = True
            else:
                insufficient = False
            f_new, g_new, gtd_new = evaluate(t)
            evals += 1
            ls_iter += 1
            if f_new > f + C1 * t * gtd or f_new >= bracket_f[low]:
                bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
                low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
            else:
                if abs(gtd_new) <= -C2 * gtd:
                    done = True
                elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                    bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                    bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
                bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new
        return bracket_f[low], bracket_g[low], bracket[low], evals, True
