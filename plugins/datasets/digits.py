"""``digits``: scikit-learn's handwritten digits, 8×8 grey-level images of 0-9 (classification).

The 1,797 images ship inside scikit-learn (``sklearn.datasets.load_digits``,
the UCI optical-recognition test set): no download. Each row is the 64 pixel
intensities 0..16 of one image, row by row; the label is the digit.
"""

from __future__ import annotations

import numpy as np

import regsim
from regsim import Dataset, Param, Problem, SpecError

from .problems import scale_columns

__all__ = ["Digits", "load_digit_images"]


def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(1797, 64)`` as floats in 0..16 and labels ``(1797,)`` in 0..9."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data.astype(float), bunch.target.astype(int)


class Digits(Problem):
    """Handwritten digits (8×8 pixels, 10 classes), split at random by the cell's seed.

    Split: a permutation drawn from the problem generator holds out
    ``test_fraction`` of the 1,797 images; ``n_train`` (if given) keeps only the
    first ``n_train`` of the remaining ones. Scaling, with statistics of the
    training split only: ``unit_interval`` (default) divides the intensities by
    16, so every pixel lies in [0, 1] and the Gaussian input noise σ of the
    network learners is in units of full-scale intensity; ``standard`` gives
    zero mean and unit variance per pixel (always-blank pixels become 0, see
    :func:`regsim.plugins.datasets.problems.scale_columns`); ``none`` keeps 0..16.
    """

    name = "digits"
    task = "classification"
    #: Every image has 64 pixels (lets validation size exact dropout ensembles).
    fixed_n_features = 64
    params = {
        "test_fraction": Param(float, default=0.25, gt=0, lt=1,
                               doc="share of the 1,797 images held out at random"),
        "n_train": Param(int, default=None, ge=10, nullable=True,
                         doc="training images kept from the rest (null: all)"),
        "scale": Param(str, default="unit_interval",
                       choices=("unit_interval", "standard", "none"),
                       doc="pixels / 16 in [0, 1], z-scores per pixel, or raw 0..16"),
    }

    def generate(self, rng: np.random.Generator) -> Dataset:
        X, y = load_digit_images()
        order = rng.permutation(len(y))
        n_test = max(1, int(round(self.test_fraction * len(y))))
        test, train = order[:n_test], order[n_test:]
        if self.n_train is not None:
            if self.n_train > len(train):
                raise SpecError(f"problem.n_train: at most {len(train)} images remain for "
                                f"training with test_fraction {self.test_fraction:g}, "
                                f"got {self.n_train}")
            train = train[:self.n_train]
        if self.scale == "unit_interval":
            X_train, X_test = X[train] / 16.0, X[test] / 16.0
        else:
            X_train, X_test = scale_columns(X[train], X[test], self.scale)
        return Dataset(X_train, y[train], X_test, y[test], task="classification", n_classes=10,
                       info={"features": [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]})


@regsim.hookimpl
def register_problems(register):
    register(Digits)
