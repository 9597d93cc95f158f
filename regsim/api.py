"""The small Python API the CLI is built on: run a spec, open results."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .spec import Spec, SpecPlan, checked_plan
from .store import read_results

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["run_sweep", "open_results", "quiet_prefect_defaults"]


def quiet_prefect_defaults() -> None:
    """Offline-friendly Prefect defaults, unless the user set them already.

    Analytics off (no telemetry failures offline), the embedded server's
    shutdown noise hidden and a start-up timeout long enough for a first run
    on a busy machine; see ``prefect.toml`` for the same as a file.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"].lower() in ("false", "0", "no"):
        # Prefect's client telemetry (and its first-run notice on a terminal) ignores the
        # server setting and only honours DO_NOT_TRACK.
        os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE", "200")
    os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE", "200")
    os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL", "1")
    # The first start on a machine creates Prefect's database (15 s idle, far more on
    # a busy 2-core machine); Prefect's 20 s default then fails the whole sweep.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def run_sweep(spec: Spec | dict | str | Path, out: str | Path = "data/results", *,
              chunk_size: int | None = None, progress: bool = True,
              runner: str = "threads", workers: int | None = None,
              dask_address: str | None = None, rerun: bool = False,
              time_budget_s: float | None = None) -> dict[str, Any]:
    """Run a sweep as a Prefect flow and return its summary.

    Parameters
    ----------
    spec : Spec, SpecPlan, dict, str or Path
        A loaded spec or plan, a mapping, or a YAML file path (validated first,
        so a bad spec fails before Prefect starts; its cells are generated
        chunk by chunk, never all at once).
    out : str or Path
        The result store root.
    chunk_size : int, optional
        Cells per Prefect task; default sized from a measured pilot chunk.
    progress : bool
        Show a progress line on stderr.
    runner : {"threads", "processes", "dask"}
        Prefect task runner for the chunks (see ``regsim.orchestration``).
    workers : int, optional
        Worker threads, worker processes or local Dask worker processes
        (default: 1 thread; the number of CPUs for processes and Dask).
    dask_address : str, optional
        An existing Dask scheduler, ``tcp://host:port`` (implies ``dask``).
    rerun : bool
        Start a new run directory instead of continuing the latest run of
        the same spec (which skips cells already stored).
    time_budget_s : float, optional
        Seconds per cell; a cell over budget is stored as ``status="error"``.

    Returns
    -------
    dict
        ``run_dir``, ``run_id``, ``counts`` (ok / error / diverged), ``n_cells``,
        ``n_run``, ``resumed``, ``wall_s``, ``failed_chunks``. Inside a user's
        flow the sweep runs as a subflow.
    """
    quiet_prefect_defaults()  # before anything imports prefect (its telemetry starts on import)
    from .orchestration import make_task_runner, sweep_server

    parsed = spec if isinstance(spec, (Spec, SpecPlan)) else checked_plan(spec)
    raw = parsed.raw
    make_task_runner(runner, workers, dask_address)  # bad choices fail before Prefect starts
    from regsim.flows.sweep import hand_over, sweep  # imports prefect (about a second)

    hand_over(parsed)  # the flow reuses this validation instead of checking the spec again
    del parsed

    kind = "dask" if dask_address else runner
    with sweep_server(kind):
        state = sweep(spec=raw, out=str(out), chunk_size=chunk_size, progress=progress,
                      rerun=rerun, time_budget_s=time_budget_s, runner=kind, workers=workers,
                      dask_address=dask_address, return_state=True)
    # A flow run Failed because cells errored still carries the summary as its data.
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    return result


def open_results(path: str | Path, run: str | None = None) -> pd.DataFrame:
    """All rows under ``path`` (a run directory, a sweep directory or the store).

    The columns are the union over every run read (nulls where a run lacks a
    column; a column stored as int by one run and float by another is float).
    A damaged part is skipped with a warning naming it (listed in
    ``df.attrs["damaged_parts"]``); resuming its run moves it aside and runs
    its cells again. See ``regsim.store.read_results``.

    ``run="latest"`` keeps the newest run of each sweep under ``path``; any other
    string keeps the run with that id (``regsim.report.select_runs``).
    """
    if run is None:
        return read_results(path)
    from .report import read_selected

    return read_selected(path, run)
