"""The elastic-net path figure: measured coefficients (points) and the theory (lines) against α."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from regsim import Plot

#: At most this many l1_ratio panels.
_MAX_PANELS = 4


def _rows(df):
    needed = {"penalty", "status", "penalty.alpha", "penalty.l1_ratio", "w"}
    if not needed <= set(df.columns):
        return df.iloc[0:0]
    sub = df[(df["penalty"] == "elastic_net") & (df["status"] == "ok")]
    return sub.dropna(subset=["w", "penalty.alpha"])


class ElasticNetPath(Plot):
    """Coefficients w̃ᵢ against α, one panel per l1_ratio (first seed, first problem setting):
    measured optimum as points, the diagonal-Hessian theory
    soft_threshold(Hᵢᵢwᵢ*, αρ)/(Hᵢᵢ + α(1−ρ)) as lines."""

    name = "elastic_net_path"
    title = "Elastic net: coefficient paths, measured and theory"

    def applies(self, df):
        return bool(len(_rows(df)) > 0)

    def draw(self, df, out_dir):
        import matplotlib.pyplot as plt

        rows = _rows(df)
        rows = rows[rows["seed"] == rows["seed"].min()]
        # one problem instance (the first problem setting), so the lines are comparable
        problem = [c for c in rows.columns if c == "problem" or c.startswith("problem.")]
        setting = rows[problem].apply(lambda r: "|".join(map(str, r)), axis=1)  # nulls too
        rows = rows[setting == setting.iloc[0]]
        ratios = sorted(rows["penalty.l1_ratio"].unique())[:_MAX_PANELS]
        fig, axes = plt.subplots(1, len(ratios), figsize=(4.6 * len(ratios), 3.6), squeeze=False)
        for ax, ratio in zip(axes[0], ratios):
            sub = rows[rows["penalty.l1_ratio"] == ratio].sort_values("penalty.alpha")
            alpha = sub["penalty.alpha"].to_numpy(dtype=float)
            W = np.array(sub["w"].tolist(), dtype=float)  # (m, d)
            colours = plt.cm.viridis(np.linspace(0, 0.9, W.shape[1]))
            has_theory = "w_theory" in sub and sub["w_theory"].notna().all()
            theory = np.array(sub["w_theory"].tolist(), dtype=float) if has_theory else None
            for i, colour in enumerate(colours):
                ax.plot(alpha, W[:, i], "o", ms=3, color=colour)
                if theory is not None:
                    ax.plot(alpha, theory[:, i], "-", lw=1, color=colour)
            ax.set_xscale("log")
            ax.set_xlabel("α")
            ax.set_ylabel("w̃ᵢ")
            ax.set_title(f"l1_ratio = {ratio:g}")
        fig.suptitle("points: measured optimum; lines: diagonal-H theory", fontsize=9)
        fig.tight_layout()
        path = Path(out_dir) / "elastic_net_path.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return [path]
