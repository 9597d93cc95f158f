"""Spec validation: every bad spec fails before anything runs, with a message that
names the key path, the bad value and what is allowed; YAML is never evaluated."""

import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import regsim
from regsim import SpecError
from regsim.spec import SLOTS

BASE = {
    "name": "t",
    "problem": {"plugin": "linear_regression", "n_train": 50, "n_features": 5},
    "learner": {"plugin": "least_squares"},
    "penalty": {"plugin": "l2", "alpha": 1.0},
}


def _with(path, value, **top):
    spec = copy.deepcopy(BASE)
    node = spec
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    spec.update(top)
    return spec


@pytest.mark.parametrize("spec, fragments", [
    (_with(["penalty", "plugin"], "l3"),
     ["penalty.plugin", "'l3'", "installed: ", " l1, l2"]),
    (_with(["learner", "plugin"], "ridge"),
     ["learner.plugin", "'ridge'", "least_squares", "lasso_path", "gradient_descent"]),
    (_with(["penalty", "alpha"], -1), ["penalty.alpha", ">= 0", "-1"]),
    (_with(["penalty", "alpha"], [0.1, -2]), ["penalty.alpha[1]", ">= 0", "-2"]),
    (_with(["penalty", "beta"], 1), ["penalty.beta", "unknown parameter", "allowed: alpha"]),
    (_with(["problem", "n_train"], [[10, 20], [30]]),
     ["problem.n_train[0]", "single int >= 2", "[10, 20]"]),
    (_with(["problem", "noise"], {"mean": 1}),
     ["problem.noise", "float >= 0", "logspace", "{'mean': 1}"]),
    (_with(["problem", "noise"], "loud"), ["problem.noise", "number", "'loud'"]),
    (_with(["problem", "noise"], float("inf")), ["problem.noise", "finite", "inf"]),
    (_with(["problem", "n_train"], 2.5), ["problem.n_train", "integer", "2.5"]),
    (_with(["problem", "design"], "round"),
     ["problem.design", "'orthogonal'", "'toeplitz'", "'round'"]),
    (_with(["penalty", "alpha"], {"logspace": [-3, 3]}),
     ["penalty.alpha.logspace", "[lo, hi, n]", "[-3, 3]"]),
    (_with(["penalty", "alpha"], {"logspace": [-3, 3, 2.5]}),
     ["penalty.alpha.logspace", "positive integer", "2.5"]),
    (_with(["penalty", "alpha"], {"geomspace": [1, 2, 3]}),
     ["penalty.alpha", "logspace", "linspace", "geomspace"]),
    (_with(["problem", "n_train"], [50, 60], zip=[["problem.n_train", "problem.noise"]]),
     ["zip", "problem.noise", "not an axis"]),
    (_with(["problem", "noise"], [0.1, 0.2, 0.3],
           zip=[["problem.n_train", "problem.noise"]]) | {
        "problem": {"plugin": "linear_regression", "n_train": [50, 60], "noise": [0.1, 0.2, 0.3]}},
     ["zip", "equal lengths", "problem.n_train has 2", "problem.noise has 3"]),
    (_with(["penalty", "plugin"], "l1"),
     ["learner", "'least_squares'", "cannot fit penalty 'l1'", "proximal_gradient"]),
    (_with(["learner"], [{"plugin": "least_squares"}, {"plugin": "lasso_path"}]),
     ["'lasso_path' cannot fit penalty 'l2'", "zip: [[learner, penalty]]"]),
    (_with(["metrics"], ["test_mse", "r2"]), ["metrics[1]", "'r2'", "installed:", "test_mse"]),
    (_with(["seeds"], 0), ["seeds", ">= 1", "0"]),
    (_with(["penalty"], "l2"), ["penalty", "plugin: NAME", "installed: ", " l1, l2", "'l2'"]),
    (_with(["penalty", "alpha"], [0.1, 0.2, 0.1]),
     ["same cell twice", "penalty=l2(alpha=0.1)", "repeated value"]),
    (dict(BASE, colour="red"), ["colour", "unknown top-level key", "allowed:", "penalty"]),
])
def test_bad_specs_name_key_value_and_what_is_allowed(spec, fragments):
    with pytest.raises(SpecError) as info:
        regsim.load_spec(spec)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_a_file_spec_error_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("problem: {plugin: linear_regression}\nlearner: {plugin: least_squares}\n"
                    "penalty: {plugin: l2, alpha: -1}\n")
    with pytest.raises(SpecError, match=r"penalty\.alpha: must be >= 0, got -1.0 \(in .*bad\.yaml\)"):
        regsim.load_spec(path)


def test_yaml_is_safe_loaded_and_nothing_is_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"name: evil\nproblem: !!python/object/apply:os.system ['touch {marker}']\n"
                    "learner: {plugin: least_squares}\npenalty: {plugin: l2}\n")
    with pytest.raises(SpecError, match="invalid YAML.*python/object"):
        regsim.load_spec(path)
    assert not marker.exists()


def test_yaml_1_1_exponent_without_dot_is_a_number(tmp_path):
    # PyYAML reads `1e-3` as a string (YAML 1.1); users mean the number.
    path = tmp_path / "exp.yaml"
    path.write_text("problem: {plugin: linear_regression, n_train: 1e2}\n"
                    "learner: {plugin: least_squares}\npenalty: {plugin: l2, alpha: [1e-3, 2E+1]}\n")
    spec = regsim.load_spec(path)
    assert spec.name == "exp"  # from the file name
    assert [c.components["penalty"]["alpha"] for c in spec.cells] == [1e-3, 20.0]
    assert spec.cells[0].components["problem"]["n_train"] == 100


def test_axes_cross_zip_and_seeds_replicate():
    spec = regsim.load_spec(_with(
        ["problem", "noise"], [0.1, 0.2],
        seeds=3, zip=[["problem.n_train", "problem.noise"]],
    ) | {"problem": {"plugin": "linear_regression", "n_train": [50, 60], "noise": [0.1, 0.2],
                     "condition": [10, 100]},
         "penalty": {"plugin": "l2", "alpha": {"logspace": [-2, 2, 5]}}})
    # (n_train, noise) zipped: 2 points x condition 2 x alpha 5 x seeds 3
    assert len(spec) == 60
    pairs = {(c.components["problem"]["n_train"], c.components["problem"]["noise"])
             for c in spec.cells}
    assert pairs == {(50, 0.1), (60, 0.2)}
    assert len({c.cell_id for c in spec.cells}) == 60
    assert len({c.group for c in spec.cells}) == 12  # alpha is a path parameter: batched
    alphas = sorted({c.components["penalty"]["alpha"] for c in spec.cells})
    assert alphas == pytest.approx([0.01, 0.1, 1.0, 10.0, 100.0], rel=1e-15)


@pytest.mark.parametrize("example", sorted(
    (Path(__file__).resolve().parents[1] / "examples").glob("*.yaml")), ids=lambda p: p.stem)
def test_cell_ids_are_digests_of_the_canonical_parameters_and_seed(example):
    """The oracle: sha256 of the sorted-key JSON of {components, metrics, seed}, first 16
    hex digits (the group: the same without path parameters), computed here cell by cell."""
    spec = regsim.load_spec(example)
    registry = regsim.get_registry()

    def digest(obj):
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    for cell in spec.cells:
        ident = {"components": cell.components, "metrics": list(cell.metrics), "seed": cell.seed}
        assert cell.cell_id == digest(ident)
        unbatched = {slot: None if comp is None else {
            k: v for k, v in comp.items()
            if k == "plugin" or not registry.get(SLOTS[slot], comp["plugin"]).params[k].path}
            for slot, comp in cell.components.items()}
        assert cell.group == digest(dict(ident, components=unbatched))


def test_cell_ids_do_not_change_between_versions():
    # stored results are resumed by cell_id: this value was computed by regsim 0.1's spec code
    cell = regsim.load_spec(BASE).cells[0]
    assert (cell.cell_id, cell.group) == ("91b359f00deecde7", "14ff25ad33352084")


def test_cell_ids_are_stable_under_key_order():
    a = regsim.load_spec(BASE)
    b = regsim.load_spec({k: BASE[k] for k in reversed(list(BASE))})
    assert [c.cell_id for c in a.cells] == [c.cell_id for c in b.cells]


def test_validate_cli_prints_cell_count_and_first_cells(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_text("name: v\nseeds: 2\nproblem: {plugin: linear_regression, condition: [10, 1000]}\n"
                    "learner: {plugin: least_squares}\n"
                    "penalty: {plugin: l2, alpha: {logspace: [-3, 3, 7]}}\n")
    out = subprocess.run([sys.executable, "-m", "regsim.cli", "validate", str(path), "--show", "3"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "28 cells in 4 batched groups" in lines[0]
    assert sum("penalty=l2(alpha=" in line for line in lines) == 3
    assert "... 25 more" in lines[-1]

    bad = tmp_path / "bad.yaml"
    bad.write_text("problem: {plugin: linear_regresion}\nlearner: {plugin: least_squares}\n"
                   "penalty: {plugin: l2}\n")
    out = subprocess.run([sys.executable, "-m", "regsim.cli", "validate", str(bad)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "problem.plugin: unknown problem plugin 'linear_regresion'; installed:" in out.stderr
    assert "linear_regression" in out.stderr and "bad.yaml" in out.stderr


def test_numpy_scalars_are_numbers_and_give_the_same_cells():
    """Components rebuilt from Parquet rows carry numpy scalars; they validate to plain
    Python numbers, so the cells (and their ids) equal those of the plain spec."""
    import numpy as np

    from regsim import Param

    assert type(Param(int).check("k", np.int64(3))) is int
    assert type(Param(float).check("a", np.float32(0.5))) is float
    assert Param(list).check("w", [np.int32(1), np.float64(2.5)]) == [1.0, 2.5]
    with pytest.raises(SpecError, match=r"k: must be an integer .*got .*2\.5"):
        Param(int).check("k", np.float64(2.5))
    with pytest.raises(SpecError, match="must be >= 0"):
        Param(float, ge=0).check("a", np.float64(-1.0))
    plain = regsim.load_spec(BASE)
    numpy_spec = copy.deepcopy(BASE)
    numpy_spec["problem"]["n_train"] = np.int64(50)
    numpy_spec["penalty"]["alpha"] = np.float64(1.0)
    assert [c.cell_id for c in regsim.load_spec(numpy_spec).cells] == \
        [c.cell_id for c in plain.cells]
