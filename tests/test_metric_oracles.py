"""Every built-in metric against an independent oracle.

scikit-learn's ``accuracy_score``, ``log_loss`` and ``mean_squared_error``,
``scipy.stats.entropy`` for the direction of the KL divergence, NumPy closed
forms from X and y (tests/oracles.py), and plain loops. Predictions are
random but structured so that a confusion the audit found (argmax↔argmin,
log-probability of the most probable class instead of the label, KL in the
wrong direction, Monte Carlo error against the other exact mean) changes the
number by far more than the tolerance; each test asserts that margin too.
"""

import math

import numpy as np
import pytest
from scipy.stats import entropy
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error

import regsim
from dropout_oracle import brute_force
from oracles import least_squares_model
from regsim import Dataset, Evaluation, Fit
from regsim.plugins.bagging.metrics import error_moments
from regsim.plugins.dropout.ensembler import DropoutEnsemble
from regsim.plugins.dropout.networks import Network

TOL = 1e-12


def _metric(name):
    return regsim.get_registry().get("metric", name)()


class _Fixed(Fit):
    """A fit whose predictions are given arrays (the metric's input, nothing else)."""

    def __init__(self, test, train=None, W=None):
        super().__init__(m=test.shape[1])
        self._test, self._train, self.W = test, train, W

    def predict(self, X):
        return self._test if X is self.X_test else self._train


def _classification(rng, n=60, m=4, C=4):
    """Probabilities (n, m, C) from random logits, labels that agree with the most probable
    class about half the time: accuracy, log loss and their confusions all differ."""
    Z = rng.normal(0, 2, (n, m, C))
    P = np.exp(Z - Z.max(axis=2, keepdims=True))
    P /= P.sum(axis=2, keepdims=True)
    y = np.where(rng.random(n) < 0.5, P[:, 0].argmax(axis=1), rng.integers(0, C, n))
    X = rng.standard_normal((n, 2))
    data = Dataset(X, y, X, y, task="classification", n_classes=C)
    return data, P


def _evaluate(data, test, train=None, W=None):
    fit = _Fixed(test, train, W)
    fit.X_test = data.X_test
    return Evaluation(data, None, None, fit)


def test_accuracy_equals_sklearn_accuracy_score():
    data, P = _classification(np.random.default_rng(0))
    got = _metric("accuracy").compute(_evaluate(data, P))["accuracy"]
    want = [accuracy_score(data.y_test, P[:, j].argmax(axis=1)) for j in range(P.shape[1])]
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
    wrong = [accuracy_score(data.y_test, P[:, j].argmin(axis=1)) for j in range(P.shape[1])]
    assert want[0] - wrong[0] > 0.3  # column 0 is the one the labels follow


def test_log_loss_equals_sklearn_log_loss():
    data, P = _classification(np.random.default_rng(1))
    C = P.shape[2]
    got = _metric("log_loss").compute(_evaluate(data, P))["log_loss"]
    want = [log_loss(data.y_test, P[:, j], labels=range(C)) for j in range(P.shape[1])]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    on_argmax = -np.mean(np.log(P.max(axis=2)), axis=0)  # the audit's surviving confusion
    assert np.min(np.abs(want - on_argmax)) > 0.1


def test_log_loss_clips_like_sklearn_at_1e_15():
    """A label given probability 0 costs -log(1e-15) (the documented clip), not inf."""
    P = np.array([[[1.0, 0.0]], [[0.25, 0.75]]])
    data = Dataset(np.zeros((2, 1)), np.array([1, 1]), np.zeros((2, 1)), np.array([1, 1]),
                   task="classification", n_classes=2)
    got = _metric("log_loss").compute(_evaluate(data, P))["log_loss"][0]
    assert got == pytest.approx((-math.log(1e-15) - math.log(0.75)) / 2, rel=1e-12)


def test_mse_metrics_equal_sklearn_mean_squared_error():
    rng = np.random.default_rng(2)
    X, Xt = rng.standard_normal((30, 3)), rng.standard_normal((25, 3))
    y, yt = rng.standard_normal(30), rng.standard_normal(25)
    train, test = rng.standard_normal((30, 5)), rng.standard_normal((25, 5))
    data = Dataset(X, y, Xt, yt)
    ev = _evaluate(data, test, train)
    got_test = _metric("test_mse").compute(ev)["test_mse"]
    got_train = _metric("train_mse").compute(ev)["train_mse"]
    np.testing.assert_allclose(got_test, [mean_squared_error(yt, test[:, j]) for j in range(5)],
                               rtol=1e-12)
    np.testing.assert_allclose(got_train, [mean_squared_error(y, train[:, j]) for j in range(5)],
                               rtol=1e-12)


def test_weight_error_and_sparsity_by_hand():
    rng = np.random.default_rng(3)
    d, m = 7, 4
    W = rng.standard_normal((d, m)) * (rng.random((d, m)) < 0.6)  # some exact zeros
    w_true = rng.standard_normal(d)
    data = Dataset(np.zeros((2, d)), np.zeros(2), np.zeros((2, d)), np.zeros(2), w_true=w_true)
    ev = _evaluate(data, np.zeros((2, m)), np.zeros((2, m)), W=W)
    err = _metric("weight_error").compute(ev)["weight_error"]
    sparsity = _metric("sparsity").compute(ev)["sparsity"]
    for j in range(m):
        assert err[j] == pytest.approx(math.sqrt(sum((W[i, j] - w_true[i]) ** 2 for i in range(d))),
                                       rel=1e-12)
        assert sparsity[j] == sum(W[i, j] == 0.0 for i in range(d)) / d
    assert 0 < sparsity.min() < sparsity.max() < 1


def test_theory_gap_shrinkage_and_coefficients_against_the_closed_form():
    """Real least_squares + l2 on linear_regression; oracle: H, w* from X and y
    (tests/oracles.py), w̃_theory = Q(Λ+α)⁻¹ΛQᵀw*, and gradient descent's weights
    (which differ from the theory by its optimisation error) as the measured ones."""
    reg = regsim.get_registry()
    data = reg.get("problem", "linear_regression")(
        n_train=80, n_test=20, n_features=5, condition=30, noise=0.5).generate(
        np.random.default_rng(4))
    alphas = np.array([0.0, 0.1, 2.0])
    penalty = reg.get("penalty", "l2")(alpha=alphas)
    learner = reg.get("learner", "gradient_descent")(n_steps=30)
    fit = learner.fit(data, penalty, np.random.default_rng(0))
    ev = Evaluation(data, learner, penalty, fit)
    _, _, H, w_star = least_squares_model(data.X_train, data.y_train)
    lam, Q = np.linalg.eigh(H)
    W = fit.W
    cols = {}
    for name in ("theory_gap", "shrinkage", "coefficients"):
        cols.update(_metric(name).compute(ev))
    for j, a in enumerate(alphas):
        w_th = Q @ (lam / (lam + a) * (Q.T @ w_star))
        assert cols["theory_gap"][j] == pytest.approx(
            np.linalg.norm(W[:, j] - w_th) / np.linalg.norm(w_th), rel=1e-8)
        np.testing.assert_allclose(cols["shrinkage_theory"][j], lam / (lam + a), rtol=1e-8)
        # rtol 1e-6: two eigendecompositions of H agree to ~1e-10 along each direction
        np.testing.assert_allclose(cols["shrinkage_measured"][j],
                                   (Q.T @ W[:, j]) / (Q.T @ w_star), rtol=1e-6)
        np.testing.assert_allclose(cols["w_theory"][j], w_th, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(cols["w"][j], W[:, j], rtol=0, atol=0)
        np.testing.assert_allclose(cols["w_star"][j], w_star, rtol=1e-8)
        np.testing.assert_allclose(cols["h_diag"][j], np.diag(H), rtol=1e-12)
    np.testing.assert_allclose(cols["eigenvalues"][0], lam, rtol=1e-10)
    assert cols["theory_gap"].min() > 1e-4  # 30 steps: a gap the metric must see


def _dropout_evaluation(strategy, drop, **params):
    """A tiny MLP (3 inputs, 4 hidden, 3 classes) as a dropout ensemble with both layers'
    inputs droppable at ``drop``, evaluated on 6 points through ``strategy``."""
    rng = np.random.default_rng(5)
    sizes = [3, 4, 3]
    Ws = [rng.normal(0, 1.5 / np.sqrt(a), (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(0, 0.5, b) for b in sizes[1:]]
    X = rng.standard_normal((6, 3))
    y = rng.integers(0, 3, 6)
    ens = DropoutEnsemble(m=1, network=Network([W[None] for W in Ws], [b[None] for b in bs]),
                          index=np.array([0]), drop=[drop, drop], mask_seed=11)
    data = Dataset(X, y, X, y, task="classification", n_classes=3)
    inference = regsim.get_registry().get("inference", strategy)(**params)
    return Evaluation(data, None, None, ens, ensemble=ens, inference=inference), \
        brute_force(Ws, bs, X, [drop, drop])


@pytest.mark.parametrize("drop", [0.2, 0.7])
def test_dropout_gap_against_scipy_entropy_and_a_loop(drop):
    """KL(exact ‖ strategy) per row from scipy.stats.entropy(pk=exact, qk=strategy), mean
    over rows; max |Δp| and argmax agreement by loops; exact means by brute force."""
    ev, oracle = _dropout_evaluation("weight_scaling", drop)
    P = ev.test_prediction[:, 0]
    cols = _metric("dropout_gap").compute(ev)
    for ref, mean in (("arith", "arithmetic"), ("geom", "geometric")):
        R = oracle[mean]
        kl = np.mean([entropy(R[i], P[i]) for i in range(len(R))])
        reverse = np.mean([entropy(P[i], R[i]) for i in range(len(R))])
        assert cols[f"{ref}_kl"][0] == pytest.approx(kl, rel=1e-9)
        assert abs(kl - reverse) > 1e-3 * kl  # the direction is visible
        assert cols[f"{ref}_max_abs_dp"][0] == pytest.approx(
            max(abs(R[i, c] - P[i, c]) for i in range(len(R)) for c in range(3)), rel=1e-9)
        assert cols[f"{ref}_argmax_agreement"][0] == np.mean(
            [np.argmax(R[i]) == np.argmax(P[i]) for i in range(len(R))])
    assert cols["arith_max_abs_dp"][0] > 1e-3 and cols["geom_max_abs_dp"][0] > 1e-3


@pytest.mark.parametrize("drop", [0.2, 0.7])
@pytest.mark.parametrize("strategy,mean", [("mc_arithmetic", "arithmetic"),
                                           ("mc_geometric", "geometric")])
def test_mc_error_is_the_rms_distance_to_the_mean_it_estimates(strategy, mean, drop):
    ev, oracle = _dropout_evaluation(strategy, drop, n_masks=20)
    P = ev.test_prediction[:, 0]
    got = _metric("mc_error").compute(ev)["mc_rms_error"][0]
    assert got == pytest.approx(np.sqrt(np.mean((P - oracle[mean]) ** 2)), rel=1e-9)
    other = {"arithmetic": "geometric", "geometric": "arithmetic"}[mean]
    wrong = np.sqrt(np.mean((P - oracle[other]) ** 2))
    assert abs(got - wrong) > 1e-3 * got  # the other exact mean gives another number


def test_bagging_error_moments_by_hand():
    """v, c, v/k + (k−1)c/k and the averaged error from loops over members and points."""
    rng = np.random.default_rng(6)
    n, K, u, C = 9, 5, 2, 3
    E = rng.standard_normal((n, K, u, C)) + rng.standard_normal((n, 1, u, C))  # correlated
    k = np.array([1, 2, 5, 3, 5])
    setting = np.array([0, 1, 0, 1, 1])
    got = error_moments(E, k, setting)
    for col, (kk, s) in enumerate(zip(k, setting)):
        dot = lambda i, j: sum(E[x, i, s] @ E[x, j, s] for x in range(n)) / n  # noqa: E731
        v = sum(dot(i, i) for i in range(kk)) / kk
        assert got["v"][col] == pytest.approx(v, rel=1e-12)
        mean_error = sum(np.sum((sum(E[x, i, s] for i in range(kk)) / kk) ** 2)
                         for x in range(n)) / n
        assert got["mean_error"][col] == pytest.approx(mean_error, rel=1e-12)
        if kk == 1:
            assert np.isnan(got["c"][col]) and got["theory"][col] == pytest.approx(v, rel=1e-12)
            continue
        c = sum(dot(i, j) for i in range(kk) for j in range(kk) if i != j) / (kk * (kk - 1))
        assert got["c"][col] == pytest.approx(c, rel=1e-12)
        assert got["theory"][col] == pytest.approx(v / kk + (kk - 1) * c / kk, rel=1e-12)
        assert got["theory"][col] == pytest.approx(mean_error, rel=1e-10)  # the identity


def test_default_metrics_are_the_documented_ones():
    """A spec without ``metrics`` computes these (the audit flipped ``default`` unnoticed)."""
    reg = regsim.get_registry()
    defaults = {name for name in reg.names("metric") if reg.get("metric", name).default}
    assert {"train_mse", "test_mse", "weight_error", "sparsity", "theory_gap", "shrinkage",
            "coefficients", "accuracy", "log_loss", "bagging_moments"} <= defaults
    assert not {"dropout_gap", "mc_error"} & defaults


def test_theory_gap_where_the_theory_is_all_zeros_uses_w_star():
    """L1 with α beyond every |w*ᵢ|·Hᵢᵢ (orthogonal design): the theory is w̃ = 0, so the
    gap is ‖w̃‖ / ‖w*‖ (here 0: proximal gradient reaches exact zeros), never 0/0."""
    reg = regsim.get_registry()
    data = reg.get("problem", "linear_regression")(
        n_train=40, n_test=10, n_features=4, design="orthogonal").generate(
        np.random.default_rng(7))
    penalty = reg.get("penalty", "l1")(alpha=np.array([1e3, 1e-3]))
    learner = reg.get("learner", "proximal_gradient")()
    fit = learner.fit(data, penalty, np.random.default_rng(0))
    ev = Evaluation(data, learner, penalty, fit)
    assert np.all(ev.theory[:, 0] == 0) and np.all(fit.W[:, 0] == 0)
    _, _, H, w_star = least_squares_model(data.X_train, data.y_train)
    gap = _metric("theory_gap").compute(ev)["theory_gap"]
    assert gap[0] == 0.0
    w_th = ev.theory[:, 1]
    assert gap[1] == pytest.approx(np.linalg.norm(fit.W[:, 1] - w_th) / np.linalg.norm(w_th),
                                   rel=1e-12)
    soft = np.sign(w_star) * np.maximum(np.abs(w_star) - 1e-3 / np.diag(H), 0)  # the seed's L1
    np.testing.assert_allclose(w_th, soft, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("d,feasible", [(20, True), (21, False)])
def test_dropout_metrics_are_null_beyond_the_default_exact_limit(d, feasible):
    """The exact references need 2^d masks; up to the documented default of 20
    droppable units they are computed, beyond it the columns are null."""
    rng = np.random.default_rng(8)
    W, b = rng.normal(0, 0.3, (d, 2)), np.zeros(2)
    X = rng.standard_normal((2, d))
    ens = DropoutEnsemble(m=1, network=Network([W[None]], [b[None]]), index=np.array([0]),
                          drop=[0.3], mask_seed=1)
    data = Dataset(X, np.array([0, 1]), X, np.array([0, 1]), task="classification", n_classes=2)
    inference = regsim.get_registry().get("inference", "weight_scaling")()
    cols = _metric("dropout_gap").compute(Evaluation(data, None, None, ens, ensemble=ens,
                                                     inference=inference))
    assert bool(cols) == feasible
