"""Benchmark: a sweep over drop probabilities trained as one batch against cell by cell.

Problem: scikit-learn's digits (1,348 training images, 64 pixels, 10 classes), an
MLP with one hidden layer of 64 ReLU units, 10 epochs of momentum SGD,
mini-batches of 32, L2 1e-4; ten ``drop_hidden`` values 0.05..0.7 (DROP
probabilities; keep = 1 − drop), no input dropout.

* ours: one ``dropout`` ensembler fit with ``drop_hidden`` as a path (the ten
  networks side by side);
* peer: the same ensembler fitted once per drop probability (what a sweep did
  before drop probabilities were path parameters).

``same_answers``: every batched network equals its solo network bit for bit.
Run ``python benchmarks/bench_dropout_path.py``; ``main()`` returns the results.
"""

from __future__ import annotations

import numpy as np

import regsim
from timing import best_time

DROPS = np.linspace(0.05, 0.7, 10)


def _setup():
    reg = regsim.get_registry()
    data = reg.get("problem", "digits")().generate(np.random.default_rng(0))
    mlp = reg.get("learner", "mlp")(hidden=[64], n_epochs=10)
    return reg, data, mlp


def ours(reg, data, mlp):
    ens = reg.get("ensembler", "dropout")(drop_input=0.0, drop_hidden=DROPS)
    fit = ens.fit(data, mlp, reg.get("penalty", "l2")(alpha=np.full(len(DROPS), 1e-4)),
                  np.random.default_rng(1))
    return [[W[fit.index[j]] for W in fit.network.weights] for j in range(len(DROPS))]


def one_by_one(reg, data, mlp):
    out = []
    for d in DROPS:
        fit = reg.get("ensembler", "dropout")(drop_input=0.0, drop_hidden=float(d)).fit(
            data, mlp, reg.get("penalty", "l2")(alpha=1e-4), np.random.default_rng(1))
        out.append([W[0] for W in fit.network.weights])
    return out


def main(repeats: int = 2):
    reg, data, mlp = _setup()
    t_peer, peer = best_time(lambda: one_by_one(reg, data, mlp), repeats)
    t_ours, mine = best_time(lambda: ours(reg, data, mlp), repeats)
    same = all(np.array_equal(a, b) for ws, wp in zip(mine, peer) for a, b in zip(ws, wp))
    result = {"drop_path_10_networks": {"ours_s": t_ours, "one_by_one_s": t_peer,
                                        "speedup": t_peer / t_ours, "same_answers": same}}
    print(result)
    return result


if __name__ == "__main__":
    main()
