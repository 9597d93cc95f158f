"""Benchmark: bagged least squares, batched, vs scikit-learn; and the cost of the k path.

1. Fit 50 bootstrap members of least squares on X of shape (2000, 200):
   regsim's ``bagging`` ensembler with ``least_squares`` (count-weighted Gram
   matrices stacked, one batched ``eigh``) against
   ``BaggingRegressor(LinearRegression(), n_estimators=50)`` (one ``lstsq``
   per member). Both fit from the same data; sanity check: fed scikit-learn's
   own bootstrap indices, regsim's batched fit predicts what scikit-learn
   predicts (max relative difference and ``same_answers`` at 1e-10 reported).
2. A sweep group evaluating every k = 1..50 (50 cells, one batched fit,
   prefix means) against the same group with k = 50 only (1 cell), both
   through ``regsim.runner.run_cells`` with metrics ``test_mse`` and
   ``bagging_moments`` (problem generation, fit, inference, metrics, rows).

Times are best-of-5 wall times, the two sides interleaved (``time.perf_counter``), all in one process.
Both sides run with the same number of BLAS threads, 1 by default
(``REGSIM_BENCH_THREADS`` overrides): on a shared 2-core machine OpenBLAS
threads spin against other processes and multi-threaded timings of either
side varied tenfold between runs.

Run ``python benchmarks/bench_bagging.py``; ``main()`` returns the results.
"""

from __future__ import annotations

import os
import time

import numpy as np
from sklearn.ensemble import BaggingRegressor
from sklearn.linear_model import LinearRegression
from threadpoolctl import threadpool_limits

import regsim
from regsim.runner import rngs_for, run_cells

N, D, K = 2000, 200, 50
REPEATS = 5
#: Same indices, same predictions: max |Δ| / max |prediction| (``same_answers``; run.py fails above).
TOLERANCE = 1e-10


def best_of(*fns, repeats=REPEATS):
    """Best wall time of each function, run interleaved so load drifts hit both alike."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return [min(ts) for ts in times]


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D))
    X_test = rng.standard_normal((1000, D))
    w = rng.standard_normal(D)
    y = X @ w + rng.standard_normal(N)
    y_test = X_test @ w + rng.standard_normal(1000)
    return regsim.Dataset(X, y, X_test, y_test)


def bench_members():
    reg = regsim.get_registry()
    data = make_data()
    learner = reg.get("learner", "least_squares")()
    penalty = reg.get("penalty", "none")()
    bagging = reg.get("ensembler", "bagging")(k=K)

    def ours():
        rng = rngs_for(0)["ensembler"]
        return bagging.fit(data, learner, penalty, rng)

    def theirs():
        return BaggingRegressor(LinearRegression(), n_estimators=K, random_state=0).fit(
            data.X_train, data.y_train)

    t_ours, t_sk = best_of(ours, theirs)
    sk = theirs()
    counts = np.stack([np.bincount(idx, minlength=N) for idx in sk.estimators_samples_])
    pred = learner.fit_resamples(data, counts, penalty).predict(data.X_test).mean(axis=1)
    ref = sk.predict(data.X_test)
    rel = float(np.max(np.abs(pred - ref)) / np.max(np.abs(ref)))
    return {"ours_s": t_ours, "sklearn_s": t_sk, "speedup": t_sk / t_ours,
            "max_rel_diff_same_indices": rel, "same_answers": bool(rel < TOLERANCE)}


def bench_k_path():
    base = {"name": "bench-k", "seeds": [0],
            "problem": {"plugin": "linear_regression", "n_train": N, "n_test": 1000,
                        "n_features": D, "design": "identity"},
            "learner": {"plugin": "least_squares"}, "penalty": {"plugin": "none"},
            "inference": {"plugin": "arithmetic_mean"},
            "metrics": ["test_mse", "bagging_moments"]}
    every = regsim.load_spec({**base, "ensembler": {"plugin": "bagging",
                                                    "k": list(range(1, K + 1))}}).cells
    last = regsim.load_spec({**base, "ensembler": {"plugin": "bagging", "k": K}}).cells
    assert len(every) == K and len(last) == 1 and len({c.group for c in every}) == 1
    t_every, t_last = best_of(lambda: run_cells(every, sweep="bench", run_id="b"),
                              lambda: run_cells(last, sweep="bench", run_id="b"))
    return {"every_k_s": t_every, "k50_only_s": t_last, "ratio": t_every / t_last}


def main() -> dict:
    threads = int(os.environ.get("REGSIM_BENCH_THREADS", "1"))
    with threadpool_limits(threads):
        out = {"members": bench_members(), "k_path": bench_k_path(), "blas_threads": threads}
    m, p = out["members"], out["k_path"]
    print(f"50 bagged least-squares members on X {N}x{D} ({threads} BLAS thread(s)):")
    print(f"  regsim bagging (batched)        {m['ours_s']:.3f} s")
    print(f"  sklearn BaggingRegressor(LR)    {m['sklearn_s']:.3f} s")
    print(f"  speed-up                        {m['speedup']:.1f}x  (target >= 5x)")
    print(f"  same indices, max rel. diff     {m['max_rel_diff_same_indices']:.1e}")
    print("k path through run_cells (fit + inference + metrics + rows):")
    print(f"  every k = 1..50 (50 cells)      {p['every_k_s']:.3f} s")
    print(f"  k = 50 only (1 cell)            {p['k50_only_s']:.3f} s")
    print(f"  ratio                           {p['ratio']:.2f}  (target < 1.5)")
    return out


if __name__ == "__main__":
    main()
