"""Checks of metrics: declared column types, only declared columns, each of length m.
"""

from __future__ import annotations

import numpy as np

from ..components import COLUMN_TYPES, Evaluation
from .base import (
    CheckSkipped,
    KitL2,
    KitRidge,
    _Context,
    _KIT_ALPHAS,
    _classification_data,
    _learner_for,
    _regression_data,
    example_values,
)


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
