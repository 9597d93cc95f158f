"""Which plugins load: REGSIM_LOAD_PLUGINS, --plugins-dir / REGSIM_PLUGINS_DIR one-file
plugins, and the declared plugin API version a plugin may require."""

import json
import os
import subprocess
import sys

import pytest

import regsim
from regsim.registry import Registry, api_incompatibility

GOOD = '''
import numpy as np
import regsim
from regsim import Param, Penalty

regsim_api = ">=1"


class Scaled(Penalty):
    """(α/2)·‖w‖² written as a local one-file plugin."""

    name = "scaled_l2"
    params = {"alpha": Param(float, default=1.0, ge=0, path=True)}

    def value(self, W):
        return 0.5 * self.alpha * np.sum(W * W, axis=0)

    def grad(self, W):
        return self.alpha * W

    def prox(self, V, step):
        return V / (1.0 + step * self.alpha)


@regsim.hookimpl
def register_penalties(register):
    register(Scaled)
'''

WRONG_SIGN = GOOD.replace("return self.alpha * W", "return -self.alpha * W").replace(
    '"scaled_l2"', '"wrong_sign"')

NEEDS_API_2 = '''
import regsim

regsim_api = 2


@regsim.hookimpl
def register_penalties(register):
    raise AssertionError("a refused plugin must never be called")
'''


@pytest.fixture
def plugins_dir(tmp_path):
    d = tmp_path / "local_plugins"
    d.mkdir()
    (d / "good.py").write_text(GOOD)
    (d / "broken.py").write_text("import no_such_module_anywhere\n")
    (d / "future.py").write_text(NEEDS_API_2)
    (d / "_private.py").write_text("raise RuntimeError('files starting with _ are not plugins')\n")
    return d


def test_load_plugins_env_restricts_entry_points(monkeypatch):
    monkeypatch.setenv("REGSIM_LOAD_PLUGINS", "penalties, metrics")
    reg = Registry()
    assert set(reg.plugins) == {"penalties", "metrics"}
    assert reg.names("penalty") == ["l1", "l2", "none"] and reg.names("learner") == []
    monkeypatch.setenv("REGSIM_LOAD_PLUGINS", "regsim")  # a distribution name loads all its entry points
    assert {"penalties", "learners", "problems"} <= set(Registry().plugins)
    monkeypatch.setenv("REGSIM_LOAD_PLUGINS", "")
    assert Registry().plugins == {}


def test_plugins_dir_loads_reports_and_refuses(plugins_dir, monkeypatch):
    monkeypatch.setenv("REGSIM_PLUGINS_DIR", str(plugins_dir))
    reg = Registry()
    assert reg.get("penalty", "scaled_l2").__module__ == "regsim_local_plugins.good"
    assert reg.plugins["good"].distribution == f"local file {plugins_dir / 'good.py'}"
    failures = dict(reg.failures)
    assert {"broken", "future"} <= set(failures) and not {"good", "_private"} & set(failures)
    assert "import failed: ModuleNotFoundError: No module named 'no_such_module_anywhere'" \
        in failures["broken"]
    assert failures["future"].endswith(
        "requires regsim plugin API >=2, but regsim 0.1.0 provides plugin API 1; upgrade regsim")
    # the same restriction applies to files
    monkeypatch.setenv("REGSIM_LOAD_PLUGINS", "good")
    reg = Registry()
    assert list(reg.plugins) == ["good"] and reg.failures == []


def test_local_plugin_component_pickles_by_reference(plugins_dir, monkeypatch):
    import pickle

    monkeypatch.setenv("REGSIM_PLUGINS_DIR", str(plugins_dir))
    cls = Registry().get("penalty", "scaled_l2")
    copy = pickle.loads(pickle.dumps(cls(alpha=0.5)))
    assert type(copy) is cls and copy.alpha == 0.5


@pytest.mark.parametrize("requirement, ok", [
    (None, True), (1, True), (">=1", True), ("==1", True), (">=1,<3", True),
    (2, False), (">=2", False), ("<1", False), ("!=1", False),
])
def test_api_requirements(requirement, ok):
    assert (api_incompatibility(requirement) is None) is ok
    assert regsim.PLUGIN_API_VERSION == 1


def test_api_requirement_messages():
    assert "use a version of the plugin written for it" in api_incompatibility("<1")
    assert api_incompatibility(">=2", provided=2) is None
    assert "invalid regsim_api requirement 'one'" in api_incompatibility("one")


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "regsim.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})})


def test_cli_plugins_dir_lists_and_reports(plugins_dir):
    out = _cli("--plugins-dir", str(plugins_dir), "plugins", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    names = {p["name"]: p for p in data["plugins"]}
    assert names["good"]["components"] == {"penalty": ["scaled_l2"]}
    assert "penalties" in names  # entry points still load
    failed = {f["name"]: f["error"] for f in data["failed"]}
    assert "requires regsim plugin API >=2" in failed["future"]
    assert "regsim: warning: plugin broken skipped" in out.stderr


def test_cli_check_reports_per_plugin_and_component(tmp_path):
    d = tmp_path / "p"
    d.mkdir()
    (d / "good.py").write_text(GOOD)
    (d / "bad.py").write_text(WRONG_SIGN)
    out = _cli("--plugins-dir", str(d), "plugins", "--check",
               env={"REGSIM_LOAD_PLUGINS": "good,bad,penalties"})
    assert out.returncode == 1, out.stdout + out.stderr
    text = out.stdout
    assert "penalty scaled_l2: ok (7 passed, 0 failed, 1 skipped)" in text
    assert "penalty l1: ok" in text
    bad_section = text.split("bad  (local file")[1].split("\n\n")[0]
    assert "penalty wrong_sign: FAILED (6 passed, 1 failed, 1 skipped)" in bad_section
    assert "FAIL penalty_grad_finite_differences: grad[" in bad_section
    assert "FAILED: 1 failure(s) over 3 plugin(s)" in text

    ok = _cli("--plugins-dir", str(d), "plugins", "--check", "--json",
              env={"REGSIM_LOAD_PLUGINS": "good"})
    assert ok.returncode == 0, ok.stdout
    report = json.loads(ok.stdout)
    assert report["failed"] == 0
    assert [c["name"] for c in report["plugins"][0]["components"]] == ["scaled_l2"]


@pytest.mark.slow
def test_local_plugin_runs_in_a_sweep(plugins_dir, prefect_server, tmp_path, monkeypatch):
    monkeypatch.setenv("REGSIM_PLUGINS_DIR", str(plugins_dir))
    regsim.get_registry.cache_clear()
    try:
        spec = {"name": "local", "seeds": 1,
                "problem": {"plugin": "linear_regression", "n_train": 40, "n_features": 4},
                "learner": {"plugin": "proximal_gradient"},
                "penalty": [{"plugin": "scaled_l2", "alpha": [0.1, 1.0]},
                            {"plugin": "l2", "alpha": [0.1, 1.0]}],
                "metrics": ["coefficients"]}
        summary = regsim.run_sweep(spec, out=tmp_path, progress=False)
        assert summary["counts"]["ok"] == 4
        df = regsim.open_results(summary["run_dir"]).sort_values(["penalty.alpha", "penalty"])
        # the local penalty is L2 written again: same optimum as the built-in
        import numpy as np
        for alpha in (0.1, 1.0):
            rows = df[df["penalty.alpha"] == alpha]
            np.testing.assert_allclose(*[np.asarray(w) for w in rows["w"]], atol=1e-9)
    finally:
        monkeypatch.delenv("REGSIM_PLUGINS_DIR")
        regsim.get_registry.cache_clear()
