"""Benchmark: an L2 path of 100 α with the closed-form ``least_squares`` learner vs a
loop of scikit-learn ``Ridge`` fits over the same α values.

Problem: X of shape (2000, 200) with standard-normal features, a dense w_true,
noise sd 0.5; 100 α logspaced over [1e-4, 1e2] (J = (1/2n)‖y − Xw‖² + (α/2)‖w‖²,
so Ridge gets alpha = n·α). regsim's learner is timed from the raw split: it
centres the data, forms H = XcᵀXc/n, takes one eigendecomposition and reads off
every α; scikit-learn refits from X for each α (``Ridge()`` defaults:
``solver="auto"``, which is Cholesky here; ``fit_intercept=True``). Both are
checked to agree to 1e-10 relative in every column. Times are best of
``repeats`` wall times (``time.perf_counter``) in the same process, with BLAS
limited to ``threads`` threads for both sides (default 1, via threadpoolctl):
multi-threaded OpenBLAS on a busy 2-core machine was measured 30x slower per
call, which made the ratio a measure of the machine's load, not of the method.

Run ``python benchmarks/bench_l2_path.py`` (or ``make bench``); ``main()``
returns the figures as a dict.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge
from threadpoolctl import threadpool_limits

import regsim
from regsim import Dataset
from timing import best_time

N, D, N_ALPHAS = 2000, 200, 100
TOLERANCE = 1e-10  # relative ‖w_regsim − w_sklearn‖ / ‖w_sklearn‖ per α
REQUIRED_RATIO = 20.0


def make_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, D))
    y = X @ rng.standard_normal(D) + 0.5 * rng.standard_normal(N)
    return X, y, np.logspace(-4, 2, N_ALPHAS)


def regsim_path(X, y, alphas):
    """(d, m) weights from the registered ``least_squares`` learner and ``l2`` penalty."""
    registry = regsim.get_registry()
    learner = registry.get("learner", "least_squares")()
    penalty = registry.get("penalty", "l2")(alpha=alphas)
    data = Dataset(X, y, X[:1], y[:1])  # a fresh Dataset: nothing cached between repeats
    return learner.fit(data, penalty, np.random.default_rng(0)).W


def sklearn_path(X, y, alphas):
    n = X.shape[0]
    return np.column_stack([Ridge(alpha=n * a).fit(X, y).coef_ for a in alphas])



def main(repeats: int = 3, threads: int | None = 1, verbose: bool = True) -> dict:
    X, y, alphas = make_problem()
    with threadpool_limits(limits=threads, user_api="blas"):
        t_ours, W = best_time(lambda: regsim_path(X, y, alphas), repeats)
        t_sk, W_sk = best_time(lambda: sklearn_path(X, y, alphas), repeats)
    rel = np.linalg.norm(W - W_sk, axis=0) / np.linalg.norm(W_sk, axis=0)
    result = {
        "shape": f"{N}x{D}", "n_alphas": N_ALPHAS, "blas_threads": threads or "default",
        "regsim_s": t_ours, "sklearn_ridge_loop_s": t_sk, "ratio": t_sk / t_ours,
        "max_rel_diff": float(rel.max()),
        "same_answers": bool(rel.max() < TOLERANCE),
        "meets_20x": bool(t_sk / t_ours >= REQUIRED_RATIO),
    }
    if verbose:
        print(f"L2 path, X {N}x{D}, {N_ALPHAS} alphas (best of {repeats}, "
              f"BLAS threads: {threads or 'default'})")
        print(f"  regsim least_squares  {t_ours * 1e3:9.1f} ms")
        print(f"  sklearn Ridge loop    {t_sk * 1e3:9.1f} ms")
        print(f"  ratio {result['ratio']:.1f}x (need >= {REQUIRED_RATIO:g}x); "
              f"max relative difference {result['max_rel_diff']:.1e} (need < {TOLERANCE:g})")
    return result


if __name__ == "__main__":
    main()
