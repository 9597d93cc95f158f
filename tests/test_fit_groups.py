"""One fit per fit group (issue 15 §2): the inference strategies of a problem
instance, learner, penalty and ensembler read one fit, with the numbers each
strategy's group gives when it fits alone."""

import math

import numpy as np
import pytest

import regsim
from regsim.runner import group_cells, run_cells
from regsim.spec import load_spec

STRATEGIES = [{"plugin": "weight_scaling"}, {"plugin": "mc_arithmetic", "n_masks": 20},
              {"plugin": "mc_geometric", "n_masks": 20}, {"plugin": "exact_arithmetic"},
              {"plugin": "exact_geometric"}]


def dropout_spec(alpha=1e-3, inference=STRATEGIES, ensembler="dropout", seeds=2):
    return {
        "name": "fit-groups", "seeds": seeds,
        "problem": [{"plugin": "softmax_classification", "n_train": 80, "n_test": 60,
                     "n_features": 5, "n_classes": 3},
                    {"plugin": "teacher_mlp", "n_train": 80, "n_test": 60, "n_features": 3,
                     "n_classes": 3}],
        "learner": [{"plugin": "softmax_regression", "n_epochs": 3},
                    {"plugin": "mlp", "hidden": [4], "n_epochs": 3}],
        "penalty": {"plugin": "l2", "alpha": alpha},
        # one drop setting per alternative: drop probabilities are path parameters, so a
        # list would batch them into one group, and these tests want single-cell groups
        "ensembler": [{"plugin": ensembler, "drop_input": 0.5, "drop_hidden": 0.0},
                      {"plugin": ensembler, "drop_input": 0.2, "drop_hidden": 0.5}],
        "zip": [["problem", "learner", "ensembler"]],
        "inference": inference,
        "metrics": ["accuracy", "log_loss", "dropout_gap", "mc_error"],
    }


def same_rows(a: list[dict], b: list[dict]) -> list:
    """(cell_id, column, a, b) wherever two row sets differ, timing columns aside."""
    by_id = {r["cell_id"]: r for r in b}
    assert sorted(by_id) == sorted(r["cell_id"] for r in a)
    out = []
    for row in a:
        other = by_id[row["cell_id"]]
        assert set(row) == set(other)
        for col, value in row.items():
            if col.endswith("_s"):  # wall_s, train_s: timings
                continue
            both_nan = isinstance(value, float) and math.isnan(value) and math.isnan(other[col])
            if value != other[col] and not both_nan:
                out.append((row["cell_id"], col, value, other[col]))
    return out


def test_fit_group_joins_the_strategies_of_one_fit_and_keeps_ids():
    spec = load_spec(dropout_spec())
    cells = spec.cells
    assert len(cells) == 2 * 2 * 5  # 2 ensemblers x 2 seeds x 5 strategies
    assert len({c.group for c in cells}) == 20  # every strategy its own batched group
    assert len({c.fit_group for c in cells}) == 4  # one fit per ensembler and seed
    for fit_group in group_cells(cells):
        assert len(fit_group) == 5
        assert len({c.seed for c in fit_group}) == 1
        assert len({str(c.components["ensembler"]) for c in fit_group}) == 1
        assert {c.components["inference"]["plugin"] for c in fit_group} == \
            {s["plugin"] for s in STRATEGIES}
    # cell_id and group hash what they hashed before fit groups existed
    first = cells[0]
    digest = regsim.spec._digest
    ident = {"components": first.components, "metrics": list(first.metrics), "seed": first.seed}
    assert first.cell_id == digest(ident)
    # a fit group is whole groups, its path parameters left out: penalty alpha as an axis
    path = load_spec(dropout_spec(alpha=[1e-3, 1e-2]))
    assert len({c.fit_group for c in path.cells}) == 4
    assert all(len({c.group for c in g}) == 5 for g in group_cells(path.cells))


def test_every_strategy_reads_one_fit_with_the_numbers_of_each_cell_alone():
    # Every batched group here is one cell, so "cell by cell" is each strategy fitting alone.
    spec = load_spec(dropout_spec())
    grouped = run_cells(spec.cells, sweep="t", run_id="r")
    alone = [row for cell in spec.cells for row in run_cells([cell], sweep="t", run_id="r")]
    assert {r["status"] for r in grouped} == {"ok"}
    assert same_rows(grouped, alone) == []
    assert grouped[0]["arith_max_abs_dp"] is not None and grouped[0]["mc_rms_error"] is None
    # one training per fit group: every strategy of it reports the same measured training time
    by_fit = {}
    for cell, row in zip([c for g in group_cells(spec.cells) for c in g], grouped):
        by_fit.setdefault(cell.fit_group, set()).add(row["train_s"])
    assert all(len(times) == 1 for times in by_fit.values())
    assert len({r["train_s"] for r in alone}) == len(alone)  # fitted alone: one training each


def test_path_parameters_of_fit_and_strategy_give_the_numbers_of_separate_groups():
    # alpha (a fit path parameter) and n_masks (a strategy's) batched: the Monte Carlo groups
    # repeat each fit column per n_masks and read the shared fit through take().
    inference = [{"plugin": "weight_scaling"},
                 {"plugin": "mc_arithmetic", "n_masks": [5, 20]},
                 {"plugin": "exact_geometric"}]
    spec = load_spec(dropout_spec(alpha=[1e-3, 1e-1], inference=inference, seeds=1))
    shared = run_cells(spec.cells, sweep="t", run_id="r")
    separate = run_cells(spec.cells, sweep="t", run_id="r", share_fits=False)
    assert {r["status"] for r in shared} == {"ok"}
    assert same_rows(shared, separate) == []
    # (Not compared with each cell alone: a batched group's Monte Carlo masks are keyed by the
    # network's position in the batch, and batched reductions round differently, with or
    # without fit groups. The test above compares with cells alone where groups are single.)


COUNTING = '''
import regsim
from regsim.plugins.dropout.ensembler import Dropout


class CountingCache(dict):
    """Counts exact-ensemble enumerations: each stores one entry."""
    stores = 0

    def __setitem__(self, key, value):
        if key[0] != "mc":  # Monte Carlo sums are cached beside the exact means
            CountingCache.stores += 1
        super().__setitem__(key, value)


class CountingDropout(Dropout):
    name = "counting_dropout"
    fits = 0

    def fit(self, data, learner, penalty, rng):
        CountingDropout.fits += 1
        ensemble = super().fit(data, learner, penalty, rng)
        ensemble.cache = CountingCache()
        return ensemble


@regsim.hookimpl
def register_ensemblers(register):
    register(CountingDropout)
'''


def test_one_training_and_one_exact_enumeration_per_network(tmp_path, monkeypatch):
    (tmp_path / "counting.py").write_text(COUNTING)
    monkeypatch.setenv("REGSIM_PLUGINS_DIR", str(tmp_path))
    registry = regsim.registry.Registry()
    cls = registry.get("ensembler", "counting_dropout")
    cache = cls.fit.__globals__["CountingCache"]
    spec = load_spec(dropout_spec(ensembler="counting_dropout"), registry)
    run_cells(spec.cells, sweep="t", run_id="r", registry=registry)
    # 4 networks; dropout_gap (both exact means), mc_error and the exact strategies share one
    # enumeration of the test set per network
    assert (cls.fits, cache.stores) == (4, 4)
    run_cells(spec.cells, sweep="t", run_id="r", registry=registry, share_fits=False)
    assert (cls.fits, cache.stores) == (4 + 20, 4 + 20)  # before: once per strategy


def test_a_failing_strategy_does_not_take_its_fit_group_down():
    # max_units 2 < 5 droppable inputs: exact_arithmetic fails at run time on the
    # softmax problem only; its neighbours in the fit group are stored ok.
    inference = [{"plugin": "weight_scaling"},
                 {"plugin": "exact_arithmetic", "max_units": 26},
                 {"plugin": "mc_geometric", "n_masks": 10}]
    spec = load_spec(dropout_spec(inference=inference, seeds=1))
    bad = next(c for c in spec.cells if c.components["inference"]["plugin"] == "exact_arithmetic")
    bad.components["inference"]["max_units"] = 2  # past validation: fails where it runs
    rows = {r["cell_id"]: r for r in run_cells(spec.cells, sweep="t", run_id="r")}
    assert rows[bad.cell_id]["status"] == "error"
    assert "max_units=2" in rows[bad.cell_id]["error"]
    others = [r for cid, r in rows.items() if cid != bad.cell_id]
    assert {r["status"] for r in others} == {"ok"}
    neighbours = [c for c in spec.cells if c.fit_group == bad.fit_group and c is not bad]
    assert len(neighbours) == 2
    alone = {r["cell_id"]: r for c in neighbours for r in run_cells([c], sweep="t", run_id="r")}
    assert same_rows([rows[c.cell_id] for c in neighbours], list(alone.values())) == []


def test_a_fit_group_over_its_budget_stores_every_cell_as_timed_out():
    spec = load_spec(dropout_spec(seeds=1))
    fit_group = group_cells(spec.cells)[0]
    rows = run_cells(fit_group, sweep="t", run_id="r", time_budget_s=1e-6)
    assert [r["status"] for r in rows] == ["error"] * len(fit_group)
    assert all(r["error"].startswith("CellTimeout:") for r in rows)
    assert np.all([r["cell_id"] == c.cell_id for r, c in zip(rows, fit_group)])


def one_pass_per_count(ensemble, j, X, n_masks, geometric, block=64):
    """The Monte Carlo mean as one pass of its own per count: blocks of masks, summed."""
    from regsim.plugins.dropout.ensembler import _masked_logits
    from regsim.plugins.dropout.networks import softmax

    net = ensemble.network.take([j])
    gens = [np.random.default_rng(np.random.SeedSequence(ensemble.mask_seed_of(j),
                                                         spawn_key=(0, l)))
            for l in range(len(net.weights))]
    drop = ensemble.drop_of(j)
    total = 0.0
    for lo in range(0, n_masks, block):
        b = min(block, n_masks - lo)
        masks = [(g.random((b, X.shape[0], d)) >= p).astype(float) if p > 0 else None
                 for g, d, p in zip(gens, net.sizes, drop)]
        Z = _masked_logits(net, X, masks, [1 - p for p in drop], b)
        total = total + (Z.sum(axis=0) if geometric else softmax(Z).sum(axis=0))
    mean = total / n_masks
    return softmax(mean) if geometric else mean


def test_monte_carlo_counts_and_strategies_share_one_pass_with_the_same_numbers():
    from regsim.plugins.dropout.ensembler import DropoutEnsemble, MCArithmetic, MCGeometric
    from regsim.plugins.dropout.networks import Network

    rng = np.random.default_rng(1)
    net = Network.init([6, 7, 4], 2, rng)
    net = Network([W + 0.1 * rng.standard_normal(W.shape) for W in net.weights],
                  [b + 0.1 * rng.standard_normal(b.shape) for b in net.biases])
    counts = [1, 10, 63, 64, 65, 128, 130, 300]  # inside, at and past block boundaries
    index = np.repeat([0, 1], len(counts))
    ensemble = DropoutEnsemble(m=len(index), network=net, index=index, drop=[0.2, 0.5],
                               mask_seed=123)
    X = rng.standard_normal((50, 6))
    for cls in (MCArithmetic, MCGeometric):
        P = cls(n_masks=np.array(counts * 2)).predict(ensemble, X)
        for i, (j, n_masks) in enumerate(zip(index.tolist(), counts * 2)):
            expected = one_pass_per_count(ensemble, j, X, n_masks, cls.geometric)
            assert np.array_equal(P[:, i], expected), (cls.name, j, n_masks)
    # one pass per network up to the largest count, read by both strategies
    assert sorted(k[3] for k in ensemble.cache if k[0] == "mc") == sorted(counts * 2)


def test_bagging_strategies_share_the_members_with_the_numbers_of_separate_groups():
    spec = load_spec({
        "name": "bagging-fit-groups", "seeds": 2,
        "problem": {"plugin": "softmax_classification", "n_train": 60, "n_test": 40,
                    "n_features": 4, "n_classes": 3},
        "learner": {"plugin": "tree", "min_samples_leaf": 2},
        "penalty": {"plugin": "none"},
        "ensembler": {"plugin": "bagging", "k": [1, 3, 8]},
        "inference": [{"plugin": "arithmetic_mean"}, {"plugin": "geometric_mean"},
                      {"plugin": "majority_vote"}],
        "metrics": ["accuracy", "log_loss", "bagging_moments"]})
    assert [len(g) for g in group_cells(spec.cells)] == [9, 9]  # 3 strategies x 3 sizes
    shared = run_cells(spec.cells, sweep="t", run_id="r")
    separate = run_cells(spec.cells, sweep="t", run_id="r", share_fits=False)
    assert {r["status"] for r in shared} == {"ok"}
    assert same_rows(shared, separate) == []
    votes = [r for r in shared if r["inference"] == "majority_vote"]
    means = [r for r in shared if r["inference"] == "arithmetic_mean"]
    assert [r["accuracy"] for r in votes] != [r["accuracy"] for r in means] or \
        [r["log_loss"] for r in votes] != [r["log_loss"] for r in means]  # strategies still differ


@pytest.mark.parametrize("ensembler, strategies", [
    ({"plugin": "bagging", "k": [1, 3, 8]}, ["arithmetic_mean", "majority_vote"]),
    ({"plugin": "dropout", "drop_input": 0.3, "drop_hidden": 0.0},
     ["weight_scaling", "mc_geometric", "exact_arithmetic"]),
])
def test_take_selects_columns_with_their_predictions(ensembler, strategies):
    from regsim.runner import _build, rngs_for

    penalty = {"plugin": "l2", "alpha": [1e-3, 1e-1]} if ensembler["plugin"] == "dropout" \
        else {"plugin": "none"}
    learner = {"plugin": "softmax_regression", "n_epochs": 2} \
        if ensembler["plugin"] == "dropout" else {"plugin": "tree"}
    spec = load_spec({"name": "take", "problem": {
        "plugin": "softmax_classification", "n_train": 50, "n_test": 30, "n_features": 4,
        "n_classes": 3}, "learner": learner, "penalty": penalty, "ensembler": ensembler,
        "inference": {"plugin": strategies[0]}})
    cells = spec.cells
    registry = regsim.get_registry()
    data = _build(registry, "problem", cells).generate(rngs_for(0)["problem"])
    fit = _build(registry, "ensembler", cells).fit(
        data, _build(registry, "learner", cells), _build(registry, "penalty", cells),
        rngs_for(0)["ensembler"])
    index = np.array([1, 0, 1, 1])
    taken = fit.take(index)
    assert taken.m == 4 and list(taken.status) == [fit.status[i] for i in index]
    for name in strategies:
        strategy = registry.get("inference", name)()
        whole, part = strategy.predict(fit, data.X_test), strategy.predict(taken, data.X_test)
        assert np.array_equal(part, whole[:, index])
    for col, values in fit.columns.items():
        assert np.array_equal(np.asarray(taken.columns[col]), np.asarray(values)[index])


def test_kit_passes_the_builtin_takes_and_catches_a_wrong_one():
    from dataclasses import dataclass, replace

    from regsim.plugins.bagging.ensembler import BaggedEnsemble, Bagging
    from regsim.testing import run_checks

    registry = regsim.get_registry()
    for name in ("bagging", "dropout"):
        result = {r.check: r for r in run_checks(registry.get("ensembler", name))}["ensembler_take"]
        assert result.status == "passed", result.message

    @dataclass
    class FirstSizeTaken(BaggedEnsemble):
        def take(self, index):  # forgets that the columns differ in ensemble size
            index = np.asarray(index)
            return replace(self, **self.taken_fields(index), k=np.full(len(index), self.k[0]),
                           setting=np.asarray(self.setting)[index])

    class WrongTake(Bagging):
        name = "wrong_take_bagging"

        def fit(self, data, learner, penalty, rng):
            ens = super().fit(data, learner, penalty, rng)
            return FirstSizeTaken(**{f: getattr(ens, f) for f in ens.__dataclass_fields__})

    result = {r.check: r for r in run_checks(WrongTake)}["ensembler_take"]
    assert result.status == "failed" and "predicts other values" in result.message


def test_a_group_with_its_fit_columns_in_another_order_fits_on_its_own():
    # zip pairs each strategy with its own alpha order: Monte Carlo masks are keyed by the
    # network's position in its group's batch, so reading the shared fit in another order
    # would change numbers; the group fits alone, with the numbers of separate groups.
    raw = dropout_spec(inference=[{"plugin": "weight_scaling"},
                                  {"plugin": "mc_arithmetic", "n_masks": 15}], seeds=1)
    raw.update(problem=raw["problem"][0], learner=raw["learner"][0],
               ensembler={"plugin": "dropout", "drop_input": 0.3, "drop_hidden": 0.0},
               penalty=[{"plugin": "l2", "alpha": [1e-3, 1e-1]},
                        {"plugin": "l2", "alpha": [1e-1, 1e-3]}],
               zip=[["penalty", "inference"]])
    spec = load_spec(raw)
    assert [len(g) for g in group_cells(spec.cells)] == [4]  # one fit group of two groups
    shared = run_cells(spec.cells, sweep="t", run_id="r")
    separate = run_cells(spec.cells, sweep="t", run_id="r", share_fits=False)
    assert {r["status"] for r in shared} == {"ok"}
    assert same_rows(shared, separate) == []
