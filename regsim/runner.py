"""Run cells: generate each problem instance once, fit the whole hyper-parameter
path of a group in one batched computation, evaluate metrics, build rows.

Cells that differ only in *path* parameters (penalty strengths, ensemble sizes)
form a group and share one problem instance and one fit. Groups that differ
only in their inference strategy form a *fit group* (``Cell.fit_group``): the
problem instance and the ensemble are built once for the fit group, over its
distinct fit configurations, and every strategy's group reads them (through
``Fit.take``), so a network is trained once and its exact ensembles are
enumerated once whatever the strategies and metrics. Randomness comes from
``numpy.random.SeedSequence(cell seed)`` with fixed spawn keys per role, so a
cell's numbers never depend on chunking, ordering or the number of workers.
"""

from __future__ import annotations

import ctypes
import math
import threading
import time
import traceback
from collections import defaultdict
from typing import Any, Iterable

import numpy as np

from .components import Evaluation, Fit
from .input_checks import DataError, check_dataset
from .params import SpecError
from .registry import Registry, get_registry
from .spec import FIT_SLOTS, SLOTS, Cell, canonical_json

__all__ = ["run_cells", "group_cells", "rngs_for", "Outcome", "STATUSES", "DONE_STATUSES",
           "CellTimeout", "time_budget", "theory_where"]

STATUSES = ("ok", "error", "diverged", "not_converged")
#: Statuses that are final: a resumed sweep skips these cells. ``error`` (which
#: includes a cell over its time budget) and ``not_converged`` (the learner
#: stopped above its optimality tolerance; a rerun with more iterations or a
#: looser ``tol`` may succeed) are never final: they are run again.
DONE_STATUSES = ("ok", "diverged")
#: Statuses whose rows keep the learner's own columns (``optimality``, ``n_iter``,
#: ``duality_gap``...): a ``not_converged`` row says how far from optimal it stopped.
_FIT_COLUMN_STATUSES = ("ok", "not_converged")

# SeedSequence spawn keys per role: the problem instance, then the learner and
# ensembler. Changing these changes every published number.
_PROBLEM_KEY, _LEARNER_KEY, _ENSEMBLER_KEY = 0, 1, 2


class Outcome:
    """Counts of statuses over rows, for progress and summaries."""

    def __init__(self):
        self.counts = {s: 0 for s in STATUSES}

    def add(self, rows: Iterable[dict]) -> "Outcome":
        for row in rows:
            self.counts[row["status"]] = self.counts.get(row["status"], 0) + 1
        return self


def rngs_for(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators for each role of a cell, derived from its seed."""
    return {
        role: np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key,)))
        for role, key in (("problem", _PROBLEM_KEY), ("learner", _LEARNER_KEY),
                          ("ensembler", _ENSEMBLER_KEY))
    }


def group_cells(cells: Iterable[Cell], key: str = "fit_group") -> list[list[Cell]]:
    """Cells grouped by fit group (``Cell.fit_group``), in first-seen order.

    Each fit group's cells are listed group by group (``Cell.group``, in
    first-seen order), so a fit group is a run of whole groups. Whoever splits
    cells into tasks keeps each returned list together: the fit is shared only
    inside one call of :func:`run_cells`. ``key="group"`` groups by batched
    group only.
    """
    fit_groups: dict[str, dict[str, list[Cell]]] = defaultdict(lambda: defaultdict(list))
    for cell in cells:
        fit_groups[getattr(cell, key)][cell.group].append(cell)
    return [[c for group in groups.values() for c in group] for groups in fit_groups.values()]


def _split_groups(cells: list[Cell]) -> list[list[Cell]]:
    groups: dict[str, list[Cell]] = defaultdict(list)
    for cell in cells:
        groups[cell.group].append(cell)
    return list(groups.values())


#: What a cell may raise and still be stored as an error row: any exception, and
#: ``SystemExit`` from plugin code calling ``sys.exit`` (it must not end a worker
#: or the sweep). ``KeyboardInterrupt`` still stops the sweep.
CELL_EXCEPTIONS = (Exception, SystemExit)


class CellTimeout(Exception):
    """A cell (or its batched group) ran longer than its time budget."""


class time_budget:
    """Interrupt the calling thread with :class:`CellTimeout` after ``seconds``.

    A watchdog timer raises the exception asynchronously in the thread that
    entered the block (``PyThreadState_SetAsyncExc``), so it works on every
    task runner (threads, process pool, Dask workers), not only in a main
    thread as ``signal.alarm`` would. Python code is interrupted at its next
    bytecode; a single long call into C (one big LAPACK call) is interrupted
    when it returns. A block that finishes late without being interrupted also
    raises, so the budget is a guarantee on what gets recorded as ``ok``.
    ``seconds=None`` disables the budget.
    """

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._fired = self._done = False

    def _fire(self) -> None:
        with self._lock:
            if not self._done:
                self._fired = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._tid),
                                                           ctypes.py_object(CellTimeout))

    def __enter__(self) -> "time_budget":
        self._start = time.perf_counter()
        if self.seconds is not None:
            self._tid = threading.get_ident()
            self._timer = threading.Timer(self.seconds, self._fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.seconds is None:
            return False
        with self._lock:
            self._done = True
            self._timer.cancel()
            if self._fired:  # clear an exception set but not yet delivered
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._tid), None)
        elapsed = time.perf_counter() - self._start
        if self._fired or elapsed > self.seconds:
            raise CellTimeout(f"exceeded its time budget of {self.seconds:g} s "
                              f"(stopped after {elapsed:.2f} s)") from None
        return False


def run_cells(cells: Iterable[Cell], *, sweep: str, run_id: str,
              registry: Registry | None = None,
              time_budget_s: float | None = None,
              share_fits: bool = True) -> list[dict[str, Any]]:
    """Run ``cells`` and return one row (a dict of columns) per cell.

    A group that raises is retried cell by cell, so one bad cell is stored with
    ``status="error"`` and its message while its neighbours still succeed.
    Groups of one fit group (``Cell.fit_group``: the same problem instance,
    learner, penalty and ensembler, different inference strategies) share one
    fit; a group whose evaluation on the shared fit raises is run again on its
    own, as above.

    ``time_budget_s`` is the budget per cell: a batched group of ``m`` cells
    (one shared computation) gets ``m * time_budget_s`` seconds, a fit group
    of ``m`` cells likewise. A group over its budget is not retried cell by
    cell (that would cost ``m`` times the budget); each of its cells is stored
    with ``status="error"`` and a message starting ``CellTimeout:``.

    ``share_fits=False`` fits every group on its own (the behaviour before fit
    groups; the benchmark's reference, and the same numbers).
    """
    registry = registry or get_registry()
    rows = []
    for fit_group in group_cells(cells, "fit_group" if share_fits else "group"):
        groups = _split_groups(fit_group)
        if len(groups) == 1:
            budget = None if time_budget_s is None else time_budget_s * len(fit_group)
            results = _run_group_or_cells(fit_group, registry, budget)
        else:
            results = _run_fit_group(groups, registry, time_budget_s)
        for cell, row in zip(fit_group, results):
            try:
                registry.hook.cell_finished(cell=cell.as_dict(), row=row)
            except CELL_EXCEPTIONS as exc:  # a hook's failure is this cell's, not the chunk's
                row = _error_row(cell, exc)
                row["error"] = f"cell_finished hook: {row['error']}"
            row["sweep"], row["run_id"] = sweep, run_id
            rows.append(row)
    return rows


def _run_group_or_cells(group: list[Cell], registry: Registry,
                        budget: float | None = None) -> list[dict]:
    try:
        with time_budget(budget):
            return _run_group(group, registry)
    except CellTimeout as exc:
        return [_error_row(cell, exc) for cell in group]
    except CELL_EXCEPTIONS as exc:
        if len(group) == 1 or isinstance(exc, DataError):  # the data are the group's
            return [_error_row(cell, exc) for cell in group]
    rows = []
    per_cell = None if budget is None else budget / len(group)
    for cell in group:
        try:
            with time_budget(per_cell):
                rows.extend(_run_group([cell], registry))
        except CELL_EXCEPTIONS as exc:
            rows.append(_error_row(cell, exc))
    return rows


def _fit_key(cell: Cell) -> str:
    """The cell's fit configuration: its fit slots with path parameters (canonical text)."""
    return canonical_json({slot: cell.components[slot] for slot in FIT_SLOTS})


def _run_fit_group(groups: list[list[Cell]], registry: Registry,
                   time_budget_s: float | None) -> list[dict]:
    """Rows of the groups of one fit group, in order: one fit, every group evaluated on it.

    The fit covers the fit group's distinct fit configurations (first seen
    first); a group whose cells are exactly those, in that order, reads the fit
    as it is (the fit it would have made alone: same components, same
    generators); a group whose cells repeat them (a strategy's own path
    parameter, e.g. ``n_masks``) reads ``fit.take(index)``. A group that cannot
    share (another set or order of fit configurations, a fit without ``take``,
    or its evaluation raised) runs on its own as before; so does every group
    when the shared fit itself raises.
    """
    n_cells = sum(len(g) for g in groups)
    budget = None if time_budget_s is None else time_budget_s * n_cells
    results: list[list[dict] | None] = [None] * len(groups)
    try:
        with time_budget(budget):
            start = time.perf_counter()
            first: dict[str, Cell] = {}  # fit configuration -> its first cell
            keys = [[_fit_key(c) for c in group] for group in groups]
            for group, group_keys in zip(groups, keys):
                for cell, key in zip(group, group_keys):
                    first.setdefault(key, cell)
            position = {key: i for i, key in enumerate(first)}
            shared = _fit(list(first.values()), registry)
            fit_s = (time.perf_counter() - start) / n_cells
            for i, (group, group_keys) in enumerate(zip(groups, keys)):
                index = np.array([position[key] for key in group_keys])
                fit = shared.fit
                if not np.array_equal(index, np.arange(fit.m)):
                    if type(fit).take is Fit.take or not _first_seen_in_order(index, fit.m):
                        continue  # this fit cannot be shared: the group fits on its own
                    fit = fit.take(index)
                try:
                    results[i] = _evaluate(group, registry, shared, fit, fit_s)
                except CellTimeout:
                    raise
                except CELL_EXCEPTIONS:
                    continue  # run on its own below, where a bad cell is found
    except CellTimeout as exc:
        return [_error_row(cell, exc) for group in groups for cell in group]
    except CELL_EXCEPTIONS as exc:
        if isinstance(exc, DataError):  # the data are the fit group's
            return [_error_row(cell, exc) for group in groups for cell in group]
    rows = []
    for group, done in zip(groups, results):
        if done is None:
            done = _run_group_or_cells(
                group, registry, None if time_budget_s is None else time_budget_s * len(group))
        rows.extend(done)
    return rows


def _first_seen_in_order(index: np.ndarray, m: int) -> bool:
    """Whether ``index`` meets every column ``0..m-1``, each first met in that order.

    Then the group, fitted alone, would have fitted the same distinct columns in
    the same order (plus repeats, which the ensemblers fit once): the only
    groups that read a shared fit through ``take``.
    """
    _, first = np.unique(index, return_index=True)
    return len(first) == m and np.array_equal(index[np.sort(first)], np.arange(m))


def _build(registry: Registry, slot: str, group: list[Cell]):
    """The component of ``slot`` with path parameters as ``(m,)`` arrays."""
    first = group[0].components[slot]
    if first is None:
        return None
    cls = registry.get(SLOTS[slot], first["plugin"])
    values = {}
    for key, param in cls.params.items():
        if param.path:
            values[key] = np.array([c.components[slot][key] for c in group])
        else:
            values[key] = first[key]
    return cls(**values)


class _SharedFit:
    """What the cells of a fit group share: the problem instance and the fit."""

    def __init__(self, data, learner, penalty, ensembler, fit):
        self.data, self.learner, self.penalty = data, learner, penalty
        self.ensembler, self.fit = ensembler, fit


def _fit(cells: list[Cell], registry: Registry) -> _SharedFit:
    """Generate the problem instance of ``cells`` and fit one column per cell."""
    rng = rngs_for(cells[0].seed)
    problem = _build(registry, "problem", cells)
    learner = _build(registry, "learner", cells)
    penalty = _build(registry, "penalty", cells)
    ensembler = _build(registry, "ensembler", cells)
    data = check_dataset(problem.generate(rng["problem"]), f"problem {problem.name!r}")
    if ensembler is not None:
        fit = ensembler.fit(data, learner, penalty, rng["ensembler"])
    else:
        fit = learner.fit(data, penalty, rng["learner"])
    if fit.m != len(cells):
        raise RuntimeError(f"{type(fit).__name__} has {fit.m} columns for {len(cells)} cells")
    return _SharedFit(data, learner, penalty, ensembler, fit)


def _run_group(group: list[Cell], registry: Registry) -> list[dict]:
    start = time.perf_counter()
    shared = _fit(group, registry)
    fit_s = (time.perf_counter() - start) / len(group)
    return _evaluate(group, registry, shared, shared.fit, fit_s)


def _evaluate(group: list[Cell], registry: Registry, shared: _SharedFit, fit: Fit,
              fit_s: float) -> list[dict]:
    """Rows of ``group`` from ``fit`` (one column per cell): inference, metrics, statuses.

    ``fit_s`` is the fit's time per cell; ``wall_s`` adds the group's own time.
    """
    start = time.perf_counter()
    cell0 = group[0]
    inference = _build(registry, "inference", group)
    data, learner, penalty = shared.data, shared.learner, shared.penalty
    if fit is not shared.fit:  # a view of the shared fit: the group's own path arrays
        learner = _build(registry, "learner", group)
        penalty = _build(registry, "penalty", group)
    if fit.m != len(group):
        raise RuntimeError(f"{type(fit).__name__} has {fit.m} columns for {len(group)} cells")
    ev = Evaluation(data, learner, penalty, fit, ensemble=fit if shared.ensembler else None,
                    inference=inference)
    status = np.array(fit.status, dtype=object)
    message = list(fit.message)
    finite = _finite_columns(ev.test_prediction, len(group))
    for i in np.flatnonzero(~finite & (status == "ok")):
        status[i], message[i] = "diverged", "non-finite test predictions"

    columns: dict[str, Any] = {}
    holds: dict[str, list[bool]] = {}  # theory columns: does each cell meet the declaration?
    wheres = [theory_where(cell, data.task) for cell in group]
    for name in cell0.metrics:
        metric = registry.get("metric", name)()
        out = metric.compute(ev)
        for col in metric.columns:
            columns[col] = out.get(col)
            holds[col] = [metric.holds(col, where) for where in wheres]
    columns.update(fit.columns)

    wall = fit_s + (time.perf_counter() - start) / len(group)
    rows = []
    for i, cell in enumerate(group):
        row = _identity(cell)
        ok = status[i] == "ok"
        fit_ok = status[i] in _FIT_COLUMN_STATUSES
        for col, values in columns.items():
            keep = ok or (fit_ok and col in fit.columns)
            if col in holds and not holds[col][i]:  # its theory does not hold in this cell
                keep = False
            row[col] = _cell_value(values, i) if keep else None
        row.update(status=status[i], error=message[i], wall_s=wall)
        rows.append(row)
    return rows


def _finite_columns(pred: np.ndarray, m: int) -> np.ndarray:
    pred = np.asarray(pred, dtype=float)
    pred = np.moveaxis(pred, 1, 0).reshape(m, -1)
    return np.isfinite(pred).all(axis=1)


def _cell_value(values: Any, i: int) -> Any:
    if values is None:
        return None
    v = values[i]
    if isinstance(v, np.ndarray):
        return v.astype(float).tolist()
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def theory_where(cell: Cell, task: str | None) -> dict[str, Any]:
    """What a theory's declared conditions are checked against for ``cell``:
    slot -> plugin name (``None`` for an empty slot), ``"<slot>.<param>"`` ->
    value, and ``"task"`` (see :func:`regsim.components.conditions_hold`)."""
    where = {k: v for k, v in _identity(cell).items() if k not in ("cell_id", "group_id", "seed")}
    where["task"] = task
    return where


def _identity(cell: Cell) -> dict[str, Any]:
    row: dict[str, Any] = {"cell_id": cell.cell_id, "group_id": cell.group, "seed": cell.seed}
    for slot, comp in cell.components.items():
        row[slot] = None if comp is None else comp["plugin"]
    for slot, comp in cell.components.items():
        for key, value in (comp or {}).items():
            if key != "plugin":
                row[f"{slot}.{key}"] = value
    return row


def _error_row(cell: Cell, exc: BaseException) -> dict[str, Any]:
    row = _identity(cell)
    if isinstance(exc, CellTimeout):
        row.update(status="error", error=f"CellTimeout: {exc}", wall_s=0.0)
        return row
    if isinstance(exc, (DataError, SpecError)):  # a message for the user, not a code location
        row.update(status="error", error=f"{type(exc).__name__}: {exc}", wall_s=0.0)
        return row
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    if isinstance(exc, SystemExit):
        exc = RuntimeError(f"plugin code called sys.exit({exc.code!r})")
    at = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno} in {where.name})" if where else ""
    row.update(status="error", error=f"{type(exc).__name__}: {exc}{at}", wall_s=0.0)
    return row
