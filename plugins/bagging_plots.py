"""Report figure for bagging: ensemble error against ensemble size k, with the theory curve."""

from __future__ import annotations


import numpy as np

import regsim
from regsim import Plot
from regsim.report import figure_row, save_figure

_ERROR = "ensemble_error"


def _bagged(df):
    need = {"ensembler", "ensembler.k", _ERROR, "bagging_v", "bagging_c"}
    if not need <= set(df.columns):
        return df.iloc[0:0]
    return df[(df["ensembler"] == "bagging") & (df["status"] == "ok")].dropna(subset=[_ERROR])


def _single_learner(sub):
    """Rows that are the single learner on all rows: k = 1, no bootstrap, max_samples = 1."""
    mask = sub["ensembler.k"] == 1
    if "ensembler.bootstrap" in sub:
        mask &= sub["ensembler.bootstrap"] == False  # noqa: E712 (pandas element-wise)
    if "ensembler.max_samples" in sub:
        mask &= sub["ensembler.max_samples"] == 1.0
    return mask


class BaggingErrorVsK(Plot):
    """Test error of the bagged ensemble against k (points: mean over seeds), one panel
    per learner. Lines: the seed's v/k + (k−1)c/k with v and c measured on all k_max
    members (mean over seeds). Dashed: the single learner fitted on all rows (cells
    with k = 1, bootstrap off, max_samples 1), when the sweep has them. A stable
    learner (c/v near 1) gains little; an unstable one (trees) gains a lot."""

    name = "bagging_error_vs_k"
    title = "Bagging: ensemble error against k"

    def applies(self, df):
        return len(_bagged(df)) > 0

    def draw(self, df, out_dir):
        rows = _bagged(df)
        learners = sorted(rows["learner"].unique())
        fig, axes = figure_row(len(learners))
        for ax, learner in zip(axes, learners):
            sub = rows[rows["learner"] == learner]
            single = _single_learner(sub)
            if single.any():
                ax.axhline(sub.loc[single, _ERROR].mean(), color="k", ls="--", lw=1,
                           label="single learner (all rows)")
            bagged = sub[~single]
            # one series per configuration that varies within the panel (k is the x axis)
            config_keys = [c for c in bagged.columns
                           if (c.startswith(("problem.", "penalty.", "ensembler.", "learner."))
                               or c in ("problem", "penalty", "inference"))
                           and c != "ensembler.k" and bagged[c].astype(str).nunique() > 1]
            groups = bagged.groupby(config_keys, dropna=False) if config_keys else [("", bagged)]
            for values, g in groups:
                values = values if isinstance(values, tuple) else (values,)
                label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(config_keys, values))
                by_k = g.groupby("ensembler.k")
                k = np.array(sorted(by_k.groups))
                line, = ax.plot(k, by_k[_ERROR].mean().loc[k].to_numpy(), "o", ms=4,
                                label=f"measured {label}".strip())
                top = g[g["ensembler.k"] == k.max()]
                v, c = top["bagging_v"].mean(), top["bagging_c"].mean()
                if k.max() > 1 and np.isfinite(c):
                    grid = np.linspace(1, k.max(), 200)
                    ax.plot(grid, v / grid + (grid - 1) * c / grid, "-", lw=1.2,
                            color=line.get_color(), label=f"v/k+(k−1)c/k, c/v={c / v:.2f}")
            ax.set_xlabel("ensemble size k")
            ax.set_ylabel("test squared error (mean over seeds)")
            ax.set_title(learner, fontsize=10)
            ax.legend(fontsize=7)
        return [save_figure(fig, out_dir, self.name)]


@regsim.hookimpl
def register_plots(register):
    register(BaggingErrorVsK)
