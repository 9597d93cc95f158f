"""Plugins are discovered through real entry points (group ``regsim``).

Third-party plugins are real distributions on disk: a module plus a
``<name>-1.0.dist-info/`` folder (METADATA, entry_points.txt) on PYTHONPATH, so
importlib.metadata finds them in a fresh subprocess exactly as it finds pip-installed ones.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

BUILTINS = {
    "problem": {"linear_regression", "csv", "softmax_classification"},
    "learner": {"least_squares", "gradient_descent", "proximal_gradient", "lasso_path"},
    "penalty": {"l2", "l1"},
    "metric": {"train_mse", "test_mse", "weight_error", "sparsity", "theory_gap", "shrinkage"},
    "plot": {"l2_shrinkage", "l1_soft_threshold", "theory_gap"},
}


def _distribution(root, dist, module, source):
    """Write an installed-looking distribution ``dist`` 1.0 exposing ``module`` as a regsim plugin."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[regsim]\n{module} = {module}\n")


def _regsim(args, pythonpath=None):
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "regsim.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_plugins_lists_builtins_with_distribution_version_and_components():
    out = _regsim(["plugins", "--json"])
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["failed"] == []
    found = {}
    for plugin in data["plugins"]:
        if plugin["distribution"] == "regsim":
            assert plugin["version"] == __import__("regsim").__version__
            assert plugin["hooks"]
            for kind, names in plugin["components"].items():
                found.setdefault(kind, set()).update(names)
    for kind, names in BUILTINS.items():
        assert names <= found.get(kind, set()), kind

    text = _regsim(["plugins"])
    assert text.returncode == 0
    assert "problems  (regsim 0.1.0)" in text.stdout
    assert "learner: least_squares, gradient_descent, proximal_gradient, lasso_path" in text.stdout


@pytest.mark.slow  # subprocesses: a few seconds of imports
def test_a_third_party_plugin_is_found_and_usable(tmp_path):
    _distribution(tmp_path, "regsim-elastic", "regsim_elastic", """
        import numpy as np
        import regsim
        from regsim import Param, Penalty

        class Half(Penalty):
            name = "half_l2"
            params = {"alpha": Param(float, default=1.0, ge=0, path=True)}
            def value(self, W): return 0.25 * self.alpha * np.sum(W * W, axis=0)
            def grad(self, W): return 0.5 * self.alpha * W
            def prox(self, V, step): return V / (1 + 0.5 * step * self.alpha)

        @regsim.hookimpl
        def register_penalties(register):
            register(Half)
    """)
    out = _regsim(["plugins", "--json"], pythonpath=tmp_path)
    assert out.returncode == 0, out.stderr
    plugin = next(p for p in json.loads(out.stdout)["plugins"] if p["name"] == "regsim_elastic")
    assert plugin["distribution"] == "regsim-elastic" and plugin["version"] == "1.0"
    assert plugin["components"] == {"penalty": ["half_l2"]}
    # a penalty with only value/grad/prox works with the generic learner, no other change
    spec = tmp_path / "s.yaml"
    spec.write_text("problem: {plugin: linear_regression, n_train: 40, n_features: 4}\n"
                    "learner: {plugin: proximal_gradient}\npenalty: {plugin: half_l2, alpha: [0.1, 1]}\n")
    out = _regsim(["validate", str(spec)], pythonpath=tmp_path)
    assert out.returncode == 0 and "2 cells" in out.stdout, out.stderr


@pytest.mark.slow  # subprocesses: a few seconds of imports
def test_a_plugin_that_fails_to_import_is_reported_and_skipped(tmp_path):
    _distribution(tmp_path, "regsim-broken", "regsim_broken", """
        import numpy_that_does_not_exist
    """)
    out = _regsim(["plugins", "--json"], pythonpath=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert [f["name"] for f in data["failed"]] == ["regsim_broken"]
    assert "regsim-broken" in data["failed"][0]["error"]
    assert "numpy_that_does_not_exist" in data["failed"][0]["error"]
    assert "warning: plugin regsim_broken skipped" in out.stderr
    assert any(p["name"] == "penalties" for p in data["plugins"])  # the rest still loads

    text = _regsim(["plugins"], pythonpath=tmp_path)
    assert "regsim_broken  FAILED TO LOAD" in text.stdout
    # other commands keep working
    quickstart = os.path.join(os.path.dirname(__file__), "..", "examples", "quickstart.yaml")
    out = _regsim(["validate", quickstart], pythonpath=tmp_path)
    assert out.returncode == 0, out.stderr


def test_a_misspelt_hook_is_reported_and_skipped(tmp_path):
    _distribution(tmp_path, "regsim-typo", "regsim_typo", """
        import regsim

        @regsim.hookimpl
        def register_penalty(register):  # should be register_penalties
            pass
    """)
    data = json.loads(_regsim(["plugins", "--json"], pythonpath=tmp_path).stdout)
    failed = {f["name"]: f["error"] for f in data["failed"]}
    assert "regsim_typo" in failed and "register_penalty" in failed["regsim_typo"]


def test_two_plugins_claiming_one_name_is_an_error_naming_both(tmp_path):
    _distribution(tmp_path, "regsim-other-l2", "regsim_other_l2", """
        import regsim
        from regsim import Param, Penalty

        class L2(Penalty):
            name = "l2"
            params = {"alpha": Param(float, default=1.0, ge=0, path=True)}

        @regsim.hookimpl
        def register_penalties(register):
            register(L2)
    """)
    out = _regsim(["plugins"], pythonpath=tmp_path)
    assert out.returncode == 2
    err = out.stderr
    assert "penalty name 'l2' is claimed by two plugins" in err
    assert "from regsim 0.1.0" in err and "from regsim-other-l2 1.0" in err
