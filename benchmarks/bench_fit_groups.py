"""Benchmark: ``examples/dropout_inference.yaml`` now vs the code before issue 15.

Workload: every cell of ``examples/dropout_inference.yaml`` (330 cells: 2
networks x 5 drop probabilities x 3 seeds = 30 trained networks, each read by
weight scaling and by Monte Carlo arithmetic/geometric means over 10..1000
masks; metrics accuracy, log_loss, dropout_gap, mc_error).

* ours: ``run_cells(cells)`` of this checkout: the three strategies of a
  network form one fit group; the network is trained once (the drop
  probabilities of a seed side by side), its exact ensembles over all masks
  (which ``dropout_gap`` and ``mc_error`` compare with) are enumerated once,
  in cache-sized blocks of points, and the Monte Carlo strategies draw their
  masks in one pass for every mask count.
* peer: ``run_cells(cells)`` of the code when issue 15 was filed (:data:`BASE`,
  or ``--base REV``), extracted with ``git archive`` into a temporary
  directory, with its own entry points (:func:`write_dist_info`): every
  strategy's group generates the problem, trains the network and enumerates
  the exact ensembles on its own.

Each side runs in a fresh Python process of this virtualenv (the peer's
``regsim`` imported from the extracted tree), alternately peer then ours,
``repeats`` times; the best time of each is kept, so the ratio compares like
with like on one machine in one run. Times cover ``run_cells`` only: Prefect's
start-up and the store cost both the same and are not part of what changed.

``same_answers``: rows are matched by their parameters (those both sides
record; a parameter added since, such as ``learner.input_noise`` at its
default, is left out of the match) and every other column except timings and
ids is compared: strings, integers and statuses equal, floats equal to
``rtol`` 1e-9 / ``atol`` 1e-12 (:data:`RTOL`, :data:`ATOL`). Trained
networks, accuracies and Monte Carlo sums are equal bit for bit; the exact
ensembles are now summed over blocks of points in another order, which moves
their last bits (measured: at most ~1e-13 relative in ``arith_kl``, and
~1e-16 absolute in the weight-scaling gaps of softmax regression, which are
themselves ~1e-16).

End to end (``regsim_sweep_end_to_end``): each side also runs the whole
``regsim sweep examples/dropout_inference.yaml --rerun`` in a fresh process
(start to exit: imports, Prefect, the flow, the Parquet store), timed from
outside, in one ``PREFECT_HOME`` whose database a first sweep created (as on a
user's machine): first each with Prefect's temporary server (both sides'
default), then both reporting to one running server (``regsim server start``,
which ours finds; the peer is pointed at it with ``PREFECT_API_URL``, Prefect's
own setting). ``--no-cli`` skips these runs.

Run ``python benchmarks/bench_fit_groups.py [--base REV] [--repeats N] [--no-cli]``;
``main()`` returns the results.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "dropout_inference.yaml"
#: The code when issue 15 was filed (main at the start of the work on it).
BASE = "8605cda"
#: Float columns agree when ``|ours - peer| <= ATOL + RTOL * |peer|``.
RTOL, ATOL = 1e-9, 1e-12
#: Columns that are not answers: timings and identifiers.
NOT_ANSWERS = {"cell_id", "group_id", "run_id", "sweep"}
#: Identifying columns besides the ``component.param`` ones.
PLUGINS = {"problem", "learner", "penalty", "ensembler", "inference", "seed"}

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
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "regsim", "plugins", "flows"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "plugins").rename(into / "regsim" / "plugins")
    (into / "flows").rename(into / "regsim" / "flows")
    write_dist_info(rev, into)
    return into


def write_dist_info(rev: str, into: Path) -> None:
    """Give the extracted tree its own ``regsim`` distribution metadata.

    Plugins load through entry points; the installed metadata of this
    checkout names this checkout's modules (laid out differently since).
    ``importlib.metadata`` takes the first distribution of a name along
    ``sys.path``, so a ``regsim.dist-info`` holding ``rev``'s own entry points
    in the tree (first on ``PYTHONPATH``) makes the peer load its own plugins.
    """
    import tomllib

    pyproject = tomllib.loads(subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:pyproject.toml"],
        check=True, capture_output=True, text=True).stdout)
    groups = pyproject["project"].get("entry-points", {})
    info = into / "regsim-0.0.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: regsim\nVersion: 0.0.0\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in eps.items()) + "\n"
        for group, eps in groups.items()))


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


def end_to_end(tree: Path | None, tmp: Path, name: str, home: Path,
               api_url: str | None = None) -> float:
    """Seconds of ``regsim sweep SPEC --rerun`` from process start to exit (tree None: ours).

    ``home`` is the ``PREFECT_HOME`` (its database already created, as on a
    user's machine after the first sweep); with ``api_url`` the sweep reports
    to that server (``PREFECT_API_URL``), else ours uses the ``regsim server``
    recorded under ``home`` if one runs, and otherwise, like the peer,
    Prefect's temporary server.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "REGSIM_STATE_DIR")}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_HOME=str(home))
    if api_url:
        env["PREFECT_API_URL"] = api_url
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    cli = "import sys; from regsim.cli import main; sys.exit(main())"
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", cli, "sweep", str(SPEC), "--out",
                           str(tmp / f"{name}-out"), "--rerun"],
                          env=env, cwd=str(tree or ROOT), capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"regsim sweep ({name}) exited {done.returncode}: {done.stderr[-2000:]}")
    return seconds


def _regsim(home: Path, *args: str) -> str:
    env = dict(os.environ, PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    env.pop("REGSIM_STATE_DIR", None)
    env.pop("PREFECT_API_URL", None)
    return subprocess.run([sys.executable, "-m", "regsim.cli", *args], env=env, check=True,
                          capture_output=True, text=True, cwd=str(ROOT)).stdout


def whole_sweeps(tree: Path, tmp: Path, repeats: int) -> dict:
    """End-to-end ``regsim sweep`` of both sides: temporary servers, then one running server."""
    home = tmp / "prefect-home"
    # Create Prefect's database first (a user's first sweep does it once, not per sweep).
    _regsim(home, "sweep", str(ROOT / "examples" / "quickstart.yaml"), "--out", str(tmp / "warm"))
    best = {key: math.inf for key in ("peer", "ours", "peer_server", "ours_server")}
    for i in range(repeats):
        best["peer"] = min(best["peer"], end_to_end(tree, tmp, f"peer-e2e-{i}", home))
        best["ours"] = min(best["ours"], end_to_end(None, tmp, f"ours-e2e-{i}", home))
    _regsim(home, "server", "start")
    try:  # the documented fast route: `regsim server start` once, then sweeps report to it
        url = json.loads((home / "regsim" / "server.json").read_text())["url"]
        for i in range(repeats):
            best["peer_server"] = min(best["peer_server"],
                                      end_to_end(tree, tmp, f"peer-srv-{i}", home, api_url=url))
            best["ours_server"] = min(best["ours_server"],
                                      end_to_end(None, tmp, f"ours-srv-{i}", home))
    finally:
        _regsim(home, "server", "stop")
    return {
        "temporary_server": {"ours_s": round(best["ours"], 2), "before_s": round(best["peer"], 2),
                             "speedup": round(best["peer"] / best["ours"], 2)},
        "running_server": {"ours_s": round(best["ours_server"], 2),
                           "before_s": round(best["peer_server"], 2),
                           "speedup": round(best["peer_server"] / best["ours_server"], 2)},
    }


def _is_param(column: str) -> bool:
    return "." in column or column in PLUGINS


def differences(ours: list[dict], peer: list[dict]) -> dict[str, int]:
    """Values per column that differ between two row sets (see the module docstring).

    Rows are matched on the parameters both sides record; a row of ``ours``
    without a partner counts under ``"<unmatched row>"``.
    """
    shared = ({c for r in ours for c in r if _is_param(c)}
              & {c for r in peer for c in r if _is_param(c)})

    def key(row):
        return tuple(sorted((c, repr(v)) for c, v in row.items() if c in shared))

    by_key = {key(r): r for r in peer}
    counts: dict[str, int] = {}
    for row in ours:
        other = by_key.get(key(row))
        if other is None:
            counts["<unmatched row>"] = counts.get("<unmatched row>", 0) + 1
            continue
        for col in (set(row) | set(other)) - NOT_ANSWERS:
            if _is_param(col) or col.endswith("_s"):
                continue
            x, y = row.get(col, "<absent>"), other.get(col, "<absent>")
            if isinstance(x, float) and isinstance(y, float):
                same = (math.isnan(x) and math.isnan(y)) or abs(x - y) <= ATOL + RTOL * abs(y)
            else:
                same = x == y
            if not same:
                counts[col] = counts.get(col, 0) + 1
    return counts


def main(repeats: int = 1, base: str = BASE, cli: bool = True) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tree = extract(base, Path(tmp))
        best = {"ours": math.inf, "peer": math.inf}
        rows = {}
        for i in range(repeats):
            for side in ("peer", "ours"):
                result = run(tree if side == "peer" else None, Path(tmp) / f"{side}-{i}.pickle")
                best[side] = min(best[side], result["seconds"])
                rows[side] = result["rows"]
        whole = whole_sweeps(tree, Path(tmp), repeats) if cli else None
    diff = differences(rows["ours"], rows["peer"])
    n_diff = sum(diff.values())
    return {
        "dropout_inference": {
            "base": base,
            "cells": len(rows["ours"]),
            "fit_groups_s": round(best["ours"], 2),
            "before_s": round(best["peer"], 2),
            "speedup": round(best["peer"] / best["ours"], 2),
            "differing_values": n_diff,
            "differing_columns": ", ".join(f"{c}: {n}" for c, n in sorted(diff.items())) or "none",
            "same_answers": n_diff == 0 and len(rows["ours"]) == len(rows["peer"]),
            "statuses": sorted({r["status"] for r in rows["ours"]}),
        },
        **({"regsim_sweep_end_to_end": whole} if whole else {}),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base", default=BASE,
                        help="the code to compare with (default %(default)s: when issue 15 was filed)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-cli", action="store_true",
                        help="skip the end-to-end `regsim sweep` runs")
    args = parser.parse_args()
    print(json.dumps(main(args.repeats, args.base, cli=not args.no_cli), indent=2))
