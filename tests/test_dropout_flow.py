"""Dropout through the real Prefect sweep flow, the Parquet store and the report."""

import numpy as np
import pandas as pd
import pytest

import regsim
from regsim.report import write_report
from regsim.runner import run_cells


@pytest.fixture
def dropout_spec():
    return {
        "name": "dropout-small",
        "seeds": 1,
        "problem": {"plugin": "softmax_classification", "n_train": 120, "n_test": 60,
                    "n_features": 6, "n_classes": 3, "scale": 1.5},
        "learner": [{"plugin": "softmax_regression", "n_epochs": 3},
                    {"plugin": "mlp", "hidden": [5], "n_epochs": 3}],
        "penalty": {"plugin": "l2", "alpha": 1e-3},
        "ensembler": {"plugin": "dropout", "drop_input": [0.2, 0.7], "drop_hidden": 0.3},
        "inference": [{"plugin": "weight_scaling"}, {"plugin": "exact_arithmetic"},
                      {"plugin": "mc_arithmetic", "n_masks": [10, 100]}],
        "metrics": ["accuracy", "log_loss", "dropout_gap", "mc_error"],
    }


def test_dropout_sweep_through_prefect(prefect_server, dropout_spec, tmp_path):
    summary = regsim.run_sweep(dropout_spec, out=tmp_path, chunk_size=4, progress=False)
    assert summary["counts"] == {"ok": 16, "error": 0, "diverged": 0, "not_converged": 0}
    df = pd.read_parquet(tmp_path / "dropout-small")
    assert len(df) == 16 and (df["status"] == "ok").all()
    assert df["accuracy"].between(0, 1).all() and (df["log_loss"] > 0).all()
    ws = df[df["inference"] == "weight_scaling"]
    soft, mlp = ws[ws["learner"] == "softmax_regression"], ws[ws["learner"] == "mlp"]
    assert (soft["geom_max_abs_dp"] < 1e-12).all()  # the seed's exact result
    assert (soft["arith_max_abs_dp"] > 1e-6).all()
    assert (mlp["geom_max_abs_dp"] > 1e-9).all()  # the approximation's gap, measured
    # exact_arithmetic against its own cached mean proved nothing; every strategy is
    # checked against a brute-force mask loop in test_dropout_edges.py.
    exact = df[df["inference"] == "exact_arithmetic"]
    assert exact["arith_max_abs_dp"].notna().all()
    mc = df[df["inference"] == "mc_arithmetic"].sort_values("inference.n_masks")
    assert mc["mc_rms_error"].notna().all() and df["mc_rms_error"].notna().sum() == len(mc)
    assert set(mc["inference.n_masks"]) == {10, 100}
    assert (df["droppable_units"] == df["learner"].map({"softmax_regression": 6, "mlp": 11})).all()

    report = write_report(tmp_path / "dropout-small", tmp_path / "report")
    names = {p.name for p in report["figures"]}
    assert {"dropout_weight_scaling_gap.png", "dropout_mc_convergence.png"} <= names
    assert "dropout_vs_bagging" in report["skipped"]  # no bagging cells here

    # Once bagging rows sit beside these (issue 3), the comparison figure applies.
    bagging = df.head(3).assign(ensembler="bagging", inference="arithmetic_mean")
    both = pd.concat([df, bagging], ignore_index=True)
    plot = regsim.get_registry().get("plot", "dropout_vs_bagging")()
    assert plot.applies(both) and not plot.applies(df)
    (png,) = plot.draw(both, tmp_path)
    assert png.stat().st_size > 0


def test_infeasible_exact_ensemble_is_a_spec_error_when_known():
    spec = {"name": "too-many",
            "problem": {"plugin": "softmax_classification", "n_features": 6},
            "learner": {"plugin": "mlp", "hidden": [10, 8]},
            "penalty": {"plugin": "l2", "alpha": 1e-3},
            "ensembler": {"plugin": "dropout", "drop_input": 0.2, "drop_hidden": 0.5},
            "inference": {"plugin": "exact_arithmetic"}}
    with pytest.raises(regsim.SpecError, match=r"inference: 'exact_arithmetic': .*k=24 .*max_units=20"):
        regsim.load_spec(spec)
    spec["inference"]["max_units"] = 24
    assert len(regsim.load_spec(spec).cells) == 1
    spec["ensembler"]["drop_input"] = 0.0  # inputs not droppable: 18 units
    spec["inference"].pop("max_units")
    assert len(regsim.load_spec(spec).cells) == 1


def test_infeasible_exact_ensemble_is_an_error_row_with_the_reason(tmp_path):
    # A csv problem's width is only known when loaded: the cell fails, its neighbour runs.
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.standard_normal((60, 24)), columns=[f"x{i}" for i in range(24)])
    table["label"] = rng.integers(0, 3, 60)
    table.to_csv(tmp_path / "wide.csv", index=False)
    spec = regsim.load_spec({
        "name": "too-many", "problem": {"plugin": "csv", "path": str(tmp_path / "wide.csv"),
                                        "target": "label", "task": "classification"},
        "learner": {"plugin": "softmax_regression", "n_epochs": 1},
        "penalty": {"plugin": "l2", "alpha": 1e-3},
        "ensembler": {"plugin": "dropout", "drop_input": 0.5},
        "inference": [{"plugin": "exact_geometric"}, {"plugin": "weight_scaling"}],
        "metrics": ["accuracy", "dropout_gap"]})
    rows = {r["inference"]: r for r in run_cells(spec.cells, sweep="t", run_id="r")}
    assert rows["exact_geometric"]["status"] == "error"
    assert "k=24 droppable units" in rows["exact_geometric"]["error"]
    assert "max_units=20" in rows["exact_geometric"]["error"]
    # weight scaling still runs; its gap columns are null where the exact ensemble is infeasible
    assert rows["weight_scaling"]["status"] == "ok"
    assert rows["weight_scaling"]["geom_max_abs_dp"] is None
