"""Bagging: the v/k + (k−1)c/k decomposition, scikit-learn oracles, edge cases, spec errors.

Everything runs through the real registry (entry points), the real runner and,
for the Friedman #1 study, the real Prefect flow and Parquet store.
"""

import numpy as np
import pandas as pd
import pytest

import regsim
from regsim import SpecError, load_spec
from regsim.runner import rngs_for, run_cells


def _rows(spec: dict) -> pd.DataFrame:
    return pd.DataFrame(run_cells(load_spec(spec).cells, sweep=spec["name"], run_id="t"))


def _components(**slots):
    reg = regsim.get_registry()
    kinds = {"problem": "problem", "learner": "learner", "penalty": "penalty",
             "ensembler": "ensembler", "inference": "inference"}
    return {slot: reg.get(kinds[slot], cfg.pop("plugin"))(**cfg) for slot, cfg in slots.items()}


# ----------------------------------------------------------------- the decomposition


def test_decomposition_identity_in_every_cell():
    """mean_x (mean_i ε_i)² = v/k + (k−1)c/k to 1e-10 relative, regression and classification,
    over an α path crossed with a k path (several penalty settings in one group)."""
    ks = [1, 2, 3, 5, 8]
    regression = {
        "name": "identity-reg", "seeds": 3,
        "problem": {"plugin": "friedman1", "n_train": 60, "n_test": 200},
        "learner": [{"plugin": "least_squares"}, {"plugin": "tree", "max_depth": 4}],
        "penalty": [{"plugin": "l2", "alpha": [0.01, 1.0]}, {"plugin": "none"}],
        "zip": [["learner", "penalty"]],
        "ensembler": {"plugin": "bagging", "k": ks},
        "inference": [{"plugin": "arithmetic_mean"}, {"plugin": "geometric_mean"}],
        "metrics": ["bagging_moments"],
    }
    classification = {
        "name": "identity-clf", "seeds": 3,
        "problem": {"plugin": "softmax_classification", "n_train": 80, "n_test": 150,
                    "n_features": 5, "n_classes": 4},
        "learner": {"plugin": "tree", "max_depth": 3},
        "penalty": {"plugin": "none"},
        "ensembler": {"plugin": "bagging", "k": ks, "max_samples": 0.7},
        "inference": [{"plugin": "arithmetic_mean"}, {"plugin": "geometric_mean"},
                      {"plugin": "majority_vote"}],
        "metrics": ["bagging_moments", "accuracy", "log_loss"],
    }
    df = pd.concat([_rows(regression), _rows(classification)])
    assert (df["status"] == "ok").all(), df["error"].dropna().unique()
    assert len(df) == 3 * 5 * (3 * 2 + 3)
    rel = np.abs(df["mean_ensemble_error"] - df["bagging_theory"]) / df["mean_ensemble_error"]
    assert rel.max() < 1e-10
    # k = 1: no pairs, c undefined, theory = v = the single member's error
    k1 = df[df["ensembler.k"] == 1]
    assert k1["bagging_c"].isna().all()
    # the theory column is stated where it predicts the strategy's error (issue 14 §4)
    stated = df["bagging_theory"].notna()
    holds = (df["inference"] == "arithmetic_mean") | (
        (df["inference"] == "geometric_mean") & (df["problem"] == "friedman1"))
    assert stated.tolist() == holds.tolist()
    k1 = k1[k1["bagging_theory"].notna()]
    np.testing.assert_allclose(k1["bagging_theory"], k1["bagging_v"], rtol=1e-12)
    # under the arithmetic mean the strategy's error is the decomposed one
    am = df[df["inference"] == "arithmetic_mean"]
    np.testing.assert_allclose(am["ensemble_error"], am["mean_ensemble_error"], rtol=1e-10)
    # regression: the normalised geometric mean of equal-variance Gaussians is the arithmetic mean
    geo = df[(df["inference"] == "geometric_mean") & (df["problem"] == "friedman1")]
    np.testing.assert_allclose(geo["ensemble_error"], geo["mean_ensemble_error"], rtol=1e-10)
    assert df.loc[df["problem"] == "softmax_classification", "accuracy"].notna().all()


def test_moments_match_a_brute_force_pair_loop():
    """v and c from the metric equal explicit loops over members and pairs."""
    comp = _components(problem={"plugin": "friedman1", "n_train": 50, "n_test": 80},
                       learner={"plugin": "tree", "max_depth": 3}, penalty={"plugin": "none"},
                       ensembler={"plugin": "bagging", "k": np.array([2, 4, 6])},
                       inference={"plugin": "arithmetic_mean"})
    rng = rngs_for(7)
    data = comp["problem"].generate(rng["problem"])
    ens = comp["ensembler"].fit(data, comp["learner"], comp["penalty"], rng["ensembler"])
    ev = regsim.Evaluation(data, comp["learner"], comp["penalty"], ens, ensemble=ens,
                           inference=comp["inference"])
    out = regsim.get_registry().get("metric", "bagging_moments")().compute(ev)
    F = ens.member_predictions(data.X_test)[:, :, 0]  # (n, K): one penalty setting
    eps = F - data.y_test[:, None]
    for j, k in enumerate([2, 4, 6]):
        v = np.mean([np.mean(eps[:, i] ** 2) for i in range(k)])
        c = np.mean([np.mean(eps[:, i] * eps[:, l]) for i in range(k) for l in range(k) if i != l])
        assert out["bagging_v"][j] == pytest.approx(v, rel=1e-12)
        assert out["bagging_c"][j] == pytest.approx(c, rel=1e-10)
        assert out["bagging_c_over_v"][j] == pytest.approx(c / v, rel=1e-10)
        assert out["ensemble_error"][j] == pytest.approx(
            np.mean((F[:, :k].mean(axis=1) - data.y_test) ** 2), rel=1e-12)


# ----------------------------------------------------------------- scikit-learn oracles


def test_batched_least_squares_equals_sklearn_bagging_regressor():
    """Given sklearn's own bootstrap indices, the batched count-weighted Gram fit predicts
    exactly what BaggingRegressor(LinearRegression()) predicts (1e-9)."""
    from sklearn.ensemble import BaggingRegressor
    from sklearn.linear_model import LinearRegression

    comp = _components(problem={"plugin": "linear_regression", "n_train": 120, "n_test": 300,
                                "n_features": 12, "condition": 30},
                       learner={"plugin": "least_squares"}, penalty={"plugin": "none"})
    data = comp["problem"].generate(np.random.default_rng(3))
    sk = BaggingRegressor(LinearRegression(), n_estimators=25, random_state=0)
    sk.fit(data.X_train, data.y_train)
    n = data.X_train.shape[0]
    counts = np.stack([np.bincount(idx, minlength=n) for idx in sk.estimators_samples_])
    assert counts.sum(axis=1).tolist() == [n] * 25 and (counts > 1).any()  # a real bootstrap
    fit = comp["learner"].fit_resamples(data, counts, comp["penalty"])
    ours = fit.predict(data.X_test).mean(axis=1)
    np.testing.assert_allclose(ours, sk.predict(data.X_test), rtol=1e-9, atol=1e-9)


def test_bagging_ensembler_equals_member_by_member_sklearn_fits():
    """The ensembler's own bootstrap: every prefix k equals the mean of LinearRegression
    fitted on each member's resampled rows (and the batched path equals the loop)."""
    from sklearn.linear_model import LinearRegression

    ks = np.array([1, 4, 10])
    comp = _components(problem={"plugin": "linear_regression", "n_train": 80, "n_test": 100,
                                "n_features": 8},
                       learner={"plugin": "least_squares"}, penalty={"plugin": "none"},
                       ensembler={"plugin": "bagging", "k": ks},
                       inference={"plugin": "arithmetic_mean"})
    rng = rngs_for(11)
    data = comp["problem"].generate(rng["problem"])
    ens = comp["ensembler"].fit(data, comp["learner"], comp["penalty"], rng["ensembler"])
    pred = comp["inference"].predict(ens, data.X_test)
    members = []
    for row in ens.counts:
        idx = np.repeat(np.arange(row.size), row)
        members.append(LinearRegression().fit(data.X_train[idx], data.y_train[idx])
                       .predict(data.X_test))
    members = np.array(members)
    for j, k in enumerate(ks):
        np.testing.assert_allclose(pred[:, j], members[:k].mean(axis=0), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("n_train,n_features,alphas", [
    (30, 40, [0.0]),  # n < d: every member rank-deficient, minimum-norm via eigh
    (60, 8, list(np.logspace(-3, 2, 12))),  # a long α path: one batched eigh
    (60, 8, [0.0, 0.5, 3.0]),  # a short α path: batched solves
])
def test_batched_resample_fits_equal_per_member_fits(n_train, n_features, alphas):
    """fit_resamples equals least_squares.fit on each member's repeated rows; for α = 0 also
    scikit-learn's LinearRegression (minimum-norm lstsq when n < d)."""
    from sklearn.linear_model import LinearRegression

    reg = regsim.get_registry()
    data = reg.get("problem", "linear_regression")(n_train=n_train, n_test=50,
                                                   n_features=n_features).generate(
        np.random.default_rng(1))
    learner = reg.get("learner", "least_squares")()
    penalty = reg.get("penalty", "l2")(alpha=np.array(alphas))
    rng = np.random.default_rng(2)
    counts = np.stack([np.bincount(rng.integers(0, n_train, n_train), minlength=n_train)
                       for _ in range(6)])
    batched = learner.fit_resamples(data, counts, penalty).predict(data.X_test)
    m = len(alphas)
    for r, row in enumerate(counts):
        idx = np.repeat(np.arange(n_train), row)
        rows = regsim.Dataset(data.X_train[idx], data.y_train[idx], data.X_test, data.y_test)
        single = learner.fit(rows, penalty, None).predict(data.X_test)
        np.testing.assert_allclose(batched[:, r * m:(r + 1) * m], single, rtol=1e-8, atol=1e-8)
        if alphas[0] == 0.0:
            sk = LinearRegression().fit(data.X_train[idx], data.y_train[idx]).predict(data.X_test)
            np.testing.assert_allclose(batched[:, r * m], sk, rtol=1e-8, atol=1e-8)


def test_member_loop_with_an_alpha_path_equals_per_member_fits():
    """A learner without a batched path (proximal gradient, L1): one fit per member over the
    distinct α of the group, each column reading its own α and its own prefix."""
    comp = _components(problem={"plugin": "linear_regression", "n_train": 60, "n_test": 40,
                                "n_features": 5, "condition": 10},
                       learner={"plugin": "proximal_gradient"},
                       # columns: (α, k) = (0.01, 2), (0.1, 2), (0.01, 4), (0.1, 4)
                       penalty={"plugin": "l1", "alpha": np.array([0.01, 0.1, 0.01, 0.1])},
                       ensembler={"plugin": "bagging", "k": np.array([2, 2, 4, 4])},
                       inference={"plugin": "arithmetic_mean"})
    rng = rngs_for(5)
    data = comp["problem"].generate(rng["problem"])
    ens = comp["ensembler"].fit(data, comp["learner"], comp["penalty"], rng["ensembler"])
    assert ens.n_settings == 2 and ens.setting.tolist() == [0, 1, 0, 1]
    pred = comp["inference"].predict(ens, data.X_test)
    # each member is fitted once on the distinct α (an iterative batch runs until all its
    # columns converge, so the oracle fits the same batch)
    distinct = regsim.get_registry().get("penalty", "l1")(alpha=np.array([0.01, 0.1]))
    members = []
    for row in ens.counts:
        idx = np.repeat(np.arange(row.size), row)
        rows = regsim.Dataset(data.X_train[idx], data.y_train[idx], data.X_test, data.y_test)
        members.append(comp["learner"].fit(rows, distinct, None).predict(data.X_test))
    members = np.array(members)  # (K, n, 2)
    for j, (setting, k) in enumerate([(0, 2), (1, 2), (0, 4), (1, 4)]):
        np.testing.assert_allclose(pred[:, j], members[:k, :, setting].mean(axis=0), rtol=1e-12,
                                   atol=1e-12)


def test_a_diverged_member_marks_its_cells_diverged():
    df = _rows({"name": "div", "problem": {"plugin": "friedman1", "n_train": 40},
                "learner": {"plugin": "gradient_descent", "step": 50.0, "n_steps": 50},
                "penalty": {"plugin": "l2", "alpha": 0.1},
                "ensembler": {"plugin": "bagging", "k": [1, 3]},
                "inference": {"plugin": "arithmetic_mean"}, "metrics": ["test_mse"]})
    assert df["status"].tolist() == ["diverged", "diverged"]
    assert df["error"].str.startswith("member 0: diverged at step").all()
    assert df["test_mse"].isna().all()


# ----------------------------------------------------------------- edge cases


def test_k1_without_bootstrap_equals_the_single_learner():
    """Through the runner for a deterministic learner (an α path of ridge)."""
    base = {"name": "k1", "seeds": 2, "problem": {"plugin": "friedman1", "n_train": 80},
            "learner": {"plugin": "least_squares"},
            "penalty": {"plugin": "l2", "alpha": [0.0, 0.1, 10.0]},
            "metrics": ["test_mse", "train_mse"]}
    single = _rows(base)
    bagged = _rows({**base, "ensembler": {"plugin": "bagging", "k": 1, "bootstrap": False},
                    "inference": {"plugin": "arithmetic_mean"}})
    assert (single["status"] == "ok").all() and (bagged["status"] == "ok").all()
    np.testing.assert_allclose(bagged["test_mse"], single["test_mse"], rtol=1e-10)
    np.testing.assert_allclose(bagged["train_mse"], single["train_mse"], rtol=1e-10)


@pytest.mark.parametrize("bootstrap", [False, True])
def test_k1_tree_is_the_tree_fitted_on_member_0s_rows(bootstrap):
    """A randomised learner: k = 1 is ``learner.fit`` on member 0's rows with member 0's
    generator (child 0 of the cell's ensembler generator, after drawing the resample);
    without bootstrap, all rows."""
    comp = _components(problem={"plugin": "friedman1", "n_train": 80},
                       learner={"plugin": "tree", "min_samples_leaf": 3},
                       penalty={"plugin": "none"},
                       ensembler={"plugin": "bagging", "k": np.array([1]), "bootstrap": bootstrap},
                       inference={"plugin": "arithmetic_mean"})
    rng = rngs_for(9)
    data = comp["problem"].generate(rng["problem"])
    ens = comp["ensembler"].fit(data, comp["learner"], comp["penalty"], rng["ensembler"])
    pred = comp["inference"].predict(ens, data.X_test)
    n = data.X_train.shape[0]
    child = rngs_for(9)["ensembler"].spawn(1)[0]
    # the member's generator first draws its resample, then seeds the learner
    idx = child.integers(0, n, size=n) if bootstrap else np.arange(n)
    assert np.bincount(idx, minlength=n).tolist() == ens.counts[0].tolist()
    rows = regsim.Dataset(data.X_train[idx], data.y_train[idx], data.X_test, data.y_test)
    direct = comp["learner"].fit(rows, comp["penalty"], child).predict(data.X_test)
    np.testing.assert_array_equal(pred, direct)


def test_identical_members_have_c_equal_to_v():
    """Bootstrap off, all rows, a deterministic learner: every member is the same fit."""
    df = _rows({"name": "same", "seeds": 2, "problem": {"plugin": "friedman1", "n_train": 60},
                "learner": {"plugin": "least_squares"}, "penalty": {"plugin": "l2", "alpha": 0.1},
                "ensembler": {"plugin": "bagging", "k": [2, 5], "bootstrap": False},
                "inference": {"plugin": "arithmetic_mean"}, "metrics": ["bagging_moments"]})
    np.testing.assert_allclose(df["bagging_c"], df["bagging_v"], rtol=1e-10)
    np.testing.assert_allclose(df["bagging_c_over_v"], 1.0, rtol=1e-10)
    np.testing.assert_allclose(df["ensemble_error"], df["member_error"], rtol=1e-10)


def test_members_do_not_depend_on_the_k_path_or_grouping():
    """A k=5 cell gives the same numbers alone and inside a k = 1..12 path."""
    base = {"name": "prefix", "seeds": [4], "problem": {"plugin": "friedman1", "n_train": 60},
            "learner": {"plugin": "tree"}, "penalty": {"plugin": "none"},
            "inference": {"plugin": "arithmetic_mean"}, "metrics": ["bagging_moments"]}
    alone = _rows({**base, "ensembler": {"plugin": "bagging", "k": 5}})
    path = _rows({**base, "ensembler": {"plugin": "bagging", "k": list(range(1, 13))}})
    row = path[path["ensembler.k"] == 5]
    for col in ("ensemble_error", "bagging_v", "bagging_c"):
        assert row[col].item() == pytest.approx(alone[col].item(), rel=1e-12)
    assert row["cell_id"].item() == alone["cell_id"].item()


# ----------------------------------------------------------------- inference strategies


def test_classification_strategies_against_explicit_loops():
    comp = _components(problem={"plugin": "softmax_classification", "n_train": 60, "n_test": 90,
                                "n_features": 4, "n_classes": 5},
                       learner={"plugin": "tree", "max_depth": 3}, penalty={"plugin": "none"},
                       ensembler={"plugin": "bagging", "k": np.array([1, 3, 7])})
    rng = rngs_for(2)
    data = comp["problem"].generate(rng["problem"])
    ens = comp["ensembler"].fit(data, comp["learner"], comp["penalty"], rng["ensembler"])
    P = ens.member_predictions(data.X_test)  # (n, K, m, C)
    assert P.shape == (90, 7, 3, 5)
    np.testing.assert_allclose(P.sum(axis=3), 1.0)  # missing classes padded with zeros
    reg = regsim.get_registry()
    arith = reg.get("inference", "arithmetic_mean")().predict(ens, data.X_test)
    geo = reg.get("inference", "geometric_mean")().predict(ens, data.X_test)
    vote = reg.get("inference", "majority_vote")().predict(ens, data.X_test)
    for j, k in enumerate([1, 3, 7]):
        members = [P[:, i, j, :] for i in range(k)]
        np.testing.assert_allclose(arith[:, j], sum(members) / k, rtol=1e-12)
        g = np.prod([np.clip(p, 1e-15, 1) for p in members], axis=0) ** (1 / k)
        np.testing.assert_allclose(geo[:, j], g / g.sum(axis=1, keepdims=True), rtol=1e-9)
        counts = np.zeros((90, 5))
        for p in members:
            counts[np.arange(90), p.argmax(axis=1)] += 1
        np.testing.assert_allclose(vote[:, j], counts / k)
    np.testing.assert_allclose(geo.sum(axis=2), 1.0)


def test_majority_vote_on_regression_is_refused_by_validation():
    with pytest.raises(regsim.SpecError) as info:
        regsim.load_spec({"name": "vote", "problem": {"plugin": "friedman1", "n_train": 40},
                          "learner": {"plugin": "tree"}, "penalty": {"plugin": "none"},
                          "ensembler": {"plugin": "bagging", "k": 3},
                          "inference": {"plugin": "majority_vote"}})
    message = str(info.value)
    assert "'majority_vote'" in message and "'friedman1'" in message
    assert "classification" in message and "regression" in message
    assert "arithmetic_mean" in message


# ----------------------------------------------------------------- spec validation


def test_incompatible_strategy_and_ensemble_are_spec_errors():
    base = {"name": "bad", "problem": {"plugin": "friedman1"}, "learner": {"plugin": "tree"},
            "penalty": {"plugin": "none"}}
    # weight_scaling is the dropout ensembler's strategy (accepts only "dropout" ensembles)
    with pytest.raises(SpecError, match=r"'weight_scaling' cannot combine 'bagging'.*"
                                        r"arithmetic_mean, geometric_mean, majority_vote"):
        load_spec({**base, "ensembler": {"plugin": "bagging"},
                   "inference": {"plugin": "weight_scaling"}})
    with pytest.raises(SpecError, match="needs an ensembler"):
        load_spec({**base, "inference": {"plugin": "arithmetic_mean"}})
    with pytest.raises(SpecError, match="needs an inference strategy; compatible: arithmetic_mean"):
        load_spec({**base, "ensembler": {"plugin": "bagging"}})
    with pytest.raises(SpecError, match=r"ensembler.k\[1\]: must be >= 1"):
        load_spec({**base, "ensembler": {"plugin": "bagging", "k": [2, 0]},
                   "inference": {"plugin": "arithmetic_mean"}})
    with pytest.raises(SpecError, match=r"'tree' cannot fit penalty 'l2'.*plugin: none"):
        load_spec({**base, "penalty": {"plugin": "l2"}})
