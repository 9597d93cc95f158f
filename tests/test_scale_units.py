"""Pieces of sweeps at scale without a flow: chunk planning, part rewrites, time budgets."""

import threading
import time

import pandas as pd
import pytest

from regsim.flows.sweep import MAX_CHUNKS, make_chunks, plan_chunk_count
from regsim.runner import CellTimeout, time_budget
from regsim.spec import load_spec
from regsim.store import drop_cells, result_schema, stored_statuses, write_part


def test_plan_chunk_count_amortises_task_cost():
    # 10,000 cells of 1 ms on threads (5 ms per task): 10 s of work in 0.25 s chunks
    assert plan_chunk_count(1e-3, 10_000, 0.005, 1) == 40
    # the same on processes (100 ms per task): chunks of 5 s, but 8 for 2 workers
    n = plan_chunk_count(1e-3, 10_000, 0.1, 2)
    assert n == 8 and 10.0 / n >= 10 * 0.1
    # tiny sweeps: one chunk; huge ones: bounded
    assert plan_chunk_count(1e-4, 50, 0.1, 2) == 1
    assert plan_chunk_count(1.0, 10**6, 0.005, 2) == MAX_CHUNKS
    # never more chunks than cells
    assert plan_chunk_count(10.0, 3, 0.005, 8) == 3


def test_make_chunks_keeps_groups_and_numbers_from_start(small_spec):
    spec = load_spec(small_spec)
    chunks = make_chunks(spec.cells, n_chunks=3, start=7)
    assert [c.index for c in chunks] == list(range(7, 7 + len(chunks)))
    groups = {}
    for chunk in chunks:
        for cell in chunk.cells:
            groups.setdefault(cell.group, set()).add(chunk.index)
    assert all(len(v) == 1 for v in groups.values())  # no group split across chunks
    assert sum(len(c) for c in chunks) == len(spec.cells)


def test_drop_cells_rewrites_parts_without_those_rows(small_spec, tmp_path):
    spec = load_spec(small_spec)
    schema = result_schema(spec)
    rows = [{"cell_id": c.cell_id, "status": "error" if i % 3 == 0 else "ok", "seed": c.seed}
            for i, c in enumerate(spec.cells)]
    write_part(rows[:10], tmp_path / "part-00000-a.parquet", schema)
    write_part(rows[10:], tmp_path / "part-00001-b.parquet", schema)
    failed = {r["cell_id"] for r in rows if r["status"] == "error"}
    changed = drop_cells(tmp_path, failed | {rows[10]["cell_id"]})
    assert changed == ["part-00000-a.parquet", "part-00001-b.parquet"]
    df = pd.read_parquet(tmp_path)
    assert set(df["cell_id"]) == {r["cell_id"] for r in rows} - failed - {rows[10]["cell_id"]}
    assert (df["status"] == "ok").all() and df["cell_id"].is_unique
    statuses = stored_statuses(tmp_path)
    assert sum(len(v) for v in statuses.values()) == len(df)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
    # a part whose every row is dropped disappears
    drop_cells(tmp_path, set(df["cell_id"]))
    assert not list(tmp_path.glob("part-*.parquet"))


def test_time_budget_interrupts_python_code_in_any_thread():
    caught = {}

    def work():
        start = time.perf_counter()
        try:
            with time_budget(0.2):
                while True:  # would run forever without the budget
                    time.sleep(0.005)
        except CellTimeout as exc:
            caught["msg"], caught["after"] = str(exc), time.perf_counter() - start

    t = threading.Thread(target=work)
    t.start()
    t.join(5)
    assert not t.is_alive()
    assert "time budget of 0.2 s" in caught["msg"]
    assert 0.2 <= caught["after"] < 1.0


def test_time_budget_leaves_fast_blocks_alone():
    for _ in range(50):
        with time_budget(0.05):
            sum(range(100))
    time.sleep(0.1)  # a cancelled timer must not fire afterwards
    with time_budget(None):
        time.sleep(0.01)


def test_make_task_runner_names_allowed_values_and_the_missing_extra():
    import subprocess
    import sys

    from regsim.orchestration import make_task_runner, runner_kind

    assert runner_kind(make_task_runner("processes", 2)) == "processes"
    assert runner_kind(make_task_runner(dask_address="tcp://127.0.0.1:1")) == "dask"
    with pytest.raises(ValueError, match="allowed: threads, processes, dask"):
        make_task_runner("mpi")
    with pytest.raises(ValueError, match="workers: must be >= 1"):
        make_task_runner("threads", 0)
    # without prefect-dask importable (a None entry in sys.modules blocks the import)
    code = ("import sys; sys.modules['prefect_dask'] = None\n"
            "from regsim.orchestration import make_task_runner\n"
            "try:\n    make_task_runner('dask', 2)\n"
            "except ImportError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "pip install 'regsim[dask]'" in out.stdout, out.stderr


def test_run_chunk_pickled_by_value_carries_no_registry():
    """Loaded from its file (as a deployment entrypoint), the task function is pickled by
    value with the globals it touches: the plugin manager must not be one of them."""
    import importlib.util
    import pathlib
    import sys

    import cloudpickle

    path = pathlib.Path(__file__).resolve().parents[1] / "flows" / "sweep.py"
    spec = importlib.util.spec_from_file_location("sweep_from_entrypoint", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]  # not importable by name: cloudpickle pickles by value
    blob = cloudpickle.dumps(module.run_chunk.fn)
    assert b"_make_function" in blob  # really by value (code and globals in the blob)
    assert b"PluginManager" not in blob and b"Registry" not in blob
    assert len(blob) < 20_000
