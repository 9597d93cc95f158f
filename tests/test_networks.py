"""Softmax regression and MLP: backward against finite differences, training behaviour."""

import numpy as np
import pytest

import regsim
from regsim.plugins.dropout.networks import Network, cross_entropy_grad, unique_columns


def _objective_and_grads(net, X, y, masks, keep, penalty):
    logits, cache = net.forward(X, masks, keep)
    loss, dZ = cross_entropy_grad(logits, y)
    gW, gb = net.backward(dZ, cache)
    gW = [g + p for g, p in zip(gW, net.unflatten(penalty.grad(net.flat_weights())))]
    return loss + penalty.value(net.flat_weights()), gW, gb


@pytest.mark.parametrize("penalty_name", ["l2", "l1"])
@pytest.mark.parametrize("sizes", [[5, 4], [5, 7, 4], [5, 6, 3, 4]])
def test_backward_matches_finite_differences(sizes, penalty_name):
    """Analytic gradients of cross-entropy + penalty (two penalty columns), with
    inverted-dropout masks on every layer input, against central differences
    (tolerance 1e-6 relative; no weight lies within h of L1's kink)."""
    rng = np.random.default_rng(1)
    penalty = regsim.get_registry().get("penalty", penalty_name)(alpha=np.array([0.0, 0.3]))
    net = Network.init(sizes, 2, rng)
    for W, b in zip(net.weights, net.biases):  # distinct columns, non-zero biases
        W += 0.3 * rng.standard_normal(W.shape)
        b += 0.3 * rng.standard_normal(b.shape)
    X = rng.standard_normal((9, sizes[0]))
    y = rng.integers(0, sizes[-1], 9)
    keep = [0.8] + [0.5] * (len(sizes) - 2)
    masks = [(rng.random((9, s)) < k).astype(float) for s, k in zip(sizes[:-1], keep)]
    _, gW, gb = _objective_and_grads(net, X, y, masks, keep, penalty)
    h = 1e-6
    for analytic, params in ((gW, net.weights), (gb, net.biases)):
        for g, P in zip(analytic, params):
            numeric = np.zeros_like(P)
            for idx in np.ndindex(P.shape):
                old = P[idx]
                P[idx] = old + h
                up = _objective_and_grads(net, X, y, masks, keep, penalty)[0][idx[0]]
                P[idx] = old - h
                down = _objective_and_grads(net, X, y, masks, keep, penalty)[0][idx[0]]
                P[idx] = old
                numeric[idx] = (up - down) / (2 * h)
            np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)


def _data(rng, n=300, d=5, C=3):
    problem = regsim.get_registry().get("problem", "softmax_classification")(
        n_train=n, n_test=200, n_features=d, n_classes=C, scale=2.0)
    return problem.generate(rng)


def test_softmax_regression_learns_and_is_deterministic():
    reg = regsim.get_registry()
    data = _data(np.random.default_rng(0))
    learner = reg.get("learner", "softmax_regression")(n_epochs=30, lr=0.05)
    penalty = reg.get("penalty", "l2")(alpha=np.array([1e-4, 1e-4, 0.5]))
    fit = learner.fit(data, penalty, np.random.default_rng(3))
    again = learner.fit(data, penalty, np.random.default_rng(3))
    P = fit.predict(data.X_test)
    assert P.shape == (200, 3, 3)
    np.testing.assert_allclose(P.sum(axis=2), 1.0, atol=1e-12)
    np.testing.assert_array_equal(P, again.predict(data.X_test))
    # equal penalty columns share one trained network
    assert fit.network.m == 2 and list(fit.index) == [0, 0, 1]
    # near the Bayes rule: scikit-learn's (nearly unpenalised) multinomial logistic regression
    from sklearn.linear_model import LogisticRegression

    sk = LogisticRegression(C=1e4, max_iter=2000).fit(data.X_train, data.y_train)
    acc = (P[:, 0].argmax(axis=1) == data.y_test).mean()
    assert acc >= sk.score(data.X_test, data.y_test) - 0.03
    # a strong L2 penalty shrinks the weights
    W = fit.network.weights[0]
    assert np.linalg.norm(W[1]) < 0.5 * np.linalg.norm(W[0])


def test_mlp_adam_and_max_norm():
    reg = regsim.get_registry()
    data = reg.get("problem", "teacher_mlp")(n_train=300, n_test=200, n_features=6,
                                             n_classes=3).generate(np.random.default_rng(2))
    penalty = reg.get("penalty", "l2")(alpha=np.array([1e-4]))
    learner = reg.get("learner", "mlp")(hidden=[16, 8], n_epochs=20, optimizer="adam", lr=0.01,
                                        max_norm=1.5)
    fit = learner.fit(data, penalty, np.random.default_rng(0))
    for W in fit.network.weights:
        assert np.linalg.norm(W, axis=1).max() <= 1.5 + 1e-12
    acc = (fit.predict(data.X_test)[:, 0].argmax(axis=1) == data.y_test).mean()
    assert acc > 1.5 / 3  # well above chance (1/3) on a learnable teacher
    assert fit.columns["train_examples"][0] == 20 * 300


def test_unique_columns_maps_cells_to_distinct_penalties():
    L1 = regsim.get_registry().get("penalty", "l1")
    distinct, index = unique_columns(L1(alpha=np.array([0.1, 0.2, 0.1, 0.3, 0.2])))
    assert list(distinct.alpha) == [0.1, 0.2, 0.3] and list(index) == [0, 1, 0, 2, 1]


def test_softmax_regression_rejects_regression_data_and_mlp_fits_it():
    """softmax_regression is classification-only; the MLP on a regression problem has one
    identity output and predicts ``(n, m)`` values (issue 13 §2)."""
    reg = regsim.get_registry()
    data = reg.get("problem", "linear_regression")(n_train=20, n_features=3).generate(
        np.random.default_rng(0))
    penalty = reg.get("penalty", "l2")(alpha=np.array([0.1, 0.2]))
    with pytest.raises(regsim.SpecError, match="classification"):
        reg.get("learner", "softmax_regression")().fit(data, penalty, np.random.default_rng(0))
    fit = reg.get("learner", "mlp")(hidden=[4], n_epochs=3).fit(data, penalty,
                                                               np.random.default_rng(0))
    assert fit.predict(data.X_test).shape == (len(data.y_test), 2)
    assert fit.network.sizes == [3, 4, 1] and fit.network.output == "identity"
