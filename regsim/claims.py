"""Each claim of the seed as one sentence with the number the result set measured.

The report page and the flow run's markdown artifact print the same sentences.
Claims are ordered as in the seed (L2, L1, bagging, dropout); a claim whose
columns are absent from the result set is left out (the page says which
figures were skipped and why). Only cells with ``status == "ok"`` count.

A theory is stated only from rows where its declaration holds
(``Metric.holds_for``; :func:`regsim.report.theory_rows`). A sentence that
states a mean or a median is split by every parameter that varies among its
rows (:func:`regsim.report.varying_parameters`, plugins' own parameters
included), one sentence per configuration; a sentence that states a bound over
every cell (a max: L2 shrinkage, L1 on a diagonal H, dropout with softmax
regression) pools them, as a bound may.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Claim", "claims", "format_number", "ORDER", "COLUMNS"]

#: Claims in the order of the seed.
ORDER = ("l2", "l1", "bagging", "dropout")

#: Every column the claims read (a reader may load only these).
COLUMNS = ("status", "problem", "problem.design", "learner", "penalty", "ensembler",
           "inference", "ensembler.k", "ensembler.bootstrap", "ensembler.max_samples",
           "ensembler.drop_input", "ensembler.drop_hidden", "shrinkage_measured",
           "shrinkage_theory", "w", "w_theory", "theory_gap", "ensemble_error",
           "mean_ensemble_error", "bagging_theory", "bagging_c_over_v", "accuracy",
           "geom_max_abs_dp", "learner.n_epochs", "dropout_l2_gap", "l2_equal_gap",
           "learner.input_noise", "log_loss")


@dataclass
class Claim:
    """One sentence about one claim of the seed.

    ``topic`` is one of :data:`ORDER`; ``subject`` says which configuration
    (e.g. the learner); ``values`` holds every number the sentence prints,
    unrounded, and ``n_cells`` the cells it summarises.
    """

    topic: str
    subject: str
    text: str
    n_cells: int
    values: dict[str, float] = field(default_factory=dict)


def format_number(value: float) -> str:
    """How every claim prints a number: 3 significant digits (``3.84e-15``, ``0.513``)."""
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:.3g}"


def _ok(df, **equal):
    if "status" not in df:
        return df.iloc[0:0]
    mask = df["status"] == "ok"
    for col, value in equal.items():
        if col not in df:
            return df.iloc[0:0]
        mask &= df[col] == value
    return df[mask]


def _has(df, *columns) -> bool:
    return set(columns) <= set(df.columns) and all(df[c].notna().any() for c in columns)


def _max_list_gap(a, b) -> float:
    """max |a − b| over all cells and entries of two list columns (NaN-aware)."""
    gaps = [np.nanmax(np.abs(np.asarray(x, float) - np.asarray(y, float)))
            for x, y in zip(a, b) if x is not None and y is not None and len(x)]
    gaps = [g for g in gaps if np.isfinite(g)]
    return float(max(gaps)) if gaps else float("nan")


def _configurations(sub, exclude) -> list[tuple[str, object]]:
    """``(label, rows)`` for every combination of the parameters that vary in ``sub``
    besides ``exclude`` (plugins' own parameters included); ``[("", sub)]`` when none does."""
    from .report import group_keys, varying_parameters

    keys = varying_parameters(sub, exclude=exclude)
    if not keys:
        return [("", sub)]
    out = []
    for values, g in sub.groupby(group_keys(sub, keys), sort=True):
        values = values if isinstance(values, tuple) else (values,)
        out.append((", ".join(f"{k}={v}" for k, v in zip(keys, values)), g))
    return out


def _with(subject: str, label: str) -> str:
    return f"{subject}, {label}" if label else subject


def _where_theory_holds(rows, column: str, registry):
    from .report import theory_rows

    return rows[theory_rows(rows, column, registry)] if column in rows else rows.iloc[0:0]


def _l2(df, registry=None) -> list[Claim]:
    rows = _ok(df, penalty="l2")
    if not _has(rows, "shrinkage_measured", "shrinkage_theory"):
        return []
    rows = _where_theory_holds(rows, "shrinkage_theory", registry).dropna(
        subset=["shrinkage_measured"])
    out = []
    # a bound over every cell (a max), not an average: nothing is pooled away by not splitting
    for learner, sub in rows.groupby("learner", sort=True):
        gap = _max_list_gap(sub["shrinkage_measured"], sub["shrinkage_theory"])
        out.append(Claim("l2", learner,
                         f"L2 with {learner}: measured shrinkage equals λᵢ/(λᵢ+α) to "
                         f"{format_number(gap)} (max |measured − theory| over {len(sub)} cells).",
                         len(sub), {"max_abs_gap": gap}))
    return out


def _l1(df, registry=None) -> list[Claim]:
    rows = _ok(df, penalty="l1")
    if len(rows) == 0:
        return []
    design = "problem.design" if "problem.design" in rows else None
    out = []
    keys = ["problem"] + ([design] if design else [])
    groups = list(rows.groupby(keys, sort=True, dropna=False))
    # where the theory is exact (orthogonal design) first, then where it is an approximation
    groups.sort(key=lambda item: design is None or item[0][-1] != "orthogonal")
    # A median of gaps is split by every other parameter that varies (one sentence each);
    # the exact statement on a diagonal H is a bound over every cell (a max) and is not.
    split = []
    for values, by_design in groups:
        exact = design is not None and (values if isinstance(values, tuple) else (values,))[-1] \
            == "orthogonal" and _has(by_design, "w", "w_theory")
        configurations = [("", by_design)] if exact else _configurations(
            by_design, tuple(keys) + ("penalty", "penalty.alpha"))
        split.extend((values, label, sub) for label, sub in configurations)
    for values, label, sub in split:
        values = values if isinstance(values, tuple) else (values,)
        where = values[0] + (f", {values[1]} design" if design and isinstance(values[1], str)
                             else "")
        where = _with(where, label)
        orthogonal = design is not None and values[-1] == "orthogonal"
        if orthogonal and _has(sub, "w", "w_theory"):
            sub = _where_theory_holds(sub, "w_theory", registry).dropna(subset=["w"])
            gap = _max_list_gap(sub["w"], sub["w_theory"])
            out.append(Claim("l1", where,
                             f"L1 on {where} (diagonal H): w̃ equals the soft threshold "
                             f"sign(wᵢ*)·max(|wᵢ*| − α/Hᵢᵢ, 0) to {format_number(gap)} "
                             f"(max |w̃ᵢ − theory| over {len(sub)} cells).",
                             len(sub), {"max_abs_gap": gap}))
        elif _has(sub, "theory_gap"):
            sub = _where_theory_holds(sub, "theory_gap", registry)
            med, top = float(sub["theory_gap"].median()), float(sub["theory_gap"].max())
            what = "the soft threshold" if orthogonal else "the soft threshold on Hᵢᵢ"
            out.append(Claim("l1", where,
                             f"L1 on {where}: {what} is off the measured optimum by a relative "
                             f"gap of {format_number(med)} (median; max {format_number(top)} "
                             f"over {len(sub)} cells).",
                             len(sub), {"median_gap": med, "max_gap": top}))
    return out


def _single_learner(sub):
    mask = sub["ensembler.k"] == 1
    if "ensembler.bootstrap" in sub:
        mask &= sub["ensembler.bootstrap"].fillna(True) == False  # noqa: E712
    if "ensembler.max_samples" in sub:
        mask &= sub["ensembler.max_samples"].fillna(1.0) == 1.0
    return mask


def _bagging(df, registry=None) -> list[Claim]:
    from .report import theory_rows

    rows = _ok(df, ensembler="bagging")
    need = ("ensembler.k", "ensemble_error", "mean_ensemble_error", "bagging_theory",
            "bagging_c_over_v")
    if not _has(rows, *need):
        return []
    # stated only from cells where v/k + (k−1)c/k is declared to hold (the arithmetic mean)
    rows = rows[theory_rows(rows, "bagging_theory", registry)].dropna(subset=["ensemble_error"])
    out = []
    for learner, by_learner in rows.groupby("learner", sort=True):
        if "ensembler.bootstrap" in by_learner:
            by_learner = by_learner[~_single_learner(by_learner)]
        # one sentence per configuration: every other parameter that varies splits it
        for label, sub in _configurations(by_learner, ("learner", "ensembler.k")):
            if len(sub):
                out.append(_bagging_claim(_with(learner, label), sub))
    return out


def _bagging_claim(subject: str, sub) -> Claim:
    k_min, k_max = int(sub["ensembler.k"].min()), int(sub["ensembler.k"].max())
    first = float(sub.loc[sub["ensembler.k"] == k_min, "ensemble_error"].mean())
    last = float(sub.loc[sub["ensembler.k"] == k_max, "ensemble_error"].mean())
    c_over_v = float(sub.loc[sub["ensembler.k"] == k_max, "bagging_c_over_v"].mean())
    both = sub.dropna(subset=["mean_ensemble_error", "bagging_theory"])
    gap = float((both["mean_ensemble_error"] - both["bagging_theory"]).abs().max())
    verb = "falls" if last < first else "goes"
    # classification: ensemble_error is the Brier score of the combined probabilities
    what = ("test error (Brier score)" if "accuracy" in sub and sub["accuracy"].notna().any()
            else "test error")
    return Claim("bagging", subject,
                 f"bagging with {subject}: {what} {verb} from {format_number(first)} "
                 f"(k = {k_min}) to {format_number(last)} (k = {k_max}), mean over seeds; "
                 f"c/v = {format_number(c_over_v)} at k = {k_max}; the members' mean "
                 f"error equals v/k + (k−1)c/k to {format_number(gap)} "
                 f"(max |error − theory| over {len(both)} cells).",
                 len(sub), {"error_first": first, "error_last": last,
                            "c_over_v": c_over_v, "max_abs_gap": gap,
                            "k_first": k_min, "k_last": k_max})


def drop_axis(sub) -> str:
    """The drop-probability column that varies in ``sub`` (``drop_hidden`` first)."""
    for col in ("ensembler.drop_hidden", "ensembler.drop_input"):
        if col in sub and sub[col].nunique() > 1:
            return col
    return "ensembler.drop_input"


def _dropout(df) -> list[Claim]:
    rows = _ok(df, ensembler="dropout", inference="weight_scaling")
    if not _has(rows, "geom_max_abs_dp", "learner"):
        return []
    rows = rows.dropna(subset=["geom_max_abs_dp"])
    out = []
    # softmax regression (where weight scaling is exact) first, as in the seed
    for learner, by_learner in sorted(rows.groupby("learner", sort=True),
                                      key=lambda item: item[0] != "softmax_regression"):
        # softmax regression: an exactness bound (a max over every cell), one sentence; an
        # MLP: medians per drop probability (the sentence's axis), split by anything else
        configurations = [("", by_learner)] if learner == "softmax_regression" else \
            _configurations(by_learner, ("learner", "inference", drop_axis(by_learner)))
        for label, sub in configurations:
            subject = _with(learner, label)
            if learner == "softmax_regression":
                gap = float(sub["geom_max_abs_dp"].max())
                out.append(Claim("dropout", subject,
                                 f"dropout with softmax regression: weight scaling equals the "
                                 f"normalised geometric mean to "
                                 f"{format_number(gap)} (max |Δp| over {len(sub)} cells).",
                                 len(sub), {"max_abs_gap": gap}))
                continue
            axis = drop_axis(sub)
            if axis not in sub:
                continue
            stats = sub.groupby(axis)["geom_max_abs_dp"].agg(["median", "min", "max", "count"])
            word = axis.split(".")[-1]
            # the spread over seeds beside each median, so a trend the medians suggest can be
            # read against the noise
            parts = ", ".join(
                f"{format_number(r['median'])}"
                + (f" ({format_number(r['min'])}–{format_number(r['max'])})" if r["count"] > 1
                   else "")
                + f" at {word} {d:g}" for d, r in stats.iterrows())
            spread = "median (range) over seeds" if (stats["count"] > 1).any() else "one seed"
            out.append(Claim("dropout", subject,
                             f"dropout with {subject}: weight scaling is off the normalised "
                             f"geometric mean by {parts} (max |Δp|, {spread}; "
                             f"{len(sub)} cells).",
                             len(sub), {f"gap_at_{d:g}": float(v)
                                        for d, v in stats["median"].items()}))
    return out


def _dropout_l2(df) -> list[Claim]:
    """Dropout as adaptive L2: distance of the dropout-trained linear weights to the
    marginalised minimiser, at the longest training in the result set."""
    rows = _ok(df, ensembler="dropout")
    if not _has(rows, "dropout_l2_gap", "l2_equal_gap", "learner"):
        return []
    rows = rows.dropna(subset=["dropout_l2_gap", "l2_equal_gap"])
    out = []
    for learner, sub in rows.groupby("learner", sort=True):
        where = ""
        if "learner.n_epochs" in sub and sub["learner.n_epochs"].notna().any():
            longest = sub["learner.n_epochs"].max()
            sub = sub[sub["learner.n_epochs"] == longest]
            where = f" after {int(longest)} epochs"
        med, top = float(sub["dropout_l2_gap"].median()), float(sub["dropout_l2_gap"].max())
        equal = float(sub["l2_equal_gap"].median())
        out.append(Claim("dropout", f"{learner}, adaptive L2",
                         f"dropout as adaptive L2 with {learner}: the dropout-trained weights"
                         f"{where} are off the marginalised minimiser (H + ((1−p)/p)·diag(S))⁻¹c "
                         f"by a relative gap of {format_number(med)} (median; max "
                         f"{format_number(top)} over {len(sub)} cells), against "
                         f"{format_number(equal)} from plain L2 of the same total strength.",
                         len(sub), {"median_gap": med, "max_gap": top, "equal_l2_gap": equal}))
    return out


def _mean_ci(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(1.96 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0)


def _masking_vs_noise(df) -> list[Claim]:
    """Hidden-unit masking against Gaussian input noise: the best strength of each
    (lowest mean test error over seeds), with 95 % intervals, beside no noise."""
    if not _has(df, "accuracy", "learner.input_noise") or "ensembler" not in df:
        return []
    rows = _ok(df)
    rows = rows[rows["ensembler"].isin(["dropout"]) | rows["ensembler"].isna()]
    rows = rows.dropna(subset=["accuracy"])
    zero = lambda col: rows[col].fillna(0.0) if col in rows else 0.0 * rows["accuracy"]  # noqa
    sigma, d_in, d_hid = zero("learner.input_noise"), zero("ensembler.drop_input"), \
        zero("ensembler.drop_hidden")
    schemes = {"noise": (sigma > 0) & (d_in == 0) & (d_hid == 0),
               "hidden": (d_hid > 0) & (d_in == 0) & (sigma == 0),
               "none": (sigma == 0) & (d_in == 0) & (d_hid == 0)}
    strength = {"noise": sigma, "hidden": d_hid}
    out = []
    for learner in sorted(rows["learner"].unique()):
        mine = rows["learner"] == learner
        if not (schemes["noise"] & mine).any() or not (schemes["hidden"] & mine).any():
            continue
        best = {}
        for scheme in ("hidden", "noise"):
            sub = rows[schemes[scheme] & mine]
            err = 1.0 - sub["accuracy"]
            by = err.groupby(strength[scheme][sub.index]).mean()
            s = float(by.idxmin())
            pick = err[strength[scheme][sub.index] == s]
            best[scheme] = (s, *_mean_ci(pick), len(pick))
        base = rows[schemes["none"] & mine]
        b_mean, b_half = _mean_ci(1.0 - base["accuracy"]) if len(base) else (np.nan, np.nan)
        (hs, hm, hh, hn), (ns, nm, nh, nn) = best["hidden"], best["noise"]
        verdict = ("lower than" if hm + hh < nm - nh else "higher than" if hm - hh > nm + nh
                   else "not distinguishable from")
        out.append(Claim(
            "dropout", f"{learner}, hidden masking vs input noise",
            f"hidden-unit masking vs input noise with {learner}: best hidden dropout "
            f"(drop_hidden {hs:g}) test error {format_number(hm)} ± {format_number(hh)}, "
            f"{verdict} the best Gaussian input noise (σ {ns:g}) {format_number(nm)} ± "
            f"{format_number(nh)}; no noise {format_number(b_mean)} ± {format_number(b_half)} "
            f"(mean ± 95 % interval over {min(hn, nn)} seeds).",
            hn + nn, {"hidden_error": hm, "hidden_half": hh, "noise_error": nm,
                      "noise_half": nh, "none_error": b_mean}))
    return out


def claims(df, registry=None) -> list[Claim]:
    """Every claim the result set ``df`` has the columns for, in the seed's order.

    A theory is stated only from rows where its declaration holds
    (``Metric.holds_for``, read from ``registry``, the installed plugins by default).
    """
    return (_l2(df, registry) + _l1(df, registry) + _bagging(df, registry) + _dropout(df)
            + _dropout_l2(df) + _masking_vs_noise(df))
