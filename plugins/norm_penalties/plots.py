"""Built-in report figures for the parameter-norm penalties: measured points, theory lines."""

from __future__ import annotations

import textwrap

import numpy as np

import regsim
from regsim import Plot
from regsim.report import figure_row, legend_outside, group_keys, save_figure, varying_parameters

#: At most this many panels (problem configurations) per figure.
_MAX_PANELS = 4
#: Where a relative gap of exactly 0 is drawn on a log axis.
_GAP_FLOOR = 1e-17


def _proxies(measured: str, theory: str, colour: str = "0.3"):
    """Legend entries that say which marks are measured and which are theory."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], marker="o", ls="", mfc="none", mew=1.5, color=colour, label=measured),
            Line2D([], [], ls="-", color=colour, label=theory)]


class _FigurePlot(Plot):
    """A plot built as a matplotlib Figure (``figure(df)``); ``draw`` saves it as a PNG."""

    def draw(self, df, out_dir):
        return [save_figure(self.figure(df), out_dir, self.name)]


def _ok(df, penalty: str, *columns: str):
    if "penalty" not in df or not set(columns) <= set(df.columns):
        return df.iloc[0:0]
    sub = df[(df["penalty"] == penalty) & (df["status"] == "ok")]
    return sub.dropna(subset=list(columns))


def _panels(df):
    """Rows split by every parameter that varies besides α (one panel each), first seed only."""
    keys = varying_parameters(df, exclude=("penalty.alpha",))
    seed = df["seed"].min()
    df = df[df["seed"] == seed]
    if not keys:
        return [("", df)]
    groups = []
    text = dict(zip(keys, group_keys(df, keys)))
    for values, sub in df.groupby([text[k] for k in keys], sort=True):
        values = values if isinstance(values, tuple) else (values,)
        label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(keys, values))
        groups.append((label, sub))
    return groups[:_MAX_PANELS]




class L2Shrinkage(_FigurePlot):
    """Measured shrinkage of w* along eigenvectors of H (points) against α, with the
    theory λᵢ/(λᵢ+α) (lines); one panel per problem configuration, first seed."""

    name = "l2_shrinkage"
    title = "L2: shrinkage per eigen-direction"
    required_columns = ("penalty", "penalty.alpha", "shrinkage_measured", "eigenvalues")
    theory_columns = ("shrinkage_theory",)

    def applies(self, df):
        return len(_ok(df, "l2", "shrinkage_measured", "eigenvalues")) > 0

    def figure(self, df):
        import matplotlib.pyplot as plt

        panels = _panels(_ok(df, "l2", "shrinkage_measured", "eigenvalues"))
        fig, axes = figure_row(len(panels))
        for ax, (label, sub) in zip(axes, panels):
            sub = sub.sort_values("penalty.alpha")
            alpha = sub["penalty.alpha"].to_numpy()
            measured = np.array(sub["shrinkage_measured"].tolist(), dtype=float)
            lam = np.asarray(sub["eigenvalues"].iloc[0], dtype=float)
            picks = np.unique(np.linspace(0, lam.size - 1, min(5, lam.size)).astype(int))
            grid = np.geomspace(alpha.min(), alpha.max(), 200) if alpha.min() > 0 else alpha
            colours = plt.cm.viridis(np.linspace(0, 0.85, picks.size))
            handles = _proxies("measured", "theory λᵢ/(λᵢ+α)")
            for colour, i in zip(colours, picks):
                ax.plot(grid, lam[i] / (lam[i] + grid), "-", color=colour, zorder=2)
                handles.append(ax.plot(alpha, measured[:, i], "o", color=colour, zorder=3,
                                       mfc="none", mew=1.5, label=f"λ = {lam[i]:.3g}")[0])
            ax.set_xscale("log" if alpha.min() > 0 else "linear")
            ax.set_xlabel("penalty.alpha (α)")
            ax.set_ylabel("shrinkage (qᵢᵀw̃)/(qᵢᵀw*)")
            title = label if label else "L2, least squares"
            if picks.size < lam.size:  # say that the other directions are not drawn
                title += f" ({picks.size} of {lam.size} eigendirections)"
            ax.set_title(textwrap.fill(title, 40))
            # each panel has its own eigenvalues: its own legend, below it
            ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=2,
                      frameon=False)
        return fig


class L1SoftThreshold(_FigurePlot):
    """Left: every weight of every α in soft-threshold units, u = w*ᵢHᵢᵢ/α against
    w̃ᵢHᵢᵢ/α (points, measured), where the theory is the black line
    sign(u)·max(|u|−1, 0) (exact for a diagonal H). Right: fraction of exact zeros
    against α, measured (points) and predicted by the soft threshold (dashed lines)."""

    name = "l1_soft_threshold"
    title = "L1: soft threshold and sparsity"
    required_columns = ("penalty", "penalty.alpha", "w", "w_star", "h_diag", "sparsity")
    theory_columns = ("w_theory",)

    def applies(self, df):
        return len(_ok(df, "l1", "w", "w_star", "h_diag", "sparsity")) > 0

    def figure(self, df):
        from matplotlib.lines import Line2D

        rows = _ok(df, "l1", "w", "w_star", "h_diag", "sparsity")
        panels = _panels(rows)
        fig, axes = figure_row(2, height=4.8)
        u_max = 0.0  # the 95th percentile of |u| over panels sets the zoom
        colours = [f"C{i}" for i in range(len(panels))]
        one = len(panels) == 1
        for colour, (label, sub) in zip(colours, panels):
            alpha = sub["penalty.alpha"].to_numpy()[:, None]
            h = np.array(sub["h_diag"].tolist(), dtype=float)
            w = np.array(sub["w"].tolist(), dtype=float)
            w_star = np.array(sub["w_star"].tolist(), dtype=float)
            keep = alpha[:, 0] > 0
            u = (w_star * h / alpha)[keep].ravel()
            v = (w * h / alpha)[keep].ravel()
            u_max = max(u_max, np.percentile(np.abs(u), 95) if u.size else 0)
            # points above the theory line (zorder), or exact agreement hides them
            axes[0].plot(u, v, "o", ms=5, mfc="none", alpha=0.7, color=colour, zorder=3,
                         label=f"measured {label}".strip())
            order = np.argsort(alpha[:, 0])
            axes[1].plot(alpha[order, 0], sub["sparsity"].to_numpy()[order], "o", mfc="none",
                         mew=1.5, color=colour, label=f"measured {label}".strip(), zorder=3)
            if "w_theory" in sub and sub["w_theory"].notna().all():
                w_th = np.array(sub["w_theory"].tolist(), dtype=float)
                axes[1].plot(alpha[order, 0], np.mean(w_th == 0, axis=1)[order], "--",
                             color="k" if one else colour, zorder=2,
                             label=f"theory {label}".strip())
        # Zoom on the threshold: beyond a few units the line is just v = u − 1.
        lim = min(max(u_max, 2.0), 6.0)
        line = np.linspace(-lim, lim, 200)
        axes[0].plot(line, np.sign(line) * np.maximum(np.abs(line) - 1, 0), "k-", lw=1.5,
                     label="theory sign(u)·max(|u|−1, 0)", zorder=2)
        axes[0].set_xlim(-lim, lim)
        axes[0].set_ylim(-lim, lim)
        axes[0].set_xlabel("u = w*ᵢ Hᵢᵢ / α")
        axes[0].set_ylabel("w̃ᵢ Hᵢᵢ / α")
        axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
        axes[1].set_xscale("log")
        axes[1].set_xlabel("penalty.alpha (α)")
        axes[1].set_ylabel("fraction of exact zeros")
        axes[1].set_ylim(-0.03, 1.03)
        handles, _ = axes[1].get_legend_handles_labels()
        if not one:
            handles = [Line2D([], [], marker="o", ls="", mfc="none", color="0.3",
                              label="measured"),
                       Line2D([], [], ls="--", color="0.3", label="theory (soft threshold)")
                       ] + [h for h in handles if h.get_label().startswith("measured ")]
        legend_outside(axes[1], handles=handles)
        axes[0].set_title("every weight and α (first seed)")
        axes[1].set_title("sparsity (first seed)")
        return fig


class TheoryGap(_FigurePlot):
    """Median relative gap ‖w̃ − w̃_theory‖/‖w̃_theory‖ over seeds against the penalty
    strength, one line per penalty and problem configuration: near machine
    precision where the theory is exact, a measured gap where it is not."""

    name = "theory_gap"
    title = "Gap between measured optimum and theory"
    required_columns = ("penalty", "penalty.alpha", "theory_gap")
    theory_columns = ("theory_gap",)

    def applies(self, df):
        return ("status" in df and len(df[(df["status"] == "ok")
                                          & df["theory_gap"].notna()]) > 0)

    def figure(self, df):
        rows = df[(df["status"] == "ok") & df["theory_gap"].notna()]
        keys = varying_parameters(rows, exclude=("penalty.alpha",), first=("penalty",))
        keys = keys if keys[:1] == ["penalty"] else ["penalty"] + keys
        fig, axes = figure_row(1, width=7.5, height=5.0)
        ax = axes[0]
        top = 0.0
        text = dict(zip(keys, group_keys(rows, keys)))
        for values, sub in rows.groupby([text[k] for k in keys]):
            values = values if isinstance(values, tuple) else (values,)
            med = sub.groupby("penalty.alpha")["theory_gap"].median()
            label = ", ".join(str(v) if k == "penalty" else f"{k.split('.')[-1]}={v}"
                              for k, v in zip(keys, values))
            # an exact 0 cannot sit on a log axis: it is drawn on the floor line
            ax.plot(med.index, np.maximum(med.to_numpy(), _GAP_FLOOR), "o-", ms=5,
                    label=f"measured: {label}")
            top = max(top, float(np.nanmax(med.to_numpy())))
        ax.axhline(np.finfo(float).eps, color="grey", lw=1, ls="--")
        ax.text(0.01, np.finfo(float).eps, " machine ε", transform=ax.get_yaxis_transform(),
                va="bottom", color="grey")
        ax.axhline(_GAP_FLOOR, color="k", lw=1, ls=":")
        ax.text(0.01, _GAP_FLOOR, " exactly 0 (theory)", transform=ax.get_yaxis_transform(),
                va="bottom", color="k")
        ax.set_xscale("log")
        ax.set_yscale("log")
        # at least a few decades, so a curve at rounding level reads as such
        ax.set_ylim(_GAP_FLOOR / 3, max(10 * top, 1e-12))
        ax.set_xlabel("penalty.alpha (α)")
        ax.set_ylabel("relative gap to theory\n(median over seeds)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
        return fig


@regsim.hookimpl
def register_plots(register):
    for cls in (L2Shrinkage, L1SoftThreshold, TheoryGap):
        register(cls)
