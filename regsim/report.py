"""``regsim report``: a page that states each claim's result, with its figures.

The page (``index.html``, static, no JavaScript) gives the sweep, one sentence
per claim of the seed with the number measured (``regsim.claims``), the cells by
status, the figures in the seed's order (and which were skipped, and why), the
provenance of every run (versions, commit, dates, flow run) and the spec.

Figures are plugins (``register_plots``). A plot declares the columns it needs
(``required_columns``), says whether a result set has rows for it
(``applies``) and either builds a matplotlib ``Figure`` from a DataFrame
(``figure(df)``; the built-ins) or writes PNG files itself (``draw``). From
Python, :class:`FigureDisplay` draws any of them in the manner of
scikit-learn's ``*Display.from_*``::

    from regsim.report import FigureDisplay
    disp = FigureDisplay.from_results("data/results/l2_shrinkage", "l2_shrinkage")
    disp.ax_[0].set_title("my title"); disp.figure_.savefig("l2.pdf")
"""

from __future__ import annotations

import html
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .registry import Registry, get_registry
from .runner import STATUSES
from .store import MANIFEST, read_results

__all__ = ["write_report", "metric_summary", "metric_columns", "parameter_columns", "summary_table", "figure_row", "save_figure", "FigureDisplay",
           "varying_parameters", "group_keys", "rows_where", "theory_metric",
           "theory_conditions", "theory_rows", "plot_rows",
           "projector_style", "legend_outside", "select_runs", "read_selected",
           "missing_columns", "PLOT_ORDER", "DEFAULT_REPORT_DIR"]

#: ``regsim report DIR`` writes here (inside DIR) when no output directory is given;
#: the leading ``_`` keeps ``pd.read_parquet(DIR)`` from reading it.
DEFAULT_REPORT_DIR = "_report"

#: Built-in figures in the order of the seed's claims; other plots follow by name.
PLOT_ORDER = ("l2_shrinkage", "l1_soft_threshold", "theory_gap", "bagging_error_vs_k",
              "dropout_weight_scaling_gap", "dropout_mc_convergence", "dropout_vs_bagging")

#: Font sizes readable on a projector (matplotlib rcParams).
PROJECTOR_RC = {"font.size": 13, "axes.titlesize": 14, "axes.labelsize": 13,
                "xtick.labelsize": 12, "ytick.labelsize": 12, "legend.fontsize": 11,
                "legend.title_fontsize": 11, "lines.markersize": 6, "lines.linewidth": 1.8}


@contextmanager
def projector_style():
    """matplotlib settings of every regsim figure (large fonts, thick lines)."""
    import matplotlib as mpl

    with mpl.rc_context(PROJECTOR_RC):
        yield


def figure_row(n_panels: int, width: float = 5.6, height: float = 4.4):
    """A matplotlib figure with ``n_panels`` axes side by side; returns ``(fig, axes)``.

    ``axes`` is always a 1-d array, even for one panel. For plot plugins.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n_panels, figsize=(width * n_panels, height), squeeze=False)
    return fig, axes[0]


def legend_outside(ax, **kwargs):
    """A legend to the right of ``ax``, so it never covers data."""
    kwargs.setdefault("loc", "upper left")
    kwargs.setdefault("bbox_to_anchor", (1.02, 1.0))
    kwargs.setdefault("borderaxespad", 0.0)
    kwargs.setdefault("frameon", False)
    return ax.legend(**kwargs)


def save_figure(fig, out_dir: str | Path, name: str) -> Path:
    """Save a matplotlib figure as ``<out_dir>/<name>.png`` (tight, 110 dpi) and close it.

    For plot plugins, so every figure of a report looks alike.
    """
    import matplotlib.pyplot as plt

    import warnings

    path = Path(out_dir) / f"{name}.png"
    with warnings.catch_warnings():  # legends outside the axes: bbox_inches="tight" fits them
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def missing_columns(plot, df) -> list[str]:
    """The columns ``plot`` declares (``required_columns``) that ``df`` lacks or holds only nulls in."""
    need = getattr(plot, "required_columns", ()) or ()
    return [c for c in need if c not in df.columns or not df[c].notna().any()]


def _skip_reason(plot, df) -> str | None:
    """Why ``plot`` cannot be drawn from ``df`` (already restricted by :func:`plot_rows`),
    or ``None`` when it can."""
    missing = missing_columns(plot, df)
    if missing:
        where = " where its theory holds" if _declares(plot) else ""
        return "needs column" + ("s " if len(missing) > 1 else " ") + ", ".join(missing) + \
            f" (absent from these results{where})"
    if not plot.applies(df):
        return ("no rows where its theory holds" if _declares(plot)
                else "no rows it applies to in these results")
    return None


def _declares(plot) -> bool:
    return bool(getattr(plot, "theory_columns", ())) or getattr(plot, "holds_for", None) is not None


class FigureDisplay:
    """A report figure drawn from a DataFrame, in the manner of scikit-learn's Displays.

    Attributes: ``figure_`` (matplotlib ``Figure``), ``ax_`` (its axes, a list)
    and ``plot`` (the plot plugin). Build one with :meth:`from_results`.
    """

    def __init__(self, figure, plot):
        self.figure_ = figure
        self.ax_ = list(figure.axes)
        self.plot = plot

    @classmethod
    def from_results(cls, results, plot: str, *, registry: Registry | None = None,
                     run: str | None = None) -> "FigureDisplay":
        """Draw the plot named ``plot`` from ``results``.

        Parameters
        ----------
        results : DataFrame, str or Path
            Rows (e.g. ``regsim.open_results(...)``), or a run, sweep or store directory.
        plot : str
            A registered plot name (``regsim plugins`` lists them), e.g. ``"l2_shrinkage"``.
        run : str, optional
            With a directory: ``"latest"`` or a run id (see :func:`select_runs`).

        Raises ``ValueError`` naming the missing columns when the results lack
        what the figure needs.
        """
        registry = registry or get_registry()
        df = results if hasattr(results, "columns") else read_selected(results, run)
        instance = registry.get("plot", plot)()
        df = plot_rows(instance, df, registry)
        reason = _skip_reason(instance, df)
        if reason:
            raise ValueError(f"plot {plot!r}: {reason}")
        if not hasattr(instance, "figure"):
            raise ValueError(f"plot {plot!r} writes files only (no figure(df) method)")
        with projector_style():
            fig = instance.figure(df)
        return cls(fig, instance)

    def savefig(self, path, **kwargs):
        kwargs.setdefault("bbox_inches", "tight")
        self.figure_.savefig(path, **kwargs)
        return path


def select_runs(path: str | Path, run: str | None = None) -> list[Path]:
    """The run directories under ``path`` that ``run`` picks.

    ``run=None``: ``[path]`` itself (every run below it). ``"latest"``: the newest
    run (by start time in its manifest) of each sweep under ``path``. Any other
    value: the run with that id. Raises ``FileNotFoundError`` when none matches.
    """
    path = Path(path)
    if run is None:
        return [path]
    manifests = sorted(path.rglob(MANIFEST)) if path.is_dir() else []
    runs: dict[str, list[tuple[str, Path]]] = {}
    for m in manifests:
        try:
            info = json.loads(m.read_text())
        except (OSError, ValueError):
            continue
        runs.setdefault(info.get("sweep", m.parent.parent.name), []).append(
            (str(info.get("started") or m.parent.name), info.get("run_id", m.parent.name),
             m.parent))
    if run == "latest":
        chosen = [max(found)[2] for _, found in sorted(runs.items())]
    else:
        chosen = [d for found in runs.values() for _, rid, d in found if rid == run]
    if not chosen:
        raise FileNotFoundError(f"no run {run!r} under {path}")
    return chosen


def read_selected(path: str | Path, run: str | None = None):
    """Rows of the runs :func:`select_runs` picks (every run under ``path`` when ``run`` is None)."""
    dirs = select_runs(path, run)
    if len(dirs) == 1:
        return read_results(dirs[0])
    import pandas as pd

    return pd.concat([read_results(d) for d in dirs], ignore_index=True)


def summary_table(df):
    """Cells per sweep and run by status (every status of ``regsim.runner.STATUSES`` and any
    other found), with total wall time; a flat table."""
    counts = df.groupby(["sweep", "run_id", "status"]).size().unstack("status", fill_value=0)
    statuses = list(STATUSES) + sorted(set(counts.columns) - set(STATUSES))
    counts = counts.reindex(columns=statuses, fill_value=0)
    counts.columns.name = None
    counts.insert(0, "cells", counts[statuses].sum(axis=1))
    counts["wall_s"] = df.groupby(["sweep", "run_id"])["wall_s"].sum()
    return counts.reset_index()


#: Columns that describe a cell's bookkeeping, never a parameter or a metric.
BOOKKEEPING = ("sweep", "run_id", "cell_id", "seed", "status", "error", "wall_s")
#: Component slots of a spec (their plugin names are columns; parameters are ``slot.param``).
SLOTS = ("problem", "learner", "penalty", "ensembler", "inference")
#: A varying parameter with more values than this is an axis to summarise over, not a group.
MAX_GROUP_VALUES = 8


def parameter_columns(df) -> list[str]:
    """Component and ``<component>.<param>`` columns of ``df``."""
    return [c for c in df.columns if c in SLOTS or c.split(".", 1)[0] in SLOTS and "." in c]


def metric_columns(df) -> list[str]:
    """Numeric result columns with at least one value (metrics and theory columns)."""
    import pandas as pd

    params = set(parameter_columns(df))
    return [c for c in df.columns if c not in params and c not in BOOKKEEPING
            and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
            and df[c].notna().any()]


def varying(df, columns) -> tuple[list[str], list[str]]:
    """``(group_by, summarised_over)``: the columns of ``columns`` that take more than one
    value in ``df``, split at :data:`MAX_GROUP_VALUES` distinct values."""
    group, over = [], []
    for c in columns:
        n = df[c].astype(str).nunique(dropna=False)
        if n > 1:
            (group if n <= MAX_GROUP_VALUES else over).append(c)
    return group, over


def varying_parameters(df, exclude=(), first=()) -> list[str]:
    """Every component and ``<slot>.<param>`` column of ``df`` that takes more than one
    value (nulls count as a value), plugins' own parameters included, in column order.

    Figures, claims and ``regsim show`` split rows by these, so rows that differ in
    any parameter (a plugin strategy's ``inference.trim`` as much as ``penalty.alpha``)
    are never averaged together unless the caller puts them on an axis (``exclude``).
    A column that moves with the ones before it (a problem's own parameters with the
    problem, a ``zip`` group) splits nothing further and is left out, so labels stay short;
    ``first`` names columns to consider before the others (e.g. ``("learner",)`` to label
    by learner rather than by the problem zipped with it).
    """
    import pandas as pd

    params = parameter_columns(df)
    candidates = [c for c in first if c in params and c not in exclude] + \
        [c for c in params if c not in exclude and c not in first]
    text = dict(zip(candidates, group_keys(df, candidates)))
    kept, n_groups = [], 1
    for c in candidates:
        n = len(pd.DataFrame({k: text[k] for k in kept + [c]}).drop_duplicates())
        if n > n_groups:
            kept.append(c)
            n_groups = n
    return kept


def group_keys(df, columns) -> list:
    """``df[columns]`` as text Series, one per column, for ``df.groupby(group_keys(df, cols))``:
    nulls become ``"None"``/``"nan"`` groups instead of being dropped, list values group by
    their text."""
    return [df[c].map(lambda v: str(_hashable(v))).astype(object) for c in columns]


def _row_tasks(df, registry: Registry):
    """The problem's task of every row (``None`` where the problem is not installed)."""
    import pandas as pd

    tasks = pd.Series([None] * len(df), index=df.index, dtype=object)
    if "problem" not in df:
        return tasks
    for name in df["problem"].dropna().unique():
        rows = df["problem"] == name
        try:
            cls = registry.get("problem", name)
        except Exception:  # a problem not installed here: its task is unknown
            continue
        column = f"problem.{cls.task_param}" if cls.task_param else None
        if column and column in df:
            tasks[rows] = df.loc[rows, column].map(lambda v: cls.task_for({cls.task_param: v}))
        else:
            tasks[rows] = cls.task_for({})
    return tasks


def _each_configuration(df, columns, registry: Registry, decide):
    """Boolean Series: ``decide(where)`` for every row, where ``where`` maps each of
    ``columns`` (and ``"task"``) to the row's value; computed once per distinct configuration."""
    import pandas as pd

    cols = {k: df[k] if k in df else pd.Series([None] * len(df), index=df.index, dtype=object)
            for k in columns if k != "task"}
    cols["task"] = _row_tasks(df, registry)
    frame = pd.DataFrame(cols, index=df.index)
    if not len(frame):
        return pd.Series(True, index=df.index, dtype=bool)
    keys = group_keys(frame, list(frame.columns))
    first = frame.groupby(keys, sort=False).head(1)
    answer = {}
    for i, row in zip(first.index, first.to_dict("records")):
        where = {k: (None if _is_null(v) else v) for k, v in row.items()}
        answer[tuple(k[i] for k in keys)] = bool(decide(where))
    return pd.Series([answer[t] for t in zip(*keys)], index=df.index, dtype=bool)


def _is_null(value) -> bool:
    """A missing scalar (None, NaN, NA); list values (``problem.h_diag``) are never null here."""
    if isinstance(value, str) or not hasattr(value, "__len__"):
        import pandas as pd

        return bool(pd.isna(value))
    return False


def rows_where(df, conditions, registry: Registry | None = None):
    """Boolean Series: the rows of ``df`` where ``conditions`` hold.

    ``conditions`` has the form of ``Metric.holds_for`` values (see
    :func:`regsim.components.conditions_hold`): slot keys read the plugin-name
    columns, ``<slot>.<param>`` keys the parameter columns, ``"task"`` the task
    of each row's problem (from the installed problem plugin).
    """
    import pandas as pd

    from .components import _alternatives, conditions_hold

    if conditions is None:
        return pd.Series(True, index=df.index, dtype=bool)
    keys = sorted({k for alt in _alternatives(conditions) for k in alt})
    return _each_configuration(df, keys, registry or get_registry(),
                               lambda where: conditions_hold(conditions, where))


def theory_metric(column: str, registry: Registry | None = None):
    """The installed metric class that writes ``column``, or ``None``."""
    registry = registry or get_registry()
    for name in registry.names("metric"):
        cls = registry.get("metric", name)
        if column in cls.columns:
            return cls
    return None


def theory_conditions(column: str, registry: Registry | None = None):
    """The conditions the installed metric writing ``column`` declares for it
    (``Metric.holds_for``), or ``None`` when it declares none or none writes it."""
    cls = theory_metric(column, registry)
    return None if cls is None else cls.holds_for.get(column)


def theory_rows(df, column: str, registry: Registry | None = None):
    """Boolean Series: rows with a value in theory ``column`` *and* where the metric that
    writes it says it holds (``Metric.holds``: its ``holds_for``, or its own override).
    The runner stores the column only there; the second test keeps results written
    before a declaration existed from being drawn or stated."""
    import pandas as pd

    from .components import Metric

    if column not in df:
        return pd.Series(False, index=df.index, dtype=bool)
    registry = registry or get_registry()
    cls = theory_metric(column, registry)
    filled = df[column].notna()
    if cls is None or (column not in cls.holds_for
                       and getattr(cls.holds, "__func__", None) is Metric.holds.__func__):
        return filled
    return filled & _each_configuration(df, parameter_columns(df), registry,
                                        lambda where: cls.holds(column, where))


def plot_rows(plot, df, registry: Registry | None = None):
    """The rows of ``df`` a figure may draw: where the conditions of its ``theory_columns``
    (their metrics' ``holds_for``) and its own ``holds_for`` hold."""
    columns = tuple(getattr(plot, "theory_columns", ()) or ())
    own = getattr(plot, "holds_for", None)
    if not columns and own is None:
        return df
    mask = rows_where(df, own, registry)
    for column in columns:
        if column in df:
            mask &= theory_rows(df, column, registry)
    return df[mask]


def _hashable(value):
    """List parameters (``learner.hidden: [12]``) as text, so they can be group keys."""
    if hasattr(value, "__len__") and not isinstance(value, str):
        return str(list(value))
    return value


def metric_summary(df):
    """Median of every metric present over the ``ok`` cells, grouped by the parameters that
    vary (with at most :data:`MAX_GROUP_VALUES` values). Returns ``(table, group_by, over)``."""
    ok = df[df["status"] == "ok"]
    metrics = metric_columns(ok)
    if not metrics or not len(ok):
        return None, [], []
    group, over = varying(ok, parameter_columns(ok))
    # a parameter that moves with one already kept (zip groups) adds no rows: leave it out
    text = ok[group].apply(lambda col: col.map(lambda v: str(_hashable(v))))
    kept, n_combos = [], 1
    for c in group:
        n = len(text[kept + [c]].drop_duplicates())
        if n > n_combos:
            kept.append(c)
            n_combos = n
    group = kept
    if not group:
        return ok[metrics].median().to_frame("median").T, group, over
    keys = ok[group].apply(lambda col: col.map(_hashable) if col.dtype == object else col)
    grouped = ok[metrics].groupby([keys[c] for c in group], dropna=False)
    table = grouped.median()
    table.insert(0, "cells", grouped.size())
    return table, group, over


def _manifests(df, root: Path) -> list[dict[str, Any]]:
    found = []
    for m in sorted(root.rglob(MANIFEST)) if root.is_dir() else []:
        try:
            info = json.loads(m.read_text())
        except (OSError, ValueError):
            continue
        if (info.get("run_id") in set(df["run_id"])) if "run_id" in df else True:
            found.append(info)
    return found


def _flow_run_link(flow_run_id: str | None) -> str:
    if not flow_run_id:
        return "—"
    ui = os.environ.get("PREFECT_UI_URL")
    if not ui and os.environ.get("PREFECT_API_URL", "").rstrip("/").endswith("/api"):
        ui = os.environ["PREFECT_API_URL"].rstrip("/")[:-4]
    if ui:
        url = f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}"
        return f'<a href="{html.escape(url)}">{html.escape(flow_run_id)}</a>'
    return html.escape(flow_run_id)


def _when(stamp: str | None) -> str:
    """An ISO timestamp from a manifest as ``2026-11-30 04:00:45 UTC``."""
    if not stamp:
        return "—"
    from datetime import datetime, timezone

    try:
        return datetime.fromisoformat(stamp).astimezone(timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return stamp


def _provenance(manifests: list[dict[str, Any]]) -> str:
    if not manifests:
        return "<p>No run manifest found.</p>"
    rows = []
    for m in manifests:
        versions = m.get("versions", {})
        plugins = ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in sorted(versions.items())
                            if k.startswith("plugin:"))
        libs = ", ".join(f"{k} {versions[k]}" for k in ("numpy", "pandas", "pyarrow", "prefect",
                                                        "python") if k in versions)
        cells = [m.get("sweep"), m.get("run_id"), _when(m.get("started")),
                 _when(m.get("finished")), m.get("status")]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
                    + f"<td>{_flow_run_link(m.get('flow_run_id'))}</td>"
                    + f"<td>{html.escape(str(versions.get('regsim', '?')))}</td>"
                    + f"<td><code>{html.escape(str(m.get('git_commit') or '—'))[:12]}</code></td>"
                    + f"<td>{html.escape(plugins)}</td><td>{html.escape(libs)}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("sweep", "run", "started", "finished", "status",
                                             "flow run", "regsim", "commit", "plugins",
                                             "libraries"))
    return f"<table><tr>{head}</tr>\n" + "\n".join(rows) + "</table>"


def _specs(manifests: list[dict[str, Any]]) -> str:
    import yaml

    latest: dict[str, dict] = {}
    for m in manifests:
        if m.get("spec") is not None and str(m.get("started")) >= str(
                latest.get(m.get("sweep"), {}).get("started", "")):
            latest[m.get("sweep")] = m
    out = []
    for name, m in sorted(latest.items(), key=lambda kv: str(kv[0])):
        text = yaml.safe_dump(m["spec"], sort_keys=False, allow_unicode=True)
        source = f" (from {html.escape(str(m['source']))})" if m.get("source") else ""
        out.append(f"<h3>{html.escape(str(name))}{source}, spec hash "
                   f"<code>{html.escape(str(m.get('spec_hash', '?')))}</code></h3>"
                   f"<pre>{html.escape(text)}</pre>")
    return "\n".join(out)


def _ordered_plots(registry: Registry) -> list[str]:
    names = registry.names("plot")
    first = [n for n in PLOT_ORDER if n in names]
    return first + [n for n in names if n not in first]


def write_report(results: str | Path, out_dir: str | Path | None = None,
                 registry: Registry | None = None, run: str | None = None) -> dict:
    """Write the page and every applicable figure for the results under ``results``.

    ``out_dir`` defaults to ``<results>/_report``; ``run`` picks runs (``"latest"``
    or a run id; see :func:`select_runs`). Returns ``{"index": path of index.html,
    "figures": [paths], "skipped": {plot name: reason}, "claims": [Claim]}``.
    """
    import matplotlib

    from .claims import ORDER
    from .claims import claims as build_claims

    matplotlib.use("Agg")
    registry = registry or get_registry()
    df = read_selected(results, run)
    out = Path(out_dir) if out_dir is not None else Path(results) / DEFAULT_REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    sections, figures, skipped = [], [], {}
    for name in _ordered_plots(registry):
        plot = registry.get("plot", name)()
        try:
            rows = plot_rows(plot, df, registry)  # only where the figure's theory holds
            reason = _skip_reason(plot, rows)
            if reason is None:
                with projector_style():
                    if hasattr(plot, "figure"):
                        paths = [save_figure(plot.figure(rows), out, name)]
                    else:  # a third-party plot that writes its own files
                        paths = [Path(p) for p in plot.draw(rows, out)]
        except Exception as exc:  # one broken figure never takes the page down
            reason = f"failed: {type(exc).__name__}: {exc}"
        if reason is not None:
            skipped[name] = reason
            continue
        figures.extend(paths)
        imgs = "\n".join(f'<img src="{html.escape(p.name)}" alt="{html.escape(name)}">'
                         for p in paths)
        doc = html.escape(" ".join((type(plot).__doc__ or "").split()))
        sections.append(f"<h3>{html.escape(plot.title or name)}</h3>\n<p>{doc}</p>\n{imgs}")

    sweeps = sorted(df["sweep"].dropna().unique()) if "sweep" in df else []
    if len(sweeps) > 1:  # a whole store: each sweep's claims, named
        found = []
        for name in sweeps:
            for claim in build_claims(df[df["sweep"] == name], registry):
                claim.text = f"{name}: {claim.text}"
                found.append(claim)
        found.sort(key=lambda c: ORDER.index(c.topic) if c.topic in ORDER else len(ORDER))
    else:
        found = build_claims(df, registry)
    title = ", ".join(sweeps) or "regsim results"
    root = select_runs(results, run)
    manifests = [m for r in root for m in _manifests(df, r)]
    claim_html = ("<ul class=claims>" + "".join(f"<li>{html.escape(c.text)}</li>" for c in found)
                  + "</ul>") if found else "<p>No claim of the seed has its columns here.</p>"
    skipped_html = ("<h3>Figures skipped</h3><ul>" + "".join(
        f"<li><code>{html.escape(n)}</code>: {html.escape(r)}</li>" for n, r in skipped.items())
        + "</ul>") if skipped else ""
    table = summary_table(df).to_html(index=False, float_format=lambda v: f"{v:.3g}")
    selection = f" (run: {html.escape(run)})" if run else ""
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)} — regsim report</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;font-size:17px}}
img{{max-width:100%;display:block;margin:1em 0}}ul.claims li{{margin:.5em 0;font-size:19px}}
table{{border-collapse:collapse;font-size:14px}}td,th{{padding:2px 8px;border:1px solid #ccc}}
pre{{background:#f6f6f6;padding:1em;overflow-x:auto}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Results: <code>{html.escape(str(results))}</code>{selection}; {len(df)} cells.</p>
<h2>What was measured</h2>
{claim_html}
<h2>Cells by status</h2>
{table}
<h2>Figures</h2>
{''.join(sections) or '<p>No figure applies to these results.</p>'}
{skipped_html}
<h2>Provenance</h2>
{_provenance(manifests)}
<h2>Spec</h2>
{_specs(manifests)}
</body></html>
"""
    index = out / "index.html"
    index.write_text(page)
    return {"index": index, "figures": figures, "skipped": skipped, "claims": found}
