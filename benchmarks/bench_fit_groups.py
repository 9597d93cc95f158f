"""Benchmark: one fit per fit group vs the code before it (issue 15 §2).

Workload: every cell of ``examples/dropout_inference.yaml`` (330 cells: 2
networks x 5 drop probabilities x 3 seeds = 30 trained networks, each read by
weight scaling and by Monte Carlo arithmetic/geometric means over 10..1000
masks; metrics accuracy, log_loss, dropout_gap, mc_error).

* ours: ``run_cells(cells)`` of this checkout: the three strategies of a
  network form one fit group; the network is trained once, its exact
  ensembles over all masks (which ``dropout_gap`` and ``mc_error`` compare
  with) are enumerated once, and the Monte Carlo strategies draw their masks
  in one pass for every mask count.
* peer: ``run_cells(cells)`` of the commit before fit groups (:data:`BASE`,
  or ``--base REV``), extracted with ``git archive`` into a temporary
  directory: every strategy's group generates the problem, trains the network
  and enumerates the exact ensembles on its own.

Each side runs in a fresh Python process of this virtualenv (the peer's
``regsim`` imported from the extracted tree), alternately peer then ours,
``repeats`` times; the best time of each is kept, so the ratio compares like
with like on one machine in one run. Times cover ``run_cells`` only: Prefect's
start-up and the store cost both the same and are not part of what changed.
``same_answers`` compares every column of every row except timings
(``wall_s``, ``train_s``): they must be equal, bit for bit.

Run ``python benchmarks/bench_fit_groups.py [--base REV] [--repeats N]``;
``main()`` returns the results.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "dropout_inference.yaml"
#: The last commit before fit groups (main when issue 15 §2 started).
BASE = "ff5b3f2"

RUN = """
import pickle, sys, time
import regsim
from regsim.runner import run_cells
from regsim.spec import load_spec
cells = load_spec(sys.argv[1]).cells
t0 = time.perf_counter()
rows = run_cells(cells, sweep="bench", run_id="r")
seconds = time.perf_counter() - t0
with open(sys.argv[2], "wb") as f:
    pickle.dump({"seconds": seconds, "rows": rows, "regsim": regsim.__file__}, f)
"""


def extract(rev: str, into: Path) -> Path:
    """The ``regsim`` package of commit ``rev`` laid out as installed (plugins inside)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "regsim", "plugins"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "plugins").rename(into / "regsim" / "plugins")
    return into


def run(tree: Path | None, out: Path) -> dict:
    """``run_cells`` over the spec in a fresh process, with ``regsim`` from ``tree`` (None: ours)."""
    env = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    if tree is not None:  # the extracted tree first; cwd too, so nothing of this checkout shadows it
        env["PYTHONPATH"] = str(tree)
    subprocess.run([sys.executable, "-c", RUN, str(SPEC), str(out)], check=True, env=env,
                   cwd=str(tree or ROOT))
    with open(out, "rb") as f:
        result = pickle.load(f)
    expected = (tree or ROOT) / "regsim" / "__init__.py"
    assert Path(result["regsim"]).resolve() == expected.resolve(), result["regsim"]
    return result


def differences(a: list[dict], b: list[dict]) -> int:
    """Values that differ between two row sets (by cell id), timing columns aside."""
    by_id = {r["cell_id"]: r for r in b}
    n = 0
    for row in a:
        other = by_id.get(row["cell_id"], {})
        for col in set(row) | set(other):
            if col.endswith("_s"):
                continue
            x, y = row.get(col), other.get(col)
            if x != y and not (isinstance(x, float) and isinstance(y, float)
                               and math.isnan(x) and math.isnan(y)):
                n += 1
    return n


def main(repeats: int = 1, base: str = BASE) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tree = extract(base, Path(tmp))
        best = {"ours": math.inf, "peer": math.inf}
        rows = {}
        for i in range(repeats):
            for side in ("peer", "ours"):
                result = run(tree if side == "peer" else None, Path(tmp) / f"{side}-{i}.pickle")
                best[side] = min(best[side], result["seconds"])
                rows[side] = result["rows"]
    diff = differences(rows["ours"], rows["peer"])
    return {
        "dropout_inference": {
            "base": base,
            "cells": len(rows["ours"]),
            "fit_groups_s": round(best["ours"], 2),
            "before_s": round(best["peer"], 2),
            "speedup": round(best["peer"] / best["ours"], 2),
            "differing_values": diff,
            "same_answers": diff == 0 and len(rows["ours"]) == len(rows["peer"]),
            "statuses": sorted({r["status"] for r in rows["ours"]}),
        }
    }


if __name__ == "__main__":
    import json

    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base", default=BASE, help="commit before fit groups (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(main(args.repeats, args.base), indent=2))
