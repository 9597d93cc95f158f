"""Published numbers through a spec alone (issue 13 §3).

Oracles: scikit-learn's ``load_diabetes(scaled=True)`` (columns centred and of
unit length, Efron et al. 2004) with ``LinearRegression``, ``lars_path`` and
``Ridge`` (regsim's α is Lasso's α; Ridge's is ``n·α``); ``r2_score``; the
soft threshold computed from ``numpy.linalg.lstsq`` for an orthogonal design
with a given diagonal.
"""

import re

import numpy as np
import pandas as pd
import pytest

import regsim
from regsim.runner import rngs_for, run_cells

DIABETES = {"plugin": "csv", "path": "diabetes.csv", "target": "target",
            "scale": "unit_length", "test_fraction": 0}
#: The lasso entry order of Efron et al. (2004), Figure 1 / Table 1.
PUBLISHED_ORDER = ["bmi", "s5", "bp", "s3", "sex", "s6", "s1", "s4", "s2", "age"]
FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def _run(spec: dict) -> pd.DataFrame:
    rows = run_cells(regsim.load_spec(spec).cells, sweep="t", run_id="t")
    df = pd.DataFrame(rows)
    assert (df["status"] == "ok").all(), df["error"].dropna().tolist()
    return df


@pytest.fixture(scope="module")
def sk_diabetes():
    from sklearn.datasets import load_diabetes

    return load_diabetes(return_X_y=True, scaled=True)


def test_ols_equals_the_published_coefficients(sk_diabetes):
    from sklearn.linear_model import LinearRegression

    X, y = sk_diabetes
    df = _run({"name": "ols", "problem": DIABETES, "learner": {"plugin": "least_squares"},
               "penalty": {"plugin": "none"}, "metrics": ["coefficients", "intercept", "r2"]})
    [row] = df.itertuples()
    ols = LinearRegression().fit(X, y)
    np.testing.assert_allclose(row.w, ols.coef_, rtol=1e-9)
    assert row.intercept == pytest.approx(ols.intercept_, rel=1e-12)
    assert row.r2 == pytest.approx(ols.score(X, y), rel=1e-12)
    assert np.abs(row.w).sum() == pytest.approx(3460, abs=0.5)  # the paper's Figure 1


def test_lasso_path_alpha_max_and_entry_order(sk_diabetes):
    from sklearn.linear_model import lars_path

    X, y = sk_diabetes
    n = len(y)
    alphas, _, coefs = lars_path(X, y, method="lasso")  # exact breakpoints (sklearn's α)
    assert alphas[0] == pytest.approx(np.abs(X.T @ (y - y.mean())).max() / n, rel=1e-12)
    assert alphas[0] == pytest.approx(2.148, abs=1e-3)
    # one grid point above α_max and one between each pair of breakpoints
    # (the last breakpoint is α = 0: halve the one before instead)
    grid = [1.01 * alphas[0]] + [float(np.sqrt(a * b)) if b > 0 else a / 2
                                 for a, b in zip(alphas[:-1], alphas[1:])]
    df = _run({"name": "lasso", "problem": DIABETES, "learner": {"plugin": "lasso_path"},
               "penalty": {"plugin": "l1", "alpha": grid}, "metrics": ["coefficients"]})
    df = df.sort_values("penalty.alpha", ascending=False)
    W = np.array(df["w"].tolist())
    assert not W[0].any()  # above α_max every weight is exactly zero
    order = []
    for w in W[1:]:
        order += [FEATURES[j] for j in np.flatnonzero(w) if FEATURES[j] not in order]
    assert order == PUBLISHED_ORDER
    # the weights equal scikit-learn's exact path at each grid point
    from sklearn.linear_model import Lasso

    for alpha, w in zip(df["penalty.alpha"], W):
        ref = Lasso(alpha=alpha, tol=1e-14, max_iter=100_000).fit(X, y).coef_
        np.testing.assert_allclose(w, ref, atol=1e-6 * np.abs(ref).max(initial=1.0))


def test_ridge_equals_scikit_learn_with_n_alpha(sk_diabetes):
    from sklearn.linear_model import Ridge

    X, y = sk_diabetes
    alphas = [1e-4, 1e-2, 1.0]
    df = _run({"name": "ridge", "problem": DIABETES, "learner": {"plugin": "least_squares"},
               "penalty": {"plugin": "l2", "alpha": alphas}, "metrics": ["coefficients"]})
    for alpha, w in zip(df["penalty.alpha"], df["w"]):
        np.testing.assert_allclose(w, Ridge(alpha=len(y) * alpha).fit(X, y).coef_, rtol=1e-9)


def test_the_example_spec_runs_and_holds_the_same_numbers(sk_diabetes):
    from sklearn.linear_model import LinearRegression

    df = _run(regsim.load_spec("examples/diabetes_lasso.yaml").raw)
    X, y = sk_diabetes
    ols = df[df["penalty"] == "none"].iloc[0]
    np.testing.assert_allclose(ols["w"], LinearRegression().fit(X, y).coef_, rtol=1e-9)
    lasso = df[df["penalty"] == "l1"]
    assert (np.array(lasso[lasso["penalty.alpha"] > 2.149]["sparsity"]) == 1.0).all()


def test_split_column_and_scaling_modes(tmp_path):
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)) * [1.0, 50.0, 0.01]
    y = X @ [1.0, 0.02, 30.0] + 0.1 * rng.standard_normal(40)
    split = np.where(np.arange(40) % 4 == 0, "test", "train")
    table = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y, "part": split})
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    for scale in ("standard", "unit_length", "none"):
        df = _run({"name": "split", "problem": {"plugin": "csv", "path": str(path), "target": "y",
                                                  "split_column": "part", "scale": scale},
                   "learner": {"plugin": "least_squares"}, "penalty": {"plugin": "none"},
                   "metrics": ["r2", "test_mse", "coefficients"]})
        [row] = df.itertuples()
        train, test = split == "train", split == "test"
        coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(train.sum()), X[train]]), y[train],
                                   rcond=None)
        pred = coef[0] + X[test] @ coef[1:]
        assert row.r2 == pytest.approx(r2_score(y[test], pred), rel=1e-9)
        assert row.test_mse == pytest.approx(np.mean((pred - y[test]) ** 2), rel=1e-9)
        if scale != "none":  # OLS predictions do not depend on the scaling; the weights do
            mean, Xt = X[train].mean(0), X[train] - X[train].mean(0)
            spread = Xt.std(0) if scale == "standard" else np.linalg.norm(Xt, axis=0)
            np.testing.assert_allclose(row.w, coef[1:] * spread, rtol=1e-8)


def test_orthogonal_design_with_a_given_diagonal_is_soft_thresholded_per_coordinate():
    h = [1.0, 4.0, 0.25, 9.0, 2.25, 0.64]
    problem = {"plugin": "linear_regression", "design": "orthogonal", "n_features": 6,
               "n_train": 80, "h_diag": h, "noise": 0.3}
    alphas = [0.01, 0.1, 0.5]
    df = _run({"name": "hdiag", "seeds": [3], "problem": problem,
               "learner": {"plugin": "lasso_path"}, "penalty": {"plugin": "l1", "alpha": alphas},
               "metrics": ["coefficients", "theory_gap"]})
    from regsim import get_registry

    cls = get_registry().get("problem", "linear_regression")
    data = cls(**{k: v for k, v in problem.items() if k != "plugin"}).generate(
        rngs_for(3)["problem"])
    Xc = data.X_train - data.X_train.mean(0)
    np.testing.assert_allclose(np.diag(Xc.T @ Xc / len(Xc)), h, rtol=1e-12)
    w_star, *_ = np.linalg.lstsq(Xc, data.y_train - data.y_train.mean(), rcond=None)
    for alpha, w, gap in zip(df["penalty.alpha"], df["w"], df["theory_gap"]):
        expected = np.sign(w_star) * np.maximum(np.abs(w_star) - alpha / np.array(h), 0)
        np.testing.assert_allclose(w, expected, atol=1e-10)
        assert gap < 1e-10


@pytest.mark.parametrize("h_diag, words", [([1.0, 2.0], "6 (n_features) positive numbers"),
                                           ([1, 2, 3, 4, 5, -1], "positive")])
def test_a_wrong_diagonal_is_a_spec_error(h_diag, words):
    with pytest.raises(regsim.SpecError, match=re.escape(words)):
        regsim.load_spec({"name": "bad", "problem": {
            "plugin": "linear_regression", "design": "orthogonal", "n_features": 6,
            "h_diag": h_diag}, "learner": {"plugin": "lasso_path"}, "penalty": {"plugin": "l1"}})
