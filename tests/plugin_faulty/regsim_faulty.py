"""A test-only plugin: a problem whose cells raise, go NaN, sleep or run slowly.

Registered through a real entry point: this directory holds
``regsim_faulty-0.1.dist-info/entry_points.txt``, so putting the directory on
``sys.path`` (``PYTHONPATH`` for subprocesses) makes ``importlib.metadata``
find the plugin exactly as it finds an installed distribution.
"""

import time

import numpy as np

import regsim
from regsim import Dataset, Param, Problem


class FaultyProblem(Problem):
    """Small linear regression with a failure mode.

    Modes: ``ok``; ``raise`` (ValueError in generate); ``nan`` (one test
    feature is NaN: bad input, so the cell is an error naming the column);
    ``slow`` (sleeps ``slow_s``, 30 s by default, in short steps, to overrun a
    time budget). ``sleep_s`` slows every mode (a cell with a known cost).
    """

    name = "faulty"
    params = {
        "mode": Param(str, default="ok", choices=("ok", "raise", "nan", "slow")),
        "n_features": Param(int, default=3, ge=1),
        "sleep_s": Param(float, default=0.0, ge=0),
        "slow_s": Param(float, default=30.0, ge=0, doc="sleep of the slow mode"),
        "spin_s": Param(float, default=0.0, ge=0, doc="busy CPU seconds (pure Python)"),
    }

    def generate(self, rng):
        if self.mode == "raise":
            raise ValueError("deliberate failure of a faulty cell")
        end = time.monotonic() + self.sleep_s + (self.slow_s if self.mode == "slow" else 0.0)
        while time.monotonic() < end:  # short sleeps: a time budget interrupts between them
            time.sleep(0.01)
        end = time.process_time() + self.spin_s
        while time.process_time() < end:
            pass
        d = self.n_features
        w = rng.standard_normal(d)
        X = rng.standard_normal((30, d))
        X_test = rng.standard_normal((20, d))
        y = X @ w + 0.1 * rng.standard_normal(30)
        y_test = X_test @ w + 0.1 * rng.standard_normal(20)
        if self.mode == "nan":
            X_test[0, 0] = np.nan
        return Dataset(X, y, X_test, y_test, w_true=w)


@regsim.hookimpl
def register_problems(register):
    register(FaultyProblem)
