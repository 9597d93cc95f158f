"""Built-in least-squares learners, each batched over the α path (one column per α).

All minimise J̃(w) = (1/2n)‖yc − Xc w‖² + Ω(w) on centred data (the intercept
is unpenalised) and work from the shared quadratic model of J (``H = XcᵀXc/n``,
computed once per problem instance).
"""

from __future__ import annotations

import numpy as np

import regsim
from regsim import Dataset, Learner, LinearFit, Param, Penalty, Quadratic

from .l1_path import lasso_path_gram


def _linear_fit(data: Dataset, W: np.ndarray, **kwargs) -> LinearFit:
    return LinearFit(m=W.shape[1], W=W, intercept=data.centred.intercept(W), **kwargs)


def _default_step(q: Quadratic) -> float:
    lam_max = float(q.eig[0][-1])
    return 1.0 / lam_max if lam_max > 0 else 1.0


def _overrides(cls: type[Penalty], method: str) -> bool:
    return getattr(cls, method) is not getattr(Penalty, method)


class _LeastSquaresLoss(Learner):
    """Shared by learners whose unregularised loss is least squares."""

    def quadratic(self, data: Dataset) -> Quadratic:
        return data.centred.quadratic


class LeastSquares(_LeastSquaresLoss):
    """Closed-form ridge: w̃ = Q (Λ + sI)⁻¹ Qᵀ c, one eigendecomposition for every α.

    Accepts penalties of the form Ω(w) = (s/2)‖w‖² (they expose ``l2_strength``).
    With s = 0 and a singular H it returns the minimum-norm least-squares solution.
    """

    name = "least_squares"
    params = {}

    @classmethod
    def accepts(cls, penalty):
        if not hasattr(penalty, "l2_strength"):
            return ("the closed form needs a penalty (s/2)||w||^2 (one with 'l2_strength'); "
                    "use proximal_gradient or gradient_descent for others")
        return None

    def fit(self, data, penalty, rng):
        q = self.quadratic(data)
        lam, Q = q.eig
        s = np.broadcast_to(np.asarray(penalty.l2_strength, float), (penalty.batch_size,))
        denom = lam[:, None] + s[None, :]
        tiny = lam.max(initial=0.0) * lam.size * np.finfo(float).eps
        inv = np.where(denom > tiny, 1.0 / np.where(denom > tiny, denom, 1.0), 0.0)
        W = Q @ (inv * (Q.T @ q.c)[:, None])
        return _linear_fit(data, W)

    def fit_resamples(self, data, counts, penalty):
        """Every resample's ridge path at once: count-weighted Gram matrices, stacked.

        Resample ``r`` with weights ``p_r = counts[r] / Σ counts[r]`` has mean
        ``μ_r = p_rᵀXc``, Hessian ``H_r = Xcᵀ diag(p_r) Xc − μ_r μ_rᵀ`` and linear
        term ``c_r = Xcᵀ diag(p_r) yc − μ_r ν_r`` (``Xc``, ``yc`` centred by the
        full training means, which keeps the subtraction well conditioned). Batched
        solves of the ``(K, d, d)`` stack (or one batched ``eigh`` for long α paths
        and rank-deficient members) then give every penalty strength, with the
        same minimum-norm rule as :meth:`fit` (see :func:`_ridge_stack`).
        """
        cd = data.centred
        X, y = cd.X, cd.y
        counts = np.asarray(counts, dtype=float)
        K, n = counts.shape
        d = X.shape[1]
        P = counts / counts.sum(axis=1, keepdims=True)  # (K, n)
        mu, nu = P @ X, P @ y  # (K, d), (K,)
        # Only rows a resample contains contribute (about 63% for a bootstrap):
        # gather them, nonzero first, padded with zero weight to a common width.
        present = P > 0
        width = int(present.sum(axis=1).max())
        rows = np.argsort(~present, axis=1, kind="stable")[:, :width]  # (K, width)
        weights = np.take_along_axis(P, rows, axis=1)
        root = np.sqrt(weights)
        H = np.empty((K, d, d))
        # Blocks of members keep the (b, width, d) gathered copies near 8 MB
        # (cache-friendly); each block is one stacked matmul of the form AᵀA,
        # which NumPy hands to BLAS syrk (half the flops of a general product).
        block = max(1, int(1e6 // max(width * d, 1)))
        for start in range(0, K, block):
            A = X[rows[start:start + block]] * root[start:start + block, :, None]  # (b, width, d)
            H[start:start + block] = A.transpose(0, 2, 1) @ A
        H -= mu[:, :, None] * mu[:, None, :]
        c = (P * y[None, :]) @ X - mu * nu[:, None]  # (K, d)
        s = np.broadcast_to(np.asarray(penalty.l2_strength, float), (penalty.batch_size,))
        W = _ridge_stack(H, c, s)  # (K, d, m)
        intercept = (cd.y_mean + nu)[:, None] - np.einsum("kd,kdm->km", cd.x_mean + mu, W)
        m = s.size
        return LinearFit(m=K * m, W=W.transpose(1, 0, 2).reshape(d, K * m),
                         intercept=intercept.reshape(K * m))


#: Up to this many distinct strengths, batched LU solves beat one batched eigh
#: (an eigh of a 200 x 200 stack costs about 15 solves).
_MAX_SOLVES = 8
#: A Cholesky pivot below this fraction of the largest diagonal entry of H + sI
#: flags a (nearly) rank-deficient member; those take the eigh route.
_PIVOT_FLOOR = 1e-8


def _ridge_stack(H: np.ndarray, c: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``(H_r + s_j I)⁺ c_r`` for a stack ``H (K, d, d)``, ``c (K, d)`` and strengths ``s (m,)``.

    Well-conditioned members are solved directly (a batched Cholesky checks
    positive definiteness first, about 60x cheaper than ``eigh``); members with
    a tiny pivot, and every member when there are many strengths, go through a
    batched ``eigh`` with the minimum-norm rule of :meth:`LeastSquares.fit`.
    Returns ``W (K, d, m)``.
    """
    K, d, _ = H.shape
    W = np.empty((K, d, s.size))
    eig_members = np.ones(K, bool)
    if s.size <= _MAX_SOLVES:
        eye = np.eye(d)
        eig_members[:] = False
        for j, strength in enumerate(s):
            A = H + strength * eye
            try:
                pivots = np.diagonal(np.linalg.cholesky(A), axis1=1, axis2=2) ** 2
                bad = pivots.min(axis=1) < _PIVOT_FLOOR * np.diagonal(A, axis1=1, axis2=2).max(axis=1)
            except np.linalg.LinAlgError:
                bad = np.ones(K, bool)
            good = ~bad
            if good.any():
                W[good, :, j] = np.linalg.solve(A[good], c[good, :, None])[:, :, 0]
            eig_members |= bad
    if eig_members.any():
        lam, Q = np.linalg.eigh(H[eig_members])  # (k, d), (k, d, d)
        lam = np.clip(lam, 0.0, None)
        denom = lam[:, :, None] + s[None, None, :]  # (k, d, m)
        tiny = lam.max(axis=1, initial=0.0)[:, None, None] * d * np.finfo(float).eps
        inv = np.where(denom > tiny, 1.0 / np.where(denom > tiny, denom, 1.0), 0.0)
        proj = np.einsum("kij,ki->kj", Q, c[eig_members])  # Qᵀc per member
        W[eig_members] = Q @ (inv * proj[:, :, None])
    return W


class GradientDescent(_LeastSquaresLoss):
    """The seed's update w ← w − εαw − ε∇J, i.e. w ← w − ε(∇J + ∇Ω), from w = 0.

    Every column runs ``n_steps`` steps of size ``step`` (default 1/λ_max(H)).
    For L2 it converges when step < 2/(λ_max + α); a column whose weights blow up
    (non-finite, or ‖w‖ > 1e8·max(1, ‖w*‖)) stops and is reported ``diverged``, and
    so is, for a quadratic penalty (one with ``l2_strength``), every column whose
    step is at or above that bound, where growth may be too slow to see in n_steps.
    ``objective_trace`` holds J̃ at about 30 log-spaced steps, to watch the
    optimisation and not only the optimum.
    """

    name = "gradient_descent"
    params = {
        "step": Param(float, default=None, gt=0, nullable=True, doc="step size ε (default 1/λ_max)"),
        "n_steps": Param(int, default=1000, ge=1, doc="number of steps"),
    }
    columns = {"n_iter": "int", "objective_trace": "list", "trace_steps": "list"}

    @classmethod
    def accepts(cls, penalty):
        return None if _overrides(penalty, "grad") else "the penalty defines no grad()"

    def fit(self, data, penalty, rng):
        q = self.quadratic(data)
        step = self.step or _default_step(q)
        m, d = penalty.batch_size, data.n_features
        W = np.zeros((d, m))
        limit = 1e8 * max(1.0, float(np.linalg.norm(q.w_star)))
        alive = np.ones(m, bool)
        n_iter = np.full(m, self.n_steps)
        checkpoints = np.unique(np.geomspace(1, self.n_steps, 30).astype(int))
        trace = []
        message = [None] * m
        for t in range(1, self.n_steps + 1):
            W_new = W - step * (q.grad(W) + penalty.grad(W))
            with np.errstate(over="ignore", invalid="ignore"):
                norms = np.linalg.norm(W_new, axis=0)
            bad = alive & ~(norms < limit)  # catches NaN too
            for i in np.flatnonzero(bad):
                n_iter[i] = t
                message[i] = (f"diverged at step {t}: |w| > {limit:.3g} with step {step:g} "
                              f"(converges below 2/(λ_max+α))")
            alive &= ~bad
            W[:, alive] = W_new[:, alive]
            if t in checkpoints:
                trace.append(np.where(alive, q.loss(W) + penalty.value(W), np.nan))
            if not alive.any():
                break
        # A step only slightly above the bound grows too slowly to reach the norm
        # limit in n_steps; for a quadratic penalty (s/2)||w||² the bound is exact
        # (the iteration matrix I − ε(H + sI) has spectral radius ≥ 1), so say so.
        if hasattr(penalty, "l2_strength"):
            lam_max = float(q.eig[0][-1])
            strength = np.broadcast_to(np.asarray(penalty.l2_strength, float), (m,))
            for i in np.flatnonzero(alive & (step * (lam_max + strength) >= 2.0)):
                alive[i] = False
                bound = 2 / (lam_max + strength[i])
                message[i] = (f"diverged: step {step:g} >= 2/(λ_max+α) = {bound:.6g}; "
                              f"|w| reached {np.linalg.norm(W[:, i]):.3g} in {self.n_steps} "
                              f"steps (converges below 2/(λ_max+α))")
        status = np.where(alive, "ok", "diverged").astype(object)
        trace_arr = np.array(trace).T  # (m, n_checkpoints)
        steps = np.broadcast_to(checkpoints[:len(trace)].astype(float), trace_arr.shape)
        return _linear_fit(data, W, status=status, message=message,
                           columns={"n_iter": n_iter, "objective_trace": trace_arr,
                                    "trace_steps": steps})


class ProximalGradient(_LeastSquaresLoss):
    """Generic proximal gradient (FISTA when ``accelerated``) for any penalty with ``prox``.

    W ← prox_{εΩ}(W − ε∇J(W)) with ε = ``step`` (default 1/λ_max(H)), until
    every column moves less than ``tol``·max(1, ‖w‖) or ``max_iter`` iterations.
    """

    name = "proximal_gradient"
    params = {
        "step": Param(float, default=None, gt=0, nullable=True, doc="step size (default 1/λ_max)"),
        "max_iter": Param(int, default=10000, ge=1, doc="iteration limit"),
        "tol": Param(float, default=1e-10, gt=0, doc="relative change at which to stop"),
        "accelerated": Param(bool, default=True, doc="FISTA momentum"),
    }
    columns = {"n_iter": "int", "converged": "bool"}

    @classmethod
    def accepts(cls, penalty):
        return None if _overrides(penalty, "prox") else "the penalty defines no prox()"

    def fit(self, data, penalty, rng):
        q = self.quadratic(data)
        step = self.step or _default_step(q)
        m, d = penalty.batch_size, data.n_features
        W = np.zeros((d, m))
        Y, t = W.copy(), 1.0
        n_iter = np.full(m, self.max_iter)
        done = np.zeros(m, bool)
        for k in range(1, self.max_iter + 1):
            W_new = penalty.prox(Y - step * q.grad(Y), step)
            change = np.linalg.norm(W_new - W, axis=0)
            scale = np.maximum(1.0, np.linalg.norm(W_new, axis=0))
            newly = ~done & (change <= self.tol * scale)
            n_iter[newly] = k
            done |= newly
            if self.accelerated:
                t_new = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
                Y = W_new + ((t - 1) / t_new) * (W_new - W)
                t = t_new
            else:
                Y = W_new
            W = W_new
            if done.all():
                break
        message = [None if ok else f"not converged in {self.max_iter} iterations" for ok in done]
        return _linear_fit(data, W, message=message,
                           columns={"n_iter": n_iter, "converged": done})


class LassoPath(_LeastSquaresLoss):
    """An exact Lasso path solver on the Gram matrix (homotopy / LARS-Lasso).

    Accepts penalties Ω(w) = s‖w‖₁ (they expose ``l1_strength``). Follows the
    piecewise-linear path from α_max down through every requested α and
    reports the relative duality gap per α in ``duality_gap`` (at most ``tol``
    on success).
    """

    name = "lasso_path"
    params = {"tol": Param(float, default=1e-10, gt=0, doc="relative duality-gap tolerance")}
    columns = {"duality_gap": "float"}

    @classmethod
    def accepts(cls, penalty):
        if not hasattr(penalty, "l1_strength"):
            return "the Lasso path needs a penalty s||w||_1 (one with 'l1_strength')"
        return None

    def fit(self, data, penalty, rng):
        q = self.quadratic(data)
        alphas = np.broadcast_to(np.asarray(penalty.l1_strength, float), (penalty.batch_size,))
        W, gap = lasso_path_gram(q.H, q.c, alphas, tol=self.tol, yy=q.j0)
        message = [None if g <= self.tol else f"duality gap {g:.2e} above tol {self.tol:g}"
                   for g in gap]
        return _linear_fit(data, W, message=message, columns={"duality_gap": gap})


@regsim.hookimpl
def register_learners(register):
    for cls in (LeastSquares, GradientDescent, ProximalGradient, LassoPath):
        register(cls)
