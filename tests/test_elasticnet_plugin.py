"""The example third-party package examples/regsim-elasticnet, installed for real (entry
point), in a sweep through the Prefect flow next to the built-in l1 and l2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import regsim
from regsim.report import write_report

PACKAGE = Path(__file__).resolve().parents[1] / "examples" / "regsim-elasticnet"


@pytest.mark.slow
def test_sweep_with_elastic_net_next_to_l1_and_l2(prefect_server, elasticnet_installed, tmp_path):
    spec = {
        "name": "enet",
        "seeds": 2,
        "problem": {"plugin": "linear_regression", "n_train": 80, "n_test": 50, "n_features": 6,
                    "design": "orthogonal", "condition": 20, "sparsity": 0.5},
        "learner": {"plugin": "proximal_gradient", "tol": 1e-13, "max_iter": 50000},
        "penalty": [{"plugin": "l1", "alpha": {"logspace": [-2, 0, 4]}},
                    {"plugin": "l2", "alpha": {"logspace": [-2, 0, 4]}},
                    {"plugin": "elastic_net", "alpha": {"logspace": [-2, 0, 4]},
                     "l1_ratio": [0.25, 0.75]}],
        "metrics": ["test_mse", "theory_gap", "sparsity", "coefficients"],
    }
    summary = regsim.run_sweep(spec, out=tmp_path, progress=False)
    assert summary["counts"] == {"ok": 32, "error": 0, "diverged": 0, "not_converged": 0}
    df = pd.read_parquet(tmp_path / "enet")
    assert df.groupby("penalty").size().to_dict() == {"elastic_net": 16, "l1": 8, "l2": 8}
    enet = df[df["penalty"] == "elastic_net"]
    assert set(enet["penalty.l1_ratio"]) == {0.25, 0.75}
    assert df.loc[df["penalty"] != "elastic_net", "penalty.l1_ratio"].isna().all()
    # H is diagonal (orthogonal design): the theory of all three is exact, so the
    # measured optimum of the generic learner must agree with it to solver precision.
    assert (df["theory_gap"] < 1e-8).all(), df.groupby("penalty")["theory_gap"].max()
    # an oracle outside regsim: sklearn's ElasticNet on the same data reproduces w
    # (the problem instance is regenerated from the cell's seed).
    from sklearn.linear_model import ElasticNet as SkElasticNet

    from regsim.runner import rngs_for

    row = enet.sort_values(["seed", "penalty.alpha"]).iloc[3]
    problem = regsim.get_registry().get("problem", "linear_regression")(
        **{k.split(".", 1)[1]: getattr(row[k], "item", lambda: row[k])()
           for k in df.columns if k.startswith("problem.")})
    data = problem.generate(rngs_for(int(row["seed"]))["problem"])
    sk = SkElasticNet(alpha=row["penalty.alpha"], l1_ratio=row["penalty.l1_ratio"], tol=1e-14,
                      max_iter=1_000_000).fit(data.X_train, data.y_train)
    np.testing.assert_allclose(np.asarray(row["w"]), sk.coef_, rtol=0, atol=1e-8)
    # more L1 share, more exact zeros at the same alpha
    big = enet[enet["penalty.alpha"] == 1.0].groupby("penalty.l1_ratio")["sparsity"].mean()
    assert big[0.75] >= big[0.25]

    report = write_report(tmp_path / "enet", tmp_path / "report")
    names = {p.name for p in report["figures"]}
    assert "elastic_net_path.png" in names, report["skipped"].get("elastic_net_path")
    assert (tmp_path / "report" / "elastic_net_path.png").stat().st_size > 0


def test_listed_and_checked_by_the_cli(elasticnet_installed):
    out = subprocess.run([sys.executable, "-m", "regsim.cli", "plugins", "--json"],
                         capture_output=True, text=True, check=True)
    plugins = {p["name"]: p for p in json.loads(out.stdout)["plugins"]}
    assert plugins["elasticnet"]["distribution"] == "regsim-elasticnet"
    assert plugins["elasticnet"]["components"] == {"penalty": ["elastic_net"],
                                                   "plot": ["elastic_net_path"]}
    assert "register_penalties" in plugins["elasticnet"]["hooks"]


@pytest.mark.slow
def test_package_own_tests_pass(elasticnet_installed):
    """The package's tests (kit + scikit-learn comparison) pass against this regsim."""
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(PACKAGE / "tests")], capture_output=True, text=True, cwd=PACKAGE)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
