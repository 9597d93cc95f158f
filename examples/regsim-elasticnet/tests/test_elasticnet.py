"""regsim-elasticnet's own tests: regsim's conformance kit, then the optimum against scikit-learn.

Run from the package directory: ``python -m pytest`` (needs regsim, scikit-learn,
and this package installed).
"""

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet as SkElasticNet

import regsim
from regsim.testing import parametrize_checks
from regsim_elasticnet import ElasticNet


@parametrize_checks([ElasticNet])
def test_conformance(component, check):
    check(component)


def test_conformance_fixture(regsim_check):
    # the pytest11 fixture: every check at once, one AssertionError listing failures
    regsim_check(ElasticNet, params={"alpha": np.array([0.01, 0.3, 2.0]),
                                     "l1_ratio": np.array([0.0, 0.5, 1.0])})


def test_registered_through_the_entry_point(regsim_registry):
    assert regsim_registry.get("penalty", "elastic_net") is ElasticNet
    assert regsim_registry.plugin_of("penalty", "elastic_net").distribution == "regsim-elasticnet"
    assert "elastic_net_path" in regsim_registry.names("plot")


def _data(seed=0, n=80, d=8):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) @ np.diag(np.linspace(1.5, 0.2, d))
    w = rng.standard_normal(d) * (rng.random(d) < 0.6)
    y = X @ w + 0.5 * rng.standard_normal(n) + 3.0
    return regsim.Dataset(X, y, X[:10], y[:10])


ALPHAS = np.array([0.003, 0.03, 0.1, 0.3, 0.03, 0.1])
RATIOS = np.array([0.5, 0.5, 0.5, 0.5, 0.1, 0.9])


def test_optimum_matches_sklearn(regsim_registry):
    """The generic proximal_gradient learner with elastic_net reaches sklearn's ElasticNet optimum."""
    data = _data()
    learner = regsim_registry.get("learner", "proximal_gradient")(tol=1e-14, max_iter=200000)
    fit = learner.fit(data, ElasticNet(alpha=ALPHAS, l1_ratio=RATIOS), np.random.default_rng(0))
    assert all(fit.columns["converged"])
    for j, (a, r) in enumerate(zip(ALPHAS, RATIOS)):
        sk = SkElasticNet(alpha=a, l1_ratio=r, tol=1e-14, max_iter=1_000_000).fit(
            data.X_train, data.y_train)
        # tolerance: both solvers stop at relative changes ~1e-14; 1e-8 leaves room for conditioning
        np.testing.assert_allclose(fit.W[:, j], sk.coef_, rtol=0, atol=1e-8)
        np.testing.assert_allclose(fit.intercept[j], sk.intercept_, rtol=0, atol=1e-8)
        assert np.array_equal(fit.W[:, j] == 0, sk.coef_ == 0)  # same sparsity pattern


def test_theory_is_exact_for_a_diagonal_hessian(regsim_registry):
    """With an orthogonal design (H diagonal) the closed form equals sklearn's optimum."""
    rng = np.random.default_rng(1)
    n, d = 60, 6
    Z = rng.standard_normal((n, d))
    Q, _ = np.linalg.qr(Z - Z.mean(axis=0))  # orthonormal, centred columns
    X = np.sqrt(n) * Q * np.sqrt(np.geomspace(1, 0.05, d))
    y = X @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n)
    data = regsim.Dataset(X, y, X, y)
    q = data.centred.quadratic
    assert np.allclose(q.H, np.diag(np.diag(q.H)), atol=1e-12)
    theory = ElasticNet(alpha=ALPHAS, l1_ratio=RATIOS).theory(q)
    for j, (a, r) in enumerate(zip(ALPHAS, RATIOS)):
        sk = SkElasticNet(alpha=a, l1_ratio=r, tol=1e-14, max_iter=1_000_000).fit(X, y)
        np.testing.assert_allclose(theory[:, j], sk.coef_, rtol=0, atol=1e-9)


@pytest.mark.parametrize("ratio, builtin", [(1.0, "l1"), (0.0, "l2")])
def test_limits_are_l1_and_l2(regsim_registry, ratio, builtin):
    """l1_ratio = 1 is regsim's l1 and l1_ratio = 0 its l2 (value, grad, prox)."""
    other = regsim_registry.get("penalty", builtin)(alpha=ALPHAS)
    enet = ElasticNet(alpha=ALPHAS, l1_ratio=np.full(ALPHAS.size, ratio))
    W = np.random.default_rng(2).standard_normal((5, ALPHAS.size))
    for method, args in (("value", (W,)), ("grad", (W,)), ("prox", (W, 0.4))):
        np.testing.assert_allclose(getattr(enet, method)(*args), getattr(other, method)(*args),
                                   rtol=1e-12, atol=1e-15)
