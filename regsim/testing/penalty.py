"""Checks of penalties: shapes, gradient against finite differences, the prox against a
brute-force minimiser of its objective over a range of steps, non-expansiveness, a batch
equal to per-column calls, the theory's shape.
"""

from __future__ import annotations

import math

import numpy as np

from ..components import Component, Penalty, Quadratic
from .base import CheckSkipped, M, _Context, _close, _column, _shape, example_values


# --------------------------------------------------------------------------- penalty


def _penalty_inputs(d: int = 6, m: int = M, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Weights away from 0 (kinks of L1-like penalties) and prox inputs of every size."""
    rng = np.random.default_rng(seed)
    W = rng.choice([-1.0, 1.0], size=(d, m)) * rng.uniform(0.3, 1.5, size=(d, m))
    V = rng.standard_normal((d, m)) * 1.5
    return W, V


def check_penalty_shapes(cls, ctx: _Context) -> None:
    """value -> (m,), grad and prox -> (d, m), all finite."""
    pen = cls(**example_values(cls, ctx.params))
    W, V = _penalty_inputs()
    d, m = W.shape
    # Without path parameters a penalty is one setting that applies to every column.
    expected = m if any(p.path for p in cls.params.values()) else 1
    if pen.batch_size != expected:
        raise AssertionError(f"batch_size is {pen.batch_size} for {expected} path values")
    _shape("value(W)", pen.value(W), (m,))
    _shape("grad(W)", pen.grad(W), (d, m))
    _shape("prox(V, step)", pen.prox(V, 0.5), (d, m))


def check_penalty_grad_finite_differences(cls, ctx: _Context) -> None:
    """grad matches central differences of value at weights away from 0 (kinks)."""
    pen = cls(**example_values(cls, ctx.params))
    W, _ = _penalty_inputs()
    d, m = W.shape
    G = np.asarray(pen.grad(W), dtype=float)
    h = 1e-6
    num = np.empty((d, m))
    for i in range(d):  # columns are independent: one perturbed row serves every column
        E = np.zeros((d, m))
        E[i] = h
        num[i] = (np.asarray(pen.value(W + E)) - np.asarray(pen.value(W - E))) / (2 * h)
    scale = max(1.0, float(np.abs(num).max()))
    err = np.abs(G - num)
    if not (err <= 1e-5 * scale).all():
        i, j = np.unravel_index(np.argmax(err), err.shape)
        raise AssertionError(f"grad[{i}, {j}] = {G[i, j]:.6g} but the finite difference of value "
                             f"is {num[i, j]:.6g} (W[{i}, {j}] = {W[i, j]:.3g})")


def _prox_objective(pen: Penalty, P: np.ndarray, V: np.ndarray, step: float) -> np.ndarray:
    return np.asarray(pen.value(P), dtype=float) + np.sum((P - V) ** 2, axis=0) / (2 * step)


#: Steps at which prox is checked: log-spaced over four decades, large steps included
#: (closed-form thresholding rules of non-convex penalties often hold only for small steps).
PROX_STEPS = np.logspace(-2, 2, 9)


def _prox_inputs(d: int = 16, m: int = M, seed: int = 2) -> np.ndarray:
    """``V (d, m)`` whose entries' magnitudes span 1e-2 .. 3e2, random signs, every column different."""
    rng = np.random.default_rng(seed)
    mags = np.logspace(-2, 2.5, d)[:, None] * rng.uniform(0.7, 1.3, size=(d, m))
    return rng.choice([-1.0, 1.0], size=(d, m)) * mags


def _single_setting(cls, values: dict, j: int, n: int):
    """Column ``j``'s setting repeated over ``n`` columns (path parameters as ``(n,)`` arrays)."""
    one = _column(values, cls, j)
    return cls(**{k: (np.full(n, v) if cls.params[k].path and n > 1 else v) for k, v in one.items()})


def _separable(pen_one, pen_many, d: int, rng) -> bool:
    """Whether Ω(w) − Ω(0) = Σᵢ Ω(wᵢeᵢ) − Ω(0) on random points (then a grid per coordinate is exact)."""
    zero = float(np.ravel(pen_one.value(np.zeros((d, 1))))[0])
    for scale in (0.05, 1.0, 20.0):
        w = rng.standard_normal(d) * scale
        whole = float(np.ravel(pen_one.value(w[:, None]))[0])
        E = np.zeros((d, d))
        E[np.arange(d), np.arange(d)] = w
        parts = np.asarray(pen_many(d).value(E), dtype=float)
        if not math.isclose(whole - zero, float(np.sum(parts - zero)), rel_tol=1e-9,
                            abs_tol=1e-12 * max(1.0, abs(whole))):
            return False
    return True


def _grid_prox_minimum(pen_many, v: np.ndarray, step: float, zero: float,
                       points: int = 201, zooms: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Brute force, one coordinate at a time, for a separable Ω.

    Minimises ``φᵢ(t) = Ω(t eᵢ) − Ω(0) + (t − vᵢ)²/(2 step)`` over a grid of
    ``points`` values spanning ``[min(0, vᵢ) − 1 − |vᵢ|, max(0, vᵢ) + 1 + |vᵢ|]``,
    then ``zooms`` times over a finer grid of ±2 spacings around the best point
    (the spacing shrinks 50× per zoom). Returns the minimisers ``t (d,)`` and
    minima ``φᵢ(t) (d,)``; the column's minimum is ``Ω(0) + Σ φᵢ``.
    """
    d = v.size
    pen = pen_many(d * points)
    lo = np.minimum(0.0, v) - 1.0 - np.abs(v)
    hi = np.maximum(0.0, v) + 1.0 + np.abs(v)
    rows = np.repeat(np.arange(d), points)
    best_t = best_f = None
    for _ in range(zooms + 1):
        T = np.linspace(lo, hi, points, axis=1)  # (d, points)
        W = np.zeros((d, d * points))
        W[rows, np.arange(d * points)] = T.ravel()
        f = (np.asarray(pen.value(W), dtype=float).reshape(d, points) - zero
             + (T - v[:, None]) ** 2 / (2 * step))
        i = np.nanargmin(f, axis=1)
        t, ft = T[np.arange(d), i], f[np.arange(d), i]
        if best_f is None:
            best_t, best_f = t, ft
        else:
            better = ft < best_f
            best_t, best_f = np.where(better, t, best_t), np.where(better, ft, best_f)
        h = (hi - lo) / (points - 1)
        lo, hi = best_t - 2 * h, best_t + 2 * h
    return best_t, best_f


def _search_prox_minimum(pen_one, v: np.ndarray, step: float, starts: list) -> tuple[np.ndarray, float]:
    """Derivative-free local searches (scipy's Powell) from several starts, for a non-separable Ω."""
    from scipy.optimize import minimize

    def objective(w):
        return float(np.ravel(pen_one.value(w[:, None]))[0]) + float(np.sum((w - v) ** 2)) / (2 * step)

    best_w, best_f = None, np.inf
    for w0 in starts:
        res = minimize(objective, np.asarray(w0, float), method="Powell",
                       options={"xtol": 1e-10, "ftol": 1e-13, "maxfev": 20000})
        f = objective(res.x)
        if f < best_f:
            best_w, best_f = res.x, f
    return best_w, best_f


def check_penalty_prox_optimality(cls, ctx: _Context) -> None:
    """prox(V, s) attains the minimum of Ω(W) + ||W − V||²/(2s), for s from 0.01 to 100.

    The oracle is a brute-force minimiser independent of the penalty's own
    prox: for a separable Ω (checked numerically) a grid per coordinate,
    refined six times around its best point; otherwise Powell searches from
    ``prox(V)``, ``V``, 0 and a random point. The prox fails when the oracle
    finds an objective lower by more than ``1e-8 · max(1, |objective|)``.
    """
    values = example_values(cls, ctx.params)
    pen = cls(**values)
    V_all = _prox_inputs()
    rng = np.random.default_rng(5)
    m = V_all.shape[1]
    for j in range(m):
        pen_one = _single_setting(cls, values, j, 1)
        cache: dict[int, Component] = {}

        def pen_many(n, j=j, cache=cache):
            if n not in cache:
                cache[n] = _single_setting(cls, values, j, n)
            return cache[n]

        d_full = V_all.shape[0]
        separable = _separable(pen_one, pen_many, d_full, rng)
        V = V_all if separable else V_all[::4]  # a local search costs more per dimension
        d = V.shape[0]
        zero = float(np.ravel(pen_one.value(np.zeros((d, 1))))[0])
        for step in PROX_STEPS:
            P = np.asarray(pen.prox(V, step), dtype=float)
            P = _shape(f"prox(V, step={step:g})", P, (d, m))[:, j]
            got = float(_prox_objective(pen_one, P[:, None], V[:, [j]], step)[0])
            if separable:
                t, phi = _grid_prox_minimum(pen_many, V[:, j], step, zero)
                best = zero + float(phi.sum())
            else:
                t, best = _search_prox_minimum(pen_one, V[:, j], step,
                                               [P, V[:, j], np.zeros(d), rng.standard_normal(d)])
            tol = 1e-8 * max(1.0, abs(best))
            if got > best + tol:
                i = int(np.argmax(np.abs(P - t)))
                how = "a grid per coordinate" if separable else "a local search"
                raise AssertionError(
                    f"prox(V, step={step:g}) is not the minimiser of Ω(W) + ||W - V||²/(2 step): "
                    f"column {j} reaches {got:.10g} but {how} finds {best:.10g} "
                    f"(coordinate {i}: V = {V[i, j]:.6g}, prox gives {P[i]:.6g}, minimiser "
                    f"{t[i]:.6g}; steps checked: {', '.join(f'{s:g}' for s in PROX_STEPS)})")


def check_penalty_prox_nonexpansive(cls, ctx: _Context) -> None:
    """‖prox(U) − prox(V)‖ ≤ ‖U − V‖ column by column, for steps from 0.01 to 100."""
    pen = cls(**example_values(cls, ctx.params))
    rng = np.random.default_rng(3)
    d, m = 6, pen.batch_size
    for step in PROX_STEPS:
        for scale in (50.0, 2.0, 2.0, 0.3, 0.03, 0.003):  # small scales probe the kinks near 0
            U, V = rng.standard_normal((d, m)) * scale, rng.standard_normal((d, m)) * scale
            lhs = np.linalg.norm(np.asarray(pen.prox(U, step)) - np.asarray(pen.prox(V, step)), axis=0)
            rhs = np.linalg.norm(U - V, axis=0)
            if (lhs > rhs * (1 + 1e-10) + 1e-12).any():
                j = int(np.argmax(lhs - rhs))
                raise AssertionError(f"prox is expansive: ||prox(U) - prox(V)|| = {lhs[j]:.6g} > "
                                     f"||U - V|| = {rhs[j]:.6g} (column {j}, step {step:g})")


def _diagonal_quadratic(d: int = 6, seed: int = 4) -> Quadratic:
    rng = np.random.default_rng(seed)
    H = np.diag(rng.uniform(0.2, 2.0, d))
    return Quadratic(H, rng.standard_normal(d))


def check_penalty_batched_equals_per_column(cls, ctx: _Context) -> None:
    """A (d, m) batch gives the same value, grad, prox and theory as m single-α instances."""
    values = example_values(cls, ctx.params)
    pen = cls(**values)
    W, V = _penalty_inputs()
    q = _diagonal_quadratic()
    batched = {"value": pen.value(W), "grad": pen.grad(W), "prox": pen.prox(V, 0.7)}
    if _overrides(cls, "theory"):
        th = pen.theory(q)
        if th is not None:
            batched["theory"] = np.broadcast_to(th, (W.shape[0], W.shape[1]))
    for j in range(W.shape[1]):
        single = cls(**_column(values, cls, j))
        value = np.ravel(single.value(W[:, [j]]))
        if value.shape != (1,):
            raise AssertionError(f"value of one column has shape {value.shape}, expected (1,)")
        got = {"value": value[0], "grad": single.grad(W[:, [j]])[:, 0],
               "prox": single.prox(V[:, [j]], 0.7)[:, 0]}
        if "theory" in batched:
            got["theory"] = np.broadcast_to(single.theory(q), (W.shape[0], 1))[:, 0]
        for key, want in got.items():
            column = np.asarray(batched[key])[..., j]
            _close(f"{key}: column {j} of the batch vs the single-α call ({_column(values, cls, j)})",
                   column, want, rtol=1e-10, atol=1e-12)


def _overrides(cls: type, method: str) -> bool:
    return getattr(cls, method) is not getattr(Penalty, method)


def check_penalty_theory_shape(cls, ctx: _Context) -> None:
    """theory(quadratic) is None or a finite (d, m) array (or broadcastable (d, 1))."""
    if not _overrides(cls, "theory"):
        raise CheckSkipped("no theory()")
    pen = cls(**example_values(cls, ctx.params))
    q = _diagonal_quadratic()
    th = pen.theory(q)
    if th is None:
        return
    th = np.asarray(th, dtype=float)
    d, m = q.H.shape[0], pen.batch_size
    if th.shape not in ((d, m), (d, 1)):
        raise AssertionError(f"theory: shape {th.shape}, expected ({d}, {m})")
    if not np.isfinite(th).all():
        raise AssertionError("theory: non-finite values for a positive-definite diagonal H")
