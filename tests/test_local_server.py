"""``regsim server start|status|stop``: a real background Prefect server that sweeps reuse."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REGSIM = [sys.executable, "-m", "regsim.cli"]


def _post(url, path, body):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _run(args, env, **kw):
    return subprocess.run(REGSIM + args, env=env, capture_output=True, text=True, cwd=ROOT,
                          timeout=300, **kw)


@pytest.mark.slow
def test_server_start_is_found_by_sweeps_which_record_their_runs_on_it(tmp_path):
    env = {**os.environ, "REGSIM_STATE_DIR": str(tmp_path / "state"),
           "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    assert _run(["server", "status"], env).returncode == 3  # nothing recorded yet
    started = _run(["server", "start", "--port", "0"], env)
    assert started.returncode == 0, started.stderr
    try:
        state = json.loads((tmp_path / "state" / "server.json").read_text())
        assert state["url"].startswith("http://127.0.0.1:")
        status = _run(["server", "status"], env)
        assert status.returncode == 0 and "running and healthy" in status.stdout
        assert "already running" in _run(["server", "start"], env).stdout

        sweep = _run(["sweep", "examples/quickstart.yaml", "--out", str(tmp_path / "out"),
                      "--no-progress"], env)
        assert sweep.returncode == 0, sweep.stderr
        assert "in all (start-up, Prefect, cells)" in sweep.stdout
        assert "Starting temporary server" not in sweep.stderr
        (run_dir,) = (tmp_path / "out" / "quickstart").glob("2*")
        manifest = json.loads((run_dir / "_manifest.json").read_text())
        assert manifest["status"] == "complete"
        # the flow run is recorded on the local server, and Completed
        with urllib.request.urlopen(f"{state['url']}/flow_runs/{manifest['flow_run_id']}",
                                    timeout=10) as response:
            flow_run = json.loads(response.read())
        assert flow_run["state"]["type"] == "COMPLETED"
        # its task runs too, each Completed, and the heartbeat the flow sent itself
        # (regsim.orchestration.flow_heartbeats; events are stored asynchronously)
        # (Prefect 3 records task runs from their state events, also asynchronously)
        for _ in range(60):
            task_runs = _post(state["url"], "/task_runs/filter", {
                "flow_runs": {"id": {"any_": [manifest["flow_run_id"]]}}})
            if task_runs and {t["state"]["type"] for t in task_runs} == {"COMPLETED"}:
                break
            time.sleep(0.5)
        assert len(task_runs) >= 1
        assert {t["state"]["type"] for t in task_runs} == {"COMPLETED"}
        beats = []
        for _ in range(40):
            beats = _post(state["url"], "/events/filter", {"filter": {
                "event": {"name": ["prefect.flow-run.heartbeat"]},
                "resource": {"id": [f"prefect.flow-run.{manifest['flow_run_id']}"]}}})["events"]
            if beats:
                break
            time.sleep(0.5)
        assert len(beats) == 1
        # a second sweep resumes against the same server: nothing to do
        again = _run(["sweep", "examples/quickstart.yaml", "--out", str(tmp_path / "out"),
                      "--no-progress"], env)
        assert again.returncode == 0 and "nothing to do" in again.stdout
    finally:
        stopped = _run(["server", "stop"], env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not (tmp_path / "state" / "server.json").exists()
    from regsim.lifeline import alive

    assert not alive(state["pid"])
    assert _run(["server", "status"], env).returncode == 3
