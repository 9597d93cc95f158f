"""Benchmark: training the networks of a 50-cell dropout sweep, regsim against plain PyTorch.

Workload: the sweep of :data:`SPEC`: scikit-learn's digits (1,348 training
images of 64 pixels in [0, 1], 449 test images, 10 classes; a new random split
per seed), an MLP 64-64-10 with ReLU, 10 epochs of momentum SGD (lr 0.05,
momentum 0.9, mini-batches of 32, the last one short), L2 α = 1e-4, input
dropout 0.2 and ten hidden-layer DROP probabilities 0.05..0.5 (PyTorch's
``p``; keep = 1 − drop), times 5 seeds: 50 cells, 50 networks.

* **ours**: what ``regsim sweep`` does with these cells. The runner puts the
  ten drop probabilities of one seed in one fit group (``drop_hidden`` is a
  path parameter; seeds are never batched: each seed has its own problem
  instance), so the sweep makes 5 fits of the ``dropout`` ensembler, each
  training its ten networks side by side in one batched computation. The
  benchmark makes those 5 fits through the public registry
  (``regsim.get_registry()``) with the runner's generators
  (``regsim.runner.rngs_for``), and checks once, untimed, that they give
  every cell's ``accuracy`` and ``train_loss`` exactly as
  ``regsim.runner.run_cells`` does on the sweep's cells
  (``ours_vs_run_cells.same_answers``).
* **peer**: a plain PyTorch CPU loop (``dropout_torch_peer.py``) training the
  same 50 networks one at a time: ``nn.Sequential(Dropout(0.2), Linear, ReLU,
  Dropout(p), Linear)``, ``CrossEntropyLoss``, ``torch.optim.SGD`` with the
  same momentum and learning rate (``fused=True``: ~10% faster per step than
  the default here, so the peer at its best), the same mini-batch size and epochs, the
  same data (passed in an ``.npz`` file), ``weight_decay = α`` on the weight
  matrices only: regsim's L2 is Ω(w) = (α/2)‖w‖² over the weights, biases
  unpenalised, so its gradient αw is exactly PyTorch's weight decay on those
  parameters; PyTorch's momentum buffer (``buf = μ·buf + g``, ``w -= lr·buf``,
  no dampening) is regsim's heavy-ball update. Weights are initialised with
  regsim's scales (He normal for the hidden layer, variance 1/fan-in for the
  output layer, zero biases). Timed in float32 (PyTorch's default) and in
  float64 (regsim's dtype); the speed-up is against the faster of the two.

One thread on both sides: ``torch.set_num_threads(1)`` and one inter-op
thread in the peer (plus ``OMP/MKL/OPENBLAS_NUM_THREADS=1`` in its
environment), BLAS limited to one thread (threadpoolctl) for ours. Times are
of training only (model construction, initialisation and the epochs; not
data generation, torch's import or the peer's virtualenv), best of
``repeats`` runs of each side, interleaved (ours, torch float32, torch
float64, ours, ...).

The two sides cannot agree bit for bit: the initial weights, the mini-batch
orders and the dropout masks come from different random streams (NumPy's
PCG64 drawn in regsim's order, PyTorch's Mersenne Twister in its), and
PyTorch's float32 rounds differently again. They solve the same problem, so
their test accuracies (full network, i.e. weight scaling, mean over the 50
networks) must be close: ``similar_accuracy`` is true when each peer dtype's
mean is within :data:`ACCURACY_TOLERANCE` (3 percentage points) of ours;
``run.py`` fails the run otherwise.

PyTorch is a peer only, never a regsim dependency: the benchmark creates its
own virtualenv under ``benchmarks/results/torch-peer-venv`` (gitignored;
reused when it already holds the pinned version) and runs
``pip install torch==2.13.0 numpy`` there. The version is pinned because a
range lets pip pick a multi-GB CUDA build; on a machine whose pip does not
find a CPU wheel by itself, point it at one through pip's environment, e.g.
``PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu``. When the install
fails (no network, no wheel for this Python), ``main()`` returns
``{"skipped": "<reason>"}`` and ``run.py`` lists the row as skipped, not
failed.

Run ``python benchmarks/bench_dropout_torch.py`` (or
``python benchmarks/run.py dropout_torch``); ``main()`` returns the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import regsim
from regsim.runner import group_cells, rngs_for, run_cells
from timing import best_time

HERE = Path(__file__).resolve().parent
PEER = HERE / "dropout_torch_peer.py"
PEER_VENV = HERE / "results" / "torch-peer-venv"
#: Pinned: an unpinned or ranged ``torch`` can resolve to a multi-GB CUDA build.
TORCH_VERSION = "2.13.0"
ACCURACY_TOLERANCE = 0.03
DROP_HIDDEN = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]
SPEC = {
    "name": "dropout_torch",
    "seeds": 5,
    "problem": {"plugin": "digits"},
    "learner": {"plugin": "mlp", "hidden": [64], "n_epochs": 10, "minibatch_size": 32,
                "lr": 0.05, "optimizer": "momentum", "momentum": 0.9},
    "penalty": {"plugin": "l2", "alpha": 1e-4},
    "ensembler": {"plugin": "dropout", "drop_input": 0.2, "drop_hidden": DROP_HIDDEN},
    "inference": {"plugin": "weight_scaling"},
    "metrics": ["accuracy"],
}


# ---------------------------------------------------------------- ours

def _component(reg, slot: str, kind: str, cells):
    """The component of ``slot`` with its path parameters as ``(m,)`` arrays, as the runner
    builds it for a fit group."""
    first = cells[0].components[slot]
    cls = reg.get(kind, first["plugin"])
    return cls(**{k: (np.array([c.components[slot][k] for c in cells]) if p.path else first[k])
                  for k, p in cls.params.items()})


def _setup(reg):
    """The sweep's fit groups and, per fit group, its problem instance and components."""
    cells = regsim.load_spec(SPEC, reg).cells
    groups = group_cells(cells)
    prepared = []
    for cells_of_fit in groups:
        seed = cells_of_fit[0].seed
        problem = _component(reg, "problem", "problem", cells_of_fit)
        data = regsim.check_dataset(problem.generate(rngs_for(seed)["problem"]), "digits")
        prepared.append((seed, data, _component(reg, "learner", "learner", cells_of_fit),
                         _component(reg, "penalty", "penalty", cells_of_fit),
                         _component(reg, "ensembler", "ensembler", cells_of_fit)))
    return cells, groups, prepared


def ours(prepared):
    """One ``dropout`` fit per fit group (per seed), as the runner makes them."""
    with threadpool_limits(limits=1, user_api="blas"):
        return [ensembler.fit(data, learner, penalty, rngs_for(seed)["ensembler"])
                for seed, data, learner, penalty, ensembler in prepared]


def _accuracies(reg, prepared, fits) -> np.ndarray:
    """Test accuracy of every network (the full network: weight scaling), as the metric has it."""
    strategy = reg.get("inference", "weight_scaling")()
    return np.concatenate([np.mean(strategy.predict(fit, data.X_test).argmax(axis=2)
                                   == data.y_test[:, None], axis=0)
                           for (_, data, *_), fit in zip(prepared, fits)])


def _same_as_run_cells(reg, cells, groups, prepared, fits) -> bool:
    """Whether the timed fits give each cell the accuracy and training loss of ``run_cells``."""
    rows = {row["cell_id"]: row for row in run_cells(cells, sweep="bench", run_id="bench",
                                                     registry=reg)}
    accuracy = _accuracies(reg, prepared, fits)
    loss = np.concatenate([fit.columns["train_loss"] for fit in fits])
    order = [cell.cell_id for group in groups for cell in group]
    return all(rows[c]["status"] == "ok" and rows[c]["accuracy"] == accuracy[i]
               and rows[c]["train_loss"] == loss[i] for i, c in enumerate(order))


# ---------------------------------------------------------------- the PyTorch peer

def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _torch_version(python: Path) -> str | None:
    if not python.exists():
        return None
    out = subprocess.run([str(python), "-c", "import torch, numpy; print(torch.__version__)"],
                         capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    # pip's first error names the requirement; later ones point to its documentation
    return (errors[:1] or lines[-1:] or ["no output"])[0][:300]


def peer_python(venv: Path = PEER_VENV, version: str = TORCH_VERSION
                ) -> tuple[Path | None, dict]:
    """The Python of the peer's virtualenv, created and given torch if needed, and how.

    Returns ``(None, {"skipped": reason})`` when torch cannot be installed.
    """
    python = _venv_python(venv)
    installed = _torch_version(python)
    if installed is not None and installed.split("+")[0] == version:
        return python, {"peer_venv": "reused"}
    start = time.perf_counter()
    steps = [([sys.executable, "-m", "venv", "--clear", str(venv)], "python -m venv"),
             ([str(python), "-m", "pip", "install", "--quiet", f"torch=={version}", "numpy"],
              f"pip install torch=={version}")]
    for command, what in steps:
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, {"skipped": f"{what} failed: {type(exc).__name__}: {exc}"}
        if out.returncode != 0:
            return None, {"skipped": f"{what} failed: {_one_line(out.stderr or out.stdout)}"}
    if _torch_version(python) is None:
        return None, {"skipped": f"torch=={version} installed but does not import"}
    return python, {"peer_venv": "created", "peer_venv_s": time.perf_counter() - start}


class Peer:
    """The peer process: torch imported once, one training run per request."""

    def __init__(self, python: Path, data_path: Path):
        env = {**os.environ, **{k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                 "OPENBLAS_NUM_THREADS")}}
        self.proc = subprocess.Popen([str(python), str(PEER), str(data_path)], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._reply()["ready"]

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the PyTorch peer exited (code {self.proc.wait()}); "
                               "its traceback is above")
        return json.loads(line)

    def run(self, dtype: str) -> dict:
        self.proc.stdin.write(f"run {dtype}\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def _write_data(path: Path, prepared) -> None:
    learner = prepared[0][2]
    config = {"seeds": [seed for seed, *_ in prepared], "hidden": int(learner.hidden[0]),
              "classes": 10, "n_epochs": learner.n_epochs,
              "minibatch_size": learner.minibatch_size, "lr": learner.lr,
              "momentum": learner.momentum, "alpha": SPEC["penalty"]["alpha"],
              "drop_input": SPEC["ensembler"]["drop_input"], "drop_hidden": DROP_HIDDEN}
    arrays = {}
    for s, (_, data, *_) in enumerate(prepared):
        arrays.update({f"X_train_{s}": data.X_train, f"y_train_{s}": data.y_train.astype(np.int64),
                       f"X_test_{s}": data.X_test, f"y_test_{s}": data.y_test.astype(np.int64)})
    np.savez(path, config=np.array(json.dumps(config)), **arrays)


# ---------------------------------------------------------------- the row

def main(repeats: int = 3, venv: Path = PEER_VENV, torch_version: str = TORCH_VERSION):
    python, setup = peer_python(venv, torch_version)
    if python is None:
        print(f"dropout_torch: skipped: {setup['skipped']}")
        return setup
    reg = regsim.get_registry()
    cells, groups, prepared = _setup(reg)
    n_networks = sum(len(g) for g in groups)
    times = {"ours": np.inf, "float32": np.inf, "float64": np.inf}
    accuracy = {}
    with tempfile.TemporaryDirectory() as tmp:
        _write_data(Path(tmp) / "data.npz", prepared)
        peer = Peer(python, Path(tmp) / "data.npz")
        try:
            for _ in range(repeats):
                t, fits = best_time(lambda: ours(prepared), 1)
                times["ours"] = min(times["ours"], t)
                for dtype in ("float32", "float64"):
                    out = peer.run(dtype)
                    times[dtype] = min(times[dtype], out["train_s"])
                    accuracy[dtype] = float(np.mean(out["accuracy"]))
                    fused = out["fused_sgd"]
        finally:
            peer.close()
    accuracy["ours"] = float(np.mean(_accuracies(reg, prepared, fits)))
    fastest = min(("float32", "float64"), key=times.get)
    row = {
        "networks": n_networks, "fits": len(groups), "threads": 1,
        "ours_s": times["ours"], "torch_s": times[fastest], "torch_dtype": fastest,
        "torch_float32_s": times["float32"], "torch_float64_s": times["float64"],
        "speedup": times[fastest] / times["ours"],
        "speedup_vs_float64": times["float64"] / times["ours"],
        "ours_accuracy": accuracy["ours"], "torch_float32_accuracy": accuracy["float32"],
        "torch_float64_accuracy": accuracy["float64"],
        "similar_accuracy": bool(all(abs(accuracy[d] - accuracy["ours"]) <= ACCURACY_TOLERANCE
                                     for d in ("float32", "float64"))),
        "torch": peer.info["torch"], "torch_threads": peer.info["threads"],
        "torch_interop_threads": peer.info["interop_threads"], "torch_fused_sgd": fused,
        **setup,
    }
    result = {"dropout_sweep_50_networks": row,
              "ours_vs_run_cells": {"same_answers": _same_as_run_cells(reg, cells, groups,
                                                                       prepared, fits)}}
    print(result)
    return result


if __name__ == "__main__":
    main()
