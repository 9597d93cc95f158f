"""pytest plugin for regsim plugin authors (registered through the ``pytest11`` entry point).

Installed with regsim, so a plugin package's tests get, with no conftest:

``regsim_check``
    fixture: :func:`regsim.testing.check_component`; ``regsim_check(MyPenalty)``
    runs every conformance check and fails listing each failure. Collaborators
    (an ensembler for a strategy, a learner for a task) come from the installed
    plugins unless ``registry=`` is given, and checks the class exempts in
    ``kit_skip`` are skipped with their reason, as in ``regsim plugins --check``.
``regsim_registry``
    fixture: the process's plugin registry (entry points loaded), for looking
    up collaborators such as the generic ``proximal_gradient`` learner.

For one test per check, decorate with :func:`regsim.testing.parametrize_checks`
(same checks, same exemptions, same installed plugins).
Nothing heavy is imported until a fixture is used, so the plugin costs other
test suites nothing.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def regsim_check():
    """``check_component(cls, params=None, registry=None, skip=(), penalty=None, learner=None)``.

    ``registry=None`` means the installed plugins (:func:`regsim.get_registry`).
    """
    from regsim.testing import check_component

    return check_component


@pytest.fixture(scope="session")
def regsim_registry():
    """The per-process registry of installed regsim plugins."""
    from regsim import get_registry

    return get_registry()


def pytest_report_header(config):
    try:
        from importlib.metadata import version

        return f"regsim: {version('regsim')}"
    except Exception:  # a header must never break a test run
        return None
