"""Bagging metrics: the ensemble's error next to the seed's v/k + (k−1)c/k.

Member errors on the test set: εᵢ(x) = fᵢ(x) − y(x) for regression; for
classification the probability error εᵢ(x) = pᵢ(·|x) − onehot(y(x)), a
vector over classes whose products below are dot products (the squared
error is then the Brier score, summed over classes).

For the first ``k`` members of a column::

    v = meanᵢ mean_x ‖εᵢ‖²                 (mean member squared error)
    c = mean_{i≠j} mean_x εᵢ·εⱼ            (mean pairwise error covariance)
    mean_x ‖meanᵢ εᵢ‖² = v/k + (k−1)c/k    (an identity on these empirical moments)

``v`` and ``c`` come from the members' error Gram matrix; the left-hand side
from the averaged errors themselves, so the two are computed independently.
``c`` is undefined (NaN) for ``k = 1``, where the theory is ``v``.
"""

from __future__ import annotations

import numpy as np

import regsim
from regsim import Metric


def member_errors(ensemble, data) -> np.ndarray:
    """Test errors per member and penalty setting: ``(n, K, u, C)`` (``C = 1`` for regression)."""
    P = ensemble.setting_predictions(data.X_test)
    if P.ndim == 3:
        return (P - data.y_test[:, None, None])[..., None]
    target = np.eye(P.shape[3])[data.y_test]  # (n, C) one-hot
    return P - target[:, None, None, :]


def error_moments(E: np.ndarray, k: np.ndarray, setting: np.ndarray) -> dict[str, np.ndarray]:
    """``v``, ``c`` and the averaged-error squared error for every column.

    Parameters
    ----------
    E : ndarray, shape (n, K, u, C)
        Member errors per penalty setting.
    k, setting : ndarray of int, shape (m,)
        Ensemble size and penalty setting of every column.

    Returns
    -------
    dict of (m,) arrays: ``v``, ``c``, ``theory`` (v/k + (k−1)c/k) and
    ``mean_error`` (mean_x ‖mean of the first k errors‖²).
    """
    n = E.shape[0]
    flat = E.transpose(2, 1, 0, 3).reshape(E.shape[2], E.shape[1], -1)  # (u, K, n·C)
    gram = flat @ flat.transpose(0, 2, 1) / n  # (u, K, K): mean_x εᵢ·εⱼ
    block_sum = gram.cumsum(axis=1).cumsum(axis=2)  # sum over the leading k×k block
    diag_sum = np.diagonal(gram, axis1=1, axis2=2).cumsum(axis=1)  # (u, K)
    total = block_sum[setting, k - 1, k - 1]
    trace = diag_sum[setting, k - 1]
    v = trace / k
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(k > 1, (total - trace) / (k * (k - 1.0)), np.nan)
    theory = np.where(k > 1, v / k + (k - 1) * np.nan_to_num(c) / k, v)
    summed = E.cumsum(axis=1)[:, k - 1, setting, :]  # (n, m, C): Σ of the first k errors
    mean_error = np.mean(np.sum(summed ** 2, axis=2), axis=0) / k ** 2
    return {"v": v, "c": c, "theory": theory, "mean_error": mean_error}


class BaggingMoments(Metric):
    """Ensemble error, mean member error, v, c, c/v and the theory v/k + (k−1)c/k.

    Columns
    -------
    ensemble_error
        Test squared error of the ensemble through its inference strategy
        (regression MSE; classification Brier score of the combined probabilities).
    mean_ensemble_error
        The same for the arithmetic mean of the first k members: the quantity
        the theory predicts (equal to ``ensemble_error`` under ``arithmetic_mean``).
    member_error
        Mean member test error: MSE (= v) for regression, misclassification
        rate for classification.
    bagging_v, bagging_c, bagging_c_over_v, bagging_theory
        The measured moments, their ratio (the error correlation) and v/k + (k−1)c/k.

    Where the theory holds: v/k + (k−1)c/k is the error of the members'
    *arithmetic mean*, so ``bagging_theory`` predicts ``ensemble_error`` only
    under ``arithmetic_mean``, and under ``geometric_mean`` for regression,
    whose normalised geometric mean of equal-variance Gaussians is the
    arithmetic mean of the predictions (the same numbers). Under any other
    strategy (``majority_vote``, a plugin's ``median`` or ``trimmed_mean``,
    ``geometric_mean`` of class probabilities) the column is null.
    """

    name = "bagging_moments"
    default = True
    columns = {"ensemble_error": "float", "mean_ensemble_error": "float", "member_error": "float",
               "bagging_v": "float", "bagging_c": "float", "bagging_c_over_v": "float",
               "bagging_theory": "float"}
    holds_for = {"bagging_theory": ({"inference": ("arithmetic_mean",)},
                                    {"inference": ("geometric_mean",), "task": ("regression",)})}

    def compute(self, ev):
        ens = ev.ensemble
        if ens is None or ens.kind != "bagging":
            return {}
        E = member_errors(ens, ev.data)
        mom = error_moments(E, ens.k, ens.setting)
        pred = ev.test_prediction
        if ev.data.task == "regression":
            ensemble_error = np.mean((pred - ev.data.y_test[:, None]) ** 2, axis=0)
            member_error = mom["v"]
        else:
            target = np.eye(pred.shape[2])[ev.data.y_test]
            ensemble_error = np.mean(np.sum((pred - target[:, None, :]) ** 2, axis=2), axis=0)
            P = ens.setting_predictions(ev.data.X_test)  # (n, K, u, C)
            wrong = (P.argmax(axis=3) != ev.data.y_test[:, None, None]).mean(axis=0)  # (K, u)
            member_error = np.cumsum(wrong, axis=0)[ens.k - 1, ens.setting] / ens.k
        with np.errstate(invalid="ignore", divide="ignore"):
            c_over_v = mom["c"] / mom["v"]
        return {"ensemble_error": ensemble_error, "mean_ensemble_error": mom["mean_error"],
                "member_error": member_error, "bagging_v": mom["v"], "bagging_c": mom["c"],
                "bagging_c_over_v": c_over_v, "bagging_theory": mom["theory"]}


@regsim.hookimpl
def register_metrics(register):
    register(BaggingMoments)
