"""The small Python API the CLI is built on: run a spec, open results."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from .spec import Spec, load_spec
from .store import read_results

__all__ = ["run_sweep", "open_results", "quiet_prefect_defaults"]


def quiet_prefect_defaults() -> None:
    """Offline-friendly Prefect defaults, unless the user set them already.

    Analytics off (no telemetry failures offline), the embedded server's
    shutdown noise hidden and a start-up timeout long enough for a first run
    on a busy machine; see ``prefect.toml`` for the same as a file.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE", "200")
    os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE", "200")
    os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL", "1")
    # The first start on a machine creates Prefect's database (15 s idle, far more on
    # a busy 2-core machine); Prefect's 20 s default then fails the whole sweep.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def run_sweep(spec: Spec | dict | str | Path, out: str | Path = "data/results", *,
              chunk_size: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Run a sweep as a Prefect flow and return its summary.

    Parameters
    ----------
    spec : Spec, dict, str or Path
        A loaded spec, a mapping, or a YAML file path (validated first, so a bad
        spec fails before Prefect starts).
    out : str or Path
        The result store root.
    chunk_size : int, optional
        Cells per Prefect task.
    progress : bool
        Show a progress line on stderr.

    Returns
    -------
    dict
        ``run_dir``, ``run_id``, ``counts`` (ok / error / diverged), ``n_cells``,
        ``wall_s``, ``failed_chunks``. Inside a user's flow the sweep runs as a
        subflow.
    """
    parsed = spec if isinstance(spec, Spec) else load_spec(spec)
    quiet_prefect_defaults()
    from regsim.flows.sweep import sweep  # imports prefect (about a second)

    return sweep(spec=parsed.raw, out=str(out), chunk_size=chunk_size, progress=progress)


def open_results(path: str | Path) -> pd.DataFrame:
    """All rows under ``path`` (a run directory, a sweep directory or the store)."""
    return read_results(path)
