"""Issue 14 §1: components are discoverable (`regsim plugins`, `regsim describe`) and
docs/reference.md is generated from the same declarations and never stale."""

import json
import re
from pathlib import Path

import pytest

import regsim
from regsim.cli import main
from regsim.reference import REGENERATE, describe_component, reference_markdown

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "reference.md"


def test_reference_page_is_up_to_date():
    generated = reference_markdown()
    current = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    if generated != current:
        import difflib

        diff = "".join(list(difflib.unified_diff(current.splitlines(True), generated.splitlines(True),
                                                 "docs/reference.md", "generated", n=1))[:40])
        pytest.fail(f"docs/reference.md is stale; regenerate it with `{REGENERATE}`\n{diff}")


def test_reference_documents_every_builtin_component_parameter_and_column():
    registry = regsim.get_registry()
    text = REFERENCE.read_text(encoding="utf-8")
    for kind in registry.components:
        for name in registry.names(kind):
            if registry.plugin_of(kind, name).distribution != "regsim":
                continue
            cls = registry.get(kind, name)
            assert f"### {kind} `{name}`" in text
            for key, param in getattr(cls, "params", {}).items():
                assert f"| `{key}` | {param.type.__name__} |" in text, (kind, name, key)
            for col in getattr(cls, "columns", {}) if kind != "plot" else ():
                assert f"| `{col}` |" in text, (kind, name, col)
    # a metric's column name differs from the metric's: the page says which writes which
    assert "| `mc_rms_error` | float | [metric `mc_error`](#metric-mc_error) |" in text
    assert REGENERATE in text


def test_describe_component_declares_bounds_defaults_and_path():
    registry = regsim.get_registry()
    info = describe_component("problem", registry.get("problem", "linear_regression"))
    params = {p["name"]: p for p in info["params"]}
    assert params["rho"] == {**params["rho"], "type": "float", "default": 0.9, "ge": 0, "lt": 1,
                             "path": False, "required": False}
    assert params["design"]["choices"][:2] == ["geometric", "orthogonal"]
    csv = {p["name"]: p for p in describe_component("problem", registry.get("problem", "csv"))["params"]}
    assert csv["path"]["required"] and csv["path"]["default"] is None
    alpha = describe_component("penalty", registry.get("penalty", "l1"))["params"][0]
    assert alpha["path"] and alpha["doc"]


def test_plugins_lists_parameters_and_columns_in_text_and_json(capsys):
    assert main(["plugins"]) == 0
    text = capsys.readouterr().out
    assert "    penalty l1: " in text
    assert "        alpha (float, default 1.0, >= 0, path): penalty strength" in text
    assert "      columns: mc_rms_error (float)" in text
    assert "        max_samples (float, default 1.0, > 0, <= 1): rows per member" in text

    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    plugin = next(p for p in data["plugins"] if "mc_error" in p["components"].get("metric", []))
    assert plugin["details"]["metric"]["mc_error"]["columns"] == {"mc_rms_error": "float"}
    bagging = next(p for p in data["plugins"] if p["name"] == "bagging")
    k = bagging["details"]["ensembler"]["bagging"]["params"][0]
    assert (k["name"], k["type"], k["default"], k["ge"], k["path"]) == ("k", "int", 10, 1, True)
    assert bagging["components"] == {"ensembler": ["bagging"]}  # unchanged for existing readers


def test_describe_one_component_with_its_docstring(capsys):
    assert main(["describe", "mc_error"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("metric mc_error: Monte Carlo error")
    assert "columns: mc_rms_error (float)" in out and "expected to fall as 1/√n_masks" in out
    assert main(["describe", "inference", "arithmetic_mean", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["accepts"] == ["bagging"] and info["distribution"] == "regsim"


@pytest.mark.parametrize("argv, message", [
    (["describe", "theory_gap"], "'theory_gap' names 2 components (metric, plot); say which: "
                                 "regsim describe metric theory_gap, regsim describe plot theory_gap"),
    (["describe", "no_such"], "no component named 'no_such'; installed problem: csv,"),
    (["describe", "penalty", "no_such"], "no component named 'no_such'; installed penalty: "),
    (["describe", "colour", "l1"], "unknown kind 'colour'; kinds: problem, learner, penalty,"),
])
def test_describe_errors_are_one_line_naming_the_choices(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_dataset_fields_and_ensemble_protocol_are_documented():
    import dataclasses
    import inspect

    hooks = (REFERENCE.parent / "hooks.md").read_text(encoding="utf-8")
    doc = inspect.getdoc(regsim.Dataset)
    for field in dataclasses.fields(regsim.Dataset):
        assert re.search(rf"^{field.name} : ", doc, re.M), field.name
        assert f"`{field.name}`" in hooks, field.name
    for method, shape in (("member_predictions", "(n, K, m)"), ("member_mask", "(K, m)")):
        text = inspect.getdoc(getattr(regsim.Ensemble, method))
        assert "Returns" in text and shape in text, method
        assert f"`{method}(" in hooks, method
    assert "check_cell(components)" in hooks
    assert "check_cell(components)" in (REFERENCE.parent / "plugin-tutorial.md").read_text()
