"""Exact Lasso regularisation paths from the Gram matrix, in pure NumPy.

Conventions
-----------
With centred data ``Xc`` (n x d) and ``yc`` (n,), the least-squares loss is
``J(w) = ||yc - Xc w||^2 / (2n)``.  Everything here works on the sufficient
statistics

* ``G = Xc.T @ Xc / n``   (d, d)
* ``c = Xc.T @ yc / n``   (d,)
* ``yy = ||yc||^2 / (2n)`` (scalar, only needed for objective values and
  duality gaps)

so that ``J(w) = w @ G @ w / 2 - c @ w + yy`` and the Lasso objective is
``F(w) = J(w) + alpha * ||w||_1``.  This ``alpha`` is exactly the ``alpha``
of :class:`sklearn.linear_model.Lasso` and :func:`sklearn.linear_model.lasso_path`.

Method
------
:func:`lasso_path_gram` follows the piecewise-linear solution path exactly
(homotopy / LARS-Lasso) from ``alpha_max = max|c|`` downwards.  On a piece with
active set ``A`` and signs ``s`` the solution is
``w_A(alpha) = G_AA^{-1} (c_A - alpha s_A)``; the piece ends when an inactive
correlation ``|c_j - G_j w|`` reaches ``alpha`` (``j`` joins) or an active
coefficient reaches zero (it leaves).  Requested alphas are read off the piece
that contains them.  A factor ``Z`` with ``G_AA^{-1} = Z Z'`` is bordered by
one column per join and the path direction is updated in O(|A|) per join, so
an event costs a few matrix-vector products instead of a factorisation.  The
direction is refined against directly computed residuals every few events,
and at every requested alpha the residual of the reduced system is recomputed
directly and the solution refined if it is above rounding level.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["lasso_path_gram", "lasso_duality_gap", "lasso_objective", "lasso_kkt_residual"]

_EPS = np.finfo(np.float64).eps
# A joining column whose squared distance to the span of the active columns is
# below this fraction of its squared norm makes G_AA numerically singular
# (exact duplicates, d > n beyond the rank): the homotopy stops there.
_COLLINEAR = 1e-10
# Spare columns of the inverse factor (one is used up per drop) before it is
# rebuilt from a fresh Cholesky factorisation.
_SPARE_COLUMNS = 64
# The path direction is refined against its directly computed residual every
# this many events; a correction larger than _DRIFT (relative) triggers a
# rebuild of the factor.
_CHECK_EVERY = 8
_DRIFT = 1e-6
# At a requested alpha, w is refined when the residual of its reduced system
# exceeds this (relative to alpha_max); rounding level is ~1e-16.
_POLISH = 1e-14
# Relative ridge (times max diag G) of the first fallback's path, small enough
# not to change supports in practice, large enough to keep G_AA invertible.
_RIDGE = 1e-9


# --------------------------------------------------------------------------- #
# Public helpers
# --------------------------------------------------------------------------- #
def lasso_objective(G, c, W, alphas, yy=0.0):
    """Lasso objective ``F(w) = w'Gw/2 - c'w + yy + alpha ||w||_1`` per column.

    Parameters
    ----------
    G : ndarray of shape (d, d)
        ``Xc.T @ Xc / n``.
    c : ndarray of shape (d,)
        ``Xc.T @ yc / n``.
    W : ndarray of shape (d,) or (d, m)
        Coefficients, one column per alpha.
    alphas : float or ndarray of shape (m,)
        Penalty levels matching the columns of ``W``.
    yy : float, default=0.0
        ``||yc||^2 / (2n)``; with the default the objective is reported up to
        this constant.

    Returns
    -------
    F : ndarray of shape (m,) (or float for 1-D ``W``)
    """
    W = np.asarray(W, dtype=float)
    vec = W.ndim == 1
    W = W.reshape(W.shape[0], -1)
    GW = np.asarray(G, dtype=float) @ W
    F = 0.5 * np.einsum("ij,ij->j", W, GW) - np.asarray(c, dtype=float) @ W + yy
    F = F + np.asarray(alphas, dtype=float) * np.abs(W).sum(axis=0)
    return F[0] if vec else F


def lasso_kkt_residual(G, c, W, alphas):
    """Largest violation of the Lasso optimality conditions, per column.

    The conditions are ``g = c - G w`` with ``g_j = alpha sign(w_j)`` where
    ``w_j != 0`` and ``|g_j| <= alpha`` where ``w_j == 0``.  The violation is
    absolute (same units as ``c``); divide by ``max|c|`` for a relative value.

    Parameters
    ----------
    G : ndarray of shape (d, d)
    c : ndarray of shape (d,)
    W : ndarray of shape (d, m)
    alphas : ndarray of shape (m,)

    Returns
    -------
    ndarray of shape (m,)
    """
    W = np.asarray(W, dtype=float).reshape(len(c), -1)
    alphas = np.broadcast_to(np.asarray(alphas, dtype=float), (W.shape[1],))
    g = np.asarray(c, dtype=float)[:, None] - np.asarray(G, dtype=float) @ W
    viol = np.where(
        W != 0,
        np.abs(g - alphas * np.sign(W)),
        np.maximum(np.abs(g) - alphas, 0.0),
    )
    return viol.max(axis=0, initial=0.0)


def lasso_duality_gap(G, c, W, alphas, *, yy=None):
    """Relative duality gap (with ``yy``) or relative KKT residual (without).

    Parameters
    ----------
    G : ndarray of shape (d, d)
        ``Xc.T @ Xc / n``.
    c : ndarray of shape (d,)
        ``Xc.T @ yc / n``.
    W : ndarray of shape (d, m)
        Coefficients, one column per alpha.
    alphas : ndarray of shape (m,)
    yy : float, optional
        ``||yc||^2 / (2n)``.  The dual objective depends on it, so without it
        no duality gap can be formed.

    Returns
    -------
    ndarray of shape (m,)
        With ``yy``: ``(F(w) - D(theta)) / F(0)``, the duality gap relative to
        ``F(0) = yy = ||yc||^2 / (2n)`` (the objective at ``w = 0``, which
        bounds ``F*`` from above for every alpha).  ``theta`` is the residual
        ``(yc - Xc w) / n`` scaled into the dual feasible set
        ``||Xc' theta||_inf <= alpha`` (the same dual point scikit-learn
        uses), where a violation at the rounding level of evaluating
        ``Xc' theta`` (the floor of the KKT check) counts as feasible.  As
        ``D <= F* <= F(w)``, the gap bounds the suboptimality
        ``(F(w) - F*) / F(0)`` (up to that rounding).  In Gram form, with
        ``g = c - G w`` and ``k = min(1, alpha / max|g|)``::

            gap = alpha ||w||_1 - w'g + (1 - k^2)/2 w'g
                  - (1 - k)^2/2 c'w + (1 - k)^2 yy

        Why these two choices: at ``alpha = 0`` the feasible set is
        ``Xc' theta = 0``, which a floating-point residual never meets
        exactly, so a strict scaling gives ``k = 0``, ``theta = 0`` and a
        "gap" of ``F(w)`` at the exact least-squares solution; and dividing
        by ``F(w)`` instead of ``F(0)`` blows the rounding floor up when the
        model explains nearly all of ``yc`` (``F* -> 0``).  Relative to
        ``F(0)`` the floor is about 1e-16 times ``w'Gw / yy <= 2`` (times
        the condition of ``G`` at ``alpha = 0``).  ``F(0)`` is the scale of
        scikit-learn's stopping rule (its ``tol`` is compared with the gap
        over ``||y||^2``).  0 when ``yy == 0``.

        Without ``yy``: the KKT residual of :func:`lasso_kkt_residual` divided
        by ``max|c|`` (0 when ``c == 0``).  Both are 0 at an exact solution.
    """
    G = np.asarray(G, dtype=float)
    c = np.asarray(c, dtype=float)
    W = np.asarray(W, dtype=float).reshape(c.size, -1)
    alphas = np.broadcast_to(np.asarray(alphas, dtype=float), (W.shape[1],))
    if yy is None:
        scale = np.max(np.abs(c), initial=0.0)
        kkt = lasso_kkt_residual(G, c, W, alphas)
        return kkt / scale if scale > 0 else kkt
    g = c[:, None] - G @ W  # residual correlations Xc'(yc - Xc w)/n
    cw = c @ W
    wg = np.einsum("ij,ij->j", W, g)
    l1 = np.abs(W).sum(axis=0)
    gmax = np.abs(g).max(axis=0, initial=0.0)
    amax = float(np.max(np.abs(c), initial=0.0))
    rounding = _kkt_floor(G, W, amax) * amax if amax > 0 else np.zeros_like(gmax)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(gmax > alphas + rounding, alphas / gmax, 1.0)
    # Using G w = c - g, the gap is written so that the large terms cancel
    # analytically: the leading term alpha||w||_1 - w'g vanishes to rounding
    # at a solution instead of being a difference of O(yy) terms.
    one_k = 1.0 - kappa
    gap = (alphas * l1 - wg) + 0.5 * one_k * (1.0 + kappa) * wg - 0.5 * one_k**2 * cw + one_k**2 * yy
    gap = np.maximum(gap, 0.0)
    return gap / yy if yy > 0 else gap


# --------------------------------------------------------------------------- #
# Main entry point
# --------------------------------------------------------------------------- #
def lasso_path_gram(
    G, c, alphas, *, tol=1e-12, max_iter=None, yy=None, method="auto", return_info=False
):
    """Lasso solutions for many alphas from the Gram matrix.

    Minimises, for every ``alpha`` in ``alphas``,
    ``F(w) = w'Gw/2 - c'w + ||yc||^2/(2n) + alpha ||w||_1``, i.e. the
    scikit-learn Lasso objective ``||yc - Xc w||^2/(2n) + alpha ||w||_1`` for
    centred data with ``G = Xc'Xc/n`` and ``c = Xc'yc/n``.

    Parameters
    ----------
    G : array_like of shape (d, d)
        Symmetric positive semi-definite Gram matrix ``Xc.T @ Xc / n``.
    c : array_like of shape (d,)
        ``Xc.T @ yc / n``.
    alphas : array_like of shape (m,)
        Non-negative penalty levels, in any order, duplicates allowed.
        Alphas ``>= alpha_max = max|c|`` give exact zeros.  ``alpha = 0`` is
        ordinary least squares, solved directly; when ``G`` is singular the
        minimum-Euclidean-norm least-squares solution is returned.
    tol : float, default=1e-12
        Accuracy target, as a KKT residual relative to ``alpha_max``: a column
        is accepted when ``max_j viol_j / alpha_max <= max(tol, rounding)``,
        with ``viol`` as in :func:`lasso_kkt_residual` and ``rounding`` the
        floating-point error of evaluating ``c - G w``.  Homotopy columns
        are exact up to rounding and normally pass; the fallback solver
        iterates until its columns pass.
    max_iter : int, optional
        Budget of each stage: at most ``max_iter`` events per homotopy path
        and at most ``max_iter`` FISTA iterations.  Default
        ``max(10_000, 50 d)``.
    yy : float, optional
        ``||yc||^2 / (2n)``.  Only used for the reported gap (see Returns).
    method : {"auto", "fista"}, default="auto"
        ``"auto"``: homotopy, with the fallback described in Notes.
        ``"fista"``: skip the homotopy and solve all alphas in
        (0, alpha_max) with fallback stage 2 (FISTA plus reduced solves);
        slower, for testing and comparison.
    return_info : bool, default=False
        Also return a dict with ``n_events`` (homotopy events followed),
        ``fallback`` (distinct alphas handed to the fallback), ``fista`` (of
        those, the ones that needed stage 2), ``fallback_reason`` (None when
        no fallback was needed) and ``converged`` (bool per alpha).

    Returns
    -------
    W : ndarray of shape (d, m)
        ``W[:, j]`` minimises the objective for ``alphas[j]`` (input order).
    duality_gap : ndarray of shape (m,)
        With ``yy``: the relative duality gap ``(F(w) - D) / F(0)`` of
        :func:`lasso_duality_gap`.  Without ``yy`` the gap cannot be formed
        and the relative KKT residual (violation / ``alpha_max``) is reported
        instead.  Both are at rounding level for exact solutions (~1e-16 for
        the KKT residual; ~1e-16 to 1e-13 for the gap, see
        :func:`lasso_duality_gap`).
    info : dict
        Only with ``return_info=True``.

    Notes
    -----
    The path is followed exactly from ``alpha_max`` down to the smallest
    positive requested alpha, once, whatever the order of ``alphas``; each
    event costs O(d |A|) work.  With d > n the active set stays within the
    rank of ``G`` (general position), so no fallback is needed either.
    Every requested column is then verified
    against the KKT conditions; a column that fails is re-solved directly on
    its support (least squares on the reduced system) and verified again.

    Fallback: when the homotopy cannot proceed reliably -- a joining column is
    (numerically) a linear combination of the active ones, as with duplicated
    columns, or more than ``max_iter`` events -- the alphas not yet reached,
    and any column that still fails verification, go through two stages:

    1. the exact path of ``G + eps I`` (``eps = 1e-9 max diag G``), which
       never meets a singular ``G_AA``, supplies support and signs; the exact
       reduced system on that support is solved (least squares, minimum
       norm) and the column is accepted if it passes the KKT check;
    2. columns still open are solved by FISTA with adaptive restart, batched
       over the alpha columns (one ``G @ W`` product per iteration) and warm
       started from stage 1; every 20 iterations each column's current sign
       pattern is tried once with the same reduced solve and KKT check.

    With duplicated columns the minimiser is not unique; the minimum-norm
    reduced solve splits the weight evenly between copies.
    ``info['converged']`` is False for columns that did not reach ``tol``
    within the budget (their gap says how far they are).
    """
    G = np.asarray(G, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    alphas_in = np.asarray(alphas, dtype=np.float64)
    if c.ndim != 1 or G.shape != (c.size, c.size):
        raise ValueError(f"need G of shape (d, d) and c of shape (d,), got {G.shape} and {c.shape}")
    if alphas_in.ndim > 1:
        raise ValueError("alphas must be a scalar or 1-D")
    alphas_in = np.atleast_1d(alphas_in)
    if not (np.all(np.isfinite(alphas_in)) and np.all(alphas_in >= 0)):
        raise ValueError("alphas must be finite and non-negative")
    if not (np.all(np.isfinite(G)) and np.all(np.isfinite(c))):
        raise ValueError("G and c must be finite")
    d = c.size
    if method not in ("auto", "fista"):
        raise ValueError(f"method must be 'auto' or 'fista', got {method!r}")
    if max_iter is None:
        max_iter = max(10_000, 50 * d)

    # Solve each distinct alpha once, on a descending grid, then scatter back.
    grid, inverse = np.unique(alphas_in, return_inverse=True)
    grid = grid[::-1]
    inverse = grid.size - 1 - inverse.reshape(-1)

    amax = float(np.max(np.abs(c), initial=0.0))
    Wg = np.zeros((d, grid.size))
    info = {"n_events": 0, "fallback": 0, "fista": 0, "fallback_reason": None}

    # Columns with alpha >= alpha_max stay exactly zero; alpha == 0 is plain
    # least squares.  The homotopy handles the open interval (0, alpha_max).
    on_path = np.flatnonzero((grid < amax) & (grid > 0))
    pending = on_path[:0]
    if method == "fista":
        pending = on_path
        info["fallback_reason"] = "method='fista'"
    elif on_path.size:
        lo, hi = on_path[0], on_path[-1] + 1
        Wh, reached, n_events, reason = _homotopy(G, c, grid[lo:hi], amax, max_iter)
        Wg[:, lo:hi] = Wh
        info["n_events"] = n_events
        pending = np.arange(lo + reached, hi)
        info["fallback_reason"] = reason
    zero_alpha = np.flatnonzero(grid == 0)
    if zero_alpha.size and amax > 0:
        Wg[:, zero_alpha] = _least_squares(G, c)[:, None]

    # Verify every column; re-solve failures directly on their support.
    def try_column(j, w):
        if w is not None:
            passed, res = _accepted(G, c, w[:, None], grid[j : j + 1], amax, tol)
            if passed[0]:
                Wg[:, j], ok[j], kkt[j] = w, True, res[0]

    ok, kkt = _accepted(G, c, Wg, grid, amax, tol)
    ok[pending] = False
    for j in np.setdiff1d(np.flatnonzero(~ok), pending):
        try_column(j, _reduced_solve(G, c, Wg[:, j], grid[j]))
    redo = np.flatnonzero(~ok)
    info["fallback"] = int(redo.size)
    if redo.size and info["fallback_reason"] is None:
        info["fallback_reason"] = "KKT check failed after polishing"

    # Fallback 1: the path of G + eps I, which cannot meet a singular G_AA,
    # gives support and signs; the exact reduced system on that support is
    # then solved (minimum norm) and verified.
    ridge_cols = redo[grid[redo] > 0]
    if method == "auto" and ridge_cols.size:
        eps = _RIDGE * max(float(np.max(np.diag(G))), np.finfo(float).tiny)
        Wr, reached, n_events, _ = _homotopy(G + eps * np.eye(d), c, grid[ridge_cols], amax, max_iter)
        info["n_events"] += n_events
        for i, j in enumerate(ridge_cols[:reached]):
            try_column(j, _reduced_solve(G, c, Wr[:, i], grid[j]))
            if not ok[j]:
                Wg[:, j] = Wr[:, i]  # a good warm start all the same

    # Fallback 2: FISTA, batched over the remaining columns.
    redo = np.flatnonzero(~ok)
    info["fista"] = int(redo.size)
    if redo.size:
        Wg[:, redo] = _fista(G, c, grid[redo], Wg[:, redo], amax, tol, max_iter)
        ok[redo], kkt[redo] = _accepted(G, c, Wg[:, redo], grid[redo], amax, tol)

    W = Wg[:, inverse]
    # Without yy the reported measure is the relative KKT residual, known.
    gap = kkt[inverse] if yy is None else lasso_duality_gap(G, c, W, alphas_in, yy=yy)
    if return_info:
        info["converged"] = ok[inverse]
        return W, gap, info
    return W, gap


# --------------------------------------------------------------------------- #
# Homotopy
# --------------------------------------------------------------------------- #
def _homotopy(G, c, grid, amax, max_events):
    """Follow the exact path over a descending grid inside (0, alpha_max).

    Returns ``(W, reached, n_events, reason)``: ``W[:, :reached]`` are the
    solutions for ``grid[:reached]``; ``reason`` says why the path stopped
    early (``None`` when every grid point was reached).
    """
    d, m = c.size, grid.size
    W = np.zeros((d, m))
    diagG = np.diag(G).copy()
    # Active-set state in preallocated buffers, in "active order" (slot p):
    #   A[p] active index, s[p] its sign, w[p] its coefficient at alpha = a,
    #   R[p] = G[A[p]] so that G[:, A] @ x == x @ R[:k] without a gather,
    #   inv(G_AA) == Z[:k, :nz] @ Z[:k, :nz].T, rows k.. of Z kept zero.
    # The factor Z grows by one column per join (bordering), so a join costs
    # two matrix-vector products instead of an O(k^2) rank-one update of an
    # explicit inverse; a drop projects one direction out of Z, which leaves
    # a spare column, and Z is rebuilt once spare columns run out.
    # At moderate d an event costs about as much in NumPy call overhead as in
    # arithmetic, hence the terse loop below.
    A = np.empty(d, dtype=np.intp)
    s = np.empty(d)
    w = np.zeros(d)
    R = np.empty((d, d))
    Z = np.zeros((d, d + _SPARE_COLUMNS))
    k = nz = 0
    inf = np.inf
    # Row 0 / row 1 of the stacked join test: upper (+alpha) / lower bound.
    updown = np.array([[1.0], [-1.0]])

    def add(j, sign, g):
        """Join j, with g = G[A, j] for the current A.

        Returns ``b = inv(G_AA) g`` (None if j is collinear with A) and the
        Schur complement ``G_jj - g'b``.
        """
        nonlocal k, nz
        if nz == Z.shape[1] and not rebuild():
            return None, 0.0
        if k:
            Zk = Z[:k, :nz]
            y = g @ Zk
            schur = diagG[j] - y @ y
        else:
            schur = diagG[j]
        if not schur > _COLLINEAR * diagG[j]:
            return None, 0.0
        root = math.sqrt(schur)
        b = Zk @ y if k else np.empty(0)
        np.multiply(b, -1.0 / root, out=Z[:k, nz])
        Z[k, nz] = 1.0 / root
        R[k] = G[j]
        A[k], s[k], w[k] = j, sign, 0.0
        k += 1
        nz += 1
        return b, schur

    def remove(p):
        nonlocal k
        last = k - 1
        z = Z[p, :nz].copy()
        if p != last:
            # Move the last slot into p so the active block stays contiguous.
            Z[p, :nz] = Z[last, :nz]
            R[p] = R[last]
            A[p], s[p], w[p] = A[last], s[last], w[last]
        Z[last, :nz] = 0.0
        # inv(G_AA) without p is Z_r (I - z z'/z'z) Z_r', z the old row p.
        Zr = Z[:last, :nz]
        Zr -= np.multiply.outer(Zr @ z, z / (z @ z))
        k = last

    def rebuild():
        nonlocal nz
        Ak = A[:k]
        try:
            L = np.linalg.cholesky(G[np.ix_(Ak, Ak)])
        except np.linalg.LinAlgError:
            return False
        Z[:k, :k] = np.linalg.inv(L).T
        Z[:k, k:nz] = 0.0
        nz = k
        return True

    def refine(x, y, gy):
        """One refinement step of y ~ inv(G_AA) x in place, gy = G[:, A] @ y.

        Returns the correction, whose relative size measures how far the
        updated factor has drifted from the true inverse.
        """
        Zk = Z[:k, :nz]
        dy = Zk @ ((x - gy[A[:k]]) @ Zk)
        y += dy
        gy += dy @ R[:k]
        return dy

    a = amax
    j0 = int(np.argmax(np.abs(c)))
    add(j0, np.sign(c[j0]), None)
    r = c.copy()  # correlations c - G w at alpha = a
    v = np.empty(d)  # v[:k] = inv(G_AA) s_A = -dw_A/d alpha
    q = None  # G[:, A] v[:k]: the correlations move by -q per unit step
    pos = 0
    # Just-dropped index and the bound it sits on (row of rho): its slack there
    # is zero to rounding and grows in theory, so skip it there for one step.
    barrier, barrier_row = -1, 0
    n_events = 0
    since_check = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        while True:
            Ak = A[:k]
            sk = s[:k]
            Zk = Z[:k, :nz]
            Rk = R[:k]
            if q is None:  # after a drop: direction from scratch
                vk = v[:k]
                vk[:] = Zk @ (sk @ Zk)
                q = vk @ Rk
            else:
                vk = v[:k]
            if since_check >= _CHECK_EVERY:
                since_check = 0
                dv = refine(sk, vk, q)
                if np.abs(dv).max() > _DRIFT * np.abs(vk).max():
                    if not rebuild():
                        return W, pos, n_events, "G_AA not positive definite"
                    Zk = Z[:k, :nz]
                    vk[:] = Zk @ (sk @ Zk)
                    q = vk @ Rk
                    refine(sk, vk, q)

            # Join: the slack a -/+ r_j (clipped at 0 against rounding) shrinks
            # at rate 1 -/+ q_j per unit decrease of alpha.  Work with
            # rate / slack, the inverse of the time to the bound: the first
            # join is its largest positive value, and a negative rate (the
            # slack grows) can never win.
            slack = a - updown * r
            np.maximum(slack, 0.0, out=slack)
            rho = (1.0 - updown * q) / slack
            rho[:, Ak] = -inf
            if barrier >= 0:
                rho[barrier_row, barrier] = -inf
            jj = rho.argmax()
            rho_j = rho.flat[jj]
            if rho_j != rho_j:  # 0/0: exactly on the bound with zero rate
                rho[rho != rho] = -inf
                jj = rho.argmax()
                rho_j = rho.flat[jj]
            tj = 1.0 / rho_j if rho_j > 0 else inf
            # Drop: an active coefficient moving towards zero (s v < 0) hits
            # it; same inverse-time trick with the most negative s v / s w.
            sw = sk * w[:k]
            np.maximum(sw, 0.0, out=sw)
            rho = (sk * vk) / sw
            p = rho.argmin()
            rho_p = rho[p]
            if rho_p != rho_p:
                rho[rho != rho] = inf
                p = rho.argmin()
                rho_p = rho[p]
            tp = -1.0 / rho_p if rho_p < 0 else inf
            t = min(tj, tp)

            a_next = a - t
            if grid[pos] >= a_next:
                start = pos
                while pos < m and grid[pos] >= a_next:
                    pos += 1
                # Polish: recompute the correlations directly, and refine w
                # when the residual of the reduced system at this alpha is
                # above rounding level; then read the requested alphas off
                # this piece.
                wk = w[:k]
                g = wk @ Rk
                x = c[Ak] - a * sk
                if np.abs(x - g[Ak]).max() > _POLISH * amax:
                    refine(x, wk, g)
                r = c - g
                blk = wk[:, None] + np.multiply.outer(vk, a - grid[start:pos])
                # A coefficient on the wrong side of zero means rounding moved
                # a drop event; zero it and let the KKT check judge.
                blk[blk * sk[:, None] < 0] = 0.0
                W[Ak, start:pos] = blk
                if pos == m:
                    return W, pos, n_events, None
            if n_events >= max_events:
                return W, pos, n_events, f"more than max_iter={max_events} homotopy events"

            a = a_next
            w[:k] += t * vk
            r -= t * q
            n_events += 1
            since_check += 1
            if tj <= tp:
                j = jj % d
                sign = 1.0 if jj < d else -1.0
                r[j] = sign * a
                g = R[:k, j]
                gv = g @ vk
                b, schur = add(j, sign, g)
                if b is None:
                    return W, pos, n_events, "collinear active set (singular G_AA)"
                # Bordered update of the direction in O(k) instead of a solve:
                # v_A -= gamma b, v_j = gamma, gamma = (s_j - G_jA v_A) / schur.
                gamma = (sign - gv) / schur
                vk -= gamma * b
                v[k - 1] = gamma
                q = v[:k] @ R[:k]
                barrier = -1
            else:
                # Only the bound it leaves from is masked: a fast-moving
                # correlation can still cross to the opposite bound.
                barrier, barrier_row = A[p], (0 if s[p] > 0 else 1)
                w[p] = 0.0
                remove(p)
                q = None
                if k == 0:  # cannot happen below alpha_max; restart defensively
                    j0 = int(np.argmax(np.abs(c)))
                    add(j0, np.sign(c[j0]), None)
                    r = c.copy()


# --------------------------------------------------------------------------- #
# Direct solves, verification and the fallback
# --------------------------------------------------------------------------- #
def _least_squares(G, c):
    """Minimum-norm solution of ``G w = c`` (plain least squares, alpha = 0)."""
    lam, V = np.linalg.eigh(G)
    keep = lam > lam[-1] * G.shape[0] * _EPS
    return V[:, keep] @ ((V[:, keep].T @ c) / lam[keep])


def _reduced_solve(G, c, w, alpha):
    """Re-solve ``G_SS w_S = c_S - alpha sign(w_S)`` on the support S of ``w``.

    Least squares with minimum norm, so that a singular ``G_SS`` (duplicated
    columns) gives the most even split of the weight.  Returns None when the
    solution contradicts the assumed signs (the support guess was wrong).
    """
    S = np.flatnonzero(w)
    out = np.zeros_like(w)
    if S.size:
        signs = np.sign(w[S])
        out[S] = np.linalg.lstsq(G[np.ix_(S, S)], c[S] - alpha * signs, rcond=None)[0]
        if np.any(out[S] * signs < 0):
            return None
    return out


def _kkt_floor(G, W, amax):
    """Relative rounding level of evaluating ``c - G w`` for each column."""
    gmax = np.max(np.abs(G), initial=0.0)
    return 16 * np.sqrt(G.shape[0] + 1) * _EPS * (1.0 + gmax * np.abs(W).sum(axis=0) / amax)


def _accepted(G, c, W, alphas, amax, tol):
    """Relative KKT residual of each column of ``W`` and whether it passes."""
    if amax == 0:  # c == 0: only W == 0 reaches here, and it is exact
        zero = np.zeros(W.shape[1])
        return zero == 0, zero
    kkt = lasso_kkt_residual(G, c, W, alphas) / amax
    return kkt <= np.maximum(tol, _kkt_floor(G, W, amax)), kkt


def _soft(Z, thr):
    return np.sign(Z) * np.maximum(np.abs(Z) - thr, 0.0)


def _fista(G, c, alphas, W0, amax, tol, max_iter, check_every=20):
    """FISTA with adaptive restart, batched over columns, plus support polishing.

    Returns the coefficients; the caller verifies them.
    """
    d, m = W0.shape
    L = float(np.linalg.eigvalsh(G)[-1])
    if not L > 0:  # G == 0: the solution is zero for every alpha
        return np.zeros_like(W0)
    thr = alphas / L
    X = W0.copy()
    Y = X.copy()
    t = np.ones(m)
    done = np.zeros(m, dtype=bool)
    tried = [None] * m  # sign pattern of the last failed polish, per column
    cc = c[:, None]
    for it in range(1, max_iter + 1):
        live = np.flatnonzero(~done)
        if live.size == 0:
            break
        Yl = Y[:, live]
        Xn = _soft(Yl - (G @ Yl - cc) / L, thr[live])
        Xo = X[:, live]
        # Restart momentum where it points uphill (O'Donoghue & Candes 2015).
        restart = np.einsum("ij,ij->j", Yl - Xn, Xn - Xo) > 0
        tl = np.where(restart, 1.0, t[live])
        tn = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * tl * tl))
        Y[:, live] = Xn + ((tl - 1.0) / tn) * (Xn - Xo)
        Y[:, live[restart]] = Xn[:, restart]
        X[:, live] = Xn
        t[live] = tn
        if it % check_every:
            continue
        done[live] = _accepted(G, c, Xn, alphas[live], amax, tol)[0]
        # Once the support and signs are right, the reduced solve is exact;
        # try each sign pattern once per column.
        for j in np.flatnonzero(~done):
            pattern = np.sign(X[:, j])
            if tried[j] is not None and np.array_equal(pattern, tried[j]):
                continue
            w = _reduced_solve(G, c, X[:, j], alphas[j])
            if w is not None and _accepted(G, c, w[:, None], alphas[j : j + 1], amax, tol)[0][0]:
                X[:, j] = Y[:, j] = w
                done[j] = True
            else:
                tried[j] = pattern
    return X
