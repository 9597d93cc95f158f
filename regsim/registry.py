"""The plugin manager and the component registry built from it.

Entry points of the ``regsim`` group are loaded once per process, each in its
own ``try``: a plugin that fails to import (or implements a hook that does not
exist) is reported by name and skipped. Built-in plugins are entry points of
the ``regsim`` distribution itself; the core never special-cases them.

``REGSIM_LOAD_PLUGINS=name,name`` restricts loading to those entry-point names
(or distribution names, or local file stems); an empty value loads none.

``REGSIM_PLUGINS_DIR=DIR`` (several joined with ``os.pathsep``; the CLI's
``--plugins-dir``) also loads every ``*.py`` file in ``DIR`` as a one-file
plugin named after the file (module ``regsim_local_plugins.<stem>``, so
classes pickle by reference in workers that load the same directory).

A plugin may require a version of the plugin contract with a module attribute
``regsim_api`` (an int ``N`` meaning ``>= N``, or a string such as ``">=1"``,
``"==1"``, ``">=1,<3"``). A plugin that needs another version than
:data:`regsim.PLUGIN_API_VERSION` is refused and reported like an import failure.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.metadata
import importlib.util
import operator
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pluggy

from . import hookspecs
from .components import (
    Ensembler,
    InferenceStrategy,
    Learner,
    Metric,
    Penalty,
    Plot,
    Problem,
)
from .params import SpecError

__all__ = ["Registry", "RegistryError", "get_registry", "KINDS", "ENTRY_POINT_GROUP",
           "PLUGINS_DIR_ENV", "LOAD_PLUGINS_ENV", "api_incompatibility", "declaration_problem"]

ENTRY_POINT_GROUP = "regsim"
LOAD_PLUGINS_ENV = "REGSIM_LOAD_PLUGINS"
PLUGINS_DIR_ENV = "REGSIM_PLUGINS_DIR"
#: Package under which local one-file plugins are imported.
LOCAL_PACKAGE = "regsim_local_plugins"

#: kind -> (registration hook, base class)
KINDS: dict[str, tuple[str, type]] = {
    "problem": ("register_problems", Problem),
    "learner": ("register_learners", Learner),
    "penalty": ("register_penalties", Penalty),
    "ensembler": ("register_ensemblers", Ensembler),
    "inference": ("register_inference_strategies", InferenceStrategy),
    "metric": ("register_metrics", Metric),
    "plot": ("register_plots", Plot),
}


class RegistryError(RuntimeError):
    """Two plugins claim one name (malformed classes are reported in ``failures`` and skipped)."""


@dataclass
class PluginInfo:
    """One loaded plugin: entry-point name, distribution, version, hooks, components."""

    name: str
    distribution: str
    version: str
    hooks: list[str] = field(default_factory=list)
    components: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": self.hooks,
            "components": self.components,
        }


@dataclass
class Registered:
    cls: type
    plugin: PluginInfo


class Registry:
    """Components of every kind, by name, with the plugin that registered each."""

    def __init__(self, load_entry_points: bool = True, plugins: tuple = (),
                 plugins_dirs: tuple | None = None):
        self.pm = pluggy.PluginManager("regsim")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        #: (plugin name, error message) for plugins that failed to load
        self.failures: list[tuple[str, str]] = []
        self.components: dict[str, dict[str, Registered]] = {k: {} for k in KINDS}
        self._allow = _allowed_plugins()
        if load_entry_points:
            self._load_entry_points()
        if plugins_dirs is None:
            env = os.environ.get(PLUGINS_DIR_ENV, "")
            plugins_dirs = tuple(p for p in env.split(os.pathsep) if p)
        for directory in plugins_dirs:
            self._load_directory(Path(directory))
        for obj in plugins:
            self.add_plugin(obj, getattr(obj, "__name__", repr(obj)), "(local)", "")
        self._collect()

    # -- loading ---------------------------------------------------------------

    def _load_entry_points(self) -> None:
        allow = self._allow
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else "(unknown)"
            version = ep.dist.version if ep.dist is not None else ""
            if allow is not None and ep.name not in allow and dist not in allow:
                continue
            name = ep.name if ep.name not in self.plugins else f"{dist}:{ep.name}"
            try:
                obj = ep.load()
            except (Exception, SystemExit) as exc:  # a broken plugin must not take the CLI down
                self.failures.append((name, f"{dist}: import failed: {type(exc).__name__}: {exc}"))
                continue
            self.add_plugin(obj, name, dist, version)

    def _load_directory(self, directory: Path) -> None:
        """Load each ``*.py`` file of ``directory`` as a plugin named after the file."""
        if not directory.is_dir():
            self.failures.append((str(directory), f"plugins directory {directory}: "
                                                  f"not a directory"))
            return
        if LOCAL_PACKAGE not in sys.modules:  # a namespace for the local modules
            package = importlib.util.module_from_spec(
                importlib.machinery.ModuleSpec(LOCAL_PACKAGE, None, is_package=True))
            package.__path__ = []
            sys.modules[LOCAL_PACKAGE] = package
        for path in sorted(directory.glob("*.py")):
            stem = path.stem
            if stem.startswith("_") or (self._allow is not None and stem not in self._allow):
                continue
            name = stem if stem not in self.plugins else f"{path}"
            dist = f"local file {path}"
            module_name = f"{LOCAL_PACKAGE}.{stem}"
            try:
                module = sys.modules.get(module_name)
                if module is None or getattr(module, "__file__", None) != str(path):
                    spec = importlib.util.spec_from_file_location(module_name, path)
                    module = importlib.util.module_from_spec(spec)
                    sys.modules[module_name] = module
                    try:
                        spec.loader.exec_module(module)
                    except BaseException:
                        del sys.modules[module_name]
                        raise
            except (Exception, SystemExit) as exc:  # a broken file must not take the CLI down
                self.failures.append((name, f"{dist}: import failed: {type(exc).__name__}: {exc}"))
                continue
            self.add_plugin(module, name, dist, "")

    def add_plugin(self, obj, name: str, distribution: str, version: str) -> bool:
        """Register one plugin object; on a hook or API-version error report it and skip it."""
        refused = api_incompatibility(getattr(obj, "regsim_api", None))
        if refused:
            self.failures.append((name, f"{distribution}: {refused}"))
            return False
        try:
            self.pm.register(obj, name=name)
            self.pm.check_pending()
        except Exception as exc:
            if self.pm.is_registered(obj):
                self.pm.unregister(obj)
            self.failures.append((name, f"{distribution}: {type(exc).__name__}: {exc}"))
            return False
        hooks = sorted(h.name for h in self.pm.get_hookcallers(obj) or [])
        self.plugins[name] = PluginInfo(name, distribution, version, hooks)
        return True

    def _collect(self) -> None:
        for kind, (hook_name, base) in KINDS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                info = self.plugins[impl.plugin_name]
                try:
                    impl.function(register=functools.partial(self._register, kind, base, info))
                except RegistryError:
                    raise
                except (Exception, SystemExit) as exc:
                    self.failures.append(
                        (info.name, f"{info.distribution}: {hook_name} raised "
                                    f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
                    )

    def _register(self, kind: str, base: type, info: PluginInfo, cls: type) -> None:
        problem = declaration_problem(kind, base, cls)
        if problem:  # reported and skipped, like a plugin that fails to import
            self.failures.append((info.name, f"{info.distribution}: {problem}"))
            return
        name = cls.name
        existing = self.components[kind].get(name)
        if existing is not None and existing.cls is not cls:
            a, b = existing.plugin, info
            raise RegistryError(
                f"{kind} name {name!r} is claimed by two plugins: "
                f"{a.name} from {a.distribution} {a.version} ({existing.cls.__module__}."
                f"{existing.cls.__qualname__}) and {b.name} from {b.distribution} {b.version} "
                f"({cls.__module__}.{cls.__qualname__})"
            )
        self.components[kind][name] = Registered(cls, info)
        info.components.setdefault(kind, [])
        if name not in info.components[kind]:
            info.components[kind].append(name)

    # -- lookup ----------------------------------------------------------------

    def names(self, kind: str) -> list[str]:
        return sorted(self.components[kind])

    def get(self, kind: str, name: str, where: str | None = None) -> type:
        """The class registered as ``name``; a :class:`SpecError` listing the installed ones otherwise."""
        try:
            return self.components[kind][name].cls
        except KeyError:
            installed = ", ".join(self.names(kind)) or "(none installed)"
            raise SpecError(
                f"{where or kind}: unknown {kind} plugin {name!r}; installed: {installed}"
            ) from None

    def plugin_of(self, kind: str, name: str) -> PluginInfo:
        return self.components[kind][name].plugin

    @property
    def hook(self):
        return self.pm.hook


def declaration_problem(kind: str, base: type, cls) -> str | None:
    """What is wrong with the declarations of a class registered as a ``kind``, or ``None``.

    Checked when plugins load, so a malformed component is reported by name and
    skipped instead of failing a sweep: the base class, a non-empty string
    ``name``, ``params`` mapping names to :class:`regsim.Param`, and ``columns``
    (metrics, learners, ensemblers) mapping names to one of
    :data:`regsim.COLUMN_TYPES`.
    """
    from .components import COLUMN_TYPES
    from .params import Param

    if not (isinstance(cls, type) and issubclass(cls, base)):
        return f"registered {cls!r} as a {kind}; it must be a subclass of regsim.{base.__name__}"
    name = getattr(cls, "name", "")
    if not name or not isinstance(name, str):
        return f"{kind} class {cls.__qualname__} has no name (set the class attribute `name`)"
    where = f"{kind} {name!r} ({cls.__module__}.{cls.__qualname__})"
    params = getattr(cls, "params", {})
    if base is not Plot:
        if not isinstance(params, dict):
            return f"{where}: params must be a dict of name -> regsim.Param, got {type(params).__name__}"
        for key, param in params.items():
            if not isinstance(key, str) or not isinstance(param, Param):
                return f"{where}: params[{key!r}] must be a regsim.Param, got {param!r}"
            if param.type not in (float, int, str, bool, list):
                return (f"{where}: params[{key!r}]: type must be float, int, str, bool or list, "
                        f"got {param.type!r}")
            if not param.required and not (param.default is None and param.nullable):
                try:  # a default outside its own bounds would make every spec that omits it fail
                    param.check(f"params[{key!r}] default", param.default)
                except SpecError as exc:
                    return f"{where}: {exc}"
    columns = getattr(cls, "columns", {})
    if base in (Metric, Learner, Ensembler):
        if not isinstance(columns, dict):
            return f"{where}: columns must be a dict of column name -> type name, got {columns!r}"
        for col, kind_name in columns.items():
            if not isinstance(col, str) or kind_name not in COLUMN_TYPES:
                return (f"{where}: columns[{col!r}] must be one of {', '.join(map(repr, COLUMN_TYPES))}, "
                        f"got {kind_name!r}")
    return None


def _allowed_plugins() -> set[str] | None:
    allowed = os.environ.get(LOAD_PLUGINS_ENV)
    return None if allowed is None else {s.strip() for s in allowed.split(",") if s.strip()}


_COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
            "==": operator.eq, "!=": operator.ne}
_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)?\s*(\d+)\s*$")


def api_incompatibility(requirement, provided: int | None = None) -> str | None:
    """Why a plugin requiring ``requirement`` cannot load, or ``None`` if it can.

    ``requirement`` is ``None`` (no requirement), an int ``N`` (``>= N``) or a
    string of comma-separated clauses like ``">=1,<3"``.
    """
    from . import PLUGIN_API_VERSION, __version__

    provided = PLUGIN_API_VERSION if provided is None else provided
    if requirement is None:
        return None
    text = f">={requirement}" if isinstance(requirement, int) else str(requirement)
    clauses = [_CLAUSE.match(c) for c in text.split(",")]
    if isinstance(requirement, bool) or not all(clauses):
        return (f"invalid regsim_api requirement {requirement!r}; use an int or a string "
                f"like '>=1' or '>=1,<3'")
    for match in clauses:
        op, number = match.group(1) or "==", int(match.group(2))
        if not _COMPARE[op](provided, number):
            newer = op in (">=", ">", "==") and number > provided
            hint = ("upgrade regsim" if newer else "use a version of the plugin written for it")
            return (f"requires regsim plugin API {text}, but regsim {__version__} provides "
                    f"plugin API {provided}; {hint}")
    return None


@functools.cache
def get_registry() -> Registry:
    """The per-process registry (built lazily, so workers load entry points themselves)."""
    return Registry()
