"""Which Prefect task runner runs a sweep's chunks, and which server they report to.

``threads`` (the default) runs chunks in a thread pool of the flow's process;
``processes`` in a local process pool; ``dask`` on a Dask cluster through
prefect-dask: a local cluster of ``workers`` processes, or an existing
scheduler (``dask_address="tcp://host:8786"``), so a sweep that outgrows one
machine moves to a cluster without a code change.

One Prefect server per sweep: with no ``PREFECT_API_URL``, process-pool and
Dask workers would each start their own temporary server on the same SQLite
file. :func:`sweep_server` starts the temporary server once and hands its URL
to the flow (``temporary_settings``) and to child processes (the environment).
Workers of an external Dask cluster were started elsewhere: point them at a
server yourself (``PREFECT_API_URL``) or rely on prefect-dask, which sends the
flow's settings with each task.

On a temporary server :func:`sweep_server` also turns flow-run heartbeats off:
they exist so that a persistent server can tell a crashed run from a running
one, and the temporary server dies with the sweep. On a persistent server
(``PREFECT_API_URL`` or ``regsim server start``) they are sent at the interval
Prefect is configured with, but by the sweep flow itself
(:func:`flow_heartbeats`): Prefect's heartbeat thread sleeps in whole seconds
and the end of every flow run waits for it, 0-1 s (0.5 s on average), a sixth
of a small sweep's whole time.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from typing import Any, Iterator

__all__ = ["RUNNERS", "TASK_COST_S", "chunk_task_runner", "flow_heartbeats", "make_task_runner",
           "own_heartbeats", "runner_kind", "runner_workers", "sweep_server"]

RUNNERS = ("threads", "processes", "dask")

#: Prefect's cost per task, what chunk sizing amortises. Threads: about 10 ms in
#: the flow's own threads plus about 20 ms of GIL time that Prefect's event and
#: log threads take from the cells running beside them (measured on 5,000 cells:
#: 100 chunks made the cells themselves 30% slower than 1 or 10 chunks; see
#: benchmarks/README.md). Processes and Dask: about 100 ms (PREFECT_NOTES.md).
TASK_COST_S = {"threads": 0.03, "processes": 0.1, "dask": 0.1}


def make_task_runner(runner: str = "threads", workers: int | None = None,
                     dask_address: str | None = None):
    """A Prefect task runner for ``runner`` (one of :data:`RUNNERS`).

    Parameters
    ----------
    runner : {"threads", "processes", "dask"}
    workers : int, optional
        Pool size; for ``dask`` the number of worker processes of a local
        cluster (one thread each). Default: 1 thread for ``threads`` (cells
        are mostly NumPy on small arrays, which holds the GIL: two threads
        measured 1.6x slower than one, and large products thread inside
        BLAS anyway), the number of CPUs for ``processes`` and ``dask``.
    dask_address : str, optional
        An existing Dask scheduler (``tcp://host:port``); implies ``dask``.

    Raises
    ------
    ValueError
        An unknown runner name, or ``workers < 1``.
    ImportError
        ``dask`` without the optional extra installed (``pip install 'regsim[dask]'``).
    """
    if dask_address and runner == "threads":
        runner = "dask"
    if runner not in RUNNERS:
        raise ValueError(f"runner: unknown task runner {runner!r}; allowed: {', '.join(RUNNERS)}")
    if workers is not None and workers < 1:
        raise ValueError(f"workers: must be >= 1, got {workers}")
    if dask_address and runner != "dask":
        raise ValueError(f"dask_address: only for runner 'dask', got runner {runner!r}")
    if runner == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers or 1)
    if runner == "processes":
        from prefect.task_runners import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(max_workers=workers or os.cpu_count() or 1)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:
        raise ImportError(
            "runner 'dask' needs the optional Dask extra, which is not installed: "
            f"pip install 'regsim[dask]' ({exc})") from None
    if dask_address:
        return DaskTaskRunner(address=dask_address)
    # One thread per worker process: the cells are CPU-bound NumPy and Python.
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers or os.cpu_count() or 1,
                                          "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None})


def runner_kind(task_runner: Any) -> str:
    """``threads``, ``processes`` or ``dask`` for a task runner instance."""
    name = type(task_runner).__name__
    if name == "ProcessPoolTaskRunner":
        return "processes"
    if name == "DaskTaskRunner":
        return "dask"
    return "threads"


def runner_workers(task_runner: Any) -> int:
    """How many chunks the runner can run at once (an estimate for Dask clusters)."""
    cpus = os.cpu_count() or 1
    kind = runner_kind(task_runner)
    if kind == "dask":
        client = getattr(task_runner, "_client", None)
        try:
            info = client.scheduler_info() if client is not None else None
            if info:
                return max(1, sum(w.get("nthreads", 1) for w in info["workers"].values()))
        except Exception:  # an estimate only; fall back to the configured size
            pass
        kwargs = getattr(task_runner, "cluster_kwargs", None) or {}
        return int(kwargs.get("n_workers", cpus)) * int(kwargs.get("threads_per_worker", 1))
    workers = getattr(task_runner, "_max_workers", None) or cpus
    return max(1, min(int(workers), 4 * cpus))


@contextlib.contextmanager
def sweep_server(runner: str) -> Iterator[str | None]:
    """Make sure every process of a sweep talks to one Prefect server.

    With ``PREFECT_API_URL`` set this does nothing and yields that URL. With
    it unset and a healthy server started by ``regsim server start``
    (``regsim.local_server``), the sweep and its workers report to that
    server (no start-up cost; runs stay in its UI). Otherwise, for
    the thread runner (one process) it yields ``None``: Prefect starts its
    temporary server in this process on first use. Otherwise it starts the
    temporary server once, sets ``PREFECT_API_URL`` for this process and its
    children for the duration, and stops the server after. On a temporary
    server, flow-run heartbeats are off for the duration; on the others the
    sweep flow sends them itself (:func:`own_heartbeats`).
    """
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    configured = PREFECT_API_URL.value()
    if configured:
        with own_heartbeats():
            yield configured
        return
    from .local_server import find_server

    local = find_server()
    if local:  # ``regsim server start``: persistent, so heartbeats are sent (by the flow)
        with own_heartbeats(reporting_to=local):
            try:
                yield local
            finally:
                _drain_to_server()
        return
    no_heartbeats = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    if runner == "threads":
        with temporary_settings(updates=no_heartbeats):
            yield None
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    # A fresh PREFECT_HOME migrates its database first (15 s or more on a busy
    # machine): allow more than Prefect's default of 20 s.
    server.start(timeout=max(90, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()))
    # A sweep killed with ``kill -9`` cannot stop its server: a guard process does.
    from .lifeline import guard

    process = getattr(server, "server_process", None)
    guardian = guard(process.pid) if process is not None else None
    try:
        with _reporting_to(server.api_url, no_heartbeats):
            yield server.api_url
    finally:
        _drain_to_server()
        server.stop()
        if guardian is not None:
            guardian.terminate()
            guardian.wait()


#: Seconds between the heartbeats the sweep flow sends itself (:func:`flow_heartbeats`),
#: set by :func:`own_heartbeats`; None: Prefect's own heartbeat thread, or none, as configured.
_OWN_HEARTBEAT_S: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "regsim_own_heartbeat_s", default=None)


@contextlib.contextmanager
def own_heartbeats(reporting_to: str | None = None) -> Iterator[int | None]:
    """For flow runs started in this context: the flow sends its heartbeats, not Prefect's thread.

    Reads the configured interval (``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``, at
    least Prefect's minimum of 30 s), turns Prefect's heartbeat thread off for
    the duration and hands the interval to :func:`flow_heartbeats`, which the
    ``sweep`` flow enters. Same events at the same interval; the difference is
    the end: Prefect's thread sleeps in steps of one second and the flow run's
    end joins it (0-1 s lost per run), :func:`flow_heartbeats` stops at once.
    Heartbeats configured off stay off. With ``reporting_to``, also report to
    that server (:func:`_reporting_to`) in the same settings change (each
    change of Prefect's settings costs ~50 ms). Yields the interval (or None).
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    seconds = PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value()
    if seconds is not None:
        try:
            from prefect.flow_engine import MINIMUM_HEARTBEAT_INTERVAL as minimum
        except ImportError:
            minimum = 30
        seconds = max(int(seconds), int(minimum))
    updates = {} if seconds is None else {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    token = _OWN_HEARTBEAT_S.set(seconds)
    try:
        with (_reporting_to(reporting_to, updates) if reporting_to
              else temporary_settings(updates=updates) if updates else contextlib.nullcontext()):
            yield seconds
    finally:
        _OWN_HEARTBEAT_S.reset(token)


@contextlib.contextmanager
def flow_heartbeats() -> Iterator[int | None]:
    """Inside a flow run: send its heartbeats while the block runs, if :func:`own_heartbeats` asked.

    The event Prefect's flow engine sends (``prefect.flow-run.heartbeat``; the
    flow run as resource; its flow, deployment and tags as related resources),
    first at once, then every interval, from a daemon thread that waits on an
    event, so that leaving the block stops it without delay. Outside
    :func:`own_heartbeats` (a deployment run, a subflow of a user's flow) this
    does nothing: Prefect's own heartbeats apply. Yields the interval (or None).
    """
    from prefect.context import FlowRunContext

    seconds = _OWN_HEARTBEAT_S.get()
    context = FlowRunContext.get()
    flow_run = getattr(context, "flow_run", None)
    if seconds is None or flow_run is None:
        yield None
        return
    from prefect import __version__ as prefect_version
    from prefect.events import emit_event
    from prefect.events.related import tags_as_related_resources
    from prefect.events.schemas.events import RelatedResource

    resource = {"prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
                "prefect.resource.name": flow_run.name or "",
                "prefect.version": prefect_version}
    related = []
    if flow_run.flow_id:
        related.append(RelatedResource.model_validate({
            "prefect.resource.id": f"prefect.flow.{flow_run.flow_id}",
            "prefect.resource.role": "flow",
            "prefect.resource.name": context.flow.name if context.flow else ""}))
    if flow_run.deployment_id:
        related.append(RelatedResource.model_validate({
            "prefect.resource.id": f"prefect.deployment.{flow_run.deployment_id}",
            "prefect.resource.role": "deployment"}))
    related += tags_as_related_resources(set(flow_run.tags or []))
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            try:
                emit_event(event="prefect.flow-run.heartbeat", resource=resource, related=related)
            except Exception:  # like Prefect's: a lost heartbeat must not fail the sweep
                pass
            stop.wait(seconds)

    # the thread sees this context's settings (the server URL), as Prefect's does
    thread = threading.Thread(target=contextvars.copy_context().run, args=(beat,),
                              name="regsim-flow-heartbeat", daemon=True)
    thread.start()
    try:
        yield seconds
    finally:
        stop.set()
        thread.join(timeout=2)


@contextlib.contextmanager
def chunk_task_runner(runner: str | None = None, workers: int | None = None,
                      dask_address: str | None = None) -> Iterator[Any]:
    """A started task runner for a flow's chunks, chosen by flow parameters.

    What the ``sweep`` flow uses when its ``runner`` parameter is given (a
    deployment run, a direct call); see :func:`make_task_runner` for the
    arguments. Process and Dask workers are pointed at the server the flow
    itself reports to: with no ``PREFECT_API_URL`` that is Prefect's
    temporary server of this process, whose URL goes to the workers through
    the environment for the duration (otherwise each would start its own).
    """
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL

    task_runner = make_task_runner(runner or "threads", workers, dask_address)
    context = FlowRunContext.get()
    hand_down = (runner_kind(task_runner) != "threads" and not PREFECT_API_URL.value()
                 and context is not None)
    with (_reporting_to(str(context.client.api_url).rstrip("/")) if hand_down
          else contextlib.nullcontext()), task_runner:
        yield task_runner


@contextlib.contextmanager
def _reporting_to(url: str, settings: dict | None = None) -> Iterator[None]:
    """``PREFECT_API_URL = url`` for this process (settings, plus ``settings``) and for the
    processes it starts meanwhile (the environment, which pool and cluster workers inherit)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings(updates={PREFECT_API_URL: url, **(settings or {})}):
            yield
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


def _drain_to_server() -> None:
    """Send queued logs and events before the server goes away (otherwise the
    exit handlers retry against a closed port for minutes)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for service in (APILogWorker, EventsWorker):
        try:
            service.drain_all(timeout=10)
        except Exception:  # best effort: results are already stored
            pass
