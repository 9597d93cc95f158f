"""Built-in least-squares learners, each batched over the α path (one column per α).

All minimise J̃(w) = (1/2n)‖yc − Xc w‖² + Ω(w) on centred data (the intercept
is unpenalised) and work from the shared quadratic model of J (``H = XcᵀXc/n``,
computed once per problem instance).

Every one stores an optimality measure in the ``optimality`` column and
reports ``ok`` only when it is at most the learner's ``tol`` (else
``not_converged``, with the measure and the tolerance in the message):

=====================  ====================================================
``least_squares``      relative gradient residual (:func:`gradient_residual`)
``gradient_descent``   relative gradient residual (smooth penalties only)
``proximal_gradient``  relative proximal-gradient residual
                       (:func:`prox_gradient_residual`), any penalty with a prox
``lasso_path``         relative duality gap (``duality_gap``, relative to F(0))
=====================  ====================================================
"""

from __future__ import annotations

import numpy as np

import regsim
from regsim import Dataset, Learner, LinearFit, Param, Penalty, Quadratic, smooth_gradient_refusal

from .l1_path import lasso_path_gram


def _linear_fit(data: Dataset, W: np.ndarray, **kwargs) -> LinearFit:
    return LinearFit(m=W.shape[1], W=W, intercept=data.centred.intercept(W), **kwargs)


def _default_step(q: Quadratic) -> float:
    lam_max = float(q.eig[0][-1])
    return 1.0 / lam_max if lam_max > 0 else 1.0


def _overrides(cls: type[Penalty], method: str) -> bool:
    return getattr(cls, method) is not getattr(Penalty, method)


def _relative(residual: np.ndarray, scale: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(scale > 0, residual / np.where(scale > 0, scale, 1.0), residual)
    return np.where(np.isfinite(out), out, np.inf)


def gradient_residual(q: Quadratic, W: np.ndarray, penalty_grad: np.ndarray) -> np.ndarray:
    """Relative gradient residual of J̃ = J + Ω per column, for a smooth Ω.

    ``‖∇J(w) + ∇Ω(w)‖ / (‖Hw‖ + ‖c‖ + ‖∇Ω(w)‖)``: the gradient relative to the
    sizes of its terms (∇J = Hw − c), the normwise backward error of the
    optimality condition ∇J̃ = 0. It is 1 at w = 0 (unless c = 0), 0 at the
    optimum, and its rounding floor is about d·eps whatever the conditioning
    of H. Only valid for a differentiable Ω: for |w| the sign sub-gradient is
    not the gradient at 0 (use :func:`prox_gradient_residual`).
    """
    HW = q.H @ W  # once: ∇J = Hw − c and the scale share it
    G = HW - q.c[:, None] + penalty_grad
    scale = (np.linalg.norm(HW, axis=0) + np.linalg.norm(q.c)
             + np.linalg.norm(penalty_grad, axis=0))
    return _relative(np.linalg.norm(G, axis=0), scale)


def prox_gradient_residual(q: Quadratic, penalty: Penalty, W: np.ndarray,
                           step: float) -> np.ndarray:
    """Relative proximal-gradient (KKT) residual of J̃ = J + Ω per column, for any Ω with a prox.

    With ``P = prox_{εΩ}(w − ε∇J(w))`` the gradient mapping is
    ``R = (w − P)/ε = ∇J(w) + v`` with ``v = (w − ε∇J(w) − P)/ε ∈ ∂Ω(P)``;
    R = 0 exactly at a minimiser (for L1 it is the soft-threshold fixed-point
    residual). Reported as ``‖R‖ / (‖Hw‖ + ‖c‖ + ‖v‖)``, relative to the sizes
    of its terms like :func:`gradient_residual` (which it equals, up to the
    factor 1/(1 + εα), for L2). ``ε`` is the learner's step (≤ 1/λ_max(H)).
    """
    G = q.grad(W)
    P = penalty.prox(W - step * G, step)
    R = (W - P) / step
    V = R - G
    scale = (np.linalg.norm(q.H @ W, axis=0) + np.linalg.norm(q.c)
             + np.linalg.norm(V, axis=0))
    return _relative(np.linalg.norm(R, axis=0), scale)


def _not_converged(measure: str, value: np.ndarray, tol: float, after: str) -> tuple:
    """Statuses and messages: ``ok`` where ``value <= tol``, else ``not_converged``."""
    good = value <= tol
    status = np.where(good, "ok", "not_converged").astype(object)
    message = [None if g else f"not converged: {measure} {v:.2e} above tol {tol:g} {after}"
               for g, v in zip(good, value)]
    return status, message


class _LeastSquaresLoss(Learner):
    """Shared by learners whose unregularised loss is least squares."""

    def quadratic(self, data: Dataset) -> Quadratic:
        return data.centred.quadratic


class LeastSquares(_LeastSquaresLoss):
    """Closed-form ridge: w̃ = Q (Λ + sI)⁻¹ Qᵀ c, one eigendecomposition for every α.

    Accepts penalties of the form Ω(w) = (s/2)‖w‖² (they expose ``l2_strength``).
    With s = 0 and a singular H it returns the minimum-norm least-squares solution.
    ``optimality`` is the relative gradient residual ‖(H + sI)w − c‖ /
    (‖Hw‖ + ‖c‖ + s‖w‖) (:func:`gradient_residual`), rounding level (~d·eps)
    for this backward-stable closed form; above ``tol`` (a class attribute,
    1e-10) the cell is ``not_converged``. ``tol`` is not a spec parameter:
    there is no iteration to trade for accuracy, and a new parameter would
    change the ``cell_id`` of every stored least-squares cell.
    """

    name = "least_squares"
    params = {}
    #: Relative gradient residual at which a fit is ok.
    tol = 1e-10
    columns = {"optimality": "float"}

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
        opt = gradient_residual(q, W, s[None, :] * W)
        status, message = _not_converged("relative gradient residual", opt, self.tol,
                                          "(closed form: H + sI is too ill-conditioned for this tol)")
        return _linear_fit(data, W, status=status, message=message, columns={"optimality": opt})

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
    Only smooth penalties (``smooth = True``: L2, none) are accepted: on a
    non-smooth one (L1) a fixed-step sub-gradient iteration does not converge
    at any step size — it ends in an oscillation of size about step·α around
    the optimum and never reaches the exact zeros L1 is about — so such a spec
    is refused and pointed to ``proximal_gradient`` (the same step followed by
    the penalty's prox).

    After the last step ``optimality`` holds the relative gradient residual
    (:func:`gradient_residual`); the cell is ``ok`` only if it is at most
    ``tol``, else ``not_converged``. For L2 the iteration converges when
    step < 2/(λ_max + α); a column whose weights blow up (non-finite, or
    ‖w‖ > 1e8·max(1, ‖w*‖)) stops and is reported ``diverged``, and so is, for a
    quadratic penalty (one with ``l2_strength``), every column whose step is at
    or above that bound, where growth may be too slow to see in n_steps. For
    another smooth penalty the bound is 2/(λ_max + L_Ω), L_Ω the Lipschitz
    constant of its gradient, and messages quote 2/λ_max as an upper bound.
    ``objective_trace`` holds J̃ at about 30 log-spaced steps, to watch the
    optimisation and not only the optimum.
    """

    name = "gradient_descent"
    params = {
        "step": Param(float, default=None, gt=0, nullable=True, doc="step size ε (default 1/λ_max)"),
        "n_steps": Param(int, default=1000, ge=1, doc="number of steps"),
        "tol": Param(float, default=1e-10, gt=0,
                     doc="relative gradient residual at which a fit is ok"),
    }
    columns = {"n_iter": "int", "objective_trace": "list", "trace_steps": "list",
               "optimality": "float"}

    @classmethod
    def accepts(cls, penalty):
        return smooth_gradient_refusal(
            penalty, "gradient descent",
            "use proximal_gradient, which takes the same step followed by the penalty's prox")

    def fit(self, data, penalty, rng):
        q = self.quadratic(data)
        step = self.step or _default_step(q)
        m, d = penalty.batch_size, data.n_features
        lam_max = float(q.eig[0][-1])
        strength = (np.broadcast_to(np.asarray(penalty.l2_strength, float), (m,))
                    if hasattr(penalty, "l2_strength") else None)

        def bound(i):
            if strength is not None:
                return f"converges below 2/(λ_max+α) = {2 / max(lam_max + strength[i], 1e-300):.6g}"
            return (f"converges below 2/(λ_max+L_Ω) <= 2/λ_max = {2 / max(lam_max, 1e-300):.6g}, "
                    f"L_Ω the Lipschitz constant of the penalty's gradient")

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
                              f"({bound(i)})")
            alive &= ~bad
            W[:, alive] = W_new[:, alive]
            if t in checkpoints:
                trace.append(np.where(alive, q.loss(W) + penalty.value(W), np.nan))
            if not alive.any():
                break
        # A step only slightly above the bound grows too slowly to reach the norm
        # limit in n_steps; for a quadratic penalty (s/2)||w||² the bound is exact
        # (the iteration matrix I − ε(H + sI) has spectral radius ≥ 1), so say so.
        if strength is not None:
            for i in np.flatnonzero(alive & (step * (lam_max + strength) >= 2.0)):
                alive[i] = False
                message[i] = (f"diverged: step {step:g} >= 2/(λ_max+α) = "
                              f"{2 / (lam_max + strength[i]):.6g}; |w| reached "
                              f"{np.linalg.norm(W[:, i]):.3g} in {self.n_steps} steps "
                              f"(converges below 2/(λ_max+α))")
        with np.errstate(over="ignore", invalid="ignore"):
            opt = np.where(alive, gradient_residual(q, W, penalty.grad(W)), np.inf)
        status, converged_message = _not_converged(
            "relative gradient residual", opt, self.tol,
            f"after {self.n_steps} steps of size {step:g} (more n_steps, or a step closer "
            f"to the bound, or proximal_gradient)")
        status[~alive] = "diverged"
        message = [message[i] if not alive[i] else converged_message[i] for i in range(m)]
        trace_arr = np.array(trace).T  # (m, n_checkpoints)
        steps = np.broadcast_to(checkpoints[:len(trace)].astype(float), trace_arr.shape)
        return _linear_fit(data, W, status=status, message=message,
                           columns={"n_iter": n_iter, "objective_trace": trace_arr,
                                    "trace_steps": steps, "optimality": opt})


class ProximalGradient(_LeastSquaresLoss):
    """Generic proximal gradient (FISTA when ``accelerated``) for any penalty with ``prox``.

    W ← prox_{εΩ}(W − ε∇J(W)) with ε = ``step`` (default 1/λ_max(H)). Every
    ``_CHECK_EVERY`` iterations each column's relative proximal-gradient
    residual (:func:`prox_gradient_residual`, valid for any convex penalty,
    smooth or not) is computed; a column stops when it is at most ``tol``.
    ``optimality`` holds the residual of the returned weights and
    ``converged`` whether it met ``tol``; a column still above it after
    ``max_iter`` iterations is ``not_converged``. Convergence needs
    ε ≤ 1/λ_max(H) with acceleration (ε < 2/λ_max without); a column whose
    weights blow up is ``diverged`` with that bound in its message.
    """

    name = "proximal_gradient"
    params = {
        "step": Param(float, default=None, gt=0, nullable=True, doc="step size (default 1/λ_max)"),
        "max_iter": Param(int, default=10000, ge=1, doc="iteration limit"),
        "tol": Param(float, default=1e-10, gt=0,
                     doc="relative proximal-gradient residual at which a column stops (and is ok)"),
        "accelerated": Param(bool, default=True, doc="FISTA momentum"),
    }
    columns = {"n_iter": "int", "converged": "bool", "optimality": "float"}

    @classmethod
    def accepts(cls, penalty):
        return None if _overrides(penalty, "prox") else "the penalty defines no prox()"

    def fit(self, data, penalty, rng):
        q = self.quadratic(data)
        step = self.step or _default_step(q)
        m, d = penalty.batch_size, data.n_features
        lam_max = float(q.eig[0][-1])
        W = np.zeros((d, m))
        Y, t = W.copy(), 1.0
        n_iter = np.full(m, self.max_iter)
        opt = np.full(m, np.inf)
        done = np.zeros(m, bool)
        blown = np.zeros(m, bool)
        limit = 1e8 * max(1.0, float(np.linalg.norm(q.w_star)))
        with np.errstate(over="ignore", invalid="ignore"):  # blow-ups are caught below
            W = self._iterate(q, penalty, step, W, Y, t, n_iter, opt, done, blown, limit)
        converged = done & ~blown
        status, message = _not_converged(
            "relative proximal-gradient residual", opt, self.tol,
            f"after {self.max_iter} iterations (raise max_iter, or loosen tol)")
        bound = ("ε <= 1/λ_max" if self.accelerated else "ε < 2/λ_max") + \
            f" = {(1 if self.accelerated else 2) / max(lam_max, 1e-300):.6g}"
        for i in np.flatnonzero(blown):
            status[i] = "diverged"
            message[i] = (f"diverged at iteration {n_iter[i]}: |w| > {limit:.3g} with step "
                          f"{step:g} (proximal gradient converges for {bound})")
        opt[blown] = np.inf
        return _linear_fit(data, W, status=status, message=message,
                           columns={"n_iter": n_iter, "converged": converged, "optimality": opt})

    def _iterate(self, q, penalty, step, W, Y, t, n_iter, opt, done, blown, limit):
        """(F)ISTA until every column is done; fills ``n_iter``, ``opt``, ``done``,
        ``blown`` in place and returns the weights."""
        for k in range(1, self.max_iter + 1):
            W_new = penalty.prox(Y - step * q.grad(Y), step)
            # Finished columns keep their weights (the momentum of the others goes on).
            W_new[:, done] = W[:, done]
            if k % _CHECK_EVERY == 0 or k == self.max_iter:
                live = np.flatnonzero(~done)
                norms = np.linalg.norm(W_new[:, live], axis=0)
                # The penalty is vectorised over all m columns: evaluate them all.
                opt[live] = prox_gradient_residual(q, penalty, W_new, step)[live]
                newly_blown = live[~(norms < limit)]
                blown[newly_blown] = True
                newly = live[(opt[live] <= self.tol) | blown[live]]
                n_iter[newly] = k
                done[newly] = True
            if self.accelerated:
                t_new = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
                Y = W_new + ((t - 1) / t_new) * (W_new - W)
                t = t_new
            else:
                Y = W_new
            W = W_new
            if done.all():
                break
        return W


#: Iterations between two evaluations of the proximal-gradient residual (each
#: costs one more H @ W product).
_CHECK_EVERY = 10


class LassoPath(_LeastSquaresLoss):
    """An exact Lasso path solver on the Gram matrix (homotopy / LARS-Lasso).

    Accepts penalties Ω(w) = s‖w‖₁ (they expose ``l1_strength``). Follows the
    piecewise-linear path from α_max down through every requested α (α = 0 is
    least squares, minimum-norm when H is singular) and reports the duality
    gap per α relative to F(0) = ‖yc‖²/2n in ``duality_gap`` and
    ``optimality`` (see :func:`~regsim.plugins.norm_penalties.l1_path.lasso_duality_gap`):
    ``ok`` when it is at most ``tol``, else ``not_converged``.
    """

    name = "lasso_path"
    params = {"tol": Param(float, default=1e-10, gt=0,
                           doc="relative duality gap (over F(0)) at which a fit is ok")}
    columns = {"duality_gap": "float", "optimality": "float"}

    @classmethod
    def accepts(cls, penalty):
        if not hasattr(penalty, "l1_strength"):
            return "the Lasso path needs a penalty s||w||_1 (one with 'l1_strength')"
        return None

    def fit(self, data, penalty, rng):
        q = self.quadratic(data)
        alphas = np.broadcast_to(np.asarray(penalty.l1_strength, float), (penalty.batch_size,))
        W, gap = lasso_path_gram(q.H, q.c, alphas, tol=self.tol, yy=q.j0)
        status, message = _not_converged("relative duality gap", gap, self.tol,
                                         "(homotopy and its fallbacks)")
        return _linear_fit(data, W, status=status, message=message,
                           columns={"duality_gap": gap, "optimality": gap})


@regsim.hookimpl
def register_learners(register):
    for cls in (LeastSquares, GradientDescent, ProximalGradient, LassoPath):
        register(cls)
