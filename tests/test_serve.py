"""Scheduled sweeps for real: `prefect server start` on loopback, `regsim serve --cron` in a
subprocess, the schedule read back from the server, a deployment run triggered (on the
process runner its parameters name), its results found in the store; the repository's
prefect.yaml deployed with `prefect deploy` and run by a process worker. Also: `regsim
serve` without a server refuses clearly."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from scale_support import env_with_plugin, free_port, regsim_cmd, run_cli, stop

pytestmark = pytest.mark.slow

SPEC = {
    "name": "nightly",
    "seeds": 2,
    "problem": {"plugin": "linear_regression", "n_train": 50, "n_test": 20, "n_features": 4},
    "learner": {"plugin": "least_squares"},
    "penalty": {"plugin": "l2", "alpha": [0.1, 1.0]},
    "metrics": ["test_mse"],
}


def test_serve_without_a_server_says_a_schedule_needs_one(tmp_path):
    spec = tmp_path / "nightly.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    res = run_cli("serve", spec, "--cron", "0 2 * * *", env=env_with_plugin(None), timeout=60)
    assert res.returncode == 2
    assert "temporary server runs" in res.stderr and "prefect server start" in res.stderr


@pytest.fixture(scope="module")
def prefect_server_process(tmp_path_factory):
    """`prefect server start` on a free loopback port with its own PREFECT_HOME."""
    port = free_port()
    home = tmp_path_factory.mktemp("prefect-server") / "prefect-home"
    env = env_with_plugin(None, PREFECT_HOME=home,
                          PREFECT_SERVER_ANALYTICS_ENABLED="false",
                          PREFECT_SERVER_LOGGING_LEVEL="WARNING")
    prefect = os.path.join(os.path.dirname(sys.executable), "prefect")
    proc = subprocess.Popen([prefect, "server", "start", "--host", "127.0.0.1", "--port",
                             str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, "prefect server start exited"
        time.sleep(0.5)
    else:
        pytest.fail("prefect server did not start")
    yield url
    stop(proc)


def test_serve_with_cron_schedule_runs_the_deployment_into_the_store(prefect_server_process,
                                                                    tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = prefect_server_process
    spec = tmp_path / "nightly.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    out = tmp_path / "store"
    serve = subprocess.Popen(regsim_cmd("serve", spec, "--cron", "0 2 * * *", "--out", out,
                                        "--name", "nightly-test", "--runner", "processes",
                                        "--workers", 2),
                             env=env_with_plugin(url), cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            with get_client(sync_client=True) as client:
                deadline = time.monotonic() + 90
                while True:
                    try:
                        deployment = client.read_deployment_by_name("regsim-sweep/nightly-test")
                        break
                    except Exception:
                        assert serve.poll() is None, serve.stderr.read()[-3000:]
                        assert time.monotonic() < deadline, "deployment never appeared"
                        time.sleep(0.5)
                (schedule,) = deployment.schedules
                assert schedule.schedule.cron == "0 2 * * *"
                assert schedule.active
                assert deployment.parameters["rerun"] is True
                assert deployment.parameters["runner"] == "processes"

            flow_run = run_deployment("regsim-sweep/nightly-test", timeout=180)
            assert flow_run.state.is_completed(), flow_run.state
            (run_dir,) = [p for p in (out / "nightly").iterdir() if p.is_dir()]
            df = pd.read_parquet(run_dir)
            assert len(df) == 4 and (df["status"] == "ok").all()
            manifest = pd.read_json(run_dir / "_manifest.json", typ="series")
            assert manifest["flow_run_id"] == str(flow_run.id)
            assert (manifest["runner"], manifest["workers"]) == ("processes", 2)
    finally:
        stop(serve)


REPO = Path(__file__).resolve().parents[1]


def test_prefect_yaml_deploys_the_nightly_sweep_to_a_process_work_pool(prefect_server_process,
                                                                      tmp_path):
    """The repository's prefect.yaml as its comments say to use it: create the pool,
    `prefect deploy`, start a process worker; a run of the deployment lands in the store."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = prefect_server_process
    env = env_with_plugin(url, PREFECT_WORKER_QUERY_SECONDS=1)
    prefect = os.path.join(os.path.dirname(sys.executable), "prefect")
    for args in (["work-pool", "create", "regsim-process", "--type", "process"],
                 ["deploy", "--name", "quickstart-nightly"]):
        res = subprocess.run([prefect, "--no-prompt", *args], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    with temporary_settings(updates={PREFECT_API_URL: url}):
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name("regsim-sweep/quickstart-nightly")
        assert deployment.entrypoint == "flows/sweep.py:sweep"
        assert deployment.work_pool_name == "regsim-process"
        (schedule,) = deployment.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 2 * * *", "UTC")
        assert deployment.parameters["rerun"] is True
        assert deployment.parameters["runner"] == "processes"

        worker = subprocess.Popen([prefect, "worker", "start", "--pool", "regsim-process"],
                                  cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        try:
            out = tmp_path / "store"
            flow_run = run_deployment("regsim-sweep/quickstart-nightly",
                                      parameters={"out": str(out)}, timeout=240)
            assert flow_run.state.is_completed(), flow_run.state
        finally:
            stop(worker)
    (run_dir,) = [p for p in (out / "quickstart").iterdir() if p.is_dir()]
    manifest = pd.read_json(run_dir / "_manifest.json", typ="series")
    assert manifest["status"] == "complete" and manifest["flow_run_id"] == str(flow_run.id)
    assert (manifest["runner"], manifest["workers"]) == ("processes", 2)
    assert len(pd.read_parquet(run_dir)) == manifest["n_cells"]
