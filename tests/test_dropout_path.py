"""Drop probabilities and input noise as path parameters (issue 15 §3).

The oracle is each cell run alone (a spec with scalar values): a batched group
must give every cell the very numbers it gets alone, Monte Carlo inference included.
"""

import numpy as np
import pytest

import regsim
from regsim.runner import run_cells

BASE = {"name": "drop-path", "seeds": 2,
        "problem": {"plugin": "softmax_classification", "n_train": 60, "n_test": 40,
                    "n_features": 5, "n_classes": 3},
        "learner": {"plugin": "mlp", "hidden": [6], "n_epochs": 3},
        "penalty": {"plugin": "l2", "alpha": 1e-3},
        "inference": {"plugin": "mc_arithmetic", "n_masks": 20},
        "metrics": ["accuracy", "log_loss"]}
KEYS = ("ensembler.drop_input", "ensembler.drop_hidden", "learner.input_noise", "seed")


def _rows(spec):
    loaded = regsim.load_spec(spec)
    return loaded, {tuple(r.get(k) for k in KEYS): r
                    for r in run_cells(loaded.cells, sweep="t", run_id="t")}


@pytest.mark.parametrize("learner", [
    {"plugin": "mlp", "hidden": [6], "n_epochs": 3},
    {"plugin": "mlp", "hidden": [6], "n_epochs": 3, "input_noise": [0.0, 0.4]},
])
def test_batched_drop_probabilities_give_each_cell_its_solo_numbers(learner):
    """3 × 3 drop values (input × hidden, zeros included: four masking patterns),
    optionally × 2 noise levels, train as one group per seed; every cell's accuracy
    and log loss equal those of the cell run alone (Monte Carlo inference included)."""
    spec = {**BASE, "learner": learner,
            "ensembler": {"plugin": "dropout", "drop_input": [0.0, 0.1, 0.3],
                          "drop_hidden": [0.0, 0.2, 0.6]}}
    loaded, batched = _rows(spec)
    assert len({c.group for c in loaded.cells}) == 2  # one batched computation per seed
    assert all(r["status"] == "ok" for r in batched.values())
    for key, row in batched.items():
        d_in, d_hid, sigma, seed = key
        solo_spec = {**spec, "seeds": [seed],
                     "learner": {**learner, "input_noise": sigma},
                     "ensembler": {"plugin": "dropout", "drop_input": d_in, "drop_hidden": d_hid}}
        _, solo = _rows(solo_spec)
        (only,) = solo.values()
        # metrics average an (n, m) array per column: summation order differs in the
        # last bit with m, hence 1e-13 on log loss; the networks themselves are equal
        # bit for bit (test below)
        assert only["accuracy"] == row["accuracy"], key
        assert only["log_loss"] == pytest.approx(row["log_loss"], rel=1e-13), key
    # the cells differ: masking changes the networks
    assert len({r["log_loss"] for r in batched.values()}) > len(batched) // 2


def test_drop_hidden_on_softmax_regression_does_not_split_the_networks():
    """No hidden layer: cells differing only in drop_hidden share one trained network."""
    reg = regsim.get_registry()
    data = reg.get("problem", "softmax_classification")(n_train=40, n_features=4).generate(
        np.random.default_rng(0))
    ens = reg.get("ensembler", "dropout")(drop_input=np.array([0.2, 0.2, 0.4]),
                                          drop_hidden=np.array([0.0, 0.5, 0.5])).fit(
        data, reg.get("learner", "softmax_regression")(n_epochs=2),
        reg.get("penalty", "l2")(alpha=0.01), np.random.default_rng(1))
    assert ens.network.m == 2 and ens.index[0] == ens.index[1] != ens.index[2]
    assert ens.drop is None and ens.drop_of(ens.index[2]) == [0.4]


def test_batched_networks_equal_solo_networks_bit_for_bit():
    reg = regsim.get_registry()
    data = reg.get("problem", "softmax_classification")(n_train=50, n_features=4).generate(
        np.random.default_rng(2))
    mlp, l2, dropout = (reg.get("learner", "mlp"), reg.get("penalty", "l2"),
                        reg.get("ensembler", "dropout"))
    d_in, d_hid = np.array([0.0, 0.3, 0.3, 0.0]), np.array([0.5, 0.0, 0.5, 0.0])
    batch = dropout(drop_input=d_in, drop_hidden=d_hid).fit(
        data, mlp(hidden=[5], n_epochs=2), l2(alpha=1e-3), np.random.default_rng(3))
    for j in range(4):
        alone = dropout(drop_input=d_in[j], drop_hidden=d_hid[j]).fit(
            data, mlp(hidden=[5], n_epochs=2), l2(alpha=1e-3), np.random.default_rng(3))
        for W, Wb in zip(alone.network.weights, batch.network.weights):
            np.testing.assert_array_equal(W[0], Wb[batch.index[j]])
        assert alone.drop == batch.drop_of(batch.index[j])
