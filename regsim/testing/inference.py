"""Checks of inference strategies: shapes and distributions, and a reference on a known
ensemble (member masks honoured, unanimous members, predictions within the members').
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..components import Ensemble
from .base import (
    CheckSkipped,
    MEMBER_KIND,
    _Context,
    _classification_data,
    _close,
    _distributions,
    _regression_data,
    _same_arrays,
    _shape,
    example_values,
)
from .learner import _predict_shape
from .ensembler import _ensembler_setup


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
