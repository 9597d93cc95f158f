"""What Prefect shows of a sweep, read back from a real server through the Prefect client:
the final state and its message, the flow- and task-run names, tags and artifacts."""

import asyncio

import pandas as pd

import regsim
from regsim.cli import main as regsim_cli
from regsim.runner import STATUSES
from regsim.store import run_dirs

from test_sweep import MIXED, _write_yaml


def _read_run(flow_run_id):
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
    )

    async def read():
        async with get_client() as client:
            run = await client.read_flow_run(flow_run_id)
            # task runs reach the database through the server's event recorder: poll
            for _ in range(100):
                tasks = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
                if tasks and all(t.state and t.state.is_final() for t in tasks):
                    break
                await asyncio.sleep(0.2)
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(
                    any_=[flow_run_id])))
            return run, tasks, artifacts

    return asyncio.run(read())


def _flow_run_id(run_dir):
    import json
    from pathlib import Path

    return json.loads((Path(run_dir) / "_manifest.json").read_text())["flow_run_id"]


def test_errored_cells_fail_the_flow_run_and_keep_the_rows(prefect_server, tmp_path, capsys,
                                                           faulty_plugin):
    code = regsim_cli(["sweep", _write_yaml(tmp_path, MIXED), "--out", str(tmp_path / "out"),
                       "--no-progress"])
    assert code == 1  # the CLI still gets the summary from the Failed state
    df = pd.read_parquet(tmp_path / "out" / "mixed")
    assert len(df) == 4 and (df["status"] == "ok").sum() == 1  # succeeded rows kept
    (run_dir,) = run_dirs(tmp_path / "out" / "mixed")
    run, tasks, artifacts = _read_run(_flow_run_id(run_dir))
    assert run.state.type.value == "FAILED"
    message = run.state.message
    assert "2 of 4 cells error" in message and "ok 1" in message and "diverged 1" in message
    assert "deliberate failure of a faulty cell" in message  # the first errors
    run_id = df["run_id"].iloc[0]
    assert run.name == f"mixed {run_id}"
    assert {"sweep:mixed", "runner:threads"} <= set(run.tags)
    assert any(t.startswith("spec:") for t in run.tags)
    names = sorted(t.name for t in tasks)
    assert names and all(n.startswith("chunk-") and "cell" in n and "seed 0)" in n
                         for n in names), names
    kinds = {a.type for a in artifacts}
    assert {"table", "markdown", "progress"} <= kinds  # Prefect stores links as markdown
    assert any("file://" in str(a.data) and (a.key or "").endswith("-results-dir")
               for a in artifacts)
    # no link to a report page the sweep did not write; the summary says how to write it
    assert not any((a.key or "").endswith("-report") for a in artifacts)
    summary = next(a for a in artifacts if a.type == "markdown" and "regsim report" in str(a.data))
    assert str(run_dir) in str(summary.data)
    progress = [a for a in artifacts if a.type == "progress"]
    assert float(progress[0].data) == 100.0
    table = next(a for a in artifacts if a.type == "table")
    for status in STATUSES:
        assert status in str(table.data)


def test_completed_run_has_claims_in_its_artifacts(prefect_server, small_spec, tmp_path):
    summary = regsim.run_sweep(small_spec, out=tmp_path, chunk_size=5, progress=False)
    assert summary["counts"]["ok"] == 20
    run, tasks, artifacts = _read_run(_flow_run_id(summary["run_dir"]))
    assert run.state.type.value == "COMPLETED"
    assert run.name == f"small {summary['run_id']}"
    # chunk_size 5 keeps whole groups (5 alphas, one seed): one seed per chunk
    import re

    names = sorted(t.name for t in tasks)
    assert len(names) == 4 and all(re.fullmatch(r"chunk-0000\d \(5 cells, seed [01]\)", n)
                                   for n in names), names
    markdown = next(a for a in artifacts if a.key == "regsim-small-summary").data
    from regsim.claims import claims

    for claim in claims(regsim.open_results(summary["run_dir"])):
        assert claim.text in markdown
    assert "L2 with least_squares" in markdown
    table = next(a for a in artifacts if a.key == "regsim-small-results").data
    assert "max_abs_gap" in str(table) and "L2 with least_squares" in str(table)
    links = [a.data for a in artifacts if (a.key or "").startswith("regsim-small-results-dir")]
    assert any(summary["run_dir"].split("/")[-1] in link for link in links), links
    # the report is not written by the sweep: the summary gives the command that writes it
    assert f"regsim report {summary['run_dir']}" in markdown


def test_diverged_cells_leave_the_run_completed_with_a_warning(prefect_server, tmp_path,
                                                                caplog):
    spec = dict(MIXED, name="diverging", problem=MIXED["problem"][0])
    summary = regsim.run_sweep(spec, out=tmp_path, progress=False)
    assert summary["counts"]["diverged"] == 1 and summary["counts"]["error"] == 0
    run, _, _ = _read_run(_flow_run_id(summary["run_dir"]))
    assert run.state.type.value == "COMPLETED"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("1 of 2 cells diverged" in w for w in warnings), warnings


def test_log_lines_never_share_a_line_with_the_progress_bar(monkeypatch):
    import io
    import logging
    import sys

    from regsim.flows.sweep import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    logger = logging.getLogger("prefect.test_progress")
    handler = logging.StreamHandler(term)
    logging.getLogger("prefect").addHandler(handler)
    try:
        bar = Progress(2, 20)
        bar.update({"n_cells": 10, "counts": {"ok": 10}})
        logger.warning("a log line")
        bar.update({"n_cells": 10, "counts": {"ok": 9, "not_converged": 1}})
        bar.close()
    finally:
        logging.getLogger("prefect").removeHandler(handler)
    screen = term.getvalue()
    # what a terminal shows: "\r\033[K" erases the line, so split there
    lines = [chunk.split("\r\x1b[K")[-1] for chunk in screen.split("\n")]
    assert "a log line" in lines
    assert lines[-2].startswith("[####") and "not_converged 1" in lines[-2]
    assert handler.emit.__func__ is logging.StreamHandler.emit  # handlers given back
