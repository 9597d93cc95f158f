"""A non-linear classification problem: labels drawn from a random teacher MLP."""

from __future__ import annotations

import numpy as np

import regsim
from regsim import Dataset, Param, Problem, SpecError


class TeacherMLP(Problem):
    """Labels from a random ReLU teacher network, for studying non-linear student nets.

    Features are standard normal ``(n, d)``. The teacher has hidden layers of
    ``teacher_hidden`` units with He-normal weights and standard-normal biases
    times 0.1, and an output layer whose logits are normalised to unit standard
    deviation over a reference sample and multiplied by ``scale`` (larger:
    more deterministic labels). Labels are drawn from ``softmax(logits)``.
    ``Dataset.w_true`` is ``None``; ``info`` holds the teacher's sizes and the
    Bayes accuracy of the test rows (mean of the true class probability's max).
    """

    name = "teacher_mlp"
    task = "classification"
    params = {
        "n_train": Param(int, default=500, ge=2, doc="training rows"),
        "n_test": Param(int, default=1000, ge=1, doc="test rows"),
        "n_features": Param(int, default=10, ge=1, doc="number of features d"),
        "n_classes": Param(int, default=4, ge=2, doc="number of classes C"),
        "teacher_hidden": Param(list, default=[32], item=Param(int, ge=1), min_len=1,
                                doc="units per hidden layer of the teacher"),
        "scale": Param(float, default=3.0, gt=0, doc="logit scale (label determinism)"),
    }

    def generate(self, rng: np.random.Generator) -> Dataset:
        hidden = [int(h) for h in self.teacher_hidden]
        if any(h < 1 for h in hidden) or hidden != list(self.teacher_hidden):
            raise SpecError(f"problem.teacher_hidden: must be a list of positive integers, "
                            f"got {self.teacher_hidden!r}")
        sizes = [self.n_features, *hidden, self.n_classes]
        layers = []
        for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            W = rng.standard_normal((a, b)) * np.sqrt(2.0 / a)
            bias = 0.1 * rng.standard_normal(b) if l < len(sizes) - 2 else np.zeros(b)
            layers.append((W, bias))

        def logits(X):
            H = X
            for l, (W, bias) in enumerate(layers):
                H = H @ W + bias
                if l < len(layers) - 1:
                    H = np.maximum(H, 0.0)
            return H

        ref = logits(rng.standard_normal((2000, self.n_features)))
        norm = self.scale / max(float(ref.std()), 1e-12)

        def draw(n):
            X = rng.standard_normal((n, self.n_features))
            Z = logits(X) * norm
            p = np.exp(Z - Z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            y = (p.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
            return X, np.minimum(y, self.n_classes - 1), p

        X, y, _ = draw(self.n_train)
        X_test, y_test, p_test = draw(self.n_test)
        return Dataset(X, y, X_test, y_test, task="classification", n_classes=self.n_classes,
                       info={"teacher_sizes": sizes,
                             "bayes_accuracy": float(p_test.max(axis=1).mean())})


@regsim.hookimpl
def register_problems(register):
    register(TeacherMLP)
