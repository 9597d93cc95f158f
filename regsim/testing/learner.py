"""Checks of learners: a fit of m columns with the declared columns, a batch equal to
per-column fits, the same seed the same fit.
"""

from __future__ import annotations

import numpy as np

from ..components import Dataset, Fit
from .base import (
    _Context,
    _close,
    _column,
    _data_for,
    _penalty_for,
    _same_arrays,
    _shape,
    example_values,
)


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
