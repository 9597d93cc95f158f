"""All five dropout inference strategies against a brute-force enumeration of the masks.

The oracle (:func:`dropout_oracle.brute_force`) is written from the definitions alone: a
plain Python loop over every mask of the droppable units, ``log p(μ)`` summed
per unit, each sub-network's logits max-subtracted and log-sum-exp'd, and the
arithmetic mean formed as ``exp(logsumexp_μ(log p(μ) + log softmax z_μ))``.

Tolerances
----------
* exact_arithmetic, exact_geometric: 1e-12 absolute on every probability.
* weight_scaling: 1e-12 against the exact geometric mean where that is an
  identity (softmax regression, any drop), and against the full network (the
  only mask) at drop 0.
* mc_arithmetic, mc_geometric (``N`` masks): Bernstein's inequality per entry
  at confidence 1 − δ, δ = 1e-6, using the exact variance σ² and range R of
  the per-mask quantity over the masks (both from the enumeration):
  ``|mean_N − mean| <= sqrt(2 σ² ln(2/δ) / N) + 2 R ln(2/δ) / (3 N)``, plus 1e-12.
  For mc_arithmetic the quantity is each sub-network's probability; for
  mc_geometric it is each sub-network's class-centred logit, and the bound on
  the probabilities follows because softmax is 1-Lipschitz in the 2-norm; where
  no probability underflows, the centred log-probabilities are compared with
  the centred mean logits directly against the per-class bound.
  At drop 0 σ = R = 0: Monte Carlo must then equal the full network to 1e-12.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regsim
from dropout_oracle import brute_force
from regsim.plugins.dropout.ensembler import DropoutEnsemble
from regsim.plugins.dropout.exact import exact_means
from regsim.plugins.dropout.networks import Network

DROPS = [0.0, 1e-6, 0.2, 0.5, 0.9, 0.999]
#: (learner, layer sizes, which layers' inputs are masked)
ARCHITECTURES = {
    "softmax-inputs": ([5, 3], "input"),
    "mlp-inputs": ([3, 5, 3], "input"),
    "mlp-hidden": ([3, 5, 3], "hidden"),
    "mlp-both": ([3, 5, 3], "both"),
}
N_MASKS = 2000
DELTA = 1e-6
EXACT_ATOL = 1e-12


def _drops(sizes, which, p):
    L = len(sizes) - 1
    return [p if (l == 0 and which in ("input", "both")) or (l > 0 and which in ("hidden", "both"))
            else 0.0 for l in range(L)]


def _network(sizes, seed):
    """Random weights whose full-network logits spread over a few nats; non-zero biases."""
    rng = np.random.default_rng(seed)
    Ws = [rng.normal(0, 1.5 / np.sqrt(a), (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(0, 0.5, b) for b in sizes[1:]]
    return Ws, bs, rng.normal(0, 1, (4, sizes[0]))


def _ensemble(Ws, bs, drop, seed=7):
    net = Network([W[None].copy() for W in Ws], [b[None].copy() for b in bs])
    return DropoutEnsemble(m=1, network=net, index=np.array([0]), drop=list(drop),
                           mask_seed=seed)


def bernstein(var, rng_, n):
    """Half-width of Bernstein's bound on the mean of ``n`` draws at confidence 1 − DELTA."""
    log_term = np.log(2 / DELTA)
    return np.sqrt(2 * var * log_term / n) + 2 * rng_ * log_term / (3 * n)


def _predict(name, ens, X, **params):
    strategy = regsim.get_registry().get("inference", name)(**params)
    return strategy.predict(ens, X)[:, 0]


@pytest.mark.parametrize("drop", DROPS, ids=lambda p: f"drop{p:g}")
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_every_strategy_agrees_with_brute_force(arch, drop):
    sizes, which = ARCHITECTURES[arch]
    Ws, bs, X = _network(sizes, seed=len(arch) * 31 + int(drop * 1e6) % 97)
    drops = _drops(sizes, which, drop)
    oracle = brute_force(Ws, bs, X, drops)
    ens = _ensemble(Ws, bs, drops)

    for name, mean in (("exact_arithmetic", "arithmetic"), ("exact_geometric", "geometric")):
        P = _predict(name, ens, X)
        assert np.all(np.isfinite(P)), (name, P)
        np.testing.assert_allclose(P, oracle[mean], rtol=0, atol=EXACT_ATOL, err_msg=name)

    ws = _predict("weight_scaling", ens, X)
    if len(sizes) == 2:  # softmax regression: weight scaling IS the normalised geometric mean
        np.testing.assert_allclose(ws, oracle["geometric"], rtol=0, atol=EXACT_ATOL)
    if drop == 0:
        np.testing.assert_allclose(ws, oracle["full"], rtol=0, atol=EXACT_ATOL)

    mc_a = _predict("mc_arithmetic", ens, X, n_masks=N_MASKS)
    tol_a = bernstein(oracle["var_p"], oracle["range_p"], N_MASKS) + EXACT_ATOL
    assert np.all(np.abs(mc_a - oracle["arithmetic"]) <= tol_a), (
        np.abs(mc_a - oracle["arithmetic"]), tol_a)
    np.testing.assert_allclose(mc_a.sum(axis=1), 1.0, rtol=0, atol=1e-12)

    mc_g = _predict("mc_geometric", ens, X, n_masks=N_MASKS)
    tol_z = bernstein(oracle["var_z"], oracle["range_z"], N_MASKS)  # per class, centred logits
    tol_g = np.sqrt(np.sum(tol_z ** 2, axis=1, keepdims=True)) + EXACT_ATOL  # softmax 1-Lipschitz
    assert np.all(np.abs(mc_g - oracle["geometric"]) <= tol_g), (
        np.abs(mc_g - oracle["geometric"]), tol_g)
    np.testing.assert_allclose(mc_g.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    # Sharper where no probability underflowed: the centred log-probabilities ARE the
    # centred mean logits the estimator averages (1e-10: log of probabilities near 1).
    assert np.all(mc_g > 0)
    err_z = np.abs(_centred_log(mc_g) - _centred_log(oracle["geometric"]))
    assert np.all(err_z <= tol_z + 1e-10), (err_z, tol_z)

    if which == "hidden" or len(sizes) == 2:
        # Only the last layer's inputs masked: the logits are linear in the mask, so
        # the p(μ)-weighted mean logit is the full network's: weight scaling is exact.
        np.testing.assert_allclose(ws, oracle["geometric"], rtol=0, atol=EXACT_ATOL)


def _centred_log(P):
    logP = np.log(P)
    return logP - logP.mean(axis=1, keepdims=True)


@pytest.mark.parametrize("drop", [0.2, 0.7])
@pytest.mark.parametrize("arch", ["softmax-inputs", "mlp-inputs", "mlp-both"])
def test_monte_carlo_tolerance_tells_drop_from_keep(arch, drop):
    """The Monte Carlo bounds above are tight enough to fail an implementation that
    used the keep probability as the drop probability: the oracle at ``drop`` and at
    ``1 - drop`` differ by more than the tolerance somewhere. (The geometric mean
    depends on the drop only through a non-linearity after a masked layer: inputs
    of an MLP; with only the last layer's inputs masked it is the full network.)"""
    sizes, which = ARCHITECTURES[arch]
    Ws, bs, X = _network(sizes, seed=3)
    right = brute_force(Ws, bs, X, _drops(sizes, which, drop))
    swapped = brute_force(Ws, bs, X, _drops(sizes, which, 1 - drop))
    tol = bernstein(right["var_p"], right["range_p"], N_MASKS)
    assert np.max(np.abs(right["arithmetic"] - swapped["arithmetic"]) - tol) > 0
    if which == "input" and len(sizes) > 2:
        tol_z = bernstein(right["var_z"], right["range_z"], N_MASKS)
        gap = np.abs(_centred_log(right["geometric"]) - _centred_log(swapped["geometric"]))
        assert np.max(gap - tol_z) > 0


@settings(max_examples=40, deadline=None)
@given(drop_in=st.sampled_from([0.0, 1e-9, 0.05, 0.3, 0.6, 0.95, 0.9999]),
       drop_hidden=st.sampled_from([0.0, 1e-9, 0.3, 0.8, 0.999]),
       hidden=st.integers(1, 5), d=st.integers(1, 4), C=st.integers(2, 4),
       scale=st.sampled_from([0.1, 1.0, 10.0, 100.0]), seed=st.integers(0, 2**16))
def test_exact_means_property(drop_in, drop_hidden, hidden, d, C, scale, seed):
    """Random tiny MLPs, logit scales from 0.1 to 100 and drops up to 0.9999: both exact
    means equal the brute-force loop to 1e-12 relative to the largest probability (1)."""
    rng = np.random.default_rng(seed)
    sizes = [d, hidden, C]
    Ws = [scale * rng.standard_normal((a, b)) / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.standard_normal(b) for b in sizes[1:]]
    X = rng.standard_normal((3, d))
    drop = [drop_in, drop_hidden]
    out = exact_means(Ws, bs, X, drop)
    oracle = brute_force(Ws, bs, X, drop)
    for key in ("arithmetic", "geometric"):
        np.testing.assert_allclose(out[key], oracle[key], rtol=0, atol=EXACT_ATOL, err_msg=key)


# The instances reported in issue 10 §3, through the real ensembler.

def _trained(drop_input, n_features=6, n_classes=3, seed=0):
    reg = regsim.get_registry()
    data = reg.get("problem", "softmax_classification")(
        n_train=200, n_test=30, n_features=n_features, n_classes=n_classes,
        scale=1.0).generate(np.random.default_rng(seed))
    learner = reg.get("learner", "softmax_regression")(n_epochs=5)
    penalty = reg.get("penalty", "l2")(alpha=np.array([1e-3]))
    ens = reg.get("ensembler", "dropout")(drop_input=drop_input).fit(
        data, learner, penalty, np.random.default_rng(seed + 1))
    return ens, data


@pytest.mark.parametrize("name", ["mc_arithmetic", "mc_geometric"])
def test_monte_carlo_without_masks_is_the_full_network(name):
    """Issue 10 §3: drop_input 0, softmax regression (6 inputs, 3 classes), 50 masks.
    Every sub-network is the full network, so both Monte Carlo means equal weight
    scaling to 1e-12 (they summed to 1/50, or were softmax(logits/50))."""
    ens, data = _trained(0.0)
    ws = _predict("weight_scaling", ens, data.X_test)
    mc = _predict(name, ens, data.X_test, n_masks=50)
    np.testing.assert_allclose(mc, ws, rtol=0, atol=1e-12)
    y = data.y_test
    from sklearn.metrics import log_loss

    assert log_loss(y, mc, labels=[0, 1, 2]) == pytest.approx(log_loss(y, ws, labels=[0, 1, 2]),
                                                              rel=1e-12)


def test_exact_arithmetic_at_drop_0999_is_finite_and_right():
    """Issue 10 §3: exact_arithmetic at drop 0.999 (inverted scale 1000) was NaN for most
    test points; it equals the brute-force enumeration to 1e-12."""
    ens, data = _trained(0.999)
    X = data.X_test[:8]
    P = _predict("exact_arithmetic", ens, X)
    Ws, bs = ens.column(0)
    oracle = brute_force(Ws, bs, X, ens.drop)
    assert np.all(np.isfinite(P))
    np.testing.assert_allclose(P, oracle["arithmetic"], rtol=0, atol=EXACT_ATOL)
