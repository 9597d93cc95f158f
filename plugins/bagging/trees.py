"""The ``tree`` learner: a CART regression / classification tree (scikit-learn).

Trees are Breiman's example of an unstable learner, the kind bagging helps.
scikit-learn does the fitting; it is the optional extra ``regsim[trees]``.
A tree takes no parameter-norm penalty: pair it with ``penalty: {plugin: none}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import regsim
from regsim import Dataset, Fit, Learner, Param


def _sklearn_tree():
    try:
        from sklearn import tree
    except ImportError:
        raise ImportError("learner.tree: needs scikit-learn, the optional extra 'trees': "
                          "pip install 'regsim[trees]'") from None
    return tree


@dataclass
class TreeFit(Fit):
    """A fitted tree, repeated for the ``m`` columns of its (identically zero) penalty.

    ``predict`` returns ``(n, m)`` values for regression and ``(n, m, C)`` class
    probabilities for classification, with a zero column for every class absent
    from the training rows (a bootstrap resample may miss a class).
    """

    model: object = None
    n_classes: int | None = None

    def predict(self, X):
        if self.n_classes is None:
            return np.repeat(self.model.predict(X)[:, None], self.m, axis=1)
        proba = np.zeros((X.shape[0], self.n_classes))
        proba[:, self.model.classes_.astype(int)] = self.model.predict_proba(X)
        return np.repeat(proba[:, None, :], self.m, axis=1)


class Tree(Learner):
    """A CART tree: ``DecisionTreeRegressor`` (squared error) or ``DecisionTreeClassifier`` (Gini).

    Unpruned by default, as the members of Breiman's bagging are grown deep.
    Its randomness (feature order, ``max_features``, ``splitter: random``) is
    seeded from the cell's learner generator (or the member's, under bagging).
    """

    name = "tree"
    tasks = ("regression", "classification")
    params = {
        "max_depth": Param(int, default=None, ge=1, nullable=True, doc="depth limit (null: none)"),
        "min_samples_split": Param(int, default=2, ge=2, doc="rows needed to split a node"),
        "min_samples_leaf": Param(int, default=1, ge=1, doc="rows needed in each leaf"),
        "max_features": Param(float, default=None, gt=0, le=1, nullable=True,
                              doc="fraction of features tried per split (null: all)"),
        "splitter": Param(str, default="best", choices=("best", "random"), doc="split search"),
    }

    @classmethod
    def accepts(cls, penalty):
        if getattr(penalty, "identically_zero", False):
            return None
        return "a tree takes no parameter-norm penalty; use penalty: {plugin: none}"

    def fit(self, data: Dataset, penalty, rng: np.random.Generator) -> TreeFit:
        tree = _sklearn_tree()
        kwargs = dict(max_depth=self.max_depth, min_samples_split=self.min_samples_split,
                      min_samples_leaf=self.min_samples_leaf, max_features=self.max_features,
                      splitter=self.splitter, random_state=int(rng.integers(2**31 - 1)))
        m = penalty.batch_size
        if data.task == "classification":
            model = tree.DecisionTreeClassifier(**kwargs).fit(data.X_train, data.y_train)
            n_classes = data.n_classes or int(np.max(data.y_train)) + 1
            return TreeFit(m=m, model=model, n_classes=n_classes)
        model = tree.DecisionTreeRegressor(**kwargs).fit(data.X_train, data.y_train)
        return TreeFit(m=m, model=model)


@regsim.hookimpl
def register_learners(register):
    register(Tree)
