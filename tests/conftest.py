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
