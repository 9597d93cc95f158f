"""Sweep specs: load (YAML ``safe_load`` or a dict), validate, expand into cells.

A spec names each component with ``plugin:`` and its parameters::

    name: l2-shrinkage
    seeds: 10
    problem:  {plugin: linear_regression, n_train: 200, condition: [10, 1000]}
    learner:  {plugin: least_squares}
    penalty:  {plugin: l2, alpha: {logspace: [-3, 3, 61]}}
    metrics:  [test_mse, theory_gap, shrinkage]

Any parameter may be an axis: a list, ``{logspace: [lo, hi, n]}`` (powers of
ten) or ``{linspace: [lo, hi, n]}``; a list of components is an axis too. Axes
cross; ``zip: [[problem.n_train, problem.noise]]`` makes the listed axes move
together; ``seeds: N`` (or a list of ints) replicates every point. Nothing in
a spec is evaluated.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .params import Param, SpecError, validate_params
from .registry import Registry, get_registry

__all__ = ["Spec", "Cell", "load_spec", "SLOTS", "canonical_json"]

#: spec key -> component kind; the order is the order of result columns
SLOTS = {
    "problem": "problem",
    "learner": "learner",
    "penalty": "penalty",
    "ensembler": "ensembler",
    "inference": "inference",
}
REQUIRED_SLOTS = ("problem", "learner", "penalty")
TOP_LEVEL = ("name", "seeds", *SLOTS, "metrics", "zip")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and shortest float repr: equal parameters, equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _digest(obj: Any) -> str:
    return _hash(canonical_json(obj))


@dataclass(frozen=True)
class Cell:
    """One point of a sweep: a concrete component per slot, the metrics and a seed.

    ``cell_id`` hashes the canonical parameters and seed (stable across runs,
    independent of key order). ``group`` hashes the same without *path*
    parameters: cells of one group run as one batched computation.
    """

    components: dict  # slot -> {"plugin": name, **params} (or None for absent slots)
    metrics: tuple
    seed: int
    cell_id: str = field(compare=False)
    group: str = field(compare=False)

    def as_dict(self) -> dict:
        return {"components": self.components, "metrics": list(self.metrics), "seed": self.seed}


@dataclass
class Spec:
    """A validated sweep: its name, the raw mapping it came from and its cells."""

    name: str
    raw: dict
    cells: list[Cell]
    metrics: list[str]
    source: str | None = None

    @property
    def spec_hash(self) -> str:
        return _digest(self.raw)

    def __len__(self) -> int:
        return len(self.cells)


def load_spec(spec: str | Path | dict, registry: Registry | None = None) -> Spec:
    """Load and validate a spec from a YAML file path or a mapping; expand its cells.

    Raises
    ------
    SpecError
        With the key path, the bad value and what is allowed; messages end with
        ``(in FILE)`` when the spec came from a file.
    """
    registry = registry or get_registry()
    source = None
    if isinstance(spec, (str, Path)):
        source = str(spec)
        try:
            text = Path(spec).read_text()
        except OSError as exc:
            raise SpecError(f"cannot read spec {spec}: {exc.strerror}") from None
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError(f"invalid YAML in {spec}: {exc}") from None
        if isinstance(raw, dict) and "name" not in raw:
            raw["name"] = Path(spec).stem
    else:
        raw = spec
    try:
        return _build(raw, registry, source)
    except SpecError as exc:
        if source:
            raise SpecError(f"{exc} (in {source})") from None
        raise


# --------------------------------------------------------------------------- validation


def _build(raw: Any, registry: Registry, source: str | None) -> Spec:
    if not isinstance(raw, dict):
        raise SpecError(f"spec: must be a mapping of {', '.join(TOP_LEVEL)}, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(TOP_LEVEL))
    if unknown:
        raise SpecError(f"{unknown[0]}: unknown top-level key; allowed: {', '.join(TOP_LEVEL)}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(
            f"name: must be a string of letters, digits, '_', '.', '-' (used as a directory), got {name!r}"
        )
    for slot in REQUIRED_SLOTS:
        if raw.get(slot) is None:
            raise SpecError(f"{slot}: required; give {{plugin: NAME, ...}} (installed: "
                            f"{', '.join(registry.names(SLOTS[slot]))})")
    seeds = _seeds(raw.get("seeds", 1))
    metrics = _metrics(raw.get("metrics"), registry)
    zips = _zip_groups(raw.get("zip"))
    slot_zips = [g for g in zips if "." not in g[0]]
    zipped = {path for group in zips for path in group if "." in path}

    # Expand each slot into concrete configurations per alternative, leaving
    # zipped parameter keys as separate axes.
    per_alt: dict[str, list[list[dict | None]]] = {}
    zip_axes: dict[str, list] = {}
    for slot, kind in SLOTS.items():
        value = raw.get(slot)
        if value is None:
            per_alt[slot] = [[None]]
            continue
        alternatives = value if isinstance(value, list) else [value]
        if not alternatives:
            raise SpecError(f"{slot}: an empty list; give at least one component")
        per_alt[slot] = [
            _expand_component(f"{slot}[{i}]" if isinstance(value, list) else slot, kind, alt,
                              registry, zipped, zip_axes, allow_zip=not isinstance(value, list))
            for i, alt in enumerate(alternatives)
        ]
    missing = zipped - set(zip_axes)
    if missing:
        raise SpecError(f"zip: {sorted(missing)[0]} is not an axis of a single component")

    # Axes: lists of partial assignments ({slot: config} or {"slot.key": value}); they cross.
    axes: list[list[dict]] = []
    in_slot_zip = {slot for group in slot_zips for slot in group}
    for slot in SLOTS:
        if slot not in in_slot_zip:
            axes.append([{slot: cfg} for alt in per_alt[slot] for cfg in alt])
    for group in slot_zips:
        lengths = {slot: len(per_alt[slot]) if isinstance(raw.get(slot), list) else None
                   for slot in group}
        if None in lengths.values() or len(set(lengths.values())) != 1:
            desc = ", ".join(f"{k} has {'no list' if n is None else n}" for k, n in lengths.items())
            raise SpecError(f"zip: component lists must have equal lengths; {desc}")
        axes.append([dict(zip(group, cfgs))
                     for i in range(next(iter(lengths.values())))
                     for cfgs in itertools.product(*(per_alt[slot][i] for slot in group))])
    for group in zips:
        if "." in group[0]:
            lengths = {p: len(zip_axes[p]) for p in group}
            if len(set(lengths.values())) != 1:
                desc = ", ".join(f"{p} has {n}" for p, n in lengths.items())
                raise SpecError(f"zip: axes must have equal lengths; {desc}")
            axes.append([dict(zip(group, vals)) for vals in zip(*(zip_axes[p] for p in group))])

    cells = []
    checked: set[tuple] = set()
    for combo in itertools.product(*axes):
        components = {slot: None for slot in SLOTS}
        for assignment in combo:
            for key, v in assignment.items():
                if "." in key:
                    slot, param = key.split(".", 1)
                    components[slot][param] = v
                else:
                    components[key] = dict(v) if v is not None else None
        for slot, comp in components.items():
            if comp is not None and any(f"{slot}.{k}" in zipped for k in comp):
                cls = registry.get(SLOTS[slot], comp["plugin"])
                params = {k: v for k, v in comp.items() if k != "plugin"}
                components[slot] = {"plugin": comp["plugin"],
                                    **validate_params(slot, cls.params, params)}
        names = tuple(None if c is None else c["plugin"] for c in components.values())
        if names not in checked:
            _check_compatibility(dict(zip(SLOTS, names)), registry)
            checked.add(names)
        for slot, comp in components.items():
            if comp is not None:
                reason = registry.get(SLOTS[slot], comp["plugin"]).check_cell(components)
                if reason:
                    raise SpecError(f"{slot}: {comp['plugin']!r}: {reason}")
        cells.extend(_make_cells(components, metrics, seeds, registry))
    seen: dict[str, Cell] = {}
    for cell in cells:
        if cell.cell_id in seen:  # a repeated axis value: same cell_id, duplicate rows
            desc = ", ".join(f"{slot}={_describe(comp)}" for slot, comp in cell.components.items()
                             if comp is not None)
            raise SpecError(f"spec: the axes give the same cell twice ({desc}, seed={cell.seed}); "
                            f"remove the repeated value from its list")
        seen[cell.cell_id] = cell
    return Spec(name=name, raw=raw, cells=cells, metrics=metrics, source=source)


def _describe(comp: dict) -> str:
    params = ", ".join(f"{k}={v!r}" for k, v in comp.items() if k != "plugin")
    return f"{comp['plugin']}({params})"


def _make_cells(components: dict, metrics: list[str], seeds: list[int],
                registry: Registry) -> list[Cell]:
    """One cell per seed of one combination of components.

    ``cell_id`` is the digest of ``canonical_json({"components", "metrics",
    "seed"})``; ``group`` the same with path parameters left out. The keys sort
    as written and the seed comes last, so the canonical text of the rest is
    made once per combination and each seed appended to it (expanding 100,000
    cells would otherwise spend most of its time in ``json.dumps``).
    """
    unbatched = {}
    for slot, comp in components.items():
        if comp is None:
            unbatched[slot] = None
            continue
        cls = registry.get(SLOTS[slot], comp["plugin"])
        unbatched[slot] = {k: v for k, v in comp.items()
                           if k == "plugin" or not cls.params[k].path}
    ident = canonical_json({"components": components, "metrics": metrics})[:-1]
    group = canonical_json({"components": unbatched, "metrics": metrics})[:-1]
    frozen = tuple(metrics)
    return [Cell(components=components, metrics=frozen, seed=seed,
                 cell_id=_hash(f'{ident},"seed":{seed}}}'), group=_hash(f'{group},"seed":{seed}}}'))
            for seed in seeds]


def _seeds(value: Any) -> list[int]:
    if isinstance(value, bool):
        raise SpecError(f"seeds: must be a positive integer or a list of integers, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise SpecError(f"seeds: must be >= 1, got {value}")
        return list(range(value))
    if isinstance(value, list) and value and all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value
    ):
        if len(set(value)) != len(value):
            raise SpecError(f"seeds: duplicate seeds in {value}")
        return list(value)
    raise SpecError(f"seeds: must be a positive integer or a list of non-negative integers, got {value!r}")


def _metrics(value: Any, registry: Registry) -> list[str]:
    installed = registry.names("metric")
    if value is None:
        return [n for n in installed if getattr(registry.get("metric", n), "default", False)]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise SpecError(f"metrics: must be a list of metric names, got {value!r}")
    for i, name in enumerate(value):
        if not isinstance(name, str):
            raise SpecError(f"metrics[{i}]: must be a metric name, got {name!r}")
        registry.get("metric", name, where=f"metrics[{i}]")
    if len(set(value)) != len(value):
        raise SpecError(f"metrics: listed twice: {sorted({v for v in value if value.count(v) > 1})}")
    return list(value)


def _zip_groups(value: Any) -> list[list[str]]:
    if value is None:
        return []
    ok = isinstance(value, list) and all(
        isinstance(g, list) and len(g) >= 2 and all(isinstance(p, str) for p in g)
        and (all("." in p for p in g) or all(p in SLOTS for p in g))
        for g in value
    )
    if not ok:
        raise SpecError(f"zip: must be a list of groups, each of parameter paths like "
                        f"[problem.n_train, problem.noise] or of component slots like "
                        f"[learner, penalty], got {value!r}")
    seen = [p for g in value for p in g]
    if len(set(seen)) != len(seen):
        raise SpecError("zip: a key path appears in more than one group")
    return value


def _axis_values(where: str, param: Param, value: Any) -> list | None:
    """The values of an axis, or ``None`` when ``value`` is a single value."""
    if isinstance(value, dict):
        if len(value) != 1 or next(iter(value)) not in ("logspace", "linspace"):
            raise SpecError(f"{where}: must be a single {param.describe()}, a list of them (an axis), "
                            f"{{logspace: [lo, hi, n]}} or {{linspace: [lo, hi, n]}}; got {value!r}")
        kind, args = next(iter(value.items()))
        if (not isinstance(args, list) or len(args) != 3
                or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
                or int(args[2]) != args[2] or args[2] < 1):
            unit = "powers of ten: 10**lo .. 10**hi" if kind == "logspace" else "lo .. hi"
            raise SpecError(f"{where}.{kind}: must be [lo, hi, n] ({unit}, n a positive integer "
                            f"number of points), got {args!r}")
        lo, hi, n = args
        grid = np.logspace(lo, hi, int(n)) if kind == "logspace" else np.linspace(lo, hi, int(n))
        return [int(v) if param.type is int else float(v) for v in grid]
    if isinstance(value, list):
        if param.type is list and not all(isinstance(v, list) for v in value):
            return None  # a list-valued parameter given one list
        if not value:
            raise SpecError(f"{where}: an empty axis; give at least one value")
        return list(value)
    return None


def _expand_component(where: str, kind: str, value: Any, registry: Registry, zipped: set,
                      zip_axes: dict, allow_zip: bool) -> list[dict]:
    if not isinstance(value, dict) or "plugin" not in value:
        installed = ", ".join(registry.names(kind))
        raise SpecError(f"{where}: must be a mapping with 'plugin: NAME' (installed: {installed}), "
                        f"got {value!r}")
    name = value["plugin"]
    if not isinstance(name, str):
        raise SpecError(f"{where}.plugin: must be a plugin name, got {name!r}")
    cls = registry.get(kind, name, where=f"{where}.plugin")
    given = {k: v for k, v in value.items() if k != "plugin"}
    unknown = sorted(set(given) - set(cls.params))
    if unknown:
        allowed = ", ".join(sorted(cls.params)) or "(none)"
        raise SpecError(f"{where}.{unknown[0]}: unknown parameter of {kind} {name!r}; allowed: {allowed}")
    fixed, axes = {}, {}
    for key, v in given.items():
        vals = _axis_values(f"{where}.{key}", cls.params[key], v)
        path = f"{where}.{key}"
        if vals is None:
            if path in zipped:
                raise SpecError(f"zip: {path} is a single value, not an axis")
            fixed[key] = v
        elif path in zipped:
            if not allow_zip:
                raise SpecError(f"zip: {path} is inside a list of components; zip axes of a single component")
            for i, item in enumerate(vals):
                cls.params[key].check(f"{path}[{i}]", item)
            zip_axes[path] = vals
        else:
            for i, item in enumerate(vals):
                cls.params[key].check(f"{path}[{i}]", item)
            axes[key] = vals
    out = []
    for combo in itertools.product(*axes.values()):
        params = {**fixed, **dict(zip(axes, combo))}
        zipped_here = {p.split(".", 1)[1] for p in zip_axes if p.startswith(where + ".")}
        checked = validate_params(where, {k: p for k, p in cls.params.items() if k not in zipped_here},
                                  params)
        out.append({"plugin": name, **checked})
    return out


def _check_compatibility(names: dict[str, str | None], registry: Registry) -> None:
    """Errors for a learner that cannot fit the penalty or a strategy that cannot combine the ensemble."""
    learner, penalty = names["learner"], names["penalty"]
    reason = registry.get("learner", learner).accepts(registry.get("penalty", penalty))
    if reason:
        raise SpecError(f"learner: {learner!r} cannot fit penalty {penalty!r}: {reason} "
                        f"(to pair a list of learners with a list of penalties: zip: [[learner, penalty]])")
    ens, strat = names["ensembler"], names["inference"]
    if strat is not None and ens is None:
        raise SpecError("inference: an inference strategy needs an ensembler; add 'ensembler: {plugin: ...}'")
    if ens is None:
        return
    reason = registry.get("ensembler", ens).accepts_learner(registry.get("learner", learner))
    if reason:
        raise SpecError(f"ensembler: {ens!r} cannot build on learner {learner!r}: {reason}")
    produces = registry.get("ensembler", ens).produces
    compatible = sorted(n for n in registry.names("inference")
                        if produces in registry.get("inference", n).accepts)
    if strat is None:
        raise SpecError(f"inference: ensembler {ens!r} needs an inference strategy; "
                        f"compatible: {', '.join(compatible) or '(none installed)'}")
    if produces not in registry.get("inference", strat).accepts:
        raise SpecError(f"inference: {strat!r} cannot combine {produces!r} ensembles "
                        f"(from ensembler {ens!r}); compatible: {', '.join(compatible) or '(none)'}")
