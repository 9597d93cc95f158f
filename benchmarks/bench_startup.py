"""Benchmark: the quick start end to end, as a user runs it (issue 15 §1).

``regsim sweep examples/quickstart.yaml`` (the installed ``regsim`` command)
timed from process start to exit, best and median of 5 each way:

- ``temporary``: no ``PREFECT_API_URL`` and no local server: Prefect's
  temporary server starts and stops inside every call (what a user got before
  ``regsim server start`` existed, and still gets without it).
- ``local_server``: after ``regsim server start`` (its start-up, paid once,
  reported as ``server_start_s``): the sweep reports to that server.

Beside them: the cells' own time, the flow's time and the total the summary
reports (``wall time ... in all``: process start to the summary; the rest of
``end_to_end_s`` is the interpreter's exit), and ``python -c "import prefect"``
/ ``import regsim.cli`` (start-up floor). Target: ``local_server`` <= 3 s on a
quiet machine. The server runs with its own state directory and
``PREFECT_HOME`` under a temporary directory, so a user's server is not
touched. A warm machine has Python's bytecode caches: the untimed first call
of each kind writes them (``PYTHONDONTWRITEBYTECODE`` is dropped from the
children's environment; whether it was set is reported).

Run ``python benchmarks/bench_startup.py`` (about a minute).
"""

from __future__ import annotations

import json
import os
import re
import statistics
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
    times = {}
    match = re.search(r"flow ([\d.]+) s, cells ([\d.]+) s", stdout)
    if match:
        times.update(flow_s=float(match.group(1)), cells_s=float(match.group(2)))
    match = re.search(r"wall time ([\d.]+) s in all", stdout)
    if match:
        times["summary_total_s"] = float(match.group(1))
    return times


def _figures(runs: list[tuple[float, str]]) -> dict:
    """Best run (with the summary's own times) and median of the end-to-end times."""
    best = min(runs)
    return {"end_to_end_s": best[0], "median_s": statistics.median(r[0] for r in runs),
            **_summary_times(best[1]), "all_s": [round(r[0], 3) for r in runs]}


def main(repeats: int = 5) -> dict:
    results: dict = {"cpus": os.cpu_count(), "load_avg_1min_at_start": os.getloadavg()[0],
                     "PYTHONDONTWRITEBYTECODE_was_set": bool(os.environ.get(
                         "PYTHONDONTWRITEBYTECODE"))}
    with tempfile.TemporaryDirectory(prefix="regsim-bench-startup-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect"),
               "REGSIM_STATE_DIR": str(tmp / "state"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env.pop("PREFECT_API_URL", None)
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # a warm machine has its bytecode caches
        sweep = [str(BIN / "regsim"), "sweep", "examples/quickstart.yaml", "--out",
                 str(tmp / "out"), "--rerun", "--no-progress"]
        for module in ("prefect", "regsim.cli"):
            results[f"import_{module}_s"] = min(
                _timed([sys.executable, "-c", f"import {module}"], env)[0] for _ in range(repeats))
        _timed(sweep, env)  # a fresh PREFECT_HOME migrates its database once: not timed
        results["temporary"] = _figures([_timed(sweep, env) for _ in range(repeats)])
        t0 = time.perf_counter()
        _timed([str(BIN / "regsim"), "server", "start", "--port", "0"], env)
        results["server_start_s"] = time.perf_counter() - t0
        try:
            _timed(sweep, env)  # the server's first flow run registers the flow: not timed
            results["local_server"] = {**_figures([_timed(sweep, env) for _ in range(repeats)]),
                                       "target": "<= 3 s (quiet)"}
        finally:
            _timed([str(BIN / "regsim"), "server", "stop"], env)
    results["speed_up"] = results["temporary"]["end_to_end_s"] / results["local_server"]["end_to_end_s"]
    results["load_avg_1min_at_end"] = os.getloadavg()[0]
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
