"""Brute-force dropout oracle: every mask, one Python iteration each, in log space.

Written from the definitions alone (nothing from regsim's dropout code): DROP
probabilities ``drop[l]`` of the inputs of layer ``l``, inverted dropout (a kept
unit is multiplied by 1/keep), ReLU hidden layers, softmax output.
"""

import itertools

import numpy as np


def logsumexp(a, axis):
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def brute_force(Ws, bs, X, drop):
    """Every mask, one Python iteration each: log p(μ), logits and log-softmax per mask.

    Returns a dict of ``(n, C)`` arrays: ``arithmetic`` and ``geometric`` means,
    ``full`` (no mask), and the per-entry variance and range over masks of the
    probabilities (``var_p``, ``range_p``) and centred logits (``var_z``, ``range_z``).
    """
    L = len(Ws)
    sizes = [W.shape[0] for W in Ws]
    units = [(l, i) for l in range(L) if drop[l] > 0 for i in range(sizes[l])]
    log_ps, logits = [], []
    for bits in itertools.product((0, 1), repeat=len(units)):
        masks = [np.ones(s) for s in sizes]
        log_p = 0.0
        for (l, i), kept in zip(units, bits):
            masks[l][i] = kept
            log_p += np.log1p(-drop[l]) if kept else np.log(drop[l])
        H = X
        for l in range(L):
            H = H * masks[l] / (1.0 - drop[l])
            H = H @ Ws[l] + bs[l]
            if l < L - 1:
                H = np.maximum(H, 0.0)
        log_ps.append(log_p)
        logits.append(H)
    log_p = np.array(log_ps)[:, None, None]  # (masks, 1, 1)
    Z = np.array(logits)  # (masks, n, C)
    log_soft = Z - logsumexp(Z, axis=2)[..., None]
    p = np.exp(log_p)
    arithmetic = np.exp(logsumexp(log_p + log_soft, axis=0))
    zbar = np.sum(p * Z, axis=0)
    geometric = np.exp(zbar - logsumexp(zbar, axis=1)[:, None])
    soft = np.exp(log_soft)
    Zc = Z - Z.mean(axis=2, keepdims=True)
    zc_bar = np.sum(p * Zc, axis=0)
    full_z = Z[-1]  # the all-ones mask comes last in the product
    full = np.exp(full_z - logsumexp(full_z, axis=1)[:, None])
    return {"arithmetic": arithmetic, "geometric": geometric, "full": full,
            "var_p": np.sum(p * (soft - arithmetic) ** 2, axis=0),
            "range_p": np.max(np.abs(soft - arithmetic), axis=0),
            "var_z": np.sum(p * (Zc - zc_bar) ** 2, axis=0),
            "range_z": np.max(np.abs(Zc - zc_bar), axis=0)}
