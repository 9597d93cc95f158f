"""Checks of problems: the same seed gives the same data; shapes and the declared task.
"""

from __future__ import annotations

import numpy as np

from ..components import Dataset
from .base import _Context, _same_arrays, _shape, example_values


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
