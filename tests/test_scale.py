"""Sweeps at scale, for real: a SIGKILLed sweep resumes to the same results; threads,
processes and a Dask cluster give identical Parquet; failing, NaN and over-budget cells
are recorded and set the exit code. Subprocesses run the real CLI and see a test plugin
through a real entry point (tests/plugin_faulty)."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from scale_support import canonical, env_with_plugin, free_port, regsim_cmd, run_cli, stop

import regsim
from regsim.store import LOCK, MANIFEST

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_url(prefect_server):
    """The session server's URL, handed to subprocesses so they do not start their own."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def _write(tmp_path, spec: dict):
    import yaml

    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


SLOW_SPEC = {  # 24 groups of 3 cells, ~0.4 s per group: long enough to try a second writer
    "name": "resumable",                                # and then kill the first
    "seeds": 24,
    "problem": {"plugin": "faulty", "mode": "ok", "sleep_s": 0.4, "n_features": 4},
    "learner": {"plugin": "least_squares"},
    "penalty": {"plugin": "l2", "alpha": [0.01, 0.1, 1.0]},
    "metrics": ["train_mse", "test_mse", "weight_error", "coefficients"],
}


def test_sigkill_then_rerun_stores_every_cell_once_with_uninterrupted_values(api_url, tmp_path):
    spec = _write(tmp_path, SLOW_SPEC)
    env = env_with_plugin(api_url)
    out = tmp_path / "killed"
    proc = subprocess.Popen(regsim_cmd("sweep", spec, "--out", out, "--chunk-size", 3,
                                       "--workers", 1, "--no-progress"),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill once a few parts (of 24) are stored
        if len(list(out.glob("resumable/*/part-*.parquet"))) >= 4:
            break
        assert proc.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.05)
    # a second sweep into the same output would continue the run being written: refused
    second = run_cli("sweep", spec, "--out", out, "--no-progress", env=env)
    assert second.returncode == 2, second.stderr[-3000:]
    assert f"is being written by pid {proc.pid}" in second.stderr
    assert proc.poll() is None, "the sweep ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    (run_dir,) = (out / "resumable").iterdir()
    n_before = len(pd.read_parquet(run_dir))
    assert 0 < n_before < 72
    assert json.loads((run_dir / MANIFEST).read_text())["status"] == "running"
    assert (run_dir / LOCK).exists()  # left by the killed writer; the rerun takes it over

    done = run_cli("sweep", spec, "--out", out, "--no-progress", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{n_before} cells already stored, {72 - n_before} run now" in done.stdout
    assert [p.name for p in (out / "resumable").iterdir()] == [run_dir.name]  # continued in place
    resumed = pd.read_parquet(run_dir)
    assert len(resumed) == 72 and resumed["cell_id"].is_unique
    assert not list(run_dir.glob(".*.tmp"))
    manifest = json.loads((run_dir / MANIFEST).read_text())
    assert manifest["status"] == "complete" and len(manifest["resumes"]) == 1
    assert not (run_dir / LOCK).exists()

    # in this process (the plugin on sys.path): an uninterrupted run with other chunking
    # gives the same numbers; the complete run is not run again without --rerun
    sys.path.insert(0, str(env["PYTHONPATH"].split(os.pathsep)[0]))
    regsim.get_registry.cache_clear()
    try:
        summary = regsim.run_sweep(SLOW_SPEC, out=tmp_path / "whole", chunk_size=12,
                                   progress=False)
        whole = pd.read_parquet(summary["run_dir"])
        pd.testing.assert_frame_equal(canonical(resumed), canonical(whole))
        again = regsim.run_sweep(SLOW_SPEC, out=out, progress=False)
        assert again["n_run"] == 0 and again["run_dir"] == str(run_dir)
        assert again["counts"]["ok"] == 72
    finally:
        sys.path.pop(0)
        regsim.get_registry.cache_clear()
    assert len(list((out / "resumable").iterdir())) == 1


RUNNER_SPEC = {
    "name": "runners",
    "seeds": 6,
    "problem": {"plugin": "linear_regression", "n_train": 80, "n_test": 40, "n_features": 5,
                "design": ["geometric", "toeplitz"]},
    "learner": [{"plugin": "least_squares"}, {"plugin": "proximal_gradient"}],
    "penalty": [{"plugin": "l2", "alpha": {"logspace": [-2, 1, 4]}},
                {"plugin": "l1", "alpha": {"logspace": [-2, 0, 4]}}],
    "zip": [["learner", "penalty"]],
}


@pytest.fixture
def dask_cluster(api_url):
    """A Dask scheduler and 2 single-thread worker processes on loopback. They also end
    on their own (scheduler idle 5 min, workers 60 s without it) if this test process
    is killed before its teardown runs."""
    bin_dir = __import__("pathlib").Path(sys.executable).parent
    port = free_port()
    env = env_with_plugin(api_url)
    procs = [subprocess.Popen([str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--no-dashboard", "--idle-timeout", "300s"],
                              env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    address = f"tcp://127.0.0.1:{port}"
    for _ in range(2):
        procs.append(subprocess.Popen([str(bin_dir / "dask"), "worker", address, "--nthreads", "1",
                                       "--nworkers", "1", "--no-dashboard", "--host", "127.0.0.1",
                                       "--death-timeout", "60"],
                                      env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=90)
    yield address
    stop(*reversed(procs))


def test_threads_processes_and_dask_cluster_give_identical_results(api_url, dask_cluster,
                                                                   tmp_path):
    frames = {}
    for name, kwargs in {"threads": dict(runner="threads", chunk_size=8),
                         "processes": dict(runner="processes", workers=2, chunk_size=16),
                         "dask": dict(runner="dask", dask_address=dask_cluster)}.items():
        summary = regsim.run_sweep(RUNNER_SPEC, out=tmp_path / name, progress=False, **kwargs)
        assert summary["counts"] == {"ok": 96, "error": 0, "diverged": 0, "not_converged": 0}, name
        assert json.loads((tmp_path / name / "runners" / summary["run_id"] / MANIFEST)
                          .read_text())["runner"] == name
        frames[name] = canonical(pd.read_parquet(summary["run_dir"]))
    assert len(frames["threads"]) == 96
    pd.testing.assert_frame_equal(frames["threads"], frames["processes"])
    pd.testing.assert_frame_equal(frames["threads"], frames["dask"])


def test_flow_parameter_runner_hands_the_flows_own_server_to_its_workers(tmp_path):
    """The flow called directly with ``runner="processes"`` and no PREFECT_API_URL (what a
    user's script does): one temporary server, the flow's, which the workers report to."""
    code = ("import json, sys\n"
            "from regsim.flows.sweep import sweep\n"
            "summary = sweep(spec=json.loads(sys.argv[1]), out=sys.argv[2], runner='processes',"
            " workers=2, chunk_size=16, progress=False)\n"
            "print('COUNTS', json.dumps(summary['counts']))\n")
    res = subprocess.run([sys.executable, "-c", code, json.dumps(RUNNER_SPEC), str(tmp_path)],
                         env=env_with_plugin(None, PREFECT_HOME=tmp_path / "prefect-home",
                                             PREFECT_SERVER_ANALYTICS_ENABLED="false"),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'COUNTS {"ok": 96, "error": 0, "diverged": 0, "not_converged": 0}' in res.stdout
    assert res.stderr.count("Starting temporary server") == 1, res.stderr[-3000:]
    (run_dir,) = (tmp_path / "runners").iterdir()
    manifest = json.loads((run_dir / MANIFEST).read_text())
    assert (manifest["runner"], manifest["workers"]) == ("processes", 2)
    assert len(pd.read_parquet(run_dir)) == 96


FAULTY_SPEC = {  # "slow" cells sleep 30 s unless their time budget stops them
    "name": "faulty",
    "seeds": 2,
    "problem": {"plugin": "faulty", "mode": ["ok", "raise", "nan", "slow"]},
    "learner": {"plugin": "least_squares"},
    "penalty": {"plugin": "l2", "alpha": 0.1},
    "metrics": ["test_mse"],
}


def test_raising_nan_and_over_budget_cells_are_recorded_and_set_the_exit_code(api_url, tmp_path):
    spec = _write(tmp_path, FAULTY_SPEC)
    out = tmp_path / "out"
    # processes and no PREFECT_API_URL: the CLI starts one temporary server for all workers
    res = run_cli("sweep", spec, "--out", out, "--runner", "processes", "--workers", 2,
                  "--time-budget", 2, "--no-progress", env=env_with_plugin(None))
    assert res.returncode == 1, res.stderr[-3000:]
    assert "cells     8: 8 stored (ok 2, error 4, diverged 2, not_converged 0)" in res.stdout
    assert res.stderr.count("Starting temporary server") == 1, res.stderr[-3000:]
    df = pd.read_parquet(out / "faulty").set_index("problem.mode")
    assert (df.loc["ok", "status"] == "ok").all() and df.loc["ok", "test_mse"].notna().all()
    assert (df.loc["raise", "status"] == "error").all()
    assert df.loc["raise", "error"].str.startswith(
        "ValueError: deliberate failure of a faulty cell").all()
    assert (df.loc["nan", "status"] == "diverged").all()
    assert (df.loc["nan", "error"] == "non-finite test predictions").all()
    assert df.loc["nan", "test_mse"].isna().all()
    slow = df.loc["slow"]
    assert (slow["status"] == "error").all() and slow["test_mse"].isna().all()
    assert slow["error"].str.startswith("CellTimeout: exceeded its time budget of 2 s").all()
    # stopped, not waited for: each 30 s cell was interrupted soon after its budget
    stopped_after = slow["error"].str.extract(r"stopped after ([\d.]+) s")[0].astype(float)
    assert (stopped_after < 12).all(), slow["error"].tolist()

    # a rerun runs the failed cells again and replaces their rows (no duplicates)
    res = run_cli("sweep", spec, "--out", out, "--time-budget", 2, "--no-progress",
                  env=env_with_plugin(api_url))
    assert res.returncode == 1, res.stderr[-3000:]
    assert "4 cells already stored, 4 run now" in res.stdout
    df = pd.read_parquet(out / "faulty")
    assert len(df) == 8 and df["cell_id"].is_unique
    assert (df["status"] == "error").sum() == 4


def test_a_chunk_that_cannot_write_its_part_is_retried_by_prefect(prefect_server, small_spec,
                                                                   tmp_path):
    """A transient I/O error (the run directory's parent is a file until the first attempt
    has failed) is retried by Prefect and the part is then written."""
    from prefect import flow

    from regsim.flows.sweep import make_chunks, run_chunk
    from regsim.spec import load_spec
    from regsim.store import result_schema

    spec = load_spec(small_spec)
    (chunk,) = make_chunks(spec.cells, chunk_size=len(spec.cells))
    blocker = tmp_path / "store"
    blocker.write_text("not a directory yet")
    failures = []

    def obstacle_goes_away(task, task_run, state):  # Prefect calls this before retrying
        failures.append(type(state.result(raise_on_failure=False)).__name__)
        blocker.unlink(missing_ok=True)
        return True

    task = run_chunk.with_options(retry_condition_fn=obstacle_goes_away, retry_delay_seconds=0)

    @flow
    def one_chunk():
        return task(chunk, "small", result_schema(spec), str(blocker / "run"), "r1",
                    return_state=True)

    state = one_chunk()
    assert state.is_completed(), state
    # Prefect asked once whether to retry (after the failed write), then the retry succeeded
    assert failures in (["FileExistsError"], ["NotADirectoryError"])
    df = pd.read_parquet(blocker / "run")
    assert len(df) == len(spec.cells) and df["cell_id"].is_unique
