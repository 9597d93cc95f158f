"""End to end through the real Prefect flow (session test server): errors and
divergence are rows, reruns are bit-identical, the CLI's sweep/show/report work,
and the sweep runs as a subflow of a user's flow."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import regsim
from regsim.cli import main as regsim_cli
from regsim.store import MANIFEST

DOCUMENTED = ("sweep", "run_id", "cell_id", "seed", "problem", "learner", "penalty",
              "ensembler", "inference", "status", "error", "wall_s")

MIXED = {
    "name": "mixed",
    "seeds": 1,
    "problem": [
        {"plugin": "linear_regression", "n_train": 60, "n_test": 40, "n_features": 5,
         "design": "orthogonal", "condition": 10},
        {"plugin": "csv", "path": "diabetes.csv", "target": "no_such_column"},
    ],
    # orthogonal design: λ_max = 1, so step 1.5 converges for α = 0.01 (bound 1.98)
    # and diverges for α = 1 (bound 1.0)
    "learner": {"plugin": "gradient_descent", "step": 1.5, "n_steps": 300},
    "penalty": {"plugin": "l2", "alpha": [0.01, 1.0]},
    "metrics": ["test_mse", "theory_gap", "coefficients"],
}


def test_errors_and_divergence_are_rows_and_the_cli_exits_nonzero(prefect_server, tmp_path,
                                                                  capsys):
    code = regsim_cli(["sweep", _write_yaml(tmp_path, MIXED), "--out", str(tmp_path / "out"),
                       "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "cells     4: 4 stored (ok 1, error 2, diverged 1, not_converged 0)" in printed
    assert "no column 'no_such_column'" in printed  # the first errors are shown

    df = pd.read_parquet(tmp_path / "out" / "mixed")
    by = {(r["problem"], r["penalty.alpha"]): r for _, r in df.iterrows()}
    ok = by[("linear_regression", 0.01)]
    assert ok["status"] == "ok" and ok["theory_gap"] < 1e-8 and pd.isna(ok["error"])
    diverged = by[("linear_regression", 1.0)]
    assert diverged["status"] == "diverged" and "2/(λ_max+α)" in diverged["error"]
    assert pd.isna(diverged["test_mse"]) and diverged["w"] is None  # null, not NaN rows
    for alpha in (0.01, 1.0):
        err = by[("csv", alpha)]
        assert err["status"] == "error"
        assert "problem.target: no column 'no_such_column'" in err["error"]
        assert "columns: age, sex, bmi" in err["error"]
    manifest = json.loads(next((tmp_path / "out" / "mixed").glob(f"*/{MANIFEST}")).read_text())
    assert manifest["status"] == "complete" and manifest["counts"] == {
        "ok": 1, "error": 2, "diverged": 1, "not_converged": 0}


def test_same_spec_and_seed_rerun_bit_identical(prefect_server, small_spec, tmp_path):
    spec = dict(small_spec, learner=[{"plugin": "gradient_descent", "n_steps": 50},
                                     {"plugin": "lasso_path"}])
    spec["problem"] = dict(spec["problem"], design=["geometric", "toeplitz"])
    first = regsim.run_sweep(spec, out=tmp_path, chunk_size=3, progress=False)
    second = regsim.run_sweep(spec, out=tmp_path, chunk_size=100, progress=False,
                             rerun=True)  # a fresh run, other chunking
    assert first["run_id"] != second["run_id"]

    def table(summary):
        df = regsim.open_results(summary["run_dir"]).drop(columns=["run_id", "wall_s"])
        return df.sort_values("cell_id").reset_index(drop=True)

    a, b = table(first), table(second)
    assert len(a) == 40 and list(a.columns) == list(b.columns)
    for col in a.columns:  # exact equality, floats and lists included
        left, right = a[col].tolist(), b[col].tolist()
        assert repr(left) == repr(right), col
    assert len(pd.read_parquet(tmp_path / "small")) == 80  # both runs under the sweep directory


@pytest.mark.slow  # matplotlib figures
def test_show_and_report(prefect_server, small_spec, tmp_path, capsys):
    summary = regsim.run_sweep(small_spec, out=tmp_path, progress=False)
    capsys.readouterr()
    assert regsim_cli(["show", summary["run_dir"]]) == 0
    shown = capsys.readouterr().out
    assert "ok" in shown and "test_mse" in shown and "20 rows" in shown

    out = tmp_path / "report"
    assert regsim_cli(["report", str(tmp_path / "small"), "-o", str(out)]) == 0
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert {"l1_soft_threshold.png", "l2_shrinkage.png", "theory_gap.png"} <= set(pngs)
    for name in pngs:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / name).stat().st_size > 10_000
    page = (out / "index.html").read_text()
    for name in pngs:
        assert f'src="{name}"' in page
    assert "<table" in page

    assert regsim_cli(["show", str(tmp_path / "nothing")]) == 2

    # a report inside the sweep directory: as _report pandas skips it; regsim reads
    # only the parts, so even a plain report/ directory does not break it
    sweep_dir = tmp_path / "small"
    assert regsim_cli(["report", str(sweep_dir), "-o", str(sweep_dir / "_report")]) == 0
    assert regsim_cli(["report", str(sweep_dir), "-o", str(sweep_dir / "report")]) == 0
    assert len(regsim.open_results(sweep_dir)) == 20
    assert regsim_cli(["show", str(sweep_dir)]) == 0
    (sweep_dir / "report").rename(tmp_path / "moved")
    assert len(pd.read_parquet(sweep_dir)) == 20


def test_public_api_from_a_file_and_as_a_subflow(prefect_server, small_spec, tmp_path):
    from prefect import flow

    from regsim.flows.sweep import sweep

    path = Path(_write_yaml(tmp_path, small_spec))
    spec = regsim.load_spec(path)
    assert spec.source == str(path) and len(spec) == 20
    assert [c.cell_id for c in spec.cells] == [c.cell_id for c in regsim.load_spec(small_spec).cells]

    @flow(name="my-study")
    def my_study(out: str) -> dict:
        first = sweep(spec=spec.raw, out=out, chunk_size=10, progress=False)  # a subflow
        return {"summary": first, "n": len(regsim.open_results(first["run_dir"]))}

    result = my_study(str(tmp_path / "store"))
    assert result["n"] == 20 and result["summary"]["counts"]["ok"] == 20
    manifest = json.loads((Path(result["summary"]["run_dir"]) / MANIFEST).read_text())
    assert manifest["flow_run_id"]
    df = regsim.open_results(tmp_path / "store")
    for col in DOCUMENTED:
        assert col in df, col
    with pytest.raises(FileNotFoundError):
        regsim.open_results(tmp_path / "empty")

    # with no runner parameter the chunks run on the flow's own task runner
    from prefect.task_runners import ThreadPoolTaskRunner

    own = sweep.with_options(task_runner=ThreadPoolTaskRunner(max_workers=2))(
        spec=spec.raw, out=str(tmp_path / "own"), progress=False)
    manifest = json.loads((Path(own["run_dir"]) / MANIFEST).read_text())
    assert (manifest["runner"], manifest["workers"]) == ("threads", 2)
    assert own["counts"]["ok"] == 20


def _write_yaml(tmp_path, spec):
    import yaml

    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_csv_problem_standardises_with_training_statistics_only():
    from regsim.registry import get_registry
    from regsim.runner import rngs_for

    problem = get_registry().get("problem", "csv")(path="diabetes.csv", target="target")
    data = problem.generate(rngs_for(5)["problem"])
    table = pd.read_csv(Path(__file__).resolve().parents[1] / "data" / "diabetes.csv")
    y = table.pop("target").to_numpy(float)
    X = table.to_numpy(float)
    # by hand: the same permutation, 25% held out (round(110.5) = 110), train statistics
    order = rngs_for(5)["problem"].permutation(len(y))
    test, train = order[:110], order[110:]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    np.testing.assert_allclose(data.X_train, (X[train] - mean) / std, rtol=0, atol=1e-12)
    np.testing.assert_allclose(data.X_test, (X[test] - mean) / std, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(data.y_train, y[train])
    # the test split's own statistics were not used: its mean is not exactly zero
    assert np.abs(data.X_test.mean(axis=0)).max() > 1e-3
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(data.X_train.std(axis=0), 1, rtol=1e-12)
