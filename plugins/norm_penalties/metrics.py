"""Built-in metrics for linear models: errors, sparsity and the theory side by side.

Each metric returns, per output column, one value per cell of the group; a
metric that does not apply (no linear weights, no theory, a classification
task) returns ``None`` for its columns, stored as nulls.
"""

from __future__ import annotations

import numpy as np

import regsim
from regsim import Evaluation, Metric


def _regression(ev: Evaluation) -> bool:
    return ev.data.task == "regression"


class TrainMSE(Metric):
    """Mean squared error on the training rows."""

    name = "train_mse"
    tasks = ("regression",)
    default = True
    columns = {"train_mse": "float"}

    def compute(self, ev):
        if not _regression(ev):
            return {}
        return {"train_mse": np.mean((ev.train_prediction - ev.data.y_train[:, None]) ** 2, axis=0)}


class TestMSE(Metric):
    """Mean squared error on the held-out rows."""

    name = "test_mse"
    tasks = ("regression",)
    default = True
    columns = {"test_mse": "float"}

    def compute(self, ev):
        if not _regression(ev):
            return {}
        return {"test_mse": np.mean((ev.test_prediction - ev.data.y_test[:, None]) ** 2, axis=0)}


class WeightError(Metric):
    """‖w̃ − w_true‖ (synthetic problems with linear fits)."""

    name = "weight_error"
    default = True
    columns = {"weight_error": "float"}

    def compute(self, ev):
        if ev.weights is None or ev.data.w_true is None:
            return {}
        return {"weight_error": np.linalg.norm(ev.weights - ev.data.w_true[:, None], axis=0)}


class Sparsity(Metric):
    """Fraction of weights that are exactly zero."""

    name = "sparsity"
    default = True
    columns = {"sparsity": "float"}

    def compute(self, ev):
        if ev.weights is None:
            return {}
        return {"sparsity": np.mean(ev.weights == 0.0, axis=0)}


#: Where the penalties' theory (``Penalty.theory``: L2's λᵢ/(λᵢ+α), L1's soft threshold)
#: is stated: a single linear fit (no ensemble) on a regression task. The learner's
#: loss must also be quadratic, which the learner itself declares by returning its
#: :class:`~regsim.Quadratic` from ``quadratic(data)`` (the least-squares learners;
#: not trees or networks), so any third-party least-squares learner qualifies
#: without a list of names. L2's prediction is then exact; L1's soft threshold is
#: exact only where H is diagonal (``problem.design: orthogonal``) and elsewhere is
#: the seed's *prediction*, kept in the columns so ``theory_gap`` can measure it.
PENALTY_THEORY = {"ensembler": (None,), "task": ("regression",)}


class TheoryGap(Metric):
    """‖w̃ − w̃_theory‖ / ‖w̃_theory‖: how far the measured optimum is from the seed's prediction.

    Where the theory predicts exactly zero weights the denominator is ‖w*‖ instead.
    Stated where the penalty's theory is (a single least-squares fit); for L1
    off a diagonal H it is the measured gap of an approximation, a result.
    """

    name = "theory_gap"
    default = True
    columns = {"theory_gap": "float"}
    holds_for = {"theory_gap": PENALTY_THEORY}

    def compute(self, ev):
        if ev.weights is None or ev.theory is None:
            return {}
        W_th = ev.theory
        denom = np.linalg.norm(W_th, axis=0)
        denom = np.where(denom > 0, denom, np.linalg.norm(ev.quadratic.w_star))
        with np.errstate(invalid="ignore", divide="ignore"):
            return {"theory_gap": np.linalg.norm(ev.weights - W_th, axis=0) / denom}


class Shrinkage(Metric):
    """Per eigen-direction of H: measured (qᵢᵀw̃)/(qᵢᵀw*) and the theory's value.

    For L2 the theory is λᵢ/(λᵢ+α). Lists are ordered by ascending eigenvalue,
    which ``eigenvalues`` holds; directions where qᵢᵀw* = 0 are NaN.
    """

    name = "shrinkage"
    default = True
    columns = {"eigenvalues": "list", "shrinkage_measured": "list", "shrinkage_theory": "list"}
    holds_for = {"shrinkage_theory": PENALTY_THEORY}

    def compute(self, ev):
        if ev.weights is None or ev.quadratic is None:
            return {}
        lam, Q = ev.quadratic.eig
        along = Q.T @ ev.quadratic.w_star
        safe = np.where(along != 0, along, np.nan)[:, None]
        out = {"eigenvalues": np.broadcast_to(lam, (ev.m, lam.size)),
               "shrinkage_measured": ((Q.T @ ev.weights) / safe).T}
        if ev.theory is not None:
            out["shrinkage_theory"] = ((Q.T @ ev.theory) / safe).T
        return out


class Coefficients(Metric):
    """The vectors behind the numbers: w̃, w*, the theory's w̃ and diag(H)."""

    name = "coefficients"
    default = True
    columns = {"w": "list", "w_star": "list", "w_theory": "list", "h_diag": "list"}
    holds_for = {"w_theory": PENALTY_THEORY}

    def compute(self, ev):
        if ev.weights is None:
            return {}
        out = {"w": ev.weights.T}
        if ev.quadratic is not None:
            out["w_star"] = np.broadcast_to(ev.quadratic.w_star, (ev.m, ev.data.n_features))
            out["h_diag"] = np.broadcast_to(np.diag(ev.quadratic.H), (ev.m, ev.data.n_features))
        if ev.theory is not None:
            out["w_theory"] = ev.theory.T
        return out


class R2(Metric):
    """Coefficient of determination on the held-out rows: 1 − Σ(y − ŷ)² / Σ(y − ȳ)².

    ȳ is the mean of the held-out targets (scikit-learn's ``r2_score``). With
    a ``csv`` problem's ``test_fraction: 0`` the held-out rows are the training rows.
    """

    name = "r2"
    columns = {"r2": "float"}

    def compute(self, ev):
        if not _regression(ev):
            return {}
        y = ev.data.y_test
        total = np.sum((y - y.mean()) ** 2)
        if total == 0:
            return {}
        return {"r2": 1.0 - np.sum((ev.test_prediction - y[:, None]) ** 2, axis=0) / total}


class Intercept(Metric):
    """The fitted intercept of a linear model (unpenalised: ȳ − x̄ᵀw̃ on the training rows)."""

    name = "intercept"
    columns = {"intercept": "float"}

    def compute(self, ev):
        intercept = getattr(ev.fit, "intercept", None)
        if ev.weights is None or intercept is None:
            return {}
        return {"intercept": np.broadcast_to(np.asarray(intercept, dtype=float), (ev.m,))}


class Accuracy(Metric):
    """Classification: share of test rows whose most probable class is the label."""

    name = "accuracy"
    tasks = ("classification",)
    default = True
    columns = {"accuracy": "float"}

    def compute(self, ev):
        if ev.data.task != "classification":
            return {}
        P = ev.test_prediction  # (n, m, C)
        return {"accuracy": np.mean(P.argmax(axis=2) == ev.data.y_test[:, None], axis=0)}


class LogLoss(Metric):
    """Classification: mean negative log-probability of the test labels (probabilities
    clipped at 1e-15, as scikit-learn's ``log_loss``)."""

    name = "log_loss"
    tasks = ("classification",)
    default = True
    columns = {"log_loss": "float"}

    def compute(self, ev):
        if ev.data.task != "classification":
            return {}
        P = ev.test_prediction
        y = ev.data.y_test
        p_true = P[np.arange(len(y)), :, y]  # (n, m)
        return {"log_loss": -np.mean(np.log(np.clip(p_true, 1e-15, 1.0)), axis=0)}


@regsim.hookimpl
def register_metrics(register):
    for cls in (TrainMSE, TestMSE, WeightError, Sparsity, TheoryGap, Shrinkage, Coefficients,
                R2, Intercept, Accuracy, LogLoss):
        register(cls)
