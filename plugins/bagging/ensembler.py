"""Bagging (bootstrap aggregating, Breiman 1996): the ``bagging`` ensembler.

``k`` is a path parameter: a group whose cells differ in ``k`` (and in the
penalty's path parameters) trains ``k_max`` members once per distinct penalty
setting, and the cell with ensemble size ``k`` uses members ``0..k-1`` (the
ensemble-size path, like the α path). Member ``r`` draws its resample and its
learner randomness from child ``r`` of the cell's ensembler generator
(``rng.spawn``), so a cell's members do not depend on ``k_max``, on chunking
or on the number of workers.

Members are fitted in one batched computation when the learner offers one
(:meth:`regsim.Learner.fit_resamples`, e.g. ``least_squares``), else by one
``learner.fit`` per member on the resampled :class:`regsim.Dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

import regsim
from regsim import Dataset, Ensemble, Ensembler, Fit, Param, Penalty


@dataclass
class BaggedEnsemble(Ensemble):
    """``K`` members per distinct penalty setting; column ``j`` uses the first ``k[j]``.

    Implements the member protocol of :class:`regsim.Ensemble`
    (:meth:`member_predictions`, :meth:`member_mask`); masks are prefixes.

    Attributes
    ----------
    k : ndarray of int, shape (m,)
        Ensemble size per column.
    setting : ndarray of int, shape (m,)
        Index of the column's penalty setting among the ``u`` distinct ones.
    counts : ndarray of int, shape (K, n)
        How often each training row appears in member ``r``'s resample.
    member_fits : Fit or list of Fit
        One batched fit with ``K·u`` columns (member-major), or ``K`` fits of ``u`` columns.
    task : {"regression", "classification"}
    """

    k: np.ndarray = None  # type: ignore[assignment]
    setting: np.ndarray = None  # type: ignore[assignment]
    counts: np.ndarray = None  # type: ignore[assignment]
    member_fits: object = None
    n_settings: int = 1
    task: str = "regression"
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_members(self) -> int:
        """``K = k_max``: members trained per penalty setting."""
        return self.counts.shape[0]

    def setting_predictions(self, X: np.ndarray) -> np.ndarray:
        """Every member's predictions ``(n, K, u)``, or probabilities ``(n, K, u, C)``.

        The last ``X`` is cached (by identity): strategies and metrics ask for
        the test set's predictions in turn.
        """
        hit = self._cache.get("X")
        if hit is not None and hit is X:
            return self._cache["P"]
        K, u = self.n_members, self.n_settings
        if isinstance(self.member_fits, Fit):
            P = self.member_fits.predict(X)  # (n, K·u[, C]), member-major columns
            P = P.reshape((P.shape[0], K, u) + P.shape[2:])
        else:
            P = np.stack([f.predict(X) for f in self.member_fits], axis=1)
        self._cache.update(X=X, P=P)
        return P

    def member_predictions(self, X: np.ndarray) -> np.ndarray:
        """Predictions ``(n, K, m)`` or probabilities ``(n, K, m, C)``: column ``j``'s own
        penalty setting, all ``K`` members (see :meth:`regsim.Ensemble.member_predictions`)."""
        return self.setting_predictions(X)[:, :, self.setting]

    def member_mask(self) -> np.ndarray:
        """``(K, m)``: whether member ``r`` belongs to the ensemble of column ``j``."""
        return np.arange(self.n_members)[:, None] < self.k[None, :]

    def take(self, index):
        """The ensemble for cells ``index`` of this one: the same members and prediction cache."""
        index = np.asarray(index, dtype=int)
        return replace(self, **self.taken_fields(index), k=np.asarray(self.k)[index],
                       setting=np.asarray(self.setting)[index], _cache=self._cache)


def distinct_settings(penalty: Penalty, m: int) -> tuple[Penalty, np.ndarray]:
    """The penalty restricted to its distinct path settings, and each column's setting index.

    Returns ``(penalty_u, setting)`` where ``penalty_u`` has ``u`` columns and
    ``setting`` ``(m,)`` maps every column of the group to one of them.
    """
    path_keys = [key for key, p in penalty.params.items() if p.path]
    if not path_keys:
        return penalty, np.zeros(m, dtype=int)
    columns = [np.broadcast_to(np.asarray(penalty.values[key]), (m,)) for key in path_keys]
    index: dict[tuple, int] = {}
    rows = zip(*(c.tolist() for c in columns))
    setting = np.array([index.setdefault(row, len(index)) for row in rows])
    first = np.array([setting.tolist().index(i) for i in range(len(index))])
    values = dict(penalty.values)
    for key, col in zip(path_keys, columns):
        values[key] = np.asarray(col)[first]
    return type(penalty)(**values), setting


class Bagging(Ensembler):
    """Bagging: ``k`` members, each fitted on a resample of the training rows.

    With ``bootstrap`` each member draws ``max_samples·n`` rows with
    replacement (Breiman's bootstrap when ``max_samples = 1``); without it, a
    subsample without replacement (all rows, in order, when ``max_samples = 1``:
    every member is then the single learner). Works with any learner and
    penalty; members of one penalty setting differ only in their resample and
    their own randomness.
    """

    name = "bagging"
    produces = "bagging"
    params = {
        "k": Param(int, default=10, ge=1, le=10_000, path=True,
                   doc="ensemble size (members averaged; at most 10,000: every member's "
                       "predictions are held at once)"),
        "bootstrap": Param(bool, default=True, doc="draw with replacement"),
        "max_samples": Param(float, default=1.0, gt=0, le=1,
                             doc="rows per member as a fraction of n_train"),
    }

    def fit(self, data: Dataset, learner, penalty: Penalty, rng: np.random.Generator) -> Ensemble:
        k = np.atleast_1d(np.asarray(self.k, dtype=int))
        m = max(k.size, penalty.batch_size)
        k = np.broadcast_to(k, (m,)).copy()
        K = int(k.max())
        penalty_u, setting = distinct_settings(penalty, m)
        u = penalty_u.batch_size
        n = data.X_train.shape[0]
        n_s = max(1, int(self.max_samples * n))
        children = rng.spawn(K)  # child r is member r's, whatever K is
        indices = [self._resample(child, n, n_s) for child in children]
        counts = np.stack([np.bincount(idx, minlength=n) for idx in indices])

        member_fits = learner.fit_resamples(data, counts, penalty_u)
        if member_fits is not None:
            status = np.asarray(member_fits.status, dtype=object).reshape(K, u)
            message = np.asarray(member_fits.message, dtype=object).reshape(K, u)
        else:
            member_fits = [learner.fit(_resampled(data, idx), penalty_u, child)
                           for idx, child in zip(indices, children)]
            status = np.array([np.asarray(f.status, dtype=object) for f in member_fits]).reshape(K, u)
            message = np.array([list(f.message) for f in member_fits], dtype=object).reshape(K, u)

        col_status = np.full(m, "ok", dtype=object)
        col_message: list = [None] * m
        for j in range(m):
            bad = np.flatnonzero(status[:k[j], setting[j]] != "ok")
            if bad.size:
                r = bad[0]
                col_status[j] = status[r, setting[j]]
                col_message[j] = f"member {r}: {message[r, setting[j]]}"
        return BaggedEnsemble(m=m, status=col_status, message=col_message, kind=self.produces,
                              k=k, setting=setting, counts=counts, member_fits=member_fits,
                              n_settings=u, task=data.task)

    def _resample(self, rng: np.random.Generator, n: int, n_s: int) -> np.ndarray:
        if self.bootstrap:
            return rng.integers(0, n, size=n_s)
        if n_s == n:
            return np.arange(n)
        return np.sort(rng.choice(n, size=n_s, replace=False))


def _resampled(data: Dataset, idx: np.ndarray) -> Dataset:
    """The training rows ``idx`` (repeats allowed); the test split is unchanged."""
    return Dataset(data.X_train[idx], data.y_train[idx], data.X_test, data.y_test,
                   w_true=data.w_true, task=data.task, n_classes=data.n_classes, info=data.info)


@regsim.hookimpl
def register_ensemblers(register):
    register(Bagging)
