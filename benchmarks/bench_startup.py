"""Benchmark: the quick start end to end, as a user runs it (issue 15 §1).

``regsim sweep examples/quickstart.yaml`` timed from process start to exit,
best of 3 each way:

- ``temporary``: no ``PREFECT_API_URL`` and no local server: Prefect's
  temporary server starts and stops inside every call (what a user got before
  ``regsim server start`` existed, and still gets without it).
- ``local_server``: after ``regsim server start`` (its start-up, paid once,
  reported as ``server_start_s``): the sweep reports to that server.

Beside them: the cells' own time and the flow's time as the summary reports
them, and ``python -c "import prefect"`` / ``import regsim.cli`` (start-up
floor). Target: ``local_server`` <= 3 s on a quiet machine. The server runs
with its own state directory and ``PREFECT_HOME`` under a temporary
directory, so a user's server is not touched.

Run ``python benchmarks/bench_startup.py`` (about a minute).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _timed(cmd: list[str], env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr[-1500:]}")
    return seconds, res.stdout


def _summary_times(stdout: str) -> dict:
    match = re.search(r"flow ([\d.]+) s, cells ([\d.]+) s", stdout)
    return {"flow_s": float(match.group(1)), "cells_s": float(match.group(2))} if match else {}


def main(repeats: int = 3) -> dict:
    results: dict = {"cpus": os.cpu_count(), "load_avg_1min_at_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="regsim-bench-startup-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect"),
               "REGSIM_STATE_DIR": str(tmp / "state"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env.pop("PREFECT_API_URL", None)
        sweep = [str(BIN / "regsim"), "sweep", "examples/quickstart.yaml", "--out",
                 str(tmp / "out"), "--rerun", "--no-progress"]
        for module in ("prefect", "regsim.cli"):
            results[f"import_{module}_s"] = min(
                _timed([sys.executable, "-c", f"import {module}"], env)[0] for _ in range(repeats))
        _timed(sweep, env)  # a fresh PREFECT_HOME migrates its database once: not timed
        runs = [_timed(sweep, env) for _ in range(repeats)]
        best = min(runs)
        results["temporary"] = {"end_to_end_s": best[0], **_summary_times(best[1]),
                                "all_s": [r[0] for r in runs]}
        t0 = time.perf_counter()
        _timed([str(BIN / "regsim"), "server", "start", "--port", "0"], env)
        results["server_start_s"] = time.perf_counter() - t0
        try:
            _timed(sweep, env)  # the server's first flow run registers the flow: not timed
            runs = [_timed(sweep, env) for _ in range(repeats)]
            best = min(runs)
            results["local_server"] = {"end_to_end_s": best[0], **_summary_times(best[1]),
                                       "all_s": [r[0] for r in runs], "target": "<= 3 s (quiet)"}
        finally:
            _timed([str(BIN / "regsim"), "server", "stop"], env)
    results["speed_up"] = results["temporary"]["end_to_end_s"] / results["local_server"]["end_to_end_s"]
    results["load_avg_1min_at_end"] = os.getloadavg()[0]
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
