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
            # each panel's own range: a softmax-regression gap of ~1e-16 and an MLP gap of
            # ~0.1 on one axis would flatten the latter against the top
            values = np.maximum(sub[["arith_max_abs_dp", "geom_max_abs_dp"]].to_numpy(float),
                                _FLOOR)
            low = max(_FLOOR / 3, float(np.nanmin(values)) / 30)
            ax.set_yscale("log")
            ax.set_ylim(low, max(10 * float(np.nanmax(values)), 1e-12))
            if low < _FLOOR:
                ax.axhline(_FLOOR, color="k", ls=":", lw=1.2)
                if learner == "softmax_regression":
                    ax.text(0.02, _FLOOR, " theory: geometric gap exactly 0",
                            transform=ax.get_yaxis_transform(), va="bottom")
            if low < np.finfo(float).eps:
                ax.axhline(np.finfo(float).eps, color="grey", ls="--", lw=1)
                ax.text(0.02, np.finfo(float).eps, " machine ε", transform=ax.get_yaxis_transform(),
                        va="top", ha="left", color="grey")
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


def noise_scheme(df):
    """Per row: ``(scheme, strength)`` with scheme one of "no noise", "Gaussian input
    noise" (strength σ), "input dropout", "hidden dropout" (strength: the DROP
    probability), or ``(None, nan)`` for rows that combine several."""
    def one(r):
        sigma = r.get("learner.input_noise", 0.0)
        d_in = r.get("ensembler.drop_input", 0.0)
        d_hid = r.get("ensembler.drop_hidden", 0.0)
        sigma, d_in, d_hid = (0.0 if v is None or v != v else float(v)
                              for v in (sigma, d_in, d_hid))
        active = [(name, v) for name, v in (("Gaussian input noise", sigma),
                                            ("input dropout", d_in),
                                            ("hidden dropout", d_hid)) if v > 0]
        if not active:
            return ("no noise", 0.0)
        return active[0] if len(active) == 1 else (None, np.nan)
    out = df.apply(one, axis=1, result_type="expand")
    out.columns = ["scheme", "strength"]
    return out


class DropoutVsNoise(_FigurePlot):
    """Test error (1 − accuracy) and log loss against the strength of each regulariser,
    one line per scheme (Gaussian input noise: σ; input / hidden dropout: the DROP
    probability), mean over seeds with a 95 % interval (±1.96 standard errors); the
    no-noise network is the grey band. Applies when results hold input-noise cells
    and dropout cells with accuracy."""

    name = "dropout_vs_noise"
    title = "Hidden-unit masking against unstructured input noise"
    required_columns = ("learner.input_noise", "accuracy", "log_loss", "status")

    def applies(self, df):
        if not set(self.required_columns) <= set(df.columns):
            return False
        ok = df[df["status"] == "ok"].dropna(subset=["accuracy"])
        return bool((ok["learner.input_noise"].fillna(0) > 0).any()) and len(ok) > 0

    def figure(self, df):
        rows = df[df["status"] == "ok"].dropna(subset=["accuracy", "log_loss"]).copy()
        rows[["scheme", "strength"]] = noise_scheme(rows)
        rows = rows.dropna(subset=["scheme"])
        rows["error"] = 1.0 - rows["accuracy"]
        fig, axes = figure_row(2)
        base = rows[rows["scheme"] == "no noise"]
        for ax, col, label in ((axes[0], "error", "test error (1 − accuracy)"),
                               (axes[1], "log_loss", "test log loss")):
            if len(base):
                mean, half = _mean_ci(base[col])
                ax.axhspan(mean - half, mean + half, color="grey", alpha=0.25)
                ax.axhline(mean, color="grey", lw=1.5, label="no noise (95 % CI)")
            for scheme in ("Gaussian input noise", "input dropout", "hidden dropout"):
                sub = rows[rows["scheme"] == scheme]
                if not len(sub):
                    continue
                stats = sub.groupby("strength")[col].agg(_mean_ci_pair)
                x = stats.index.to_numpy(float)
                mean = np.array([v[0] for v in stats])
                half = np.array([v[1] for v in stats])
                what = "σ" if scheme.startswith("Gaussian") else "drop prob."
                ax.errorbar(x, mean, yerr=half, fmt="o-", capsize=3, ms=4,
                            label=f"{scheme} (strength = {what})")
            ax.set_xlabel("strength: σ of the input noise, or the DROP probability")
            ax.set_ylabel(f"{label}\n(mean over seeds, 95 % CI)")
            ax.set_yscale("log")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2,
                   frameon=False)
        return fig


def _mean_ci(values) -> tuple[float, float]:
    """Mean and half-width of a normal 95 % interval (1.96 standard errors) over seeds."""
    v = np.asarray(values, dtype=float)
    half = 1.96 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0
    return float(v.mean()), float(half)


def _mean_ci_pair(values):
    return _mean_ci(values)


@regsim.hookimpl
def register_plots(register):
    for cls in (WeightScalingGap, MCConvergence, DropoutVsBagging, DropoutVsNoise):
        register(cls)
