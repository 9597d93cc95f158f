"""docs/plugin-tutorial.md, followed literally: its files are written to a directory outside
the repository, pip-installed (one package per component kind: a penalty, a problem, an
inference strategy), listed with their parameters by `regsim plugins` and `regsim describe`,
checked by the kit through pytest (the packages' own tests) and `regsim plugins --check`, and
run in sweeps."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import regsim



def pip_install(*paths) -> None:
    """One real ``pip install --no-deps`` of local packages (as conftest.pip_install, batched)."""
    import importlib
    import importlib.util

    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
           "--disable-pip-version-check"]
    if importlib.util.find_spec("wheel") is not None:
        cmd.append("--no-build-isolation")
    subprocess.run(cmd + [str(p) for p in paths], check=True, capture_output=True)
    importlib.invalidate_caches()
    regsim.get_registry.cache_clear()

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "plugin-tutorial.md"
BLOCK = re.compile(r'^```\w+ title="([^"]+)"\n(.*?)^```$', re.M | re.S)
CONSOLE = re.compile(r"^```console\n(.*?)^```$", re.M | re.S)
PACKAGES = {"regsim-huber": "regsim_huber", "regsim-diabetes": "regsim_diabetes",
            "regsim-trimmed": "regsim_trimmed"}


def tutorial_files() -> dict[str, str]:
    return {path: body for path, body in BLOCK.findall(TUTORIAL.read_text())}


def _regsim(*args, env=None):
    return subprocess.run([sys.executable, "-m", "regsim.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture(scope="module")
def tutorial_packages(tmp_path_factory):
    """The tutorial's three packages built from the page and installed (not editable)."""
    root = tmp_path_factory.mktemp("tutorial")
    for rel, body in tutorial_files().items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(body)
    pip_install(*(root / dist for dist in PACKAGES))
    yield root
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", *PACKAGES],
                   capture_output=True)
    for module in PACKAGES.values():
        sys.modules.pop(module, None)
    regsim.get_registry.cache_clear()


@pytest.fixture(scope="module")
def huber_package(tutorial_packages):
    return tutorial_packages


def test_tutorial_has_the_files_it_promises():
    assert set(tutorial_files()) == {
        "regsim-huber/pyproject.toml", "regsim-huber/regsim_huber.py",
        "regsim-huber/tests/test_huber.py", "huber-sweep.yaml",
        "regsim-diabetes/pyproject.toml", "regsim-diabetes/regsim_diabetes.py",
        "regsim-diabetes/tests/test_diabetes.py",
        "regsim-trimmed/pyproject.toml", "regsim-trimmed/regsim_trimmed.py",
        "regsim-trimmed/tests/test_trimmed.py", "plugins-sweep.yaml"}


@pytest.mark.slow
def test_each_kind_is_installed_and_listed_with_its_parameters(tutorial_packages, capsys):
    from regsim.cli import main

    listed = _regsim("plugins", "--json")  # a fresh process finds the entry points
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    expected = {"huber": ("regsim-huber", "penalty", "huber", {"alpha", "delta"}),
                "diabetes": ("regsim-diabetes", "problem", "diabetes", {"n_train", "n_test"}),
                "trimmed": ("regsim-trimmed", "inference", "trimmed_mean", {"trim"})}
    for plugin, (dist, kind, name, params) in expected.items():
        assert plugins[plugin]["distribution"] == dist
        assert plugins[plugin]["components"] == {kind: [name]}
        details = plugins[plugin]["details"][kind][name]
        assert {p["name"] for p in details["params"]} == params
    trim = plugins["trimmed"]["details"]["inference"]["trimmed_mean"]["params"][0]
    assert (trim["default"], trim["ge"], trim["lt"], trim["path"]) == (0.1, 0, 0.5, False)
    assert plugins["trimmed"]["details"]["inference"]["trimmed_mean"]["accepts"] == ["bagging"]

    # `regsim plugins` and `regsim describe huber` print what the tutorial shows
    shown = next(b for b in CONSOLE.findall(TUTORIAL.read_text()) if "$ regsim plugins\n" in b)
    shown = shown.split("$ regsim plugins\n...\n")[1].split("...")[0]
    assert main(["plugins"]) == 0
    listed_text = capsys.readouterr().out
    assert shown in listed_text, listed_text[listed_text.find("huber  ("):][:800]
    shown = next(b for b in CONSOLE.findall(TUTORIAL.read_text()) if "$ regsim describe huber" in b)
    shown = shown.split("$ regsim describe huber\n")[1].split("...")[0]
    assert main(["describe", "huber"]) == 0
    described = capsys.readouterr().out
    assert described.startswith(shown), described
    assert main(["describe", "problem", "diabetes"]) == 0
    text = capsys.readouterr().out
    assert "n_train (int, default 300, >= 2): training rows" in text
    assert "Each seed draws another random split" in text  # the docstring


@pytest.mark.slow
def test_each_kind_passes_the_kit_through_pytest_and_the_cli(tutorial_packages):
    # the packages' own tests, written from the tutorial: parametrize_checks and regsim_check
    own = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider",
                          "--rootdir", str(tutorial_packages), *PACKAGES], capture_output=True,
                         text=True, cwd=tutorial_packages, timeout=300)
    assert own.returncode == 0, own.stdout[-3000:]
    outcomes = re.findall(r"^(\S+)::(\S+) (PASSED|SKIPPED|FAILED)", own.stdout, re.M)
    by_file = {}
    for path, _, outcome in outcomes:
        dist = "regsim-" + path.rsplit("test_", 1)[1].removesuffix(".py")
        by_file.setdefault(dist, []).append(outcome)
    assert by_file["regsim-huber"].count("PASSED") == 9  # 8 checks, 1 skipped (no theory) ...
    assert by_file["regsim-huber"].count("SKIPPED") == 1  # ... + 2 tests of its own
    assert by_file["regsim-diabetes"] == ["PASSED"] * 5  # 4 problem checks + the check_cell test
    # 7 inference checks + 2 tests; none skipped: the installed bagging ensembler builds the real
    # ensemble, and a regression-only strategy has the regression known-ensemble checks
    assert by_file["regsim-trimmed"] == ["PASSED"] * 9, own.stdout[-3000:]

    check = _regsim("plugins", "--check",
                    env={"REGSIM_LOAD_PLUGINS": "huber,diabetes,trimmed,bagging"})
    assert check.returncode == 0, check.stdout[-3000:]
    assert "penalty huber: ok (7 passed, 0 failed, 1 skipped)" in check.stdout
    assert "problem diabetes: ok (4 passed, 0 failed, 0 skipped)" in check.stdout
    assert "inference trimmed_mean: ok (7 passed, 0 failed, 0 skipped)" in check.stdout


def test_check_cell_message_is_the_one_shown(tutorial_packages):
    spec = yaml.safe_load((tutorial_packages / "plugins-sweep.yaml").read_text())
    spec["problem"]["n_train"] = 400
    with pytest.raises(regsim.SpecError) as info:
        regsim.load_spec(spec)
    assert f"`{info.value}`" in TUTORIAL.read_text()


def test_all_three_kinds_run_in_one_sweep(tutorial_packages):
    from regsim.runner import run_cells

    spec = regsim.load_spec(yaml.safe_load((tutorial_packages / "plugins-sweep.yaml").read_text()))
    assert len(spec) == 8
    rows = run_cells(spec.cells, sweep=spec.name, run_id="tutorial")
    assert [r["status"] for r in rows] == ["ok"] * 8, [r.get("error") for r in rows]
    mse = {}
    for r in rows:
        key = (r["seed"], r["penalty.alpha"], r["ensembler.k"])
        mse.setdefault(key, {})[r["inference"]] = r["test_mse"]
    for (seed, alpha, k), by in mse.items():
        if k == 1:  # one member: trimmed and arithmetic means are that member
            assert by["trimmed_mean"] == pytest.approx(by["arithmetic_mean"], rel=1e-12)
        else:  # five members, one dropped at each end: a different, comparable average
            assert by["trimmed_mean"] != by["arithmetic_mean"]
            assert by["trimmed_mean"] == pytest.approx(by["arithmetic_mean"], rel=0.2)


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
