"""Data that cannot give a right answer is an error naming the source, column and rows.

Issue 10 §1: the instances (a missing feature value, a missing target, a text
column, a feature of magnitude 1e160) plus the kind: any problem's data, built
in or third party, is checked before fitting (a Hypothesis property over
injected faults), and bad input is ``error``, never ``diverged`` or ``ok``.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regsim
from regsim import DataError, Dataset, Param, Problem, check_dataset
from regsim.cli import main
from regsim.registry import Registry
from regsim.runner import rngs_for, run_cells


def _spec(path, **problem):
    return {"name": "csvcheck", "seeds": [0],
            "problem": {"plugin": "csv", "path": str(path), "target": "y", **problem},
            "learner": {"plugin": "least_squares"}, "penalty": {"plugin": "l2", "alpha": 0.1},
            "metrics": ["test_mse"]}


def _table(tmp_path, rows, header="x1,x2,y", name="data.csv"):
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def _validate(tmp_path, spec, capsys):
    import yaml

    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(spec_path)])
    err = capsys.readouterr().err
    return exc.value.code, err


CLEAN = [f"{i},{(7 * i) % 5},{2 * i + 1}" for i in range(1, 13)]


@pytest.mark.parametrize("fault, line, column, words", [
    ("missing_feature", 4, "x2", "missing values"),
    ("missing_target", 6, "y", "missing values"),
    ("text_feature", 3, "x1", "not numeric"),
    ("inf_feature", 9, "x1", "infinite"),
])
def test_validate_refuses_a_bad_csv_naming_file_column_and_line(tmp_path, capsys, fault, line,
                                                                column, words):
    rows = list(CLEAN)
    i = line - 2  # line 1 is the header
    x1, x2, y = rows[i].split(",")
    rows[i] = {"missing_feature": f"{x1},,{y}", "missing_target": f"{x1},{x2},",
               "text_feature": f"2024-01-0{i},{x2},{y}", "inf_feature": f"inf,{x2},{y}"}[fault]
    path = _table(tmp_path, rows)
    code, err = _validate(tmp_path, _spec(path), capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert str(path) in err and repr(column) in err and words in err
    assert f"line {line}" in err


def test_validate_refuses_a_missing_target_column_and_lists_the_columns(tmp_path, capsys):
    path = _table(tmp_path, CLEAN)
    spec = _spec(path)
    spec["problem"]["target"] = "price"
    code, err = _validate(tmp_path, spec, capsys)
    assert code == 2 and "'price'" in err and "x1, x2, y" in err


def test_validate_refuses_a_file_that_is_not_utf8(tmp_path, capsys):
    path = tmp_path / "latin.csv"
    path.write_bytes("x1,x2,y\n1,2,3\n\xe9,1,2\n".encode("latin-1"))
    code, err = _validate(tmp_path, _spec(path), capsys)
    assert code == 2 and "UTF-8" in err and len(err.strip().splitlines()) == 1


def _huge_column_table(tmp_path, scale, name):
    rng = np.random.default_rng(3)
    x1, x2 = rng.standard_normal(40), rng.standard_normal(40)
    y = 1.5 * x1 - 2.0 * x2 + 0.1 * rng.standard_normal(40)
    rows = [f"{float(a)!r},{float(b) * scale!r},{float(c)!r}" for a, b, c in zip(x1, x2, y)]
    return _table(tmp_path, rows, name=name), np.column_stack([x1, x2]), y


def test_a_feature_of_magnitude_1e160_is_standardised_right(tmp_path):
    """Oracle: scikit-learn's StandardScaler + Ridge on the same split of the unscaled data.

    regsim's J = (1/2n)||y - Xw||² + (α/2)||w||², so Ridge's α is n_train·α.
    Standardisation is scale invariant, so the column × 1e160 must give the
    same test MSE (before the fix its standard deviation overflowed to inf,
    its weight became 0 and the test MSE was several times too large).
    """
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler

    path, X, y = _huge_column_table(tmp_path, 1e160, "huge.csv")
    [row] = run_cells(regsim.load_spec(_spec(path)).cells, sweep="t", run_id="t")
    assert row["status"] == "ok", row["error"]

    order = rngs_for(0)["problem"].permutation(len(y))
    n_test = round(0.25 * len(y))
    test, train = order[:n_test], order[n_test:]
    scaler = StandardScaler().fit(X[train])
    ridge = Ridge(alpha=0.1 * len(train)).fit(scaler.transform(X[train]), y[train])
    expected = np.mean((ridge.predict(scaler.transform(X[test])) - y[test]) ** 2)
    assert row["test_mse"] == pytest.approx(expected, rel=1e-9)


def test_a_feature_whose_squares_overflow_is_refused_without_standardisation(tmp_path, capsys):
    path, _, _ = _huge_column_table(tmp_path, 1e160, "huge.csv")
    code, err = _validate(tmp_path, _spec(path, scale="none"), capsys)
    assert code == 2 and "'x2'" in err and "overflow" in err


def test_a_file_changed_after_validation_stores_an_error_not_diverged(tmp_path):
    path = _table(tmp_path, CLEAN)
    spec = regsim.load_spec(_spec(path))
    rows = list(CLEAN)
    rows[2] = "3,,7"
    path.write_text("x1,x2,y\n" + "\n".join(rows) + "\n")
    [row] = run_cells(spec.cells, sweep="t", run_id="t")
    assert row["status"] == "error"
    assert row["error"].startswith("DataError: ") and "'x2'" in row["error"]
    assert "line 4" in row["error"]


# ---------------------------------------------------------------- the kind: any problem's data


class Injected(Problem):
    """A third-party-style problem whose data carry one injected fault."""

    name = "injected"
    params = {"fault": Param(str, default="none",
                             choices=("none", "nan_x", "inf_test_x", "nan_y", "huge_x",
                                      "label_out_of_range")),
              "task": Param(str, default="regression", choices=("regression", "classification"))}

    def generate(self, rng):
        X, T = rng.standard_normal((30, 3)), rng.standard_normal((20, 3))
        classification = self.task == "classification"
        y = (rng.random(30) < 0.5).astype(int) if classification else rng.standard_normal(30)
        yt = (rng.random(20) < 0.5).astype(int) if classification else rng.standard_normal(20)
        if self.fault == "nan_x":
            X[7, 1] = np.nan
        elif self.fault == "inf_test_x":
            T[4, 2] = -np.inf
        elif self.fault == "nan_y":
            y = y.astype(float)
            y[11] = np.nan
        elif self.fault == "huge_x":
            X[:, 0] *= 1e200
        elif self.fault == "label_out_of_range":
            y[5] = 2
        return Dataset(X, y, T, yt, task=self.task, n_classes=2 if classification else None)


class _Plugin:
    @staticmethod
    @regsim.hookimpl
    def register_problems(register):
        register(Injected)


@pytest.mark.parametrize("fault, task, learner, penalty", [
    ("nan_x", "regression", "least_squares", "l2"),
    ("nan_x", "regression", "gradient_descent", "l2"),
    ("inf_test_x", "regression", "proximal_gradient", "l1"),
    ("nan_y", "regression", "lasso_path", "l1"),
    ("huge_x", "regression", "least_squares", "none"),
    ("label_out_of_range", "classification", "softmax_regression", "l2"),
    ("nan_x", "classification", "softmax_regression", "l2"),
])
def test_every_learner_gets_checked_data_from_a_third_party_problem(fault, task, learner, penalty):
    registry = Registry(plugins=(_Plugin,))
    spec = regsim.load_spec({
        "name": "inject", "seeds": [0, 1], "problem": {"plugin": "injected", "fault": fault,
                                                       "task": task},
        "learner": {"plugin": learner}, "penalty": {"plugin": penalty, **(
            {} if penalty == "none" else {"alpha": [0.01, 1.0]})},
    }, registry)
    rows = run_cells(spec.cells, sweep="t", run_id="t", registry=registry)
    assert {r["status"] for r in rows} == {"error"}
    assert all(r["error"].startswith("DataError: problem 'injected': ") for r in rows)

    clean = regsim.load_spec({**spec.raw, "problem": {"plugin": "injected", "task": task}},
                             registry)
    rows = run_cells(clean.cells, sweep="t", run_id="t", registry=registry)
    assert all(r["status"] in ("ok", "not_converged") for r in rows), rows[0]["error"]


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 12), d=st.integers(1, 5), data=st.data(),
       bad=st.sampled_from([np.nan, np.inf, -np.inf, 1e200, "text", None]),
       split=st.sampled_from(["X_train", "X_test", "y_train"]))
def test_check_dataset_finds_any_injected_fault_and_names_it(n, d, data, bad, split):
    rng = np.random.default_rng(0)
    arrays = {"X_train": rng.standard_normal((n, d)), "X_test": rng.standard_normal((3, d)),
              "y_train": rng.standard_normal(n), "y_test": rng.standard_normal(3)}
    names = [f"feat{j}" for j in range(d)]
    ds = Dataset(**arrays, info={"features": names})
    assert check_dataset(ds, "src") is ds  # clean data pass

    target = arrays[split].astype(object) if isinstance(bad, str) or bad is None \
        else arrays[split].copy()
    i = data.draw(st.integers(0, target.shape[0] - 1))
    j = data.draw(st.integers(0, d - 1)) if target.ndim == 2 else None
    if target.ndim == 2:
        target[i, j] = bad
    else:
        target[i] = bad
    if bad == 1e200 and split == "X_test":
        return  # a large test value squares nothing in a fit: nothing to refuse
    faulty = Dataset(**{**arrays, split: target}, info={"features": names})
    with pytest.raises(DataError) as exc:
        check_dataset(faulty, "problem 'p'")
    message = str(exc.value)
    assert message.startswith("problem 'p': ")
    column = repr(names[j]) if j is not None else "'target'"
    assert column in message
    assert "\n" not in message
