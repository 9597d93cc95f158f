"""regsim-elasticnet: the elastic-net penalty and its figure, as a regsim plugin.

Ω(w) = α·ρ·‖w‖₁ + ½·α·(1−ρ)·‖w‖² with ρ = ``l1_ratio``: scikit-learn's
``ElasticNet(alpha, l1_ratio)`` objective when J = (1/2n)‖y − Xw‖². Both
``alpha`` and ``l1_ratio`` are path parameters: a sweep over them is one
batched computation with one column per (α, ρ).

Only the public ``regsim`` API is used, as a third-party plugin must.
"""

from __future__ import annotations

import numpy as np

import regsim
from regsim import Param, Penalty, Quadratic

from .plots import ElasticNetPath

__version__ = "0.1.0"
#: The plugin contract this package is written for (regsim refuses to load it otherwise).
regsim_api = ">=1"


def soft_threshold(V: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """``sign(V) · max(|V| − threshold, 0)``, elementwise with broadcasting."""
    return np.sign(V) * np.maximum(np.abs(V) - threshold, 0.0)


class ElasticNet(Penalty):
    """Ω(w) = α·ρ·‖w‖₁ + ½·α·(1−ρ)·‖w‖² (ρ = ``l1_ratio``), per column of ``W (d, m)``.

    ``alpha`` and ``l1_ratio`` are ``(m,)`` arrays (or scalars). ρ = 1 is the
    Lasso (regsim's ``l1``), ρ = 0 is ridge with strength α (regsim's ``l2``).

    Theory (exact for quadratic J with diagonal H, as for L1):
    w̃ᵢ = soft_threshold(Hᵢᵢ·wᵢ*, αρ) / (Hᵢᵢ + α(1−ρ)).
    """

    name = "elastic_net"
    params = {
        "alpha": Param(float, default=1.0, ge=0, path=True, doc="penalty strength α (sklearn's alpha)"),
        "l1_ratio": Param(float, default=0.5, ge=0, le=1, path=True,
                          doc="ρ: share of the L1 part (sklearn's l1_ratio)"),
    }

    @property
    def l1_part(self) -> np.ndarray:
        """α·ρ, the strength of the L1 term."""
        return np.asarray(self.alpha, dtype=float) * np.asarray(self.l1_ratio, dtype=float)

    @property
    def l2_part(self) -> np.ndarray:
        """α·(1−ρ), the strength of the L2 term (Ω ⊃ ½·α(1−ρ)‖w‖²)."""
        return np.asarray(self.alpha, dtype=float) * (1.0 - np.asarray(self.l1_ratio, dtype=float))

    def value(self, W):
        return self.l1_part * np.sum(np.abs(W), axis=0) + 0.5 * self.l2_part * np.sum(W * W, axis=0)

    def grad(self, W):
        return self.l1_part * np.sign(W) + self.l2_part * W

    def prox(self, V, step):
        # Soft-threshold for the L1 part, then the ridge shrinkage: the exact prox
        # of the sum because the L2 part is a multiple of ||w||².
        step = np.asarray(step, dtype=float)
        return soft_threshold(V, step * self.l1_part) / (1.0 + step * self.l2_part)

    def theory(self, quadratic: Quadratic):
        h = np.diag(quadratic.H)[:, None]  # (d, 1)
        l1 = np.atleast_1d(self.l1_part)[None, :]
        l2 = np.atleast_1d(self.l2_part)[None, :]
        numerator = soft_threshold(h * quadratic.w_star[:, None], l1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(h + l2 > 0, numerator / np.where(h + l2 > 0, h + l2, 1.0), 0.0)


@regsim.hookimpl
def register_penalties(register):
    register(ElasticNet)


@regsim.hookimpl
def register_plots(register):
    register(ElasticNetPath)
