"""The components bagging brought along: the `none` penalty, Friedman problems, the tree learner."""

import sys

import numpy as np
import pytest

import regsim
from regsim import load_spec
from regsim.runner import run_cells


def _get(kind, name):
    return regsim.get_registry().get(kind, name)


def test_none_penalty_is_plain_least_squares():
    from sklearn.linear_model import LinearRegression

    data = _get("problem", "linear_regression")(n_train=50, n_features=6).generate(
        np.random.default_rng(0))
    none = _get("penalty", "none")()
    fit = _get("learner", "least_squares")().fit(data, none, None)
    sk = LinearRegression().fit(data.X_train, data.y_train)
    np.testing.assert_allclose(fit.W[:, 0], sk.coef_, rtol=1e-10)
    np.testing.assert_allclose(fit.predict(data.X_test)[:, 0], sk.predict(data.X_test), rtol=1e-10, atol=1e-10)
    q = data.centred.quadratic
    np.testing.assert_allclose(none.theory(q)[:, 0], q.w_star)
    W = np.arange(12.0).reshape(6, 2)
    assert none.value(W).tolist() == [0.0, 0.0] and not none.grad(W).any()
    assert none.prox(W, 0.5) is W


def test_none_penalty_runs_with_the_generic_learners():
    rows = run_cells(load_spec({
        "name": "none", "problem": {"plugin": "linear_regression", "n_train": 80, "n_features": 5,
                                    "condition": 10},
        "learner": [{"plugin": "proximal_gradient"}, {"plugin": "least_squares"}],
        "penalty": {"plugin": "none"}, "metrics": ["theory_gap"]}).cells, sweep="none", run_id="t")
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert max(r["theory_gap"] for r in rows) < 1e-8


@pytest.mark.parametrize("name", ["friedman1", "friedman2", "friedman3"])
def test_friedman_targets_match_sklearn(name):
    """Noise-free targets equal sklearn.datasets.make_friedman* on sklearn's own inputs."""
    import sklearn.datasets
    from regsim.plugins.datasets import friedman

    make = getattr(sklearn.datasets, f"make_{name}")
    X, y = make(n_samples=300, noise=0.0, random_state=1)
    np.testing.assert_allclose(getattr(friedman, name)(X), y, rtol=1e-12)
    data = _get("problem", name)(n_train=300, n_test=50, noise=0.0).generate(
        np.random.default_rng(5))
    np.testing.assert_allclose(getattr(friedman, name)(data.X_train), data.y_train)
    lo, hi = X.min(axis=0), X.max(axis=0)  # same input ranges as sklearn (up to sampling)
    assert np.all(data.X_train.min(axis=0) >= lo - 0.05 * (hi - lo))
    assert np.all(data.X_train.max(axis=0) <= hi + 0.05 * (hi - lo))


def test_friedman_default_noise_gives_three_to_one_signal_to_noise():
    for name in ("friedman2", "friedman3"):
        problem = _get("problem", name)(n_train=20000, n_test=1)
        data = problem.generate(np.random.default_rng(0))
        from regsim.plugins.datasets import friedman
        signal = getattr(friedman, name)(data.X_train).std()
        assert 2.7 < signal / problem.noise < 3.3, (name, signal)


def test_tree_classification_probabilities_cover_every_class():
    data = _get("problem", "softmax_classification")(n_train=30, n_classes=6,
                                                     n_features=3).generate(np.random.default_rng(1))
    keep = data.y_train != data.y_train[0]  # drop one class from the training rows
    sub = regsim.Dataset(data.X_train[keep], data.y_train[keep], data.X_test, data.y_test,
                         task="classification", n_classes=6)
    fit = _get("learner", "tree")().fit(sub, _get("penalty", "none")(), np.random.default_rng(0))
    P = fit.predict(data.X_test)
    assert P.shape == (data.X_test.shape[0], 1, 6)
    np.testing.assert_allclose(P.sum(axis=2), 1.0)
    assert not P[:, 0, data.y_train[0]].any()


def test_tree_without_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    data = _get("problem", "friedman1")(n_train=20).generate(np.random.default_rng(0))
    with pytest.raises(ImportError, match=r"regsim\[trees\]"):
        _get("learner", "tree")().fit(data, _get("penalty", "none")(), np.random.default_rng(0))
