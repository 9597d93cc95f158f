"""Run every ``benchmarks/bench_*.py`` and collect their figures.

Each benchmark module has a ``main()`` returning a dict (nested dicts allowed);
this script imports each from its file, runs it, prints one table of every
scalar figure and writes them all to ``benchmarks/results/latest.json``
(gitignored) with the machine it ran on. Speed figures are ratios against a
peer measured in the same run, so they compare across machines; absolute
times do not.

A benchmark that compares its answers with its peer's reports a boolean
``same_answers`` (at any depth of its result), or ``similar_accuracy`` when
the peer cannot match bit for bit (another library's random streams); when
one is false the benchmark's status is ``wrong_answers`` and the run exits
non-zero, like a benchmark that raised: a speed ratio for a different answer
is no figure.

A benchmark whose peer cannot be set up on this machine (e.g. PyTorch not
installable) returns ``{"skipped": "<reason>"}``: its status is ``skipped``,
listed with the reason, and it does not fail the run.

Usage: ``python benchmarks/run.py [NAME ...]`` (``make bench``), e.g.
``python benchmarks/run.py l2_path`` runs only ``bench_l2_path.py``.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latest.json"


def discover(names: list[str] | None = None) -> list[Path]:
    files = sorted(HERE.glob("bench_*.py"))
    if names:
        wanted = {n.removeprefix("bench_").removesuffix(".py") for n in names}
        unknown = wanted - {f.stem.removeprefix("bench_") for f in files}
        if unknown:
            raise SystemExit(f"run.py: no benchmark {sorted(unknown)}; have "
                             f"{', '.join(f.stem.removeprefix('bench_') for f in files)}")
        files = [f for f in files if f.stem.removeprefix("bench_") in wanted]
    return files


def load(path: Path):
    # Imported under its own name from this directory, so process pools can
    # pickle the module's functions by reference.
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    return importlib.import_module(path.stem)


def flatten(result, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; only the scalars, for the table."""
    out = {}
    for key, value in (result or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif isinstance(value, (int, float, str, bool)) or value is None:
            out[name] = value
    return out


#: Boolean figures saying the two sides answered the same; each must be True.
ANSWER_CHECKS = ("same_answers", "similar_accuracy")


def wrong_answers(result) -> list[str]:
    """The answer checks (:data:`ANSWER_CHECKS`) of ``result`` (nested dicts allowed) that are
    not True."""
    return [key for key, value in flatten(result).items()
            if key.split(".")[-1] in ANSWER_CHECKS and value is not True]


def _fmt(value) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def machine() -> dict:
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine()}


def main(argv: list[str] | None = None) -> dict:
    files = discover(argv if argv is not None else sys.argv[1:])
    report = {"started": datetime.now(timezone.utc).isoformat(), "machine": machine(),
              "benchmarks": {}}
    for path in files:
        name = path.stem.removeprefix("bench_")
        print(f"== {name} ({path.name})", flush=True)
        t0 = time.perf_counter()
        try:
            result = load(path).main()
            entry = {"status": "ok", "result": result}
            wrong = wrong_answers(result)
            if isinstance(result, dict) and set(result) == {"skipped"}:
                entry["status"] = "skipped"
                print(f"{name}: SKIPPED ({result['skipped']})", flush=True)
            elif wrong:
                entry.update(status="wrong_answers",
                             error=f"answers differ from the peer's: {', '.join(wrong)}")
                print(f"{name}: WRONG ANSWERS ({', '.join(wrong)})", flush=True)
        except Exception as exc:  # one broken benchmark must not hide the others
            traceback.print_exc()
            entry = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        entry["wall_s"] = time.perf_counter() - t0
        report["benchmarks"][name] = entry
        print()

    rows = [(name, key, _fmt(value))
            for name, entry in report["benchmarks"].items()
            for key, value in (flatten(entry.get("result")) or {"status": entry["status"]}).items()]
    if rows:
        widths = [max(len(r[i]) for r in rows + [("benchmark", "figure", "value")]) for i in range(3)]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        print(line.format("benchmark", "figure", "value"))
        print(line.format(*("-" * w for w in widths)))
        for row in rows:
            print(line.format(*row))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwritten {RESULTS.relative_to(HERE.parent)} "
          f"({report['machine']['cpu_count']} cores, {report['machine']['platform']})")
    failed = {n: e["status"] for n, e in report["benchmarks"].items()
              if e["status"] not in ("ok", "skipped")}
    if failed:
        raise SystemExit(f"benchmarks not ok: {failed}")
    return report


if __name__ == "__main__":
    main()
