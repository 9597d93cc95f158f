"""Built-in parameter-norm penalties: L2 (weight decay), L1, and ``none`` (Ω = 0).

Both are vectorised over the α path: ``alpha`` is an ``(m,)`` array (or a
scalar), weights are ``(d, m)`` with one column per α.
"""

from __future__ import annotations

import numpy as np

import regsim
from regsim import Param, Penalty, Quadratic


def soft_threshold(V: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """``sign(V) · max(|V| − threshold, 0)``, elementwise with broadcasting."""
    return np.sign(V) * np.maximum(np.abs(V) - threshold, 0.0)


class L2(Penalty):
    """Ω(w) = (α/2) wᵀw. Gradient step: w ← w − εαw − ε∇J (weight decay).

    Theory (exact for quadratic J): w̃ = Q(Λ+αI)⁻¹ΛQᵀw*, i.e. the component of
    w* along eigenvector i of H is scaled by λᵢ/(λᵢ+α).
    """

    name = "l2"
    smooth = True
    params = {"alpha": Param(float, default=1.0, ge=0, path=True, doc="penalty strength α")}

    @property
    def l2_strength(self) -> np.ndarray:
        """``s`` with Ω(w) = (s/2)‖w‖² (lets closed-form ridge solvers accept this penalty)."""
        return np.asarray(self.alpha, dtype=float)

    def value(self, W):
        return 0.5 * self.alpha * np.sum(W * W, axis=0)

    def grad(self, W):
        return W * self.alpha

    def prox(self, V, step):
        return V / (1.0 + step * self.alpha)

    def theory(self, quadratic: Quadratic):
        lam, Q = quadratic.eig
        alpha = np.atleast_1d(self.alpha)
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 where λ = α = 0, set below
            factor = lam[:, None] / (lam[:, None] + alpha[None, :])  # (d, m) shrinkage factors
        factor = np.where(lam[:, None] > 0, factor, 0.0)  # 0/0: no curvature, no component
        return Q @ (factor * (Q.T @ quadratic.w_star)[:, None])


class L1(Penalty):
    """Ω(w) = α‖w‖₁.

    Theory (exact for quadratic J with diagonal H): w̃ᵢ = sign(wᵢ*)·max(|wᵢ*| − α/Hᵢᵢ, 0),
    the soft threshold. Applied to a non-diagonal H it uses Hᵢᵢ and ignores the
    off-diagonal curvature; the gap to the measured optimum is then the result.
    """

    name = "l1"
    smooth = False  # |w| has a kink at 0: sub-gradient steps oscillate; use its prox
    params = {"alpha": Param(float, default=1.0, ge=0, path=True, doc="penalty strength α")}

    @property
    def l1_strength(self) -> np.ndarray:
        """``s`` with Ω(w) = s‖w‖₁ (lets Lasso path solvers accept this penalty)."""
        return np.asarray(self.alpha, dtype=float)

    def value(self, W):
        return self.alpha * np.sum(np.abs(W), axis=0)

    def grad(self, W):
        return np.sign(W) * self.alpha

    def prox(self, V, step):
        return soft_threshold(V, step * np.asarray(self.alpha))

    def theory(self, quadratic: Quadratic):
        h = np.diag(quadratic.H)
        alpha = np.atleast_1d(self.alpha)
        with np.errstate(divide="ignore"):
            threshold = alpha[None, :] / h[:, None]
        return soft_threshold(quadratic.w_star[:, None], threshold)


class NoPenalty(Penalty):
    """Ω(w) = 0: the unregularised learner (and the only penalty trees accept).

    ``value`` is 0, ``grad`` is 0, ``prox`` is the identity and the theory is
    w* itself. It exposes ``l2_strength = 0`` so closed-form ridge solvers fit
    plain (minimum-norm) least squares with it. ``identically_zero`` tells
    learners that take no parameter-norm penalty (trees) that it is harmless.
    """

    name = "none"
    smooth = True
    params = {}
    identically_zero = True

    @property
    def l2_strength(self) -> np.ndarray:
        return np.zeros(self.batch_size)

    def value(self, W):
        return np.zeros(W.shape[1])

    def grad(self, W):
        return np.zeros_like(W)

    def prox(self, V, step):
        return V

    def theory(self, quadratic: Quadratic):
        return quadratic.w_star[:, None]


@regsim.hookimpl
def register_penalties(register):
    register(L2)
    register(L1)
    register(NoPenalty)
