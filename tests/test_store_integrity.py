"""The store keeps every column and every cell: schema growth across runs and sweeps
read the same through every documented reader (pandas, regsim, DuckDB, polars);
damaged parts are named, moved aside and rerun; resume identity is the set of cells
plus the input files' bytes; a missing manifest is rebuilt; writes are fenced by the
lock token; files respect the umask; an unstorable value costs one row, not a chunk.
Real Parquet files, real Prefect flows (session server), no mocks."""

import json
import os
import stat
import warnings
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import regsim
from regsim.cli import main as regsim_cli
from regsim.spec import load_spec
from regsim.store import (
    DAMAGED,
    LOCK,
    MANIFEST,
    SCHEMA_FILE,
    StaleWriter,
    cells_hash,
    read_results,
    refresh_schema,
    result_schema,
    run_lock,
    scan_run,
    settle_run,
    verify_part,
    write_manifest,
    write_part,
    writer_token,
)

DRIFT = {
    "name": "drift",
    "seeds": [0],
    "problem": {"plugin": "linear_regression", "n_train": 50, "n_features": 5},
    "learner": {"plugin": "least_squares"},
    "penalty": {"plugin": "l2", "alpha": [0.1, 1.0]},
    "metrics": ["test_mse"],
}
DRIFT_2 = dict(DRIFT, learner=[{"plugin": "least_squares"}, {"plugin": "gradient_descent"}],
               metrics=["test_mse", "train_mse"])
OTHER = {  # another sweep in the same store, with a column of its own
    "name": "sparse",
    "seeds": [0],
    "problem": {"plugin": "linear_regression", "n_train": 40, "n_features": 4,
                "design": "orthogonal"},
    "learner": {"plugin": "lasso_path"},
    "penalty": {"plugin": "l1", "alpha": [0.01, 0.1]},
    "metrics": ["test_mse", "sparsity"],
}


def _polars(path: Path) -> pl.DataFrame:
    """What the README tells polars users to write."""
    return pl.scan_parquet(f"{path}/**/*.parquet", missing_columns="insert",
                           cast_options=pl.ScanCastOptions(integer_cast="allow-float")).collect()


def _duckdb(path: Path) -> pd.DataFrame:
    """What the README tells DuckDB users to write."""
    return duckdb.sql(f"SELECT * FROM read_parquet('{path}/**/*.parquet', "
                      f"union_by_name=true)").df()


def _every_reader(path: Path) -> dict[str, tuple[int, set[str]]]:
    """rows and column names per documented reader."""
    out = {}
    for name, read in [("pandas", lambda p: pd.read_parquet(p)),
                       ("regsim", regsim.open_results), ("duckdb", _duckdb)]:
        df = read(path)
        out[name] = (len(df), set(df.columns))
    df = _polars(path)
    out["polars"] = (df.height, set(df.columns))
    return out


def test_columns_added_by_a_later_run_or_sweep_reach_every_reader(prefect_server, tmp_path,
                                                                   capsys):
    out = tmp_path / "store"
    first = regsim.run_sweep(DRIFT, out=out, progress=False)
    second = regsim.run_sweep(DRIFT_2, out=out, progress=False)
    assert second["run_id"] != first["run_id"]
    run2 = set(pd.read_parquet(second["run_dir"]).columns)
    run1 = set(pd.read_parquet(first["run_dir"]).columns)
    assert {"train_mse", "learner.step"} <= run2 - run1  # what used to be lost

    sweep = out / "drift"
    for reader, (rows, columns) in _every_reader(sweep).items():
        assert rows == 2 + 4, reader
        assert columns == run1 | run2, (reader, (run1 | run2) - columns)
    df = pd.read_parquet(sweep)
    old = df[df["run_id"] == first["run_id"]]
    assert old["train_mse"].isna().all() and old["test_mse"].notna().all()

    third = regsim.run_sweep(OTHER, out=out, progress=False)  # a second sweep in the store
    run3 = set(pd.read_parquet(third["run_dir"]).columns)
    assert "sparsity" in run3 - run2
    for reader, (rows, columns) in _every_reader(out).items():
        assert rows == 6 + 2, reader
        assert columns == run1 | run2 | run3, (reader, (run1 | run2 | run3) - columns)

    assert regsim_cli(["show", str(sweep)]) == 0
    assert f"6 rows, {len(run1 | run2)} columns" in capsys.readouterr().out


def test_a_column_stored_as_int_in_one_run_and_float_in_another_reads_as_float(tmp_path):
    """Type drift (a hook's column, a plugin's new version) must not break any reader."""
    spec = load_spec(DRIFT)
    schema = result_schema(spec)
    cell = spec.cells[0]
    base = {"sweep": "drift", "cell_id": cell.cell_id, "status": "ok", "seed": 0}
    runs = {"20260101T000000Z-aaaaaa": [7, 8], "20260102T000000Z-bbbbbb": [0.5, 1.5]}
    for run_id, values in runs.items():
        run_dir = tmp_path / "drift" / run_id
        rows = [dict(base, run_id=run_id, cell_id=f"{run_id}-{i}", hook_count=v)
                for i, v in enumerate(values)]
        write_part(rows, run_dir / "part-00000-x.parquet", schema)
        write_manifest(run_dir, {"run_id": run_id})
        refresh_schema(run_dir, schema)
    types = {pq.read_schema(p).field("hook_count").type
             for p in (tmp_path / "drift").glob("*/part-*.parquet")}
    assert types == {pa.int64(), pa.float64()}  # really drifted on disk
    for path in (tmp_path / "drift", tmp_path):
        for reader, df in [("pandas", pd.read_parquet(path)), ("regsim", read_results(path)),
                           ("duckdb", _duckdb(path)), ("polars", _polars(path).to_pandas())]:
            assert sorted(df["hook_count"].tolist()) == [0.5, 1.5, 7.0, 8.0], reader


def _damage(part: Path, kind: str) -> None:
    data = part.read_bytes()
    if kind == "zero bytes":
        part.write_bytes(b"")
    elif kind == "truncated":
        part.write_bytes(data[: len(data) // 2])
    elif kind == "garbage":
        part.write_bytes(b"this is not parquet\n" * 50)
    elif kind == "flipped data page":  # footer intact: only decoding the page shows it
        meta = pq.ParquetFile(part).metadata
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        chunk = meta.row_group(0).column(names.index("test_mse"))
        start = chunk.dictionary_page_offset or chunk.data_page_offset
        buf = bytearray(data)
        buf[start + chunk.total_compressed_size - 3] ^= 0xFF  # inside the data page's body
        part.write_bytes(bytes(buf))
    else:
        raise ValueError(kind)


KINDS = ("zero bytes", "truncated", "flipped data page", "garbage")


def test_damaged_parts_are_named_skipped_by_readers_moved_aside_and_rerun(prefect_server,
                                                                          tmp_path, capsys):
    spec = dict(DRIFT, seeds=[0, 1, 2, 3, 4, 5], penalty={"plugin": "l2", "alpha": [0.1, 1.0]})
    first = regsim.run_sweep(spec, out=tmp_path, chunk_size=2, progress=False)
    run_dir = Path(first["run_dir"])
    parts = sorted(run_dir.glob("part-*.parquet"))
    assert len(parts) == 6
    for part, kind in zip(parts, KINDS):
        _damage(part, kind)
        assert verify_part(part), kind
    assert pq.ParquetFile(parts[2]).metadata.num_rows == 2  # the footer still reads
    assert "CRC" in verify_part(parts[2])  # the page checksum finds the flipped byte
    assert verify_part(parts[-1]) is None

    with pytest.warns(UserWarning, match="skipped 4 damaged part"):
        df = read_results(run_dir)
    assert len(df) == 4 and len(df.attrs["damaged_parts"]) == 4
    capsys.readouterr()
    assert regsim_cli(["show", str(run_dir)]) == 0  # names them instead of a traceback
    err = capsys.readouterr().err
    [line] = [x for x in err.splitlines() if "damaged" in x]
    assert line.startswith("regsim: warning: skipped 4 damaged part(s)")
    assert "UserWarning" not in err and "Traceback" not in err

    again = regsim.run_sweep(spec, out=tmp_path, chunk_size=2, progress=False)
    assert again["run_dir"] == first["run_dir"] and again["n_run"] == 8
    assert sorted(p.name for p in (run_dir / DAMAGED).iterdir()) == [
        f"{p.name}.damaged" for p in parts[:4]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing damaged is left in the run
        df = read_results(run_dir)
    assert len(df) == 12 and df["cell_id"].is_unique and (df["status"] == "ok").all()
    for reader, (rows, _) in _every_reader(tmp_path / "drift").items():
        assert rows == 12, reader  # what was moved aside is invisible to every reader
    assert regsim.run_sweep(spec, out=tmp_path, progress=False)["n_run"] == 0


def test_resume_identity_is_the_set_of_cells_not_the_spec_text(prefect_server, tmp_path):
    spec = dict(DRIFT, penalty={"plugin": "l2", "alpha": [0.1, 1.0, 10.0]})
    first = regsim.run_sweep(spec, out=tmp_path, progress=False)
    reordered = dict(DRIFT, penalty={"plugin": "l2", "alpha": [10.0, 0.1, 1.0]})
    assert cells_hash(load_spec(reordered).cells) == cells_hash(load_spec(spec).cells)
    again = regsim.run_sweep(reordered, out=tmp_path, progress=False)
    assert again["run_dir"] == first["run_dir"] and again["n_run"] == 0
    grown = dict(DRIFT, penalty={"plugin": "l2", "alpha": [0.1, 1.0, 10.0, 100.0]})
    assert regsim.run_sweep(grown, out=tmp_path, progress=False)["run_dir"] != first["run_dir"]


def test_an_edited_input_file_is_a_new_run_never_a_mix(prefect_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = Path(regsim.__file__).resolve().parents[1] / "data" / "diabetes.csv"
    lines = shipped.read_text().splitlines()
    Path("mine.csv").write_text("\n".join(lines[:120]) + "\n")
    spec = {"name": "csvrun", "seeds": [0, 1],
            "problem": {"plugin": "csv", "path": "mine.csv", "target": "target"},
            "learner": {"plugin": "least_squares"}, "penalty": {"plugin": "l2", "alpha": [0.1]}}
    first = regsim.run_sweep(spec, out="out", progress=False)
    manifest = json.loads((Path(first["run_dir"]) / MANIFEST).read_text())
    assert list(manifest["inputs"]) == ["problem.path=mine.csv"]
    assert regsim.run_sweep(spec, out="out", progress=False)["n_run"] == 0  # unchanged file

    Path("mine.csv").write_text("\n".join(lines[:1] + lines[130:250]) + "\n")  # other rows
    second = regsim.run_sweep(spec, out="out", progress=False)
    assert second["run_dir"] != first["run_dir"] and second["n_run"] == 2
    df = pd.read_parquet(second["run_dir"])
    old = pd.read_parquet(first["run_dir"])
    assert set(df["cell_id"]) == set(old["cell_id"])  # same cells, other data: other numbers
    assert not set(df["test_mse"]) & set(old["test_mse"])


def test_a_run_whose_manifest_was_deleted_is_recovered_not_forked(prefect_server, tmp_path):
    spec = dict(DRIFT, seeds=[0, 1, 2])
    first = regsim.run_sweep(spec, out=tmp_path, chunk_size=2, progress=False)
    run_dir = Path(first["run_dir"])
    (run_dir / MANIFEST).unlink()
    next(run_dir.glob("part-*.parquet")).unlink()  # and some cells are missing too
    again = regsim.run_sweep(spec, out=tmp_path, chunk_size=2, progress=False)
    assert again["run_dir"] == str(run_dir) and 0 < again["n_run"] < 6
    assert [p.name for p in (tmp_path / "drift").iterdir() if p.is_dir()] == [run_dir.name]
    manifest = json.loads((run_dir / MANIFEST).read_text())
    assert manifest["run_id"] == first["run_id"] and "rebuilt" in manifest["recovered"]
    df = read_results(run_dir)
    assert len(df) == 6 and df["cell_id"].is_unique

    # parts with no manifest and no run metadata (an older regsim): reported, left alone
    (run_dir / MANIFEST).unlink()
    for part in run_dir.glob("part-*.parquet"):
        table = pq.read_table(part)
        pq.write_table(table.replace_schema_metadata({}), part)
    from regsim.store import find_run

    found, notes = find_run(tmp_path / "drift", "no-such-identity")
    assert found is None and "no run metadata" in notes[0] and run_dir.name in notes[0]


def test_a_superseded_writer_cannot_commit_and_doubles_are_settled(tmp_path):
    spec = load_spec(DRIFT)
    schema = result_schema(spec)
    rows = [{"cell_id": c.cell_id, "status": "ok", "seed": c.seed} for c in spec.cells]
    run_dir = tmp_path / "run"
    with run_lock(run_dir):
        old = writer_token(run_dir)
        write_part(rows[:1], run_dir / "part-00000-a.parquet", schema, writer=old)
    (run_dir / LOCK).write_text(json.dumps({"pid": 1, "host": "elsewhere", "token": "new"}))
    with pytest.raises(StaleWriter, match="no longer held"):
        write_part(rows, run_dir / "part-00001-b.parquet", schema, writer=old)
    assert sorted(p.name for p in run_dir.iterdir()) == [LOCK, "part-00000-a.parquet"]

    # a stale part that slipped in (rename raced the takeover): the current writer's rows win
    write_part(rows, run_dir / "part-00002-c.parquet", schema, writer="new")
    assert settle_run(run_dir, "new") == 1
    df = read_results(run_dir)
    assert len(df) == len(rows) and df["cell_id"].is_unique
    assert not (run_dir / "part-00000-a.parquet").exists()
    assert scan_run(run_dir).duplicates == 0


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_parts_manifests_and_schema_files_respect_the_umask(tmp_path, mask):
    spec = load_spec(DRIFT)
    schema = result_schema(spec)
    rows = [{"cell_id": c.cell_id, "status": "ok", "seed": c.seed} for c in spec.cells]
    old = os.umask(mask)
    try:
        run_dir = tmp_path / "drift" / "20260101T000000Z-aaaaaa"
        with run_lock(run_dir) as lock:
            files = [write_part(rows, run_dir / "part-00000-a.parquet", schema),
                     write_manifest(run_dir, {"run_id": "x"}), lock]
            refresh_schema(run_dir, schema)
            files += [run_dir / SCHEMA_FILE, tmp_path / "drift" / SCHEMA_FILE,
                      tmp_path / SCHEMA_FILE]
            for path in files:
                assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path
    finally:
        os.umask(old)


def test_an_unstorable_value_makes_one_error_row_not_a_lost_chunk(tmp_path):
    spec = load_spec(DRIFT_2)
    schema = result_schema(spec)
    assert schema.field("test_mse").type == pa.float64()
    rows = [{"cell_id": c.cell_id, "status": "ok", "seed": c.seed, "test_mse": 0.5,
             "penalty.alpha": 0.1} for c in spec.cells]
    rows[1]["test_mse"] = "not a number"  # a plugin's column of the wrong type
    rows[2]["seed"] = 2 ** 70  # beyond int64
    rows[3]["hook_flag"] = True  # a hook's extra column: bool ...
    rows[0]["hook_flag"] = {"nested": object()}  # ... and a value Arrow cannot hold
    path = write_part(rows, tmp_path / "part-00000-a.parquet", schema)
    df = pd.read_parquet(path).set_index("cell_id")
    assert len(df) == len(rows)
    bad = {rows[i]["cell_id"]: col for i, col in [(1, "test_mse"), (2, "seed"), (0, "hook_flag")]}
    for cid, column in bad.items():
        assert df.loc[cid, "status"] == "error"
        assert df.loc[cid, "error"].startswith(f"StoreError: column {column!r}")
        assert pd.isna(df.loc[cid, "test_mse"])  # no result kept beside an error
        assert df.loc[cid, "penalty.alpha"] == 0.1  # the cell's parameters are
    good = df.drop(index=list(bad))
    assert (good["status"] == "ok").all() and (good["test_mse"] == 0.5).all()
    assert good["hook_flag"].tolist().count(True) == 1
    assert [r["status"] for r in rows].count("error") == 3  # the caller's counts see it


def test_a_store_written_before_schema_files_gets_them_from_the_next_run(tmp_path):
    """Old sweeps (parts only) are covered too: the store's union includes their columns."""
    for sweep, run, column in [("a", "r1", "only_a"), ("b", "r2", "only_b")]:
        (tmp_path / sweep / run).mkdir(parents=True)
        pq.write_table(pa.table({"cell_id": [run], "status": ["ok"], column: [1.0]}),
                       tmp_path / sweep / run / "part-00000-x.parquet")
    refresh_schema(tmp_path / "b" / "r2")  # what a new run of sweep b does
    assert len(list(tmp_path.rglob(SCHEMA_FILE))) == 5  # store, 2 sweeps, 2 runs
    for reader, (rows, columns) in _every_reader(tmp_path).items():
        assert rows == 2 and columns == {"cell_id", "status", "only_a", "only_b"}, reader
