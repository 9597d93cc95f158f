"""``regsim server start|status|stop``: a real background Prefect server that sweeps reuse."""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REGSIM = [sys.executable, "-m", "regsim.cli"]


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
