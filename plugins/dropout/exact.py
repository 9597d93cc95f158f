"""Exact dropout ensembles: every mask of the droppable units, weighted by p(μ).

For one network (weights ``Ws[l] (d_l, d_{l+1})``, biases ``bs[l]``, ReLU hidden
layers) and DROP probabilities ``drop[l]`` of the inputs of layer ``l``, the
sub-network of mask μ computes from ``μ ⊙ h / keep`` (inverted dropout) and

* the arithmetic mean is ``Σ_μ p(μ) softmax(z_μ(x))``,
* the normalised weighted geometric mean is ``softmax(Σ_μ p(μ) z_μ(x))``: the
  per-mask softmax normalisers are constant over classes, so they factor out
  of ``Π_μ p(y|x,μ)^p(μ)`` and only the p(μ)-weighted mean of the logits remains,

with ``p(μ) = Π_i keep^μ_i (1-keep)^(1-μ_i)``.

How it is vectorised
--------------------
The logits are linear in the mask ``ν`` of the last layer's inputs:
``z = b + Σ_i ν_i a_i W_i / keep``. Split those units into halves A and B, so
``z(ν) = z_A(ν_A) + z_B(ν_B)`` and ``exp z(ν) = exp z_A · exp z_B``. The softmax
normaliser of every pair is then one matrix product per point,
``S = E_A E_Bᵀ`` (``2^|A| × C`` times ``C × 2^|B|``), and the arithmetic mean is

    p̄(c) = Σ_a p_a E_A[a,c] Σ_b (p_b E_B[b,c] / S[a,b]),

two batched matrix products per block of points: ``2^|A| + 2^|B|`` exponentials
per point instead of ``2^|A|·2^|B|``. Points are taken in blocks small enough
that their half logits and pair normalisers stay in cache (``_PAIR_ENTRIES``):
every step (logits, maxima, exponentials, both products) then reads cache, not
memory, which made the enumeration about twice as fast as whole-array passes. Masks of earlier layers (the "outer"
masks) are enumerated in blocks and their (outer mask, point) pairs are treated
as extra points. There is no Python loop over masks: loops run over blocks.

Numerical range
---------------
``E_A`` and ``E_B`` are max-subtracted per row, which makes every entry ``<= 1``
but is not the max-subtraction of the pair: ``S[a,b] = exp(-g_ab) Σ_c
exp(z_abc - max_c z_abc)`` with ``g_ab >= 0``, and when half A favours one
class and half B another by hundreds of nats (large inverted-dropout scales
``1/keep``, e.g. drop 0.999) ``S`` underflows and the pair's softmax is lost.
Every point whose smallest pair normaliser falls below ``_SAFE_NORMALISER``
(where the absolute error of a computed pair probability is still below
~1e-25) is therefore recomputed by the direct log-space enumeration of its
pairs (max-subtracted per pair, log-sum-exp). Mask probabilities are
``exp(log p(μ))`` with ``log p(μ) = n_kept log(keep) + n_dropped log(drop)``.
"""

from __future__ import annotations

import numpy as np

from ..blas_threads import one_blas_thread

__all__ = ["all_masks", "mask_probabilities", "mask_log_probabilities", "droppable_units",
           "exact_means",
           "TooManyUnits"]

#: Working-memory budget per block of the enumeration, in float64 entries (64 MiB).
_BLOCK_ENTRIES = 8 * 2**20
#: Pair normalisers held at once (points × 2^|A| × 2^|B|), in float64 entries (2 MiB: a
#: block of points and its pair normalisers stay in a core's cache through every pass).
_PAIR_ENTRIES = 2**18
#: Smallest factorised pair normaliser trusted; below it a point is enumerated pair by pair.
#: Terms lost to underflow are below ~2.3e-308 each, i.e. < 1e-25 of such a normaliser.
_SAFE_NORMALISER = 1e-280
_LOG_SAFE_NORMALISER = np.log(_SAFE_NORMALISER)


class TooManyUnits(ValueError):
    """The exact enumeration would need more than ``2^max_units`` masks."""


def all_masks(k: int) -> np.ndarray:
    """Every binary mask of ``k`` units, ``(2^k, k)`` floats; row ``j`` is ``j`` in binary."""
    j = np.arange(2**k, dtype=np.int64)[:, None]
    return ((j >> np.arange(k, dtype=np.int64)) & 1).astype(float)


def mask_log_probabilities(masks: np.ndarray, drop: float) -> np.ndarray:
    """``log p(μ)`` for each row of ``masks`` ``(b, k)`` (1 = kept), each unit dropped
    independently with probability ``drop`` in ``[0, 1)``: ``(b,)``, ``-inf`` where p(μ) = 0."""
    k = masks.shape[1]
    kept = masks.sum(axis=1)
    dropped = k - kept
    with np.errstate(divide="ignore"):
        log_drop = np.log(drop)
    # 0 · log(0) is 0 here: no unit dropped has probability keep^k even when drop = 0.
    return kept * np.log1p(-drop) + np.where(dropped > 0, dropped * log_drop, 0.0)


def mask_probabilities(masks: np.ndarray, drop: float) -> np.ndarray:
    """``p(μ) = keep^n_kept · drop^n_dropped`` for each row of ``masks``, as ``exp`` of
    :func:`mask_log_probabilities` (``drop`` is the DROP probability; keep = 1 − drop)."""
    return np.exp(mask_log_probabilities(masks, drop))


def droppable_units(sizes: list[int], drop: list[float]) -> int:
    """How many units have a mask: the inputs of each layer with ``drop > 0``."""
    return int(sum(s for s, p in zip(sizes[:-1], drop) if p > 0))


def _outer_masks(sizes, drop, lo, hi):
    """Per-layer masks (or None) and p(μ) for outer mask numbers ``lo..hi-1``.

    Outer units are those of every droppable layer but the last; mask number
    ``j`` sets unit ``i`` (in layer order) to bit ``i`` of ``j``.
    """
    L = len(sizes) - 1
    layers = [l for l in range(L - 1) if drop[l] > 0]
    j = np.arange(lo, hi, dtype=np.int64)[:, None]
    masks, log_prob, shift = [None] * L, np.zeros(hi - lo), 0
    for l in layers:
        bits = ((j >> np.arange(shift, shift + sizes[l], dtype=np.int64)) & 1).astype(float)
        masks[l] = bits
        log_prob += mask_log_probabilities(bits, drop[l])
        shift += sizes[l]
    return masks, np.exp(log_prob)


def _last_inputs(Ws, bs, X, drop, masks):
    """Inputs of the last layer ``(b, n, u)`` for a block of outer masks (ReLU, inverted dropout)."""
    H = X[None]
    for l in range(len(Ws) - 1):
        if masks[l] is not None:
            H = H * (masks[l][:, None, :] / (1.0 - drop[l]))
        H = np.maximum(H @ Ws[l] + bs[l], 0.0)
    return H


def _half_map(W, nu, keep):
    """``M (u, 2^h · C)`` with ``M[i, (a, c)] = ν_ai W_ic / keep``: a half's logits are ``A @ M``."""
    u, C = W.shape
    M = nu.T[:, :, None] * (W / keep)[:, None, :]  # (u, 2^h, C); ν is 0/1, so each entry is exact
    return M.reshape(u, nu.shape[0] * C)


def _row_range(Z):
    """``(Z.max(axis=-1), Z.min(axis=-1))`` for a short last axis (the classes), one pass per class."""
    hi, lo = Z[..., 0].copy(), Z[..., 0].copy()
    for c in range(1, Z.shape[-1]):
        np.maximum(hi, Z[..., c], out=hi)
        np.minimum(lo, Z[..., c], out=lo)
    return hi, lo


def exact_means(Ws: list, bs: list, X: np.ndarray, drop: list[float], *,
                arithmetic: bool = True, geometric: bool = True, output: str = "softmax",
                max_units: int = 20) -> dict[str, np.ndarray]:
    """Exact arithmetic and normalised geometric means over all dropout masks.

    Parameters
    ----------
    Ws, bs : lists of arrays
        One network: ``Ws[l]`` is ``(d_l, d_{l+1})``, ``bs[l]`` is ``(d_{l+1},)``.
    X : ndarray, shape (n, d)
    drop : list of float
        DROP probability of the inputs of each layer (0: not droppable).
    output : {"softmax", "identity"}
        The output non-linearity. With ``"identity"`` both means are the mean
        logits (returned under both keys).
    max_units : int
        Refuse (:class:`TooManyUnits`) when more units are droppable, before
        allocating anything.

    Returns
    -------
    dict
        ``"arithmetic"`` and/or ``"geometric"``: ``(n, C)`` probabilities
        (or mean outputs for ``"identity"``).
    """
    sizes = [Ws[0].shape[0]] + [W.shape[1] for W in Ws]
    k = droppable_units(sizes, drop)
    if k > max_units:
        detail = ", ".join(f"{s} inputs of layer {l} (drop {p:g})"
                           for l, (s, p) in enumerate(zip(sizes[:-1], drop)) if p > 0)
        raise TooManyUnits(
            f"inference.max_units: the exact ensemble enumerates 2^k masks and this network has "
            f"k={k} droppable units ({detail}), more than max_units={max_units}; use "
            f"mc_arithmetic/mc_geometric, fewer droppable units, or raise max_units (<= 26)")
    with one_blas_thread():
        return _exact_means(Ws, bs, np.asarray(X, dtype=float), drop, sizes, k,
                            arithmetic, geometric, output)


def _exact_means(Ws, bs, X, drop, sizes, k, arithmetic, geometric, output):
    n, C = X.shape[0], sizes[-1]
    L = len(Ws)
    last_drop = drop[L - 1]
    u = sizes[L - 1]
    if last_drop > 0:
        uA = u // 2
        nuA, nuB = all_masks(uA), all_masks(u - uA)
        log_pA = mask_log_probabilities(nuA, last_drop)
        log_pB = mask_log_probabilities(nuB, last_drop)
        keep = 1.0 - last_drop
        MA, MB = _half_map(Ws[-1][:uA], nuA, keep), _half_map(Ws[-1][uA:], nuB, keep)
    else:  # the last layer's inputs are not masked: half A holds the logits, half B adds 0
        uA = u
        log_pA = log_pB = np.zeros(1)
        MA, MB = Ws[-1], np.zeros((0, C))
    pA, pB = np.exp(log_pA), np.exp(log_pB)
    nA, nB = pA.size, pB.size
    k_outer = k - (u if last_drop > 0 else 0)
    n_outer = 2**k_outer
    # Outer masks per block so that their last-layer inputs (outer block × points × u) fit.
    outer_block = int(max(1, min(n_outer, _BLOCK_ENTRIES // (n * max(u, 1)))))
    # Points per inner block: its pair normalisers (points × 2^|A| × 2^|B|) stay in cache.
    step = max(1, _PAIR_ENTRIES // (nA * nB))
    bias = np.tile(bs[-1], nA)
    mean_logits = np.zeros((n, C))
    mean_prob = np.zeros((n, C))
    for lo in range(0, n_outer, outer_block):
        hi = min(n_outer, lo + outer_block)
        masks, p_outer = _outer_masks(sizes, drop, lo, hi)
        A = _last_inputs(Ws, bs, X, drop, masks)  # (b, n, u)
        b = A.shape[0]
        A = A.reshape(b * n, u)
        zbar = np.empty((b * n, C))
        prob = np.empty((b * n, C))
        for p0 in range(0, b * n, step):
            p1 = min(b * n, p0 + step)
            # Every mask's logits for this block of (outer mask, point) pairs, split in halves.
            ZA = (A[p0:p1, :uA] @ MA + bias).reshape(p1 - p0, nA, C)
            ZB = (A[p0:p1, uA:] @ MB).reshape(p1 - p0, nB, C)
            if geometric or output == "identity":
                # Σ_{a,b} p_a p_b (zA + zB) = Σ_a p_a zA + Σ_b p_b zB
                zbar[p0:p1] = pA @ ZA + pB @ ZB
            if arithmetic and output == "softmax":
                prob[p0:p1] = _factorised_arithmetic(ZA, ZB, pA, pB, log_pA, log_pB)
        if geometric or output == "identity":
            mean_logits += np.tensordot(p_outer, zbar.reshape(b, n, C), axes=(0, 0))
        if arithmetic and output == "softmax":
            mean_prob += np.tensordot(p_outer, prob.reshape(b, n, C), axes=(0, 0))
    if output == "identity":
        return {key: mean_logits for key, want in (("arithmetic", arithmetic),
                                                    ("geometric", geometric)) if want}
    out = {}
    if arithmetic:
        out["arithmetic"] = mean_prob
    if geometric:
        z = mean_logits - mean_logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        out["geometric"] = e / e.sum(axis=1, keepdims=True)
    return out


def _factorised_arithmetic(ZA, ZB, pA, pB, log_pA, log_pB):
    """``Σ_{a,b} p_a p_b softmax(zA + zB)`` per point, ``(q, C)``, with exp(zA+zB) = exp zA · exp zB.

    ``ZA (q, 2^|A|, C)``, ``ZB (q, 2^|B|, C)`` for a block of ``q`` points
    small enough that its pair normalisers ``(q, 2^|A|, 2^|B|)`` stay in cache;
    ``pA``, ``pB`` and their logs ``(2^|A|,)``, ``(2^|B|,)``. Subtracting
    per-row maxima from zA and zB scales numerator and normaliser of a pair
    alike; points where a pair normaliser nevertheless comes close to
    underflow are enumerated pair by pair in log space
    (:func:`_pairwise_arithmetic`).
    """
    hiA, loA = _row_range(ZA)
    hiB, loB = _row_range(ZB)
    EA = np.exp(ZA - hiA[..., None])
    EB = np.exp(ZB - hiB[..., None])
    # S[a,b] = Σ_c EA[a,c] EB[b,c] >= exp(-(range of zA[a]) - (range of zB[b])): each term
    # is at least that. A per-point lower bound on every pair normaliser from the rows'
    # ranges, so S itself is scanned only where the bound fails.
    log_floor = -((hiA - loA).max(axis=1) + (hiB - loB).max(axis=1))  # (q,)
    S = EA @ EB.transpose(0, 2, 1)  # every pair's normaliser (q, 2^|A|, 2^|B|)
    suspect = np.flatnonzero(log_floor < _LOG_SAFE_NORMALISER)
    unsafe = suspect[S[suspect].min(axis=(1, 2)) < _SAFE_NORMALISER] if suspect.size else suspect
    # An underflowed S gives inf (and then NaN) here; those points are redone below.
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        np.reciprocal(S, out=S)
        T = S @ (EB * pB[:, None])  # Σ_b p_b E_B[b,c] / S[a,b]   (q, 2^|A|, C)
        out = np.einsum("a,qac,qac->qc", pA, EA, T)
    if unsafe.size:
        out[unsafe] = _pairwise_arithmetic(ZA[unsafe], ZB[unsafe], log_pA, log_pB)
    return out


def _pairwise_arithmetic(za, zb, log_pA, log_pB):
    """``Σ_{a,b} p_a p_b softmax(za[a] + zb[b])`` per point, ``(q, C)``, pair by pair in log space.

    ``za (q, 2^|A|, C)``, ``zb (q, 2^|B|, C)``. Each pair's logits are
    max-subtracted before its log-sum-exp, and the weights enter as
    ``exp(log p_a + log p_b + log softmax)``, so nothing overflows or is
    divided by an underflowed normaliser, whatever the logits' range.
    """
    q, nA, C = za.shape
    nB = zb.shape[1]
    out = np.zeros((q, C))
    rows = max(1, _PAIR_ENTRIES // (nB * C))
    for i in range(q):
        for lo in range(0, nA, rows):
            z = za[i, lo:lo + rows, None, :] + zb[i, None, :, :]  # (r, 2^|B|, C)
            z = z - z.max(axis=2, keepdims=True)
            log_soft = z - np.log(np.exp(z).sum(axis=2, keepdims=True))
            log_w = log_pA[lo:lo + rows, None, None] + log_pB[None, :, None]
            out[i] += np.exp(log_w + log_soft).sum(axis=(0, 1))
    return out
