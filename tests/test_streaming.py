"""Sweeps in bounded memory: groups streamed from the plan, cell ids as 8-byte codes.

The oracles are the in-memory versions these replace: ``group_cells`` over every
cell, the text digest of the sorted cell ids, Python sets of ids.
"""

import hashlib
import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from regsim.flows.sweep import _todo_groups, pack_chunks
from regsim.runner import group_cells
from regsim.spec import load_spec, plan_spec
from regsim.store import (
    WRITER_META,
    cells_hash,
    codes_hash,
    id_codes,
    ids_of_codes,
    result_schema,
    scan_run,
    settle_run,
    status_counts,
    write_part,
)

EXAMPLES = sorted(Path(__file__).resolve().parents[1].glob("examples/*.yaml"))
PROBLEM = {"plugin": "linear_regression", "n_train": 20, "n_test": 10, "n_features": 3}
SPECS = {
    "alpha path": {"name": "s1", "seeds": 4, "problem": PROBLEM, "learner": {"plugin": "least_squares"},
                   "penalty": {"plugin": "l2", "alpha": [0.1, 1.0, 10.0]}},
    "components with paths": {
        "name": "s2", "seeds": 2,
        "problem": {**PROBLEM, "n_train": [20, 30], "noise": [0.1, 0.5]},
        "learner": {"plugin": "proximal_gradient"},
        "penalty": [{"plugin": "l2", "alpha": [0.1, 1, 10]}, {"plugin": "l1", "alpha": [0.1, 1]}],
        "zip": [["problem.n_train", "problem.noise"]]},
    "zipped slots": {
        "name": "s3", "seeds": [3, 5],
        "problem": PROBLEM,
        "learner": [{"plugin": "least_squares"}, {"plugin": "lasso_path"}],
        "penalty": [{"plugin": "l2", "alpha": [0.1, 1]}, {"plugin": "l1", "alpha": [0.5, 1, 2]}],
        "zip": [["learner", "penalty"]]},
    # one plugin twice in a component list: a group may span both entries (grouped in memory)
    "same plugin twice": {
        "name": "s4", "seeds": 2, "problem": PROBLEM, "learner": {"plugin": "least_squares"},
        "penalty": [{"plugin": "l2", "alpha": [0.1, 1]}, {"plugin": "l2", "alpha": [5.0]}]},
}


def _as_lists(groups):
    return sorted(tuple(c.cell_id for c in g) for g in groups)


@pytest.mark.parametrize("spec", [*SPECS.values(), *map(str, EXAMPLES)],
                         ids=[*SPECS, *(p.stem for p in EXAMPLES)])
def test_streamed_groups_are_the_groups_of_every_cell_in_cell_order(spec):
    plan = plan_spec(spec)
    oracle = group_cells(list(plan.iter_cells()), "group")  # batched groups, not fit groups
    for block in (1, 7, 20_000):
        assert _as_lists(plan.iter_groups(block_cells=block)) == _as_lists(oracle)
    if plan.n_groups_streamed is not None:
        assert plan.n_groups_streamed == len(oracle)


def test_same_plugin_twice_falls_back_to_grouping_in_memory():
    plan = plan_spec(SPECS["same plugin twice"])
    assert plan._layouts() is None
    groups = list(plan.iter_groups())
    assert max(len(g) for g in groups) == 3  # alphas of both entries share one fit


def test_codes_hash_is_the_text_digest_of_the_sorted_ids():
    cells = load_spec(SPECS["zipped slots"]).cells
    h = hashlib.sha256()
    for cid in sorted({c.cell_id for c in cells}):
        h.update(cid.encode() + b"\n")
    codes = id_codes([c.cell_id for c in cells])
    assert cells_hash(cells) == h.hexdigest()[:16]
    assert codes_hash(codes[::-1]) == codes_hash(np.concatenate([codes, codes[:3]])) \
        == h.hexdigest()[:16]
    assert codes_hash(codes, block=5) == h.hexdigest()[:16]
    assert ids_of_codes(codes) == [c.cell_id for c in cells]
    column = pa.chunked_array([pa.array([c.cell_id for c in cells[:5]]),
                               pa.array([c.cell_id for c in cells[5:]])])
    assert np.array_equal(id_codes(column), codes)
    assert np.array_equal(id_codes(column.combine_chunks().slice(3, 4)), codes[3:7])


def test_resume_scan_and_todo_stream_agree_with_sets(tmp_path):
    spec = load_spec(SPECS["alpha path"])
    schema = result_schema(spec)
    cells = spec.cells
    statuses = ["ok", "error", "diverged", "not_converged"]

    def rows(chunk, offset=0):
        return [{"sweep": "s1", "run_id": "r", "cell_id": c.cell_id, "group_id": c.group,
                 "seed": c.seed, "status": statuses[(i + offset) % 4], "error": None,
                 "wall_s": 0.0} for i, c in enumerate(chunk)]

    write_part(rows(cells[:6]), tmp_path / "part-00000-a.parquet", schema, {WRITER_META: "w1"})
    write_part(rows(cells[4:9], 1), tmp_path / "part-00001-b.parquet", schema, {WRITER_META: "w2"})
    scan = scan_run(tmp_path, prefer_writer="w2")
    assert scan.duplicates == 2  # cells 4 and 5: kept in w2's part
    kept = {c.cell_id: s for c, s in zip(cells[:4], statuses)}
    kept.update({c.cell_id: statuses[(i + 1) % 4] for i, c in enumerate(cells[4:9])})
    done = {cid for cid, s in kept.items() if s in ("ok", "diverged")}
    assert set(ids_of_codes(scan.done)) == done
    assert scan.redo == set(kept) - done
    assert sum(status_counts(tmp_path).values()) == 9
    assert settle_run(tmp_path, "w2") == 0

    plan = plan_spec(SPECS["alpha path"])
    todo = [c.cell_id for g in _todo_groups(plan, scan.done, block=8) for c in g]
    assert sorted(todo) == sorted({c.cell_id for c in cells} - done)
    chunks = list(pack_chunks(_todo_groups(plan, scan.done), [4], start=3))
    assert [c.index for c in chunks] == list(range(3, 3 + len(chunks)))
    assert sorted(itertools.chain.from_iterable(
        [c.cell_id for c in ch.cells] for ch in chunks)) == sorted(todo)
