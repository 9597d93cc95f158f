"""Independent oracles for the numerical tests: the problem's data regenerated from
the cell's seed, then plain NumPy on X and y (nothing from regsim's learners,
penalties or quadratic model)."""

import numpy as np

from regsim.registry import get_registry
from regsim.runner import rngs_for


def cell_data(cell):
    """The Dataset a cell's problem generates (same seed, same generator role)."""
    comp = cell.components["problem"]
    cls = get_registry().get("problem", comp["plugin"])
    problem = cls(**{k: v for k, v in comp.items() if k != "plugin"})
    return problem.generate(rngs_for(cell.seed)["problem"])


def least_squares_model(X, y):
    """Centred data, H = XcᵀXc/n, w* = H⁻¹Xcᵀyc/n (full-rank X), from X and y alone."""
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    n = X.shape[0]
    H = Xc.T @ Xc / n
    w_star = np.linalg.solve(H, Xc.T @ yc / n)
    return Xc, yc, H, w_star


def rel_err(a, b):
    """‖a − b‖ / ‖b‖ (absolute when b = 0)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    nb = np.linalg.norm(b)
    return np.linalg.norm(a - b) / (nb if nb > 0 else 1.0)
