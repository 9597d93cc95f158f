"""The sweep as a Prefect flow: expand the spec, map a task over chunks of cells.

Each task runs one chunk of cells (whole batched groups, never split), writes
its own Parquet part atomically and returns the part's path and status counts;
the flow never holds the rows, nor all the cells: they are generated group by
group from the spec's plan (``SpecPlan.iter_groups``), packed into chunks as
chunks are submitted (a few per worker ahead), and the run's identity and
resume work on 8-byte cell-id codes, so memory stays bounded for 10^7 cells. Usable as a subflow of a user's own flow::

    from regsim.flows.sweep import sweep
    sweep(spec={"name": ..., ...}, out="data/results")

and as a ``prefect.yaml`` entrypoint (``flows/sweep.py:sweep``).
"""

import contextlib
import errno
import hashlib
import itertools
import json
import math
import os
import platform
import socket
import sys
import threading
import time
import weakref
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.states import Failed

from regsim import __version__
from regsim.lifeline import exit_with_owner
from regsim.orchestration import TASK_COST_S
from regsim.flows.run_view import (
    ProgressArtifact,
    finish,
    flow_run_name,
    part_metadata,
    task_run_name,
)
from regsim.registry import get_registry
from regsim.runner import DONE_STATUSES, Outcome, group_cells, run_cells
from regsim.spec import Cell, Spec, SpecPlan, checked_plan
from regsim.store import (
    MANIFEST,
    RUN_META,
    codes_hash,
    drop_cells,
    find_run,
    _member,
    id_codes,
    plan_input_fingerprints,
    new_run_id,
    read_manifest,
    recover_manifest,
    refresh_schema,
    result_schema,
    run_identity,
    run_lock,
    scan_run,
    settle_run,
    status_counts,
    write_manifest,
    write_part,
    writer_token,
)

DEFAULT_OUT = "data/results"
#: Chunks are sized so that Prefect's per-task cost is at most this fraction of
#: a chunk's work (cost per task: ``regsim.orchestration.TASK_COST_S``).
OVERHEAD_FRACTION = 0.02
#: Upper bound on tasks per flow run: beyond this the flow's own bookkeeping
#: (futures, task runs in the server) grows for no gain in balance.
MAX_CHUNKS = 2000
#: Fraction of the groups run first, as one task, to measure the cost per cell.
PILOT_FRACTION = 0.01
#: At most this many cells in the pilot chunks together (1% of 10^7 cells would be
#: one 100,000-cell chunk, its rows alone a few hundred MB).
PILOT_MAX_CELLS = 20_000
#: Chunks submitted ahead of those finished, per worker: the flow holds only these
#: chunks' cells, whatever the size of the sweep.
AHEAD_PER_WORKER = 2


class Chunk:
    """Cells for one task. A plain object, so Prefect does not walk every cell."""

    def __init__(self, index: int, cells: list[Cell]):
        self.index = index
        self.cells = cells
        digest = hashlib.sha256("".join(c.cell_id for c in cells).encode()).hexdigest()[:8]
        self.part_name = f"part-{index:05d}-{digest}.parquet"

    def __len__(self) -> int:
        return len(self.cells)

    def __repr__(self) -> str:
        return f"Chunk({self.index}, {len(self.cells)} cells)"


def make_chunks(cells: list[Cell], chunk_size: int | None = None, start: int = 0,
                n_chunks: int = 16, sizes: list[int] | None = None) -> list[Chunk]:
    """Pack whole groups of cells into chunks.

    Fit groups (cells sharing a problem instance and one fit, whatever their
    inference strategy) are never split: a chunk closes at the first fit-group
    boundary once it holds at least its target number of cells.
    Targets: ``sizes`` (one per chunk, in order; the last repeats), else
    ``chunk_size`` cells each, else ``ceil(n_cells / n_chunks)``. Chunks are
    numbered from ``start`` (a resumed run continues the numbering).
    """
    if sizes is None:
        if chunk_size is None:
            chunk_size = max(1, math.ceil(len(cells) / max(1, n_chunks)))
        if chunk_size < 1:
            raise ValueError(f"chunk_size: must be >= 1, got {chunk_size}")
        sizes = [chunk_size]
    return list(pack_chunks(group_cells(cells), sizes, start))


def pack_chunks(groups: Iterable[list[Cell]], sizes: list[int], start: int = 0) -> Iterator[Chunk]:
    """Chunks from a stream of whole groups, one at a time (see :func:`make_chunks`).

    A chunk that has reached its target closes before the next group only
    when that group starts another fit group (``Cell.fit_group``): the
    strategies of one fit read one fit, which a split would repeat in two
    chunks. ``SpecPlan.iter_groups`` streams a fit group's groups together.
    """
    current: list[Cell] = []
    k = 0
    for group in groups:
        if (current and len(current) >= sizes[min(k, len(sizes) - 1)]
                and group[0].fit_group != current[-1].fit_group):
            yield Chunk(start + k, current)
            k, current = k + 1, []
        current.extend(group)
    if current:
        yield Chunk(start + k, current)


def plan_chunk_sizes(cost_per_cell_s: float, n_cells: int, task_cost_s: float,
                     workers: int) -> list[int]:
    """Cells per chunk, in the order the chunks are submitted.

    A chunk should carry ``T = task_cost_s / OVERHEAD_FRACTION`` seconds of
    work (1.5 s on threads, 5 s on processes or Dask), so orchestration stays
    a small fraction. One worker: equal chunks of about ``T``. Several
    workers: guided self-scheduling, each chunk a ``1 / (2 * workers)`` share
    of the work still unplanned, at most ``4 T`` and at least ten task costs,
    so chunks shrink towards the end and the workers finish together (equal
    chunks leave one worker idle for up to a chunk at the end). At most
    :data:`MAX_CHUNKS` chunks, never more than cells.
    """
    cost = max(cost_per_cell_s, 1e-9)
    target = task_cost_s / OVERHEAD_FRACTION
    uniform = [math.ceil(n_cells / max(1, min(math.ceil(cost * n_cells / target), MAX_CHUNKS,
                                              n_cells)))]
    if workers <= 1:
        return uniform
    low, high = 10 * task_cost_s, 4 * target
    sizes, left = [], n_cells
    while left > 0 and len(sizes) <= MAX_CHUNKS:
        work = min(high, max(low, left * cost / (2 * workers)))
        sizes.append(min(left, max(1, round(work / cost))))
        left -= sizes[-1]
    return uniform if len(sizes) > MAX_CHUNKS else sizes


#: Write failures no retry can fix: a full disk or quota, a read-only or forbidden store.
PERMANENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})
#: How the message of a chunk that failed for such a reason starts.
NOT_STORED = "not stored: "


def _retry_unless_permanent(task, task_run, state) -> bool:
    """Prefect retry condition: retry a chunk unless it failed for a permanent reason."""
    return not (state.message or "").startswith(NOT_STORED)


@task(name="run-chunk", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE,
      task_run_name=task_run_name, retry_condition_fn=_retry_unless_permanent)
def run_chunk(chunk: Chunk, sweep_name: str, schema: pa.Schema, run_dir: str,
              run_id: str, time_budget_s: float | None = None,
              metadata: dict[str, str] | None = None, writer: str | None = None,
              owner: tuple[str, int] | None = None) -> dict[str, Any]:
    """Run one chunk, write its part, return ``{"path", "counts", "n_cells", "compute_s"}``.

    Cell errors are rows with ``status="error"``; only failures outside the
    cells (writing the part) fail the task. Those are retried, except a full
    disk or a read-only or forbidden store (:data:`PERMANENT_ERRNOS`): the
    task then ends ``Failed`` at once with a one-line message starting
    :data:`NOT_STORED`, and no traceback. The registry is built lazily in each
    worker process (``get_registry`` is cached per process), so pickling this
    task copies no plugin manager.

    ``writer`` is the run lock's token: the part is committed only while this
    flow run still holds the run directory (``regsim.store.write_part``).
    ``owner`` is the sweep's ``(host, pid)``: a worker process on that host
    ends itself once that process is gone (``regsim.lifeline``), so a killed
    sweep leaves no workers finishing queued chunks behind.
    """
    if owner is not None:
        exit_with_owner(owner[1], owner[0])
    rows = run_cells(chunk.cells, sweep=sweep_name, run_id=run_id, registry=get_registry(),
                     time_budget_s=time_budget_s)
    try:
        path = write_part(rows, Path(run_dir) / chunk.part_name, schema, metadata, writer=writer)
    except OSError as exc:
        if exc.errno not in PERMANENT_ERRNOS:
            raise
        return Failed(message=f"{NOT_STORED}{len(rows)} cells of {chunk.part_name}: "
                              f"{os.strerror(exc.errno)}")
    compute = sum(row["wall_s"] or 0.0 for row in rows)
    return {"path": str(path), "counts": Outcome().add(rows).counts, "n_cells": len(rows),
            "compute_s": compute}


class Progress:
    """One status line on stderr across chunks, and the flow run's progress artifact.

    On a terminal the line is rewritten in place; log lines printed meanwhile
    (Prefect's console handler) first clear it and it is redrawn after them,
    so the two never share a line. :meth:`close` ends the line and restores
    the handlers.
    """

    def __init__(self, n_chunks: int | None, n_cells: int, enabled: bool = True):
        self.n_chunks, self.n_cells, self.enabled = n_chunks, n_cells, enabled
        self.done_chunks = self.done_cells = 0
        self.compute_s = 0.0
        self.counts = Outcome().counts
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.line = ""
        self._patched: list = []
        # chunks finish (update) and tasks log (emit) on different threads: one writer at a time
        self._lock = threading.RLock()
        if self.enabled and self.tty:
            self._wrap_log_handlers()
        self.artifact = ProgressArtifact(description=f"cells done of {n_cells}")
        self._artifact_at = 0.0

    def update(self, result: dict[str, Any]) -> None:
        self.done_chunks += 1
        self.done_cells += result["n_cells"]
        self.compute_s += result.get("compute_s", 0.0)
        for k, v in result["counts"].items():
            self.counts[k] = self.counts.get(k, 0) + v
        counted = "  ".join(f"{k} {v}" for k, v in self.counts.items())
        now = time.perf_counter()
        # an API call each: at most one a second (2000 chunks must not cost 20 s), and the last
        if now - self._artifact_at >= 1.0 or self.done_cells >= self.n_cells:
            self._artifact_at = now
            try:
                self.artifact.update(100.0 * self.done_cells / max(self.n_cells, 1),
                                     description=f"{self.done_cells} of {self.n_cells} cells: "
                                                 f"{counted}")
            except Exception:  # the bar is cosmetic: a busy server must not fail the sweep
                pass
        if not self.enabled:
            return
        width = 24
        filled = int(width * self.done_cells / max(self.n_cells, 1))
        bar = "#" * filled + "." * (width - filled)
        self.line = (f"[{bar}] chunks {self.done_chunks}/{self.n_chunks}  cells "
                     f"{self.done_cells}/{self.n_cells}  {counted}  "
                     f"{time.perf_counter() - self.start:.1f}s")
        with self._lock:
            if self.tty:
                print("\r\033[K" + self.line, end="", file=sys.stderr, flush=True)
            else:
                print(self.line, file=sys.stderr, flush=True)

    def close(self) -> None:
        """End the progress line (on a terminal), give the log handlers back, and leave the
        progress artifact at the final share of cells done."""
        if self._artifact_at and self.done_cells < self.n_cells:
            try:
                self.artifact.update(100.0 * self.done_cells / max(self.n_cells, 1),
                                     description=f"{self.done_cells} of {self.n_cells} cells "
                                                 "(some chunks not stored)")
            except Exception:
                pass
        for handler, emit in self._patched:
            handler.emit = emit
        self._patched = []
        if self.enabled and self.tty and self.line:
            print(file=sys.stderr, flush=True)
            self.line = ""

    def _wrap_log_handlers(self) -> None:
        import logging

        seen = set()
        for name in ("prefect", ""):
            for handler in logging.getLogger(name).handlers:
                if id(handler) in seen or not isinstance(handler, logging.StreamHandler):
                    continue
                seen.add(id(handler))
                emit = handler.emit

                # a weak reference: if the flow dies before close(), the wrapper passes through
                def wrapped(record, emit=emit, bar=weakref.ref(self)):
                    progress = bar()
                    if progress is None:
                        return emit(record)
                    with progress._lock:
                        if progress.line:
                            print("\r\033[K", end="", file=sys.stderr, flush=True)
                        emit(record)
                        if progress.line:
                            print(progress.line, end="", file=sys.stderr, flush=True)

                handler.emit = wrapped
                self._patched.append((handler, emit))


def _versions(spec_plugins: dict[str, set[str]]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import numpy
    import prefect
    import pyarrow

    try:  # from its metadata: importing pandas only for this costs a second
        pandas_version = version("pandas")
    except PackageNotFoundError:
        pandas_version = None
    registry = get_registry()
    versions = {"regsim": __version__, "numpy": numpy.__version__, "prefect": prefect.__version__,
                "pandas": pandas_version, "pyarrow": pyarrow.__version__,
                "python": platform.python_version()}
    for kind, names in spec_plugins.items():
        for name in names:
            info = registry.plugin_of(kind, name)
            versions[f"plugin:{info.distribution}"] = info.version
    return versions


def _git_commit() -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


#: Spec plans validated by the caller in this process (``run_sweep`` validates before
#: Prefect starts), keyed by spec hash, so the flow does not check them again.
_PLANNED: dict[str, SpecPlan] = {}


def hand_over(plan: SpecPlan | Spec) -> None:
    """Let the next ``sweep`` flow run in this process reuse ``plan``'s validation.

    A ``SpecPlan`` holds no cells (they are generated chunk by chunk); a
    ``Spec`` is planned again from its raw mapping.
    """
    if isinstance(plan, SpecPlan):
        _PLANNED[Spec(name="", raw=plan.raw, cells=[], metrics=[]).spec_hash] = plan


def _expand(spec: dict | str, registry) -> SpecPlan:
    """The validated plan of ``spec`` (cells are generated lazily from it)."""
    if isinstance(spec, dict):
        key = Spec(name="", raw=spec, cells=[], metrics=[]).spec_hash
        planned = _PLANNED.pop(key, None)
        if planned is not None:
            return planned
    return checked_plan(spec, registry)


def _plugins_of(plan: SpecPlan, metrics: list[str]) -> dict[str, set[str]]:
    plugins = {slot: names for slot, names in plan.plugins().items() if names}
    plugins["metric"] = set(metrics)
    return plugins


def _cell_codes(plan: SpecPlan) -> np.ndarray:
    """The ``uint64`` codes of every cell id of ``plan``, sorted (8 bytes a cell)."""
    codes = np.empty(plan.n_cells, dtype=np.uint64)
    filled, ids = 0, []
    for group in plan.iter_groups():
        ids.extend(c.cell_id for c in group)
        if len(ids) >= 65536:
            codes[filled:filled + len(ids)] = id_codes(ids)
            filled, ids = filled + len(ids), []
    if ids:
        codes[filled:filled + len(ids)] = id_codes(ids)
        filled += len(ids)
    if filled != len(codes):  # the plan's count and its cells disagree: a bug, never a mix
        raise RuntimeError(f"spec plan: {filled} cells generated, {len(codes)} counted")
    codes.sort()
    return codes


def _todo_groups(plan: SpecPlan, done: np.ndarray | None, block: int = 8192
                 ) -> Iterator[list[Cell]]:
    """The groups of ``plan`` without the cells in ``done`` (sorted codes), streamed."""
    groups = plan.iter_groups()
    if done is None or not len(done):
        yield from groups
        return
    while True:
        batch = list(itertools.islice(groups, max(1, block // 8)))
        if not batch:
            return
        codes = id_codes([c.cell_id for g in batch for c in g])
        stored = _member(codes, done)
        k = 0
        for group in batch:
            keep = [c for c, hit in zip(group, stored[k:k + len(group)]) if not hit]
            k += len(group)
            if keep:
                yield keep


def _next_part_index(run_dir: Path) -> int:
    indices = [int(p.name.split("-")[1]) for p in run_dir.glob("part-*.parquet")]
    return max(indices, default=-1) + 1


def _run_chunks(todo: Iterator[list[Cell]], n_todo: int, n_groups: int, task_runner,
                kind: str, n_workers: int, submit: dict[str, Any], start_index: int,
                chunk_size: int | None, bar: Progress, logger) -> list[str]:
    """Run :func:`run_chunk` over the groups ``todo`` (a stream) on ``task_runner``.

    Returns the chunks that failed. Chunks are packed from the stream as they
    are submitted, at most :data:`AHEAD_PER_WORKER` per worker ahead of those
    finished, so memory holds a few chunks' cells whatever the sweep's size.
    With ``chunk_size``: chunks of that many cells. Without: pilot chunks
    first (whole fit groups holding the first ~1% of the ``n_groups`` groups,
    one chunk per worker, so every worker process starts at once) to measure
    the cost per cell, then the rest in the sizes :func:`plan_chunk_sizes`
    gives. A chunk that still fails after
    its retries is reported, never counted as done.
    """
    failed: list[str] = []
    window = max(2, AHEAD_PER_WORKER * n_workers)
    submitted = 0

    def settle(future) -> None:
        try:
            result = future.result()
        except Exception as exc:  # retries exhausted: go on, report, never mark done
            message = str(exc)
            if not message.startswith(NOT_STORED):
                message = f"{type(exc).__name__}: {message}"
                logger.error("a chunk failed after retries: %s", message)
            failed.append(message)
            return
        bar.update(result)

    def collect(chunks: Iterable[Chunk]) -> None:
        nonlocal submitted
        pending: set = set()
        for chunk in chunks:
            pending.add(task_runner.submit(run_chunk, {"chunk": chunk, **submit}))
            submitted += 1
            del chunk
            while len(pending) >= window:
                future = next(as_completed(list(pending)))
                pending.discard(future)
                settle(future)
        for future in as_completed(list(pending)):
            settle(future)

    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size: must be >= 1, got {chunk_size}")
        bar.n_chunks = math.ceil(n_todo / chunk_size)
        collect(pack_chunks(todo, [chunk_size], start_index))
        bar.n_chunks = submitted
        return failed
    per_group = max(1.0, n_todo / max(n_groups, 1))
    n_pilot = min(n_groups, max(n_workers, min(math.ceil(PILOT_FRACTION * n_groups),
                                               int(PILOT_MAX_CELLS / per_group))))
    # Pilots take whole fit groups (a run of groups with one Cell.fit_group), like every chunk.
    fits = itertools.groupby(todo, key=lambda group: group[0].fit_group)
    units: list[list[Cell]] = []
    taken = 0
    for _, run in fits:
        unit = list(run)
        taken += len(unit)
        units.append([c for g in unit for c in g])
        if len(units) >= n_workers and taken >= n_pilot:
            break
    todo = (g for _, run in fits for g in run)
    pilots = [Chunk(start_index + i, [c for u in units[i::n_workers] for c in u])
              for i in range(min(n_workers, len(units)))]
    n_rest = n_todo - sum(len(c) for c in pilots)
    del units
    bar.n_chunks = len(pilots) + (1 if n_rest > 0 else 0)
    collect(pilots)
    del pilots
    if n_rest > 0:
        measured = bar.compute_s / max(bar.done_cells, 1) if bar.done_cells else 1e-3
        sizes = plan_chunk_sizes(measured, n_rest, TASK_COST_S[kind], n_workers)
        n_chunks = len(sizes) if len(sizes) > 1 else math.ceil(n_rest / sizes[0])
        bar.n_chunks += n_chunks - 1
        # Chunks close at fit-group boundaries, so their number is known only as they are packed.
        logger.info("pilot: %.3g ms per cell; the other %d cells follow in chunks of at least "
                    "%d cells (whole fit groups) on %s (%d workers)",
                    1e3 * measured, n_rest, min(sizes), kind, n_workers)
        collect(pack_chunks(todo, sizes, start_index + submitted))
    bar.n_chunks = submitted
    return failed


@flow(name="regsim-sweep", validate_parameters=False, flow_run_name=flow_run_name)
def sweep(spec: dict | str, out: str = DEFAULT_OUT, chunk_size: int | None = None,
          progress: bool = True, rerun: bool = False, time_budget_s: float | None = None,
          runner: str | None = None, workers: int | None = None,
          dask_address: str | None = None) -> dict:
    """Run a regsim sweep spec; write Parquet parts and a manifest under ``out``.

    Resume semantics (``rerun=False``): the newest run directory of this sweep
    with the same identity (the set of cell ids plus the SHA-256 of every
    input file, ``regsim.store.run_identity``; found through its manifest, or
    through its parts' metadata when the manifest is gone, which is then
    rebuilt) is continued in place. Its parts are checked first
    (``regsim.store.scan_run``: damaged parts moved to ``_damaged/``, doubled
    cells dropped); its cells with a final status (``ok``, ``diverged``) are
    skipped; cells missing from it or stored with ``status="error"``
    (time-budget overruns included) are removed from their parts (atomic
    rewrites) and run again. When nothing remains the flow does nothing and
    returns that run's summary. No run with this identity, or ``rerun=True``:
    a new run directory. Parts are written under the run lock's token, so a
    chunk of a superseded flow run cannot commit (``regsim.store.write_part``).

    The chunks run on the task runner named by ``runner`` (a deployment's
    parameters can choose it); with ``runner`` unset, on the flow's own
    (``sweep.with_options(task_runner=...)``; one thread by default).

    Parameters
    ----------
    spec : dict or str
        The sweep spec as a mapping, or the path of a YAML spec (relative to
        the working directory; what ``prefect.yaml`` deployments pass). See
        ``regsim.load_spec``.
    out : str
        The result store root; results go to ``<out>/<spec name>/<run_id>/``.
    chunk_size : int, optional
        Cells per Prefect task (whole groups are kept together). Default:
        sized from the cost per cell measured on pilot chunks (the first
        ~1% of groups, one chunk per worker) and the task runner's per-task
        cost (see :func:`plan_chunk_sizes`).
    progress : bool
        Print a progress line on stderr.
    rerun : bool
        Start a new run directory even if a run of this spec exists.
    time_budget_s : float, optional
        Seconds each cell may take (a batched group of m cells gets m times
        that); a cell over budget is stored with ``status="error"`` and a
        message starting ``CellTimeout:``.
    runner : {"threads", "processes", "dask"}, optional
        Task runner for the chunks (``regsim.orchestration``); process and Dask
        workers report to the flow's own server.
    workers : int, optional
        Threads, worker processes or local Dask workers (default: 1 thread;
        the number of CPUs for processes and Dask).
    dask_address : str, optional
        An existing Dask scheduler, ``tcp://host:port`` (implies ``dask``).

    Returns
    -------
    dict or prefect.states.Failed
        ``run_dir``, ``run_id``, ``counts`` (per status in
        ``regsim.runner.STATUSES``, over the whole run directory), ``n_cells``,
        ``n_run`` (cells run by this flow run), ``resumed``, ``wall_s``,
        ``failed_chunks``. When a cell errored or a chunk was not stored the
        flow returns ``Failed(message=..., data=summary)`` instead: the run is
        Failed in Prefect (its message gives the counts and the first errors),
        the rows that succeeded stay stored, and
        ``sweep(..., return_state=True).result(raise_on_failure=False)`` is the
        summary (what ``regsim.run_sweep`` returns). Other non-ok statuses
        (``diverged``, ``not_converged``) are results: Completed, with a
        WARNING log line each. See ``regsim.flows.run_view``.
    """
    from regsim.orchestration import flow_heartbeats

    with flow_heartbeats():  # when run_sweep asked for them (see regsim.orchestration)
        return _sweep(spec, out, chunk_size, progress, rerun, time_budget_s, runner, workers,
                      dask_address)


def _sweep(spec: dict | str, out: str, chunk_size: int | None, progress: bool, rerun: bool,
           time_budget_s: float | None, runner: str | None, workers: int | None,
           dask_address: str | None) -> dict:
    """The ``sweep`` flow's work, inside its flow run (the arguments are the flow's)."""
    from prefect.context import FlowRunContext
    from prefect.runtime import flow_run

    from regsim.orchestration import chunk_task_runner, runner_kind, runner_workers

    logger = get_run_logger()
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    registry = get_registry()
    parsed = _expand(spec, registry)  # a plan: cells are generated chunk by chunk
    schema = result_schema(parsed, registry)
    sweep_dir = Path(out) / parsed.name
    flow_run_id = str(flow_run.id) if flow_run.id else None
    n_cells = parsed.n_cells
    spec_hash = Spec(name="", raw=parsed.raw, cells=[], metrics=[]).spec_hash

    # A run's identity is its SET of cells plus the bytes of every input file: the
    # order of axis values does not matter, an edited CSV is a different run. The
    # ids are held as 8-byte codes (80 MB for 10 million cells), not as strings.
    inputs = plan_input_fingerprints(parsed, registry)
    codes = _cell_codes(parsed)
    cells_digest = codes_hash(codes, assume_sorted=True)
    identity = run_identity(cells_digest, inputs)
    previous, notes = (None, []) if rerun else find_run(
        sweep_dir, identity, spec_hash=spec_hash, inputs=inputs, cells_digest=cells_digest)
    for note in notes:
        logger.warning("sweep %s: %s", parsed.name, note)
    run_dir = previous if previous is not None else sweep_dir / new_run_id(started)
    with run_lock(run_dir):  # one writer per run directory
        token = writer_token(run_dir)
        if previous is not None:
            try:
                manifest = read_manifest(run_dir)
            except FileNotFoundError:
                manifest = recover_manifest(run_dir)
                logger.warning("sweep %s: %s had no %s; rebuilt it from its parts' metadata",
                               parsed.name, run_dir, MANIFEST)
            manifest.update(identity=identity, cells_hash=cells_digest, inputs=inputs)
            run_id = manifest["run_id"]
            scan = scan_run(run_dir)  # temporaries, damaged parts, doubled cells
            for damage in scan.damaged:
                logger.warning("sweep %s: damaged part %s", parsed.name, damage)
            if scan.duplicates:
                logger.warning("sweep %s: %d doubled rows removed from %s", parsed.name,
                               scan.duplicates, run_dir)
            # only this plan's cells count (the identity says they are all of it)
            done = scan.done
            planned = _member(done, codes)
            if not planned.all():
                done = done[planned]
            del planned
            n_todo = n_cells - len(done)
            if not n_todo and manifest.get("status") == "recovered":
                manifest["status"] = "complete"
                write_manifest(run_dir, manifest)
            if not n_todo:
                logger.info("sweep %s: all %d cells already stored in %s; nothing to do "
                            "(rerun=True starts a new run)", parsed.name, n_cells, run_dir)
                counts = {**Outcome().counts, **status_counts(run_dir)}
                return finish({"run_dir": str(run_dir), "run_id": run_id,
                               "manifest": str(run_dir / MANIFEST), "counts": counts,
                               "n_cells": n_cells, "n_run": 0, "resumed": True,
                               "wall_s": time.perf_counter() - t0, "failed_chunks": []},
                              sweep_name=parsed.name, spec_hash=spec_hash,
                              runner=runner or "threads", logger=logger)
            # Remove old rows of the cells about to run before running them: a
            # crash in between leaves them missing (run next time), never doubled.
            drop_cells(run_dir, scan.redo)
            manifest.setdefault("resumes", []).append(
                {"started": started.isoformat(), "flow_run_id": flow_run_id, "n_todo": n_todo,
                 "damaged": scan.damaged, "duplicates_removed": scan.duplicates})
            manifest.update(status="running", finished=None)
            logger.info("sweep %s: resuming %s: %d of %d cells to run", parsed.name, run_dir,
                        n_todo, n_cells)
            del scan
        else:
            run_id = run_dir.name
            done = None
            n_todo = n_cells
            manifest = {
                "sweep": parsed.name, "run_id": run_id, "status": "running",
                "spec": parsed.raw, "spec_hash": spec_hash, "source": parsed.source,
                "identity": identity, "cells_hash": cells_digest, "inputs": inputs,
                "n_cells": n_cells, "n_chunks": None,
                "started": started.isoformat(), "finished": None,
                "flow_run_id": flow_run_id,
                "versions": _versions(_plugins_of(parsed, parsed.metrics)),
                "git_commit": _git_commit(), "platform": platform.platform(),
            }
        del codes
        n_done_before = n_cells - n_todo
        groups_total = parsed.n_groups_streamed or parsed.n_groups or n_cells
        n_groups = max(1, round(groups_total * n_todo / max(n_cells, 1)))
        write_manifest(run_dir, manifest)
        refresh_schema(run_dir, schema)  # readers of the sweep see this run's columns at once
        run_meta = json.dumps({k: manifest.get(k) for k in (
            "sweep", "run_id", "identity", "cells_hash", "spec_hash", "inputs", "spec", "source",
            "n_cells")}, default=str)

        chosen = runner is not None or dask_address is not None
        with (chunk_task_runner(runner, workers, dask_address) if chosen
              else contextlib.nullcontext(FlowRunContext.get().task_runner)) as task_runner:
            kind, n_workers = runner_kind(task_runner), runner_workers(task_runner)
            submit = dict(sweep_name=parsed.name, schema=schema, run_dir=str(run_dir),
                          run_id=run_id, time_budget_s=time_budget_s,
                          metadata={**part_metadata(run_dir), RUN_META: run_meta},
                          writer=token, owner=(socket.gethostname(), os.getpid()))
            bar = Progress(None, n_todo, enabled=progress)
            failed = _run_chunks(_todo_groups(parsed, done), n_todo, n_groups, task_runner, kind,
                                 n_workers, submit, _next_part_index(run_dir), chunk_size, bar,
                                 logger)
        del done

        settle_run(run_dir, token)  # one row per cell, whatever a superseded writer did
        refresh_schema(run_dir)
        wall = time.perf_counter() - t0
        counts = {**Outcome().counts, **status_counts(run_dir)}
        stored_n = sum(counts.values())
        complete = not failed and stored_n == n_cells
        manifest.update(
            status="complete" if complete else "incomplete",
            finished=datetime.now(timezone.utc).isoformat(), wall_s=wall,
            counts=counts, n_chunks=bar.n_chunks, runner=kind, workers=n_workers,
            parts=sorted(p.name for p in run_dir.glob("part-*.parquet")), failed_chunks=failed,
        )
        path = write_manifest(run_dir, manifest)
        try:
            registry.hook.sweep_finished(manifest=manifest, path=str(run_dir))
        except Exception as exc:
            logger.error("a sweep_finished hook raised %s: %s", type(exc).__name__, exc)
        bar.close()
        logger.info("sweep %s finished in %.1fs: %s (%d cells run now, %d stored before)",
                    parsed.name, wall, counts, n_todo, n_done_before)
        summary = {"run_dir": str(run_dir), "run_id": run_id, "manifest": str(path),
                   "counts": counts, "n_cells": n_cells, "n_run": n_todo,
                   "resumed": previous is not None, "wall_s": wall, "compute_s": bar.compute_s,
                   "failed_chunks": failed}
        # Failed (counts and first errors in the message) when a cell errored; the
        # summary is the state's data either way (``run_sweep`` returns it).
        return finish(summary, sweep_name=parsed.name, spec_hash=spec_hash,
                      runner=kind, logger=logger)
