"""Report figure for bagging: ensemble error against ensemble size k, with the theory curve."""

from __future__ import annotations


import numpy as np

import regsim
from regsim import Plot
from regsim.report import figure_row, legend_outside, group_keys, save_figure, varying_parameters

_ERROR = "ensemble_error"


def _bagged(df):
    need = {"ensembler", "ensembler.k", _ERROR, "bagging_theory", "bagging_c_over_v"}
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
    per learner. Lines: the seed's v/k + (k−1)c/k with v and c measured among the
    first k members at each k (mean over seeds), so where the identity is exact the
    points sit on the line. Dashed: the single learner fitted on all rows (cells
    with k = 1, bootstrap off, max_samples 1), when the sweep has them. A stable
    learner (c/v near 1) gains little; an unstable one (trees) gains a lot. Drawn
    only from cells where the identity holds (``bagging_theory``'s declaration: the
    arithmetic mean); one series per value of every other parameter that varies."""

    name = "bagging_error_vs_k"
    title = "Bagging: ensemble error against k"
    required_columns = ("ensembler", "ensembler.k", "learner", _ERROR, "bagging_theory",
                        "bagging_c_over_v")
    theory_columns = ("bagging_theory",)

    def applies(self, df):
        return len(_bagged(df)) > 0

    def draw(self, df, out_dir):
        return [save_figure(self.figure(df), out_dir, self.name)]

    def figure(self, df):
        from matplotlib.lines import Line2D

        rows = _bagged(df)
        learners = sorted(rows["learner"].unique())
        fig, axes = figure_row(len(learners))
        for ax, learner in zip(axes, learners):
            sub = rows[rows["learner"] == learner]
            single = _single_learner(sub)
            handles = [Line2D([], [], marker="o", ls="", mfc="none", color="0.3",
                              label="measured (inference strategy's error)"),
                       Line2D([], [], ls="-", color="k",
                              label="theory v/k + (k−1)c/k (arithmetic mean)")]
            if single.any():
                handles.append(ax.axhline(sub.loc[single, _ERROR].mean(), color="k", ls="--",
                                          lw=1.2, label="single learner (all rows)"))
            bagged = sub[~single]
            # one series per configuration that varies within the panel (k is the x axis)
            config_keys = varying_parameters(bagged, exclude=("ensembler.k", "learner"))
            text = dict(zip(config_keys, group_keys(bagged, config_keys)))
            groups = bagged.groupby([text[c] for c in config_keys]) if config_keys \
                else [("", bagged)]
            drawn = []  # theory curves already drawn (inference strategies share one)
            for i, (values, g) in enumerate(groups):
                values = values if isinstance(values, tuple) else (values,)
                label = ", ".join(f"{k}={v}" for k, v in zip(config_keys, values))
                colour = f"C{i}"
                by_k = g.groupby("ensembler.k")
                k = np.array(sorted(by_k.groups))
                theory = by_k["bagging_theory"].mean().loc[k].to_numpy()
                if not any(len(t) == len(theory) and np.allclose(t, theory) for t in drawn):
                    ax.plot(k, theory, "-", color=colour if i else "k", zorder=2)
                    drawn.append(theory)
                ax.plot(k, by_k[_ERROR].mean().loc[k].to_numpy(), "o", ms=7, mfc="none",
                        mew=1.8, color=colour, zorder=3)
                ratio = g.loc[g["ensembler.k"] == k.max(), "bagging_c_over_v"].mean()
                handles.append(Line2D([], [], marker="o", ls="", mfc="none", color=colour,
                                      label=(f"{label}, " if label else "")
                                      + f"c/v = {ratio:.2f} at k = {k.max()}"))
            ax.set_xlabel("ensemble size ensembler.k")
            ax.set_ylabel("test squared error\n(mean over seeds)")
            ax.set_title(learner)
            legend_outside(ax, handles=handles)
        return fig


@regsim.hookimpl
def register_plots(register):
    register(BaggingErrorVsK)
