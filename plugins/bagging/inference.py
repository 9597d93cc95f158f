"""Inference strategies for bagged ensembles: arithmetic mean, geometric mean, majority vote.

Each combines, for column ``j`` of a group, the first ``k[j]`` members of a
:class:`~regsim.plugins.bagging.ensembler.BaggedEnsemble`. Prefixes come from one
cumulative sum over the member axis, so every ``k = 1..k_max`` of a path
costs about as much as ``k_max`` alone.

Members expose predictions ``(n, K, m)`` for regression and class
probabilities ``(n, K, m, C)`` for classification; every strategy returns
``(n, m)`` or ``(n, m, C)`` like any fit.
"""

from __future__ import annotations

import numpy as np

import regsim
from regsim import InferenceStrategy

#: Probabilities are clipped here before logarithms (as scikit-learn's ``log_loss``):
#: an unpruned tree gives exact zeros, which would veto a class in a geometric mean.
PROBABILITY_FLOOR = 1e-15


def prefix_mean(members: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Mean of the first ``k[j]`` members for every column ``j``.

    Parameters
    ----------
    members : ndarray, shape (n, K, m) or (n, K, m, C)
    k : ndarray of int, shape (m,), each in ``1..K``

    Returns
    -------
    ndarray, shape (n, m) or (n, m, C)
    """
    total = np.cumsum(members, axis=1)
    m = members.shape[2]
    picked = total[:, k - 1, np.arange(m)]  # (n, m[, C])
    return picked / k.reshape((1, m) + (1,) * (picked.ndim - 2))


class ArithmeticMean(InferenceStrategy):
    """The seed's p(y|x) = (1/k) Σᵢ pᵢ(y|x): the mean of member predictions or probabilities."""

    name = "arithmetic_mean"
    accepts = ("bagging",)
    params = {}

    def predict(self, ensemble, X):
        return prefix_mean(ensemble.member_predictions(X), ensemble.k)


class GeometricMean(InferenceStrategy):
    """Normalised geometric mean of member probabilities: p̃(y|x) ∝ (Πᵢ pᵢ(y|x))^(1/k).

    Probabilities are clipped at ``PROBABILITY_FLOOR`` first. For regression a
    member's prediction is read as the mean of a Gaussian density with a
    common variance; the normalised geometric mean of such densities is the
    Gaussian with the mean of the means, so the prediction is the arithmetic
    mean. (Named ``geometric_mean`` for bagged ensembles; dropout's strategies
    carry their own names.)
    """

    name = "geometric_mean"
    accepts = ("bagging",)
    params = {}

    def predict(self, ensemble, X):
        members = ensemble.member_predictions(X)
        if members.ndim == 3:
            return prefix_mean(members, ensemble.k)
        log_mean = prefix_mean(np.log(np.clip(members, PROBABILITY_FLOOR, 1.0)), ensemble.k)
        log_mean -= log_mean.max(axis=2, keepdims=True)  # stable normalisation
        p = np.exp(log_mean)
        return p / p.sum(axis=2, keepdims=True)


class MajorityVote(InferenceStrategy):
    """Each member votes for its most probable class; the prediction is the vote shares.

    Returns ``(n, m, C)`` shares of the first ``k`` members' votes, so the
    most probable class is the majority (ties go to the lowest class index, as
    ``argmax``) and ``log_loss`` scores the shares. Classification only.
    """

    name = "majority_vote"
    accepts = ("bagging",)
    tasks = ("classification",)
    params = {}

    def predict(self, ensemble, X):
        members = ensemble.member_predictions(X)
        if members.ndim == 3:
            raise ValueError("inference.majority_vote: needs class probabilities (a classification "
                             "task); for regression use arithmetic_mean")
        votes = np.eye(members.shape[3])[members.argmax(axis=3)]  # (n, K, m, C) one-hot
        return prefix_mean(votes, ensemble.k)


@regsim.hookimpl
def register_inference_strategies(register):
    for cls in (ArithmeticMean, GeometricMean, MajorityVote):
        register(cls)
