"""Issue 14 §3: every route of the kit catches each deliberately broken plugin, with the
same checks and the same exemptions, against the installed registry by default."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import broken_plugins as bp
from regsim.registry import Registry
from regsim.testing import PROX_STEPS, check_component, known_ensemble, run_checks

TESTS = Path(__file__).resolve().parent


def failed(cls, **kwargs) -> dict:
    return {r.check: r.message for r in run_checks(cls, **kwargs) if r.status == "failed"}


# --------------------------------------------------------------------------- penalties


def test_prox_steps_span_small_and_large():
    assert PROX_STEPS.min() <= 0.01 and PROX_STEPS.max() >= 100
    assert np.sum((PROX_STEPS >= 2.7) & (PROX_STEPS <= 100)) >= 3


def test_a_correct_scad_prox_passes_at_every_step():
    results = {r.check: r for r in run_checks(bp.Scad)}
    assert results["penalty_prox_optimality"].status == "passed"
    # the oracle is independent of the plugin: a direct grid minimisation agrees with prox
    pen = bp.Scad(alpha=1.0)
    v = np.array([[0.5], [2.0], [3.0], [5.0], [12.0]])
    t = np.linspace(-20, 20, 400001)[:, None, None]
    for step in (0.5, 2.0, 3.0, 10.0):
        f = pen._h(np.abs(t)) + (t - v[None]) ** 2 / (2 * step)
        brute = t[f.argmin(axis=0), 0, 0]
        np.testing.assert_allclose(pen.prox(v, step)[:, 0], brute[:, 0], atol=2e-4)


def test_scad_rule_wrong_for_large_steps_is_caught(monkeypatch):
    fails = failed(bp.ScadSmallStepRule)
    assert set(fails) == {"penalty_prox_optimality"}
    msg = fails["penalty_prox_optimality"]
    assert "not the minimiser" in msg
    step = float(msg.split("step=")[1].split(")")[0])
    assert step >= 2.7  # right below a − 1 = 2.7, wrong above
    # the same rule is right at small steps: restricted to them, nothing fails
    import regsim.testing.penalty as penalty_checks

    monkeypatch.setattr(penalty_checks, "PROX_STEPS", PROX_STEPS[PROX_STEPS < 2.7])
    assert "penalty_prox_optimality" not in failed(bp.ScadSmallStepRule)


# --------------------------------------------------------------------------- inference


@pytest.fixture(scope="module")
def test_registry():
    return Registry(load_entry_points=False, plugins=(bp.EnsemblePlugin,))


def test_known_ensemble_has_masks_that_matter():
    ens, X, _ = known_ensemble("regression")
    mask = ens.member_mask()
    assert mask.shape == (ens.n_members, ens.m) and (mask.sum(axis=0) == ens.k).all()
    assert ens.k.min() == 1 and ens.k.max() == ens.n_members and len(set(ens.k)) == ens.m
    changed, _, _ = known_ensemble("regression", outside=3.0)
    P, Q = ens.member_predictions(X), changed.member_predictions(X)
    assert np.array_equal(P[:, mask], Q[:, mask]) and not np.allclose(P[:, ~mask], Q[:, ~mask])
    probs, Xc, C = known_ensemble("classification")
    assert probs.member_predictions(Xc).shape == (Xc.shape[0], probs.n_members, probs.m, C)


def test_a_correct_strategy_passes(test_registry):
    results = check_component(bp.ArithmeticMean, registry=test_registry)
    assert {r.status for r in results} == {"passed"}


def test_mask_ignoring_strategy_is_caught(test_registry):
    fails = failed(bp.IgnoresMask, registry=test_registry)
    assert "inference_member_mask" in fails
    assert "outside member_mask()" in fails["inference_member_mask"]
    assert "inference_predict" not in fails  # the test ensembler's masks are all True


def test_random_output_strategy_is_caught(test_registry):
    fails = failed(bp.RandomOutput, registry=test_registry)
    assert {"inference_unanimous_members", "inference_within_members"} <= set(fails)
    assert "inference_predict" not in fails and "inference_known_ensemble" not in fails


def test_random_output_is_caught_for_classification_too():
    only_classes = type("RandomClasses", (bp.RandomOutput,), {"name": "random_classes",
                                                             "tasks": ("classification",)})
    fails = failed(only_classes)
    assert "most probable class" in fails["inference_unanimous_members"]


@pytest.mark.parametrize("cls", [bp.WrongShape, bp.FirstColumnOnly])
def test_wrong_shape_strategy_is_caught(cls, test_registry):
    fails = failed(cls, registry=test_registry)
    assert "expected (20, 4)" in fails["inference_known_ensemble"]


def test_strategy_not_returning_distributions_is_caught():
    fails = failed(bp.UnnormalisedVotes)
    assert "must sum to 1" in fails["inference_known_ensemble"]


def test_builtin_bagging_strategies_pass_on_the_known_ensemble():
    import regsim

    registry = regsim.get_registry()
    for name in ("arithmetic_mean", "geometric_mean", "majority_vote"):
        results = {r.check: r.status for r in run_checks(registry.get("inference", name))}
        assert results["inference_member_mask"] == "passed", name
        assert results["inference_unanimous_members"] == "passed", name
        assert "failed" not in results.values(), (name, results)


# --------------------------------------------------------------------------- every route


def _run(args, env=None, **kw):
    env = {**os.environ, **(env or {}),
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, **kw)


def test_every_route_catches_the_broken_plugins_and_honours_kit_skip(tmp_path):
    """pytest (parametrize_checks and regsim_check, no registry= given: the installed plugins)
    and `regsim plugins --check` (the broken plugins as a one-file plugin) agree."""
    (tmp_path / "test_author.py").write_text(textwrap.dedent("""
        import pytest
        import broken_plugins as bp
        from regsim.testing import parametrize_checks

        BROKEN = [bp.IgnoresMask, bp.RandomOutput, bp.WrongShape, bp.ScadSmallStepRule]

        @parametrize_checks(BROKEN + [bp.Scad])
        def test_kit(component, check):
            check(component)

        @pytest.mark.parametrize("cls", BROKEN)
        def test_fixture(regsim_check, cls):
            regsim_check(cls)
    """))
    out = _run([sys.executable, "-m", "pytest", "-q", "-rfs", "-p", "no:cacheprovider",
                str(tmp_path)], cwd=tmp_path).stdout
    for case in ("ignores_mask-inference_member_mask", "random_output-inference_unanimous_members",
                 "wrong_shape-inference_known_ensemble", "wrong_shape-inference_predict",
                 "scad_small_step_rule-penalty_prox_optimality"):
        assert f"FAILED test_author.py::test_kit[{case}]" in out, (case, out[-3000:])
    # inference_predict ran on a real bagging ensemble from the installed plugins (not skipped)
    assert "test_kit[ignores_mask-inference_predict]" not in out
    assert "pass registry=" not in out
    # kit_skip honoured: SCAD's non-expansiveness is skipped with its reason, nothing of SCAD fails
    assert "SCAD is non-convex" in out
    assert "FAILED test_author.py::test_kit[scad-" not in out
    assert out.count("FAILED test_author.py::test_fixture[") == 4, out[-3000:]

    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "broken_kit.py").write_text(textwrap.dedent("""
        import regsim
        import broken_plugins as bp

        @regsim.hookimpl
        def register_penalties(register):
            register(bp.Scad)
            register(bp.ScadSmallStepRule)

        @regsim.hookimpl
        def register_inference_strategies(register):
            for cls in (bp.IgnoresMask, bp.RandomOutput, bp.WrongShape):
                register(cls)
    """))
    cli = _run([sys.executable, "-m", "regsim.cli", "--plugins-dir", str(plugin_dir), "plugins",
                "--check"], cwd=tmp_path, env={"REGSIM_LOAD_PLUGINS": "broken_kit,bagging"})
    lines = cli.stdout.splitlines()
    assert cli.returncode == 1
    start = next(i for i, line in enumerate(lines) if line.startswith("broken_kit  ("))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("  "))
    block = "\n".join(lines[start:end])
    assert "penalty scad: ok" in block
    assert "skip penalty_prox_nonexpansive: declared in kit_skip: SCAD is non-convex" in block
    for line in ("penalty scad_small_step_rule: FAILED", "inference ignores_mask: FAILED",
                 "inference random_output: FAILED", "inference wrong_shape: FAILED",
                 "FAIL inference_member_mask", "FAIL penalty_prox_optimality"):
        assert line in block, (line, block)


def test_non_separable_prox_is_checked_by_a_local_search():
    import time

    start = time.perf_counter()
    results = {r.check: r for r in run_checks(bp.GroupLasso)}
    assert results["penalty_prox_optimality"].status == "passed", results["penalty_prox_optimality"]
    assert time.perf_counter() - start < 30
    msg = failed(bp.GroupLassoCoordinateProx)["penalty_prox_optimality"]
    assert "a local search finds" in msg


def test_bagging_ensembles_must_implement_the_member_protocol():
    import regsim

    assert "must implement member_predictions(X) and member_mask()" in \
        failed(bp.MemberlessBagging)["ensembler_member_protocol"]
    statuses = {r.check: r.status for r in run_checks(regsim.get_registry().get("ensembler",
                                                                                "bagging"))}
    assert statuses["ensembler_member_protocol"] == "passed"


def test_problem_generating_another_task_than_it_declares_is_caught():
    msg = failed(bp.MisdeclaredTaskProblem)["problem_shapes"]
    assert "declares task 'classification' but generated a 'regression' Dataset" in msg
