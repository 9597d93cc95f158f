"""What every component declares, as data and as text: ``regsim plugins``, ``regsim describe``
and the generated reference page ``docs/reference.md`` all read it from here.

Regenerate the page after changing a built-in component's ``params``,
``columns``, other declarations or docstring::

    python -m regsim.reference --write docs/reference.md

(``tests/test_reference.py`` fails, naming this command, when the page is stale.)
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import sys
from pathlib import Path
from typing import Any

from .params import REQUIRED, Param

__all__ = ["describe_param", "describe_component", "component_text", "find_components",
           "reference_markdown", "REGENERATE"]

#: The command that rewrites the reference page (quoted by the staleness test).
REGENERATE = "python -m regsim.reference --write docs/reference.md"

#: Class attributes shown per kind, beside ``params`` and ``columns``.
_DECLARED = {
    "problem": ("task", "task_param"),
    "penalty": ("smooth",),
    "learner": ("tasks",),
    "ensembler": ("produces", "tasks"),
    "inference": ("accepts", "tasks"),
    "metric": ("default", "tasks"),
    "plot": ("title",),
}
#: Order in which declarations are shown.
_SHOWN = ("task", "task_param", "tasks", "produces", "accepts", "default", "title", "smooth",
          "theory")
_KIND_TITLES = {"problem": "Problems", "learner": "Learners", "penalty": "Penalties",
                "ensembler": "Ensemblers", "inference": "Inference strategies",
                "metric": "Metrics", "plot": "Plots"}


def _plain(value: Any) -> Any:
    """A JSON-safe, stable rendering of a declared value."""
    if value is REQUIRED:
        return None
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool, type(None), list, dict)):
        return value
    return repr(value)


def describe_param(key: str, param: Param) -> dict:
    """One parameter as a dict.

    Returns
    -------
    dict
        ``name``, ``type`` (``"float"``, ``"int"``, ``"str"``, ``"bool"`` or
        ``"list"``), ``required``, ``default`` (``None`` when required),
        ``ge``/``gt``/``le``/``lt`` bounds (``None`` when unbounded),
        ``choices`` (a list or ``None``), ``nullable``, ``path`` (batched: the
        component sees an ``(m,)`` array), ``allowed`` (the bounds in words,
        as error messages say them) and ``doc``.
    """
    return {
        "name": key,
        "type": param.type.__name__,
        "required": param.required,
        "default": _plain(param.default),
        "ge": param.ge, "gt": param.gt, "le": param.le, "lt": param.lt,
        "choices": _plain(param.choices),
        "nullable": param.nullable,
        "path": param.path,
        "allowed": param.describe(),
        "doc": param.doc,
    }


def describe_component(kind: str, cls: type, plugin=None) -> dict:
    """Everything ``cls`` declares, as a JSON-safe dict.

    Parameters
    ----------
    kind : str
        One of :data:`regsim.registry.KINDS`.
    cls : type
        The registered class.
    plugin : regsim.registry.PluginInfo, optional
        The plugin that registered it (adds ``plugin``, ``distribution``, ``version``).

    Returns
    -------
    dict
        ``kind``, ``name``, ``class`` (``module.QualName``), ``summary`` (first
        docstring line), ``doc`` (the whole docstring), ``params`` (a list of
        :func:`describe_param` dicts), ``columns`` (result column -> type, for
        metrics and for learners and ensemblers that declare extra columns),
        the kind's other declarations when set (a problem's ``task`` or
        ``task_param``, ``tasks``, ``produces``, ``accepts``, ``default``,
        ``title``, a penalty's ``smooth``), ``kit_skip`` and, for penalties,
        ``theory`` (whether it predicts the optimum).
    """
    doc = inspect.getdoc(cls) or ""
    out: dict[str, Any] = {
        "kind": kind,
        "name": cls.name,
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "summary": doc.split("\n\n")[0].replace("\n", " ").strip(),
        "doc": doc,
    }
    if plugin is not None:
        out.update(plugin=plugin.name, distribution=plugin.distribution, version=plugin.version)
    if kind != "plot":
        out["params"] = [describe_param(k, p) for k, p in getattr(cls, "params", {}).items()]
    columns = getattr(cls, "columns", None)
    if kind in ("metric", "learner", "ensembler") and isinstance(columns, dict):
        out["columns"] = dict(columns)
    for attr in _DECLARED.get(kind, ()):
        if getattr(cls, attr, None) is not None:  # None: not declared
            out[attr] = _plain(getattr(cls, attr))
    if kind == "penalty":
        from .components import Penalty

        out["theory"] = getattr(cls, "theory", None) is not getattr(Penalty, "theory")
    holds = getattr(cls, "holds_for", None) if kind == "metric" else None
    if holds:
        out["holds_for"] = {str(col): conditions_text(c) for col, c in dict(holds).items()}
    skip = getattr(cls, "kit_skip", None)
    if skip:
        out["kit_skip"] = {str(k): str(v) for k, v in dict(skip).items()}
    return out


def conditions_text(conditions: Any) -> str:
    """A metric's ``holds_for`` conditions in words: ``inference in (arithmetic_mean) or ...``.

    ``conditions`` is one mapping (every key must match) or a sequence of them
    (any one is enough), each key a slot, ``<slot>.<param>`` or ``task``.
    """
    alternatives = [conditions] if isinstance(conditions, dict) else list(conditions)
    words = []
    for alt in alternatives:
        parts = []
        for key, values in alt.items():
            values = values if isinstance(values, (list, tuple, set)) else (values,)
            parts.append(f"{key} in ({', '.join('none' if v is None else str(v) for v in values)})")
        words.append(" and ".join(parts) or "always")
    return " or ".join(words)


def _default_text(p: dict) -> str:
    if p["required"]:
        return "required"
    return f"default {p['default']!r}"


def _allowed(p: dict) -> str:
    """The values allowed beyond the type, e.g. ``> 0, <= 1`` or ``one of 'a', 'b'``."""
    parts = []
    if p["choices"] is not None:
        parts.append("one of " + ", ".join(repr(c) for c in p["choices"]))
    for sym, key in ((">=", "ge"), (">", "gt"), ("<=", "le"), ("<", "lt")):
        if p[key] is not None:
            parts.append(f"{sym} {p[key]:g}")
    if p["nullable"]:
        parts.append("or null")
    return ", ".join(parts)


def _param_line(p: dict) -> str:
    bits = [p["type"], _default_text(p)]
    allowed = _allowed(p)
    if allowed:
        bits.append(allowed)
    if p["path"]:
        bits.append("path")
    head = f"{p['name']} ({', '.join(bits)})"
    return f"{head}: {p['doc']}" if p["doc"] else head


def component_text(info: dict, *, full_doc: bool = False, indent: str = "") -> str:
    """Plain text for one :func:`describe_component` dict (``regsim plugins``, ``regsim describe``)."""
    head = f"{indent}{info['kind']} {info['name']}"
    lines = [f"{head}: {info['summary']}" if info["summary"] else head]
    sub = indent + "  "
    if "distribution" in info:
        origin = " ".join(filter(None, (info["distribution"], info.get("version"))))
        lines.append(f"{sub}from {info['plugin']} ({origin}), class {info['class']}")
    for attr in _SHOWN:
        if attr in info:
            value = info[attr]
            value = ", ".join(value) if isinstance(value, list) else value
            lines.append(f"{sub}{attr}: {value}")
    if "params" in info:
        if info["params"]:
            lines.append(f"{sub}parameters:")
            lines.extend(f"{sub}  {_param_line(p)}" for p in info["params"])
        else:
            lines.append(f"{sub}parameters: (none)")
    if info.get("columns"):
        lines.append(f"{sub}columns: " + ", ".join(f"{c} ({t})" for c, t in info["columns"].items()))
    for column, where in info.get("holds_for", {}).items():
        lines.append(f"{sub}theory column {column} holds where {where} (null elsewhere)")
    for check, why in info.get("kit_skip", {}).items():
        lines.append(f"{sub}kit_skip {check}: {why}")
    if full_doc and info["doc"]:
        lines.append("")
        lines.extend(f"{sub}{line}".rstrip() for line in info["doc"].splitlines())
    return "\n".join(lines)


def find_components(registry, words: list[str]) -> list[tuple[str, str]]:
    """``(kind, name)`` pairs matching ``NAME`` or ``KIND NAME`` (kinds may be plural: ``penalties``)."""
    from .registry import KINDS

    if len(words) == 2:
        kind = _kind_of(words[0])
        return [(kind, words[1])] if words[1] in registry.components.get(kind, {}) else []
    return [(kind, words[0]) for kind in KINDS if words[0] in registry.components[kind]]


def _kind_of(word: str) -> str:
    from .registry import KINDS

    aliases = {k: k for k in KINDS}
    aliases.update({"problems": "problem", "learners": "learner", "penalties": "penalty",
                    "ensemblers": "ensembler", "inference_strategies": "inference",
                    "strategy": "inference", "strategies": "inference", "metrics": "metric",
                    "plots": "plot"})
    return aliases.get(word, word)


# --------------------------------------------------------------------------- the reference page


def _builtin_registry():
    """Every built-in plugin, whatever REGSIM_LOAD_PLUGINS and REGSIM_PLUGINS_DIR say."""
    from .registry import LOAD_PLUGINS_ENV, Registry

    saved = os.environ.pop(LOAD_PLUGINS_ENV, None)
    try:
        return Registry(plugins_dirs=())
    finally:
        if saved is not None:
            os.environ[LOAD_PLUGINS_ENV] = saved


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_component(info: dict) -> list[str]:
    lines = [f"### {info['kind']} `{info['name']}`", "", f"`{info['class']}`", ""]
    decl = []
    for attr in _SHOWN:
        if attr in info:
            value = info[attr]
            value = ", ".join(f"`{v}`" for v in value) if isinstance(value, list) else f"`{value}`"
            decl.append(f"{attr}: {value}")
    if decl:
        lines += ["; ".join(decl), ""]
    if info["doc"]:
        lines += [info["doc"], ""]
    if info.get("params"):
        lines += ["| parameter | type | default | allowed | path | meaning |",
                  "|---|---|---|---|---|---|"]
        for p in info["params"]:
            default = "required" if p["required"] else f"`{p['default']!r}`"
            allowed = _allowed(p) or "any"
            lines.append(f"| `{p['name']}` | {p['type']} | {_md_cell(default)} | "
                         f"{_md_cell(allowed)} | {'yes' if p['path'] else 'no'} | "
                         f"{_md_cell(p['doc'])} |")
        lines.append("")
    elif "params" in info:
        lines += ["No parameters.", ""]
    if info.get("columns"):
        lines += ["| result column | type |", "|---|---|"]
        lines += [f"| `{c}` | {t} |" for c, t in info["columns"].items()]
        lines.append("")
    for column, where in info.get("holds_for", {}).items():
        lines += [f"Theory column `{column}` is filled only where {where}; null elsewhere.", ""]
    for check, why in info.get("kit_skip", {}).items():
        lines += [f"Exempt from kit check `{check}`: {why}", ""]
    return lines


def reference_markdown(registry=None) -> str:
    """The reference page of every built-in component (distribution ``regsim``) and result column.

    Generated only from the components' declarations (``params``, ``columns``,
    ``tasks``, ``accepts``, ...) and docstrings, so it cannot drift from them.
    """
    from .registry import KINDS

    registry = registry if registry is not None else _builtin_registry()
    found = {kind: [describe_component(kind, registry.get(kind, name), registry.plugin_of(kind, name))
                    for name in registry.names(kind)
                    if registry.plugin_of(kind, name).distribution == "regsim"]
             for kind in KINDS}
    out = ["# Built-in components",
           "",
           "<!-- Generated from the components' declarations and docstrings; do not edit.",
           f"     Regenerate: {REGENERATE} -->",
           "",
           "Every built-in problem, learner, penalty, ensembler, inference strategy, metric",
           "and plot, with its parameters and the result columns it writes. The same",
           "information for installed plugins: `regsim plugins` (or `--json`) and",
           "`regsim describe NAME`. A parameter marked *path* is batched: cells that differ",
           "only in path parameters run as one computation (the component sees an `(m,)`",
           "array). A spec sets a parameter as `{plugin: NAME, PARAM: value}`; its result",
           "column is `<slot>.<param>` (e.g. `penalty.alpha`).",
           ""]
    out += ["## Contents", ""]
    for kind in KINDS:
        if found[kind]:
            names = ", ".join(f"[`{c['name']}`](#{kind}-{c['name']})" for c in found[kind])
            out.append(f"- {_KIND_TITLES[kind]}: {names}")
    out += ["", "## Result columns written by components", "",
            "| column | type | written by |", "|---|---|---|"]
    writers: dict[str, list[tuple[str, str, str]]] = {}
    for kind in KINDS:
        for info in found[kind]:
            for col, typ in info.get("columns", {}).items():
                writers.setdefault(col, []).append((typ, kind, info["name"]))
    for col in sorted(writers):
        typ = "/".join(sorted({t for t, _, _ in writers[col]}))
        who = ", ".join(f"[{k} `{n}`](#{k}-{n})" for _, k, n in writers[col])
        out.append(f"| `{col}` | {typ} | {who} |")
    out.append("")
    for kind in KINDS:
        if not found[kind]:
            continue
        out += [f"## {_KIND_TITLES[kind]}", ""]
        for info in found[kind]:
            out += _md_component(info)
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m regsim.reference",
                                     description="Print (or write) the reference page of every "
                                                 "built-in component and result column.")
    parser.add_argument("--write", metavar="PATH", help="write the page to PATH (docs/reference.md)")
    args = parser.parse_args(argv)
    text = reference_markdown()
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
        print(f"wrote {args.write}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
