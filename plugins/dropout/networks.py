"""Softmax regression and ReLU multilayer perceptrons in NumPy, batched over the α path.

A :class:`Network` holds ``m`` networks of one architecture side by side (one per
column of a penalty batch): layer ``l`` has weights ``(m, d_l, d_{l+1})`` and
biases ``(m, d_{l+1})``. Hidden layers use ReLU. The output layer is a softmax
over ``C`` classes (classification: mean cross-entropy) or, on regression
problems, one identity unit (squared loss ``(1/2b)‖y − ŷ‖²`` over a mini-batch
of ``b`` rows, regsim's least-squares convention with the bias as the
unpenalised intercept). Softmax regression and ``linear_network`` are the
networks with no hidden layer.

Training minimises, per column, the mean loss of a mini-batch plus
Ω(w), where ``w`` is every weight matrix flattened and concatenated (biases are
unpenalised, as intercepts elsewhere in regsim) and Ω is any regsim penalty;
its ``grad`` is called once per step on the ``(P, m)`` matrix of weights.

Dropout convention (used by :mod:`regsim.plugins.dropout.ensembler`): masks are given as
``drop`` probabilities (PyTorch's ``p``); a kept unit is multiplied by
``1/keep`` (inverted dropout), so the unmasked network *is* the weight-scaling
network and the sub-network of mask μ computes from ``μ ⊙ h / keep``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

import regsim
from regsim import Dataset, Fit, Learner, Param, Penalty, SpecError, smooth_gradient_refusal

from ..blas_threads import one_blas_thread

__all__ = ["Network", "NetworkFit", "softmax", "log_softmax", "train_networks", "unique_columns"]


def softmax(Z: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``: ``exp(Z - max) / Σ exp(Z - max)``."""
    if Z.size >= _SHORT_AXIS_SIZE and Z.shape[axis] <= 16 and axis in (-1, Z.ndim - 1):
        # Many short rows (classes): NumPy's reductions over a short contiguous last axis
        # run one inner loop per row; a pass per class is several times faster, and the
        # max is exact, so the result is the same bit for bit.
        E = Z - last_axis_max(Z)[..., None]
        np.exp(E, out=E)
        E /= E.sum(axis=-1)[..., None]
        return E
    E = np.exp(Z - Z.max(axis=axis, keepdims=True))
    return E / E.sum(axis=axis, keepdims=True)


#: Arrays at least this large take the pass-per-class route of :func:`softmax`.
_SHORT_AXIS_SIZE = 4096


def last_axis_max(Z: np.ndarray) -> np.ndarray:
    """``Z.max(axis=-1)`` as one elementwise maximum per entry of the (short) last axis."""
    m = Z[..., 0].copy()
    for c in range(1, Z.shape[-1]):
        np.maximum(m, Z[..., c], out=m)
    return m


def log_softmax(Z: np.ndarray, axis: int = -1) -> np.ndarray:
    Z = Z - Z.max(axis=axis, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=axis, keepdims=True))


@dataclass
class Network:
    """``m`` ReLU networks of one architecture: ``weights[l]`` is ``(m, d_l, d_{l+1})``."""

    weights: list
    biases: list
    #: "softmax" (classification) or "identity" (regression, one output unit).
    output: str = "softmax"

    @property
    def m(self) -> int:
        return self.weights[0].shape[0]

    @property
    def sizes(self) -> list[int]:
        """Units per layer, input first: ``[d, h_1, ..., C]``."""
        return [self.weights[0].shape[1]] + [W.shape[2] for W in self.weights]

    @classmethod
    def init(cls, sizes: list[int], m: int, rng: np.random.Generator,
             output: str = "softmax") -> "Network":
        """He-normal weights for ReLU layers, Glorot-scaled output layer, zero biases.

        The same draw is used for every column, so a column's network does not
        depend on which other columns share its batch.
        """
        weights, biases = [], []
        for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            scale = np.sqrt(2.0 / a) if l < len(sizes) - 2 else np.sqrt(1.0 / a)
            W = scale * rng.standard_normal((a, b))
            weights.append(np.repeat(W[None], m, axis=0))
            biases.append(np.zeros((m, b)))
        return cls(weights, biases, output)

    def take(self, index: np.ndarray) -> "Network":
        """The columns ``index`` as a new network batch."""
        return Network([W[index] for W in self.weights], [b[index] for b in self.biases],
                       self.output)

    def flat_weights(self) -> np.ndarray:
        """Every weight (no biases) as a ``(P, m)`` matrix, the layout penalties take."""
        return np.concatenate([W.reshape(self.m, -1) for W in self.weights], axis=1).T

    def unflatten(self, G: np.ndarray) -> list:
        """Split a ``(P, m)`` matrix back into per-layer ``(m, d_l, d_{l+1})`` arrays."""
        out, start = [], 0
        for W in self.weights:
            size = W[0].size
            out.append(G[start:start + size].T.reshape(W.shape))
            start += size
        return out

    def logits(self, X: np.ndarray, masks: list | None = None, keep: list | None = None
               ) -> np.ndarray:
        """Output logits ``(m, n, C)`` for inputs ``X (n, d)``.

        ``masks[l]`` (``None`` or an array broadcasting to ``(n, d_l)``) multiplies
        the input of layer ``l`` (``l = 0``: the features), divided by ``keep[l]``.
        """
        return self.forward(X, masks, keep)[0]

    def forward(self, X, masks=None, keep=None):
        """Logits and the cache (layer inputs after masking, pre-activations) for backward."""
        L = len(self.weights)
        masks = masks or [None] * L
        keep = keep or [1.0] * L
        # X (n, d) is shared by every column; (m, n, d) is one input per column (input noise)
        H = X if X.ndim == 3 else np.broadcast_to(X, (self.m,) + X.shape)
        inputs, pre = [], []
        for l in range(L):
            if masks[l] is not None:
                H = H * (masks[l] / keep[l])
            inputs.append(H)
            Z = H @ self.weights[l] + self.biases[l][:, None, :]
            pre.append(Z)
            H = np.maximum(Z, 0.0) if l < L - 1 else Z
        return H, (inputs, pre, masks, keep)

    def backward(self, dZ: np.ndarray, cache) -> tuple[list, list]:
        """Gradients of a loss w.r.t. weights and biases given ``dZ = ∂loss/∂logits (m, n, C)``."""
        inputs, pre, masks, keep = cache
        gW, gb = [None] * len(self.weights), [None] * len(self.weights)
        for l in reversed(range(len(self.weights))):
            gW[l] = inputs[l].transpose(0, 2, 1) @ dZ
            gb[l] = dZ.sum(axis=1)
            if l == 0:
                break
            dH = dZ @ self.weights[l].transpose(0, 2, 1)
            if masks[l] is not None:
                dH = dH * (masks[l] / keep[l])
            dZ = dH * (pre[l - 1] > 0)
        return gW, gb

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, m, C)`` (softmax output) or predictions ``(n, m)``
        (identity output) of the unmasked networks: what regsim's predictions hold."""
        Z = self.logits(X)
        if self.output == "identity":
            return Z[:, :, 0].T
        return softmax(Z, axis=-1).transpose(1, 0, 2)


def squared_loss_grad(outputs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column ``(m,)`` the loss ``(1/2b)‖y − ŷ‖²`` of outputs ``(m, b, 1)``, and its gradient."""
    r = outputs[:, :, 0] - y[None, :]
    return 0.5 * np.mean(r * r, axis=1), (r / len(y))[:, :, None]


def cross_entropy_grad(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean cross-entropy per column ``(m,)`` and its gradient w.r.t. logits ``(m, n, C)``."""
    n = len(y)
    logp = log_softmax(logits)
    loss = -logp[:, np.arange(n), y].mean(axis=1)
    dZ = np.exp(logp)
    dZ[:, np.arange(n), y] -= 1.0
    return loss, dZ / n


def unique_columns(penalty: Penalty, extra: np.ndarray | None = None
                   ) -> tuple[Penalty, np.ndarray]:
    """A penalty with only the distinct columns of ``penalty``, and the column -> distinct map.

    Cells of a group that differ only in, say, an inference parameter share a
    penalty column; training it once and sharing the network saves the work.
    ``extra`` (``(m,)`` or ``(m, k)``: e.g. the input-noise σ and the drop
    probabilities per cell) is part of what makes a column distinct (see
    :func:`first_cells` for its distinct values).
    """
    if extra is not None:
        extra = np.asarray(extra, dtype=float)
        extra = extra.reshape(len(extra), -1) if extra.ndim else extra.reshape(1, 1)
    m = max(penalty.batch_size, 1 if extra is None else len(extra))
    path = [k for k, p in penalty.params.items() if p.path]
    extra = np.zeros((m, 0)) if extra is None else np.broadcast_to(extra, (m, extra.shape[1]))
    keys = [tuple(np.broadcast_to(np.asarray(penalty.values[k]), (m,))[i].item() for k in path)
            + tuple(extra[i].tolist()) for i in range(m)]
    firsts, index = {}, np.empty(m, dtype=int)
    for i, key in enumerate(keys):
        index[i] = firsts.setdefault(key, len(firsts))
    rows = np.array([keys.index(k) for k in firsts])
    values = {k: (np.broadcast_to(np.asarray(v), (m,))[rows] if k in path else v)
              for k, v in penalty.values.items()}
    return type(penalty)(**values), index


def first_cells(index: np.ndarray) -> np.ndarray:
    """For each distinct column of :func:`unique_columns`' map ``index``, its first cell."""
    return np.unique(index, return_index=True)[1]


@dataclass
class TrainingResult:
    network: Network
    status: np.ndarray
    message: list
    loss_trace: np.ndarray  # (m, n_epochs): mean training objective per epoch
    train_s: float
    examples: int  # example-gradient evaluations per column (epochs × n)
    extra: dict = field(default_factory=dict)


def train_networks(data: Dataset, sizes: list[int], penalty: Penalty, rng: np.random.Generator, *,
                   n_epochs: int, minibatch_size: int, lr: float, optimizer: str, momentum: float,
                   max_norm: float | None, drop: list[float] | None = None,
                   input_noise: np.ndarray | float = 0.0) -> TrainingResult:
    """Mini-batch SGD (momentum or Adam) on every column of ``penalty`` at once.

    ``input_noise`` (a scalar or one σ per column) adds fresh Gaussian noise
    N(0, σ²) to every input of every training example at every step (before
    any input dropout mask). The standard-normal draws come from a stream
    jumped off ``rng`` (:meth:`numpy.random.BitGenerator.jumped`), which leaves
    ``rng`` untouched, and are shared by all columns, each scaled by its σ: a
    column's result does not depend on which other σ share its batch, and a
    σ = 0 column equals training without noise.

    The mini-batch order and the dropout masks (a fresh Bernoulli mask per
    example per step, one per layer input, with ``drop[l]`` the DROP probability
    of layer ``l``'s inputs, a scalar or one per column) are drawn from ``rng``
    independently of the number of columns: one uniform number per example and
    unit, compared with each column's drop probability. A column therefore
    trains exactly as it would alone provided every column of the batch masks
    the same layers (``drop[l] > 0`` for all columns or for none), which
    :class:`regsim.plugins.dropout.ensembler.Dropout` arranges. ``max_norm`` caps the
    L2 norm of each unit's incoming weight vector after every step
    (Srivastava et al. 2014). A column whose loss goes non-finite stops and is
    reported ``diverged``.
    """
    regression = data.task == "regression"
    X = data.X_train
    y = np.asarray(data.y_train, dtype=float if regression else int)
    n = len(y)
    L = len(sizes) - 1
    drop = list(drop) if drop is not None else [0.0] * L
    m = max([penalty.batch_size, np.size(input_noise)] + [np.size(p) for p in drop])
    drop = [np.broadcast_to(np.asarray(p, dtype=float), (m,)) for p in drop]
    masked = [bool(np.any(p > 0)) for p in drop]
    # per column, shaped to scale an (m, b, d_l) layer input
    keep = [(1.0 - p)[:, None, None] for p in drop]
    sigma = np.broadcast_to(np.asarray(input_noise, dtype=float), (m,))
    noisy = bool(np.any(sigma > 0))
    noise_rng = np.random.Generator(rng.bit_generator.jumped()) if noisy else None
    net = Network.init(sizes, m, rng, output="identity" if regression else "softmax")
    params = net.weights + net.biases
    state = [np.zeros_like(p) for p in params]
    state2 = [np.zeros_like(p) for p in params]
    alive = np.ones(m, bool)
    message = [None] * m
    trace = np.full((m, n_epochs), np.nan)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    t = 0
    start = time.perf_counter()
    # A diverging column overflows inside an epoch (RuntimeWarnings that would reach the
    # user's terminal); its non-finite objective is caught at the epoch's end and the
    # column reported ``diverged``, so the floating-point warnings are silenced here.
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(n_epochs):
            order = rng.permutation(n)
            total = np.zeros(m)
            for lo in range(0, n, minibatch_size):
                idx = order[lo:lo + minibatch_size]
                # one uniform draw per example and unit, shared by the columns, each with its
                # own drop probability: a column sees the mask it would see trained alone
                masks = [(rng.random((len(idx), sizes[l]))[None] >= drop[l][:, None, None]
                          ).astype(float) if masked[l] else None for l in range(L)]
                Xb = X[idx]
                if noisy:
                    Xb = Xb + sigma[:, None, None] * noise_rng.standard_normal(Xb.shape)
                logits, cache = net.forward(Xb, masks, keep)
                loss, dZ = (squared_loss_grad if regression else cross_entropy_grad)(logits, y[idx])
                gW, gb = net.backward(dZ, cache)
                gW = [g + p for g, p in zip(gW, net.unflatten(penalty.grad(net.flat_weights())))]
                total += loss * len(idx)
                grads = gW + gb
                t += 1
                for p, g, s, s2 in zip(params, grads, state, state2):
                    if optimizer == "adam":
                        s *= beta1
                        s += (1 - beta1) * g
                        s2 *= beta2
                        s2 += (1 - beta2) * g * g
                        step = lr * (s / (1 - beta1**t)) / (np.sqrt(s2 / (1 - beta2**t)) + eps)
                    else:
                        s *= momentum
                        s += g
                        step = lr * s
                    p -= np.where(alive.reshape((m,) + (1,) * (p.ndim - 1)), step, 0.0)
                if max_norm is not None:
                    for W in net.weights:
                        norms = np.linalg.norm(W, axis=1, keepdims=True)  # per unit: incoming
                        W *= np.minimum(1.0, max_norm / np.maximum(norms, 1e-300))
            objective = total / n + penalty.value(net.flat_weights())
            trace[:, epoch] = np.where(alive, objective, np.nan)
            bad = alive & ~np.isfinite(objective)
            for i in np.flatnonzero(bad):
                message[i] = f"training objective non-finite at epoch {epoch + 1} (lr {lr:g})"
            alive &= ~bad
            if not alive.any():
                break
    status = np.where(alive, "ok", "diverged").astype(object)
    return TrainingResult(net, status, message, trace, time.perf_counter() - start,
                          n_epochs * n)


@dataclass
class NetworkFit(Fit):
    """A trained batch of networks; ``predict`` gives probabilities ``(n, m, C)``
    (classification) or predictions ``(n, m)`` (regression).

    ``index`` maps each of the ``m`` cells to a column of ``network`` (cells that
    share a penalty column share a network).
    """

    network: Network = None  # type: ignore[assignment]
    index: np.ndarray = None  # type: ignore[assignment]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.network.predict_proba(X)[:, self.index]


class _NetworkLearner(Learner):
    """Shared parameters and fitting of softmax regression, the linear network and the MLP."""

    tasks = ("classification", "regression")
    columns = {"train_loss": "float", "train_s": "float", "train_examples": "int"}
    params = {
        "n_epochs": Param(int, default=50, ge=1, doc="passes over the training set"),
        "minibatch_size": Param(int, default=32, ge=1, doc="examples per SGD step"),
        "lr": Param(float, default=0.05, gt=0, doc="learning rate"),
        "optimizer": Param(str, default="momentum", choices=("momentum", "adam"),
                           doc="SGD with (heavy-ball) momentum, or Adam"),
        "momentum": Param(float, default=0.9, ge=0, lt=1, doc="momentum coefficient (momentum)"),
        "max_norm": Param(float, default=None, gt=0, nullable=True,
                          doc="cap on each unit's incoming weight norm (null: none)"),
        "input_noise": Param(float, default=0.0, ge=0, path=True,
                             doc="standard deviation σ of Gaussian noise added to every "
                                 "training input, fresh each step (0: none)"),
    }

    @classmethod
    def accepts(cls, penalty):
        return smooth_gradient_refusal(penalty, "mini-batch SGD",
                                       "use a smooth penalty (l2, none)")

    def hidden_sizes(self) -> list[int]:
        return []

    def sizes(self, data: Dataset) -> list[int]:
        """Units per layer; the output layer has one unit on a regression problem."""
        if data.task not in self.tasks:
            raise SpecError(f"learner: {self.name!r} needs a {' or '.join(self.tasks)} problem, "
                            f"got task {data.task!r}")
        if data.task == "regression":
            return [data.n_features, *self.hidden_sizes(), 1]
        n_classes = data.n_classes or int(np.max(data.y_train)) + 1
        return [data.n_features, *self.hidden_sizes(), n_classes]

    def train(self, data: Dataset, penalty: Penalty, rng: np.random.Generator,
              drop: list[float] | None = None) -> tuple[TrainingResult, np.ndarray]:
        """Train one network per distinct column; returns them and the cell -> column map.

        ``drop[l]`` is the DROP probability of layer ``l``'s inputs, a scalar or
        one per cell. Cells are distinct by their penalty path values, input
        noise σ and drop probabilities; the group's size is the longest of those.
        """
        sizes = self.sizes(data)
        drop = list(drop) if drop is not None else [0.0] * (len(sizes) - 1)
        sigma = np.asarray(self.input_noise, dtype=float)
        m = max([penalty.batch_size, sigma.size] + [np.size(p) for p in drop])
        per_cell = np.column_stack([np.broadcast_to(np.asarray(v, dtype=float), (m,))
                                    for v in (sigma, *drop)])  # (m, 1 + L)
        distinct, index = unique_columns(penalty, per_cell)
        firsts = per_cell[first_cells(index)]
        with one_blas_thread():  # mini-batch products are small
            result = train_networks(
                data, sizes, distinct, rng, n_epochs=self.n_epochs,
                minibatch_size=self.minibatch_size, lr=self.lr, optimizer=self.optimizer,
                momentum=self.momentum, max_norm=self.max_norm,
                drop=[firsts[:, 1 + l] for l in range(len(drop))], input_noise=firsts[:, 0])
        return result, index

    def fit(self, data, penalty, rng):
        result, index = self.train(data, penalty, rng)
        return NetworkFit(m=len(index), network=result.network, index=index,
                          status=result.status[index],
                          message=[result.message[i] for i in index],
                          columns=training_columns(result, index))


def training_columns(result: TrainingResult, index: np.ndarray) -> dict:
    """Result columns describing training, per cell."""
    m = len(index)
    return {"train_loss": result.loss_trace[index, -1],
            "train_s": np.full(m, result.train_s / result.network.m),
            "train_examples": np.full(m, result.examples)}


class SoftmaxRegression(_NetworkLearner):
    """Multinomial logistic regression ``p(y|x) = softmax(x W + b)`` by mini-batch SGD."""

    name = "softmax_regression"
    tasks = ("classification",)
    params = dict(_NetworkLearner.params)


class LinearNetwork(_NetworkLearner):
    """Least squares ``ŷ = x w + b`` trained as a network with no hidden layer (identity
    output, squared loss ``(1/2n)‖y − Xw − b‖²``, bias unpenalised) by mini-batch SGD:
    the linear model that dropout, Gaussian input noise and bagging train like an MLP.
    Its exact counterpart is ``least_squares``."""

    name = "linear_network"
    tasks = ("regression",)
    params = dict(_NetworkLearner.params)


class MLP(_NetworkLearner):
    """A multilayer perceptron with ReLU hidden layers by mini-batch SGD: a softmax output
    with cross-entropy (classification) or one identity output with squared loss (regression)."""

    name = "mlp"
    params = {
        "hidden": Param(list, default=[16], item=Param(int, ge=1), min_len=1,
                        doc="units per hidden layer, e.g. [16] or [32, 32]"),
        **_NetworkLearner.params,
    }

    def __init__(self, **values):
        super().__init__(**values)
        if not self.hidden or any(h != int(h) or h < 1 for h in self.hidden):
            raise SpecError(f"learner.hidden: must be a non-empty list of positive integers, "
                            f"got {self.hidden!r}")

    def hidden_sizes(self):
        return [int(h) for h in self.hidden]


@regsim.hookimpl
def register_learners(register):
    register(SoftmaxRegression)
    register(LinearNetwork)
    register(MLP)
