"""Benchmark: exact arithmetic dropout ensemble, factorised enumeration vs blocks of masks.

Problem: softmax regression with d = 16 droppable inputs (drop probability
0.5 and 0.2, inverted dropout), C = 10 classes, n = 1000 test points, random
weights and biases (standard normal) and standard-normal inputs; the exact
arithmetic mean Σ_μ p(μ) softmax(z_μ(x)) runs over all 2^16 = 65536 masks.

* ours: :func:`regsim.plugins.dropout.exact.exact_means` (the logits split into
  two halves of 8 units, exp z = exp z_A · exp z_B, every pair's softmax
  normaliser from one batched matrix product per block of points).
* peer: the straightforward vectorised enumeration: blocks of 1024 masks,
  logits ``X @ (μ ⊙ W / keep) + b`` for the whole block as one batched matrix
  product, a stable softmax, and the p(μ)-weighted sum.

Both give the same result to 1e-12 (max |Δp| and ``same_answers`` are
reported; ``run.py`` fails when they differ). Ours limits BLAS to one thread inside (its products are small and
thread synchronisation dominated them on a busy 2-core machine); the peer is
timed both with the default BLAS threads and limited to one thread, and the
ratio is taken against the faster of the two. Times are best-of-``repeats`` wall times (``time.perf_counter``)
in one process, so the ratio compares like with like on the same machine.

Run ``python benchmarks/bench_dropout.py``; ``main()`` returns the results.
"""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits

from regsim.plugins.dropout.exact import all_masks, exact_means, mask_probabilities
from timing import best_time

D, C, N = 16, 10, 1000
PEER_BLOCK = 1024
TOLERANCE = 1e-12  # max |Δp| between ours and the peer


def make_problem(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((D, C)), rng.standard_normal(C), rng.standard_normal((N, D))


def ours(W, b, X, drop):
    return exact_means([W], [b], X, [drop], geometric=False)["arithmetic"]


def blocks_of_masks(W, b, X, drop, block=PEER_BLOCK):
    """The straightforward enumeration: every mask's softmax, in blocks of masks."""
    masks = all_masks(W.shape[0])
    prob = mask_probabilities(masks, drop)
    out = np.zeros((X.shape[0], W.shape[1]))
    for lo in range(0, len(masks), block):
        M = masks[lo:lo + block]
        Z = X @ (M[:, :, None] * W[None] / (1.0 - drop)) + b  # (block, n, C)
        E = np.exp(Z - Z.max(axis=2, keepdims=True))
        E /= E.sum(axis=2, keepdims=True)
        out += np.tensordot(prob[lo:lo + block], E, axes=(0, 0))
    return out



def run_case(drop, repeats=3, seed=0):
    W, b, X = make_problem(seed)
    t_threads, P_peer = best_time(lambda: blocks_of_masks(W, b, X, drop), repeats)
    with threadpool_limits(limits=1, user_api="blas"):
        t_one, _ = best_time(lambda: blocks_of_masks(W, b, X, drop), repeats)
    t_ours, P_ours = best_time(lambda: ours(W, b, X, drop), repeats)
    diff = float(np.max(np.abs(P_ours - P_peer)))
    t_peer = min(t_threads, t_one)
    return {"peer_time_default_threads": t_threads, "peer_time_one_thread": t_one,
            "peer_time": t_peer, "ours_time": t_ours, "ratio": t_peer / t_ours,
            "max_abs_diff": diff, "same_answers": bool(diff <= TOLERANCE)}


def main(repeats=3, seed=0, verbose=True):
    """Run drop probabilities 0.5 and 0.2; return ``{case: results}`` and print a table."""
    results = {f"drop={p}": run_case(p, repeats, seed) for p in (0.5, 0.2)}
    if verbose:
        head = (f"{'case':<10}{'peer (threads)':>16}{'peer (1 thread)':>17}{'factorised':>12}"
                f"{'ratio':>8}{'max |Δp|':>11}")
        print(head)
        print("-" * len(head))
        for name, r in results.items():
            print(f"{name:<10}{r['peer_time_default_threads']:>15.2f}s"
                  f"{r['peer_time_one_thread']:>16.2f}s{r['ours_time']:>11.2f}s"
                  f"{r['ratio']:>8.1f}{r['max_abs_diff']:>11.1e}")
        print(f"2^{D} masks, n={N} test points, C={C} classes; "
              f"ratio = faster peer time / our time")
    return results


if __name__ == "__main__":
    main()
