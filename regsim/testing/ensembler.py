"""Checks of ensemblers: an ensemble of the declared kind with m columns, the member
protocol (``member_predictions``, ``member_mask``), determinism under a seed.
"""

from __future__ import annotations

import numpy as np

from ..components import Component, Ensemble, Fit, Penalty
from .base import (
    CheckSkipped,
    KitL2,
    MEMBER_KIND,
    _Context,
    _KIT_ALPHAS,
    _column,
    _data_for,
    _distributions,
    _learner_for,
    _same_arrays,
    _shape,
    example_values,
)
from .learner import _check_fit, _untimed


# --------------------------------------------------------------------------- ensembler


def _ensembler_setup(cls, ctx: _Context, tasks: tuple[str, ...] | None = None):
    ens = cls(**example_values(cls, ctx.params))
    supported = getattr(cls, "tasks", ("regression", "classification"))
    candidates = tuple(t for t in (tasks or supported) if t in supported) or supported
    m = ens.batch_size
    pen = ctx.penalty or KitL2(alpha=_KIT_ALPHAS if m == 1 else np.geomspace(0.01, 0.5, m))
    reasons = []
    for task in candidates:  # the first task with a learner this ensembler accepts
        data = _data_for((task,))
        try:
            return ens, data, _learner_for(data.task, pen, ctx, ensembler=cls), pen
        except CheckSkipped as exc:
            reasons.append(str(exc))
    raise CheckSkipped("; ".join(reasons))


def _ensemble_batch(ens: Component, pen: Penalty) -> int:
    return max(ens.batch_size, pen.batch_size)


def check_ensembler_fit(cls, ctx: _Context) -> None:
    """An Ensemble of kind ``produces`` with m columns and declared extra columns."""
    if not cls.produces:
        raise AssertionError("`produces` (the ensemble kind) is not set")
    ens, data, learner, pen = _ensembler_setup(cls, ctx)
    out = ens.fit(data, learner, pen, np.random.default_rng(0))
    if not isinstance(out, Ensemble):
        raise AssertionError(f"fit returned {type(out).__name__}, expected a regsim.Ensemble")
    if out.kind != cls.produces:
        raise AssertionError(f"ensemble kind {out.kind!r} differs from produces={cls.produces!r}")
    _check_fit(out, _ensemble_batch(ens, pen), cls.columns, "fit")


def check_ensembler_member_protocol(cls, ctx: _Context) -> None:
    """An ensemble that lists members implements ``member_predictions`` and ``member_mask`` with
    consistent shapes: ``(n, K, m[, C])`` (probabilities summing to 1) and ``(K, m)`` bool, every
    column with at least one member. Skipped for kinds without members (dropout)."""
    ens, data, learner, pen = _ensembler_setup(cls, ctx)
    out = ens.fit(data, learner, pen, np.random.default_rng(0))
    kind = type(out)
    overrides = [getattr(kind, f, None) is not getattr(Ensemble, f)
                 for f in ("member_predictions", "member_mask")]
    if not any(overrides):
        if out.kind == MEMBER_KIND:
            raise AssertionError(f"ensembles of kind {MEMBER_KIND!r} must implement "
                                 f"member_predictions(X) and member_mask() (regsim.Ensemble)")
        raise CheckSkipped(f"{out.kind!r} ensembles do not list members")
    if not all(overrides):
        raise AssertionError("implements only one of member_predictions(X) and member_mask()")
    mask = np.asarray(out.member_mask())
    if mask.ndim != 2 or mask.shape[1] != out.m or mask.dtype != bool:
        raise AssertionError(f"member_mask(): {mask.dtype} array of shape {mask.shape}, expected "
                             f"bool (K, {out.m})")
    if not mask.any(axis=0).all():
        raise AssertionError("member_mask(): a column has no member")
    n, K = data.X_test.shape[0], mask.shape[0]
    tail = (data.n_classes,) if data.task == "classification" else ()
    P = _shape("member_predictions(X_test)", out.member_predictions(data.X_test),
               (n, K, out.m) + tail)
    _distributions(P, data.task)


def check_ensembler_deterministic(cls, ctx: _Context) -> None:
    """The same rng seed builds the same ensemble."""
    ens, data, learner, pen = _ensembler_setup(cls, ctx)
    a = ens.fit(data, learner, pen, np.random.default_rng(3))
    b = cls(**example_values(cls, ctx.params)).fit(data, learner, pen, np.random.default_rng(3))
    a.columns, b.columns = _untimed(a.columns), _untimed(b.columns)
    _same_arrays(a, b, "ensemble")


def check_ensembler_take(cls, ctx: _Context) -> None:
    """An ensemble that implements ``take(index)`` gives columns ``index`` of itself: their
    status, messages and columns, and from every installed strategy that accepts its kind
    exactly the predictions of those columns (the runner shares one fit between strategies
    through it). Skipped when ``take`` is not implemented."""
    ens, data, learner, pen = _ensembler_setup(cls, ctx)
    out = ens.fit(data, learner, pen, np.random.default_rng(0))
    if type(out).take is Fit.take:
        raise CheckSkipped(f"{type(out).__name__} does not implement take(index)")
    index = np.array([out.m - 1, 0, out.m - 1])
    taken = out.take(index)
    if not isinstance(taken, type(out)) or taken.m != len(index):
        raise AssertionError(f"take({index.tolist()}): {type(taken).__name__} with m="
                             f"{getattr(taken, 'm', None)}, expected {type(out).__name__} with "
                             f"m={len(index)}")
    if list(taken.status) != [out.status[i] for i in index] or \
            list(taken.message) != [out.message[i] for i in index]:
        raise AssertionError(f"take({index.tolist()}): status or message not those of the columns")
    _same_arrays(_untimed(taken.columns), {k: np.asarray(v)[index] for k, v in
                                           _untimed(out.columns).items()}, "take().columns")
    for name in ctx.registry.names("inference"):
        strategy_cls = ctx.registry.get("inference", name)
        if out.kind not in strategy_cls.accepts or data.task not in strategy_cls.tasks:
            continue
        strategy = strategy_cls(**_column(example_values(strategy_cls), strategy_cls, 0))
        whole = np.asarray(strategy.predict(out, data.X_test))
        part = np.asarray(strategy.predict(taken, data.X_test))
        if not np.array_equal(part, whole[:, index]):
            raise AssertionError(f"take({index.tolist()}): {name} predicts other values than for "
                                 f"those columns of the ensemble")
