"""``regsim report``: figures from a result set, plus a small static HTML page.

Figures are plugins (``register_plots``): each says whether a result set has
what it needs (``applies``) and draws PNG files (``draw``). The page lists the
figures and a status summary; it needs no server and no JavaScript.
"""

from __future__ import annotations

import html
from pathlib import Path

from .registry import Registry, get_registry
from .store import read_results

__all__ = ["write_report", "summary_table", "figure_row", "save_figure"]


def figure_row(n_panels: int, width: float = 4.8, height: float = 3.8):
    """A matplotlib figure with ``n_panels`` axes side by side; returns ``(fig, axes)``.

    ``axes`` is always a 1-d array, even for one panel. For plot plugins.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, n_panels, figsize=(width * n_panels, height), squeeze=False)
    return fig, axes[0]


def save_figure(fig, out_dir: str | Path, name: str) -> Path:
    """Save a matplotlib figure as ``<out_dir>/<name>.png`` (tight layout, 110 dpi) and close it.

    For plot plugins, so every figure of a report looks alike.
    """
    import matplotlib.pyplot as plt

    path = Path(out_dir) / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summary_table(df):
    """Cells per sweep and run by status, with wall time."""
    counts = df.groupby(["sweep", "run_id", "status"]).size().unstack("status", fill_value=0)
    for status in ("ok", "error", "diverged"):
        if status not in counts:
            counts[status] = 0
    counts["cells"] = counts[["ok", "error", "diverged"]].sum(axis=1)
    counts["wall_s"] = df.groupby(["sweep", "run_id"])["wall_s"].sum()
    return counts[["cells", "ok", "error", "diverged", "wall_s"]]


def write_report(results: str | Path, out_dir: str | Path,
                 registry: Registry | None = None) -> dict:
    """Draw every applicable figure for the results under ``results`` into ``out_dir``.

    Returns ``{"index": path of index.html, "figures": [paths], "skipped": [plot names]}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    registry = registry or get_registry()
    df = read_results(results)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections, figures, skipped = [], [], []
    for name in registry.names("plot"):
        plot = registry.get("plot", name)()
        if not plot.applies(df):
            skipped.append(name)
            continue
        paths = [Path(p) for p in plot.draw(df, out)]
        figures.extend(paths)
        imgs = "\n".join(f'<img src="{html.escape(p.name)}" alt="{html.escape(name)}">' for p in paths)
        doc = html.escape((type(plot).__doc__ or "").strip())
        sections.append(f"<h2>{html.escape(plot.title or name)}</h2>\n<p>{doc}</p>\n{imgs}")
    table = summary_table(df).to_html(float_format=lambda v: f"{v:.3g}")
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>regsim report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}img{{max-width:100%}}
table{{border-collapse:collapse}}td,th{{padding:2px 8px;border:1px solid #ccc}}</style></head>
<body><h1>regsim report</h1><p>Results: {html.escape(str(results))}</p>
{table}
{''.join(sections) or '<p>No figure applies to these results.</p>'}
</body></html>
"""
    index = out / "index.html"
    index.write_text(page)
    return {"index": index, "figures": figures, "skipped": skipped}
