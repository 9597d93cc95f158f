"""Friedman's (1991) regression benchmarks #1, #2 and #3, as used by Breiman (1996).

Inputs are independent uniforms; targets are the three test functions plus
Gaussian noise, drawn from the cell's problem generator (so a cell's data do
not depend on scikit-learn's version or global state). The formulas match
``sklearn.datasets.make_friedman1/2/3``.

Noise levels (standard deviations) follow Breiman's "Bagging predictors"
(1996): #1 unit Gaussian noise; #2 and #3 noise giving a 3:1 ratio of signal
to noise standard deviation — the noiseless targets have standard deviations
of about 375 and 0.31, hence the defaults 125 and 0.1. Test targets carry the
same noise, so a test MSE includes the noise variance (Breiman's convention:
errors on a fresh noisy test set).
"""

from __future__ import annotations

import numpy as np

import regsim
from regsim import Dataset, Param, Problem


def friedman1(X: np.ndarray) -> np.ndarray:
    """10 sin(π x₁x₂) + 20 (x₃ − ½)² + 10 x₄ + 5 x₅ (later columns are irrelevant)."""
    return (10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 20 * (X[:, 2] - 0.5) ** 2
            + 10 * X[:, 3] + 5 * X[:, 4])


def _friedman2_inputs(rng: np.random.Generator, n: int) -> np.ndarray:
    X = rng.random((n, 4))
    X[:, 0] *= 100
    X[:, 1] = 40 * np.pi + X[:, 1] * 520 * np.pi
    X[:, 3] = 1 + X[:, 3] * 10
    return X


def friedman2(X: np.ndarray) -> np.ndarray:
    """(x₁² + (x₂x₃ − 1/(x₂x₄))²)^½ with x₁∈[0,100], x₂∈[40π,560π], x₃∈[0,1], x₄∈[1,11]."""
    return np.sqrt(X[:, 0] ** 2 + (X[:, 1] * X[:, 2] - 1 / (X[:, 1] * X[:, 3])) ** 2)


def friedman3(X: np.ndarray) -> np.ndarray:
    """arctan((x₂x₃ − 1/(x₂x₄)) / x₁), inputs as for #2."""
    return np.arctan((X[:, 1] * X[:, 2] - 1 / (X[:, 1] * X[:, 3])) / X[:, 0])


_COMMON = {
    "n_train": Param(int, default=200, ge=2, doc="training rows (Breiman: 200)"),
    "n_test": Param(int, default=1000, ge=1, doc="test rows (Breiman: 1000)"),
}


class Friedman1(Problem):
    """Friedman #1: ``n_features`` ≥ 5 uniforms on [0, 1], only the first five matter."""

    name = "friedman1"
    task = "regression"
    params = {**_COMMON,
              "n_features": Param(int, default=10, ge=5, doc="inputs (Breiman: 10)"),
              "noise": Param(float, default=1.0, ge=0, doc="noise standard deviation (Breiman: 1)")}

    def generate(self, rng):
        X = rng.random((self.n_train, self.n_features))
        X_test = rng.random((self.n_test, self.n_features))
        return _noisy(rng, X, X_test, friedman1, self.noise, "friedman1")


class Friedman2(Problem):
    """Friedman #2: four inputs on the ranges of :func:`friedman2`."""

    name = "friedman2"
    task = "regression"
    params = {**_COMMON,
              "noise": Param(float, default=125.0, ge=0,
                             doc="noise standard deviation (Breiman: 3:1 signal to noise, ~125)")}

    def generate(self, rng):
        X, X_test = _friedman2_inputs(rng, self.n_train), _friedman2_inputs(rng, self.n_test)
        return _noisy(rng, X, X_test, friedman2, self.noise, "friedman2")


class Friedman3(Problem):
    """Friedman #3: inputs as #2, target :func:`friedman3`."""

    name = "friedman3"
    task = "regression"
    params = {**_COMMON,
              "noise": Param(float, default=0.1, ge=0,
                             doc="noise standard deviation (Breiman: 3:1 signal to noise, ~0.1)")}

    def generate(self, rng):
        X, X_test = _friedman2_inputs(rng, self.n_train), _friedman2_inputs(rng, self.n_test)
        return _noisy(rng, X, X_test, friedman3, self.noise, "friedman3")


def _noisy(rng, X, X_test, f, noise, name) -> Dataset:
    y = f(X) + noise * rng.standard_normal(X.shape[0])
    y_test = f(X_test) + noise * rng.standard_normal(X_test.shape[0])
    return Dataset(X, y, X_test, y_test, info={"function": name, "noise": noise})


@regsim.hookimpl
def register_problems(register):
    for cls in (Friedman1, Friedman2, Friedman3):
        register(cls)
