"""docs/plugin-tutorial.md, followed literally: its files are written to a directory outside
the repository, pip-installed, listed by `regsim plugins`, checked by the kit (the
package's own tests) and run in a sweep with the generic proximal_gradient learner."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import regsim

from conftest import pip_install

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "plugin-tutorial.md"
BLOCK = re.compile(r'^```\w+ title="([^"]+)"\n(.*?)^```$', re.M | re.S)


def tutorial_files() -> dict[str, str]:
    return {path: body for path, body in BLOCK.findall(TUTORIAL.read_text())}


@pytest.fixture(scope="module")
def huber_package(tmp_path_factory):
    """The tutorial's package built from the page and installed (not editable) for this module."""
    root = tmp_path_factory.mktemp("tutorial")
    for rel, body in tutorial_files().items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(body)
    pip_install(root / "regsim-huber")
    yield root
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "regsim-huber"],
                   capture_output=True)
    sys.modules.pop("regsim_huber", None)
    regsim.get_registry.cache_clear()


def test_tutorial_has_the_files_it_promises():
    assert set(tutorial_files()) == {"regsim-huber/pyproject.toml", "regsim-huber/regsim_huber.py",
                                     "regsim-huber/tests/test_huber.py", "huber-sweep.yaml"}


@pytest.mark.slow
def test_installed_listed_and_passes_the_kit(huber_package):
    listed = subprocess.run([sys.executable, "-m", "regsim.cli", "plugins", "--json"],
                            capture_output=True, text=True, check=True)
    plugins = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    assert plugins["huber"]["distribution"] == "regsim-huber"
    assert plugins["huber"]["components"] == {"penalty": ["huber"]}
    # the package's own tests, written from the tutorial, use the kit
    own = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                         capture_output=True, text=True, cwd=huber_package / "regsim-huber")
    assert own.returncode == 0, own.stdout[-3000:]
    assert re.search(r"\b9 passed, 1 skipped\b", own.stdout), own.stdout[-1000:]
    # and the CLI verdict the tutorial shows
    check = subprocess.run([sys.executable, "-m", "regsim.cli", "plugins", "--check"],
                           capture_output=True, text=True, env={**__import__("os").environ,
                                                                "REGSIM_LOAD_PLUGINS": "huber"})
    assert "penalty huber: ok (7 passed, 0 failed, 1 skipped)" in check.stdout
    assert check.returncode == 0


def test_bad_value_message_is_the_one_shown(huber_package):
    spec = yaml.safe_load((huber_package / "huber-sweep.yaml").read_text())
    spec["penalty"][0]["delta"] = [-1, 1.0]
    with pytest.raises(regsim.SpecError) as info:
        regsim.load_spec(spec)
    assert str(info.value) + " (in huber-sweep.yaml)" in TUTORIAL.read_text()


@pytest.mark.slow
def test_runs_in_a_sweep_with_proximal_gradient(huber_package, prefect_server, tmp_path):
    from scipy.optimize import minimize

    spec = yaml.safe_load((huber_package / "huber-sweep.yaml").read_text())
    summary = regsim.run_sweep(spec, out=tmp_path, progress=False)
    assert summary["counts"] == {"ok": 42, "error": 0, "diverged": 0, "not_converged": 0}
    df = regsim.open_results(summary["run_dir"])
    huber = df[df["penalty"] == "huber"]
    assert len(huber) == 28 and set(huber["penalty.delta"]) == {0.05, 1.0}
    assert df.loc[df["penalty"] == "l1", "sparsity"].max() > 0  # l1 zeros weights ...
    assert (huber["sparsity"] == 0).all()  # ... the smooth Huber penalty does not

    # oracle: L-BFGS on the (continuously differentiable) Huber objective, same data
    from regsim.runner import rngs_for

    row = huber.sort_values(["seed", "penalty.delta", "penalty.alpha"]).iloc[12]
    problem = regsim.get_registry().get("problem", "linear_regression")(
        **{k.split(".", 1)[1]: getattr(row[k], "item", lambda: row[k])()
           for k in df.columns if k.startswith("problem.")})
    data = problem.generate(rngs_for(int(row["seed"]))["problem"]).centred
    alpha, delta = row["penalty.alpha"], row["penalty.delta"]

    def objective(w):
        r = data.y - data.X @ w
        a = np.abs(w)
        h = np.where(a <= delta, w * w / (2 * delta), a - delta / 2)
        grad = -data.X.T @ r / data.n + alpha * np.clip(w / delta, -1, 1)
        return r @ r / (2 * data.n) + alpha * h.sum(), grad

    best = minimize(objective, np.zeros(data.X.shape[1]), jac=True, method="L-BFGS-B",
                    options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10000})
    np.testing.assert_allclose(np.asarray(row["w"]), best.x, rtol=0, atol=1e-5)
