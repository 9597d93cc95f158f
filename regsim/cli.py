"""The ``regsim`` command line: plugins, validate, sweep, serve, show, report.

Exit codes: 0 success; 1 the sweep ran but some cells failed (error) or a
chunk could not be stored; 2 anything else a user can cause — a usage, spec,
plugin or input-data error, a result store that cannot be written (not a
directory, read-only, disk full), a Prefect server that does not answer —
reported as one line naming the problem and what to do (``--debug`` shows the
traceback). A sweep that stops early also says what it had stored.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import __version__

EPILOG = """examples:
  regsim plugins                      list plugins and their components
  regsim plugins --check              run the conformance kit over every plugin
  regsim describe l1                  one component: parameters, columns, docstring
  regsim --plugins-dir my_plugins/ plugins   also load one-file plugins from a directory
  regsim validate examples/quickstart.yaml
  regsim sweep examples/quickstart.yaml --out data/results
  regsim sweep examples/quickstart.yaml --runner processes --workers 2
  regsim sweep examples/quickstart.yaml --runner dask --dask-address tcp://10.0.0.5:8786
  regsim server start                 a local Prefect server (UI) that later sweeps reuse
  regsim serve examples/quickstart.yaml --cron "0 2 * * *"
                                      (needs a server: regsim server start or PREFECT_API_URL)
  regsim show data/results/quickstart
  regsim show data/results/quickstart --run latest
  regsim report data/results/quickstart          (writes data/results/quickstart/_report)
"""


def _registry_or_exit():
    from .registry import RegistryError, get_registry

    try:
        registry = get_registry()
    except RegistryError as exc:
        print(f"regsim: plugin error: {exc}", file=sys.stderr)
        raise SystemExit(2)
    for name, message in registry.failures:
        print(f"regsim: warning: plugin {name} skipped: {message.splitlines()[0]}", file=sys.stderr)
    return registry


def _origin(plugin: dict) -> str:
    return " ".join(filter(None, (plugin["distribution"], plugin["version"])))


def _details(registry, info) -> dict:
    """Declarations of every component of one plugin: kind -> name -> describe_component dict."""
    from .reference import describe_component

    return {kind: {name: describe_component(kind, registry.get(kind, name), info)
                   for name in names}
            for kind, names in sorted(info.components.items())}


def cmd_plugins(args) -> int:
    registry = _registry_or_exit()
    if args.check:
        return _check_plugins(registry, args.json)
    from .reference import component_text

    plugins = [{**p.as_dict(), "details": _details(registry, p)} for p in registry.plugins.values()]
    failures = [{"name": n, "error": e} for n, e in registry.failures]
    if args.json:
        print(json.dumps({"plugins": plugins, "failed": failures}, indent=2))
        return 0
    for p in plugins:
        print(f"{p['name']}  ({_origin(p)})")
        print(f"  hooks: {', '.join(p['hooks'])}")
        for kind, names in sorted(p["components"].items()):
            print(f"  {kind}: {', '.join(names)}")
            for name in names:
                print(component_text(p["details"][kind][name], indent="    "))
    for f in failures:
        print(f"{f['name']}  FAILED TO LOAD: {f['error'].splitlines()[0]}")
    return 0


def cmd_describe(args) -> int:
    """One component: its declarations and docstring; an ambiguous name lists its kinds."""
    from .reference import _kind_of, component_text, describe_component, find_components
    from .registry import KINDS

    registry = _registry_or_exit()
    words = args.component
    if len(words) > 2:
        raise UserError(f"describe: give NAME or KIND NAME, got {' '.join(words)!r}")
    found = find_components(registry, words)
    kind_word = _kind_of(words[0]) if len(words) == 2 else None
    if kind_word is not None and kind_word not in KINDS:
        raise UserError(f"describe: unknown kind {words[0]!r}; kinds: {', '.join(KINDS)}")
    if not found:
        name = words[-1]
        kinds = [kind_word] if kind_word else list(KINDS)
        installed = "; ".join(f"{k}: {', '.join(registry.names(k)) or '(none)'}" for k in kinds)
        raise UserError(f"describe: no component named {name!r}; installed {installed}")
    if len(found) > 1:
        choices = ", ".join(f"regsim describe {kind} {name}" for kind, name in found)
        raise UserError(f"describe: {words[0]!r} names {len(found)} components ("
                        f"{', '.join(k for k, _ in found)}); say which: {choices}")
    kind, name = found[0]
    info = describe_component(kind, registry.get(kind, name), registry.plugin_of(kind, name))
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(component_text(info, full_doc=True))
    return 0


def _check_plugins(registry, as_json: bool) -> int:
    """Run regsim.testing over every component of every loaded plugin; 1 if anything failed."""
    from .registry import KINDS
    from .testing import run_checks

    report, n_failed = [], len(registry.failures)
    for info in registry.plugins.values():
        components = []
        for kind in KINDS:
            for name in info.components.get(kind, []):
                results = run_checks(registry.get(kind, name), registry=registry)
                n_failed += sum(r.status == "failed" for r in results)
                components.append({"kind": kind, "name": name,
                                   "checks": [vars(r) for r in results]})
        report.append({"plugin": info.name, "distribution": info.distribution,
                       "version": info.version, "components": components})
    load_failures = [{"name": n, "error": e} for n, e in registry.failures]
    if as_json:
        print(json.dumps({"plugins": report, "failed_to_load": load_failures,
                          "failed": n_failed}, indent=2))
        return 1 if n_failed else 0
    for plugin in report:
        print(f"{plugin['plugin']}  ({_origin(plugin)})")
        for comp in plugin["components"]:
            checks = comp["checks"]
            failed = [c for c in checks if c["status"] == "failed"]
            passed = sum(c["status"] == "passed" for c in checks)
            skipped = [c for c in checks if c["status"] == "skipped"]
            verdict = "FAILED" if failed else "ok"
            print(f"  {comp['kind']} {comp['name']}: {verdict} ({passed} passed, "
                  f"{len(failed)} failed, {len(skipped)} skipped)")
            for c in failed:
                print(f"    FAIL {c['check']}: {c['message']}")
            for c in skipped:
                print(f"    skip {c['check']}: {c['message']}")
    for f in load_failures:
        print(f"{f['name']}  FAILED TO LOAD: {f['error'].splitlines()[0]}")
    print(f"\n{'FAILED' if n_failed else 'ok'}: {n_failed} failure(s) "
          f"over {len(report)} plugin(s)")
    return 1 if n_failed else 0


def _load(path):
    """The validated plan of a spec (its cells are generated chunk by chunk when run)."""
    from .api import checked_plan
    from .params import SpecError

    registry = _registry_or_exit()
    try:
        return checked_plan(path, registry)
    except SpecError as exc:
        print(f"regsim: invalid spec: {exc}", file=sys.stderr)
        raise SystemExit(2)


def cmd_validate(args) -> int:
    """Check a spec and print its cell count and first cells, without expanding the rest.

    The count is a product of axis lengths; only the cells shown are generated,
    so time and memory do not grow with the size of the sweep.
    """
    from itertools import islice

    from .params import SpecError
    from .spec import VALIDATE_CELL_CHECKS, plan_spec

    registry = _registry_or_exit()
    try:
        plan = plan_spec(args.spec, registry)
        try:
            checked_all = plan.check(max_cell_checks=VALIDATE_CELL_CHECKS)
            shown = list(islice(plan.iter_cells(), max(args.show, 0)))
        except SpecError as exc:
            raise plan.located(exc) from None
    except SpecError as exc:
        print(f"regsim: invalid spec: {exc}", file=sys.stderr)
        raise SystemExit(2)
    groups = plan.n_groups
    grouped = f" in {groups} batched groups" if groups is not None else ""
    print(f"{args.spec}: valid spec {plan.name!r}: {plan.n_cells} cells{grouped}; "
          f"metrics: {', '.join(plan.metrics)}")
    for cell in shown:
        parts = []
        for slot, comp in cell.components.items():
            if comp is not None:
                params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in comp.items() if k != "plugin")
                parts.append(f"{slot}={comp['plugin']}({params})")
        print(f"  {cell.cell_id}  seed={cell.seed}  " + "  ".join(parts))
    if plan.n_cells > len(shown):
        print(f"  ... {plan.n_cells - len(shown)} more")
    if not checked_all:
        print(f"note: per-cell limits were checked for the first {VALIDATE_CELL_CHECKS:,} of "
              f"{plan.n_points:,} combinations; the sweep checks the rest before it starts")
    return 0


def _run_options_ok(args) -> bool:
    """Check the runner and time budget before anything starts (the Dask extra, bad values)."""
    from .orchestration import make_task_runner

    try:
        make_task_runner(args.runner, args.workers, args.dask_address)
    except (ImportError, ValueError) as exc:
        print(f"regsim: {exc}", file=sys.stderr)
        return False
    if args.time_budget is not None and args.time_budget <= 0:
        print(f"regsim: --time-budget: must be > 0 seconds, got {args.time_budget}",
              file=sys.stderr)
        return False
    return True


class UserError(Exception):
    """A problem the user can fix; ``main`` prints it as one line and exits 2."""


def _writable_store(out: str, name: str) -> None:
    """Refuse, before anything runs, a result store this process cannot write into."""
    import tempfile

    root = Path(out)
    if root.exists() and not root.is_dir():
        raise UserError(f"--out: {out} is not a directory; give a directory for the result store")
    target = root / name
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as exc:
        raise UserError(f"cannot write results under {target}: {exc.strerror or exc}; choose a "
                        f"writable --out (or fix the directory's permissions)") from None


def _prefect_server_answers() -> None:
    """With a configured Prefect server (PREFECT_API_URL), check that it answers, in seconds."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return
    import httpx

    try:
        httpx.get(url.rstrip("/") + "/health", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        raise UserError(f"the Prefect server at PREFECT_API_URL={url} does not answer ({reason}); "
                        f"start it (prefect server start) or unset PREFECT_API_URL to run on a "
                        f"temporary server") from None


def _stored_so_far(out: str, name: str, n_cells: int) -> str | None:
    """One line on what the newest run of sweep ``name`` has stored, for a run that stopped early."""
    from .store import run_dirs, status_counts

    try:
        runs = run_dirs(Path(out) / name)
        if not runs:
            return "nothing was stored"
        run = max(runs, key=lambda p: p.stat().st_mtime)
        counts = status_counts(run)
    except Exception:  # the store itself may be what failed
        return None
    detail = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    return (f"stored so far in {run}: {sum(counts.values())} of {n_cells} cells"
            + (f" ({detail})" if detail else "") + "; rerun the same command to resume")


def process_seconds() -> float:
    """Seconds since this process started (interpreter start-up and imports included)."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED


_IMPORTED = time.perf_counter()


def cmd_server(args) -> int:
    """Start, stop or report the reusable local Prefect server (``regsim.local_server``)."""
    from .api import quiet_prefect_defaults
    from .local_server import start_server, state_file, status, stop_server

    quiet_prefect_defaults()
    if args.action == "start":
        t0 = time.perf_counter()
        try:
            state = start_server(port=args.port)
        except (RuntimeError, OSError) as exc:
            raise UserError(f"server start: {exc}") from None
        how = ("already running" if state.get("already")
               else f"started in {time.perf_counter() - t0:.1f} s")
        print(f"regsim: Prefect server {how}: API {state['url']}  UI {state['ui']}  "
              f"(pid {state['pid']}, log {state['log']})")
        print("regsim: `regsim sweep` and `regsim serve` use it while PREFECT_API_URL is unset; "
              f"for other Prefect clients: export PREFECT_API_URL={state['url']}")
        return 0
    if args.action == "stop":
        state = stop_server()
        print("regsim: no server recorded" if state is None
              else f"regsim: stopped the Prefect server at {state['url']} (pid {state['pid']})")
        return 0
    state = status()
    if state is None:
        print(f"regsim: no server recorded ({state_file()}); `regsim server start` starts one")
        return 3
    what = ("running and healthy" if state["healthy"] else
            "running but not answering" if state["running"] else "not running (stale record)")
    print(f"regsim: Prefect server {what}: API {state['url']}  UI {state['ui']}  "
          f"(pid {state['pid']}, since {state['started']}, log {state['log']})")
    return 0 if state["healthy"] else 3


def cmd_sweep(args) -> int:
    from .api import run_sweep
    from .store import RunLocked, read_results

    from .api import quiet_prefect_defaults

    quiet_prefect_defaults()  # before anything imports prefect (its telemetry reads the env once)
    spec = _load(args.spec)
    name, n_cells = spec.name, spec.n_cells
    print(f"regsim: sweep {name!r}: {n_cells} cells -> {args.out}/{name}/ "
          f"({'dask' if args.dask_address else args.runner} runner)", file=sys.stderr)
    if not _run_options_ok(args):  # imports Prefect
        return 2
    _writable_store(args.out, name)
    _prefect_server_answers()
    import regsim.flows.sweep  # noqa: F401  (the flow; run_sweep would import it next)

    _start_up_done()
    try:
        summary = run_sweep(spec, out=args.out, chunk_size=args.chunk_size,
                            progress=not args.no_progress, runner=args.runner,
                            workers=args.workers, dask_address=args.dask_address,
                            rerun=args.rerun, time_budget_s=args.time_budget)
    except RunLocked as exc:
        print(f"regsim: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.debug:
            raise
        print(f"regsim: the sweep stopped: {describe_failure(exc)}", file=sys.stderr)
        stored = _stored_so_far(args.out, name, n_cells)
        if stored:
            print(f"regsim: {stored}", file=sys.stderr)
        return 2
    del spec
    counts = summary["counts"]
    print(f"\nsweep     {name}")
    if summary.get("resumed"):
        print(f"resumed   {n_cells - summary['n_run']} cells already stored, "
              f"{summary['n_run']} run now" + ("" if summary["n_run"] else
                                              " (nothing to do; --rerun for a new run)"))
    stored = sum(counts.values())
    detail = ", ".join(f"{status} {n}" for status, n in counts.items())
    missing = f", {n_cells - stored} not stored" if stored < n_cells else ""
    print(f"cells     {summary['n_cells']}: {stored} stored ({detail}){missing}")
    print(f"wall time {process_seconds():.1f} s in all (start-up, Prefect, cells); the sweep's "
          f"flow {summary['wall_s']:.1f} s, cells {summary.get('compute_s', 0.0):.2f} s of work")
    print(f"results   {summary['run_dir']}")
    if counts.get("error", 0) or counts.get("not_converged", 0):
        df = read_results(summary["run_dir"], columns=["cell_id", "status", "error"])
        for status, what in (("error", "errors"), ("not_converged", "not converged")):
            first = df[df["status"] == status].head(5)
            if len(first):
                print(f"{what} (first 5; rerun the same command to retry them):")
                for _, row in first.iterrows():
                    print(f"  {row['cell_id']}: {row['error']}")
    for failure in summary["failed_chunks"]:
        print(f"not stored {failure.removeprefix('not stored: ')} (rerun to retry)")
    print(f"next      regsim show {summary['run_dir']}\n"
          f"          regsim report {summary['run_dir']}")
    return 1 if counts.get("error", 0) or summary["failed_chunks"] or stored < n_cells else 0


NO_SCHEDULER = """regsim: serve: PREFECT_API_URL is not set and no local server runs.
A schedule needs a persistent Prefect server: Prefect's temporary server runs
no scheduler, so a cron or interval schedule would never fire. Start one
(`regsim server start`, then `regsim serve` finds it) or point regsim at one:

  prefect server start                       # in another terminal (or a service)
  export PREFECT_API_URL=http://127.0.0.1:4200/api
  regsim serve SPEC --cron "0 2 * * *"

(see docs/scheduling.md)"""


def cmd_serve(args) -> int:

    from .api import quiet_prefect_defaults

    quiet_prefect_defaults()
    if not os.environ.get("PREFECT_API_URL"):
        from prefect.settings import PREFECT_API_URL  # also honours profiles and prefect.toml

        if not PREFECT_API_URL.value():
            from .local_server import find_server

            local = find_server()  # `regsim server start`: persistent, runs the scheduler
            if not local:
                print(NO_SCHEDULER, file=sys.stderr)
                return 2
            from .orchestration import _reporting_to

            print(f"regsim: serving on the local Prefect server {local} (regsim server start)",
                  file=sys.stderr)
            with _reporting_to(local):
                return _serve(args)
    return _serve(args)


def _serve(args) -> int:
    from pathlib import Path

    _prefect_server_answers()
    spec = _load(args.spec)
    if not _run_options_ok(args):
        return 2
    from regsim.flows.sweep import sweep

    name = args.name or spec.name
    parameters = {"spec": spec.raw, "out": str(Path(args.out).resolve()), "rerun": True,
                  "progress": False, "time_budget_s": args.time_budget,
                  "chunk_size": args.chunk_size, "runner": args.runner, "workers": args.workers,
                  "dask_address": args.dask_address}
    when = f"cron {args.cron!r}" if args.cron else f"every {args.interval:g} s"
    print(f"regsim: serving deployment 'regsim-sweep/{name}' ({when}); each run writes a new "
          f"run directory under {parameters['out']}/{spec.name}/. Ctrl-C stops.",
          file=sys.stderr)
    sweep.serve(name=name, cron=args.cron, interval=args.interval, parameters=parameters,
                description=f"regsim sweep {spec.name} ({spec.n_cells} cells)")
    return 0


def cmd_show(args) -> int:
    import pandas as pd

    from .report import metric_summary, read_selected, summary_table

    try:
        df = read_selected(args.path, args.run)
    except FileNotFoundError as exc:
        print(f"regsim: {exc}", file=sys.stderr)
        return 2
    fmt = {"float_format": lambda v: f"{v:.4g}"}
    with pd.option_context("display.width", 200, "display.max_columns", None,
                           "display.max_colwidth", 40):
        print(summary_table(df).to_string(index=False, **fmt))
        table, group, over = metric_summary(df)
        if table is not None:
            by = f" by {', '.join(group)}" if group else ""
            across = ", ".join(["seed"] + over)
            print(f"\nmedian over cells with status ok{by} (across {across}):")
            print(table.to_string(**fmt))
        else:
            print("\nno metric values in cells with status ok")
    run = f", run={args.run!r}" if args.run else ""
    print(f"\n{len(df)} rows, {len(df.columns)} columns; "
          f"python: regsim.open_results({str(args.path)!r}{run})")
    return 0


def cmd_report(args) -> int:
    from .report import DEFAULT_REPORT_DIR, write_report

    _registry_or_exit()
    output = args.output or str(Path(args.path) / DEFAULT_REPORT_DIR)
    try:
        result = write_report(args.path, output, run=args.run)
    except FileNotFoundError as exc:
        print(f"regsim: {exc}", file=sys.stderr)
        return 2
    for claim in result["claims"]:
        print(f"claim   {claim.text}")
    for path in result["figures"]:
        print(f"figure  {path}")
    for name, reason in result["skipped"].items():
        print(f"skipped {name}: {reason}")
    print(f"page    {result['index']}")
    return 0


def _seconds(text: str) -> float:
    """A finite, positive number of seconds (``nan``, ``inf`` and ``0`` are refused)."""
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """The spec and the options shared by ``sweep`` and ``serve``."""
    p.add_argument("spec", help="sweep spec (YAML file)")
    p.add_argument("--out", default="data/results", metavar="DIR",
                   help="result store root (default data/results)")
    p.add_argument("--chunk-size", type=_positive_int, default=None, metavar="N",
                   help="cells per Prefect task (default: sized from a measured pilot chunk)")
    p.add_argument("--time-budget", type=_seconds, default=None, metavar="SECONDS",
                   help="seconds per cell; a cell over budget is stored with status error")
    p.add_argument("--runner", choices=("threads", "processes", "dask"), default="threads",
                   help="Prefect task runner for the chunks (default threads; dask needs "
                        "the extra: pip install 'regsim[dask]')")
    p.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                   help="threads: worker threads (default 1: cells are mostly GIL-bound NumPy, and BLAS "
                        "threads itself); processes / local Dask: worker processes (default: CPUs)")
    p.add_argument("--dask-address", default=None, metavar="ADDR",
                   help="an existing Dask scheduler, tcp://host:port (implies --runner dask)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regsim",
        description="Simulate regularisation (Deep Learning, ch. 7): run sweeps as Prefect flows, "
                    "store measured-and-theory results as Parquet, draw reports.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"regsim {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show full Python tracebacks instead of one-line error messages")
    parser.add_argument("--plugins-dir", action="append", default=[], metavar="DIR",
                        help="also load every *.py file in DIR as a one-file plugin "
                             "(repeatable; adds to $REGSIM_PLUGINS_DIR)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("plugins", help="list installed plugins and their components",
                       description="List every plugin (built-ins included) with its distribution, "
                                   "version, hooks and the components it registers; plugins that "
                                   "failed to load are listed with the reason.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--check", action="store_true",
                   help="run the conformance kit (regsim.testing) over every component of every "
                        "plugin; report failures per plugin and component; exit 1 on any failure "
                        "(plugins that fail to load count as failures)")
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("describe", help="show one component: parameters, columns, docstring",
                       description="Show one installed component: its plugin, parameters (type, "
                                   "default, allowed values, path or not, meaning), the result "
                                   "columns it writes, its other declarations and its docstring. "
                                   "A name used by several kinds (say, a metric and a plot) needs "
                                   "the kind: regsim describe metric theory_gap.")
    p.add_argument("component", nargs="+", metavar="[KIND] NAME",
                   help="component name, optionally preceded by its kind (problem, learner, "
                        "penalty, ensembler, inference, metric, plot)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_describe)

    from .spec import MAX_CELLS

    p = sub.add_parser("validate", help="check a spec and show its cells without running",
                       description="Validate a sweep spec (YAML) and print the number of cells and "
                                   "the first few. Nothing runs. The count is computed without "
                                   f"expanding the sweep; a spec of more than {MAX_CELLS:,} cells "
                                   "is refused (split it into several sweeps).")
    p.add_argument("spec", help="sweep spec (YAML file)")
    p.add_argument("--show", type=int, default=5, metavar="N", help="cells to print (default 5)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("sweep", help="run a spec as a Prefect flow, store Parquet",
                       description="Run a sweep as a Prefect flow: on the server of "
                                   "PREFECT_API_URL when set, else on the one `regsim server start` runs, else on "
                                   "Prefect's temporary local server (started and stopped by this "
                                   "command, seconds each). Writes one Parquet part per "
                                   "chunk of cells and a manifest under OUT/<name>/<run_id>/. "
                                   "Exit code 1 when any cell failed.")
    _add_run_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.add_argument("--rerun", action="store_true",
                   help="start a new run directory; default: continue the latest run of this "
                        "spec, skipping cells already stored (errors are retried)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("serve", help="serve the sweep as a scheduled Prefect deployment",
                       description="Serve the sweep flow as a Prefect deployment with a cron or "
                                   "interval schedule; each scheduled run writes a new run "
                                   "directory. Needs a persistent Prefect server (`regsim server "
                                   "start`, or PREFECT_API_URL): the temporary server runs no "
                                   "scheduler.")
    _add_run_options(p)
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", metavar="EXPR", help='cron schedule, e.g. "0 2 * * *"')
    when.add_argument("--interval", type=float, metavar="SECONDS", help="run every SECONDS")
    p.add_argument("--name", default=None, help="deployment name (default: the spec name)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("server", help="start, stop or check a reusable local Prefect server",
                       description="A Prefect server in the background on 127.0.0.1 "
                                   "(`prefect server start`), recorded in a state file "
                                   "($REGSIM_STATE_DIR or $PREFECT_HOME/regsim). While it is "
                                   "healthy and PREFECT_API_URL is unset, `regsim sweep` reports "
                                   "to it instead of starting Prefect's temporary server on every "
                                   "call; its UI shows every run. Status exits 3 when no healthy "
                                   "server runs.")
    p.add_argument("action", choices=("start", "stop", "status"))
    p.add_argument("--port", type=int, default=None,
                   help="port to listen on (default 4200, or a free one if taken)")
    p.set_defaults(func=cmd_server)

    run_help = ("'latest' (the newest run of each sweep under DIR) or a run id; "
                "default: every run under DIR")
    p = sub.add_parser("show", help="summarise a result set",
                       description="Print cells by status, and the median of every metric "
                                   "present grouped by the parameters that vary, for a run, "
                                   "a sweep or the whole store directory.")
    p.add_argument("path", metavar="DIR", help="run, sweep or store directory")
    p.add_argument("--run", default=None, metavar="RUN", help=run_help)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("report", help="write figures and an HTML page",
                       description="Write a page (index.html) that states each claim's "
                                   "measured result, with every figure that applies (PNG), "
                                   "provenance and the spec.")
    p.add_argument("path", metavar="DIR", help="run, sweep or store directory")
    p.add_argument("-o", "--output", default=None, metavar="OUT",
                   help="output directory (default: DIR/_report; the leading '_' keeps "
                        "pd.read_parquet(DIR) from reading it)")
    p.add_argument("--run", default=None, metavar="RUN", help=run_help)
    p.set_defaults(func=cmd_report)
    return parser


def _use_plugins_dirs(dirs: list[str]) -> None:
    """Export --plugins-dir through the environment, so Prefect workers load the same files."""
    import os

    from .registry import PLUGINS_DIR_ENV, get_registry

    if not dirs:
        return
    current = [p for p in os.environ.get(PLUGINS_DIR_ENV, "").split(os.pathsep) if p]
    absolute = [str(Path(d).resolve()) for d in dirs]
    os.environ[PLUGINS_DIR_ENV] = os.pathsep.join(current + [d for d in absolute
                                                             if d not in current])
    get_registry.cache_clear()


def describe_failure(exc: BaseException) -> str:
    """One line for an exception: what went wrong and, where it is known, what to do."""
    import errno

    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno is not None:
        where = f" ({exc.filename})" if exc.filename else ""
        if exc.errno == errno.ENOSPC:
            return f"no space left on the device{where}; free some space and rerun to resume"
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return (f"{exc.strerror}{where}; choose a writable --out or fix the permissions")
        return f"{exc.strerror}{where}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else '(no message)'}"


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (a damaged part skipped, say) as one line each; ``--debug`` keeps Python's form."""
    text = str(message).strip().splitlines()
    print(f"regsim: warning: {text[0] if text else category.__name__}", file=sys.stderr)


#: True while :func:`console_main` holds the garbage collector off during start-up.
_GC_HELD = False


def _start_up_done() -> None:
    """End of start-up in a ``regsim`` process: collect garbage again (see :func:`console_main`)."""
    global _GC_HELD
    if _GC_HELD:
        import gc

        _GC_HELD = False
        gc.freeze()  # what the imports built lives as long as the process: never traverse it
        gc.enable()


def console_main() -> int:
    """The ``regsim`` command (console script, ``python -m regsim.cli``): :func:`main`, in a
    process of its own, with the garbage collector set for a process that starts and ends.

    Start-up imports Prefect, pydantic and NumPy: about a million objects that live as
    long as the process, over which Python's collector ran full collections several
    times (0.1-0.2 s). It is off until the command's imports are done (``regsim sweep``:
    Prefect and the flow module; other commands: at once), then those objects are
    frozen out of later collections. At exit the interpreter's final collections would
    traverse every object again (0.3-0.4 s measured): everything is frozen first.
    Reference counting frees objects as usual throughout; only cycles wait.
    ``main(argv)`` called in-process (tests, notebooks) leaves the collector alone.
    """
    import gc

    global _GC_HELD
    if gc.isenabled():
        gc.disable()
        _GC_HELD = True
    try:
        return main()
    finally:
        _start_up_done()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        gc.freeze()  # the process ends now: no final traversal of every object


def main(argv: list[str] | None = None) -> int:
    import warnings

    args = build_parser().parse_args(argv)
    if args.func is not cmd_sweep:  # the sweep ends its start-up after importing Prefect
        _start_up_done()
    _use_plugins_dirs(args.plugins_dir)
    try:
        with warnings.catch_warnings():  # restores Python's own display afterwards
            if not args.debug:
                warnings.showwarning = _one_line_warning
            return args.func(args)
    except BrokenPipeError:  # `regsim validate spec.yaml | head`: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("regsim: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # anything else: one line, the traceback only with --debug
        if args.debug:
            raise
        hint = "" if isinstance(exc, UserError) else " (run with --debug for the traceback)"
        print(f"regsim: {describe_failure(exc)}{hint}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(console_main())
