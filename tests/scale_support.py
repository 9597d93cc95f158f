"""Shared by the sweeps-at-scale tests: the faulty test plugin on the path, CLI subprocesses,
result comparison, free ports."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd

FAULTY_DIR = Path(__file__).resolve().parent / "plugin_faulty"
#: Columns that legitimately differ between runs (timing, run metadata).
VOLATILE = ["run_id", "wall_s"]


def env_with_plugin(api_url: str | None = None, **extra) -> dict:
    """The environment of a subprocess that sees the faulty plugin's entry point."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(FAULTY_DIR)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    env.update({k: str(v) for k, v in extra.items()})
    return env


def regsim_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "regsim.cli", *map(str, args)]


def run_cli(*args, env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(regsim_cmd(*args), env=env, capture_output=True, text=True,
                          timeout=timeout)


def canonical(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by cell, without timing and run metadata: what must be reproducible."""
    return (df.drop(columns=[c for c in VOLATILE if c in df])
              .sort_values("cell_id").reset_index(drop=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(*procs: subprocess.Popen) -> None:
    """Terminate ``procs`` (in the order given), waiting up to 20 s each before killing it."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
