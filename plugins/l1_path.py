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
that contains them.  ``G_AA^{-1}`` is kept up to date with O(|A|^2) rank-one
updates and every piece is refined against directly computed residuals, so a
piece costs a few matrix-vector products instead of a factorisation.
"""

from __future__ import annotations

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
# this many events (and at every requested alpha); a correction larger than
# _DRIFT (relative) triggers a rebuild of the factor.
_CHECK_EVERY = 8
_DRIFT = 1e-6


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
        With ``yy``: ``(F(w) - D(theta)) / F(w)``, where ``theta`` is the
        residual ``(yc - Xc w) / n`` scaled into the dual feasible set
        ``||Xc' theta||_inf <= alpha`` (the same dual point scikit-learn uses).
        As ``D <= F* <= F(w)``, this bounds the relative suboptimality
        ``(F(w) - F*) / F(w)``.  In Gram form, with ``Q = w'Gw/2 - c'w``,
        ``g = c - G w`` and ``k = min(1, alpha / max|g|)``::

            gap = (1 + k^2) Q + alpha ||w||_1 + k c'w + (1 - k)^2 yy

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
    GW = G @ W
    cw = c @ W
    Q = 0.5 * np.einsum("ij,ij->j", W, GW) - cw
    l1 = np.abs(W).sum(axis=0)
    gmax = np.abs(c[:, None] - GW).max(axis=0, initial=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(gmax > alphas, alphas / gmax, 1.0)
    primal = Q + yy + alphas * l1
    gap = (1.0 + kappa**2) * Q + alphas * l1 + kappa * cw + (1.0 - kappa) ** 2 * yy
    gap = np.maximum(gap, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(primal > 0, gap / primal, gap)


# --------------------------------------------------------------------------- #
# Main entry point
# --------------------------------------------------------------------------- #
def lasso_path_gram(G, c, alphas, *, tol=1e-12, max_iter=None, yy=None, return_info=False):
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
        Budget of each stage: at most ``max_iter`` homotopy events and at most
        ``max_iter`` fallback iterations.  Default ``max(10_000, 50 d)``.
    yy : float, optional
        ``||yc||^2 / (2n)``.  Only used for the reported gap (see Returns).
    return_info : bool, default=False
        Also return a dict with ``n_events`` (homotopy pieces followed),
        ``fallback`` (number of alphas handed to the fallback solver),
        ``fallback_reason`` and ``converged`` (bool per alpha).

    Returns
    -------
    W : ndarray of shape (d, m)
        ``W[:, j]`` minimises the objective for ``alphas[j]`` (input order).
    duality_gap : ndarray of shape (m,)
        With ``yy``: the relative duality gap ``(F(w) - D) / F(w)`` of
        :func:`lasso_duality_gap`.  Without ``yy`` the gap cannot be formed
        and the relative KKT residual (violation / ``alpha_max``) is reported
        instead.  Both are ~1e-16 for exact solutions.
    info : dict
        Only with ``return_info=True``.

    Notes
    -----
    The path is followed exactly from ``alpha_max`` down to the smallest
    positive requested alpha, once, whatever the order of ``alphas``; each
    event costs O(d |A|) work.  Every requested column is then verified
    against the KKT conditions; a column that fails is re-solved directly on
    its support (``np.linalg.solve`` of the reduced system) and verified
    again.

    Fallback: when the homotopy cannot proceed reliably -- a joining column is
    (numerically) a linear combination of the active ones, as with duplicated
    columns, or more than ``max_iter`` events -- the alphas not yet reached,
    and any column that still fails verification, are solved by FISTA with
    adaptive restart, batched over the alpha columns (one ``G @ W`` product
    per iteration) and warm-started from the last homotopy solution.  Every
    few iterations each column whose support and signs have settled is
    polished by solving its reduced system (least-squares / minimum-norm if
    singular) and accepted if it then satisfies the KKT conditions.  For
    non-unique problems (duplicated columns) the fallback returns one of the
    minimisers.  ``info['converged']`` is False for columns that did not
    reach ``tol`` within the budget.
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
    d, m = c.size, alphas_in.size
    if max_iter is None:
        max_iter = max(10_000, 50 * d)

    # Solve each distinct alpha once, on a descending grid, then scatter back.
    grid, inverse = np.unique(alphas_in, return_inverse=True)
    grid = grid[::-1]
    inverse = grid.size - 1 - inverse.reshape(-1)

    amax = float(np.max(np.abs(c), initial=0.0))
    Wg = np.zeros((d, grid.size))
    info = {"n_events": 0, "fallback": 0, "fallback_reason": None}

    # Columns with alpha >= alpha_max stay exactly zero; alpha == 0 is plain
    # least squares.  The homotopy handles the open interval (0, alpha_max).
    on_path = np.flatnonzero((grid < amax) & (grid > 0))
    if on_path.size:
        lo, hi = on_path[0], on_path[-1] + 1
        Wh, reached, n_events, reason = _homotopy(G, c, grid[lo:hi], amax, max_iter)
        Wg[:, lo:hi] = Wh
        info["n_events"] = n_events
        pending = np.arange(lo + reached, hi)
        if reason is not None:
            info["fallback_reason"] = reason
        # Warm start for the alphas the homotopy did not reach.
        if pending.size and reached:
            Wg[:, pending] = Wg[:, [lo + reached - 1]]
    else:
        pending = np.arange(0)
    zero_alpha = np.flatnonzero(grid == 0)
    if zero_alpha.size and amax > 0:
        Wg[:, zero_alpha] = _least_squares(G, c)[:, None]

    # Verify every column; polish failures directly, hand the rest on.
    ok = _accepted(G, c, Wg, grid, amax, tol)
    ok[pending] = False
    bad = np.flatnonzero(~ok)
    if bad.size:
        redo = []
        for j in bad:
            if j in pending:
                redo.append(j)
                continue
            w = _reduced_solve(G, c, Wg[:, j], grid[j])
            if w is not None and _accepted(G, c, w[:, None], grid[j : j + 1], amax, tol)[0]:
                Wg[:, j] = w
            else:
                redo.append(j)
        if redo:
            redo = np.asarray(redo)
            info["fallback"] = int(redo.size)
            if info["fallback_reason"] is None:
                info["fallback_reason"] = "kkt check failed after polishing"
            Wg[:, redo], conv = _fallback(G, c, grid[redo], Wg[:, redo], amax, tol, max_iter)
            ok[redo] = conv

    W = Wg[:, inverse]
    gap = lasso_duality_gap(G, c, W, alphas_in, yy=yy)
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
    #   inv(G_AA) == Z[:k, :nz] @ Z[:k, :nz].T.
    # The factor Z grows by one column per join (bordering), so a join costs
    # two matrix-vector products instead of an O(k^2) rank-one update of an
    # explicit inverse; a drop projects one direction out of Z, which leaves
    # a spare column, and Z is rebuilt once spare columns run out.
    # Per-event cost is dominated by NumPy call overhead at moderate d, hence
    # the terse loop below.
    A = np.empty(d, dtype=np.intp)
    s = np.empty(d)
    w = np.zeros(d)
    R = np.empty((d, d))
    Z = np.zeros((d, d + _SPARE_COLUMNS))
    k = nz = 0
    inf = np.inf

    def add(j, sign):
        nonlocal k, nz
        if nz == Z.shape[1] and not rebuild():
            return False
        if k:
            Zk = Z[:k, :nz]
            y = G[j, A[:k]] @ Zk
            schur = diagG[j] - y @ y
        else:
            schur = diagG[j]
        if not schur > _COLLINEAR * diagG[j]:
            return False
        root = np.sqrt(schur)
        if k:
            Z[:k, nz] = Zk @ y
            Z[:k, nz] *= -1.0 / root
        Z[k, :nz] = 0.0
        Z[k, nz] = 1.0 / root
        R[k] = G[j]
        A[k], s[k], w[k] = j, sign, 0.0
        k += 1
        nz += 1
        return True

    def remove(p):
        nonlocal k
        last = k - 1
        z = Z[p, :nz].copy()
        if p != last:
            # Move the last slot into p so the active block stays contiguous.
            Z[p, :nz] = Z[last, :nz]
            R[p] = R[last]
            A[p], s[p], w[p] = A[last], s[last], w[last]
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
        nz = k
        return True

    def refine(x, y, gy):
        """One refinement step of y ~ inv(G_AA) x, with gy = G[:, A] @ y.

        Returns the relative size of the correction, a measure of how far the
        updated factor has drifted from the true inverse.
        """
        Zk = Z[:k, :nz]
        dy = Zk @ ((x - gy[A[:k]]) @ Zk)
        y += dy
        gy += dy @ R[:k]
        return np.abs(dy).max() / np.abs(y).max()

    a = amax
    j0 = int(np.argmax(np.abs(c)))
    add(j0, np.sign(c[j0]))
    r = c.copy()  # correlations c - G w at alpha = a
    pos = 0
    barrier = -1  # just-dropped index: its slack is zero to rounding, skip once
    n_events = 0
    since_check = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        while True:
            Ak = A[:k]
            sk = s[:k]
            Zk = Z[:k, :nz]
            Rk = R[:k]
            v = Zk @ (sk @ Zk)  # -dw_A/d alpha = inv(G_AA) s_A
            q = v @ Rk  # G[:, A] v: rate of change of the correlations
            if since_check >= _CHECK_EVERY:
                since_check = 0
                if refine(sk, v, q) > _DRIFT:
                    if not rebuild():
                        return W, pos, n_events, "G_AA not positive definite"
                    Zk = Z[:k, :nz]
                    v = Zk @ (sk @ Zk)
                    q = v @ Rk
                    refine(sk, v, q)

            # Join: slack a -/+ r shrinks at rate 1 -/+ q per unit decrease of
            # alpha; a negative slack (rounding) gives a negative step, i.e. an
            # immediate join.
            den = 1.0 - q
            t_up = (a - r) / den
            t_up[den <= 0] = inf
            den = 1.0 + q
            t_lo = (a + r) / den
            t_lo[den <= 0] = inf
            t_join = np.minimum(t_up, t_lo)
            t_join[Ak] = inf
            if barrier >= 0:
                t_join[barrier] = inf
            j = t_join.argmin()
            tj = t_join[j]
            # Drop: an active coefficient moving towards zero (s v < 0) hits it.
            t_drop = -w[:k] / v
            t_drop[sk * v >= 0] = inf
            p = t_drop.argmin()
            tp = t_drop[p]
            t = max(min(tj, tp), 0.0)

            a_next = a - t
            if grid[pos] >= a_next:
                start = pos
                while pos < m and grid[pos] >= a_next:
                    pos += 1
                # Polish: re-solve the reduced system at this alpha, refined
                # against directly computed residuals, then read the
                # requested alphas off this piece.
                if since_check:
                    refine(sk, v, q)
                    since_check = 0
                x = c[Ak] - a * sk
                wk = Zk @ (x @ Zk)
                g = wk @ Rk
                refine(x, wk, g)
                w[:k] = wk
                r = c - g
                blk = wk[:, None] + np.multiply.outer(v, a - grid[start:pos])
                # A coefficient on the wrong side of zero means rounding moved
                # a drop event; zero it and let the KKT check judge.
                blk[blk * sk[:, None] < 0] = 0.0
                W[Ak, start:pos] = blk
                if pos == m:
                    return W, pos, n_events, None
            if n_events >= max_events:
                return W, pos, n_events, f"more than max_iter={max_events} homotopy events"

            a = a_next
            w[:k] += t * v
            r -= t * q
            n_events += 1
            since_check += 1
            if tj <= tp:
                sign = 1.0 if t_up[j] <= t_lo[j] else -1.0
                r[j] = sign * a
                if not add(j, sign):
                    return W, pos, n_events, "collinear active set (singular G_AA)"
                barrier = -1
            else:
                barrier = A[p]
                w[p] = 0.0
                remove(p)
                if k == 0:  # cannot happen below alpha_max; restart defensively
                    j0 = int(np.argmax(np.abs(c)))
                    add(j0, np.sign(c[j0]))
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
    """Re-solve ``G_SS w_S = c_S - alpha sign(w_S)`` on the support of ``w``."""
    S = np.flatnonzero(w)
    out = np.zeros_like(w)
    if S.size == 0:
        return out
    rhs = c[S] - alpha * np.sign(w[S])
    GS = G[np.ix_(S, S)]
    try:
        out[S] = np.linalg.solve(GS, rhs)
    except np.linalg.LinAlgError:
        out[S] = np.linalg.lstsq(GS, rhs, rcond=None)[0]
    # A sign flip means the support/sign pattern was wrong: not a solution.
    if np.any(out[S] * np.sign(w[S]) < 0):
        return None
    return out


def _kkt_floor(G, W, amax):
    """Relative rounding level of evaluating ``c - G w`` for each column."""
    gmax = np.max(np.abs(G), initial=0.0)
    return 16 * np.sqrt(G.shape[0] + 1) * _EPS * (1.0 + gmax * np.abs(W).sum(axis=0) / amax)


def _accepted(G, c, W, alphas, amax, tol):
    """Columns of ``W`` whose relative KKT residual is within tolerance."""
    if amax == 0:
        return np.ones(W.shape[1], dtype=bool)
    kkt = lasso_kkt_residual(G, c, W, alphas) / amax
    return kkt <= np.maximum(tol, _kkt_floor(G, W, amax))


def _soft(Z, thr):
    return np.sign(Z) * np.maximum(np.abs(Z) - thr, 0.0)


def _fallback(G, c, alphas, W0, amax, tol, max_iter, check_every=10):
    """FISTA with adaptive restart, batched over columns, plus support polishing.

    Returns ``(W, converged)``.
    """
    d, m = W0.shape
    L = float(np.linalg.eigvalsh(G)[-1])
    if not L > 0:  # G == 0: the solution is zero for every alpha
        return np.zeros_like(W0), np.ones(m, dtype=bool)
    thr = alphas / L
    X = W0.copy()
    Y = X.copy()
    t = np.ones(m)
    done = np.zeros(m, dtype=bool)
    last_pattern = np.sign(X)
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
        done[live] = _accepted(G, c, Xn, alphas[live], amax, tol)
        pattern = np.sign(X)
        settled = np.flatnonzero(~done & np.all(pattern == last_pattern, axis=0))
        last_pattern = pattern
        for j in settled:
            w = _polish_any(G, c, X[:, j], alphas[j])
            if w is not None and _accepted(G, c, w[:, None], alphas[j : j + 1], amax, tol)[0]:
                X[:, j] = Y[:, j] = w
                done[j] = True
    return X, done


def _polish_any(G, c, w, alpha):
    """Reduced solve that tolerates a singular ``G_SS`` (minimum-norm)."""
    S = np.flatnonzero(w)
    out = np.zeros_like(w)
    if S.size:
        out[S] = np.linalg.lstsq(G[np.ix_(S, S)], c[S] - alpha * np.sign(w[S]), rcond=None)[0]
        if np.any(out[S] * np.sign(w[S]) < 0):
            return None
    return out
