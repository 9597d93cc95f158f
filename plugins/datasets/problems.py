"""Built-in problems: synthetic linear regression and a real table from a CSV file."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

import regsim
from regsim import DataError, Dataset, Param, Problem, SpecError, check_matrix, first_rows


class LinearRegression(Problem):
    """Synthetic ``y = X w_true + noise·ε`` with a controlled feature covariance.

    Designs
    -------
    geometric
        Covariance ``U diag(s) Uᵀ`` with a random rotation ``U`` and eigenvalues
        ``s_i = condition^(-i/(d-1))`` (largest 1, condition number ``condition``).
    orthogonal
        The training design is built so that ``XcᵀXc/n = diag(h)`` exactly, with
        ``h`` geometric as above, or ``h_diag`` when given: H is diagonal, where
        the L1 soft-threshold theory is exact. Needs ``n_train > n_features``.
    toeplitz
        Covariance ``rho^|i-j|`` (correlated neighbouring features).
    identity
        Independent standard-normal features.

    Test features are drawn from the design's population covariance.
    ``w_true`` has ``ceil(sparsity·d)`` non-zero standard-normal entries scaled
    by ``w_scale``.
    """

    name = "linear_regression"
    task = "regression"
    params = {
        "n_train": Param(int, default=200, ge=2, doc="training rows"),
        "n_test": Param(int, default=1000, ge=1, doc="test rows"),
        "n_features": Param(int, default=20, ge=1, doc="number of features d"),
        "design": Param(str, default="geometric",
                        choices=("geometric", "orthogonal", "toeplitz", "identity"),
                        doc="feature covariance"),
        "condition": Param(float, default=100.0, ge=1, doc="condition number (geometric, orthogonal)"),
        "rho": Param(float, default=0.9, ge=0, lt=1, doc="neighbour correlation (toeplitz)"),
        "sparsity": Param(float, default=1.0, gt=0, le=1, doc="fraction of non-zero true weights"),
        "w_scale": Param(float, default=1.0, gt=0, doc="scale of the true weights"),
        "noise": Param(float, default=0.5, ge=0, doc="noise standard deviation"),
        "h_diag": Param(list, default=None, nullable=True,
                        doc="orthogonal design: the diagonal of H = XcᵀXc/n, n_features "
                            "positive numbers (replaces the geometric spectrum)"),
    }

    @classmethod
    def check_cell(cls, components):
        problem = components["problem"]
        if problem.get("design") == "orthogonal" and problem["n_train"] <= problem["n_features"]:
            return (f"n_train: the orthogonal design needs n_train > n_features "
                    f"({problem['n_features']}), got {problem['n_train']}")
        h = problem.get("h_diag")
        if h is None:
            return None
        if problem.get("design") != "orthogonal":
            return "h_diag: only for design: orthogonal (the diagonal of H)"
        if len(h) != problem["n_features"] or min(h, default=0) <= 0:
            return (f"h_diag: must be {problem['n_features']} (n_features) positive numbers, "
                    f"got {h!r}")
        return None

    def generate(self, rng: np.random.Generator) -> Dataset:
        n, n_test, d = self.n_train, self.n_test, self.n_features
        k = max(1, math.ceil(self.sparsity * d))
        w_true = np.zeros(d)
        w_true[rng.choice(d, size=k, replace=False)] = self.w_scale * rng.standard_normal(k)
        if self.h_diag is not None:
            reason = self.check_cell({"problem": self.values})
            if reason:
                raise SpecError(f"problem.{reason}")
            spectrum = np.asarray(self.h_diag, dtype=float)
        else:
            spectrum = self.condition ** (-np.arange(d) / max(d - 1, 1))
        if self.design == "orthogonal":
            if n <= d:
                raise SpecError(f"problem.n_train: the orthogonal design needs n_train > n_features "
                                f"({d}), got {n}")
            Z = rng.standard_normal((n, d))
            Q, R = np.linalg.qr(Z - Z.mean(axis=0))
            Q = Q * np.sign(np.diag(R))  # a fixed sign convention
            X = math.sqrt(n) * Q * np.sqrt(spectrum)
            X_test = rng.standard_normal((n_test, d)) * np.sqrt(spectrum)
        else:
            root = self._covariance_root(rng, spectrum)
            X = rng.standard_normal((n, d)) @ root
            X_test = rng.standard_normal((n_test, d)) @ root
        y = X @ w_true + self.noise * rng.standard_normal(n)
        y_test = X_test @ w_true + self.noise * rng.standard_normal(n_test)
        return Dataset(X, y, X_test, y_test, w_true=w_true,
                       info={"design": self.design, "spectrum": spectrum})

    def _covariance_root(self, rng: np.random.Generator, spectrum: np.ndarray) -> np.ndarray:
        """A matrix ``R`` with ``RᵀR`` the population covariance (rows of Z R have it)."""
        d = self.n_features
        if self.design == "identity":
            return np.eye(d)
        if self.design == "toeplitz":
            idx = np.arange(d)
            return np.linalg.cholesky(self.rho ** np.abs(idx[:, None] - idx[None, :])).T
        U, _ = np.linalg.qr(rng.standard_normal((d, d)))
        return np.sqrt(spectrum)[:, None] * U.T


class CsvProblem(Problem):
    """A real table: features and a target column from a CSV file.

    Splits
    ------
    By default rows are split into train and test by a permutation drawn from
    the cell's seed, ``test_fraction`` of them held out. ``test_fraction: 0``
    fits on every row; the test split is then the training split (test
    metrics are training metrics). ``split_column: NAME`` names a column whose
    values are ``train`` or ``test`` (that column is not a feature; the seed
    then plays no part in the split).

    Scaling (``scale``), with statistics of the training split only
    ---------------------------------------------------------------
    ``standard`` (default)
        zero mean and unit variance per column (z-scores);
    ``unit_length``
        zero mean and unit Euclidean length per column, Σᵢ xᵢⱼ² = 1: the
        convention of Efron et al. (2004), "Least angle regression", and of
        scikit-learn's ``load_diabetes(scaled=True)``;
    ``none``
        the values as they are.
    Each column is divided by its largest magnitude first, so columns of any
    magnitude scale without overflow; a constant column becomes 0. The
    target is never scaled (the intercept, fitted by centring, absorbs its mean).

    A relative ``path`` is resolved against the working directory, then
    against the installed project's ``data/`` directory (which ships
    ``diabetes.csv``). The file is checked when the spec is validated
    (``regsim validate`` exits 2): readable CSV with a header, the ``target``
    column (and ``split_column``), only numeric, non-missing, finite features
    (and, with ``scale: none``, values whose squares fit in float64); the
    error names the file, the column and the first offending lines.
    """

    name = "csv"
    task_param = "task"
    params = {
        "path": Param(str, doc="CSV file (header row required)"),
        "target": Param(str, doc="name of the target column"),
        "task": Param(str, default="regression", choices=("regression", "classification")),
        "scale": Param(str, default="standard", choices=("standard", "unit_length", "none"),
                       doc="feature scaling on the training split: z-scores, unit length "
                           "(Efron et al. 2004) or none"),
        "test_fraction": Param(float, default=0.25, ge=0, lt=1,
                               doc="share of rows held out at random (0: fit on every row)"),
        "split_column": Param(str, default=None, nullable=True,
                              doc="a column of 'train'/'test' naming each row's split "
                                  "(overrides test_fraction)"),
    }
    #: Valid values for the required parameters (used by regsim.testing and `plugins --check`).
    example_params = {"path": "diabetes.csv", "target": "target"}

    @classmethod
    def check_cell(cls, components):
        problem = components["problem"]
        try:
            cls._table(problem)
        except (SpecError, DataError) as exc:
            return str(exc).removeprefix("problem.")
        return None

    @classmethod
    def _table(cls, values: dict):
        path = cls._resolve(values["path"])
        return path, _read_table(*_file_state(path), values["target"], values["task"],
                                 values.get("scale", "standard") != "none",
                                 values.get("split_column"))

    def generate(self, rng: np.random.Generator) -> Dataset:
        path, (X, y, features, n_classes, is_test) = self._table(self.values)
        if is_test is not None:
            test, train = np.flatnonzero(is_test), np.flatnonzero(~is_test)
        elif self.test_fraction == 0:
            train = test = np.arange(len(y))
        else:
            order = rng.permutation(len(y))
            n_test = max(1, int(round(self.test_fraction * len(y))))
            if n_test >= len(y):
                raise DataError(f"{path}: {len(y)} rows leave none for training with "
                                f"test_fraction {self.test_fraction:g}")
            test, train = order[:n_test], order[n_test:]
        X_train, X_test = scale_columns(X[train], X[test], self.scale)
        return Dataset(X_train, y[train], X_test, y[test], task=self.task, n_classes=n_classes,
                       info={"path": str(path), "features": features,
                             "test_is_train": bool(is_test is None and self.test_fraction == 0)})

    @staticmethod
    def _resolve(path: str) -> Path:
        p = Path(path)
        if p.is_file():
            return p
        shipped = Path(__file__).resolve().parents[2] / "data" / path
        if not p.is_absolute() and shipped.is_file():
            return shipped
        if p.exists():
            raise SpecError(f"problem.path: {path!r} is not a file")
        raise SpecError(f"problem.path: no such file {path!r}")


def scale_columns(X_train: np.ndarray, X_test: np.ndarray,
                  mode: str = "standard") -> tuple[np.ndarray, np.ndarray]:
    """Both splits centred and scaled by the training split's statistics, per column.

    ``mode`` is ``"standard"`` (unit variance), ``"unit_length"`` (unit
    Euclidean norm of the centred training column) or ``"none"``. Each column
    is first divided by its largest training magnitude, so no statistic
    squares a huge value (a column of 1e160 scales like one of 1.6); constant
    columns become 0.
    """
    if mode == "none":
        return X_train, X_test
    scale = np.abs(X_train).max(axis=0)
    scale[scale == 0] = 1.0
    Xs, Ts = X_train / scale, X_test / scale
    mean = Xs.mean(axis=0)
    spread = (Xs.std(axis=0) if mode == "standard"
              else np.linalg.norm(Xs - mean, axis=0))
    spread[spread == 0] = 1.0
    return (Xs - mean) / spread, (Ts - mean) / spread


def _file_state(path: Path) -> tuple[str, int, int]:
    """What identifies a file's content for the cache: resolved path, mtime and size."""
    st = path.stat()
    return str(path.resolve()), st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=8)
def _read_table(path: str, mtime_ns: int, size: int, target: str, task: str,
                scaled: bool, split_column: str | None = None):
    """Features ``(n, d)``, targets ``(n,)``, feature names, the class count and the
    test rows of ``split_column`` (a boolean ``(n,)`` array, or ``None``), checked.

    Cached per file state, so validation and every cell of a process read the
    file once. Raises :class:`regsim.DataError` naming the file, the column and
    the first offending lines (line 1 is the header).
    """
    import pandas as pd

    source = path
    try:
        table = pd.read_csv(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as exc:
        raise DataError(f"{source}: cannot read as CSV: {str(exc).splitlines()[0]}") from None
    columns = [str(c) for c in table.columns]
    if target not in columns:
        shown = ", ".join(columns[:20]) + (", ..." if len(columns) > 20 else "")
        raise DataError(f"{source}: no target column {target!r}; columns: {shown}")
    is_test = None
    if split_column is not None:
        if split_column not in columns or split_column == target:
            raise DataError(f"{source}: no split column {split_column!r} (other than the "
                            f"target); columns: {', '.join(columns[:20])}")
        labels = table.pop(split_column).astype(str).str.strip().str.lower()
        bad = ~labels.isin(["train", "test"]).to_numpy()
        if bad.any():
            raise DataError(f"{source}: the split column {split_column!r} must hold 'train' or "
                            f"'test'; {first_rows(bad, np.arange(len(table)) + 2, 'line')} "
                            f"do not")
        is_test = (labels == "test").to_numpy()
        if is_test.all() or not is_test.any():
            raise DataError(f"{source}: the split column {split_column!r} must name at least "
                            f"one 'train' and one 'test' row")
        columns = [str(c) for c in table.columns]
    if len(columns) < 2:
        raise DataError(f"{source}: no feature columns besides the target {target!r}")
    if len(table) < 2:
        raise DataError(f"{source}: {len(table)} data rows; a train/test split needs at least 2")
    lines = np.arange(len(table)) + 2  # line 1 is the header
    y_raw = table.pop(target)
    features = [str(c) for c in table.columns]
    X = check_matrix(table.to_numpy(), "features", features, source, row_labels=lines,
                     row_word="line", squares=not scaled)
    missing = y_raw.isna().to_numpy()
    if missing.any():
        raise DataError(f"{source}: the target column {target!r} has missing values in "
                        f"{first_rows(missing, lines, 'line')}; remove those rows")
    if task == "classification":
        classes, y = np.unique(y_raw.to_numpy(), return_inverse=True)
        if len(classes) < 2:
            raise DataError(f"{source}: the target {target!r} has one class; classification "
                            f"needs at least 2")
        return X, y, features, len(classes), is_test
    y = check_matrix(y_raw.to_numpy()[:, None], "target", [target], source, row_labels=lines,
                     row_word="line")[:, 0]
    return X, y, features, None, is_test


class SoftmaxClassification(Problem):
    """Synthetic multinomial logistic data, shared by the bagging and dropout studies.

    Features are standard normal; ``W_true`` (d, C) has standard-normal entries
    times ``scale`` (larger: more separable classes); labels are drawn from
    ``softmax(x W_true)``. ``Dataset.w_true`` holds ``W_true``; ``y`` holds
    class indices ``0..C-1``.
    """

    name = "softmax_classification"
    task = "classification"
    params = {
        "n_train": Param(int, default=200, ge=2, doc="training rows"),
        "n_test": Param(int, default=1000, ge=1, doc="test rows"),
        "n_features": Param(int, default=16, ge=1, doc="number of features d"),
        "n_classes": Param(int, default=10, ge=2, doc="number of classes C"),
        "scale": Param(float, default=1.0, gt=0, doc="scale of the true weights (separability)"),
    }

    def generate(self, rng: np.random.Generator) -> Dataset:
        d, C = self.n_features, self.n_classes
        W = self.scale * rng.standard_normal((d, C))

        def draw(n):
            X = rng.standard_normal((n, d))
            logits = X @ W
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            # inverse-CDF sampling: one uniform per row, vectorised
            y = (p.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
            return X, np.minimum(y, C - 1)

        X, y = draw(self.n_train)
        X_test, y_test = draw(self.n_test)
        return Dataset(X, y, X_test, y_test, w_true=W, task="classification", n_classes=C)


@regsim.hookimpl
def register_problems(register):
    register(LinearRegression)
    register(CsvProblem)
    register(SoftmaxClassification)
