"""Conformance checks for plugin authors (scikit-learn's ``check_estimator``, ``benchopt test``).

Call one entry per component kind from your own tests::

    from regsim.testing import check_component
    from my_plugin import ElasticNet

    def test_conformance():
        check_component(ElasticNet)          # raises AssertionError listing every failure

or run each check as its own pytest test::

    from regsim.testing import parametrize_checks

    @parametrize_checks([ElasticNet])
    def test_kit(component, check):
        check(component)

Every check builds its inputs from the component's declared ``params``: the
defaults, or ``example_params`` (a class attribute, a dict of valid values)
for parameters without a default, or ``params=`` passed to the check.
Path parameters get ``m = 3`` distinct valid values, so a batched result can
be compared with ``m`` single-value calls. Learners, ensemblers, inference
strategies and metrics need collaborators: the kit brings its own small
reference components (a ridge learner, L1 and L2 penalties, a known member
ensemble) and otherwise looks in the installed plugins (``registry=`` to
use another registry). A component exempts checks with reasons in a class
attribute ``kit_skip = {"check_name": "why"}``, honoured by every route.

What is checked
---------------
all kinds
    the schema rejects bad values with a :class:`~regsim.SpecError` naming the
    key; instances pickle (process and Dask runners rebuild them).
penalty
    shapes; ``grad`` matches central finite differences of ``value`` (away
    from kinks); ``prox`` attains the minimum of ``Ω(W) + ||W - V||²/(2 step)``
    found by a brute-force minimiser, for steps 0.01 .. 100 (:data:`PROX_STEPS`),
    and is non-expansive; a ``(d, m)`` batch equals ``m`` single-α calls, for
    ``value``, ``grad``, ``prox`` and ``theory``; ``theory`` has shape ``(d, m)``.
problem
    the same seed gives the same data; shapes and ``task`` are consistent.
learner
    a fit has ``m`` columns, predictions ``(n, m)`` or ``(n, m, C)``, declared
    extra columns; the batch equals per-column fits; the same seed, the same fit.
ensembler
    an ensemble of the declared kind with ``m`` columns; ensembles that list
    members implement the member protocol with consistent shapes;
    deterministic under a seed; ``take(index)``, where implemented, gives
    those columns and their predictions under every accepting strategy.
inference
    on a real ensemble from an installed ensembler and, for strategies that
    accept ``"bagging"``, on the kit's :func:`known_ensemble`: predictions of
    shape ``(n, m)`` or ``(n, m, C)``, probabilities non-negative and summing to
    one, deterministic; members outside ``member_mask()`` change nothing;
    identical members give their own prediction; regression predictions lie
    within the members' range.
metric
    declared column types; outputs only declared columns, each of length ``m``.
"""

from __future__ import annotations

from typing import Callable, Iterable

from ..components import Learner, Penalty
from .base import (
    CheckResult,
    CheckSkipped,
    MEMBER_KIND,
    _Context,
    _kind,
    check_pickle_roundtrip,
    check_schema_rejects_bad_values,
    example_values,
)
from .penalty import (
    PROX_STEPS,
    check_penalty_batched_equals_per_column,
    check_penalty_grad_finite_differences,
    check_penalty_prox_nonexpansive,
    check_penalty_prox_optimality,
    check_penalty_shapes,
    check_penalty_theory_shape,
)
from .problem import check_problem_deterministic, check_problem_shapes
from .learner import (
    check_learner_batched_equals_per_column,
    check_learner_deterministic,
    check_learner_fit,
)
from .ensembler import (
    check_ensembler_deterministic,
    check_ensembler_fit,
    check_ensembler_member_protocol,
    check_ensembler_take,
)
from .inference import (
    KnownEnsemble,
    check_inference_known_ensemble,
    check_inference_member_mask,
    check_inference_predict,
    check_inference_unanimous_members,
    check_inference_within_members,
    known_ensemble,
)
from .metric import check_metric_columns
from .plot import check_plot_declares

__all__ = [
    "CheckResult",
    "check_component",
    "check_penalty",
    "check_problem",
    "check_learner",
    "check_ensembler",
    "check_inference",
    "check_metric",
    "check_plot",
    "component_checks",
    "run_checks",
    "parametrize_checks",
    "example_values",
    "known_ensemble",
    "KnownEnsemble",
    "MEMBER_KIND",
    "kit_skip_reason",
    "installed_registry",
    "PROX_STEPS",
]


# --------------------------------------------------------------------------- registry of checks

_SHARED = (check_schema_rejects_bad_values, check_pickle_roundtrip)

CHECKS: dict[str, tuple[Callable, ...]] = {
    "penalty": _SHARED + (check_penalty_shapes, check_penalty_grad_finite_differences,
                          check_penalty_prox_optimality, check_penalty_prox_nonexpansive,
                          check_penalty_batched_equals_per_column, check_penalty_theory_shape),
    "problem": _SHARED + (check_problem_shapes, check_problem_deterministic),
    "learner": _SHARED + (check_learner_fit, check_learner_batched_equals_per_column,
                          check_learner_deterministic),
    "ensembler": _SHARED + (check_ensembler_fit, check_ensembler_member_protocol,
                            check_ensembler_deterministic, check_ensembler_take),
    "inference": _SHARED + (check_inference_predict, check_inference_known_ensemble,
                            check_inference_member_mask, check_inference_unanimous_members,
                            check_inference_within_members),
    "metric": _SHARED + (check_metric_columns,),
    "plot": (check_plot_declares,),
}


def _check_name(fn: Callable) -> str:
    return fn.__name__.removeprefix("check_")


def kit_skip_reason(cls: type, check: str) -> str | None:
    """The reason ``cls`` gives in its ``kit_skip`` class attribute for exempting ``check``, or ``None``."""
    declared = getattr(cls, "kit_skip", None) or {}
    reason = declared.get(check) if isinstance(declared, dict) else None
    return None if reason is None else str(reason)


def installed_registry(registry=None):
    """``registry``, or the process's registry of installed plugins (:func:`regsim.get_registry`)."""
    if registry is not None:
        return registry
    from ..registry import get_registry

    return get_registry()


def component_checks(cls: type) -> list[tuple[str, Callable[..., None]]]:
    """``(name, check)`` pairs for ``cls``; ``check(cls, params=None, registry=None, ...)``.

    Every route of the kit (:func:`run_checks`, :func:`check_component`,
    :func:`parametrize_checks`, ``regsim plugins --check``) calls these, so all
    run the same checks with the same exemptions: a check named in the
    component's ``kit_skip`` raises :class:`CheckSkipped` with the declared
    reason, and ``registry=None`` means the installed plugins.
    """
    kind = _kind(cls)

    def bind(fn):
        name = _check_name(fn)

        def check(component=cls, params=None, registry=None, penalty=None, learner=None):
            reason = kit_skip_reason(component, name)
            if reason is not None:
                raise CheckSkipped(f"declared in kit_skip: {reason}")
            fn(component, _Context(params, installed_registry(registry), penalty, learner))
        check.__name__ = fn.__name__
        check.__doc__ = fn.__doc__
        return check

    return [(_check_name(fn), bind(fn)) for fn in CHECKS[kind]]


def run_checks(cls: type, *, params: dict | None = None, registry=None, skip: Iterable[str] = (),
               penalty: Penalty | None = None, learner: Learner | None = None) -> list[CheckResult]:
    """Run every check for ``cls`` and return one :class:`CheckResult` each (never raises).

    Parameters
    ----------
    cls : type
        A component class (``Penalty``, ``Problem``, ... subclass).
    params : dict, optional
        Valid constructor values overriding defaults and ``example_params``;
        a path parameter may be given as an ``(m,)`` array.
    registry : regsim.registry.Registry, optional
        Where to look for collaborators (ensemblers for inference strategies,
        classification learners). Default: the installed plugins
        (:func:`regsim.get_registry`); pass ``Registry(load_entry_points=False)``
        to use none. The kit's own reference components are used first.
    skip : iterable of str
        Check names to skip (e.g. ``"penalty_theory_shape"``). A component may
        also declare its own exemptions, with reasons, in a class attribute
        ``kit_skip = {"check_name": "why"}`` (scikit-learn's ``_xfail_checks``);
        they are reported as skipped with the reason by every route:
        ``check_component``, ``parametrize_checks`` and ``regsim plugins --check``.
    penalty, learner : optional
        Collaborator instances for learner and ensembler checks.
    """
    results = []
    skip = set(skip)
    for name, check in component_checks(cls):
        if name in skip:
            results.append(CheckResult(name, "skipped", "skipped by the caller"))
            continue
        try:
            check(cls, params=params, registry=registry, penalty=penalty, learner=learner)
        except CheckSkipped as exc:
            results.append(CheckResult(name, "skipped", str(exc)))
        except AssertionError as exc:
            results.append(CheckResult(name, "failed", str(exc)))
        except Exception as exc:
            results.append(CheckResult(name, "failed", f"raised {type(exc).__name__}: {exc}"))
        else:
            results.append(CheckResult(name, "passed"))
    return results


def check_component(cls: type, *, params: dict | None = None, registry=None,
                    skip: Iterable[str] = (), penalty: Penalty | None = None,
                    learner: Learner | None = None) -> list[CheckResult]:
    """Run every check for ``cls``; raise one AssertionError listing all failures.

    Returns the results (passed and skipped checks included) when none failed.
    See :func:`run_checks` for the parameters.
    """
    results = run_checks(cls, params=params, registry=registry, skip=skip, penalty=penalty,
                         learner=learner)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        lines = "\n".join(f"  - {r.check}: {r.message}" for r in failed)
        raise AssertionError(
            f"regsim.testing: {len(failed)} of {len(results)} checks failed for "
            f"{_kind(cls)} {getattr(cls, 'name', '')!r} ({cls.__module__}.{cls.__qualname__}):\n"
            f"{lines}")
    return results


def _for_kind(kind: str):
    def check(cls: type, **kwargs) -> list[CheckResult]:
        if _kind(cls) != kind:
            raise TypeError(f"{cls.__qualname__} is a {_kind(cls)}, not a {kind}")
        return check_component(cls, **kwargs)
    check.__name__ = f"check_{kind}"
    check.__doc__ = f"Run every {kind} check on ``cls`` (see :func:`check_component`)."
    return check


check_penalty = _for_kind("penalty")
check_problem = _for_kind("problem")
check_learner = _for_kind("learner")
check_ensembler = _for_kind("ensembler")
check_inference = _for_kind("inference")
check_metric = _for_kind("metric")
check_plot = _for_kind("plot")


def parametrize_checks(classes: Iterable[type], *, skip: Iterable[str] = (), **kwargs):
    """A ``pytest.mark.parametrize`` over ``(component, check)``, one test per check.

    ``check(component)`` runs one check; ``kwargs`` (``params``, ``registry``,
    ``penalty``, ``learner``) are bound into every check; checks named in
    ``skip`` are left out. A check the component exempts in ``kit_skip``, or
    that cannot run here, calls ``pytest.skip`` with the reason. Collaborators
    come from the installed plugins unless ``registry=`` is given, exactly as
    for :func:`check_component` and ``regsim plugins --check``.
    """
    import pytest

    skip = set(skip)
    cases, ids = [], []
    for cls in classes:
        for name, fn in component_checks(cls):
            if name in skip:
                continue
            cases.append((cls, _pytest_check(fn, kwargs)))
            ids.append(f"{getattr(cls, 'name', cls.__name__)}-{name}")
    return pytest.mark.parametrize("component, check", cases, ids=ids)


def _pytest_check(fn, kwargs):
    def check(component):
        import pytest

        try:
            fn(component, **kwargs)
        except CheckSkipped as exc:
            pytest.skip(str(exc))
    check.__name__ = fn.__name__
    return check
