"""Pieces of sweeps at scale without a flow: chunk planning, part rewrites, time budgets."""

import math
import os
import threading
import time

import pandas as pd
import pytest

from regsim.flows.sweep import MAX_CHUNKS, OVERHEAD_FRACTION, make_chunks, plan_chunk_sizes
from regsim.runner import CellTimeout, time_budget
from regsim.spec import load_spec
from regsim.store import drop_cells, result_schema, stored_statuses, write_part


def _makespan(sizes, cost, task_cost, workers):
    """Finish time of chunks handed out in order to the first free worker."""
    free = [0.0] * workers
    for size in sizes:
        i = free.index(min(free))
        free[i] += task_cost + size * cost
    return max(free)


def test_plan_chunk_sizes_one_worker_equal_chunks_amortise_task_cost():
    # 10,000 cells of 1 ms on threads (30 ms per task): 10 s of work in ~1.5 s chunks
    assert plan_chunk_sizes(1e-3, 10_000, 0.03, 1) == [1429]  # 7 chunks
    # tiny sweeps: one chunk; huge ones: bounded; never more chunks than cells
    assert plan_chunk_sizes(1e-4, 50, 0.1, 2) == [50]
    assert plan_chunk_sizes(1.0, 10**6, 0.005, 2) == [10**6 // MAX_CHUNKS]
    assert plan_chunk_sizes(10.0, 3, 0.005, 8) == [1, 1, 1]


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_plan_chunk_sizes_guided_chunks_shrink_and_workers_finish_together(workers):
    cost, n, task_cost = 6.6e-3, 20_000, 0.1  # 132 s of work on processes
    sizes = plan_chunk_sizes(cost, n, task_cost, workers)
    assert sum(sizes) == n
    assert sizes[:-1] == sorted(sizes[:-1], reverse=True)
    target = task_cost / OVERHEAD_FRACTION
    assert all(10 * task_cost <= s * cost + 1e-9 for s in sizes[:-1])
    assert all(s * cost <= 4 * target + cost for s in sizes)
    # orchestration stays a few per cent of the work
    assert len(sizes) * task_cost <= 0.05 * n * cost
    # the brute-force schedule: within one small chunk of the ideal, and ahead of
    # equal chunks of the same count
    ideal = n * cost / workers
    guided = _makespan(sizes, cost, task_cost, workers)
    assert guided <= ideal + 10 * task_cost + len(sizes) * task_cost / workers
    equal = [math.ceil(n / len(sizes) / 2)] * (2 * len(sizes))  # twice as many equal chunks
    assert guided < _makespan(equal[:math.ceil(n / equal[0])], cost, task_cost, workers)


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
    # targets per chunk, in order; the last one repeats
    sized = make_chunks(spec.cells, sizes=[5, 2])
    assert [len(c) for c in sized][:1] >= [5]
    assert sum(len(c) for c in sized) == len(spec.cells)


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


def test_sweep_server_turns_heartbeats_off_only_on_a_temporary_server():
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    from regsim.orchestration import _OWN_HEARTBEAT_S, sweep_server

    configured = 180  # Prefect's default (the session's test server turns them off)
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: configured},
                            restore_defaults={PREFECT_API_URL}):
        with sweep_server("threads") as url:  # Prefect's own temporary server, in-process
            assert url is None and PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is None
            assert _OWN_HEARTBEAT_S.get() is None
        assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() == configured
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:1/api",
                                     PREFECT_FLOWS_HEARTBEAT_FREQUENCY: configured}):
        with sweep_server("processes") as url:  # a configured server: heartbeats at the
            assert url == "http://127.0.0.1:1/api"  # configured interval, sent by the flow
            assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is None
            assert _OWN_HEARTBEAT_S.get() == configured
        assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() == configured
        assert _OWN_HEARTBEAT_S.get() is None
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:1/api",
                                     PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        with sweep_server("threads"):  # configured off: stay off
            assert _OWN_HEARTBEAT_S.get() is None


def test_flow_heartbeats_send_prefects_event_and_stop_without_waiting(prefect_server,
                                                                      monkeypatch):
    """The sweep flow's own heartbeats: Prefect's event, at once, and no wait at the end."""
    import time

    import prefect.events
    from prefect import flow

    from regsim.orchestration import flow_heartbeats, own_heartbeats

    sent = []
    monkeypatch.setattr(prefect.events, "emit_event", lambda **kw: sent.append(kw))

    @flow(name="heartbeat-probe", validate_parameters=False)
    def probe():
        from prefect.runtime import flow_run

        t0 = time.perf_counter()
        with flow_heartbeats() as seconds:
            time.sleep(0.05)
        return seconds, time.perf_counter() - t0, str(flow_run.id)

    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 45}):
        with own_heartbeats() as seconds:
            assert seconds == 45 and PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is None
            interval, elapsed, run_id = probe()
    assert interval == 45 and elapsed < 0.5  # Prefect's thread: up to 1 s more
    assert [e["event"] for e in sent] == ["prefect.flow-run.heartbeat"]
    assert sent[0]["resource"]["prefect.resource.id"] == f"prefect.flow-run.{run_id}"
    assert [r["prefect.resource.role"] for r in sent[0]["related"]] == ["flow"]
    sent.clear()
    assert probe()[0] is None and not sent  # outside own_heartbeats: Prefect's own apply


def test_run_lock_refuses_a_live_writer_and_takes_over_from_a_dead_one(tmp_path):
    import json
    import socket
    import subprocess
    import sys

    from regsim.store import LOCK, RunLocked, run_lock

    run_dir = tmp_path / "run"
    with run_lock(run_dir) as path:
        assert path == run_dir / LOCK
        assert json.loads(path.read_text())["pid"] == os.getpid()
        with pytest.raises(RunLocked, match=f"being written by pid {os.getpid()}.*--rerun"):
            with run_lock(run_dir):
                pass
        assert path.exists()  # the refused second writer left the lock alone
    assert not path.exists()

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    path.write_text(json.dumps({"pid": int(dead), "host": socket.gethostname()}))
    with run_lock(run_dir):  # a killed writer's lock is taken over
        assert json.loads(path.read_text())["pid"] == os.getpid()

    path.write_text(json.dumps({"pid": 1, "host": "another-host.example"}))
    with pytest.raises(RunLocked, match="another-host.example"):  # cannot be checked from here
        with run_lock(run_dir):
            pass


def test_a_worker_process_imports_no_more_than_it_needs():
    """Every process-pool or Dask worker imports the flow module and builds the registry
    before its first chunk, once per sweep: pandas, matplotlib and scikit-learn (seconds of
    imports together) are left to the code that reads or plots results."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from regsim.flows.sweep import run_chunk\n"
            "from regsim.registry import get_registry\n"
            "get_registry()\n"
            "print(sorted(m for m in ('pandas', 'matplotlib', 'sklearn') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
