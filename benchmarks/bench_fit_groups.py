"""Benchmark: one fit per fit group vs one fit per inference strategy (issue 15 §2).

Workload: every cell of ``examples/dropout_inference.yaml`` (330 cells: 2
networks x 5 drop probabilities x 3 seeds = 30 trained networks, each read by
weight scaling and by Monte Carlo arithmetic/geometric means over 10..1000
masks, metrics accuracy, log_loss, dropout_gap, mc_error).

* ours: ``run_cells(cells)``: the three strategies of a network form one fit
  group; the network is trained once and its exact ensembles over all masks
  (which ``dropout_gap`` and ``mc_error`` compare with) are enumerated once.
* peer: ``run_cells(cells, share_fits=False)``: the runner as before fit
  groups, every strategy's batched group generating the problem, training the
  network and enumerating the exact ensembles on its own.

Both run in this process on the same cells, one after the other (peer first,
then ours, ``repeats`` times, best of each), so the ratio compares like with
like on one machine. ``same_answers`` compares every column of every row
except timings (``wall_s``, ``train_s``): they must be equal, bit for bit.
Prefect's start-up and the store are the same for both and not timed here.

Run ``python benchmarks/bench_fit_groups.py``; ``main()`` returns the results.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from regsim.runner import run_cells
from regsim.spec import load_spec

SPEC = Path(__file__).resolve().parents[1] / "examples" / "dropout_inference.yaml"


def differences(a: list[dict], b: list[dict]) -> int:
    """Values that differ between two row sets (by cell id), timing columns aside."""
    by_id = {r["cell_id"]: r for r in b}
    n = 0
    for row in a:
        other = by_id[row["cell_id"]]
        for col in set(row) | set(other):
            if col.endswith("_s"):
                continue
            x, y = row.get(col), other.get(col)
            if x != y and not (isinstance(x, float) and math.isnan(x) and math.isnan(y)):
                n += 1
    return n


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def main(repeats: int = 1) -> dict:
    cells = load_spec(SPEC).cells
    best_ours = best_peer = math.inf
    for _ in range(repeats):
        t, peer = timed(lambda: run_cells(cells, sweep="b", run_id="r", share_fits=False))
        best_peer = min(best_peer, t)
        t, ours = timed(lambda: run_cells(cells, sweep="b", run_id="r"))
        best_ours = min(best_ours, t)
    diff = differences(ours, peer)
    return {
        "dropout_inference": {
            "cells": len(cells),
            "fit_groups_s": round(best_ours, 2),
            "fit_per_strategy_s": round(best_peer, 2),
            "speedup": round(best_peer / best_ours, 2),
            "differing_values": diff,
            "same_answers": diff == 0 and len(ours) == len(peer) == len(cells),
            "statuses": sorted({r["status"] for r in ours}),
        }
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
