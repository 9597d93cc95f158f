"""Dropout on a linear model is an adaptive L2 penalty: the theory column and its gap.

Convention (regsim's least squares, DESIGN.md): J(w, b) = (1/2n)‖y − Xw − b‖²,
the intercept b unpenalised. Inverted dropout on the inputs with DROP
probability ``drop`` (keep probability p = 1 − drop) replaces row xᵢ by
μᵢ ⊙ xᵢ / p with μᵢⱼ ~ Bernoulli(p) independent. Since E[μⱼ/p] = 1 and
Var[μⱼ/p] = (1 − p)/p,

    E_μ (1/2n)‖y − (μ ⊙ X / p) w − b‖²
        = (1/2n)‖y − Xw − b‖² + ½ · ((1 − p)/p) · Σⱼ Sⱼⱼ wⱼ²,

with Sⱼⱼ = (1/n) Σᵢ xᵢⱼ² the raw (uncentred) second moment of input j: an L2
penalty whose strength on weight j is ((1 − p)/p)·Sⱼⱼ (Srivastava et al. 2014,
§9.1). Minimising over b centres the data, so with H = XcᵀXc/n and
c = Xcᵀyc/n (centred) the marginalised minimiser is

    w_dropout = (H + αI + ((1 − p)/p) diag(S))⁻¹ c,

α being an L2 penalty trained alongside (0 for ``none``). For inputs with
zero mean S = diag(H) and the strength is the curvature Hⱼⱼ itself. It is exact
in expectation; SGD with dropout reaches it only up to the noise of its steps,
which is what the measured gap shows. The "plain L2 of the same strength"
spreads the same total strength uniformly: α_eq = ((1 − p)/p)·mean(S), the
ridge solution (H + (α + α_eq) I)⁻¹ c.
"""

from __future__ import annotations

import numpy as np

import regsim
from regsim import Metric, Plot

from .ensembler import DropoutEnsemble

__all__ = ["dropout_l2_strengths", "marginalised_dropout_weights", "equal_strength_l2_weights",
           "quadratic_dropout_objective", "quadratic_dropout_weights",
           "DropoutL2", "DropoutQuadratic", "DropoutAsL2Plot"]


def dropout_l2_strengths(X: np.ndarray, drop: float) -> np.ndarray:
    """Per-weight L2 strengths ``((1 − p)/p) · Sⱼⱼ`` ``(d,)``, ``drop`` the DROP probability."""
    keep = 1.0 - drop
    return (drop / keep) * np.mean(X * X, axis=0)


def _centred(X, y):
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    n = len(y)
    return Xc.T @ Xc / n, Xc.T @ yc / n


def marginalised_dropout_weights(X: np.ndarray, y: np.ndarray, drop: float,
                                 alpha: float = 0.0) -> np.ndarray:
    """Minimiser ``(d,)`` of the expected dropout least-squares objective (+ (α/2)‖w‖²).

    Parameters
    ----------
    X : (n, d) training inputs (uncentred: the masks act on them as given).
    y : (n,) targets.
    drop : DROP probability of each input (keep = 1 − drop).
    alpha : strength of an additional L2 penalty (α/2)‖w‖², regsim's convention.
    """
    H, c = _centred(X, y)
    A = H + np.diag(alpha + dropout_l2_strengths(X, drop))
    return np.linalg.solve(A, c)


def equal_strength_l2_weights(X: np.ndarray, y: np.ndarray, drop: float,
                              alpha: float = 0.0) -> np.ndarray:
    """Ridge solution ``(d,)`` with the dropout strength spread uniformly: α + mean strength."""
    H, c = _centred(X, y)
    strength = alpha + float(np.mean(dropout_l2_strengths(X, drop)))
    return np.linalg.solve(H + strength * np.eye(len(c)), c)


def _linear_dropout(ev, task: str):
    """``(ensemble, alphas (m,))`` when ``ev`` is a dropout-trained linear model (no hidden
    layer) on a ``task`` problem with a penalty of the form (s/2)‖w‖²; else ``None``."""
    ens = ev.ensemble
    if (not isinstance(ens, DropoutEnsemble) or ev.data.task != task
            or len(ens.network.weights) != 1):
        return None
    strength = getattr(ev.penalty, "l2_strength", None)
    if strength is None:
        return None
    return ens, np.broadcast_to(np.asarray(strength, dtype=float), (ev.m,))


class DropoutL2(Metric):
    """Dropout on a linear network against its adaptive-L2 theory (regression).

    For a ``linear_network`` trained by ``dropout`` on its inputs (``drop_input``,
    a DROP probability) with an ``l2`` or ``none`` penalty: ``w_dropout`` the trained
    weights, ``w_dropout_theory`` the marginalised closed form
    (:func:`marginalised_dropout_weights`), ``dropout_l2_gap`` =
    ‖w_dropout − w_dropout_theory‖/‖w_dropout_theory‖; ``w_l2_equal`` the plain L2
    solution of the same total strength and ``l2_equal_gap`` = ‖w_dropout − w_l2_equal‖ /
    ‖w_l2_equal‖; ``keep_input`` = 1 − drop_input. Null elsewhere.
    """

    name = "dropout_l2"
    tasks = ("regression",)
    columns = {"keep_input": "float", "w_dropout": "list", "w_dropout_theory": "list",
               "dropout_l2_gap": "float", "w_l2_equal": "list", "l2_equal_gap": "float"}

    def compute(self, ev):
        found = _linear_dropout(ev, "regression")
        if found is None:
            return {}
        ens, alphas = found
        X, y = ev.data.X_train, np.asarray(ev.data.y_train, dtype=float)
        W = ens.network.weights[0][:, :, 0][ens.index]  # (m, d)
        theory, equal = {}, {}
        out = {k: [] for k in self.columns}
        for i in range(ev.m):
            a, drop = float(alphas[i]), ens.drop_of(int(ens.index[i]))[0]
            if (a, drop) not in theory:
                theory[a, drop] = marginalised_dropout_weights(X, y, drop, a)
                equal[a, drop] = equal_strength_l2_weights(X, y, drop, a)
            w_th, w_eq = theory[a, drop], equal[a, drop]
            out["keep_input"].append(1.0 - drop)
            out["w_dropout"].append(W[i])
            out["w_dropout_theory"].append(w_th)
            out["dropout_l2_gap"].append(_relative(W[i], w_th))
            out["w_l2_equal"].append(w_eq)
            out["l2_equal_gap"].append(_relative(W[i], w_eq))
        return {k: (np.array(v) if k.endswith(("gap", "input")) else np.stack(v))
                for k, v in out.items()}


def _relative(w, ref):
    norm = np.linalg.norm(ref)
    return float(np.linalg.norm(w - ref) / norm) if norm > 0 else float(np.linalg.norm(w))


class DropoutAsL2Plot(Plot):
    """Dropout-trained linear weights against the adaptive-L2 prediction.

    Left: each weight against the keep probability p = 1 − drop_input for the
    first seed at the longest training (markers measured, solid lines the
    marginalised minimiser, dashed plain L2 of the same total strength). Middle:
    the relative distance of the measured weights to each prediction against p
    (median over seeds). Right: the distance to the adaptive-L2 minimiser as
    training gets longer (and the step smaller, when both vary), median over
    seeds and every p < 1.
    """

    name = "dropout_as_l2"
    title = "Dropout as an adaptive L2 penalty"
    required_columns = ("ensembler", "status", "seed", "keep_input", "w_dropout",
                        "w_dropout_theory", "w_l2_equal", "dropout_l2_gap", "l2_equal_gap")

    def _rows(self, df):
        if not set(self.required_columns) <= set(df.columns):
            return df.iloc[0:0]
        rows = df[(df["ensembler"] == "dropout") & (df["status"] == "ok")]
        return rows.dropna(subset=["dropout_l2_gap", "l2_equal_gap"])

    def applies(self, df):
        return len(self._rows(df)) > 0

    def draw(self, df, out_dir):
        from regsim.report import save_figure

        return [save_figure(self.figure(df), out_dir, self.name)]

    def figure(self, df):
        from regsim.report import figure_row, legend_outside

        rows = self._rows(df)
        epochs = "learner.n_epochs" if "learner.n_epochs" in rows else None
        last = rows[rows[epochs] == rows[epochs].max()] if epochs else rows
        fig, axes = figure_row(3)
        one = last[last["seed"] == last["seed"].min()].sort_values("keep_input")
        p = one["keep_input"].to_numpy()
        W = np.stack(one["w_dropout"].map(np.asarray).to_list())
        T = np.stack(one["w_dropout_theory"].map(np.asarray).to_list())
        E = np.stack(one["w_l2_equal"].map(np.asarray).to_list())
        colours = [f"C{j % 10}" for j in range(W.shape[1])]
        for j, c in enumerate(colours):
            axes[0].plot(p, W[:, j], "o", color=c, ms=5,
                         label="measured (dropout SGD)" if j == 0 else None)
            axes[0].plot(p, T[:, j], "-", color=c, lw=1.5,
                         label="theory: adaptive L2" if j == 0 else None)
            axes[0].plot(p, E[:, j], "--", color=c, lw=1,
                         label="plain L2, same total strength" if j == 0 else None)
        axes[0].axhline(0, color="k", lw=0.5)
        axes[0].set_xlabel("keep probability p = 1 − drop_input")
        axes[0].set_ylabel(f"weight wⱼ (seed {int(one['seed'].iloc[0])})")
        axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
        med = last.groupby("keep_input")[["dropout_l2_gap", "l2_equal_gap"]].median()
        axes[1].plot(med.index, med["dropout_l2_gap"], "o-", label="vs adaptive L2 (theory)")
        axes[1].plot(med.index, med["l2_equal_gap"], "s--", label="vs plain L2, same strength")
        axes[1].set_yscale("log")
        axes[1].set_xlabel("keep probability p = 1 − drop_input")
        axes[1].set_ylabel("‖w_dropout − w_pred‖ / ‖w_pred‖\n(median over seeds)")
        axes[1].legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
        if epochs and rows[epochs].nunique() > 1:
            sub = rows[rows["keep_input"] < 1]
            keys = [epochs] + (["learner.lr"] if "learner.lr" in sub else [])
            g = sub.groupby(keys)["dropout_l2_gap"].median().reset_index()
            axes[2].plot(g[epochs], g["dropout_l2_gap"], "o-", label="measured")
            if "learner.lr" in g:
                for _, r in g.iterrows():
                    axes[2].annotate(f"lr {r['learner.lr']:g}", (r[epochs], r["dropout_l2_gap"]),
                                     textcoords="offset points", xytext=(4, 4))
            axes[2].set_xscale("log")
            axes[2].set_yscale("log")
            axes[2].set_xlabel(epochs)
            axes[2].set_ylabel("relative gap to adaptive L2\n(median over seeds and p < 1)")
            legend_outside(axes[2])
        else:
            axes[2].set_axis_off()
        axes[2].set_title("gap as training gets longer")
        return fig




# --- softmax regression: Wager, Wang and Liang (2013)'s quadratic approximation ------------

def _softmax_rows(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def quadratic_dropout_objective(W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray,
                                drop: float, alpha: float = 0.0):
    """Mean cross-entropy + (α/2)‖W‖² + Wager et al.'s quadratic dropout penalty, and gradients.

    The penalty is the second-order expansion of the expected loss over inverted
    input-dropout masks (keep p = 1 − drop) around the unmasked logits:
    R(W) = ((1 − p)/(2p)) · (1/n) Σᵢ Σⱼ xᵢⱼ² w_jᵀ (diag(pᵢ) − pᵢpᵢᵀ) w_j, with w_j
    row j of W ``(d, C)`` and pᵢ the model's class probabilities; returns
    ``(value, dW, db)``.
    """
    n = len(y)
    r = drop / (1.0 - drop)
    P = _softmax_rows(X @ W + b)
    S = X * X
    Q = S @ (W * W)                     # q_ic = Σ_j s_ij W_jc²
    U = P @ W.T                         # u_ij = Σ_c W_jc p_ic
    ce = -np.mean(np.log(np.maximum(P[np.arange(n), y], 1e-300)))
    R = 0.5 * r / n * (np.sum(P * Q) - np.sum(S * U * U))
    value = ce + 0.5 * alpha * np.sum(W * W) + R
    D = P.copy()
    D[np.arange(n), y] -= 1.0
    D /= n                              # ∂ce/∂z
    G = Q - 2.0 * (S * U) @ W           # ∂(penalty sum)/∂p_i
    D += 0.5 * r / n * P * (G - np.sum(P * G, axis=1, keepdims=True))
    dW = X.T @ D + alpha * W + 0.5 * r / n * (2.0 * W * (S.T @ P) - 2.0 * (S * U).T @ P)
    return value, dW, D.sum(axis=0)


def quadratic_dropout_weights(X: np.ndarray, y: np.ndarray, n_classes: int, drop: float,
                              alpha: float = 0.0, tol: float = 1e-10) -> np.ndarray:
    """Minimiser ``W (d, C)`` of :func:`quadratic_dropout_objective` (L-BFGS; the bias is
    fitted and unpenalised). ``drop = 0`` gives the L2-penalised softmax regression."""
    from scipy.optimize import minimize

    d = X.shape[1]

    def f(theta):
        W, b = theta[:d * n_classes].reshape(d, n_classes), theta[d * n_classes:]
        v, dW, db = quadratic_dropout_objective(W, b, X, y, drop, alpha)
        return v, np.concatenate([dW.ravel(), db])

    res = minimize(f, np.zeros(d * n_classes + n_classes), jac=True, method="L-BFGS-B",
                   options={"maxiter": 5000, "gtol": tol, "ftol": 1e-15})
    return res.x[:d * n_classes].reshape(d, n_classes)


class DropoutQuadratic(Metric):
    """Softmax regression with input dropout against Wager et al. (2013)'s quadratic
    approximation of the dropout penalty (classification; ``l2`` or ``none`` penalty).

    ``quadratic_theory_gap`` = ‖W − W_quad‖/‖W_quad‖ with W the dropout-trained
    weights and W_quad the minimiser of :func:`quadratic_dropout_objective` (an
    approximation: the gap is the result); ``no_dropout_gap`` = ‖W − W₀‖/‖W₀‖ with
    W₀ the optimum of the same objective without dropout, for scale.
    """

    name = "dropout_quadratic"
    tasks = ("classification",)
    columns = {"quadratic_theory_gap": "float", "no_dropout_gap": "float"}

    def compute(self, ev):
        found = _linear_dropout(ev, "classification")
        if found is None:
            return {}
        ens, alphas = found
        X, y = ev.data.X_train, np.asarray(ev.data.y_train, dtype=int)
        C = ens.network.weights[0].shape[2]
        cache: dict = {}
        gaps, plain = [], []
        for i in range(ev.m):
            j = int(ens.index[i])
            a, drop = float(alphas[i]), ens.drop_of(j)[0]
            for key in ((a, drop), (a, 0.0)):
                if key not in cache:
                    cache[key] = quadratic_dropout_weights(X, y, C, key[1], key[0])
            W = ens.network.weights[0][j]
            # softmax logits are defined up to a per-row constant over classes: compare
            # weights centred over classes
            centre = lambda M: M - M.mean(axis=1, keepdims=True)  # noqa: E731
            gaps.append(_relative(centre(W).ravel(), centre(cache[a, drop]).ravel()))
            plain.append(_relative(centre(W).ravel(), centre(cache[a, 0.0]).ravel()))
        return {"quadratic_theory_gap": np.array(gaps), "no_dropout_gap": np.array(plain)}


@regsim.hookimpl
def register_metrics(register):
    register(DropoutL2)
    register(DropoutQuadratic)


@regsim.hookimpl
def register_plots(register):
    register(DropoutAsL2Plot)
