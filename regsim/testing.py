"""Conformance checks for plugin authors (scikit-learn's ``check_estimator``, ``benchopt test``).

Call one entry per component kind from your own tests::

    from regsim.testing import check_component
    from my_plugin import ElasticNet

    def test_conformance():
        check_component(ElasticNet)          # raises AssertionError listing every failure

or run each check as its own pytest test::

    from regsim.testing import parametrize_checks

    @parametrize_checks([ElasticNet])
    def test_kit(component, check):
        check(component)

Every check builds its inputs from the component's declared ``params``: the
defaults, or ``example_params`` (a class attribute, a dict of valid values)
for parameters without a default, or ``params=`` passed to the check.
Path parameters get ``m = 3`` distinct valid values, so a batched result can
be compared with ``m`` single-value calls. Learners, ensemblers, inference
strategies and metrics need collaborators: the kit brings its own small
reference components (a ridge learner, L1 and L2 penalties, a known member
ensemble) and otherwise looks in the installed plugins (``registry=`` to
use another registry). A component exempts checks with reasons in a class
attribute ``kit_skip = {"check_name": "why"}``, honoured by every route.

What is checked
---------------
all kinds
    the schema rejects bad values with a :class:`~regsim.SpecError` naming the
    key; instances pickle (process and Dask runners rebuild them).
penalty
    shapes; ``grad`` matches central finite differences of ``value`` (away
    from kinks); ``prox`` attains the minimum of ``Ω(W) + ||W - V||²/(2 step)``
    found by a brute-force minimiser, for steps 0.01 .. 100 (:data:`PROX_STEPS`),
    and is non-expansive; a ``(d, m)`` batch equals ``m`` single-α calls, for
    ``value``, ``grad``, ``prox`` and ``theory``; ``theory`` has shape ``(d, m)``.
problem
    the same seed gives the same data; shapes and ``task`` are consistent.
learner
    a fit has ``m`` columns, predictions ``(n, m)`` or ``(n, m, C)``, declared
    extra columns; the batch equals per-column fits; the same seed, the same fit.
ensembler
    an ensemble of the declared kind with ``m`` columns; ensembles that list
    members implement the member protocol with consistent shapes;
    deterministic under a seed; ``take(index)``, where implemented, gives
    those columns and their predictions under every accepting strategy.
inference
    on a real ensemble from an installed ensembler and, for strategies that
    accept ``"bagging"``, on the kit's :func:`known_ensemble`: predictions of
    shape ``(n, m)`` or ``(n, m, C)``, probabilities non-negative and summing to
    one, deterministic; members outside ``member_mask()`` change nothing;
    identical members give their own prediction; regression predictions lie
    within the members' range.
metric
    declared column types; outputs only declared columns, each of length ``m``.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from .components import (
    COLUMN_TYPES,
    Component,
    Dataset,
    Ensemble,
    Evaluation,
    Fit,
    Learner,
    LinearFit,
    Penalty,
    Plot,
    Quadratic,
)
from .params import REQUIRED, Param, SpecError

__all__ = [
    "CheckResult",
    "check_component",
    "check_penalty",
    "check_problem",
    "check_learner",
    "check_ensembler",
    "check_inference",
    "check_metric",
    "check_plot",
    "component_checks",
    "run_checks",
    "parametrize_checks",
    "example_values",
    "known_ensemble",
    "KnownEnsemble",
    "MEMBER_KIND",
    "kit_skip_reason",
    "installed_registry",
    "PROX_STEPS",
]

#: Columns per path parameter in batched checks.
M = 3


class CheckSkipped(Exception):
    """A check that cannot run here (no collaborator available); not a failure."""


@dataclass
class CheckResult:
    """The outcome of one check: ``status`` is ``"passed"``, ``"failed"`` or ``"skipped"``."""

    check: str
    status: str
    message: str = ""


@dataclass
class _Context:
    params: dict | None
    registry: Any
    penalty: Penalty | None = None
    learner: Learner | None = None


# --------------------------------------------------------------------------- example values


def _kind(cls: type) -> str:
    if isinstance(cls, type) and issubclass(cls, Plot):
        return "plot"
    kind = getattr(cls, "kind", "")
    if not (isinstance(cls, type) and issubclass(cls, Component) and kind):
        raise TypeError(f"{cls!r} is not a regsim component class (Problem, Learner, Penalty, "
                        f"Ensembler, InferenceStrategy, Metric or Plot subclass)")
    return kind


def _spread(param: Param, base: float, m: int) -> list:
    """``m`` distinct valid values near ``base`` (for path parameters)."""
    if param.choices is not None:
        return [param.choices[i % len(param.choices)] for i in range(m)]
    if param.type not in (float, int):
        return [base] * m
    for factors in ((1.0, 0.5, 0.25, 2.0), (1.0, 2.0, 4.0, 8.0), (1.0, 0.9, 0.8, 0.7)):
        values = [param.type(base * f) if param.type is int else base * f for f in factors]
        if base == 0:
            values = [base + 0.1 * i for i in range(len(factors))]
        values = list(dict.fromkeys(values))[:m]
        try:
            values = [param.check("x", v) for v in values]
        except SpecError:
            continue
        if len(values) == m:
            return values
    return [base] * m


def example_values(cls: type, params: dict | None = None, m: int = M) -> dict:
    """Valid constructor values for ``cls``: path parameters as ``(m,)`` arrays.

    Starts from ``params`` (given by the caller), then the class's
    ``example_params``, then each parameter's default. A required parameter
    without an example raises :class:`CheckSkipped`.
    """
    given = {**getattr(cls, "example_params", {}), **(params or {})}
    out = {}
    for key, param in cls.params.items():
        if key in given:
            value = given[key]
        elif param.default is REQUIRED:
            raise CheckSkipped(f"parameter {key!r} has no default; give example_params "
                               f"(class attribute) or params= to the check")
        else:
            value = param.default
        if param.path and not isinstance(value, np.ndarray):
            base = value if value is not None else 1.0
            value = np.array(_spread(param, base, m) if m > 1 else [base])
        out[key] = value
    return out


def _column(values: dict, cls: type, j: int) -> dict:
    """The single-cell values for column ``j`` (path parameters as scalars)."""
    return {k: (v[j].item() if cls.params[k].path and isinstance(v, np.ndarray) else v)
            for k, v in values.items()}


# --------------------------------------------------------------------------- kit data and references


def _regression_data(n: int = 40, d: int = 5, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.linspace(1.0, 0.3, d)
    w = rng.standard_normal(d)
    y = X @ w + 0.3 * rng.standard_normal(n) + 1.0
    Xt = rng.standard_normal((20, d)) * np.linspace(1.0, 0.3, d)
    return Dataset(X, y, Xt, Xt @ w + 1.0, w_true=w)


def _classification_data(n: int = 60, d: int = 4, C: int = 3, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((d, C))
    X, Xt = rng.standard_normal((n, d)), rng.standard_normal((20, d))
    y = (X @ W).argmax(axis=1)
    y[:C] = np.arange(C)  # every class present
    return Dataset(X, y, Xt, (Xt @ W).argmax(axis=1), w_true=W, task="classification",
                   n_classes=C)


# The kit's own reference penalties repeat the built-in l2/l1 on purpose: the kit
# checks the built-ins too, and must keep working when REGSIM_LOAD_PLUGINS or a
# broken install leaves them out.
class KitL2(Penalty):
    """Reference L2 penalty (α/2)‖w‖² used as a collaborator by the kit."""

    name = "kit_l2"
    params = {"alpha": Param(float, default=1.0, ge=0, path=True)}

    @property
    def l2_strength(self):
        return np.asarray(self.alpha, dtype=float)

    def value(self, W):
        return 0.5 * self.alpha * np.sum(W * W, axis=0)

    def grad(self, W):
        return W * self.alpha

    def prox(self, V, step):
        return V / (1.0 + step * self.alpha)


class KitL1(Penalty):
    """Reference L1 penalty α‖w‖₁ used as a collaborator by the kit."""

    name = "kit_l1"
    params = {"alpha": Param(float, default=1.0, ge=0, path=True)}

    @property
    def l1_strength(self):
        return np.asarray(self.alpha, dtype=float)

    def value(self, W):
        return self.alpha * np.sum(np.abs(W), axis=0)

    def grad(self, W):
        return np.sign(W) * self.alpha

    def prox(self, V, step):
        return np.sign(V) * np.maximum(np.abs(V) - step * np.asarray(self.alpha), 0.0)


class KitRidge(Learner):
    """Reference closed-form ridge learner (penalties with ``l2_strength``)."""

    name = "kit_ridge"
    params = {}

    @classmethod
    def accepts(cls, penalty):
        return None if hasattr(penalty, "l2_strength") else "needs l2_strength"

    def quadratic(self, data):
        return data.centred.quadratic

    def fit(self, data, penalty, rng):
        q = self.quadratic(data)
        s = np.broadcast_to(np.asarray(penalty.l2_strength, float), (penalty.batch_size,))
        W = np.stack([np.linalg.solve(q.H + si * np.eye(q.H.shape[0]), q.c) for si in s], axis=1)
        return LinearFit(m=W.shape[1], W=W, intercept=data.centred.intercept(W))


_KIT_ALPHAS = np.array([0.01, 0.1, 0.5])


def _penalty_for(learner_cls: type, ctx: _Context) -> Penalty:
    """A penalty batch the learner accepts: the caller's, the kit's, then the registry's."""
    if ctx.penalty is not None:
        return ctx.penalty
    candidates: list[type] = [KitL2, KitL1]
    if ctx.registry is not None:
        candidates += [ctx.registry.get("penalty", n) for n in ctx.registry.names("penalty")]
    reasons = []
    for pen in candidates:
        why = learner_cls.accepts(pen)
        if why is None:
            try:
                return pen(**example_values(pen, {"alpha": _KIT_ALPHAS}
                                            if "alpha" in pen.params else None))
            except (CheckSkipped, SpecError) as exc:
                reasons.append(f"{pen.name}: {exc}")
                continue
        reasons.append(f"{pen.name}: {why}")
    raise CheckSkipped("no penalty this learner accepts; pass penalty= ("
                       + "; ".join(reasons[:3]) + ")")


def _data_for(tasks: Iterable[str]) -> Dataset:
    tasks = tuple(tasks)
    if "regression" in tasks:
        return _regression_data()
    if "classification" in tasks:
        return _classification_data()
    raise CheckSkipped(f"the kit has data for regression and classification, not {tasks}")


def _learner_for(task: str, penalty: Penalty, ctx: _Context, ensembler=None) -> Learner:
    """A learner for ``task`` that fits ``penalty`` (and that ``ensembler`` can build on)."""
    def usable(cls) -> bool:
        return (cls.accepts(type(penalty)) is None
                and (ensembler is None or ensembler.accepts_learner(cls) is None))

    if ctx.learner is not None:
        return ctx.learner
    if task == "regression" and usable(KitRidge):
        return KitRidge()
    if ctx.registry is not None:
        for name in ctx.registry.names("learner"):
            cls = ctx.registry.get("learner", name)
            if task in cls.tasks and usable(cls):
                try:
                    return cls(**example_values(cls))
                except (CheckSkipped, SpecError):
                    continue
    raise CheckSkipped(f"no learner for {task} with penalty {penalty.name!r}; pass learner=")


# --------------------------------------------------------------------------- comparisons


def _close(name: str, got, want, rtol: float = 1e-7, atol: float = 1e-9) -> None:
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        raise AssertionError(f"{name}: shape {got.shape}, expected {want.shape}")
    if not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        err = np.nanmax(np.abs(got - want))
        raise AssertionError(f"{name}: differs by up to {err:.3g} (rtol {rtol:g}, atol {atol:g})")


def _shape(name: str, arr, shape: tuple) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.shape != shape:
        raise AssertionError(f"{name}: shape {arr.shape}, expected {shape}")
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        raise AssertionError(f"{name}: non-finite values")
    return arr


def _same_arrays(a: Any, b: Any, where: str = "") -> None:
    """Recursive exact comparison of fit/ensemble contents (arrays, lists, dicts, scalars)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or (a.dtype.kind in "fciub" and not np.array_equal(a, b, equal_nan=True)) \
                or (a.dtype.kind not in "fciub" and not (a == b).all()):
            raise AssertionError(f"differs in {where or 'value'}")
    elif isinstance(a, dict) and isinstance(b, dict):
        for k in set(a) | set(b):
            _same_arrays(a.get(k), b.get(k), f"{where}.{k}" if where else str(k))
    elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            raise AssertionError(f"differs in length of {where}")
        for i, (x, y) in enumerate(zip(a, b)):
            _same_arrays(x, y, f"{where}[{i}]")
    elif hasattr(a, "__dict__") and type(a) is type(b) and not isinstance(a, type):
        _same_arrays(vars(a), vars(b), where)
    elif isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return
    elif a != b:
        raise AssertionError(f"differs in {where or 'value'}: {a!r} != {b!r}")


# --------------------------------------------------------------------------- shared checks


def check_schema_rejects_bad_values(cls, ctx: _Context) -> None:
    """Unknown keys, wrong types and out-of-range values raise SpecError naming the key."""
    good = example_values(cls, ctx.params, m=1)
    scalar_good = _column(good, cls, 0)
    problems = []

    def expect_error(label: str, key: str, values: dict) -> None:
        try:
            cls(**values)
        except SpecError as exc:
            if key not in str(exc):
                problems.append(f"{label}: SpecError does not name {key!r}: {exc}")
        except Exception as exc:  # anything but SpecError is an unclear message
            problems.append(f"{label}: raised {type(exc).__name__}: {exc} (expected SpecError "
                            f"naming {key!r})")
        else:
            problems.append(f"{label}: accepted")

    expect_error("unknown parameter 'no_such_param'", "no_such_param",
                 {**scalar_good, "no_such_param": 1})
    for key, param in cls.params.items():
        bad = []
        if param.type in (float, int):
            bad.append(("a string", "not-a-number"))
            for bound, delta in ((param.ge, -1), (param.gt, 0), (param.le, 1), (param.lt, 0)):
                if bound is not None:
                    bad.append((f"out of range ({bound:g} bound)", bound + delta))
        elif param.type is str:
            bad.append(("a number", 12345))
            if param.choices is not None:
                bad.append(("not a choice", "no-such-choice"))
        elif param.type is bool:
            bad.append(("a string", "yes"))
        elif param.type is list:
            bad.append(("a string", "abc"))
        if not param.nullable:
            bad.append(("null", None))
        if param.required:
            values = {k: v for k, v in scalar_good.items() if k != key}
            expect_error(f"{key} missing", key, values)
        for label, value in bad:
            expect_error(f"{key} {label} ({value!r})", key, {**scalar_good, key: value})
            if param.path and value is not None and not isinstance(value, str):
                expect_error(f"{key} array holding {value!r}", key,
                             {**scalar_good, key: np.array([scalar_good[key], value])})
    if problems:
        raise AssertionError("; ".join(problems))


def check_pickle_roundtrip(cls, ctx: _Context) -> None:
    """An instance survives pickle with the same parameters (process/Dask runners need it)."""
    inst = cls(**example_values(cls, ctx.params))
    try:
        copy = pickle.loads(pickle.dumps(inst))
    except Exception as exc:
        raise AssertionError(f"instance does not pickle: {type(exc).__name__}: {exc}") from None
    if type(copy) is not type(inst):
        raise AssertionError(f"unpickled as {type(copy).__name__}")
    if isinstance(inst, Component):
        _same_arrays(copy.values, inst.values, "values")


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


# --------------------------------------------------------------------------- problem


def check_problem_deterministic(cls, ctx: _Context) -> None:
    """The same seed generates identical data."""
    prob = cls(**example_values(cls, ctx.params, m=1))
    a = prob.generate(np.random.default_rng(7))
    b = cls(**example_values(cls, ctx.params, m=1)).generate(np.random.default_rng(7))
    for name in ("X_train", "y_train", "X_test", "y_test", "w_true"):
        _same_arrays(getattr(a, name), getattr(b, name), name)


def check_problem_shapes(cls, ctx: _Context) -> None:
    """X (n, d), y (n,), test with the same d, a known task (the declared one, if declared),
    class labels in range."""
    values = example_values(cls, ctx.params, m=1)
    data = cls(**values).generate(np.random.default_rng(0))
    if not isinstance(data, Dataset):
        raise AssertionError(f"generate returned {type(data).__name__}, expected regsim.Dataset")
    task_for = getattr(cls, "task_for", None)
    declared = task_for(values) if callable(task_for) else None
    if declared is not None and data.task != declared:
        raise AssertionError(f"declares task {declared!r} but generated a {data.task!r} Dataset "
                             f"(spec validation trusts the declaration)")
    X, y, Xt, yt = (np.asarray(a) for a in (data.X_train, data.y_train, data.X_test, data.y_test))
    if X.ndim != 2 or Xt.ndim != 2 or X.shape[1] != Xt.shape[1]:
        raise AssertionError(f"X_train {X.shape} and X_test {Xt.shape} must be (n, d) with one d")
    _shape("y_train", y, (X.shape[0],))
    _shape("y_test", yt, (Xt.shape[0],))
    _shape("X_train", X, X.shape)
    if data.task == "regression":
        return
    if data.task != "classification":
        raise AssertionError(f"task must be 'regression' or 'classification', got {data.task!r}")
    C = data.n_classes
    if not isinstance(C, int) or C < 2:
        raise AssertionError(f"classification needs n_classes >= 2, got {C!r}")
    for name, labels in (("y_train", y), ("y_test", yt)):
        if labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= C:
            raise AssertionError(f"{name} must hold integer class indices 0..{C - 1}")


# --------------------------------------------------------------------------- learner


def _predict_shape(pred, data: Dataset, n: int, m: int) -> np.ndarray:
    if data.task == "classification":
        P = _shape("predict(X)", pred, (n, m, data.n_classes))
        if (P < 0).any() or not np.allclose(P.sum(axis=2), 1.0, atol=1e-8):
            raise AssertionError("classification predictions must be probabilities (non-negative, "
                                 "summing to 1)")
        return P
    return _shape("predict(X)", pred, (n, m))


def _check_fit(fit, m: int, columns: dict, who: str) -> None:
    if not isinstance(fit, Fit):
        raise AssertionError(f"{who} returned {type(fit).__name__}, expected a regsim.Fit")
    if fit.m != m:
        raise AssertionError(f"{who}: Fit.m = {fit.m} for a batch of {m}")
    if len(fit.status) != m or len(fit.message) != m:
        raise AssertionError(f"{who}: status and message must have length {m}")
    bad = set(np.asarray(fit.status, dtype=object).tolist()) - {"ok", "not_converged", "diverged"}
    if bad:
        raise AssertionError(f"{who}: status values must be 'ok', 'not_converged' or 'diverged', "
                             f"got {sorted(bad)}")
    extra = set(fit.columns) - set(columns)
    if extra:
        raise AssertionError(f"{who}: columns {sorted(extra)} are not declared in `columns`")
    for key, values in fit.columns.items():
        if len(values) != m:
            raise AssertionError(f"{who}: column {key!r} has length {len(values)}, expected {m}")


def _learner_setup(cls, ctx: _Context):
    """Data, a penalty batch of m columns, and the learner's values (path ones with m entries)."""
    data = _data_for(cls.tasks)
    pen = _penalty_for(cls, ctx)
    return data, pen, example_values(cls, ctx.params, m=pen.batch_size)


def check_learner_fit(cls, ctx: _Context) -> None:
    """A fit has m columns, status/message/columns of length m, predictions of the right shape."""
    data, pen, values = _learner_setup(cls, ctx)
    fit = cls(**values).fit(data, pen, np.random.default_rng(0))
    m = pen.batch_size
    _check_fit(fit, m, cls.columns, "fit")
    _predict_shape(fit.predict(data.X_test), data, data.X_test.shape[0], m)


def check_learner_batched_equals_per_column(cls, ctx: _Context) -> None:
    """Fitting an α batch equals fitting each α alone (predictions, rtol 1e-6)."""
    data, pen, values = _learner_setup(cls, ctx)
    batched = np.asarray(cls(**values).fit(data, pen, np.random.default_rng(0)).predict(data.X_test))
    pcls = type(pen)
    for j in range(pen.batch_size):
        single = pcls(**_column(pen.values, pcls, j))
        learner = cls(**_column(values, cls, j))
        one = np.asarray(learner.fit(data, single, np.random.default_rng(0)).predict(data.X_test))
        scale = max(1.0, float(np.abs(one).max()))
        _close(f"column {j} of the batch vs a single fit ({_column(pen.values, pcls, j)})",
               batched[:, j], one[:, 0], rtol=1e-6, atol=1e-8 * scale)


def check_learner_deterministic(cls, ctx: _Context) -> None:
    """The same rng seed gives the same fit."""
    data, pen, values = _learner_setup(cls, ctx)
    fits = [cls(**values).fit(data, pen, np.random.default_rng(5)) for _ in range(2)]
    _same_arrays(fits[0].predict(data.X_test), fits[1].predict(data.X_test), "predictions")
    _same_arrays(_untimed(fits[0].columns), _untimed(fits[1].columns), "columns")


def _untimed(columns: dict) -> dict:
    """Columns without wall-clock timings (names ending in ``_s``, like ``wall_s``),
    which no seed makes reproducible."""
    return {k: v for k, v in columns.items() if not k.endswith("_s")}


# --------------------------------------------------------------------------- ensembler


def _ensembler_setup(cls, ctx: _Context, tasks: tuple[str, ...] | None = None):
    ens = cls(**example_values(cls, ctx.params))
    supported = getattr(cls, "tasks", ("regression", "classification"))
    candidates = tuple(t for t in (tasks or supported) if t in supported) or supported
    m = ens.batch_size
    pen = ctx.penalty or KitL2(alpha=_KIT_ALPHAS if m == 1 else np.geomspace(0.01, 0.5, m))
    reasons = []
    for task in candidates:  # the first task with a learner this ensembler accepts
        data = _data_for((task,))
        try:
            return ens, data, _learner_for(data.task, pen, ctx, ensembler=cls), pen
        except CheckSkipped as exc:
            reasons.append(str(exc))
    raise CheckSkipped("; ".join(reasons))


def _ensemble_batch(ens: Component, pen: Penalty) -> int:
    return max(ens.batch_size, pen.batch_size)


def check_ensembler_fit(cls, ctx: _Context) -> None:
    """An Ensemble of kind ``produces`` with m columns and declared extra columns."""
    if not cls.produces:
        raise AssertionError("`produces` (the ensemble kind) is not set")
    ens, data, learner, pen = _ensembler_setup(cls, ctx)
    out = ens.fit(data, learner, pen, np.random.default_rng(0))
    if not isinstance(out, Ensemble):
        raise AssertionError(f"fit returned {type(out).__name__}, expected a regsim.Ensemble")
    if out.kind != cls.produces:
        raise AssertionError(f"ensemble kind {out.kind!r} differs from produces={cls.produces!r}")
    _check_fit(out, _ensemble_batch(ens, pen), cls.columns, "fit")


def check_ensembler_member_protocol(cls, ctx: _Context) -> None:
    """An ensemble that lists members implements ``member_predictions`` and ``member_mask`` with
    consistent shapes: ``(n, K, m[, C])`` (probabilities summing to 1) and ``(K, m)`` bool, every
    column with at least one member. Skipped for kinds without members (dropout)."""
    ens, data, learner, pen = _ensembler_setup(cls, ctx)
    out = ens.fit(data, learner, pen, np.random.default_rng(0))
    kind = type(out)
    overrides = [getattr(kind, f, None) is not getattr(Ensemble, f)
                 for f in ("member_predictions", "member_mask")]
    if not any(overrides):
        if out.kind == MEMBER_KIND:
            raise AssertionError(f"ensembles of kind {MEMBER_KIND!r} must implement "
                                 f"member_predictions(X) and member_mask() (regsim.Ensemble)")
        raise CheckSkipped(f"{out.kind!r} ensembles do not list members")
    if not all(overrides):
        raise AssertionError("implements only one of member_predictions(X) and member_mask()")
    mask = np.asarray(out.member_mask())
    if mask.ndim != 2 or mask.shape[1] != out.m or mask.dtype != bool:
        raise AssertionError(f"member_mask(): {mask.dtype} array of shape {mask.shape}, expected "
                             f"bool (K, {out.m})")
    if not mask.any(axis=0).all():
        raise AssertionError("member_mask(): a column has no member")
    n, K = data.X_test.shape[0], mask.shape[0]
    tail = (data.n_classes,) if data.task == "classification" else ()
    P = _shape("member_predictions(X_test)", out.member_predictions(data.X_test),
               (n, K, out.m) + tail)
    _distributions(P, data.task)


def check_ensembler_deterministic(cls, ctx: _Context) -> None:
    """The same rng seed builds the same ensemble."""
    ens, data, learner, pen = _ensembler_setup(cls, ctx)
    a = ens.fit(data, learner, pen, np.random.default_rng(3))
    b = cls(**example_values(cls, ctx.params)).fit(data, learner, pen, np.random.default_rng(3))
    a.columns, b.columns = _untimed(a.columns), _untimed(b.columns)
    _same_arrays(a, b, "ensemble")


def check_ensembler_take(cls, ctx: _Context) -> None:
    """An ensemble that implements ``take(index)`` gives columns ``index`` of itself: their
    status, messages and columns, and from every installed strategy that accepts its kind
    exactly the predictions of those columns (the runner shares one fit between strategies
    through it). Skipped when ``take`` is not implemented."""
    ens, data, learner, pen = _ensembler_setup(cls, ctx)
    out = ens.fit(data, learner, pen, np.random.default_rng(0))
    if type(out).take is Fit.take:
        raise CheckSkipped(f"{type(out).__name__} does not implement take(index)")
    index = np.array([out.m - 1, 0, out.m - 1])
    taken = out.take(index)
    if not isinstance(taken, type(out)) or taken.m != len(index):
        raise AssertionError(f"take({index.tolist()}): {type(taken).__name__} with m="
                             f"{getattr(taken, 'm', None)}, expected {type(out).__name__} with "
                             f"m={len(index)}")
    if list(taken.status) != [out.status[i] for i in index] or \
            list(taken.message) != [out.message[i] for i in index]:
        raise AssertionError(f"take({index.tolist()}): status or message not those of the columns")
    _same_arrays(_untimed(taken.columns), {k: np.asarray(v)[index] for k, v in
                                           _untimed(out.columns).items()}, "take().columns")
    for name in ctx.registry.names("inference"):
        strategy_cls = ctx.registry.get("inference", name)
        if out.kind not in strategy_cls.accepts or data.task not in strategy_cls.tasks:
            continue
        strategy = strategy_cls(**_column(example_values(strategy_cls), strategy_cls, 0))
        whole = np.asarray(strategy.predict(out, data.X_test))
        part = np.asarray(strategy.predict(taken, data.X_test))
        if not np.array_equal(part, whole[:, index]):
            raise AssertionError(f"take({index.tolist()}): {name} predicts other values than for "
                                 f"those columns of the ensemble")


# --------------------------------------------------------------------------- inference


def _ensemble_for(cls, ctx: _Context):
    """A real ensemble of an accepted kind, from the first installed ensembler producing one."""
    for name in ctx.registry.names("ensembler"):
        ecls = ctx.registry.get("ensembler", name)
        if ecls.produces in cls.accepts:
            ens, data, learner, pen = _ensembler_setup(ecls, _Context(None, ctx.registry),
                                                       tasks=cls.tasks)
            return ens.fit(data, learner, pen, np.random.default_rng(0)), data
    raise CheckSkipped(f"no installed ensembler produces {', '.join(cls.accepts)}")


def check_inference_predict(cls, ctx: _Context) -> None:
    """On a real ensemble from an installed ensembler: shape (n, m) or (n, m, C), distributions, deterministic."""
    if not cls.accepts or not all(isinstance(k, str) for k in cls.accepts):
        raise AssertionError("`accepts` must be a non-empty tuple of ensemble kinds")
    ensemble, data = _ensemble_for(cls, ctx)
    strategy = cls(**example_values(cls, ctx.params, m=1))
    a = _predict_shape(strategy.predict(ensemble, data.X_test), data, data.X_test.shape[0],
                       ensemble.m)
    b = strategy.predict(ensemble, data.X_test)
    _same_arrays(a, np.asarray(b), "a second predict call")


#: The ensemble kind whose ensembles implement the member protocol
#: (:meth:`regsim.Ensemble.member_predictions`, :meth:`regsim.Ensemble.member_mask`).
MEMBER_KIND = "bagging"


@dataclass
class KnownEnsemble(Ensemble):
    """The kit's reference ensemble: ``K`` linear members per column, prefix masks.

    Member ``r`` of column ``j`` predicts ``X @ W[r, j] + b[r, j]`` (regression)
    or ``softmax(X @ W[r, j] + b[r, j])`` (classification, ``W[r, j]`` ``(d, C)``).
    Column ``j`` uses the first ``k[j]`` members, as the built-in ``bagging``
    ensembles do; ``k`` varies over the columns and is below ``K`` for some.
    """

    W: np.ndarray = None  # type: ignore[assignment]
    b: np.ndarray = None  # type: ignore[assignment]
    k: np.ndarray = None  # type: ignore[assignment]
    task: str = "regression"

    @property
    def n_members(self) -> int:
        return self.W.shape[0]

    def member_predictions(self, X):
        Z = np.einsum("nd,rjd...->nrj...", np.asarray(X, float), self.W) + self.b[None]
        if self.task == "regression":
            return Z
        Z = np.exp(Z - Z.max(axis=-1, keepdims=True))
        return Z / Z.sum(axis=-1, keepdims=True)

    def member_mask(self):
        return np.arange(self.n_members)[:, None] < self.k[None, :]


#: Members per column of the known ensemble, and each column's ensemble size.
_KNOWN_K, _KNOWN_SIZES = 7, np.array([1, 4, 7, 3])


def known_ensemble(task: str, *, seed: int = 0, unanimous: bool = False,
                   outside: float = 0.0) -> tuple[KnownEnsemble, np.ndarray, int | None]:
    """The kit's reference ensemble for ``task``, its test inputs ``X`` and ``C`` (or ``None``).

    Parameters
    ----------
    unanimous : bool
        Every member inside a column's mask is the same model (strategies must
        then return that model's prediction, or for classification its most
        probable class).
    outside : float
        Added to the weights of members outside the masks: any value gives the
        same ensembles, so a strategy's output must not change.

    Returns
    -------
    ensemble : KnownEnsemble
        Kind ``"bagging"``, ``K = 7`` members, ``m = 4`` columns of sizes
        ``k = (1, 4, 7, 3)``; ``member_predictions(X)`` is ``(n, 7, 4)`` or
        ``(n, 7, 4, C)``, ``member_mask()`` ``(7, 4)``.
    X : ndarray, shape (n, d)
        Test inputs (``n = 20``).
    C : int or None
        Classes for classification, else ``None``.
    """
    rng = np.random.default_rng(seed)
    data = _regression_data() if task == "regression" else _classification_data()
    d = data.X_test.shape[1]
    C = data.n_classes
    K, m = _KNOWN_K, _KNOWN_SIZES.size
    tail = (C,) if C else ()
    W = rng.standard_normal((K, m, d) + tail) * (2.0 if C else 1.0)
    b = rng.standard_normal((K, m) + tail) + (0.0 if C else 5.0)
    k = _KNOWN_SIZES.copy()
    if unanimous:
        W[:], b[:] = W[:1], b[:1]
        W[:, 1:] *= 3.0  # sharper members: a clear most probable class
    mask = np.arange(K)[:, None] < k[None, :]
    if outside:
        W[~mask] += outside
        b[~mask] -= outside
    ens = KnownEnsemble(m=m, kind=MEMBER_KIND, W=W, b=b, k=k, task=task)
    return ens, data.X_test, C


def _member_tasks(cls) -> tuple[str, ...]:
    if MEMBER_KIND not in cls.accepts:
        raise CheckSkipped(f"accepts {', '.join(cls.accepts)}; the kit's known ensemble is of kind "
                           f"{MEMBER_KIND!r} (the member protocol)")
    return tuple(t for t in cls.tasks if t in ("regression", "classification"))


def _known_predict(cls, ctx: _Context, ens: KnownEnsemble, X) -> np.ndarray:
    strategy = cls(**example_values(cls, ctx.params, m=1))
    C = ens.W.shape[-1] if ens.task == "classification" else None
    shape = (X.shape[0], ens.m) + ((C,) if C else ())
    return _distributions(_shape(f"predict on the kit's {ens.task} ensemble", strategy.predict(ens, X),
                                 shape), ens.task)


def _distributions(P: np.ndarray, task: str) -> np.ndarray:
    if task == "classification":
        if (P < 0).any():
            raise AssertionError(f"classification predictions must be probabilities: min {P.min():.3g} < 0")
        err = float(np.abs(P.sum(axis=-1) - 1.0).max())
        if err > 1e-8:
            raise AssertionError(f"classification predictions must sum to 1 over classes "
                                 f"(off by up to {err:.3g})")
    return P


def check_inference_known_ensemble(cls, ctx: _Context) -> None:
    """On the kit's known member ensemble: shape (n, m) or (n, m, C), distributions, deterministic."""
    for task in _member_tasks(cls):
        ens, X, _ = known_ensemble(task)
        a = _known_predict(cls, ctx, ens, X)
        b = _known_predict(cls, ctx, ens, X)
        _same_arrays(a, b, f"a second predict call ({task})")


def check_inference_member_mask(cls, ctx: _Context) -> None:
    """Members outside ``member_mask()`` do not change the prediction (k = 1 .. K over the columns)."""
    for task in _member_tasks(cls):
        ens, X, _ = known_ensemble(task)
        changed, _, _ = known_ensemble(task, outside=3.0)
        a, b = _known_predict(cls, ctx, ens, X), _known_predict(cls, ctx, changed, X)
        scale = max(1.0, float(np.abs(a).max()))
        err = np.abs(a - b).reshape(a.shape[0], a.shape[1], -1).max(axis=(0, 2))
        if (err > 1e-9 * scale).any():
            j = int(np.argmax(err))
            raise AssertionError(
                f"{task}: changing members outside member_mask() changes column {j}'s prediction "
                f"by {err[j]:.3g} (its ensemble is members 0..{ens.k[j] - 1} of {ens.n_members}); "
                f"combine only the members r with member_mask()[r, j]")


def check_inference_unanimous_members(cls, ctx: _Context) -> None:
    """When every member of a column's ensemble is the same model, the strategy predicts it.

    Regression: the common prediction (rtol 1e-9); classification: its most
    probable class (a vote, a mean or a geometric mean all agree on it).
    """
    for task in _member_tasks(cls):
        ens, X, C = known_ensemble(task, unanimous=True)
        got = _known_predict(cls, ctx, ens, X)
        want = ens.member_predictions(X)[:, 0]
        if task == "regression":
            _close("regression: prediction of identical members vs their common prediction",
                   got, want, rtol=1e-9, atol=1e-9)
        else:
            wrong = got.argmax(axis=-1) != want.argmax(axis=-1)
            if wrong.any():
                raise AssertionError(f"classification: identical members agree on the most probable "
                                     f"class but the prediction differs at {int(wrong.sum())} of "
                                     f"{wrong.size} (point, column) pairs")


def check_inference_within_members(cls, ctx: _Context) -> None:
    """Regression: each prediction lies between the smallest and largest member prediction.

    True of every mean, median, trimmed mean or other average of the members;
    a strategy that extrapolates on purpose declares it in ``kit_skip``.
    """
    tasks = _member_tasks(cls)
    if "regression" not in tasks:
        raise CheckSkipped("regression only (class probabilities of a vote or a geometric mean "
                           "need not lie between the members')")
    ens, X, _ = known_ensemble("regression")
    got = _known_predict(cls, ctx, ens, X)
    P = ens.member_predictions(X)
    mask = ens.member_mask()[None]
    lo = np.where(mask, P, np.inf).min(axis=1)
    hi = np.where(mask, P, -np.inf).max(axis=1)
    tol = 1e-9 * max(1.0, float(np.abs(P).max()))
    out = (got < lo - tol) | (got > hi + tol)
    if out.any():
        i, j = (int(a[0]) for a in np.nonzero(out))
        raise AssertionError(f"regression: prediction {got[i, j]:.6g} at point {i}, column {j} lies "
                             f"outside the members' range [{lo[i, j]:.6g}, {hi[i, j]:.6g}]")


# --------------------------------------------------------------------------- metric


def check_metric_columns(cls, ctx: _Context) -> None:
    """Declared column types are known; compute returns declared columns of length m."""
    if not cls.columns:
        raise AssertionError("`columns` declares no output column")
    bad = {k: t for k, t in cls.columns.items() if t not in COLUMN_TYPES}
    if bad:
        raise AssertionError(f"column types {bad} not in {COLUMN_TYPES}")
    metric = cls(**example_values(cls, ctx.params, m=1))
    pen = KitL2(alpha=_KIT_ALPHAS)
    cases = [(_regression_data(), KitRidge())]
    if ctx.registry is not None:
        try:
            data = _classification_data()
            cases.append((data, _learner_for("classification", pen, _Context(None, ctx.registry))))
        except CheckSkipped:
            pass
    for data, learner in cases:
        try:
            fit = learner.fit(data, pen, np.random.default_rng(0))
        except Exception:
            if isinstance(learner, KitRidge):
                raise
            continue  # a registry learner's failure is that learner's, not this metric's
        ev = Evaluation(data, learner, pen, fit)
        out = metric.compute(ev)
        if not isinstance(out, dict):
            raise AssertionError(f"compute returned {type(out).__name__}, expected a dict")
        extra = set(out) - set(cls.columns)
        if extra:
            raise AssertionError(f"{data.task}: compute returned undeclared columns {sorted(extra)}")
        for col, values in out.items():
            if values is None:
                continue
            if len(values) != fit.m:
                raise AssertionError(f"{data.task}: column {col!r} has length {len(values)}, "
                                     f"expected m = {fit.m}")
            _check_column_type(col, cls.columns[col], values, data.task)


def _check_column_type(col: str, kind: str, values, task: str) -> None:
    for v in values:
        if v is None:
            continue
        ok = {
            "float": lambda x: isinstance(x, (float, int, np.floating, np.integer))
            and not isinstance(x, bool),
            "int": lambda x: isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)),
            "str": lambda x: isinstance(x, str),
            "bool": lambda x: isinstance(x, (bool, np.bool_)),
            "list": lambda x: np.ndim(x) == 1,
        }[kind](v)
        if not ok:
            raise AssertionError(f"{task}: column {col!r} is declared {kind} but holds {v!r}")


# --------------------------------------------------------------------------- plot


def check_plot_declares(cls, ctx: _Context) -> None:
    """A plot has a name and answers ``applies`` on an empty result set with a bool.

    The empty set has the plot's ``required_columns``, as ``regsim report``
    checks those before it calls ``applies``.
    """
    import pandas as pd

    if not cls.name:
        raise AssertionError("plot has no name")
    columns = ["sweep", "status", "penalty", *getattr(cls, "required_columns", ())]
    empty = pd.DataFrame({c: [] for c in dict.fromkeys(columns)})
    answer = cls().applies(empty)
    if not isinstance(answer, (bool, np.bool_)):
        raise AssertionError(f"applies(df) returned {answer!r}, expected a bool")
    if answer:
        raise AssertionError("applies(df) is true for an empty result set")


# --------------------------------------------------------------------------- registry of checks

_SHARED = (check_schema_rejects_bad_values, check_pickle_roundtrip)

CHECKS: dict[str, tuple[Callable, ...]] = {
    "penalty": _SHARED + (check_penalty_shapes, check_penalty_grad_finite_differences,
                          check_penalty_prox_optimality, check_penalty_prox_nonexpansive,
                          check_penalty_batched_equals_per_column, check_penalty_theory_shape),
    "problem": _SHARED + (check_problem_shapes, check_problem_deterministic),
    "learner": _SHARED + (check_learner_fit, check_learner_batched_equals_per_column,
                          check_learner_deterministic),
    "ensembler": _SHARED + (check_ensembler_fit, check_ensembler_member_protocol,
                            check_ensembler_deterministic, check_ensembler_take),
    "inference": _SHARED + (check_inference_predict, check_inference_known_ensemble,
                            check_inference_member_mask, check_inference_unanimous_members,
                            check_inference_within_members),
    "metric": _SHARED + (check_metric_columns,),
    "plot": (check_plot_declares,),
}


def _check_name(fn: Callable) -> str:
    return fn.__name__.removeprefix("check_")


def kit_skip_reason(cls: type, check: str) -> str | None:
    """The reason ``cls`` gives in its ``kit_skip`` class attribute for exempting ``check``, or ``None``."""
    declared = getattr(cls, "kit_skip", None) or {}
    reason = declared.get(check) if isinstance(declared, dict) else None
    return None if reason is None else str(reason)


def installed_registry(registry=None):
    """``registry``, or the process's registry of installed plugins (:func:`regsim.get_registry`)."""
    if registry is not None:
        return registry
    from .registry import get_registry

    return get_registry()


def component_checks(cls: type) -> list[tuple[str, Callable[..., None]]]:
    """``(name, check)`` pairs for ``cls``; ``check(cls, params=None, registry=None, ...)``.

    Every route of the kit (:func:`run_checks`, :func:`check_component`,
    :func:`parametrize_checks`, ``regsim plugins --check``) calls these, so all
    run the same checks with the same exemptions: a check named in the
    component's ``kit_skip`` raises :class:`CheckSkipped` with the declared
    reason, and ``registry=None`` means the installed plugins.
    """
    kind = _kind(cls)

    def bind(fn):
        name = _check_name(fn)

        def check(component=cls, params=None, registry=None, penalty=None, learner=None):
            reason = kit_skip_reason(component, name)
            if reason is not None:
                raise CheckSkipped(f"declared in kit_skip: {reason}")
            fn(component, _Context(params, installed_registry(registry), penalty, learner))
        check.__name__ = fn.__name__
        check.__doc__ = fn.__doc__
        return check

    return [(_check_name(fn), bind(fn)) for fn in CHECKS[kind]]


def run_checks(cls: type, *, params: dict | None = None, registry=None, skip: Iterable[str] = (),
               penalty: Penalty | None = None, learner: Learner | None = None) -> list[CheckResult]:
    """Run every check for ``cls`` and return one :class:`CheckResult` each (never raises).

    Parameters
    ----------
    cls : type
        A component class (``Penalty``, ``Problem``, ... subclass).
    params : dict, optional
        Valid constructor values overriding defaults and ``example_params``;
        a path parameter may be given as an ``(m,)`` array.
    registry : regsim.registry.Registry, optional
        Where to look for collaborators (ensemblers for inference strategies,
        classification learners). Default: the installed plugins
        (:func:`regsim.get_registry`); pass ``Registry(load_entry_points=False)``
        to use none. The kit's own reference components are used first.
    skip : iterable of str
        Check names to skip (e.g. ``"penalty_theory_shape"``). A component may
        also declare its own exemptions, with reasons, in a class attribute
        ``kit_skip = {"check_name": "why"}`` (scikit-learn's ``_xfail_checks``);
        they are reported as skipped with the reason by every route:
        ``check_component``, ``parametrize_checks`` and ``regsim plugins --check``.
    penalty, learner : optional
        Collaborator instances for learner and ensembler checks.
    """
    results = []
    skip = set(skip)
    for name, check in component_checks(cls):
        if name in skip:
            results.append(CheckResult(name, "skipped", "skipped by the caller"))
            continue
        try:
            check(cls, params=params, registry=registry, penalty=penalty, learner=learner)
        except CheckSkipped as exc:
            results.append(CheckResult(name, "skipped", str(exc)))
        except AssertionError as exc:
            results.append(CheckResult(name, "failed", str(exc)))
        except Exception as exc:
            results.append(CheckResult(name, "failed", f"raised {type(exc).__name__}: {exc}"))
        else:
            results.append(CheckResult(name, "passed"))
    return results


def check_component(cls: type, *, params: dict | None = None, registry=None,
                    skip: Iterable[str] = (), penalty: Penalty | None = None,
                    learner: Learner | None = None) -> list[CheckResult]:
    """Run every check for ``cls``; raise one AssertionError listing all failures.

    Returns the results (passed and skipped checks included) when none failed.
    See :func:`run_checks` for the parameters.
    """
    results = run_checks(cls, params=params, registry=registry, skip=skip, penalty=penalty,
                         learner=learner)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        lines = "\n".join(f"  - {r.check}: {r.message}" for r in failed)
        raise AssertionError(
            f"regsim.testing: {len(failed)} of {len(results)} checks failed for "
            f"{_kind(cls)} {getattr(cls, 'name', '')!r} ({cls.__module__}.{cls.__qualname__}):\n"
            f"{lines}")
    return results


def _for_kind(kind: str):
    def check(cls: type, **kwargs) -> list[CheckResult]:
        if _kind(cls) != kind:
            raise TypeError(f"{cls.__qualname__} is a {_kind(cls)}, not a {kind}")
        return check_component(cls, **kwargs)
    check.__name__ = f"check_{kind}"
    check.__doc__ = f"Run every {kind} check on ``cls`` (see :func:`check_component`)."
    return check


check_penalty = _for_kind("penalty")
check_problem = _for_kind("problem")
check_learner = _for_kind("learner")
check_ensembler = _for_kind("ensembler")
check_inference = _for_kind("inference")
check_metric = _for_kind("metric")
check_plot = _for_kind("plot")


def parametrize_checks(classes: Iterable[type], *, skip: Iterable[str] = (), **kwargs):
    """A ``pytest.mark.parametrize`` over ``(component, check)``, one test per check.

    ``check(component)`` runs one check; ``kwargs`` (``params``, ``registry``,
    ``penalty``, ``learner``) are bound into every check; checks named in
    ``skip`` are left out. A check the component exempts in ``kit_skip``, or
    that cannot run here, calls ``pytest.skip`` with the reason. Collaborators
    come from the installed plugins unless ``registry=`` is given, exactly as
    for :func:`check_component` and ``regsim plugins --check``.
    """
    import pytest

    skip = set(skip)
    cases, ids = [], []
    for cls in classes:
        for name, fn in component_checks(cls):
            if name in skip:
                continue
            cases.append((cls, _pytest_check(fn, kwargs)))
            ids.append(f"{getattr(cls, 'name', cls.__name__)}-{name}")
    return pytest.mark.parametrize("component, check", cases, ids=ids)


def _pytest_check(fn, kwargs):
    def check(component):
        import pytest

        try:
            fn(component, **kwargs)
        except CheckSkipped as exc:
            pytest.skip(str(exc))
    check.__name__ = fn.__name__
    return check
