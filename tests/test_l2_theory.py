"""L2 with least squares reproduces the seed's closed form, and gradient descent
converges to it below the step bound 2/(λ_max+α) and is reported diverged above it.

Oracles: w̃ = Q(Λ+αI)⁻¹ΛQᵀw* computed here with NumPy from X and y, and
scikit-learn's Ridge. Rows come from the real runner (spec -> cells -> rows).
"""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

import regsim
from regsim.runner import run_cells

from oracles import cell_data, least_squares_model, rel_err

ALPHAS = {"logspace": [-4, 3, 100]}  # a 100-point path


def _l2_rows(problem, learner=None, alpha=ALPHAS, seed=7):
    spec = regsim.load_spec({
        "name": "l2-test", "seeds": [seed],
        "problem": {"plugin": "linear_regression", **problem},
        "learner": learner or {"plugin": "least_squares"},
        "penalty": {"plugin": "l2", "alpha": alpha},
        "metrics": ["coefficients", "shrinkage", "theory_gap", "test_mse"],
    })
    return spec, run_cells(spec.cells, sweep="l2-test", run_id="test")


@pytest.mark.parametrize("design", ["geometric", "toeplitz"])
def test_least_squares_equals_eigen_closed_form_on_100_alphas(design):
    spec, rows = _l2_rows({"n_train": 150, "n_features": 25, "design": design,
                           "condition": 1e4, "noise": 0.5})
    assert len(rows) == 100 and len({c.group for c in spec.cells}) == 1  # one batched fit
    data = cell_data(spec.cells[0])
    _, _, H, w_star = least_squares_model(data.X_train, data.y_train)
    lam, Q = np.linalg.eigh(H)
    for row in rows:
        alpha = row["penalty.alpha"]
        expected = Q @ np.diag(lam / (lam + alpha)) @ Q.T @ w_star
        assert row["status"] == "ok"
        assert rel_err(row["w"], expected) < 1e-10, alpha
        # the shrinkage list columns are the per-direction factors λᵢ/(λᵢ+α)
        np.testing.assert_allclose(row["shrinkage_theory"], lam / (lam + alpha), rtol=1e-10)
        np.testing.assert_allclose(row["shrinkage_measured"], lam / (lam + alpha), rtol=1e-8)
        assert row["theory_gap"] < 1e-10


def test_least_squares_equals_sklearn_ridge_with_alpha_times_n():
    # J = (1/2n)||y - Xw||² + (α/2)||w||²  multiplied by 2n is Ridge's
    # ||y - Xw||² + (nα)||w||²: scikit-learn's Ridge alpha is n·α.
    spec, rows = _l2_rows({"n_train": 120, "n_features": 15, "condition": 100, "noise": 1.0})
    data = cell_data(spec.cells[0])
    n = data.X_train.shape[0]
    intercept_of = lambda w: data.y_train.mean() - data.X_train.mean(axis=0) @ w  # noqa: E731
    for row in rows:
        ridge = Ridge(alpha=n * row["penalty.alpha"], fit_intercept=True, solver="svd",
                      tol=1e-14).fit(data.X_train, data.y_train)
        assert rel_err(row["w"], ridge.coef_) < 1e-10
        assert abs(intercept_of(np.array(row["w"])) - ridge.intercept_) < 1e-10
        pred = ridge.predict(data.X_test)
        assert row["test_mse"] == pytest.approx(np.mean((pred - data.y_test) ** 2), rel=1e-10)


def test_gradient_descent_converges_below_the_step_bound():
    # orthogonal design: H = diag(h) exactly with λ_max = 1, so 2/(λ_max+α) = 2/(1+α)
    alphas = [0.01, 0.1, 1.0]
    step = 0.9 * 2 / (1 + max(alphas))  # below the bound for every α
    spec, rows = _l2_rows({"n_train": 100, "n_features": 8, "design": "orthogonal",
                           "condition": 10}, {"plugin": "gradient_descent", "step": step,
                                              "n_steps": 2000}, alpha=alphas)
    data = cell_data(spec.cells[0])
    _, _, H, w_star = least_squares_model(data.X_train, data.y_train)
    assert np.linalg.eigvalsh(H).max() == pytest.approx(1.0, rel=1e-12)
    for row in rows:
        closed = np.linalg.solve(H + row["penalty.alpha"] * np.eye(8), H @ w_star)
        assert row["status"] == "ok", row["error"]
        assert rel_err(row["w"], closed) < 1e-10  # contraction ≤ 1 - step·(λ_min+α) per step
        trace = np.array(row["objective_trace"])
        assert np.all(np.diff(trace) <= 1e-12)  # a descent method below the bound


@pytest.mark.parametrize("factor, n_steps", [(1.5, 2000), (1.001, 1000)])
def test_gradient_descent_above_the_bound_is_reported_diverged(factor, n_steps):
    alphas = [0.1, 0.5]
    step = factor * 2 / (1 + min(alphas))  # above 2/(λ_max+α) for both α
    spec, rows = _l2_rows({"n_train": 100, "n_features": 8, "design": "orthogonal",
                           "condition": 10}, {"plugin": "gradient_descent", "step": step,
                                              "n_steps": n_steps}, alpha=alphas)
    for row in rows:
        assert row["status"] == "diverged"
        assert "diverged" in row["error"] and "2/(λ_max+α)" in row["error"]
        if factor > 1.1:  # fast growth: caught by measuring |w|, not by the bound
            assert row["error"].startswith("diverged at step")
        for col in ("w", "test_mse", "theory_gap", "shrinkage_measured", "n_iter"):
            assert row[col] is None, col  # null metrics, not NaN or inf


def test_gradient_descent_with_l1_is_refused_and_pointed_to_proximal_gradient():
    # the sign sub-gradient never settles (an oscillation of about step·α, no exact
    # zeros): the pairing is refused at validation; tests/test_solver_status.py has the rest
    with pytest.raises(regsim.SpecError, match="proximal_gradient"):
        regsim.load_spec({
            "name": "gd-l1", "seeds": [0],
            "problem": {"plugin": "linear_regression", "n_train": 100, "n_features": 8},
            "learner": {"plugin": "gradient_descent", "n_steps": 500},
            "penalty": {"plugin": "l1", "alpha": [0.01, 1.0, 100.0]}, "metrics": ["test_mse"]})
