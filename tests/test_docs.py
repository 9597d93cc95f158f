"""The hook reference matches the hooks (datasette's test_docs idea): every hook in
regsim/hookspecs.py is documented with its exact signature in docs/hooks.md, and no
page of docs/ names a hook that does not exist."""

import inspect
import re
from pathlib import Path

import pytest

from regsim import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"
HEADING = re.compile(r"^###\s+`(\w+)(\(.*\)(?:\s*->\s*.+?)?)`\s*$", re.M)


def _hooks() -> dict:
    return {name: fn for name, fn in vars(hookspecs).items()
            if callable(fn) and hasattr(fn, "regsim_spec")}


def signature_text(fn) -> str:
    """``name(arg: annotation, ...) -> return`` exactly as written in hookspecs.py."""
    sig = inspect.signature(fn)
    args = ", ".join(
        p.name if p.annotation is inspect.Parameter.empty else f"{p.name}: {p.annotation}"
        for p in sig.parameters.values())
    ret = "" if sig.return_annotation is inspect.Signature.empty else f" -> {sig.return_annotation}"
    return f"{fn.__name__}({args}){ret}"


def documented() -> dict:
    text = (DOCS / "hooks.md").read_text()
    return {m.group(1): m.group(1) + m.group(2) for m in HEADING.finditer(text)}


def test_there_are_hooks_to_document():
    assert {"register_penalties", "cell_finished"} <= set(_hooks())


@pytest.mark.parametrize("name", sorted(_hooks()))
def test_hook_is_documented_with_its_exact_signature(name):
    docs = documented()
    assert name in docs, f"docs/hooks.md has no '### `{signature_text(_hooks()[name])}`' heading"
    assert docs[name] == signature_text(_hooks()[name])


def test_docs_name_no_hook_that_does_not_exist():
    hooks = set(_hooks())
    assert set(documented()) <= hooks, set(documented()) - hooks
    pattern = re.compile(r"\b(register_[a-z_]+|[a-z_]+_finished)\b")
    for page in DOCS.glob("*.md"):
        text = page.read_text()
        named = set(pattern.findall(text))
        assert named <= hooks, f"{page.name} names hooks that do not exist: {sorted(named - hooks)}"
        # hook implementations in the page's code blocks
        impls = set(re.findall(r"@regsim\.hookimpl\s*\ndef (\w+)\(", text))
        assert impls <= hooks, f"{page.name}: hookimpls of unknown hooks {sorted(impls - hooks)}"


def test_signature_text_reads_like_the_source():
    assert signature_text(hookspecs.cell_finished) == \
        "cell_finished(cell: dict[str, Any], row: dict[str, Any]) -> None"


def test_every_kit_check_is_documented_and_no_other():
    from regsim.testing import CHECKS

    text = (DOCS / "hooks.md").read_text()
    table = set(re.findall(r"^\| [a-z ]+ \| `(\w+)` \|", text, re.M))
    kit = {fn.__name__.removeprefix("check_") for fns in CHECKS.values() for fn in fns}
    assert table == kit
