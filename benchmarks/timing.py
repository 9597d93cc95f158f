"""Timing shared by the benchmark scripts (imported from their own directory)."""

import time

import numpy as np


def best_time(fn, repeats: int):
    """Best wall time of ``repeats`` calls of ``fn`` and the last call's result."""
    best, result = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result
