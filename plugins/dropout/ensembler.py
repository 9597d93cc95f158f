"""Dropout as a cheap bagging of parameter-sharing sub-networks, and its inference strategies.

Conventions
-----------
* ``drop_input`` and ``drop_hidden`` are DROP probabilities (PyTorch's ``p``,
  Keras' ``rate``); each unit is kept with probability ``keep = 1 - drop``.
* Training uses **inverted dropout**: a kept unit is multiplied by ``1/keep``
  so the expected input of every unit equals its unmasked input. The
  sub-network of mask μ therefore computes from ``μ ⊙ h / keep``, and the
  weight-scaling rule (the full network with weights multiplied by the keep
  probability, relative to the sub-networks' effective weights ``W/keep``) is
  the trained network run without masks.
* Every strategy returns class probabilities ``(n, m, C)``; on regression
  problems (identity-output networks) ``weight_scaling`` and ``mc_arithmetic``
  return predictions ``(n, m)`` (the mean of the sub-networks' outputs), the
  geometric and exact strategies are classification-only.

Strategies
----------
``weight_scaling``
    The full network, no masks.
``mc_arithmetic``, ``mc_geometric``
    ``n_masks`` masks drawn per test point from the ensemble's own seed
    (derived from the cell's ensembler generator; the same uniform draws for
    every network of a batched group, compared with each network's drop
    probability); the arithmetic mean of the
    sub-network probabilities, or the normalised geometric mean (softmax of the
    mean logits: per-mask normalisers factor out). Masks are drawn in a fixed
    order, so a smaller ``n_masks`` uses a prefix of a larger one's masks.
``exact_arithmetic``, ``exact_geometric``
    Every mask of the droppable units weighted by p(μ)
    (:mod:`regsim.plugins.dropout.exact`); at most ``max_units`` droppable
    units (default 20), else the cell fails with an error saying so.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import numpy as np

import regsim
from regsim import Ensemble, Ensembler, InferenceStrategy, Param

from ..blas_threads import one_blas_thread
from .exact import TooManyUnits, exact_means
from .networks import Network, TrainingResult, softmax, training_columns

__all__ = ["DropoutEnsemble", "Dropout", "WeightScaling", "MCArithmetic", "MCGeometric",
           "ExactArithmetic", "ExactGeometric", "exact_ensemble", "TooManyUnits"]

#: Largest ``max_units`` an exact strategy accepts (2^26 masks).
MAX_UNITS_LIMIT = 26


@dataclass
class DropoutEnsemble(Ensemble):
    """Networks trained with dropout: the shared parameters of 2^k sub-networks per column.

    ``network`` holds one network per distinct penalty column; ``index`` maps
    each of the ``m`` cells to its column. ``drop[l]`` is the DROP probability
    of the inputs of layer ``l``. ``mask_seed`` seeds Monte Carlo inference.
    """

    network: Network = None  # type: ignore[assignment]
    index: np.ndarray = None  # type: ignore[assignment]
    drop: list = None  # type: ignore[assignment]
    mask_seed: int = 0
    kind: str = "dropout"
    cache: dict = field(default_factory=dict, repr=False)
    #: ``(u, L)``: the DROP probabilities of network ``j`` when they differ between the
    #: networks (a drop-probability path); ``drop`` is then ``None``.
    drops: np.ndarray | None = None
    #: ``(u,)``: the Monte Carlo seed of network ``j`` when the networks were trained in
    #: several batches (one per set of masked layers); ``mask_seed`` is then the first's.
    mask_seeds: np.ndarray | None = None

    @property
    def keep(self) -> list[float]:
        return [1.0 - p for p in self.drop]

    def mask_seed_of(self, j: int) -> int:
        """The seed of Monte Carlo masks for distinct network ``j``."""
        return int(self.mask_seeds[j]) if self.mask_seeds is not None else self.mask_seed

    def drop_of(self, j: int) -> list[float]:
        """DROP probabilities of the inputs of each layer of distinct network ``j``."""
        if self.drops is not None:
            return [float(p) for p in self.drops[j]]
        return list(self.drop)

    def take(self, index):
        """The ensemble for cells ``index`` of this one: the same networks, mask seeds, drop
        probabilities and cache of exact ensembles (so every strategy and metric enumerates
        them once)."""
        return replace(self, **self.taken_fields(index),
                       index=np.asarray(self.index)[np.asarray(index, dtype=int)], cache=self.cache)

    def column(self, j: int) -> tuple[list, list]:
        """Weights and biases of distinct column ``j`` as plain ``(d_l, d_{l+1})`` arrays."""
        return [W[j] for W in self.network.weights], [b[j] for b in self.network.biases]


class Dropout(Ensembler):
    """Train the learner's network with Bernoulli dropout masks on input and hidden units.

    A fresh mask per example per mini-batch step, drawn from the cell's
    ensembler generator (so the ensemble is deterministic under the cell seed);
    inverted dropout (kept units scaled by 1/keep). Works with learners that
    train networks (``softmax_regression``, ``linear_network``, ``mlp``);
    ``drop_hidden`` has no effect on networks with no hidden layer. On a
    linear network (regression) dropout on the inputs is, in expectation over
    masks, an adaptive L2 penalty (metric ``dropout_l2``).
    """

    name = "dropout"
    produces = "dropout"
    tasks = ("classification", "regression")
    params = {
        "drop_input": Param(float, default=0.2, ge=0, lt=1, path=True,
                            doc="DROP probability of each input unit (keep = 1 - drop_input)"),
        "drop_hidden": Param(float, default=0.5, ge=0, lt=1, path=True,
                             doc="DROP probability of each hidden unit (keep = 1 - drop_hidden)"),
    }
    columns = {"train_loss": "float", "train_s": "float", "train_examples": "int",
               "droppable_units": "int"}

    @classmethod
    def accepts_learner(cls, learner):
        if not hasattr(learner, "train") or not hasattr(learner, "sizes"):
            return ("dropout needs a learner that trains a network "
                    "(softmax_regression, linear_network, mlp)")
        return None

    def fit(self, data, learner, penalty, rng):
        """Train every cell of the group; drop probabilities are path parameters.

        Cells that mask the same layers (drop > 0 on the same ones) train as one
        batched computation from a copy of ``rng``, each with its own drop
        probabilities (shared uniform draws, see
        :func:`regsim.plugins.dropout.networks.train_networks`), so every cell's network
        is the one it would get trained alone.
        """
        sizes = learner.sizes(data)
        L = len(sizes) - 1
        sigma = np.size(getattr(learner, "input_noise", 0.0))
        m = max(penalty.batch_size, sigma, np.size(self.drop_input), np.size(self.drop_hidden))
        d_in = np.broadcast_to(np.asarray(self.drop_input, dtype=float), (m,))
        # no hidden layer: drop_hidden does nothing, so it must not split the cells
        d_hid = np.broadcast_to(np.asarray(self.drop_hidden, dtype=float) if L > 1 else 0.0, (m,))
        drops = np.column_stack([d_in] + [d_hid] * (L - 1))  # (m, L)
        patterns: dict[tuple, list[int]] = {}
        for i, row in enumerate(drops):
            patterns.setdefault(tuple(row > 0), []).append(i)
        parts, start = [], 0
        index = np.empty(m, dtype=int)
        seeds = []
        for cells in patterns.values():
            cells = np.array(cells)
            part_rng = copy.deepcopy(rng)
            result, sub_index = _take(learner, cells, m).train(
                data, _take(penalty, cells, m), part_rng,
                drop=[drops[cells, l] for l in range(L)])
            seeds += [int(part_rng.integers(2**63))] * result.network.m
            index[cells] = sub_index + start
            parts.append((result, cells, sub_index))
            start += result.network.m
        result = _concat_results([p[0] for p in parts])
        net_drops = np.empty((result.network.m, L))
        for _, cells, sub_index in parts:
            net_drops[index[cells]] = drops[cells]
        columns = training_columns(result, index)
        columns["droppable_units"] = np.array(
            [sum(s for s, p in zip(sizes[:-1], row) if p > 0) for row in drops])
        uniform = bool(np.all(net_drops == net_drops[0]))
        return DropoutEnsemble(
            m=m, status=result.status[index],
            message=[result.message[i] for i in index], columns=columns,
            network=result.network, index=index,
            drop=[float(p) for p in net_drops[0]] if uniform else None,
            drops=None if uniform else net_drops, mask_seed=seeds[0],
            mask_seeds=None if len(parts) == 1 else np.array(seeds, dtype=np.uint64))


def _take(component, cells: np.ndarray, m: int):
    """The component (penalty, learner) of the cells ``cells`` of an ``m``-cell group."""
    values = {k: (np.broadcast_to(np.asarray(v), (m,))[cells] if component.params[k].path
                  else v) for k, v in component.values.items()}
    return type(component)(**values)


def _concat_results(results: list) -> TrainingResult:
    """Training results of several batches as one, networks side by side."""
    if len(results) == 1:
        return results[0]
    nets = [r.network for r in results]
    network = Network([np.concatenate(ws) for ws in zip(*(n.weights for n in nets))],
                      [np.concatenate(bs) for bs in zip(*(n.biases for n in nets))],
                      nets[0].output)
    return TrainingResult(
        network, np.concatenate([r.status for r in results]),
        [msg for r in results for msg in r.message],
        np.concatenate([r.loss_trace for r in results]),
        sum(r.train_s for r in results), results[0].examples)


class _DropoutStrategy(InferenceStrategy):
    accepts = ("dropout",)
    tasks = ("classification",)

    def predict(self, ensemble: DropoutEnsemble, X: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, m, C)``; each distinct network is combined once."""
        P = self.combine(ensemble, np.asarray(X, dtype=float))  # (n, m_distinct, C)
        return P[:, ensemble.index]

    def combine(self, ensemble: DropoutEnsemble, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class WeightScaling(_DropoutStrategy):
    """The full network with weights scaled by the keep probability (with inverted
    dropout in training: the trained network, no masks)."""

    name = "weight_scaling"
    tasks = ("classification", "regression")
    params = {}

    def combine(self, ensemble, X):
        return ensemble.network.predict_proba(X)


class _MonteCarlo(_DropoutStrategy):
    params = {"n_masks": Param(int, default=100, ge=1, path=True,
                               doc="sampled masks per test point")}
    geometric = False
    #: Masks per block: bounds memory; draws do not depend on it beyond the block size.
    block = 64

    def predict(self, ensemble, X):
        X = np.asarray(X, dtype=float)
        counts = np.broadcast_to(np.asarray(self.n_masks), (ensemble.m,))
        wanted: dict[int, list[int]] = {}
        for j, n_masks in zip(ensemble.index.tolist(), counts.tolist()):
            wanted.setdefault(int(j), []).append(int(n_masks))
        means = {}
        for j, n_list in wanted.items():
            with one_blas_thread():
                sums = mc_sums(ensemble, j, X, n_list, self.block)
            for n_masks in n_list:
                total = sums[n_masks]["logits" if self.geometric else "probabilities"]
                mean = total / n_masks
                means[j, n_masks] = softmax(mean) if self.geometric else mean
        out = None
        for i, (j, n_masks) in enumerate(zip(ensemble.index.tolist(), counts.tolist())):
            mean = means[int(j), int(n_masks)]
            if out is None:
                out = np.empty((X.shape[0], ensemble.m) + mean.shape[1:])
            out[:, i] = mean
        return out

    def sample_mean(self, ensemble, j, X, n_masks):
        """Mean over ``n_masks`` sampled masks per point for distinct column ``j``, ``(n, C)``."""
        total = mc_sums(ensemble, j, X, [n_masks], self.block)[n_masks]
        mean = total["logits" if self.geometric else "probabilities"] / n_masks
        return softmax(mean) if self.geometric else mean


def mc_sums(ensemble: DropoutEnsemble, j: int, X: np.ndarray, counts: list[int],
            block: int = 64) -> dict[int, dict[str, np.ndarray]]:
    """Per count ``n`` of ``counts``: the sums over the first ``n`` sampled masks of the
    logits and of the probabilities of distinct column ``j``, ``(n_points, C)`` each.

    Masks are drawn in blocks of ``block`` from one generator per layer, so the
    first ``n`` masks of any count are the same; one pass up to the largest
    count gives every smaller one (the partial block summed as its own block
    would be). ``mc_arithmetic`` and ``mc_geometric`` draw the same masks, so
    both sums come from one pass, cached on the ensemble per ``X``: the
    strategies of one fit group sample once.
    """
    def key(n):
        return ("mc", id(X), int(j), int(n), block)

    missing = sorted({int(n) for n in counts if key(n) not in ensemble.cache})
    if missing:
        for n, sums in _sample_sums(ensemble, int(j), X, missing, block).items():
            ensemble.cache[key(n)] = {"X": X, **sums}  # holds X: its id is not reused meanwhile
    return {int(n): ensemble.cache[key(n)] for n in counts}


def _sample_sums(ensemble, j, X, counts, block):
    """Sums for ascending ``counts`` in one pass of blocks, each as a pass of its own would add."""
    net = ensemble.network.take([j])
    L = len(net.weights)
    sizes = net.sizes
    # One generator per layer, so a smaller n_masks draws a prefix of a larger one's masks;
    # the same for every network of the ensemble (common random numbers), so a cell's
    # estimate does not depend on which cells were batched with it.
    gens = [np.random.default_rng(np.random.SeedSequence(ensemble.mask_seed_of(j),
                                                         spawn_key=(0, l)))
            for l in range(L)]
    drop = ensemble.drop_of(j)
    keep = [1.0 - p for p in drop]
    n = X.shape[0]
    out = {}
    logits = probabilities = 0.0
    n_max = counts[-1]
    for lo in range(0, n_max, block):
        b = min(block, n_max - lo)
        masks = [gens[l].random((b, n, sizes[l])) >= drop[l]  # bool: True/keep is 1/keep
                 if drop[l] > 0 else None for l in range(L)]
        Z = _masked_logits(net, X, masks, keep, b)  # (b, n, C)
        if net.output == "identity":  # regression: the sub-networks' outputs, (b, n)
            Z = P = Z[:, :, 0]
        else:
            P = softmax(Z)
        for c in counts:
            if lo < c < lo + b:  # a smaller count ends inside this block: its last, partial block
                out[c] = {"logits": logits + Z[:c - lo].sum(axis=0),
                          "probabilities": probabilities + P[:c - lo].sum(axis=0)}
        logits = logits + Z.sum(axis=0)
        probabilities = probabilities + P.sum(axis=0)
        if lo + b in counts:
            out[lo + b] = {"logits": logits, "probabilities": probabilities}
    return out


def _masked_logits(net: Network, X, masks, keep, b: int):
    """Logits ``(b, n, C)`` of one network under ``b`` masks per point.

    ``masks[l]`` is ``(b, n, d_l)``, or ``None`` where layer ``l``'s inputs are
    not dropped. The block axis always has length ``b``, whichever layers (if
    any) carry a mask, so a sum over it counts ``b`` sub-networks: with no mask
    at all every one of them is the full network.
    """
    H = np.broadcast_to(X, (b,) + X.shape)
    L = len(net.weights)
    for l in range(L):
        if masks[l] is not None:
            H = H * (masks[l] / keep[l])
        H = H @ net.weights[l][0] + net.biases[l][0]
        if l < L - 1:
            H = np.maximum(H, 0.0)
    return H


class MCArithmetic(_MonteCarlo):
    """Monte Carlo arithmetic mean: (1/m) Σ p(y|x, μ_i) over ``n_masks`` sampled masks
    (regression: the mean of the sub-networks' outputs)."""

    name = "mc_arithmetic"
    tasks = ("classification", "regression")
    geometric = False


class MCGeometric(_MonteCarlo):
    """Monte Carlo normalised geometric mean: softmax of the mean logits over ``n_masks`` masks."""

    name = "mc_geometric"
    geometric = True


def exact_ensemble(ensemble: DropoutEnsemble, X: np.ndarray, mean: str,
                   max_units: int = 20) -> np.ndarray:
    """The exact ``mean`` ("arithmetic" or "geometric") per distinct column, ``(n, m_distinct, C)``.

    Both means are computed together and cached on the ensemble per ``X``, so a
    metric comparing strategies does not enumerate twice.
    """
    # The entry holds X itself, so its id cannot be reused by another array meanwhile.
    key = (id(X), max_units)
    if key not in ensemble.cache:
        cols = []
        for j in range(ensemble.network.m):
            Ws, bs = ensemble.column(j)
            cols.append(exact_means(Ws, bs, X, ensemble.drop_of(j), max_units=max_units))
        ensemble.cache[key] = {"X": X, **{k: np.stack([c[k] for c in cols], axis=1)
                                          for k in ("arithmetic", "geometric")}}
    return ensemble.cache[key][mean]


class _Exact(_DropoutStrategy):
    params = {"max_units": Param(int, default=20, ge=1, le=MAX_UNITS_LIMIT,
                                 doc="refuse to enumerate more droppable units than this")}
    mean = ""

    @classmethod
    def check_cell(cls, components):
        """Refuse at validation when the droppable units are known and too many.

        Known when the problem has an ``n_features`` parameter (synthetic problems)
        or a ``fixed_n_features`` class attribute (``digits``); a
        ``csv`` problem's width is only known once loaded, and the cell then
        fails with the same message before enumerating anything.
        """
        problem, learner = components["problem"], components["learner"]
        ens, inference = components["ensembler"] or {}, components["inference"]
        if "n_features" not in problem:  # a problem of fixed width may say it (digits: 64)
            try:
                width = getattr(regsim.get_registry().get("problem", problem["plugin"]),
                                "fixed_n_features", None)
            except regsim.RegistryError:  # a problem of another registry: known at run time
                width = None
            problem = problem if width is None else {**problem, "n_features": width}
        if "n_features" not in problem or "drop_input" not in ens:
            return None
        hidden = [int(h) for h in learner.get("hidden", [])]
        k = (problem["n_features"] if ens["drop_input"] > 0 else 0) + (
            sum(hidden) if ens.get("drop_hidden", 0) > 0 else 0)
        limit = inference.get("max_units", cls.params["max_units"].default)
        if k > limit:
            return (f"the exact ensemble enumerates 2^k masks and this cell has k={k} droppable "
                    f"units (n_features={problem['n_features']}, hidden={hidden}, drop_input="
                    f"{ens['drop_input']:g}, drop_hidden={ens.get('drop_hidden', 0):g}), more "
                    f"than max_units={limit}; use mc_arithmetic/mc_geometric or fewer units")
        return None

    def combine(self, ensemble, X):
        return exact_ensemble(ensemble, X, self.mean, self.max_units)


class ExactArithmetic(_Exact):
    """Σ_μ p(μ) p(y|x, μ) over every mask of the droppable units."""

    name = "exact_arithmetic"
    mean = "arithmetic"


class ExactGeometric(_Exact):
    """Normalised weighted geometric mean over every mask: softmax(Σ_μ p(μ) z_μ(x))."""

    name = "exact_geometric"
    mean = "geometric"


@regsim.hookimpl
def register_ensemblers(register):
    register(Dropout)


@regsim.hookimpl
def register_inference_strategies(register):
    for cls in (WeightScaling, MCArithmetic, MCGeometric, ExactArithmetic, ExactGeometric):
        register(cls)
