"""The PyTorch side of ``bench_dropout_torch.py``: plain PyTorch training, one network at a time.

Run by the benchmark with the Python of its own virtualenv (torch is never a
regsim dependency): ``python dropout_torch_peer.py DATA.npz``. It imports
torch, loads the problem instances and the configuration from ``DATA.npz``,
prints one JSON line ``{"ready": ...}``, then answers each line ``run DTYPE``
(``float32`` or ``float64``) on stdin with one JSON line: the training time
of every network and each one's test accuracy. ``quit`` (or end of input)
ends it. Staying alive between runs keeps torch's import out of the timings
and lets the benchmark interleave its runs with regsim's.

Each network: ``nn.Sequential(Dropout(drop_input), Linear, ReLU,
Dropout(drop_hidden), Linear)``, weights normal with regsim's scales (He for
the hidden layer, 1/fan_in variance for the output layer), zero biases;
``CrossEntropyLoss`` (mean over the mini-batch); ``torch.optim.SGD`` with
momentum (``fused=True``, its fastest CPU implementation, where the installed
torch has it) and ``weight_decay = alpha`` on the weight matrices only (regsim's
L2 is (α/2)‖w‖² over weights, biases unpenalised, so its gradient αw is
exactly PyTorch's weight decay); a fresh ``randperm`` per epoch, mini-batches
by slicing it, the last one short.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
from torch import nn


def network(d: int, hidden: int, classes: int, drop_input: float, drop_hidden: float,
            dtype) -> nn.Sequential:
    net = nn.Sequential(nn.Dropout(drop_input), nn.Linear(d, hidden), nn.ReLU(),
                        nn.Dropout(drop_hidden), nn.Linear(hidden, classes)).to(dtype)
    with torch.no_grad():
        for layer, std in ((net[1], (2.0 / d) ** 0.5), (net[4], (1.0 / hidden) ** 0.5)):
            layer.weight.normal_(0.0, std)
            layer.bias.zero_()
    return net


def train(net: nn.Sequential, X: torch.Tensor, y: torch.Tensor, cfg: dict) -> bool:
    """Train ``net`` in place; whether the fused SGD kernel ran."""
    weights = [net[1].weight, net[4].weight]
    biases = [net[1].bias, net[4].bias]
    groups = [{"params": weights, "weight_decay": cfg["alpha"]},
              {"params": biases, "weight_decay": 0.0}]
    try:  # the fused CPU kernel: ~10% faster per step here than the default for-loop
        opt = torch.optim.SGD(groups, lr=cfg["lr"], momentum=cfg["momentum"], fused=True)
    except (RuntimeError, TypeError, ValueError):
        opt = torch.optim.SGD(groups, lr=cfg["lr"], momentum=cfg["momentum"])
    loss_fn = nn.CrossEntropyLoss()
    n, b = len(y), cfg["minibatch_size"]
    net.train()
    for _ in range(cfg["n_epochs"]):
        order = torch.randperm(n)
        for lo in range(0, n, b):
            idx = order[lo:lo + b]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(X[idx]), y[idx]).backward()
            opt.step()
    return bool(opt.defaults.get("fused"))


def run(data: dict, cfg: dict, dtype) -> dict:
    """Train every network (seed by seed, drop by drop); training time and test accuracies."""
    train_s, accuracy, fused = 0.0, [], None
    for s, seed in enumerate(cfg["seeds"]):
        X, y = data[f"X_train_{s}"].to(dtype), data[f"y_train_{s}"]
        X_test, y_test = data[f"X_test_{s}"].to(dtype), data[f"y_test_{s}"]
        for j, drop in enumerate(cfg["drop_hidden"]):
            torch.manual_seed(1000 * seed + j)
            t0 = time.perf_counter()
            net = network(X.shape[1], cfg["hidden"], cfg["classes"], cfg["drop_input"], drop,
                          dtype)
            fused = train(net, X, y, cfg)
            train_s += time.perf_counter() - t0
            net.eval()
            with torch.no_grad():
                accuracy.append(float((net(X_test).argmax(1) == y_test).double().mean()))
    return {"train_s": train_s, "accuracy": accuracy, "fused_sgd": fused}


def main(path: str) -> None:
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    with np.load(path) as npz:
        cfg = json.loads(str(npz["config"]))
        data = {k: torch.from_numpy(npz[k]) for k in npz.files if k != "config"}
    print(json.dumps({"ready": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                                "interop_threads": torch.get_num_interop_threads()}}),
          flush=True)
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        dtype = {"float32": torch.float32, "float64": torch.float64}[command[1]]
        print(json.dumps(run(data, cfg, dtype)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
