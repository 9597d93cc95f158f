"""The result store: atomic Parquet parts and a manifest per run.

Layout::

    <root>/<sweep>/<run_id>/part-00000.parquet ...   one part per chunk of cells
    <root>/<sweep>/<run_id>/_manifest.json           spec, versions, times, flow-run id
    <root>/<sweep>/<run_id>/_writer.lock             while a flow writes the run (pid, host, token)
    <root>/<sweep>/<run_id>/_damaged/                parts found damaged on resume, moved aside
    <root>/+schema.parquet, <root>/<sweep>/+schema.parquet, <run_dir>/+schema.parquet
                                                     zero rows: the union of the columns below

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

Writes are fenced: the lock holds a random ``token`` that every chunk of the
flow run carries; :func:`write_part` renames its file into place only while
that token is still the lock's (a worker orphaned by a killed sweep cannot
commit once a resume took the run over), and stamps it into the part's
key-value metadata (``regsim.writer``). :func:`settle_run` keeps one row per
cell should a part slip through between check and rename.

Schema growth: a later run may add columns (a new learner, a metric, a hook's
column) or store a column with another type. :func:`refresh_schema` keeps a
zero-row ``+schema.parquet`` at run, sweep and store level holding the union
of the columns below it (types promoted, int to float); its name sorts before
every run directory and part, and pyarrow, pandas and polars take a
directory's schema from its first file, so ``pd.read_parquet(dir)`` returns
every column, with nulls where a run lacks one. :func:`read_results` unifies
the parts' own schemas and needs no such file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import socket
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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
    "find_run",
    "recover_manifest",
    "stored_statuses",
    "scan_run",
    "settle_run",
    "verify_part",
    "drop_cells",
    "remove_temporaries",
    "status_counts",
    "refresh_schema",
    "unify_schemas",
    "input_fingerprints",
    "plan_input_fingerprints",
    "cells_hash",
    "codes_hash",
    "id_codes",
    "ids_of_codes",
    "run_identity",
    "run_lock",
    "writer_token",
    "RunLocked",
    "StaleWriter",
    "DamagedPart",
    "RunScan",
    "MANIFEST",
    "LOCK",
    "DAMAGED",
    "SCHEMA_FILE",
    "RUN_META",
    "WRITER_META",
]

MANIFEST = "_manifest.json"
LOCK = "_writer.lock"
#: Where resume moves parts it cannot read (the underscore keeps readers out).
DAMAGED = "_damaged"
#: Zero-row Parquet file holding the union schema of a directory. Its name sorts
#: before run ids (digits), sweep names (letters, digits) and ``part-``, and does
#: not start with ``_`` or ``.``, so dataset readers see it, and see it first.
SCHEMA_FILE = "+schema.parquet"
#: Part key-value metadata: the run a part belongs to (JSON: sweep, run_id,
#: identity, cells_hash, spec_hash, inputs, spec) and the lock token of its writer.
RUN_META = "regsim.run"
WRITER_META = "regsim.writer"

_ARROW = {
    "float": pa.float64(),
    "int": pa.int64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "list": pa.list_(pa.float64()),
}
_PARAM_ARROW = {float: "float", int: "int", str: "str", bool: "bool", list: "list"}
#: Columns an error row keeps when a value of its cell cannot be stored.
_IDENTITY = ("sweep", "run_id", "cell_id", "group_id", "seed", *SLOTS, "wall_s")


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
    if hasattr(spec, "plugins"):  # a SpecPlan: no cell is generated
        plugins.update(spec.plugins())
    else:
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


# --- writing ---------------------------------------------------------------------------

def _umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class StaleWriter(RuntimeError):
    """A writer whose lock token is no longer the run's: another flow run took the run over."""


def _atomic_write(path: Path, write, writer: str | None = None) -> None:
    """``write(tmp)`` then rename to ``path``; with ``writer``, only while it holds the run.

    ``mkstemp`` creates files 0600: the file gets ``0666 & ~umask`` before the
    rename, like any file the user creates, so a group-shared store stays readable.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        if writer is not None and writer_token(path.parent) != writer:
            raise StaleWriter(
                f"{path.name} not stored: {path.parent} is no longer held by this sweep "
                f"(its lock was taken over or released); the sweep holding it runs these cells")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_STORE_ERRORS = (pa.ArrowException, OverflowError, TypeError, ValueError)


def _column(values: list, type_: pa.DataType | None) -> pa.Array:
    return pa.array(values, type=type_) if type_ is not None else pa.array(values)


def _extra_type(values: list) -> pa.DataType:
    """The type of a column a hook added: inferred, or that of its first storable value."""
    try:
        return pa.array(values).type
    except _STORE_ERRORS:
        for value in values:
            if value is None:
                continue
            try:
                return pa.array([value]).type
            except _STORE_ERRORS:
                continue
    return pa.null()


def _spoil(row: dict[str, Any], column: str, value: Any, type_: pa.DataType,
           exc: BaseException) -> None:
    """Turn ``row`` into an error row naming the column whose value cannot be stored."""
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    message = (f"StoreError: column {column!r}: {shown} ({type(value).__name__}) cannot be "
               f"stored as {type_}: {exc}")
    for key in list(row):
        if key not in _IDENTITY and "." not in key:
            row[key] = None
    row[column] = None
    row.update(status="error", error=message)


def _rows_table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """``rows`` as a table of ``schema`` plus any extra columns; rows with a value that
    cannot be stored become error rows (in place)."""
    extra = sorted({k for row in rows for k in row} - set(schema.names))
    fields = list(schema) + [pa.field(name, _extra_type([row.get(name) for row in rows]))
                             for name in extra]
    for _ in range(2):  # a second pass sees the spoiled rows' new status and error
        arrays, bad = [], False
        for field in fields:
            values = [row.get(field.name) for row in rows]
            try:
                arrays.append(_column(values, field.type))
                continue
            except _STORE_ERRORS:
                bad = True
            for row, value in zip(rows, values):
                if value is None:
                    continue
                try:
                    _column([value], field.type)
                except _STORE_ERRORS as exc:
                    _spoil(row, field.name, value, field.type, exc)
            arrays.append(_column([row.get(field.name) for row in rows], field.type))
        if not bad:
            break
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def write_part(rows: list[dict[str, Any]], path: str | Path, schema: pa.Schema,
               metadata: dict[str, str] | None = None, *, writer: str | None = None) -> Path:
    """Write ``rows`` as one Parquet file at ``path``, atomically.

    Columns not in ``schema`` (added by ``cell_finished`` hooks) are appended
    with inferred types. A row with a value its column cannot hold (an int
    beyond int64, a string in a float column) becomes, in place, a
    ``status="error"`` row naming the column; the other rows are stored as
    they are. ``metadata`` goes into the file's key-value metadata.

    With ``writer`` (the token of the run's lock, :func:`writer_token`) the
    file is renamed into place only while that token still holds the run
    directory; otherwise :class:`StaleWriter` is raised and nothing is
    stored. The token is recorded as ``regsim.writer``. Pages carry CRC
    checksums, so a damaged page is found on read instead of decoded.
    """
    path = Path(path)
    table = _rows_table(rows, schema)
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    if writer is not None:
        meta[WRITER_META] = writer
    if meta:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
    _atomic_write(path, lambda tmp: pq.write_table(table, tmp, write_page_checksum=True),
                  writer=writer)
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


# --- reading and checking parts --------------------------------------------------------

class DamagedPart(ValueError):
    """A part that cannot be read back whole: empty, truncated, a bad page, not Parquet."""


def _read_part(part: Path, columns: list[str] | None = None) -> pa.Table:
    """The part's table (every page decoded and checksum-verified), or :class:`DamagedPart`."""
    try:
        if part.stat().st_size == 0:
            raise DamagedPart("empty file (0 bytes)")
        pf = pq.ParquetFile(part, page_checksum_verification=True)
        expected = pf.metadata.num_rows
        names = pf.schema_arrow.names
        table = pf.read(columns=[c for c in columns if c in names] if columns else None)
    except DamagedPart:
        raise
    except (OSError, pa.ArrowException, ValueError, IndexError) as exc:
        raise DamagedPart(f"{type(exc).__name__}: {exc}") from None
    if table.num_rows != expected:
        raise DamagedPart(f"{table.num_rows} rows read, footer says {expected}")
    if "cell_id" not in names or "status" not in names:
        raise DamagedPart("not a regsim part (no cell_id or status column)")
    return table


def verify_part(part: str | Path) -> str | None:
    """``None`` if the part reads back whole (footer, row count, every page); else why not."""
    try:
        _read_part(Path(part))
    except DamagedPart as exc:
        return str(exc)
    return None


def _skipped(rel: Path) -> bool:
    return any(p.startswith(("_", ".")) for p in rel.parts[:-1])


def _result_parts(path: Path) -> list[Path]:
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("part-*.parquet") if not _skipped(p.relative_to(path)))


def unify_schemas(schemas: Iterable[pa.Schema]) -> pa.Schema:
    """The union of ``schemas`` in first-seen column order, metadata dropped.

    Types are promoted (int to float, null to anything, permissive Arrow
    rules); a column whose types cannot be reconciled becomes a string.
    """
    schemas = [s.remove_metadata() for s in schemas]
    if not schemas:
        return pa.schema([])
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowException, TypeError):
        pass
    fields: dict[str, list[pa.Field]] = {}
    for schema in schemas:
        for field in schema:
            fields.setdefault(field.name, []).append(field)
    out = []
    for name, group in fields.items():
        try:
            out.append(pa.unify_schemas([pa.schema([f]) for f in group],
                                        promote_options="permissive").field(0))
        except (pa.ArrowException, TypeError):
            out.append(pa.field(name, pa.string()))
    return pa.schema(out)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    arrays = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            arrays.append(column if column.type == field.type else column.cast(field.type))
        else:
            arrays.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def read_results(path: str | Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Every row under ``path`` (a run, a sweep, or the whole store) as a DataFrame.

    The columns are the union over every part (a run that added a learner or a
    metric brings its columns; other runs' rows hold nulls there; a column
    stored as int by one run and float by another reads as float). Reads the
    ``part-*.parquet`` files only, outside directories starting with ``_`` or
    ``.``, so other files (a report in ``_report``) do not disturb it. A part
    that cannot be read is skipped with a :class:`UserWarning` naming it, and
    listed in ``df.attrs["damaged_parts"]`` (a resume moves it aside and runs
    its cells again). ``columns`` selects columns (those stored nowhere are
    left out). Raises ``FileNotFoundError`` when there is no readable part.
    """
    path = Path(path)
    parts = _result_parts(path)
    wanted = list(columns) if columns else None
    tables, damaged = [], []
    for part in parts:
        try:
            tables.append(_read_part(part, wanted))
        except DamagedPart as exc:
            damaged.append(f"{part}: {exc}")
    if damaged:
        warnings.warn(f"skipped {len(damaged)} damaged part(s) (a resume of the run moves them "
                      f"aside and runs their cells again): " + "; ".join(damaged), stacklevel=2)
    if not tables:
        raise FileNotFoundError(f"no result parts under {path}" if not parts else
                                f"no readable result parts under {path}: " + "; ".join(damaged))
    schema = unify_schemas(t.schema for t in tables)
    if wanted:
        schema = pa.schema([schema.field(c) for c in wanted if c in schema.names])
    table = pa.concat_tables([_conform(t, schema) for t in tables])
    try:  # pandas' own Arrow conversion, so dtypes match pd.read_parquet's
        from pandas.io._util import arrow_table_to_pandas

        df = arrow_table_to_pandas(table)
    except ImportError:
        df = table.to_pandas()
    df.attrs["damaged_parts"] = damaged
    return df


# --- schema files ----------------------------------------------------------------------

def _schema_of(path: Path) -> pa.Schema | None:
    try:
        return pq.read_schema(path)
    except (OSError, pa.ArrowException, ValueError):
        return None


def _write_schema_file(directory: Path, schemas: list[pa.Schema]) -> pa.Schema:
    target = directory / SCHEMA_FILE
    current = _schema_of(target)
    union = unify_schemas([s for s in [current, *schemas] if s is not None])
    if current is None or not current.remove_metadata().equals(union):
        try:
            _atomic_write(target, lambda tmp: pq.write_table(union.empty_table(), tmp))
        except OSError as exc:  # a store root shared read-only: results are unaffected
            warnings.warn(f"could not write {target} ({exc}); pd.read_parquet of {directory} "
                          f"may miss columns other runs added (regsim.open_results does not)",
                          stacklevel=3)
    return union


def _subdirs(directory: Path) -> list[Path]:
    return sorted(d for d in directory.iterdir()
                  if d.is_dir() and not d.name.startswith(("_", ".", "+")))


def _known(directory: Path, compute) -> list[pa.Schema]:
    """``directory``'s schema file, or (written by an older regsim) computed and then written."""
    own = _schema_of(directory / SCHEMA_FILE)
    if own is not None:
        return [own]
    schemas = compute()
    if schemas:
        _write_schema_file(directory, schemas)
    return schemas


def _run_schemas(run_dir: Path) -> list[pa.Schema]:
    return [s for s in (_schema_of(p) for p in _parts(run_dir)) if s is not None]


def _sweep_schemas(sweep_dir: Path) -> list[pa.Schema]:
    return [s for d in _subdirs(sweep_dir) for s in _known(d, lambda d=d: _run_schemas(d))]


def refresh_schema(run_dir: str | Path, planned: pa.Schema | None = None) -> pa.Schema:
    """Grow the ``+schema.parquet`` files of ``run_dir``, its sweep and its store.

    Each holds the union of the columns below it (see the module docstring):
    the run's from ``planned`` and its parts' footers, the sweep's from its
    runs, the store's from its sweeps (directories an older regsim wrote get
    their files on the way). Files only ever gain columns, so a concurrent
    refresh loses nothing the next one does not restore. A file that cannot
    be written is a warning. Returns the run's union schema.
    """
    run_dir = Path(run_dir)
    sweep_dir, root = run_dir.parent, run_dir.parent.parent
    union = _write_schema_file(
        run_dir, ([planned] if planned is not None else []) + _run_schemas(run_dir))
    _write_schema_file(sweep_dir, [union] + _sweep_schemas(sweep_dir))
    sweeps = [s for d in _subdirs(root) for s in _known(d, lambda d=d: _sweep_schemas(d))]
    _write_schema_file(root, sweeps)
    return union


# --- finding and continuing runs -------------------------------------------------------

def latest_run(sweep_dir: str | Path, spec_hash: str) -> Path | None:
    """The newest run directory of ``sweep_dir`` whose manifest has ``spec_hash``."""
    for run_dir in reversed(run_dirs(sweep_dir)):
        try:
            if read_manifest(run_dir).get("spec_hash") == spec_hash:
                return run_dir
        except (OSError, ValueError):  # an unreadable manifest is not a run to continue
            continue
    return None


_HASHES: dict[tuple, str] = {}


def _file_digest(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASHES[key] = "sha256:" + h.hexdigest()
    return _HASHES[key]


def _file_params(cls: Any) -> list[str]:
    """The parameters of a component class that name an input file."""
    return [key for key, param in getattr(cls, "params", {}).items()
            if getattr(param, "file", False) or key == "path" or key.endswith(("_path", "_file"))]


def _input_file(cls: Any, value: str) -> Path | None:
    resolve = getattr(cls, "resolve_path", None) or getattr(cls, "_resolve", None)
    try:
        path = Path(resolve(value)) if callable(resolve) else Path(value)
    except Exception:  # unresolvable: the cell fails and says why; nothing to fingerprint
        return None
    return path if path.is_file() else None


def input_fingerprints(cells: Iterable[Any], registry: Registry | None = None) -> dict[str, str]:
    """``{"<slot>.<param>=<value>": "sha256:..."}`` for every input file the cells read.

    An input file is a string parameter declared ``file=True`` or named
    ``path`` / ``*_path`` / ``*_file`` that resolves (through the component's
    ``resolve_path`` or ``_resolve``, else as given) to an existing file. The
    digest is of the file's bytes, so editing the file changes the run's
    identity (:func:`run_identity`).
    """
    registry = registry or get_registry()
    classes: dict[tuple[str, str], tuple[Any, list[str]]] = {}
    seen: set[tuple] = set()
    out: dict[str, str] = {}
    for cell in cells:
        for slot, comp in cell.components.items():
            if not comp:
                continue
            kind = (slot, comp["plugin"])
            if kind not in classes:
                try:
                    cls = registry.get(SLOTS[slot], comp["plugin"])
                except Exception:
                    cls = None
                classes[kind] = (cls, _file_params(cls) if cls is not None else [])
            cls, keys = classes[kind]
            for key in keys:
                value = comp.get(key)
                if not isinstance(value, str) or (kind, key, value) in seen:
                    continue
                seen.add((kind, key, value))
                path = _input_file(cls, value)
                if path is not None:
                    out[f"{slot}.{key}={value}"] = _file_digest(path)
    return dict(sorted(out.items()))


def plan_input_fingerprints(plan: Any, registry: Registry | None = None) -> dict[str, str]:
    """:func:`input_fingerprints` of every cell of a ``SpecPlan``, without generating cells.

    Only combinations of components are visited (seeds do not change inputs),
    and none when no component of the plan declares a file parameter.
    """
    registry = registry or get_registry()
    if not any(_file_params(registry.get(SLOTS[slot], name))
               for slot, names in plan.plugins().items() for name in names):
        return {}

    class _Combination:
        __slots__ = ("components",)

        def __init__(self, components):
            self.components = components

    return input_fingerprints((_Combination(c) for c in plan.iter_components()), registry)


def cells_hash(cells: Iterable[Any]) -> str:
    """Digest of the SET of cell ids: the same whatever the order of axes or values."""
    return codes_hash(id_codes([c.cell_id for c in cells]))


def id_codes(ids: Iterable[str] | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Cell ids (16 hex digits, ``regsim.spec``) as ``uint64`` codes: 8 bytes a cell, not ~70.

    Accepts strings or an Arrow string column (read without Python strings).
    The code's numeric order is the ids' text order.
    """
    if isinstance(ids, (pa.Array, pa.ChunkedArray)):
        arr = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        if arr.null_count == 0 and pa.types.is_string(arr.type) and len(arr):
            offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[
                arr.offset:arr.offset + len(arr) + 1]
            if np.all(np.diff(offsets) == 16):
                data = arr.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]
                try:
                    return np.frombuffer(bytes.fromhex(data.decode("ascii")), dtype=">u8").astype(
                        np.uint64)
                except ValueError:
                    pass
        ids = arr.to_pylist()
    if not isinstance(ids, list):
        ids = list(ids)
    try:
        return np.fromiter((_code(cid) for cid in ids), dtype=np.uint64, count=len(ids))
    except (TypeError, ValueError):
        raise ValueError("cell ids must be 16 hexadecimal digits (regsim.spec.Cell.cell_id)") from None


def _code(cid: str) -> int:
    if len(cid) != 16:
        raise ValueError(cid)
    return int(cid, 16)


def ids_of_codes(codes: np.ndarray) -> list[str]:
    """The cell ids of ``uint64`` codes (the inverse of :func:`id_codes`)."""
    text = np.asarray(codes, dtype=">u8").tobytes().hex()
    return [text[i:i + 16] for i in range(0, len(text), 16)]


def codes_hash(codes: np.ndarray, block: int = 1 << 18, *, assume_sorted: bool = False) -> str:
    """:func:`cells_hash` of cell-id codes (any order, repeats allowed), in bounded memory.

    With ``assume_sorted`` the codes must be sorted ascending (no copy is made);
    otherwise a sorted copy is taken. Beyond that, memory is ``O(block)``.
    """
    codes = np.asarray(codes, dtype=np.uint64)
    if not assume_sorted:
        codes = np.sort(codes)
    h = hashlib.sha256()
    previous = None
    for start in range(0, len(codes), block):
        part = codes[start:start + block]
        fresh = np.ones(len(part), dtype=bool)
        fresh[1:] = part[1:] != part[:-1]
        if previous is not None:
            fresh[0] = part[0] != previous
        previous = part[-1]
        part = part[fresh]
        text = np.frombuffer(part.astype(">u8").tobytes().hex().encode(), dtype=np.uint8)
        lines = np.empty((len(part), 17), dtype=np.uint8)
        lines[:, :16] = text.reshape(len(part), 16)
        lines[:, 16] = ord("\n")
        h.update(lines.tobytes())
    return h.hexdigest()[:16]


def run_identity(cells_digest: str, inputs: dict[str, str]) -> str:
    """What a resume matches: the cell set's digest plus the digests of the input files."""
    payload = json.dumps({"cells": cells_digest, "inputs": inputs}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _run_meta(run_dir: Path) -> dict[str, Any] | None:
    """The ``regsim.run`` metadata of the first part of ``run_dir`` that has it."""
    for part in _parts(run_dir):
        try:
            meta = pq.read_schema(part).metadata or {}
            return json.loads(meta[RUN_META.encode()])
        except (OSError, pa.ArrowException, KeyError, ValueError):
            continue
    return None


def recover_manifest(run_dir: str | Path) -> dict[str, Any] | None:
    """A manifest rebuilt from the parts' ``regsim.run`` metadata (None if none has it)."""
    meta = _run_meta(Path(run_dir))
    if meta is None:
        return None
    return {**meta, "status": "recovered", "started": None, "finished": None,
            "recovered": datetime.now(timezone.utc).isoformat(timespec="seconds")
            + f": {MANIFEST} was missing; rebuilt from the parts' {RUN_META} metadata"}


def find_run(sweep_dir: str | Path, identity: str, *, spec_hash: str | None = None,
             inputs: dict[str, str] | None = None,
             cells_digest: str | None = None) -> tuple[Path | None, list[str]]:
    """The newest run of ``sweep_dir`` with ``identity``, and notes on runs passed over.

    A run directory matches by its manifest's ``identity``, or, with its
    manifest missing, by the ``regsim.run`` metadata of its parts (the caller
    rebuilds the manifest, :func:`recover_manifest`). Runs written before
    identities existed match by ``spec_hash`` only when the spec reads no input
    file. The notes name runs with the same cells whose input files changed,
    and run directories with parts but no manifest that cannot be recovered.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        return None, []
    notes: list[str] = []
    dirs = sorted((d for d in sweep_dir.iterdir() if d.is_dir()
                   and not d.name.startswith(("_", ".", "+"))), reverse=True)
    for run_dir in dirs:
        try:
            manifest = read_manifest(run_dir)
        except FileNotFoundError:
            manifest = None
        except (OSError, ValueError):
            notes.append(f"{run_dir}: unreadable {MANIFEST}; not continued")
            continue
        if manifest is None:
            if not _parts(run_dir):
                continue
            manifest = _run_meta(run_dir)
            if manifest is None:
                notes.append(f"{run_dir}: parts but no {MANIFEST} and no run metadata; not "
                             f"continued (restore its manifest, or move the directory away)")
                continue
        if manifest.get("identity") == identity or (
                "identity" not in manifest and not inputs and spec_hash is not None
                and manifest.get("spec_hash") == spec_hash):
            return run_dir, notes
        if (inputs is not None and manifest.get("inputs") is not None
                and manifest.get("cells_hash") == cells_digest and manifest["inputs"] != inputs):
            changed = sorted(k for k in set(inputs) | set(manifest["inputs"])
                             if inputs.get(k) != manifest["inputs"].get(k))
            notes.append(f"{run_dir}: input file(s) changed since that run "
                         f"({', '.join(changed)}); "
                         f"not continued, a new run computes every cell on the new data")
    return None, notes


def _parts(run_dir: Path) -> list[Path]:
    return sorted(Path(run_dir).glob("part-*.parquet"))


def _writer_of(table: pa.Table) -> str | None:
    value = (table.schema.metadata or {}).get(WRITER_META.encode())
    return value.decode() if value else None


def stored_statuses(run_dir: str | Path) -> dict[str, dict[str, str]]:
    """``{part file name: {cell_id: status}}`` for every readable part of a run.

    Reads only the two columns, so it stays cheap for 100,000 cells; damaged
    parts are left out (:func:`scan_run` finds and moves them).
    """
    out = {}
    for part in _parts(Path(run_dir)):
        try:
            table = _read_part(part, ["cell_id", "status"])
        except DamagedPart:
            continue
        out[part.name] = dict(zip(table.column("cell_id").to_pylist(),
                                  table.column("status").to_pylist()))
    return out


class RunScan:
    """What :func:`scan_run` found, in memory that stays small for millions of cells.

    ``done``: sorted ``uint64`` codes (:func:`id_codes`) of the cells stored with
    a final status (``regsim.runner.DONE_STATUSES``); ``redo``: ids of cells
    stored only with another status (run again); ``damaged``: messages naming
    each part moved aside; ``duplicates``: rows dropped.
    """

    def __init__(self, done: np.ndarray, redo: set[str], damaged: list[str], duplicates: int):
        self.done, self.redo, self.damaged, self.duplicates = done, redo, damaged, duplicates

    def is_done(self, codes: np.ndarray) -> np.ndarray:
        """Boolean mask: which of ``codes`` are stored with a final status."""
        return _member(codes, self.done)


#: Statuses a resume does not run again (``regsim.runner.DONE_STATUSES``; the store
#: sits before the runner in the flow of imports).
_FINAL = ("ok", "diverged")


def _member(codes: np.ndarray, sorted_codes: np.ndarray, block: int = 1 << 20) -> np.ndarray:
    """Which of ``codes`` are in ``sorted_codes`` (ascending), in blocks of ``block``."""
    out = np.zeros(len(codes), dtype=bool)
    if not len(sorted_codes):
        return out
    for start in range(0, len(codes), block):
        part = codes[start:start + block]
        pos = np.minimum(np.searchsorted(sorted_codes, part), len(sorted_codes) - 1)
        out[start:start + block] = sorted_codes[pos] == part
    return out


def _dedupe(run_dir: Path, found: list[tuple[str, str | None, np.ndarray]],
            prefer_writer: str | None) -> tuple[int, np.ndarray]:
    """Keep one row per cell: in a part of ``prefer_writer`` if any, else the first part.

    ``found``: ``(part name, writer, cell-id codes)`` per part. Returns the rows
    dropped and, per row of ``found`` concatenated, whether it was kept.
    """
    order = sorted(range(len(found)),
                   key=lambda k: (found[k][1] != prefer_writer if prefer_writer else 0, found[k][0]))
    rank_of = np.empty(len(found), dtype=np.int64)
    rank_of[order] = np.arange(len(found))
    if not found:
        return 0, np.zeros(0, dtype=bool)
    codes = np.concatenate([f[2] for f in found])
    ordered = np.sort(codes)  # the usual case, no cell twice, needs no more than this copy
    if not len(ordered) or not np.any(ordered[1:] == ordered[:-1]):
        return 0, np.ones(len(codes), dtype=bool)
    del ordered
    ranks = np.repeat(rank_of, [len(f[2]) for f in found])
    idx = np.lexsort((ranks, codes))
    sc, sr = codes[idx], ranks[idx]
    first = np.ones(len(sc), dtype=bool)
    first[1:] = sc[1:] != sc[:-1]
    starts = np.maximum.accumulate(np.where(first, np.arange(len(sc)), 0))
    extra_sorted = sr != sr[starts]
    kept = np.ones(len(codes), dtype=bool)
    kept[idx[extra_sorted]] = False
    dropped = 0
    for rank in np.unique(sr[extra_sorted]):
        name = found[order[rank]][0]
        ids = set(ids_of_codes(np.unique(sc[extra_sorted & (sr == rank)])))
        dropped += drop_cells(run_dir, ids, parts=[name], all_rows=True)
    return dropped, kept


def scan_run(run_dir: str | Path, prefer_writer: str | None = None) -> RunScan:
    """Check a run before continuing it: what the next chunks must not run again.

    Deletes writers' leftover temporaries; reads every part whole (footer,
    row count, every page with its checksum); moves each damaged part into
    ``<run_dir>/_damaged/<name>.damaged`` (their cells are then missing and run
    again); keeps one row per cell should two parts hold it (preferring parts
    written by ``prefer_writer``). Memory: about 9 bytes per stored cell.
    """
    run_dir = Path(run_dir)
    remove_temporaries(run_dir)
    damaged, found, final = [], [], []
    for part in _parts(run_dir):
        try:
            table = _read_part(part)
        except DamagedPart as exc:
            aside = run_dir / DAMAGED
            aside.mkdir(exist_ok=True)
            # renamed off *.parquet too: DuckDB and polars globs do not skip "_" directories
            os.replace(part, aside / f"{part.name}.damaged")
            damaged.append(f"{part.name}: {exc} (moved to {DAMAGED}/{part.name}.damaged; "
                           f"its cells run again)")
            continue
        found.append((part.name, _writer_of(table), id_codes(table.column("cell_id"))))
        final.append(pc.is_in(table.column("status"),
                              value_set=pa.array(_FINAL)).to_numpy(zero_copy_only=False))
        del table
        pa.default_memory_pool().release_unused()  # decoded pages: give them back per part
    if not found:
        return RunScan(np.zeros(0, dtype=np.uint64), set(), damaged, 0)
    codes = np.concatenate([f[2] for f in found])
    is_final = np.concatenate(final)
    del final
    done = codes[is_final]
    done.sort()
    others = np.sort(codes[~is_final])
    doubled = (np.any(done[1:] == done[:-1]) or np.any(others[1:] == others[:-1])
               or np.any(_member(others, done)))
    duplicates = 0
    if doubled:  # rare (a superseded writer committed): keep one row per cell, then recount
        del done, others
        duplicates, kept = _dedupe(run_dir, found, prefer_writer)
        codes, is_final = codes[kept], is_final[kept]
        done = np.unique(codes[is_final])
        others = np.unique(codes[~is_final])
    del found, codes
    redo = set(ids_of_codes(others[~_member(others, done)]))
    return RunScan(done, redo, damaged, duplicates)


def settle_run(run_dir: str | Path, writer: str) -> int:
    """After a flow run: one row per cell, keeping the rows ``writer`` stored.

    The write fence (:func:`write_part`) checks the lock token just before its
    rename; a superseded writer passing that check in the instant before a
    takeover could still commit a part. Its cells are also run by the new
    writer, so they are dropped here. Returns the rows dropped.
    """
    run_dir = Path(run_dir)
    found = []
    for part in _parts(run_dir):
        try:
            table = _read_part(part, ["cell_id"])
        except DamagedPart:
            continue
        found.append((part.name, _writer_of(table), id_codes(table.column("cell_id"))))
    return _dedupe(run_dir, found, writer)[0]


def status_counts(run_dir: str | Path) -> dict[str, int]:
    """Rows per status over every readable part of a run."""
    counts: dict[str, int] = {}
    for part in _parts(Path(run_dir)):
        try:
            table = _read_part(part, ["status"])
        except DamagedPart:
            continue
        for item in pc.value_counts(table.column("status")).to_pylist():
            counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]
    return counts


def drop_cells(run_dir: str | Path, cell_ids: set[str], *, parts: Iterable[str] | None = None,
               all_rows: bool = False) -> list[str] | int:
    """Remove the rows of ``cell_ids`` from the parts of a run (or only from ``parts``).

    Each affected part is rewritten atomically without those rows (or deleted
    when none remain), so readers see either the old or the new part. Returns
    the names of the parts changed (with ``all_rows``: how many rows went).
    """
    changed, n = [], 0
    if not cell_ids:
        return n if all_rows else changed
    names = set(parts) if parts is not None else None
    value_set = pa.array(sorted(cell_ids), type=pa.string())
    for part in _parts(Path(run_dir)):
        if names is not None and part.name not in names:
            continue
        hit = pc.is_in(pq.read_table(part, columns=["cell_id"]).column("cell_id"),
                       value_set=value_set)
        n_hit = pc.sum(hit).as_py() or 0
        if not n_hit:
            continue
        table = pq.read_table(part)
        changed.append(part.name)
        n += n_hit
        if n_hit == table.num_rows:
            part.unlink()
            continue
        kept = table.filter(pc.invert(hit))
        _atomic_write(part, lambda tmp, kept=kept: pq.write_table(
            kept, tmp, write_page_checksum=True))
    return n if all_rows else changed


def remove_temporaries(run_dir: str | Path) -> int:
    """Delete temporary files left by a writer that was killed; returns how many."""
    n = 0
    for tmp in Path(run_dir).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        n += 1
    return n


# --- one writer per run ----------------------------------------------------------------

class RunLocked(RuntimeError):
    """Another live process is writing this run directory."""


def _lock_holder(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def writer_token(run_dir: str | Path) -> str | None:
    """The token of the flow run holding ``run_dir`` (None when no one holds it)."""
    holder = _lock_holder(Path(run_dir) / LOCK)
    return holder.get("token") if holder else None


def _holder_alive(holder: dict[str, Any]) -> bool:
    """Whether the process that took the lock still runs (assumed so on another host)."""
    if holder.get("host") != socket.gethostname():
        return True
    try:
        pid = int(holder["pid"])
    except (KeyError, TypeError, ValueError):
        return True
    from .lifeline import alive

    return alive(pid)


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[Path]:
    """Hold ``run_dir`` for one writer: ``<run_dir>/_writer.lock`` names its pid, host and token.

    A lock left by a process that no longer runs on this host (a killed
    sweep) is taken over. A lock held by a live process, or by one on another
    host (which cannot be checked from here), raises :class:`RunLocked` with
    what to do. The directory is created if needed. The lock's random
    ``token`` (:func:`writer_token`) fences writes: pass it to
    :func:`write_part` as ``writer``.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    me = {"pid": os.getpid(), "host": socket.gethostname(), "token": secrets.token_hex(8),
          "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    for _ in range(10):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
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
