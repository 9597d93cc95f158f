"""regsim.testing catches real mistakes, passes the built-ins, and ships as a pytest plugin."""

import subprocess
import sys
import textwrap

import pytest

import broken_plugins as bp
import regsim
from regsim.testing import check_component, check_penalty, run_checks


def failed(cls, **kwargs) -> dict:
    return {r.check: r.message for r in run_checks(cls, **kwargs) if r.status == "failed"}


@pytest.mark.parametrize("kind", ["penalty", "problem", "learner", "ensembler", "inference",
                                  "metric", "plot"])
def test_builtins_pass(kind):
    registry = regsim.get_registry()
    for name in registry.names(kind):
        if registry.plugin_of(kind, name).distribution == "regsim":
            check_component(registry.get(kind, name), registry=registry)


def test_wrong_gradient_sign_is_reported():
    fails = failed(bp.WrongSignGrad)
    assert set(fails) == {"penalty_grad_finite_differences"}
    assert "finite difference" in fails["penalty_grad_finite_differences"]


@pytest.mark.parametrize("cls", [bp.SubgradientProx, bp.HalfThresholdProx])
def test_prox_that_is_not_the_proximal_operator_is_reported(cls):
    fails = failed(cls)
    assert "penalty_prox_optimality" in fails
    assert "not the minimiser" in fails["penalty_prox_optimality"]
    assert "penalty_grad_finite_differences" not in fails  # value and grad are right


def test_subgradient_step_is_expansive():
    assert "penalty_prox_nonexpansive" in failed(bp.SubgradientProx)


def test_vectorised_path_differing_from_per_alpha_is_reported():
    fails = failed(bp.FirstAlphaOnly)
    assert "penalty_batched_equals_per_column" in fails
    assert "prox: column 1" in fails["penalty_batched_equals_per_column"]


def test_unpicklable_component_is_reported():
    fails = failed(bp.make_unpicklable_penalty())
    assert set(fails) == {"pickle_roundtrip"}
    assert "does not pickle" in fails["pickle_roundtrip"]


def test_schema_that_accepts_anything_is_reported():
    msg = failed(bp.AcceptsAnything)["schema_rejects_bad_values"]
    assert "unknown parameter 'no_such_param': accepted" in msg
    assert "alpha out of range" in msg


def test_unseeded_problem_learner_batch_and_metric_length_are_reported():
    assert set(failed(bp.UnseededProblem)) == {"problem_deterministic"}
    learner = failed(bp.ShortFitLearner)
    assert "Fit.m = 1 for a batch of 3" in learner["learner_fit"]
    metric = failed(bp.WrongLengthMetric)["metric_columns"]
    assert "undeclared columns ['extra']" in metric


def test_one_assertion_lists_every_failure_with_names():
    with pytest.raises(AssertionError) as info:
        check_penalty(bp.SubgradientProx)
    text = str(info.value)
    assert "checks failed for penalty 'subgradient_prox' (broken_plugins.SubgradientProx)" in text
    assert "- penalty_prox_optimality:" in text and "- penalty_prox_nonexpansive:" in text
    with pytest.raises(TypeError, match="is a learner, not a penalty"):
        check_penalty(bp.ShortFitLearner)


def test_required_parameter_without_example_is_skipped_not_failed():
    csv = regsim.get_registry().get("problem", "csv")
    results = run_checks(csv)
    assert all(r.status == "passed" for r in results)  # example_params on the class
    csv_no_example = type("NoExample", (csv,), {"example_params": {}})
    statuses = {r.status for r in run_checks(csv_no_example)}
    assert statuses == {"skipped"}


def test_pytest_plugin_fixture_and_parametrize(tmp_path):
    """The pytest11 entry point provides regsim_check; parametrize_checks makes one test per check."""
    (tmp_path / "test_author.py").write_text(textwrap.dedent("""
        import broken_plugins as bp
        from regsim.testing import parametrize_checks

        @parametrize_checks([bp.WrongSignGrad])
        def test_kit(component, check):
            check(component)

        @parametrize_checks([bp.WrongSignGrad], skip=["penalty_grad_finite_differences"])
        def test_kit_skip(component, check):
            check(component)

        def test_fixture(regsim_check, regsim_registry):
            regsim_check(regsim_registry.get("penalty", "l1"))
    """))
    tests_dir = str(__import__("pathlib").Path(__file__).parent)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path,
        env={**__import__("os").environ, "PYTHONPATH": tests_dir})
    out = result.stdout
    assert "test_kit[wrong_sign_grad-penalty_grad_finite_differences] FAILED" in out or \
        "FAILED test_author.py::test_kit[wrong_sign_grad-penalty_grad_finite_differences]" in out
    # 8 checks, one fails; then 7 with one left out; skipped: no theory() (twice)
    assert "1 failed, 13 passed, 2 skipped" in out, out[-2000:]


def test_ensembler_and_inference_checks():
    from regsim.registry import Registry

    check_component(bp.Bagging)
    assert set(failed(bp.UnseededBagging)) == {"ensembler_deterministic"}
    assert "differs from produces='bagging'" in failed(bp.WrongKindBagging)["ensembler_fit"]

    registry = Registry(load_entry_points=False, plugins=(bp.EnsemblePlugin,))
    assert registry.names("ensembler") == ["test_bagging"]
    check_component(bp.ArithmeticMean, registry=registry)
    msg = failed(bp.FirstColumnOnly, registry=registry)["inference_predict"]
    assert "predict(X): shape (20, 1), expected (20, 3)" in msg
    # without an ensembler producing an accepted kind the check is skipped, not failed
    empty = Registry(load_entry_points=False)
    assert {r.status for r in run_checks(bp.ArithmeticMean, registry=empty)
            if r.check == "inference_predict"} == {"skipped"}


def test_component_can_declare_a_skipped_check_with_its_reason():
    declared = bp.DeclaredApproximateProx
    results = {r.check: r for r in run_checks(declared)}
    assert results["penalty_prox_optimality"].status == "skipped"
    assert results["penalty_prox_optimality"].message == \
        "declared in kit_skip: an approximate prox, on purpose"
    check_component(declared)  # nothing else fails


def test_parametrize_checks_honours_kit_skip_and_sees_installed_plugins():
    from regsim.testing import parametrize_checks

    mark = parametrize_checks([bp.DeclaredApproximateProx, bp.ArithmeticMean])
    cases = dict(zip(mark.kwargs["ids"], mark.args[1]))
    cls, check = cases["declared_approximate_prox-penalty_prox_optimality"]
    with pytest.raises(pytest.skip.Exception, match="declared in kit_skip: an approximate prox"):
        check(cls)
    cls, check = cases["declared_approximate_prox-penalty_shapes"]
    check(cls)  # not declared: runs
    # no registry= given: the installed bagging ensembler builds the ensemble (not skipped)
    cls, check = cases["test_arithmetic_mean-inference_predict"]
    check(cls)
