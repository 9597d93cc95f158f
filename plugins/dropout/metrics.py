"""Metrics comparing dropout inference strategies on the same trained network.

Both compare the cell's strategy (its test probabilities) with an exact
ensemble over every mask; where the exact ensemble is infeasible (more
droppable units than its default limit) or the cell has no dropout ensemble,
the columns are null.
"""

from __future__ import annotations

import numpy as np

import regsim
from regsim import Metric

from .ensembler import DropoutEnsemble, TooManyUnits, exact_ensemble

_EPS = 1e-300  # keeps log(0) finite in KL terms whose reference probability is 0


def _exact(ev, mean: str):
    """The exact ``mean`` ``(n, m, C)`` on the test rows, or ``None`` if not available."""
    ens = ev.ensemble
    if not isinstance(ens, DropoutEnsemble):
        return None
    try:
        P = exact_ensemble(ens, ev.data.X_test, mean)
    except TooManyUnits:
        return None
    return P[:, ens.index]


def distances(P_ref: np.ndarray, P: np.ndarray) -> dict[str, np.ndarray]:
    """Per column of ``(n, m, C)`` probabilities: max |Δp|, mean KL(P_ref ‖ P), argmax agreement."""
    kl = np.sum(P_ref * (np.log(np.maximum(P_ref, _EPS)) - np.log(np.maximum(P, _EPS))), axis=2)
    return {
        "max_abs_dp": np.max(np.abs(P_ref - P), axis=(0, 2)),
        "kl": np.maximum(kl.mean(axis=0), 0.0),
        "argmax_agreement": np.mean(P_ref.argmax(axis=2) == P.argmax(axis=2), axis=0),
    }


class DropoutGap(Metric):
    """Distance of the cell's strategy to the exact arithmetic and geometric ensembles.

    ``arith_max_abs_dp`` = max over test rows and classes of |p_exact_arith − p|,
    ``arith_kl`` = mean over test rows of KL(exact_arithmetic ‖ strategy),
    ``arith_argmax_agreement`` = share of rows with the same most probable class;
    ``geom_*`` likewise against the exact normalised geometric mean.
    """

    name = "dropout_gap"
    tasks = ("classification",)
    columns = {f"{ref}_{what}": "float" for ref in ("arith", "geom")
               for what in ("max_abs_dp", "kl", "argmax_agreement")}

    def compute(self, ev):
        if ev.ensemble is None or ev.data.task != "classification":
            return {}
        out = {}
        for ref, mean in (("arith", "arithmetic"), ("geom", "geometric")):
            P_ref = _exact(ev, mean)
            if P_ref is None:
                continue
            for what, values in distances(P_ref, ev.test_prediction).items():
                out[f"{ref}_{what}"] = values
        return out


class MCError(Metric):
    """Monte Carlo error: root-mean-square over test rows and classes of the difference
    between an ``mc_arithmetic``/``mc_geometric`` prediction and the exact mean it
    estimates (expected to fall as 1/√n_masks)."""

    name = "mc_error"
    tasks = ("classification",)
    columns = {"mc_rms_error": "float"}

    def compute(self, ev):
        mean = {"mc_arithmetic": "arithmetic", "mc_geometric": "geometric"}.get(
            getattr(ev.inference, "name", None))
        if mean is None:
            return {}
        P_ref = _exact(ev, mean)
        if P_ref is None:
            return {}
        return {"mc_rms_error": np.sqrt(np.mean((ev.test_prediction - P_ref) ** 2, axis=(0, 2)))}


@regsim.hookimpl
def register_metrics(register):
    register(DropoutGap)
    register(MCError)
