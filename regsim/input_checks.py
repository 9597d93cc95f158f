"""Checks on a problem's data before anything is fitted to it.

Data that cannot give a right answer (missing or infinite values, text where
numbers belong, magnitudes whose squares overflow float64, labels outside the
declared classes) must stop the cell with a message that names where the data
came from, the column and the first offending rows, and be stored as
``status="error"``; never as ``diverged`` (a statement about the optimiser) and
never as an ``ok`` row with a silently wrong number.

The runner calls :func:`check_dataset` on every generated :class:`Dataset`;
problems that read files (``csv``) call the same checks on the raw table at
spec validation, so ``regsim validate`` refuses the file before a sweep starts.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .components import Dataset

__all__ = ["DataError", "check_dataset", "check_matrix", "first_rows"]

#: How many offending rows a message lists.
SHOWN_ROWS = 5
_FLOAT_MAX = np.finfo(float).max


class DataError(ValueError):
    """A problem's data cannot give a right answer (the message says where and why)."""


def first_rows(mask: np.ndarray, labels: Sequence | None = None, word: str = "row") -> str:
    """``"rows 3, 7 and 2 more"``: the first :data:`SHOWN_ROWS` rows where ``mask`` holds.

    ``labels`` name the rows (default: their index); ``word`` is the noun.
    """
    rows = np.flatnonzero(mask)
    shown = [str(labels[i]) if labels is not None else str(i) for i in rows[:SHOWN_ROWS]]
    more = f" and {rows.size - SHOWN_ROWS} more" if rows.size > SHOWN_ROWS else ""
    return f"{word}{'s' if rows.size > 1 else ''} " + ", ".join(shown) + more


def check_matrix(X: np.ndarray, what: str, columns: Sequence[str], source: str,
                 row_labels: Sequence | None = None, row_word: str = "row",
                 squares: bool = True) -> np.ndarray:
    """``X`` as a float64 ``(n, d)`` array, or :class:`DataError`.

    Checks, column by column: numeric values, finite values (no NaN or ±inf),
    and a finite sum of squares (every least-squares quantity, H = XᵀX/n
    included, squares the features: a column with |x| ~ 1e160 overflows).

    Parameters
    ----------
    X : array-like, shape (n, d)
    what : str
        What ``X`` is, for messages (``"training features"``).
    columns : sequence of str, length d
        Column names.
    source : str
        Where the data came from (``"problem 'csv' (data/x.csv)"``).
    row_labels : sequence, optional
        How to name row ``i`` in messages (e.g. the line number in a file).
    row_word : str
        The word before the row labels (``"row"``, ``"line"``).
    squares : bool
        Also check that the squares do not overflow (skip for raw data that is
        rescaled before use).
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise DataError(f"{source}: {what} must be a 2-d (rows, columns) array, got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        for j in range(X.shape[1]):
            bad = np.array([not _is_number(v) for v in X[:, j]])
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                label = row_labels[i] if row_labels is not None else i
                raise DataError(
                    f"{source}: column {columns[j]!r} of the {what} is not numeric "
                    f"(e.g. {str(X[i, j])[:40]!r} in {row_word} {label}; "
                    f"{first_rows(bad, row_labels, row_word)}); drop the column or encode it as numbers")
        X = X.astype(float)
    X = X.astype(float, copy=False)
    finite = np.isfinite(X)
    if not finite.all():
        j = int(np.flatnonzero(~finite.all(axis=0))[0])
        col = X[:, j]
        kind = "missing values (NaN)" if np.isnan(col).any() else "infinite values"
        raise DataError(f"{source}: column {columns[j]!r} of the {what} has {kind} in "
                        f"{first_rows(~np.isfinite(col), row_labels, row_word)}; "
                        f"remove or impute them")
    big = np.abs(X).max(axis=0, initial=0.0)
    # A sum of n squares is at most n·max², so below this bound nothing overflows.
    overflow = big > np.sqrt(_FLOAT_MAX / max(X.shape[0], 1))
    if squares and overflow.any():
        j = int(np.flatnonzero(overflow)[0])
        raise DataError(f"{source}: column {columns[j]!r} of the {what} has values up to "
                        f"{big[j]:.3g}, whose squares overflow float64 ("
                        f"{first_rows(np.abs(X[:, j]) == big[j], row_labels, row_word)}); rescale "
                        f"the column (e.g. standardize it)")
    return X


def _is_number(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def check_dataset(data: Dataset, source: str) -> Dataset:
    """Raise :class:`DataError` unless ``data`` can give a right answer; return it.

    Features must be numeric and finite, training features must also square
    without overflow (:func:`check_matrix`), train and test must have the same columns, and
    targets must match the task: finite numbers for regression, integer class
    indices ``0..n_classes-1`` for classification.

    Parameters
    ----------
    data : Dataset
    source : str
        Where the data came from, for messages (``"problem 'csv' (diabetes.csv)"``).
    """
    d = np.shape(data.X_train)[1] if np.ndim(data.X_train) == 2 else None
    names = list(data.info.get("features") or [f"x{j}" for j in range(d or 0)])
    if d is not None and len(names) != d:
        names = [f"x{j}" for j in range(d)]
    for split, X, y in (("training", data.X_train, data.y_train), ("test", data.X_test, data.y_test)):
        # Only training data are squared (H = XᵀX/n); a large test value is no error.
        X = check_matrix(X, f"{split} features", names, source, squares=split == "training")
        if X.shape[1] != len(names):
            raise DataError(f"{source}: the {split} features have {X.shape[1]} columns, the "
                            f"training features {len(names)}")
        if X.shape[0] == 0:
            raise DataError(f"{source}: the {split} split has no rows")
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise DataError(f"{source}: {split} targets have shape {y.shape}, expected "
                            f"({X.shape[0]},) to match the features")
        _check_target(y, data, split, source)
    return data


def _check_target(y: np.ndarray, data: Dataset, split: str, source: str) -> None:
    target = f"the {split} target"
    if data.task == "regression":
        check_matrix(y[:, None], target, ["target"], source)
        return
    if data.task != "classification":
        raise DataError(f"{source}: task must be 'regression' or 'classification', got {data.task!r}")
    C = data.n_classes
    if not isinstance(C, (int, np.integer)) or C < 2:
        raise DataError(f"{source}: a classification dataset needs n_classes >= 2, got {C!r}")
    yf = check_matrix(y[:, None], target, ["target"], source)[:, 0]
    bad = (yf != np.round(yf)) | (yf < 0) | (yf >= C)
    if bad.any():
        raise DataError(f"{source}: {target} must hold class indices 0..{C - 1}; "
                        f"{first_rows(bad)} do not")
