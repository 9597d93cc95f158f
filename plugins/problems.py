"""Built-in problems: synthetic linear regression and a real table from a CSV file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import regsim
from regsim import Dataset, Param, Problem, SpecError


class LinearRegression(Problem):
    """Synthetic ``y = X w_true + noise·ε`` with a controlled feature covariance.

    Designs
    -------
    geometric
        Covariance ``U diag(s) Uᵀ`` with a random rotation ``U`` and eigenvalues
        ``s_i = condition^(-i/(d-1))`` (largest 1, condition number ``condition``).
    orthogonal
        The training design is built so that ``XcᵀXc/n = diag(h)`` exactly, with
        ``h`` geometric as above: H is diagonal, where the L1 soft-threshold
        theory is exact. Needs ``n_train > n_features``.
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
    }

    def generate(self, rng: np.random.Generator) -> Dataset:
        n, n_test, d = self.n_train, self.n_test, self.n_features
        k = max(1, math.ceil(self.sparsity * d))
        w_true = np.zeros(d)
        w_true[rng.choice(d, size=k, replace=False)] = self.w_scale * rng.standard_normal(k)
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

    Rows are split into train and test by a permutation drawn from the cell's
    seed. With ``standardize`` (default) features are scaled to zero mean and
    unit variance using the training split's statistics only. A relative
    ``path`` is resolved against the working directory, then against the
    installed project's ``data/`` directory (which ships ``diabetes.csv``).
    """

    name = "csv"
    task_param = "task"
    params = {
        "path": Param(str, doc="CSV file (header row required)"),
        "target": Param(str, doc="name of the target column"),
        "task": Param(str, default="regression", choices=("regression", "classification")),
        "standardize": Param(bool, default=True, doc="scale features on the training split"),
        "test_fraction": Param(float, default=0.25, gt=0, lt=1, doc="share of rows held out"),
    }
    #: Valid values for the required parameters (used by regsim.testing and `plugins --check`).
    example_params = {"path": "diabetes.csv", "target": "target"}

    def generate(self, rng: np.random.Generator) -> Dataset:
        import pandas as pd

        path = self._resolve(self.path)
        table = pd.read_csv(path)
        if self.target not in table.columns:
            raise SpecError(f"problem.target: no column {self.target!r} in {path}; "
                            f"columns: {', '.join(map(str, table.columns))}")
        y_raw = table.pop(self.target)
        X = table.to_numpy(dtype=float)
        if self.task == "classification":
            classes, y = np.unique(y_raw.to_numpy(), return_inverse=True)
            n_classes = len(classes)
        else:
            y, n_classes = y_raw.to_numpy(dtype=float), None
        order = rng.permutation(len(y))
        n_test = max(1, int(round(self.test_fraction * len(y))))
        test, train = order[:n_test], order[n_test:]
        X_train, X_test = X[train], X[test]
        if self.standardize:
            mean, std = X_train.mean(axis=0), X_train.std(axis=0)
            std[std == 0] = 1.0
            X_train, X_test = (X_train - mean) / std, (X_test - mean) / std
        return Dataset(X_train, y[train], X_test, y[test], task=self.task, n_classes=n_classes,
                       info={"path": str(path), "features": list(table.columns)})

    @staticmethod
    def _resolve(path: str) -> Path:
        p = Path(path)
        if p.exists():
            return p
        shipped = Path(__file__).resolve().parents[1] / "data" / path
        if not p.is_absolute() and shipped.exists():
            return shipped
        raise SpecError(f"problem.path: no such file {path!r}")


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
