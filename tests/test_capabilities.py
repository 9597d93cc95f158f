"""The capability model: a spec validate accepts runs; one whose cells would all fail is refused.

The proof is for the whole kind, not for examples: every combination of the
installed components (problem x learner x penalty x ensembler-or-none x
strategy-or-none, default metrics) on tiny sizes either is refused by
``load_spec`` with a one-line message, or runs with every cell ``ok``,
``diverged`` or ``not_converged`` and every metric finite. The listed
instances of issue 10 follow as their own cases.
"""

import itertools
import math

import pytest

import regsim
from regsim import SpecError
from regsim.runner import run_cells

#: Small values for parameters that set sizes and work, applied wherever a plugin declares them.
TINY = {"n_train": 30, "n_test": 20, "n_features": 3, "n_classes": 3, "teacher_hidden": [4],
        "test_fraction": 0.05,
        "hidden": [2], "n_epochs": 2, "n_steps": 50, "max_iter": 200, "k": 3, "n_masks": 5}
RAN = {"ok", "diverged", "not_converged"}


def _component(kind, name, registry, **extra):
    cls = registry.get(kind, name)
    params = dict(getattr(cls, "example_params", {}) or {})
    params.update({k: v for k, v in TINY.items() if k in cls.params})
    params.update({k: v for k, v in extra.items() if k in cls.params})
    return {"plugin": name, **params}


def _problems(registry):
    """Every problem, and a task-choosing problem once per task it can be given."""
    for name in registry.names("problem"):
        cls = registry.get("problem", name)
        if cls.task_param is None:
            yield _component("problem", name, registry)
        else:
            for task in cls.params[cls.task_param].choices:
                yield _component("problem", name, registry, **{cls.task_param: task})


def _finite(value):
    if value is None:
        return True
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return True


# diabetes.csv read as classification has a class per distinct target value: valid, odd, warned
@pytest.mark.filterwarnings("ignore:The number of unique classes:UserWarning")
def test_every_combination_of_installed_components_is_refused_or_runs():
    registry = regsim.get_registry()
    ensembles = [(None, None)] + [
        (ens, strat) for ens in registry.names("ensembler") for strat in registry.names("inference")]
    metric_columns = {col for name in registry.names("metric")
                      for col in registry.get("metric", name).columns}
    accepted, refused, cells = [], [], []
    for problem, learner, penalty, (ens, strat) in itertools.product(
            list(_problems(registry)), registry.names("learner"), registry.names("penalty"),
            ensembles):
        spec = {"name": "matrix", "seeds": 1, "problem": problem,
                "learner": _component("learner", learner, registry),
                "penalty": _component("penalty", penalty, registry, alpha=0.1)}
        if ens is not None:
            spec["ensembler"] = _component("ensembler", ens, registry)
            spec["inference"] = _component("inference", strat, registry)
        label = (problem["plugin"], problem.get("task"), learner, penalty, ens, strat)
        try:
            loaded = regsim.load_spec(spec)
        except SpecError as exc:
            message = str(exc)
            assert "\n" not in message and ": " in message, (label, message)
            refused.append(label)
            continue
        accepted.append(label)
        cells.extend((label, cell) for cell in loaded.cells)
    rows = run_cells([cell for _, cell in cells], sweep="matrix", run_id="matrix")
    by_id = {row["cell_id"]: row for row in rows}
    bad = []
    for label, cell in cells:
        row = by_id[cell.cell_id]
        if row["status"] not in RAN:
            bad.append((label, row["status"], row.get("error")))
        elif not all(_finite(row.get(col)) for col in metric_columns):
            bad.append((label, "non-finite metric",
                        {c: row.get(c) for c in metric_columns if not _finite(row.get(c))}))
    assert not bad, f"{len(bad)} accepted combinations failed at run time: {bad[:5]}"
    # the matrix is not vacuous: both outcomes occur, for both tasks
    assert len(accepted) > 20 and len(refused) > 20
    assert {label[2] for label in accepted} == set(registry.names("learner"))


BASE = {"name": "t", "problem": {"plugin": "linear_regression", "n_train": 30, "n_features": 3},
        "learner": {"plugin": "least_squares"}, "penalty": {"plugin": "l2", "alpha": 1.0}}
CLASSES = {"plugin": "softmax_classification", "n_train": 30, "n_features": 3, "n_classes": 3}


@pytest.mark.parametrize("change, fragments", [
    ({"learner": {"plugin": "softmax_regression"}},
     ["learner: 'softmax_regression'", "problem 'linear_regression'", "handles classification",
      "produces regression"]),
    ({"problem": CLASSES, "learner": {"plugin": "linear_network"}},
     ["'linear_network'", "'softmax_classification'", "handles regression"]),
    ({"problem": CLASSES},
     ["learner: 'least_squares'", "'softmax_classification'", "handles regression",
      "produces classification"]),
    ({"ensembler": {"plugin": "bagging", "k": 3}, "inference": {"plugin": "majority_vote"}},
     ["inference: 'majority_vote'", "'linear_regression'", "handles classification",
      "compatible: arithmetic_mean, geometric_mean"]),
    ({"problem": {"plugin": "csv", "path": "diabetes.csv", "target": "target",
                  "task": "classification"}},
     ["'least_squares'", "problem 'csv'", "produces classification"]),
    ({"problem": CLASSES, "learner": {"plugin": "mlp", "hidden": [0]}},
     ["learner.hidden[0]", ">= 1", "got 0"]),
    ({"problem": CLASSES, "learner": {"plugin": "mlp", "hidden": [2.5]}},
     ["learner.hidden[0]", "integer", "2.5"]),
    ({"problem": CLASSES, "learner": {"plugin": "mlp", "hidden": [[]]}},
     ["learner.hidden[0]", "at least 1 element", "[]"]),
    ({"seeds": [18446744073709551617]}, ["seeds", "below 2**63", "18446744073709551617"]),
    ({"ensembler": {"plugin": "bagging", "k": 1e30}, "inference": {"plugin": "arithmetic_mean"}},
     ["ensembler.k", "int64", "1000000000000000019884624838656"]),
    ({"problem": {**BASE["problem"], "n_train": 2**63}}, ["problem.n_train", "int64"]),
    ({"name": "x" * 256}, ["name", "at most 200", "255 bytes"]),
    ({"metrics": ["test_mse", "accuracy"]},
     ["metrics[1]", "'accuracy' measures classification", "produce regression"]),
])
def test_listed_instances_are_refused_naming_both_sides(change, fragments):
    with pytest.raises(SpecError) as info:
        regsim.load_spec({**BASE, **change})
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_declared_strategy_tasks_are_enforced_for_third_party_strategies(tmp_path):
    """A strategy declaring ``tasks = ("regression",)`` is refused on classification (it was
    stored ``ok`` with garbage): the check reads the declaration, not a list of names. The
    strategy is a one-file plugin loaded by the real registry, as a user's would be."""
    from regsim.registry import Registry

    (tmp_path / "regression_only.py").write_text(
        "import regsim\n"
        "from regsim import InferenceStrategy\n\n\n"
        "class RegressionOnly(InferenceStrategy):\n"
        "    name = 'regression_only_mean'\n"
        "    accepts = ('bagging',)\n"
        "    tasks = ('regression',)\n"
        "    params = {}\n\n"
        "    def predict(self, ensemble, X):\n"
        "        return ensemble.member_predictions(X).mean(axis=1)\n\n\n"
        "@regsim.hookimpl\n"
        "def register_inference_strategies(register):\n"
        "    register(RegressionOnly)\n")
    registry = Registry(plugins_dirs=(str(tmp_path),))
    assert not registry.failures, registry.failures
    spec = {**BASE, "problem": CLASSES, "learner": {"plugin": "tree"},
            "penalty": {"plugin": "none"}, "ensembler": {"plugin": "bagging", "k": 3},
            "inference": {"plugin": "regression_only_mean"}}
    with pytest.raises(SpecError, match=r"inference: 'regression_only_mean' cannot predict for "
                                         r"problem 'softmax_classification'.*handles regression"):
        regsim.load_spec(spec, registry)
    regsim.load_spec({**spec, "problem": BASE["problem"]}, registry)  # its own task is accepted


def test_a_task_chosen_by_a_parameter_is_checked_per_value():
    """The csv problem's task is a parameter; as an axis, each value is checked."""
    spec = {**BASE, "learner": {"plugin": "tree"}, "penalty": {"plugin": "none"},
            "problem": {"plugin": "csv", "path": "diabetes.csv", "target": "target",
                        "task": ["regression", "classification"]}}
    assert len(regsim.load_spec(spec)) == 2  # a tree handles both
    with pytest.raises(SpecError, match="'least_squares' cannot learn problem 'csv'.*classification"):
        regsim.load_spec({**spec, "learner": {"plugin": "least_squares"},
                          "penalty": {"plugin": "l2"}})
