"""Report figures for dropout: weight scaling against the exact ensembles, Monte Carlo
convergence, and dropout against bagging at equal training cost."""

from __future__ import annotations


import numpy as np

import regsim
from regsim import Plot
from regsim.report import figure_row, legend_outside, group_keys, save_figure, varying_parameters

_FLOOR = 1e-17  # exact zeros on a log axis


def _rows(df, inference: tuple[str, ...], *columns: str):
    need = {"ensembler", "inference", "status", *columns}
    if not need <= set(df.columns):
        return df.iloc[0:0]
    sub = df[(df["ensembler"] == "dropout") & df["inference"].isin(inference)
             & (df["status"] == "ok")]
    return sub.dropna(subset=list(columns))


def _drop_axis(sub) -> str:
    """The drop probability that varies in ``sub`` (hidden first for MLPs)."""
    for col in ("ensembler.drop_hidden", "ensembler.drop_input"):
        if col in sub and sub[col].nunique() > 1 and not (
                col == "ensembler.drop_hidden" and (sub["learner"] == "softmax_regression").all()):
            return col
    return "ensembler.drop_input"



class _FigurePlot(Plot):
    """A plot built as a matplotlib Figure (``figure(df)``); ``draw`` saves it as a PNG."""

    def draw(self, df, out_dir):
        return [save_figure(self.figure(df), out_dir, self.name)]


class WeightScalingGap(_FigurePlot):
    """Max |Δp| between weight scaling and the exact arithmetic (solid) and geometric
    (dashed) ensembles against the drop probability, median over seeds, one panel per
    learner: for softmax regression the geometric gap is zero to rounding (the seed's
    exact result), for an MLP both gaps are measured."""

    name = "dropout_weight_scaling_gap"
    title = "Dropout: weight scaling against the exact ensembles"
    required_columns = ("ensembler", "inference", "learner", "arith_max_abs_dp",
                        "geom_max_abs_dp")

    def applies(self, df):
        return len(_rows(df, ("weight_scaling",), "arith_max_abs_dp", "geom_max_abs_dp")) > 0

    def figure(self, df):
        rows = _rows(df, ("weight_scaling",), "arith_max_abs_dp", "geom_max_abs_dp")
        learners = sorted(rows["learner"].unique())
        fig, axes = figure_row(len(learners))
        for ax, learner in zip(axes, learners):
            sub = rows[rows["learner"] == learner]
            x = _drop_axis(sub)
            others = varying_parameters(sub, exclude=(x,))
            text = dict(zip(others, group_keys(sub, others)))
            groups = sub.groupby([text[c] for c in others]) if others else [((), sub)]
            for values, g in groups:
                values = values if isinstance(values, tuple) else (values,)
                label = ", ".join(f"{k}={v}" for k, v in zip(others, values))
                med = g.groupby(x)[["arith_max_abs_dp", "geom_max_abs_dp"]].median()
                line, = ax.plot(med.index, np.maximum(med["arith_max_abs_dp"], _FLOOR), "o-",
                                label=f"measured: vs exact arithmetic mean {label}".strip())
                ax.plot(med.index, np.maximum(med["geom_max_abs_dp"], _FLOOR), "s--",
                        color=line.get_color(),
                        label=f"measured: vs exact geometric mean {label}".strip())
            ax.axhline(_FLOOR, color="k", ls=":", lw=1.2)
            if learner == "softmax_regression":
                ax.text(0.02, _FLOOR, " theory: geometric gap exactly 0",
                        transform=ax.get_yaxis_transform(), va="bottom")
            ax.axhline(np.finfo(float).eps, color="grey", ls="--", lw=1)
            ax.set_yscale("log")
            ax.set_ylim(_FLOOR / 3, 10)
            ax.set_xlabel(f"{x} (drop probability)")
            ax.set_ylabel("max |p_weight_scaling − p_exact|\n(median over seeds)")
            ax.set_title(learner)
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
        return fig


class MCConvergence(_FigurePlot):
    """RMS error of the Monte Carlo arithmetic and geometric means against the exact
    means, against the number of sampled masks (median over seeds), with the
    1/√m slope for reference."""

    name = "dropout_mc_convergence"
    title = "Dropout: Monte Carlo convergence"
    required_columns = ("ensembler", "inference", "learner", "mc_rms_error",
                        "inference.n_masks")

    def applies(self, df):
        return len(_rows(df, ("mc_arithmetic", "mc_geometric"), "mc_rms_error",
                         "inference.n_masks")) > 0

    def figure(self, df):
        import matplotlib.pyplot as plt

        rows = _rows(df, ("mc_arithmetic", "mc_geometric"), "mc_rms_error", "inference.n_masks")
        strategies = sorted(rows["inference"].unique())
        fig, axes = plt.subplots(1, len(strategies), figsize=(5.6 * len(strategies), 4.6),
                                 squeeze=False, sharey=True)
        # one line per learner and every other parameter that varies (n_masks is the x axis)
        keys = varying_parameters(rows, exclude=("inference", "inference.n_masks"),
                                  first=("learner",))
        keys = keys if keys[:1] == ["learner"] else ["learner"] + keys
        for ax, strategy in zip(axes[0], strategies):
            sub = rows[rows["inference"] == strategy]
            first = None
            text = dict(zip(keys, group_keys(sub, keys)))
            for values, g in sub.groupby([text[k] for k in keys]):
                values = values if isinstance(values, tuple) else (values,)
                med = g.groupby("inference.n_masks")["mc_rms_error"].median()
                label = " ".join([str(values[0])] + [
                    f"{k.split('.')[-1]}={v}" for k, v in zip(keys[1:], values[1:])
                    if not (k.endswith("hidden") and values[0] == "softmax_regression")])
                ax.plot(med.index, med.to_numpy(), "o-", ms=5, lw=1.2, label=label)
                first = first if first is not None else med
            m = first.index.to_numpy(dtype=float)
            ax.plot(m, first.iloc[0] * np.sqrt(m[0] / m), "k:", lw=2.5,
                    label="theory ∝ 1/√m")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("inference.n_masks (m)")
            ax.set_ylabel("RMS |p_MC − p_exact|\n(median over seeds)")
            ax.set_title(f"{strategy}\nagainst its exact mean")
        legend_outside(axes[0][-1], title="measured")
        return fig


class DropoutVsBagging(_FigurePlot):
    """Test error against training cost for every dropout and bagging cell (cost: examples
    processed in training when both record it, else wall time per cell): which buys
    lower error at equal compute. Applies when results hold both ensemblers."""

    name = "dropout_vs_bagging"
    title = "Dropout against bagging at equal training cost"
    required_columns = ("ensembler", "inference", "accuracy")

    def applies(self, df):
        if "ensembler" not in df or "accuracy" not in df:
            return False
        kinds = set(df.loc[df["status"] == "ok", "ensembler"].dropna())
        return {"dropout", "bagging"} <= kinds

    def figure(self, df):
        import matplotlib.pyplot as plt

        rows = df[df["ensembler"].isin(["dropout", "bagging"]) & (df["status"] == "ok")]
        rows = rows.dropna(subset=["accuracy"])
        cost = "wall_s"
        if "train_examples" in rows and rows.groupby("ensembler")["train_examples"].count().min() > 0:
            cost = "train_examples"
        fig, axes = plt.subplots(1, 2, figsize=(13, 5.0))
        labels, errors = [], []
        for (ens, inf), g in rows.groupby(["ensembler", "inference"], dropna=False):
            labels.append(f"{ens} / {inf}")
            errors.append(1 - g["accuracy"].to_numpy())
            g = g.dropna(subset=[cost])
            axes[0].plot(g[cost], 1 - g["accuracy"], "o", ms=4, alpha=0.7, label=labels[-1])
        axes[1].boxplot(errors)
        axes[1].set_xticks(range(1, len(labels) + 1), labels, rotation=20, ha="right")
        axes[0].set_xscale("log")
        axes[0].set_xlabel({"wall_s": "wall time per cell (s)",
                            "train_examples": "training examples processed"}[cost])
        axes[0].set_ylabel("test error (1 − accuracy)")
        axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False)
        axes[1].set_ylabel("test error (1 − accuracy)")
        return fig


@regsim.hookimpl
def register_plots(register):
    for cls in (WeightScalingGap, MCConvergence, DropoutVsBagging):
        register(cls)
