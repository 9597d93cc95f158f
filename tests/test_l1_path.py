"""Tests of the exact Lasso path solver ``regsim.plugins.norm_penalties.l1_path``.

Oracles: closed-form soft thresholding for an orthogonal design, and
scikit-learn's ``lasso_path`` run to ``tol=1e-12`` for correlated designs
(n > d and d > n), plus the optimality (KKT) conditions themselves.
"""


import numpy as np
import pytest

from regsim.plugins.norm_penalties import l1_path

lasso_path_gram = l1_path.lasso_path_gram
lasso_duality_gap = l1_path.lasso_duality_gap
lasso_kkt_residual = l1_path.lasso_kkt_residual

sklearn_lm = pytest.importorskip("sklearn.linear_model")

# Exact solutions satisfy the KKT conditions to rounding: the largest
# violation of |c - G w| <= alpha (inactive) / = alpha sign(w) (active),
# relative to alpha_max, is ~1e-15; 1e-12 leaves a wide margin.
KKT_TOL = 1e-12


# --------------------------------------------------------------------------- #
# Problems
# --------------------------------------------------------------------------- #
def toeplitz_problem(n, d, rho=0.9, n_nonzero=5, noise=0.5, seed=0):
    rng = np.random.default_rng(seed)
    idx = np.arange(d)
    X = rng.standard_normal((n, d)) @ np.linalg.cholesky(rho ** np.abs(idx[:, None] - idx[None, :])).T
    w = np.zeros(d)
    w[rng.choice(d, n_nonzero, replace=False)] = rng.choice([-1.0, 1.0], n_nonzero) * rng.uniform(1, 3, n_nonzero)
    y = X @ w + noise * rng.standard_normal(n)
    return X - X.mean(axis=0), y - y.mean()


def gram(Xc, yc):
    n = len(yc)
    return Xc.T @ Xc / n, Xc.T @ yc / n, yc @ yc / (2 * n)


def objective(Xc, yc, W, alphas):
    """Lasso objective per column, from residuals (no Gram-form cancellation)."""
    resid = yc[:, None] - Xc @ W
    return (resid**2).sum(axis=0) / (2 * len(yc)) + alphas * np.abs(W).sum(axis=0)


def sklearn_path(Xc, yc, alphas):
    alphas_sk, coefs, _ = sklearn_lm.lasso_path(Xc, yc, alphas=alphas, tol=1e-12, max_iter=10**6)
    # lasso_path sorts the alphas descending and returns coefs in that order.
    order = np.argsort(-alphas, kind="stable")
    assert np.array_equal(alphas_sk, alphas[order])
    out = np.empty_like(coefs)
    out[:, order] = coefs
    return out


def relative_kkt(G, c, W, alphas):
    return lasso_kkt_residual(G, c, W, alphas) / np.max(np.abs(c))


# --------------------------------------------------------------------------- #
# Oracles
# --------------------------------------------------------------------------- #
def test_orthogonal_design_is_soft_thresholding():
    n, d = 300, 25
    rng = np.random.default_rng(1)
    h = rng.uniform(0.5, 4.0, d)
    # Orthonormal columns from the QR of a centred matrix are centred too, so
    # X = sqrt(n) Q diag(sqrt(h)) has X'X/n = diag(h) and zero column means.
    Z = rng.standard_normal((n, d))
    Q, _ = np.linalg.qr(Z - Z.mean(axis=0))
    X = np.sqrt(n) * Q * np.sqrt(h)
    y = X @ rng.standard_normal(d) + rng.standard_normal(n)
    y -= y.mean()
    G, c, _ = gram(X, y)
    w_ols = c / h
    amax = np.max(np.abs(c))
    alphas = amax * np.logspace(0.3, -4, 100)  # a few above alpha_max too

    W, _ = lasso_path_gram(G, c, alphas)

    expected = np.sign(w_ols)[:, None] * np.maximum(np.abs(w_ols)[:, None] - alphas / h[:, None], 0.0)
    # Closed form: w_i = sign(w*_i) max(|w*_i| - alpha/h_i, 0).  |w*| is O(1)
    # here, so 1e-10 absolute is ~1e-10 relative; rounding is ~1e-15.
    np.testing.assert_allclose(W, expected, rtol=0, atol=1e-10)
    # Same sparsity pattern, not just small values.
    assert np.array_equal(W != 0, expected != 0)


@pytest.mark.parametrize(
    "n, d",
    [(200, 20), (60, 150)],  # n > d, and d > n (G singular, path still unique)
)
def test_matches_sklearn_on_correlated_design(n, d):
    Xc, yc = toeplitz_problem(n, d, seed=n + d)
    G, c, yy = gram(Xc, yc)
    amax = np.max(np.abs(c))
    alphas = amax * np.logspace(0, -3, 60)

    W, gap, info = lasso_path_gram(G, c, alphas, yy=yy, return_info=True)
    W_sk = sklearn_path(Xc, yc, alphas)

    assert info["converged"].all()
    assert info["fallback"] == 0  # the exact path, also for d > n
    # Coordinate descent at tol=1e-12 stops within ~1e-11 (n > d) and ~1e-9
    # (d > n) of the exact path, relative to the largest coefficient; 1e-8
    # leaves a 10x margin.
    scale = np.abs(W_sk).max()
    np.testing.assert_allclose(W, W_sk, rtol=0, atol=1e-8 * scale)
    # Never worse than scikit-learn's objective, up to 1e-12 relative.
    F, F_sk = objective(Xc, yc, W, alphas), objective(Xc, yc, W_sk, alphas)
    assert np.all(F <= F_sk * (1 + 1e-12))
    assert np.all(relative_kkt(G, c, W, alphas) <= KKT_TOL)
    # Relative duality gap: its floor is Gram-form rounding, ~1e-13 here.
    assert np.all(gap <= 1e-11)


def test_fista_fallback_matches_homotopy():
    Xc, yc = toeplitz_problem(120, 30, seed=3)
    G, c, _ = gram(Xc, yc)
    alphas = np.max(np.abs(c)) * np.logspace(0, -2.5, 25)

    W_h = lasso_path_gram(G, c, alphas)[0]
    W_f, _, info = lasso_path_gram(G, c, alphas, method="fista", return_info=True)

    assert info["converged"].all()
    assert info["fallback"] == alphas.size - 1  # all but alpha_max itself
    # Both are exact solutions of a strictly convex problem: agree to rounding
    # amplified by the conditioning of G_AA (~1e2 here).
    np.testing.assert_allclose(W_f, W_h, rtol=0, atol=1e-10 * np.abs(W_h).max())
    assert np.all(relative_kkt(G, c, W_f, alphas) <= KKT_TOL)


def test_duplicated_columns_use_the_fallback():
    Xc, yc = toeplitz_problem(100, 12, seed=4)
    Xc = np.column_stack([Xc, Xc[:, [2, 5]]])  # exact duplicates: G singular
    G, c, _ = gram(Xc, yc)
    alphas = np.max(np.abs(c)) * np.logspace(0, -3, 30)

    W, _, info = lasso_path_gram(G, c, alphas, return_info=True)

    assert info["fallback"] > 0
    assert "collinear" in info["fallback_reason"]
    assert info["converged"].all()
    assert np.all(relative_kkt(G, c, W, alphas) <= KKT_TOL)
    # The minimiser is not unique; the objective is.
    W_sk = sklearn_path(Xc, yc, alphas)
    F, F_sk = objective(Xc, yc, W, alphas), objective(Xc, yc, W_sk, alphas)
    assert np.all(F <= F_sk * (1 + 1e-12))


# --------------------------------------------------------------------------- #
# Properties
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def problem():
    Xc, yc = toeplitz_problem(150, 40, seed=7, n_nonzero=8)
    return (Xc, yc) + gram(Xc, yc)


def test_kkt_holds_for_every_column(problem):
    Xc, yc, G, c, yy = problem
    alphas = np.max(np.abs(c)) * np.logspace(0, -4, 80)
    W, kkt = lasso_path_gram(G, c, alphas)
    # Without yy the second output is the relative KKT residual itself.
    np.testing.assert_allclose(kkt, relative_kkt(G, c, W, alphas), rtol=1e-12, atol=1e-300)
    assert np.all(kkt <= KKT_TOL)
    g = c[:, None] - G @ W
    active = W != 0
    # Active: correlation equals alpha times the sign; inactive: within alpha.
    tol_abs = KKT_TOL * np.max(np.abs(c))
    assert np.all(np.abs(g - alphas * np.sign(W))[active] <= tol_abs)
    assert np.all((np.abs(g) - alphas)[~active] <= tol_abs)


def test_alphas_at_or_above_alpha_max_give_exact_zeros(problem):
    _, _, G, c, _ = problem
    amax = np.max(np.abs(c))
    alphas = np.array([amax, 1.5 * amax, 1e6 * amax, np.nextafter(amax, np.inf)])
    W, gap = lasso_path_gram(G, c, alphas)
    assert np.all(W == 0.0)
    assert np.all(gap == 0.0)
    # Just below alpha_max exactly one coefficient enters, with the right sign.
    W = lasso_path_gram(G, c, [amax * (1 - 1e-6)])[0][:, 0]
    j = np.argmax(np.abs(c))
    assert np.flatnonzero(W).tolist() == [j] and np.sign(W[j]) == np.sign(c[j])


def test_result_is_independent_of_alpha_order_and_duplicates(problem):
    _, _, G, c, _ = problem
    amax = np.max(np.abs(c))
    alphas = amax * np.logspace(0.2, -3, 40)
    W, gap = lasso_path_gram(G, c, alphas)
    perm = np.random.default_rng(0).permutation(alphas.size)
    shuffled = np.concatenate([alphas[perm], alphas[:5]])  # with duplicates
    W2, gap2 = lasso_path_gram(G, c, shuffled)
    # Every distinct alpha is solved once on the sorted grid: bitwise equal.
    assert np.array_equal(W2[:, : alphas.size], W[:, perm])
    assert np.array_equal(W2[:, alphas.size :], W[:, :5])
    assert np.array_equal(gap2[: alphas.size], gap[perm])


def test_alpha_zero_is_least_squares():
    # n > d: the unique least-squares solution.
    Xc, yc = toeplitz_problem(80, 10, seed=11)
    G, c, _ = gram(Xc, yc)
    W, _ = lasso_path_gram(G, c, [0.0, 0.1 * np.max(np.abs(c))])
    w_ls = np.linalg.lstsq(Xc, yc, rcond=None)[0]
    np.testing.assert_allclose(W[:, 0], w_ls, rtol=0, atol=1e-10 * np.abs(w_ls).max())
    # d > n: G is singular, the minimum-norm least-squares solution.
    Xc, yc = toeplitz_problem(15, 40, seed=12)
    G, c, _ = gram(Xc, yc)
    W, _ = lasso_path_gram(G, c, [0.0])
    w_mn = np.linalg.pinv(Xc) @ yc
    np.testing.assert_allclose(W[:, 0], w_mn, rtol=0, atol=1e-8 * np.abs(w_mn).max())


def test_duality_gap_matches_direct_formula(problem):
    Xc, yc, G, c, yy = problem
    n = len(yc)
    alphas = np.max(np.abs(c)) * np.array([0.5, 0.1, 0.01])
    W = lasso_path_gram(G, c, alphas)[0]
    W_off = W + 0.01 * np.random.default_rng(2).standard_normal(W.shape)  # not optimal
    for Wt in (W, W_off):
        gap = lasso_duality_gap(G, c, Wt, alphas, yy=yy)
        # Dual point: residual / n scaled into ||Xc' theta||_inf <= alpha.
        resid = yc[:, None] - Xc @ Wt
        kappa = np.minimum(1.0, alphas / np.abs(Xc.T @ resid / n).max(axis=0))
        theta = kappa * resid / n
        dual = yc @ yc / (2 * n) - n / 2 * ((theta - yc[:, None] / n) ** 2).sum(axis=0)
        primal = objective(Xc, yc, Wt, alphas)
        f0 = yc @ yc / (2 * n)  # F(0): the gap is relative to the objective at w = 0
        np.testing.assert_allclose(gap, np.maximum(primal - dual, 0) / f0, rtol=1e-6, atol=1e-13)
    assert np.all(lasso_duality_gap(G, c, W_off, alphas, yy=yy) > 1e-8)


def test_rejects_bad_input(problem):
    _, _, G, c, _ = problem
    with pytest.raises(ValueError):
        lasso_path_gram(G, c, [-1.0])
    with pytest.raises(ValueError):
        lasso_path_gram(G[:-1], c, [1.0])
    with pytest.raises(ValueError):
        lasso_path_gram(G, c, [np.nan])
