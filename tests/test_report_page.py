"""The report page, ``regsim show``, run selection, figures from Python, and the Parquet
files' own metadata, on real sweeps."""

import json

import pyarrow.parquet as pq
import pytest

import regsim
from regsim.cli import main as regsim_cli
from regsim.report import FigureDisplay, write_report


@pytest.fixture(scope="module")
def two_runs(prefect_server, tmp_path_factory):
    """The small spec run twice (two run directories of one sweep)."""
    spec = {
        "name": "small", "seeds": 2,
        "problem": {"plugin": "linear_regression", "n_train": 60, "n_test": 50,
                    "n_features": 6, "design": ["orthogonal", "toeplitz"], "condition": 50},
        "learner": [{"plugin": "least_squares"}, {"plugin": "lasso_path"}],
        "penalty": [{"plugin": "l2", "alpha": {"logspace": [-2, 1, 5]}},
                    {"plugin": "l1", "alpha": {"logspace": [-2, 0, 5]}}],
        "zip": [["learner", "penalty"]],
        "metrics": ["test_mse", "sparsity", "theory_gap", "shrinkage", "coefficients"],
    }
    out = tmp_path_factory.mktemp("store")
    first = regsim.run_sweep(spec, out=out, progress=False)
    second = regsim.run_sweep(spec, out=out, progress=False, rerun=True)
    return out, first, second


def test_run_latest_and_show_groups_by_what_varies(two_runs, capsys):
    out, first, second = two_runs
    sweep_dir = out / "small"
    assert len(regsim.open_results(sweep_dir)) == 80
    latest = regsim.open_results(sweep_dir, run="latest")
    assert len(latest) == 40 and set(latest["run_id"]) == {second["run_id"]}
    assert set(regsim.open_results(out, run=first["run_id"])["run_id"]) == {first["run_id"]}
    with pytest.raises(FileNotFoundError):
        regsim.open_results(sweep_dir, run="no-such-run")

    capsys.readouterr()
    assert regsim_cli(["show", str(sweep_dir), "--run", "latest"]) == 0
    shown = capsys.readouterr().out
    assert second["run_id"] in shown and first["run_id"] not in shown
    # grouped by the design (it varies), with the metrics present
    assert "by learner, problem.design, penalty.alpha" in shown or "problem.design" in shown
    header = next(line for line in shown.splitlines() if "test_mse" in line)
    assert "theory_gap" in header
    body = shown.split(header)[1]
    assert "orthogonal" in body and "toeplitz" in body


def test_report_page_defaults_to_dir_report_and_states_claims(two_runs, capsys):
    out, first, second = two_runs
    run_dir = second["run_dir"]
    assert regsim_cli(["report", run_dir]) == 0
    printed = capsys.readouterr().out
    page = (out / "small" / second["run_id"] / "_report" / "index.html").read_text()
    assert "<h1>small</h1>" in page
    assert "L2 with least_squares: measured shrinkage equals" in page
    assert "orthogonal design (diagonal H)" in page
    assert "claim   L2 with least_squares" in printed
    manifest = json.loads((out / "small" / second["run_id"] / "_manifest.json").read_text())
    assert manifest["flow_run_id"] in page and manifest["spec_hash"] in page
    assert manifest["versions"]["regsim"] in page
    # the figures in the seed's order, the skipped ones with why
    assert page.index('src="l2_shrinkage.png"') < page.index('src="l1_soft_threshold.png"')
    assert "bagging_error_vs_k</code>: needs columns" in page

    # the sweep directory, newest run only: its own page under the sweep's _report
    assert regsim_cli(["report", str(out / "small"), "--run", "latest"]) == 0
    page = (out / "small" / "_report" / "index.html").read_text()
    assert second["run_id"] in page and first["run_id"] not in page
    assert "over 20 cells" in page  # 40 cells per run: 20 l2 and 20 l1


def test_a_plot_whose_columns_are_absent_is_skipped_with_a_note(two_runs, tmp_path):
    out, _, second = two_runs
    df = regsim.open_results(second["run_dir"]).drop(columns=["sparsity", "w"], errors="ignore")
    rundir = tmp_path / "small" / "r1"
    rundir.mkdir(parents=True)
    df.to_parquet(rundir / "part-00000-x.parquet")
    result = write_report(tmp_path / "small", tmp_path / "rep")
    assert result["skipped"]["l1_soft_threshold"].startswith("needs columns w, sparsity")
    assert "l1_soft_threshold</code>: needs columns w, sparsity" in (
        tmp_path / "rep" / "index.html").read_text()
    assert any(p.name == "l2_shrinkage.png" for p in result["figures"])


def test_every_builtin_figure_is_a_figure_from_a_dataframe(two_runs, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    _, _, second = two_runs
    df = regsim.open_results(second["run_dir"])
    for name in ("l2_shrinkage", "l1_soft_threshold", "theory_gap"):
        disp = FigureDisplay.from_results(df, name)
        assert isinstance(disp.figure_, Figure) and disp.ax_
        disp.ax_[0].set_title("restyled")
        disp.savefig(tmp_path / f"{name}.pdf")
        assert (tmp_path / f"{name}.pdf").stat().st_size > 1000
    with pytest.raises(ValueError, match="needs columns"):
        FigureDisplay.from_results(df, "bagging_error_vs_k")
    # theory and measurement are separate legend entries even with one configuration
    one = df[df["problem.design"] == "orthogonal"]
    labels = FigureDisplay.from_results(one, "l1_soft_threshold").ax_[1] \
        .get_legend_handles_labels()[1]
    assert any(label.startswith("measured") for label in labels)
    assert any(label.startswith("theory") for label in labels)


def test_parts_describe_themselves_and_documented_readers_work(two_runs):
    out, _, second = two_runs
    part = sorted((out / "small" / second["run_id"]).glob("part-*.parquet"))[0]
    meta = {k.decode(): v.decode() for k, v in pq.read_schema(part).metadata.items()}
    manifest = json.loads((part.parent / "_manifest.json").read_text())
    assert meta["regsim.run_id"] == second["run_id"]
    assert meta["regsim.spec_hash"] == manifest["spec_hash"]
    assert json.loads(meta["regsim.versions"]) == manifest["versions"]

    import duckdb
    import polars as pl

    glob = str(out / "small" / "*" / "part-*.parquet")
    n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}', union_by_name=true)").fetchall()[0][0]
    assert n == 80
    assert pl.read_parquet(glob, missing_columns="insert").height == 80
