"""Dropout inference and training against independent oracles: per-mask loops, closed forms,
1/√m, a hand-written SGD step. Drop probabilities differ from 0.5 so drop and keep differ."""

import itertools

import numpy as np
import pytest

import regsim
from regsim.plugins.dropout.exact import exact_means


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _ensemble(learner_name, drop_input, drop_hidden=0.7, *, n_features=16, n_classes=10,
              n_test=40, seed=0, **learner_params):
    """A dropout ensemble trained briefly on softmax_classification data, and its data."""
    reg = regsim.get_registry()
    data = reg.get("problem", "softmax_classification")(
        n_train=200, n_test=n_test, n_features=n_features, n_classes=n_classes,
        scale=1.0).generate(np.random.default_rng(seed))
    learner = reg.get("learner", learner_name)(n_epochs=5, **learner_params)
    penalty = reg.get("penalty", "l2")(alpha=np.array([1e-3]))
    ensembler = reg.get("ensembler", "dropout")(drop_input=drop_input, drop_hidden=drop_hidden)
    return ensembler.fit(data, learner, penalty, np.random.default_rng(seed + 1)), data


def _strategy(name, **params):
    return regsim.get_registry().get("inference", name)(**params)


def _naive_mask_loop(Ws, bs, X, drop, output=_softmax):
    """Σ_μ p(μ) f(z_μ(x)), one Python iteration per mask (the oracle)."""
    sizes = [W.shape[0] for W in Ws]
    layers = [l for l, s in enumerate(sizes) if drop[l] > 0]
    bounds = np.cumsum([0] + [sizes[l] for l in layers])
    keep = [1 - p for p in drop]
    total = 0.0
    for bits in itertools.product((0.0, 1.0), repeat=int(bounds[-1])):
        mu = np.array(bits)
        masks = [None] * len(sizes)
        prob = 1.0
        for j, l in enumerate(layers):
            masks[l] = mu[bounds[j]:bounds[j + 1]]
            kept = masks[l].sum()
            prob *= keep[l] ** kept * drop[l] ** (sizes[l] - kept)
        H = X
        for l, (W, b) in enumerate(zip(Ws, bs)):
            if masks[l] is not None:
                H = H * (masks[l] / keep[l])
            H = H @ W + b
            if l < len(Ws) - 1:
                H = np.maximum(H, 0.0)
        total = total + prob * output(H)
    return total


@pytest.fixture(scope="module", params=[0.7, 0.2], ids=["drop0.7", "drop0.2"])
def softmax16(request):
    return _ensemble("softmax_regression", request.param)


def test_softmax_regression_exact_means(softmax16):
    """16 droppable inputs, 10 classes: exact_geometric == weight_scaling (1e-12);
    exact_arithmetic sums to 1, equals a per-mask loop (1e-12), differs from weight scaling."""
    ens, data = softmax16
    X = data.X_test
    ws = _strategy("weight_scaling").predict(ens, X)
    geo = _strategy("exact_geometric").predict(ens, X)
    ari = _strategy("exact_arithmetic").predict(ens, X)
    assert ws.shape == geo.shape == ari.shape == (40, 1, 10)
    np.testing.assert_allclose(geo, ws, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ari.sum(axis=2), 1.0, rtol=0, atol=1e-12)
    Ws, bs = ens.column(0)
    naive = _naive_mask_loop(Ws, bs, X[:10], ens.drop)  # 2^16 iterations: a few points
    np.testing.assert_allclose(ari[:10, 0], naive, rtol=0, atol=1e-12)
    assert np.abs(ari - ws).max() > 1e-3


def test_identity_output_arithmetic_mean_is_weight_scaling(softmax16):
    """With a linear output, the mean over masks of x·(μ⊙W)/keep + b is x·W + b
    (weight scaling, one forward pass): to 1e-10."""
    ens, data = softmax16
    Ws, bs = ens.column(0)
    X = data.X_test
    full = X @ Ws[0] + bs[0]
    mean = exact_means(Ws, bs, X, ens.drop, output="identity")["arithmetic"]
    np.testing.assert_allclose(mean, full, rtol=0, atol=1e-10)
    assert np.abs(full).max() > 1.0  # logits of a trained model, not zeros


def test_mc_arithmetic_converges_as_one_over_sqrt_m():
    ens, data = _ensemble("softmax_regression", 0.7, n_test=100)
    X = data.X_test
    exact = _strategy("exact_arithmetic").predict(ens, X)[:, 0]
    ms = np.array([10, 30, 100, 300, 1000])
    ens.index = np.zeros(len(ms), dtype=int)  # five cells sharing the one network
    ens.m = len(ms)
    mc = _strategy("mc_arithmetic", n_masks=ms).predict(ens, X)
    rms = np.sqrt(((mc - exact[:, None]) ** 2).mean(axis=(0, 2)))
    slope = np.polyfit(np.log(ms), np.log(rms), 1)[0]
    assert -0.7 < slope < -0.3, (rms, slope)
    assert rms[-1] < rms[0] / 5
    # the geometric estimate converges to the exact geometric mean (= weight scaling here)
    geo = _strategy("mc_geometric", n_masks=np.array([1000] * 5)).predict(ens, X)
    ws = _strategy("weight_scaling").predict(ens, X)
    assert np.abs(geo - ws).max() < 0.05


def test_mlp_exact_means_and_weight_scaling_gap():
    """One hidden layer of 10 units, 3 inputs, both droppable (13 units): the factorised
    enumeration equals a per-mask loop (1e-12) and weight scaling has a non-zero gap."""
    ens, data = _ensemble("mlp", 0.2, 0.7, n_features=3, n_classes=3, hidden=[10])
    X = data.X_test[:15]
    Ws, bs = ens.column(0)
    out = exact_means(Ws, bs, X, ens.drop)
    np.testing.assert_allclose(out["arithmetic"], _naive_mask_loop(Ws, bs, X, ens.drop),
                               rtol=0, atol=1e-12)
    naive_geo = _softmax(_naive_mask_loop(Ws, bs, X, ens.drop, output=lambda z: z))
    np.testing.assert_allclose(out["geometric"], naive_geo, rtol=0, atol=1e-12)
    ws = _strategy("weight_scaling").predict(ens, X)[:, 0]
    gap = np.abs(ws - out["geometric"]).max()
    assert gap > 1e-4, gap
    # the metric reports the same gap
    from regsim import Evaluation

    reg = regsim.get_registry()
    data.X_test = X
    ev = Evaluation(data, None, None, ens, ensemble=ens, inference=_strategy("weight_scaling"))
    cols = reg.get("metric", "dropout_gap")().compute(ev)
    assert cols["geom_max_abs_dp"][0] == pytest.approx(gap, rel=1e-12)
    assert 0 < cols["arith_kl"][0] and 0 <= cols["arith_argmax_agreement"][0] <= 1


@pytest.mark.parametrize("drop", [[0.0, 0.7], [0.3, 0.0]])
def test_mlp_enumeration_with_one_layer_fixed(drop):
    """Only hidden units, or only inputs, droppable: still equal to the per-mask loop."""
    ens, data = _ensemble("mlp", drop[0], drop[1], n_features=5, n_classes=3, hidden=[7])
    Ws, bs = ens.column(0)
    X = data.X_test[:10]
    out = exact_means(Ws, bs, X, ens.drop)
    np.testing.assert_allclose(out["arithmetic"], _naive_mask_loop(Ws, bs, X, ens.drop),
                               rtol=0, atol=1e-12)


def test_too_many_units_is_a_clear_error():
    ens, data = _ensemble("softmax_regression", 0.7, n_features=30)
    with pytest.raises(ValueError, match=r"k=30 droppable units.*max_units=20"):
        _strategy("exact_arithmetic").predict(ens, data.X_test)
    with pytest.raises(regsim.SpecError, match="max_units"):
        _strategy("exact_geometric", max_units=27)  # 2^26 masks is the documented limit
    assert _strategy("exact_geometric", max_units=26).max_units == 26


def test_training_masks_are_deterministic_and_matter():
    a, _ = _ensemble("mlp", 0.2, 0.7, n_features=6, n_classes=3, hidden=[8])
    b, _ = _ensemble("mlp", 0.2, 0.7, n_features=6, n_classes=3, hidden=[8])
    c, _ = _ensemble("mlp", 0.0, 0.0, n_features=6, n_classes=3, hidden=[8])
    for Wa, Wb, Wc in zip(a.network.weights, b.network.weights, c.network.weights):
        np.testing.assert_array_equal(Wa, Wb)
        assert np.abs(Wa - Wc).max() > 1e-3
    assert a.mask_seed == b.mask_seed


def test_spec_rejects_incompatible_pairs():
    base = {"name": "x", "problem": {"plugin": "softmax_classification"},
            "penalty": {"plugin": "l2"}}
    with pytest.raises(regsim.SpecError, match="cannot build on learner 'least_squares'"):
        regsim.load_spec({**base, "learner": {"plugin": "least_squares"},
                          "ensembler": {"plugin": "dropout"},
                          "inference": {"plugin": "weight_scaling"}})
    with pytest.raises(regsim.SpecError, match="drop_input: must be < 1"):
        regsim.load_spec({**base, "learner": {"plugin": "mlp"},
                          "ensembler": {"plugin": "dropout", "drop_input": 1.0},
                          "inference": {"plugin": "weight_scaling"}})


@pytest.mark.parametrize("drop_input,drop_hidden", [(0.2, 0.7), (0.7, 0.2), (0.0, 0.7)])
def test_one_dropout_training_step_equals_a_hand_computed_step(drop_input, drop_hidden):
    """Dropout.fit with one full-batch SGD step (no momentum, no penalty) against the
    same step written here example by example: the masks and initial weights drawn
    from the generator in train_networks' documented order (initial network,
    permutation, then one mask per layer input), kept units scaled by 1/keep in the
    forward and the backward pass, the mean cross-entropy's gradient. To 1e-12."""
    from regsim.plugins.dropout.networks import Network

    reg = regsim.get_registry()
    data = reg.get("problem", "softmax_classification")(
        n_train=12, n_test=5, n_features=4, n_classes=3, scale=1.0).generate(
        np.random.default_rng(0))
    lr = 0.5
    learner = reg.get("learner", "mlp")(hidden=[5], n_epochs=1, minibatch_size=12, lr=lr,
                                        momentum=0.0)
    ens = reg.get("ensembler", "dropout")(drop_input=drop_input, drop_hidden=drop_hidden).fit(
        data, learner, reg.get("penalty", "none")(), np.random.default_rng(42))

    rng = np.random.default_rng(42)
    init = Network.init([4, 5, 3], 1, rng)
    (W0, W1), (b0, b1) = [W[0].copy() for W in init.weights], [b[0].copy() for b in init.biases]
    order = rng.permutation(12)
    # kept with probability 1 - drop; a layer with drop 0 draws no mask
    m0 = rng.random((12, 4)) >= drop_input if drop_input > 0 else np.ones((12, 4), bool)
    m1 = rng.random((12, 5)) >= drop_hidden
    k0, k1 = 1 - drop_input, 1 - drop_hidden
    g = [np.zeros_like(W0), np.zeros_like(b0), np.zeros_like(W1), np.zeros_like(b1)]
    for r, i in enumerate(order):
        x, y = data.X_train[i], data.y_train[i]
        h0 = x * m0[r] / k0
        a1 = h0 @ W0 + b0
        h1 = np.maximum(a1, 0) * m1[r] / k1
        z = h1 @ W1 + b1
        p = np.exp(z - z.max())
        p /= p.sum()
        dz = (p - np.eye(3)[y]) / 12
        da1 = (W1 @ dz) * m1[r] / k1 * (a1 > 0)
        for acc, val in zip(g, (np.outer(h0, da1), da1, np.outer(h1, dz), dz)):
            acc += val
    want = [W0 - lr * g[0], b0 - lr * g[1], W1 - lr * g[2], b1 - lr * g[3]]
    got = [ens.network.weights[0][0], ens.network.biases[0][0],
           ens.network.weights[1][0], ens.network.biases[1][0]]
    for w, v in zip(got, want):
        np.testing.assert_allclose(w, v, rtol=0, atol=1e-12)
    # the step moved every layer, and the masks dropped something in each
    assert min(np.abs(v - w0).max() for v, w0 in zip(want, (W0, b0, W1, b1))) > 1e-4
    assert (~m0).any() == (drop_input > 0) and (~m1).any()
    assert list(ens.columns["droppable_units"]) == [(4 if drop_input > 0 else 0) + 5]
