"""The result store: atomic Parquet parts and a manifest per run.

Layout::

    <root>/<sweep>/<run_id>/part-00000.parquet ...   one part per chunk of cells
    <root>/<sweep>/<run_id>/_manifest.json           spec, versions, times, flow-run id
    <root>/<sweep>/<run_id>/_writer.lock             while a flow writes the run (pid, host)

The manifest's leading underscore is what keeps pyarrow's dataset discovery
(and so ``pd.read_parquet(<root>/<sweep>)``) from reading it as Parquet. Parts
are written to a hidden temporary file and renamed into place, so a reader or
a crash never sees half a part. Run directories are not Hive-style
(``run_id=...``) because the files already hold a ``run_id`` column.

Resume works on this layout: the cells of a run are whatever its parts hold
(``stored_statuses``); cells to run again are first removed from their parts
(``drop_cells``, each affected part rewritten atomically) and only then run,
so a crash at any moment leaves every cell stored at most once. One writer per
run directory (:func:`run_lock`): a second sweep that would continue a run
still being written (a manual resume during a scheduled run, say) stops with
a message instead of running the same cells twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from .registry import Registry, get_registry
from .spec import SLOTS, Spec

if TYPE_CHECKING:  # pandas is imported where rows are read, not by workers that only write
    import pandas as pd

__all__ = [
    "result_schema",
    "new_run_id",
    "write_part",
    "write_manifest",
    "read_manifest",
    "read_results",
    "run_dirs",
    "latest_run",
    "stored_statuses",
    "drop_cells",
    "remove_temporaries",
    "status_counts",
    "run_lock",
    "RunLocked",
    "MANIFEST",
    "LOCK",
]

MANIFEST = "_manifest.json"
LOCK = "_writer.lock"

_ARROW = {
    "float": pa.float64(),
    "int": pa.int64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "list": pa.list_(pa.float64()),
}
_PARAM_ARROW = {float: "float", int: "int", str: "str", bool: "bool", list: "list"}


def result_schema(spec: Spec, registry: Registry | None = None) -> pa.Schema:
    """The Arrow schema every part of ``spec``'s runs is written with.

    Fixed before anything runs, so parts written by different chunks (some of
    which may hold only errors) always agree and read back as one table.
    """
    registry = registry or get_registry()
    fields: dict[str, pa.DataType] = {
        "sweep": pa.string(), "run_id": pa.string(), "cell_id": pa.string(),
        "group_id": pa.string(), "seed": pa.int64(),
    }
    for slot in SLOTS:
        fields[slot] = pa.string()
    plugins = {slot: set() for slot in SLOTS}
    for cell in spec.cells:
        for slot, comp in cell.components.items():
            if comp is not None:
                plugins[slot].add(comp["plugin"])
    extra: dict[str, str] = {}
    for slot, names in plugins.items():
        for name in sorted(names):
            cls = registry.get(SLOTS[slot], name)
            for key, param in cls.params.items():
                fields.setdefault(f"{slot}.{key}", _ARROW[_PARAM_ARROW.get(param.type, "str")])
            if slot in ("learner", "ensembler"):
                extra.update(cls.columns)
    for name in spec.metrics:
        extra.update(registry.get("metric", name).columns)
    for col, kind in extra.items():
        fields.setdefault(col, _ARROW[kind])
    fields.update(status=pa.string(), error=pa.string(), wall_s=pa.float64())
    return pa.schema(list(fields.items()))


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id: UTC time plus a random suffix."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_part(rows: list[dict[str, Any]], path: str | Path, schema: pa.Schema,
               metadata: dict[str, str] | None = None) -> Path:
    """Write ``rows`` as one Parquet file at ``path``, atomically.

    Columns not in ``schema`` (added by ``cell_finished`` hooks) are appended
    with inferred types.
    """
    path = Path(path)
    extra = sorted({k for row in rows for k in row} - set(schema.names))
    columns = {name: [row.get(name) for row in rows] for name in schema.names}
    arrays = [pa.array(columns[f.name], type=f.type) for f in schema]
    table = pa.Table.from_arrays(arrays, schema=schema)
    for name in extra:
        table = table.append_column(name, pa.array([row.get(name) for row in rows]))
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    _atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    return path


def write_manifest(run_dir: str | Path, manifest: dict[str, Any]) -> Path:
    path = Path(run_dir) / MANIFEST
    _atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(manifest, indent=2, default=str)))
    return path


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / MANIFEST).read_text())


def run_dirs(sweep_dir: str | Path) -> list[Path]:
    """Run directories of a sweep, oldest first."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        return []
    return sorted(p for p in sweep_dir.iterdir() if p.is_dir() and (p / MANIFEST).exists())


def read_results(path: str | Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Every row under ``path`` (a run, a sweep, or the whole store) as a DataFrame.

    Reads the ``part-*.parquet`` files only, so other files under ``path`` (a
    report written into the sweep directory) do not break it, as they would
    ``pd.read_parquet(path)``; write those under a name starting with ``_`` or
    ``.``, which pyarrow skips. Raises ``FileNotFoundError`` when there is no part.
    """
    path = Path(path)
    parts = sorted(path.rglob("part-*.parquet")) if path.is_dir() else []
    if not parts:
        raise FileNotFoundError(f"no result parts under {path}")
    import pandas as pd

    return pd.read_parquet([str(p) for p in parts], columns=list(columns) if columns else None)


def latest_run(sweep_dir: str | Path, spec_hash: str) -> Path | None:
    """The newest run directory of ``sweep_dir`` whose manifest has ``spec_hash``."""
    for run_dir in reversed(run_dirs(sweep_dir)):
        try:
            if read_manifest(run_dir).get("spec_hash") == spec_hash:
                return run_dir
        except (OSError, ValueError):  # an unreadable manifest is not a run to continue
            continue
    return None


def _parts(run_dir: Path) -> list[Path]:
    return sorted(Path(run_dir).glob("part-*.parquet"))


def stored_statuses(run_dir: str | Path) -> dict[str, dict[str, str]]:
    """``{part file name: {cell_id: status}}`` for every part of a run.

    Reads only the two columns, so it stays cheap for 100,000 cells.
    """
    out = {}
    for part in _parts(Path(run_dir)):
        table = pq.read_table(part, columns=["cell_id", "status"])
        out[part.name] = dict(zip(table.column("cell_id").to_pylist(),
                                  table.column("status").to_pylist()))
    return out


def status_counts(run_dir: str | Path) -> dict[str, int]:
    """Rows per status over every part of a run."""
    counts: dict[str, int] = {}
    for statuses in stored_statuses(run_dir).values():
        for status in statuses.values():
            counts[status] = counts.get(status, 0) + 1
    return counts


def drop_cells(run_dir: str | Path, cell_ids: set[str]) -> list[str]:
    """Remove the rows of ``cell_ids`` from the parts of a run.

    Each affected part is rewritten atomically without those rows (or deleted
    when none remain), so readers see either the old or the new part. Returns
    the names of the parts changed.
    """
    changed = []
    for part in _parts(Path(run_dir)):
        table = pq.read_table(part)
        ids = table.column("cell_id").to_pylist()
        keep = [i for i, cid in enumerate(ids) if cid not in cell_ids]
        if len(keep) == len(ids):
            continue
        changed.append(part.name)
        if not keep:
            part.unlink()
            continue
        kept = table.take(pa.array(keep, type=pa.int64()))
        _atomic_write(part, lambda tmp, kept=kept: pq.write_table(kept, tmp))
    return changed


def remove_temporaries(run_dir: str | Path) -> int:
    """Delete temporary files left by a writer that was killed; returns how many."""
    n = 0
    for tmp in Path(run_dir).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        n += 1
    return n


class RunLocked(RuntimeError):
    """Another live process is writing this run directory."""


def _lock_holder(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _holder_alive(holder: dict[str, Any]) -> bool:
    """Whether the process that took the lock still runs (assumed so on another host)."""
    if holder.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, TypeError, ValueError):
        return True
    return True


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[Path]:
    """Hold ``run_dir`` for one writer: ``<run_dir>/_writer.lock`` names its pid and host.

    A lock left by a process that no longer runs on this host (a killed
    sweep) is taken over. A lock held by a live process, or by one on another
    host (which cannot be checked from here), raises :class:`RunLocked` with
    what to do. The directory is created if needed.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    for _ in range(10):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _lock_holder(path)
            if holder is None or _holder_alive(holder):
                who = (f"pid {holder.get('pid')} on {holder.get('host')} since "
                       f"{holder.get('since')}" if holder else "another process")
                raise RunLocked(
                    f"{run_dir} is being written by {who}. Wait for that sweep to finish, or "
                    f"start a new run directory (--rerun, rerun=True). If that process is "
                    f"gone, delete {path}.") from None
            if _lock_holder(path) == holder:  # stale: its writer is gone; take it over
                path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    else:
        raise RunLocked(f"{run_dir}: could not take {path} (contended)")
    try:
        yield path
    finally:
        if _lock_holder(path) == me:
            path.unlink(missing_ok=True)
