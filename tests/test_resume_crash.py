"""`kill -9` a real `regsim sweep` (process-pool workers, a real Prefect server) at
several moments and rerun at once: every cell is stored exactly once, and nothing
the killed sweep started outlives it (pool workers, the temporary server)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml
from scale_support import env_with_plugin

from regsim.lifeline import alive
from regsim.store import read_results

N_CELLS = 24  # 12 seeds x 2 alphas; one group, one chunk, per seed
SPEC = {  # each chunk sleeps 2 s (no CPU taken from a shared machine): an orphaned worker
    "name": "crash",  # that finished its queue would write after the rerun's scan
    "seeds": list(range(12)),
    "problem": {"plugin": "faulty", "mode": "ok", "sleep_s": 2.0, "n_features": 4},
    "learner": {"plugin": "least_squares"},
    "penalty": {"plugin": "l2", "alpha": [0.01, 0.1]},
}
CLI = "import sys; from regsim.cli import main; sys.exit(main(sys.argv[1:]))"


def _sweep_cmd(spec: Path, out: Path) -> list[str]:
    return [sys.executable, "-c", CLI, "sweep", str(spec), "--out", str(out), "--no-progress",
            "--runner", "processes", "--workers", "2", "--chunk-size", "2"]


def _env(api_url: str | None) -> dict[str, str]:
    return env_with_plugin(api_url, PREFECT_SERVER_ANALYTICS_ENABLED="false")


def _parts(out: Path) -> list[Path]:
    return sorted((out / "crash").glob("*/part-*.parquet"))


def _kill_when(proc: subprocess.Popen, out: Path, n_parts: int, extra_s: float,
               timeout: float = 240) -> list[int]:
    """SIGKILL ``proc`` once ``n_parts`` parts exist (plus ``extra_s``); its descendants' pids."""
    deadline = time.monotonic() + timeout
    while len(_parts(out)) < n_parts:
        assert proc.poll() is None, "the sweep ended before the kill"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.05)
    time.sleep(extra_s)
    descendants = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(_parts(out)) < 12, "killed too late: the sweep had finished"
    return descendants


def _all_gone(pids: list[int], within_s: float) -> list[int]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        left = [pid for pid in pids if alive(pid)]
        if not left:
            return []
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


@pytest.fixture
def api_url(prefect_server):
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


@pytest.mark.parametrize("n_parts, extra_s", [(1, 0.0), (3, 0.0), (1, 1.0)],
                         ids=["after-chunk-1", "after-chunk-3", "mid-chunk"])
def test_kill_9_then_rerun_stores_every_cell_exactly_once(api_url, tmp_path, n_parts, extra_s):
    spec = tmp_path / "crash.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    out = tmp_path / "out"
    proc = subprocess.Popen(_sweep_cmd(spec, out), env=_env(api_url), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    orphans = _kill_when(proc, out, n_parts, extra_s)
    assert orphans, "the process pool had started no workers"

    rerun = subprocess.run(_sweep_cmd(spec, out), env=_env(api_url), cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)  # at once
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "resumed" in rerun.stdout
    df = read_results(out / "crash")
    assert df["cell_id"].is_unique and len(df) == N_CELLS
    assert (df["status"] == "ok").all()
    assert df["run_id"].nunique() == 1
    assert not list((out / "crash").glob("*/.*.tmp"))
    left = _all_gone(orphans, within_s=5)
    for pid in left:  # reap what a regression left behind, then fail
        os.kill(pid, signal.SIGKILL)
    assert left == []  # no worker finished its queue after the kill

    if n_parts == 3:  # once is enough: a later rerun finds nothing to do
        again = subprocess.run(_sweep_cmd(spec, out), env=_env(api_url), cwd=tmp_path,
                               capture_output=True, text=True, timeout=300)
        assert again.returncode == 0 and "nothing to do" in again.stdout
        assert len(read_results(out / "crash")) == N_CELLS


def test_a_killed_sweep_leaves_no_temporary_server_or_worker_behind(tmp_path):
    spec = tmp_path / "crash.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    out = tmp_path / "out"
    proc = subprocess.Popen(_sweep_cmd(spec, out), env=_env(None), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = _kill_when(proc, out, 1, 0.0)
    commands = {pid: " ".join(psutil.Process(pid).cmdline()) for pid in started if alive(pid)}
    assert any("uvicorn" in c or "prefect" in c for c in commands.values()), commands
    assert _all_gone(started, within_s=20) == [], commands
