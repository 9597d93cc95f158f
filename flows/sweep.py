"""The sweep as a Prefect flow: expand the spec, map a task over chunks of cells.

Each task runs one chunk of cells (whole batched groups, never split), writes
its own Parquet part atomically and returns the part's path and status counts;
the flow never holds the rows. Usable as a subflow of a user's own flow::

    from regsim.flows.sweep import sweep
    sweep(spec={"name": ..., ...}, out="data/results")

and as a ``prefect.yaml`` entrypoint (``flows/sweep.py:sweep``).
"""

import hashlib
import math
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed

from regsim import __version__
from regsim.registry import get_registry
from regsim.runner import Outcome, group_cells, run_cells
from regsim.spec import Cell, load_spec
from regsim.store import new_run_id, result_schema, write_manifest, write_part

DEFAULT_OUT = "data/results"
#: Default number of chunks: enough for progress and parallelism, few enough
#: that Prefect's per-task cost (milliseconds on threads) stays negligible.
DEFAULT_CHUNKS = 16


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


def make_chunks(cells: list[Cell], chunk_size: int | None = None) -> list[Chunk]:
    """Pack whole groups of cells into chunks of about ``chunk_size`` cells.

    Groups (cells sharing a problem instance and one batched fit) are never
    split. Default: ``ceil(n_cells / 16)`` cells per chunk.
    """
    if chunk_size is None:
        chunk_size = max(1, math.ceil(len(cells) / DEFAULT_CHUNKS))
    if chunk_size < 1:
        raise ValueError(f"chunk_size: must be >= 1, got {chunk_size}")
    chunks, current = [], []
    for group in group_cells(cells):
        current.extend(group)
        if len(current) >= chunk_size:
            chunks.append(Chunk(len(chunks), current))
            current = []
    if current:
        chunks.append(Chunk(len(chunks), current))
    return chunks


@task(name="run-chunk", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE,
      task_run_name="chunk-{chunk.index:05d}")
def run_chunk(chunk: Chunk, sweep_name: str, schema: pa.Schema, run_dir: str,
              run_id: str) -> dict[str, Any]:
    """Run one chunk, write its part, return ``{"path", "counts", "n_cells"}``.

    Cell errors are rows with ``status="error"``; only failures outside the
    cells (writing the part) raise, and those are retried.
    """
    rows = run_cells(chunk.cells, sweep=sweep_name, run_id=run_id, registry=get_registry())
    path = write_part(rows, Path(run_dir) / chunk.part_name, schema)
    return {"path": str(path), "counts": Outcome().add(rows).counts, "n_cells": len(rows)}


class Progress:
    """One status line on stderr across chunks (rewritten in place on a terminal)."""

    def __init__(self, n_chunks: int, n_cells: int, enabled: bool = True):
        self.n_chunks, self.n_cells, self.enabled = n_chunks, n_cells, enabled
        self.done_chunks = self.done_cells = 0
        self.counts = Outcome().counts
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()

    def update(self, result: dict[str, Any]) -> None:
        self.done_chunks += 1
        self.done_cells += result["n_cells"]
        for k, v in result["counts"].items():
            self.counts[k] = self.counts.get(k, 0) + v
        if not self.enabled:
            return
        width = 24
        filled = int(width * self.done_chunks / max(self.n_chunks, 1))
        bar = "#" * filled + "." * (width - filled)
        line = (f"[{bar}] chunks {self.done_chunks}/{self.n_chunks}  cells "
                f"{self.done_cells}/{self.n_cells}  ok {self.counts['ok']} error "
                f"{self.counts['error']} diverged {self.counts['diverged']}  "
                f"{time.perf_counter() - self.start:.1f}s")
        end = "" if self.tty and self.done_chunks < self.n_chunks else "\n"
        print(("\r" if self.tty else "") + line, end=end, file=sys.stderr, flush=True)


def _versions(spec_plugins: dict[str, set[str]]) -> dict[str, str]:
    import numpy
    import pandas
    import prefect
    import pyarrow

    registry = get_registry()
    versions = {"regsim": __version__, "numpy": numpy.__version__, "prefect": prefect.__version__,
                "pandas": pandas.__version__, "pyarrow": pyarrow.__version__,
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


@flow(name="regsim-sweep", validate_parameters=False)
def sweep(spec: dict, out: str = DEFAULT_OUT, chunk_size: int | None = None,
          progress: bool = True) -> dict:
    """Run a regsim sweep spec; write Parquet parts and a manifest under ``out``.

    Parameters
    ----------
    spec : dict
        The sweep spec as a mapping (see ``regsim.load_spec``).
    out : str
        The result store root; results go to ``<out>/<spec name>/<run_id>/``.
    chunk_size : int, optional
        Cells per Prefect task (whole groups are kept together).
    progress : bool
        Print a progress line on stderr.

    Returns
    -------
    dict
        ``run_dir``, ``run_id``, ``counts`` (ok / error / diverged),
        ``n_cells``, ``wall_s``, ``failed_chunks``.
    """
    from prefect.runtime import flow_run

    logger = get_run_logger()
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    registry = get_registry()
    parsed = load_spec(spec, registry)
    schema = result_schema(parsed, registry)
    run_id = new_run_id(started)
    run_dir = Path(out) / parsed.name / run_id
    chunks = make_chunks(parsed.cells, chunk_size)
    plugins: dict[str, set[str]] = {}
    for cell in parsed.cells:
        for slot, comp in cell.components.items():
            if comp is not None:
                plugins.setdefault(slot, set()).add(comp["plugin"])
    plugins["metric"] = set(parsed.metrics)
    manifest = {
        "sweep": parsed.name, "run_id": run_id, "status": "running",
        "spec": parsed.raw, "spec_hash": parsed.spec_hash, "source": parsed.source,
        "n_cells": len(parsed.cells), "n_chunks": len(chunks),
        "started": started.isoformat(), "finished": None,
        "flow_run_id": str(flow_run.id) if flow_run.id else None,
        "versions": _versions(plugins), "git_commit": _git_commit(),
        "platform": platform.platform(),
    }
    write_manifest(run_dir, manifest)
    logger.info("sweep %s: %d cells in %d chunks -> %s", parsed.name, len(parsed.cells),
                len(chunks), run_dir)

    bar = Progress(len(chunks), len(parsed.cells), enabled=progress)
    futures = run_chunk.map(chunks, unmapped(parsed.name), unmapped(schema),
                            unmapped(str(run_dir)), unmapped(run_id))
    parts, failed = [], []
    for future in as_completed(futures):
        try:
            result = future.result()
        except Exception as exc:  # retries exhausted: keep going, report, never mark done
            failed.append(f"{type(exc).__name__}: {exc}")
            logger.error("a chunk failed after retries: %s", exc)
            continue
        parts.append(Path(result["path"]).name)
        bar.update(result)

    wall = time.perf_counter() - t0
    manifest.update(
        status="complete" if not failed else "incomplete",
        finished=datetime.now(timezone.utc).isoformat(), wall_s=wall,
        counts=bar.counts, parts=sorted(parts), failed_chunks=failed,
    )
    path = write_manifest(run_dir, manifest)
    try:
        registry.hook.sweep_finished(manifest=manifest, path=str(run_dir))
    except Exception as exc:
        logger.error("a sweep_finished hook raised %s: %s", type(exc).__name__, exc)
    logger.info("sweep %s finished in %.1fs: %s", parsed.name, wall, bar.counts)
    return {"run_dir": str(run_dir), "run_id": run_id, "manifest": str(path),
            "counts": bar.counts, "n_cells": len(parsed.cells), "wall_s": wall,
            "failed_chunks": failed}
