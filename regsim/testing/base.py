"""What every check shares: example values from a component's declared parameters,
the kit's own small data sets and reference components, comparisons, and the checks
every kind runs (the schema rejects bad values; instances pickle).
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from ..components import (
    Component,
    Dataset,
    Learner,
    LinearFit,
    Penalty,
    Plot,
)
from ..params import Param, REQUIRED, SpecError


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
    smooth = True
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


#: The ensemble kind whose ensembles implement the member protocol
#: (:meth:`regsim.Ensemble.member_predictions`, :meth:`regsim.Ensemble.member_mask`).
MEMBER_KIND = "bagging"


def _distributions(P: np.ndarray, task: str) -> np.ndarray:
    if task == "classification":
        if (P < 0).any():
            raise AssertionError(f"classification predictions must be probabilities: min {P.min():.3g} < 0")
        err = float(np.abs(P.sum(axis=-1) - 1.0).max())
        if err > 1e-8:
            raise AssertionError(f"classification predictions must sum to 1 over classes "
                                 f"(off by up to {err:.3g})")
    return P
