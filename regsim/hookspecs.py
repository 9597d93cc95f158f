"""The plugin contract: every hook regsim calls.

A plugin is a module (or object) with functions decorated ``@regsim.hookimpl``
whose names match the specs below, published under the ``regsim`` entry-point
group. Registration hooks receive a ``register`` callback; the core owns
duplicate-name errors. All results are collected (no hook here is
``firstresult``).
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("regsim")
hookimpl = pluggy.HookimplMarker("regsim")


@hookspec
def register_problems(register: Callable[[type], None]) -> None:
    """Register problem classes (subclasses of ``regsim.Problem``) by calling ``register(cls)``."""


@hookspec
def register_learners(register: Callable[[type], None]) -> None:
    """Register learner classes (subclasses of ``regsim.Learner``) by calling ``register(cls)``."""


@hookspec
def register_penalties(register: Callable[[type], None]) -> None:
    """Register penalty classes (subclasses of ``regsim.Penalty``) by calling ``register(cls)``."""


@hookspec
def register_ensemblers(register: Callable[[type], None]) -> None:
    """Register ensembler classes (subclasses of ``regsim.Ensembler``) by calling ``register(cls)``."""


@hookspec
def register_inference_strategies(register: Callable[[type], None]) -> None:
    """Register inference strategies (subclasses of ``regsim.InferenceStrategy``) by calling ``register(cls)``."""


@hookspec
def register_metrics(register: Callable[[type], None]) -> None:
    """Register metric classes (subclasses of ``regsim.Metric``) by calling ``register(cls)``."""


@hookspec
def register_plots(register: Callable[[type], None]) -> None:
    """Register report figures (subclasses of ``regsim.Plot``) by calling ``register(cls)``."""


@hookspec
def cell_finished(cell: dict[str, Any], row: dict[str, Any]) -> None:
    """Called in the worker after each cell's row is built, before it is stored.

    ``cell`` is the canonical cell (components and seed); the implementation may
    add columns to ``row`` in place. Return value ignored.
    """


@hookspec
def sweep_finished(manifest: dict[str, Any], path: str) -> None:
    """Called once after a sweep has written its manifest to the run directory ``path``.

    Return value ignored; exceptions are reported and do not fail the sweep.
    """
