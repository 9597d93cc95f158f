"""Shared fixtures. Prefect's state lives in a fresh temporary PREFECT_HOME per test
session (set before prefect is imported), and flows run against a real
temporary server started once per session by ``prefect_test_harness``."""

import os
import shutil
import tempfile

_PREFECT_HOME = tempfile.mkdtemp(prefix="regsim-test-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_SERVER_LOGGING_LEVEL"] = "CRITICAL"
os.environ.pop("PREFECT_API_URL", None)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def prefect_server():
    """A real Prefect server (new SQLite database) for the session; heartbeats off."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield
    shutil.rmtree(_PREFECT_HOME, ignore_errors=True)


@pytest.fixture
def faulty_plugin(monkeypatch):
    """The test-only ``faulty`` problem (tests/plugin_faulty, a real entry point) in this process.

    Cells of ``{plugin: faulty, mode: raise}`` fail at run time for a reason no spec
    shows. The process registry is rebuilt with it, and again without it afterwards.
    """
    import importlib
    import sys
    from pathlib import Path

    from regsim import get_registry

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent / "plugin_faulty"))
    importlib.invalidate_caches()
    get_registry.cache_clear()
    yield get_registry()
    monkeypatch.undo()
    sys.modules.pop("regsim_faulty", None)
    importlib.invalidate_caches()
    get_registry.cache_clear()


@pytest.fixture
def small_spec():
    """A small spec dict: an L2 path and an L1 path on an orthogonal design, 2 seeds."""
    return {
        "name": "small",
        "seeds": 2,
        "problem": {"plugin": "linear_regression", "n_train": 60, "n_test": 50,
                    "n_features": 6, "design": "orthogonal", "condition": 50},
        "learner": [{"plugin": "least_squares"}, {"plugin": "lasso_path"}],
        "penalty": [{"plugin": "l2", "alpha": {"logspace": [-2, 1, 5]}},
                    {"plugin": "l1", "alpha": {"logspace": [-2, 0, 5]}}],
        "zip": [["learner", "penalty"]],
    }


def pip_install(path, *, editable: bool = False) -> None:
    """``pip install --no-deps`` a local package into the running interpreter's environment.

    Without build isolation when ``wheel`` is importable (seconds faster, offline);
    then the import caches and the per-process plugin registry are refreshed so
    the new entry points load in this process.
    """
    import importlib
    import importlib.util
    import site
    import subprocess
    import sys
    import sysconfig

    from regsim import get_registry

    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
           "--disable-pip-version-check"]
    if importlib.util.find_spec("wheel") is not None:
        cmd.append("--no-build-isolation")
    cmd += ["-e", str(path)] if editable else [str(path)]
    subprocess.run(cmd, check=True, capture_output=True)
    # .pth files (editable installs) are read at interpreter start: read the new ones now.
    site.addsitedir(sysconfig.get_paths()["purelib"])
    importlib.invalidate_caches()
    get_registry.cache_clear()


@pytest.fixture(scope="session")
def elasticnet_installed():
    """examples/regsim-elasticnet installed (editable) into this environment, once.

    A fresh clone's ``make test`` installs it here; later sessions find it importable.
    """
    import importlib.metadata
    from pathlib import Path

    try:
        importlib.metadata.distribution("regsim-elasticnet")
    except importlib.metadata.PackageNotFoundError:
        pip_install(Path(__file__).resolve().parents[1] / "examples" / "regsim-elasticnet",
                    editable=True)
    from regsim import get_registry

    get_registry.cache_clear()
    return get_registry()
