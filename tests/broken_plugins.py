"""Deliberately broken components: each makes one real mistake the kit must report.

Module-level (so they pickle) unless being unpicklable is the mistake.
"""

import numpy as np

from regsim import Dataset, LinearFit, Learner, Metric, Param, Penalty, Problem


class _L1Like(Penalty):
    params = {"alpha": Param(float, default=1.0, ge=0, path=True)}

    def value(self, W):
        return self.alpha * np.sum(np.abs(W), axis=0)

    def grad(self, W):
        return np.sign(W) * self.alpha

    def prox(self, V, step):
        return np.sign(V) * np.maximum(np.abs(V) - step * self.alpha, 0.0)


class WrongSignGrad(_L1Like):
    """grad points uphill: the sign is flipped."""

    name = "wrong_sign_grad"

    def grad(self, W):
        return -np.sign(W) * self.alpha


class SubgradientProx(_L1Like):
    """'prox' is a subgradient step V − step·α·sign(V): overshoots through zero, not a prox."""

    name = "subgradient_prox"

    def prox(self, V, step):
        return V - step * self.alpha * np.sign(V)


class HalfThresholdProx(_L1Like):
    """prox thresholds at step·α/2: a proximal operator, but of the wrong function."""

    name = "half_threshold_prox"

    def prox(self, V, step):
        return np.sign(V) * np.maximum(np.abs(V) - 0.5 * step * self.alpha, 0.0)


class FirstAlphaOnly(_L1Like):
    """The vectorised prox uses the first α for every column (per-α calls are right)."""

    name = "first_alpha_only"

    def prox(self, V, step):
        alpha = np.atleast_1d(self.alpha)[0]
        return np.sign(V) * np.maximum(np.abs(V) - step * alpha, 0.0)


class AcceptsAnything(_L1Like):
    """Skips the schema: any parameter or value is accepted."""

    name = "accepts_anything"

    def __init__(self, **values):
        self.values = values
        self.alpha = values.get("alpha", 1.0)


def make_unpicklable_penalty():
    """A class built in a factory (local object): pickle cannot find it by name."""

    class Local(_L1Like):
        name = "local_penalty"

    return Local


class UnseededProblem(Problem):
    """Draws from a fresh unseeded generator instead of the rng it is given."""

    name = "unseeded_problem"
    params = {"n": Param(int, default=30, ge=2)}

    def generate(self, rng):
        own = np.random.default_rng()
        X = own.standard_normal((self.n, 3))
        return Dataset(X, X @ np.ones(3), X, X @ np.ones(3))


class ShortFitLearner(Learner):
    """Fits only the first α of the batch."""

    name = "short_fit"
    params = {}

    @classmethod
    def accepts(cls, penalty):
        return None if hasattr(penalty, "l2_strength") else "needs l2"

    def fit(self, data, penalty, rng):
        q = data.centred.quadratic
        s = float(np.atleast_1d(penalty.l2_strength)[0])
        w = np.linalg.solve(q.H + s * np.eye(q.H.shape[0]), q.c)[:, None]
        return LinearFit(m=1, W=w, intercept=data.centred.intercept(w))


class WrongLengthMetric(Metric):
    """Returns one value for the whole group and an undeclared column."""

    name = "wrong_length"
    columns = {"mean_w": "float"}

    def compute(self, ev):
        return {"mean_w": [float(np.mean(ev.weights))], "extra": list(range(ev.m))}



# ---- a small correct bagging ensembler and inference strategy, and broken variants,
# ---- to show the ensembler and inference checks work (the real ones live in plugins/)

from dataclasses import dataclass, field  # noqa: E402

import regsim  # noqa: E402
from regsim import Ensemble, Ensembler, InferenceStrategy  # noqa: E402


@dataclass
class Bag(Ensemble):
    """Implements the public member protocol of regsim.Ensemble."""

    members: list = field(default_factory=list)  # fits, each with m columns

    def member_predictions(self, X):
        return np.stack([member.predict(X) for member in self.members], axis=1)

    def member_mask(self):
        return np.ones((len(self.members), self.m), dtype=bool)


class Bagging(Ensembler):
    """k bootstrap resamples, drawn from the rng it is given."""

    name = "test_bagging"
    params = {"k": Param(int, default=4, ge=1)}
    produces = "bagging"

    def _rng(self, rng):
        return rng

    def fit(self, data, learner, penalty, rng):
        rng = self._rng(rng)
        members = []
        n = len(data.y_train)
        for _ in range(self.k):
            idx = rng.integers(0, n, n)
            sample = Dataset(data.X_train[idx], data.y_train[idx], data.X_test, data.y_test)
            members.append(learner.fit(sample, penalty, rng))
        return Bag(m=penalty.batch_size, kind=self.produces, members=members)


class UnseededBagging(Bagging):
    """Resamples with a fresh unseeded generator: runs are not reproducible."""

    name = "unseeded_bagging"

    def _rng(self, rng):
        return np.random.default_rng()


class WrongKindBagging(Bagging):
    name = "wrong_kind_bagging"

    def fit(self, data, learner, penalty, rng):
        out = super().fit(data, learner, penalty, rng)
        out.kind = "dropout"
        return out


class ArithmeticMean(InferenceStrategy):
    name = "test_arithmetic_mean"
    params = {}
    accepts = ("bagging",)

    def predict(self, ensemble, X):
        P = ensemble.member_predictions(X)  # (n, K, m[, C])
        mask = ensemble.member_mask()  # (K, m)
        weights = mask / mask.sum(axis=0)
        return np.einsum("nkm...,km->nm...", P, weights)


class FirstColumnOnly(ArithmeticMean):
    """Drops the batch axis: returns (n, 1) whatever m is."""

    name = "first_column_only"

    def predict(self, ensemble, X):
        return super().predict(ensemble, X)[:, :1]


class EnsemblePlugin:
    """A plugin object registering the test ensembler (for inference checks' collaborators)."""

    @staticmethod
    @regsim.hookimpl
    def register_ensemblers(register):
        register(Bagging)


class DeclaredApproximateProx(SubgradientProx):
    """Declares, with reasons, the checks it knowingly fails."""

    name = "declared_approximate_prox"
    kit_skip = {"penalty_prox_optimality": "an approximate prox, on purpose",
                "penalty_prox_nonexpansive": "same"}


# ---- inference strategies with the mistakes the known-ensemble checks exist for


class IgnoresMask(ArithmeticMean):
    """Averages every member, ignoring member_mask(): right only when every k is K."""

    name = "ignores_mask"

    def predict(self, ensemble, X):
        return ensemble.member_predictions(X).mean(axis=1)


class RandomOutput(ArithmeticMean):
    """Right shape, deterministic (seeded) and normalised, but unrelated to the members."""

    name = "random_output"

    def predict(self, ensemble, X):
        shape = ensemble.member_predictions(X).mean(axis=1).shape
        P = np.random.default_rng(0).random(shape)
        return P / P.sum(axis=-1, keepdims=True) if len(shape) == 3 else P


class WrongShape(ArithmeticMean):
    """Puts the member axis where the column axis belongs: (n, K) instead of (n, m)."""

    name = "wrong_shape"

    def predict(self, ensemble, X):
        return ensemble.member_predictions(X).mean(axis=2)


class UnnormalisedVotes(ArithmeticMean):
    """Returns vote counts, not shares: not a distribution."""

    name = "unnormalised_votes"
    tasks = ("classification",)

    def predict(self, ensemble, X):
        P = ensemble.member_predictions(X)
        votes = np.eye(P.shape[3])[P.argmax(axis=3)] * ensemble.member_mask()[None, :, :, None]
        return votes.sum(axis=1)


# ---- SCAD (Fan & Li 2001), non-convex: a prox right for every step, and one that is not

SCAD_A = 3.7


class Scad(Penalty):
    """SCAD with a = 3.7; its prox compares the candidates of every piece (right for every step).

    Non-convex, so its proximal map is not non-expansive: declared in kit_skip.
    """

    name = "scad"
    params = {"alpha": Param(float, default=1.0, gt=0, path=True)}
    kit_skip = {"penalty_prox_nonexpansive": "SCAD is non-convex: its prox is not non-expansive"}

    def _h(self, t):
        lam, a = np.asarray(self.alpha), SCAD_A
        return np.where(t <= lam, lam * t,
                        np.where(t <= a * lam, (2 * a * lam * t - t * t - lam ** 2) / (2 * (a - 1)),
                                 (a + 1) * lam ** 2 / 2))

    def value(self, W):
        return self._h(np.abs(W)).sum(axis=0)

    def grad(self, W):
        lam, a, t = np.asarray(self.alpha), SCAD_A, np.abs(W)
        return np.sign(W) * np.where(t <= lam, lam, np.maximum(a * lam - t, 0) / (a - 1))

    def prox(self, V, step):
        lam, a, v = np.asarray(self.alpha) * np.ones_like(V), SCAD_A, np.abs(V)
        soft = np.clip(v - step * lam, 0, lam)
        middle = (np.clip(((a - 1) * v - step * a * lam) / (a - 1 - step), lam, a * lam)
                  if step < a - 1 else lam)
        cands = np.stack(np.broadcast_arrays(soft, middle, np.maximum(v, a * lam), 0 * v))
        f = self._h(cands) + (cands - v) ** 2 / (2 * step)
        return np.sign(V) * np.take_along_axis(cands, f.argmin(axis=0)[None], 0)[0]


class ScadSmallStepRule(Scad):
    """The textbook three-piece thresholding rule, valid only for step < a − 1 = 2.7."""

    name = "scad_small_step_rule"

    def prox(self, V, step):
        lam, a, v = np.asarray(self.alpha), SCAD_A, np.abs(V)
        soft = np.sign(V) * np.maximum(v - step * lam, 0)
        middle = ((a - 1) * V - np.sign(V) * step * a * lam) / (a - 1 - step)
        return np.where(v <= lam * (1 + step), soft, np.where(v <= a * lam, middle, V))


# ---- a non-separable penalty: the kit's prox oracle is then a local search, not a grid


class GroupLasso(Penalty):
    """α‖w‖₂ (one group): its prox shrinks the whole vector, block soft thresholding."""

    name = "group_lasso"
    params = {"alpha": Param(float, default=1.0, ge=0, path=True)}

    def value(self, W):
        return self.alpha * np.linalg.norm(W, axis=0)

    def grad(self, W):
        return self.alpha * W / np.maximum(np.linalg.norm(W, axis=0), 1e-300)

    def prox(self, V, step):
        norm = np.linalg.norm(V, axis=0)
        return V * np.maximum(1.0 - step * self.alpha / np.maximum(norm, 1e-300), 0.0)


class GroupLassoCoordinateProx(GroupLasso):
    """Applies the L1 soft threshold coordinate by coordinate: the prox of another penalty."""

    name = "group_lasso_coordinate_prox"

    def prox(self, V, step):
        return np.sign(V) * np.maximum(np.abs(V) - step * self.alpha, 0.0)


@dataclass
class PrivateBag(Ensemble):
    members: list = field(default_factory=list)


class MemberlessBagging(Bagging):
    """Produces 'bagging' ensembles that keep their members private (no member protocol)."""

    name = "memberless_bagging"

    def fit(self, data, learner, penalty, rng):
        bag = super().fit(data, learner, penalty, rng)
        return PrivateBag(m=bag.m, kind=bag.kind, members=bag.members)


class MisdeclaredTaskProblem(Problem):
    """Declares classification (spec validation trusts it) but generates regression data."""

    name = "misdeclared_task"
    task = "classification"
    params = {"n": Param(int, default=30, ge=2)}

    def generate(self, rng):
        X = rng.standard_normal((self.n, 3))
        return Dataset(X, X @ np.ones(3), X, X @ np.ones(3))
