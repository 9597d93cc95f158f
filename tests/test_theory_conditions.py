"""Theory that says where it holds (issue 14 §4).

A metric declares, per theory column, the cells where its theory holds
(``Metric.holds_for``); the runner stores the column only there, figures draw and
claims state it only from those rows, and grouping (figures, claims, ``regsim
show``) splits by every parameter that varies, plugins' own included.

The oracle for the bagging identity is independent of the declaration: v/k +
(k−1)c/k is the error of the members' arithmetic mean (``mean_ensemble_error``),
so it predicts the cell's ``ensemble_error`` exactly where the strategy's
prediction is the arithmetic mean, and the two numbers agree there to rounding.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import regsim
from regsim.claims import claims
from regsim.components import conditions_hold
from regsim.registry import Registry
from regsim.report import (FigureDisplay, metric_summary, plot_rows, theory_rows,
                           varying_parameters)
from regsim.runner import run_cells, theory_where
from regsim.spec import SLOTS

DOCS = Path(__file__).resolve().parent.parent / "docs"

#: Where the seed's bagging identity predicts the strategy's error, by the math:
#: the arithmetic mean, and the normalised geometric mean of regression predictions
#: (equal-variance Gaussians: the mean of the means). Written out here, not read
#: from the declaration under test.
BAGGING_HOLDS = {("arithmetic_mean", "regression"), ("arithmetic_mean", "classification"),
                 ("geometric_mean", "regression")}

#: Agreement of two computations of one number (different summation orders).
RTOL = 1e-9

MEDIAN = '''"""A one-file third-party strategy: the median of each column's members."""

import numpy as np

import regsim
from regsim import InferenceStrategy, Metric


class Median(InferenceStrategy):
    """Median of each column's members (regression)."""

    name = "median"
    accepts = ("bagging",)
    tasks = ("regression",)
    params = {}

    def predict(self, ensemble, X):
        P = ensemble.member_predictions(X)
        mask = ensemble.member_mask()
        return np.stack([np.median(P[:, mask[:, j], j], axis=1)
                         for j in range(P.shape[2])], axis=1)


class ToyTheory(Metric):
    """Fills its column in every cell; declares it holds under the median or at trim 0.4."""

    name = "toy_theory"
    columns = {"toy_theory": "float", "toy_measure": "float"}
    holds_for = {"toy_theory": ({"inference": ("median",)}, {"inference.trim": (0.4,)})}

    def compute(self, ev):
        return {"toy_theory": np.ones(ev.m), "toy_measure": np.ones(ev.m)}


class ToyOverride(Metric):
    """A condition that is not a list of values: holds from three members on."""

    name = "toy_override"
    columns = {"toy_override": "float"}

    @classmethod
    def holds(cls, column, where):
        return where.get("ensembler.k") is not None and where["ensembler.k"] >= 3

    def compute(self, ev):
        return {"toy_override": np.ones(ev.m)}


@regsim.hookimpl
def register_inference_strategies(register):
    register(Median)


@regsim.hookimpl
def register_metrics(register):
    register(ToyTheory)
    register(ToyOverride)
'''


def _tutorial_trimmed_mean() -> str:
    """The ``trimmed_mean`` plugin exactly as docs/plugin-tutorial.md prints it."""
    text = (DOCS / "plugin-tutorial.md").read_text()
    match = re.search(r'```python title="regsim-trimmed/regsim_trimmed.py"\n(.*?)```', text, re.S)
    assert match, "the tutorial's trimmed_mean plugin is not where this test expects it"
    return match.group(1)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """The installed plugins plus a plugins directory with ``median`` (one file), the
    tutorial's ``trimmed_mean`` and a toy metric with a declared condition."""
    d = tmp_path_factory.mktemp("plugins")
    (d / "regsim_median.py").write_text(MEDIAN)
    (d / "regsim_trimmed.py").write_text(_tutorial_trimmed_mean())
    reg = Registry(plugins_dirs=(str(d),))
    assert not reg.failures, reg.failures
    assert {"median", "trimmed_mean"} <= set(reg.names("inference"))
    return reg


PROBLEMS = {"regression": {"plugin": "linear_regression", "n_train": 60, "n_test": 80,
                           "n_features": 4},
            "classification": {"plugin": "softmax_classification", "n_train": 60,
                               "n_test": 80, "n_features": 4, "n_classes": 3}}


def _strategies(registry, task):
    """Every installed strategy for bagged ensembles that handles ``task``, with parameters
    (``trim`` such that at least one member is cut at k = 3 and 6, and one that is not)."""
    out = []
    for name in registry.names("inference"):
        cls = registry.get("inference", name)
        if "bagging" not in cls.accepts or task not in cls.tasks:
            continue
        if "trim" in cls.params:
            out += [{"plugin": name, "trim": 0.2}, {"plugin": name, "trim": 0.4}]
        else:
            out.append({"plugin": name})
    return out


@pytest.fixture(scope="module")
def results(registry):
    """One sweep per task over every installed bagging strategy: rows as a DataFrame."""
    frames = []
    for task, problem in PROBLEMS.items():
        spec = {"name": f"where-{task}", "seeds": [0, 1], "problem": problem,
                "learner": {"plugin": "tree", "max_depth": 3}, "penalty": {"plugin": "none"},
                "ensembler": {"plugin": "bagging", "k": [1, 3, 6]},
                "inference": _strategies(registry, task),
                "metrics": ["bagging_moments", "toy_theory", "toy_override"]
                + (["test_mse"] if task == "regression" else ["accuracy"])}
        spec_ = regsim.load_spec(spec, registry)
        rows = run_cells(spec_.cells, sweep=spec["name"], run_id="r1", registry=registry)
        for row in rows:
            row["task"] = task
        frames.append(pd.DataFrame(rows))
    df = pd.concat(frames, ignore_index=True)
    assert (df["status"] == "ok").all(), df.loc[df["status"] != "ok", "error"].tolist()
    return df


def test_the_matrix_covers_every_installed_strategy_and_both_tasks(registry, results):
    """The matrix is not vacuous: each task, every strategy of it, the third-party ones."""
    for task in PROBLEMS:
        want = {s["plugin"] for s in _strategies(registry, task)}
        assert set(results.loc[results["task"] == task, "inference"]) == want
    assert {"median", "trimmed_mean", "arithmetic_mean", "geometric_mean",
            "majority_vote"} <= set(results["inference"])


def test_bagging_theory_is_filled_exactly_where_the_identity_holds(results):
    for _, row in results.iterrows():
        filled = row["bagging_theory"] is not None and not pd.isna(row["bagging_theory"])
        holds = (row["inference"], row["task"]) in BAGGING_HOLDS
        assert filled == holds, (row["inference"], row["task"], row["ensembler.k"])
        # measured columns are filled whatever the strategy
        assert not pd.isna(row["bagging_v"]) and not pd.isna(row["mean_ensemble_error"])
        if filled:  # where it is stated, it predicts the strategy's own error
            assert math.isclose(row["ensemble_error"], row["bagging_theory"], rel_tol=RTOL)


def test_where_the_column_is_null_the_identity_would_have_been_wrong(results):
    """Independent of the declaration: at k > 1 a strategy outside BAGGING_HOLDS has an
    error that differs from the arithmetic mean's (unless it cuts nothing: trim·k < 1)."""
    bagged = results[results["ensembler.k"] > 1]
    for _, row in bagged.iterrows():
        same = math.isclose(row["ensemble_error"], row["mean_ensemble_error"], rel_tol=RTOL)
        trim = row.get("inference.trim")
        cuts_nothing = (trim is not None and not pd.isna(trim)
                        and int(trim * row["ensembler.k"]) == 0)
        if (row["inference"], row["task"]) in BAGGING_HOLDS or cuts_nothing:
            assert same, (row["inference"], row["task"], row["ensembler.k"])
        else:
            assert not same, (row["inference"], row["task"], row["ensembler.k"])


def test_the_runner_enforces_every_installed_declaration(registry, results):
    """Every installed metric × every cell: a declared theory column is null wherever its
    declaration does not hold, though ``compute`` may have filled it (the toy metric fills
    ``toy_theory`` everywhere)."""
    declared = 0
    for name in registry.names("metric"):
        cls = registry.get("metric", name)
        for column in cls.columns:  # holds() is True for a column without a declaration
            if column not in results:
                continue
            for _, row in results.iterrows():
                where = {k: (None if not isinstance(v, (list, np.ndarray)) and pd.isna(v)
                             else v) for k, v in row.items()
                         if k in SLOTS or k.split(".", 1)[0] in SLOTS}
                where["task"] = row["task"]
                if not cls.holds(column, where):
                    assert pd.isna(row[column]), (name, column, row["inference"])
                    declared += 1
    # cells nulled by a declaration: bagging_theory, toy_theory and toy_override, many rows
    assert declared >= len(results)
    # the toy declaration: a disjunction, on a plugin name and on a plugin's own parameter
    toy = results["toy_theory"].notna()
    want = (results["inference"] == "median") | (results["inference.trim"] == 0.4)
    assert toy.tolist() == want.tolist()
    assert results["toy_measure"].notna().all()  # an undeclared column: filled everywhere
    # a metric's own holds() (no holds_for) is enforced the same way
    assert results["toy_override"].notna().tolist() == (results["ensembler.k"] >= 3).tolist()


def test_every_declaration_names_its_own_columns_and_known_keys(registry):
    """A misspelt column or key would silently never null anything."""
    for name in registry.names("metric"):
        cls = registry.get("metric", name)
        for column, conditions in cls.holds_for.items():
            assert column in cls.columns, (name, column)
            alternatives = (conditions,) if isinstance(conditions, dict) else conditions
            for alt in alternatives:
                for key in alt:
                    slot, _, param = key.partition(".")
                    assert key == "task" or slot in SLOTS, (name, column, key)
                    if param:
                        kind = SLOTS[slot]
                        assert any(param in registry.get(kind, n).params
                                   for n in registry.names(kind)), (name, column, key)


def test_conditions_hold_is_a_disjunction_of_conjunctions():
    cond = ({"inference": ("arithmetic_mean",)},
            {"inference": ("geometric_mean",), "task": ("regression",)})
    assert conditions_hold(cond, {"inference": "arithmetic_mean", "task": "classification"})
    assert conditions_hold(cond, {"inference": "geometric_mean", "task": "regression"})
    assert not conditions_hold(cond, {"inference": "geometric_mean", "task": "classification"})
    assert not conditions_hold(cond, {"inference": "median", "task": "regression"})
    assert not conditions_hold(cond, {})  # an absent key is None, allowed only if listed
    assert conditions_hold({"ensembler": (None,)}, {"ensembler": None})
    assert not conditions_hold({"ensembler": (None,)}, {"ensembler": "bagging"})
    assert conditions_hold({"inference.trim": (0.4,)}, {"inference.trim": 0.4})
    assert not conditions_hold({"inference.trim": (0.4,)}, {"inference.trim": float("nan")})


def _legend_labels(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for leg in [ax.get_legend()] if leg
            for t in leg.get_texts()]


def test_bagging_figure_is_drawn_only_from_rows_where_the_identity_holds(registry, results):
    import matplotlib

    matplotlib.use("Agg")
    plot = registry.get("plot", "bagging_error_vs_k")()
    drawn = plot_rows(plot, results, registry)
    assert set(zip(drawn["inference"], drawn["task"])) == BAGGING_HOLDS
    disp = FigureDisplay.from_results(results, "bagging_error_vs_k", registry=registry)
    labels = " ".join(_legend_labels(disp.figure_))
    assert "inference=arithmetic_mean" in labels and "inference=geometric_mean" in labels
    for other in ("median", "trimmed_mean", "majority_vote", "trim="):
        assert other not in labels, labels
    # only strategies where it does not hold: the figure is refused, saying why
    others = results[results["inference"].isin(["median", "trimmed_mean"])]
    with pytest.raises(ValueError, match="where its theory holds"):
        FigureDisplay.from_results(others, "bagging_error_vs_k", registry=registry)


def test_bagging_claim_is_stated_only_from_rows_where_the_identity_holds(registry, results):
    found = [c for c in claims(results) if c.topic == "bagging"]
    assert found
    for claim in found:
        assert not re.search(r"median|trimmed|majority|trim=", claim.text), claim.text
    # the numbers: an independent computation from the arithmetic-mean rows of each task
    for task in PROBLEMS:
        rows = results[(results["task"] == task) & (results["inference"] == "arithmetic_mean")]
        want_first = rows.loc[rows["ensembler.k"] == 1, "ensemble_error"].mean()
        want_last = rows.loc[rows["ensembler.k"] == 6, "ensemble_error"].mean()
        # subject "tree" when the arithmetic mean is the only strategy where it holds
        match = [c for c in claims(results[results["task"] == task])
                 if c.topic == "bagging"
                 and c.subject in ("tree", "tree, inference=arithmetic_mean")]
        assert len(match) == 1, [c.subject for c in found]
        assert match[0].values["error_first"] == pytest.approx(want_first, rel=1e-12)
        assert match[0].values["error_last"] == pytest.approx(want_last, rel=1e-12)
        assert match[0].n_cells == len(rows)


def test_grouping_separates_a_plugin_strategys_own_parameter(registry, results):
    """``regsim show`` and the figures split rows by ``inference.trim``, never average it."""
    trimmed = results[(results["inference"] == "trimmed_mean") & (results["task"] == "regression")]
    assert "inference.trim" in varying_parameters(trimmed)
    assert "inference.trim" in varying_parameters(results)
    # regsim show's table
    table, group, over = metric_summary(trimmed)
    assert "inference.trim" in group
    trims = table.index.get_level_values("inference.trim") if table.index.nlevels > 1 \
        else table.index
    assert sorted(set(trims)) == [0.2, 0.4]
    for trim in (0.2, 0.4):  # each row of the table is the median of its own trim only
        sub = trimmed[trimmed["inference.trim"] == trim]
        got = table.xs(trim, level="inference.trim") if table.index.nlevels > 1 \
            else table.loc[[trim]]
        assert got["cells"].sum() == len(sub)
    # a figure's own grouping: the bagging figure given trimmed rows directly draws one
    # series per trim (through the report it gets none of them: the theory does not hold)
    import matplotlib

    matplotlib.use("Agg")
    fig = registry.get("plot", "bagging_error_vs_k")().figure(trimmed)
    labels = _legend_labels(fig)
    assert any("inference.trim=0.2" in t for t in labels), labels
    assert any("inference.trim=0.4" in t for t in labels), labels
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_penalty_theory_holds_for_single_least_squares_fits_only(registry):
    """L2's λᵢ/(λᵢ+α) is exact for least squares (checked against an eigendecomposition
    computed here, 1e-8); under bagging, a tree, or classification it is null."""
    spec = {"name": "l2-where", "seeds": [3],
            "problem": {"plugin": "linear_regression", "n_train": 80, "n_test": 40,
                        "n_features": 5},
            "learner": [{"plugin": "least_squares"}, {"plugin": "tree", "max_depth": 2}],
            "penalty": [{"plugin": "l2", "alpha": [0.1, 1.0]}, {"plugin": "none"}],
            "metrics": ["shrinkage", "theory_gap", "coefficients"]}
    spec_ = regsim.load_spec({**spec, "penalty": {"plugin": "l2", "alpha": [0.1, 1.0]},
                              "learner": {"plugin": "least_squares"}}, registry)
    rows = pd.DataFrame(run_cells(spec_.cells, sweep="l2-where", run_id="r", registry=registry))
    assert (rows["status"] == "ok").all()
    problem = registry.get("problem", "linear_regression")(n_train=80, n_test=40, n_features=5)
    data = problem.generate(regsim.runner.rngs_for(3)["problem"])
    Xc = data.X_train - data.X_train.mean(axis=0)
    lam = np.clip(np.linalg.eigvalsh(Xc.T @ Xc / len(Xc)), 0, None)
    for _, row in rows.iterrows():
        np.testing.assert_allclose(row["shrinkage_theory"], lam / (lam + row["penalty.alpha"]),
                                   rtol=1e-8)
        np.testing.assert_allclose(row["shrinkage_measured"], row["shrinkage_theory"],
                                   rtol=1e-6, atol=1e-10)
    bagged = regsim.load_spec({**spec, "learner": {"plugin": "least_squares"},
                               "penalty": {"plugin": "l2", "alpha": 0.1},
                               "ensembler": {"plugin": "bagging", "k": 2},
                               "inference": {"plugin": "arithmetic_mean"}}, registry)
    for row in run_cells(bagged.cells, sweep="b", run_id="r", registry=registry):
        assert row["status"] == "ok"
        for col in ("shrinkage_theory", "w_theory", "theory_gap"):
            assert row.get(col) is None, col
    # the declaration itself, for a tree cell: not a single least-squares fit of J
    tree = regsim.load_spec({**spec, "learner": {"plugin": "tree", "max_depth": 2},
                             "penalty": {"plugin": "none"}}, registry)
    for row in run_cells(tree.cells, sweep="t", run_id="r", registry=registry):
        assert row["status"] == "ok"
        for col in ("shrinkage_theory", "w_theory", "theory_gap"):
            assert row.get(col) is None, col


def test_theory_where_describes_the_cell_as_declarations_read_it(registry, results):
    spec = regsim.load_spec({"name": "w", "seeds": [0], "problem": PROBLEMS["regression"],
                             "learner": {"plugin": "tree"}, "penalty": {"plugin": "none"},
                             "ensembler": {"plugin": "bagging", "k": 2},
                             "inference": {"plugin": "trimmed_mean", "trim": 0.3}}, registry)
    where = theory_where(spec.cells[0], "regression")
    assert where["inference"] == "trimmed_mean" and where["inference.trim"] == 0.3
    assert where["ensembler.k"] == 2 and where["task"] == "regression"
    assert where["problem"] == "linear_regression" and "seed" not in where


def test_theory_rows_ignores_a_filled_column_where_the_declaration_fails(registry, results):
    """Results written before a declaration existed (filled under ``median``) are still
    not drawn or stated from those rows."""
    stale = results.copy()
    stale["bagging_theory"] = stale["bagging_v"]  # filled everywhere, as old runs were
    mask = theory_rows(stale, "bagging_theory", registry)
    assert set(zip(stale.loc[mask, "inference"], stale.loc[mask, "task"])) == BAGGING_HOLDS
    stale["toy_override"] = 1.0
    mask = theory_rows(stale, "toy_override", registry)
    assert mask.tolist() == (stale["ensembler.k"] >= 3).tolist()


@pytest.mark.parametrize("holds_for, message", [
    ({"bagging_theroy": {"inference": ("arithmetic_mean",)}}, "not one of its columns"),
    ({"t": {"inferense": ("arithmetic_mean",)}}, "key 'inferense' is not 'task'"),
    ({"t": ["arithmetic_mean"]}, "must be a dict or a tuple of dicts"),
])
def test_a_misspelt_declaration_is_refused_when_the_class_is_defined(holds_for, message):
    with pytest.raises(TypeError, match=message):
        type("Bad", (regsim.Metric,), {"name": "bad", "columns": {"t": "float"},
                                        "holds_for": holds_for})


def _store(rows: pd.DataFrame, registry, root: Path, sweep: str) -> Path:
    """Write result rows as a run directory, as a sweep would."""
    from regsim.store import write_part

    run = root / sweep / "r1"
    run.mkdir(parents=True)
    records = [{k: (None if not isinstance(v, (list, np.ndarray)) and pd.isna(v) else v)
                for k, v in r.items() if k != "task"} for r in rows.to_dict("records")]
    for r in records:
        r["sweep"] = sweep
    import pyarrow as pa

    write_part(records, run / "part-00000.parquet", pa.schema([]))
    return root / sweep


def test_regsim_report_and_show_from_stored_results(registry, results, tmp_path, capsys):
    """End to end through the store: the report draws the bagging figure and states the
    claim from the arithmetic mean only, skips the figure where only strategies outside
    the declaration ran, and ``regsim show`` separates the two trims."""
    import matplotlib

    from regsim.cli import main as regsim_cli
    from regsim.report import write_report

    matplotlib.use("Agg")
    regression = results[results["task"] == "regression"]
    sweep = _store(regression, registry, tmp_path, "mixed")
    report = write_report(sweep, tmp_path / "out-mixed", registry=registry)
    assert "bagging_error_vs_k" not in report["skipped"], report["skipped"]
    bagging = [c for c in report["claims"] if c.topic == "bagging"]
    assert bagging and not any(re.search("median|trim", c.text) for c in bagging)

    outside = _store(regression[regression["inference"].isin(["median", "trimmed_mean"])],
                     registry, tmp_path, "outside")
    report = write_report(outside, tmp_path / "out-outside", registry=registry)
    assert "where its theory holds" in report["skipped"]["bagging_error_vs_k"]
    assert not [c for c in report["claims"] if c.topic == "bagging"]

    capsys.readouterr()
    assert regsim_cli(["show", str(outside)]) == 0
    shown = capsys.readouterr().out
    assert "inference.trim" in shown.split("median over cells")[1], shown
    header = next(l for l in shown.splitlines() if l.startswith("median over cells"))
    assert "trim" not in header.split("across")[1]  # grouped by, not summarised over


@pytest.fixture(scope="module")
def penalty_results(registry):
    """Every installed regression learner × every penalty it accepts (l2, l1, none), single
    fits on an orthogonal design (diagonal H, where the soft threshold is exact too)."""
    frames = []
    for name in registry.names("learner"):
        learner = registry.get("learner", name)
        if "regression" not in learner.tasks:
            continue
        for penalty in ("l2", "l1", "none"):
            pen = {"plugin": penalty} if penalty == "none" else {"plugin": penalty,
                                                                 "alpha": [0.01, 0.3]}
            spec = {"name": f"pen-{name}-{penalty}", "seeds": [5],
                    "problem": {"plugin": "linear_regression", "n_train": 80, "n_test": 40,
                                "n_features": 4, "design": "orthogonal"},
                    "learner": {"plugin": name}, "penalty": pen,
                    "metrics": ["shrinkage", "theory_gap", "coefficients", "test_mse"]}
            try:
                spec_ = regsim.load_spec(spec, registry)
            except regsim.SpecError:  # a learner that does not fit this penalty
                continue
            frames.append(pd.DataFrame(run_cells(spec_.cells, sweep=spec["name"], run_id="r",
                                                 registry=registry)))
    df = pd.concat(frames, ignore_index=True)
    df["task"] = "regression"
    return df


def test_penalty_theory_is_filled_for_every_quadratic_learner_and_no_other(registry,
                                                                          penalty_results):
    """The learners whose loss is quadratic (they return a Quadratic) get the theory
    columns; others (trees) do not; under a quadratic loss L2 and L1 on a diagonal H agree
    with the theory to the learner's tolerance (1e-5 relative)."""
    from regsim.components import Learner

    ok = penalty_results[penalty_results["status"] == "ok"]
    assert len(ok) >= 0.8 * len(penalty_results)
    seen = set()
    for _, row in ok.iterrows():
        quadratic = registry.get("learner", row["learner"]).quadratic is not Learner.quadratic
        seen.add(quadratic)
        for col in ("shrinkage_theory", "w_theory", "theory_gap"):
            filled = isinstance(row[col], (list, np.ndarray)) or not pd.isna(row[col])
            assert filled == quadratic, (row["learner"], row["penalty"], col)
        if quadratic:
            assert row["theory_gap"] < 1e-5, (row["learner"], row["penalty"], row["theory_gap"])
    assert seen == {True, False}  # both kinds present: the test can tell them apart
    assert {"least_squares", "tree"} <= set(ok["learner"])


def test_every_installed_plot_sees_only_rows_where_its_theories_hold(registry, results,
                                                                    penalty_results):
    """Every installed figure × the rows of every strategy and learner above: the rows the
    report gives it are exactly those where each of its theory columns is declared to hold."""
    df = pd.concat([results, penalty_results], ignore_index=True)
    declaring = 0
    for name in registry.names("plot"):
        plot = registry.get("plot", name)()
        rows = plot_rows(plot, df, registry)
        want = pd.Series(True, index=df.index)
        for column in plot.theory_columns:
            if column not in df:
                continue
            conditions = None
            for metric in registry.names("metric"):
                cls = registry.get("metric", metric)
                if column in cls.holds_for:
                    conditions = cls.holds_for[column]
            want &= df[column].notna()
            if conditions is not None:
                want &= pd.Series([conditions_hold(conditions, {
                    k: (None if not isinstance(v, (list, np.ndarray)) and pd.isna(v) else v)
                    for k, v in r.items()}) for r in df.to_dict("records")], index=df.index)
        assert rows.index.tolist() == df.index[want].tolist(), name
        declaring += bool(plot.theory_columns)
    assert declaring >= 4  # l2_shrinkage, l1_soft_threshold, theory_gap, bagging_error_vs_k


def test_claims_split_by_every_parameter_that_varies(registry, results, penalty_results):
    """Rows where the theory holds but that differ in another parameter (here the tree's
    depth, or the learner of an L1 sentence) are stated separately, never pooled."""
    reg = results[results["task"] == "regression"]
    deeper = reg.copy()
    deeper["learner.max_depth"] = 5
    deeper["ensemble_error"] = deeper["ensemble_error"] * 2  # a different, known result
    both = pd.concat([reg, deeper], ignore_index=True)
    found = {c.subject: c for c in claims(both, registry) if c.topic == "bagging"}
    for depth, factor in ((3, 1.0), (5, 2.0)):
        subject = f"tree, inference=arithmetic_mean, learner.max_depth={depth}"
        assert subject in found, sorted(found)
        rows = reg[reg["inference"] == "arithmetic_mean"]
        want = factor * rows.loc[rows["ensembler.k"] == 6, "ensemble_error"].mean()
        assert found[subject].values["error_last"] == pytest.approx(want, rel=1e-12)
    # a median gap (L1 off a diagonal H) is split by learner; an exactness bound (a max over
    # every cell, L1 on the orthogonal design) is one sentence
    l1 = penalty_results[penalty_results["penalty"] == "l1"]
    toeplitz = l1.assign(**{"problem.design": "toeplitz"})
    subjects = [c.subject for c in claims(pd.concat([l1, toeplitz], ignore_index=True), registry)
                if c.topic == "l1"]
    split = [s for s in subjects if "toeplitz" in s]
    with_theory = l1.dropna(subset=["theory_gap"])["learner"].nunique()  # quadratic-loss learners
    assert len(split) == with_theory >= 2, subjects
    assert all("learner=" in s for s in split), subjects
    assert [s for s in subjects if "orthogonal" in s] == ["linear_regression, orthogonal design"]
