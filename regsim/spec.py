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

Validation is bounded whatever the spec: the YAML is read with limits (size,
nesting, alias expansion), a spec is *planned* (:func:`plan_spec`) into lazy
axes whose cell count is a product of lengths, and cells are generated one by
one from the plan. Specs above :data:`MAX_CELLS` cells are refused with their
count before any cell exists.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import yaml

from .components import Component
from .params import INT64_MAX, Param, SpecError, _yaml11_number, brief, key_text, validate_params
from .registry import Registry, get_registry

__all__ = ["Spec", "Cell", "SpecPlan", "load_spec", "plan_spec", "checked_plan", "SLOTS", "FIT_SLOTS", "canonical_json",
           "MAX_CELLS", "VALIDATE_CELL_CHECKS", "MAX_AXIS_POINTS", "MAX_SPEC_BYTES", "MAX_NAME_BYTES"]

#: spec key -> component kind; the order is the order of result columns
SLOTS = {
    "problem": "problem",
    "learner": "learner",
    "penalty": "penalty",
    "ensembler": "ensembler",
    "inference": "inference",
}
REQUIRED_SLOTS = ("problem", "learner", "penalty")
#: The slots a fit depends on: cells equal in these (path parameters aside) and
#: in the seed share one fit whatever their inference strategy (``Cell.fit_group``).
FIT_SLOTS = ("problem", "learner", "penalty", "ensembler")
TOP_LEVEL = ("name", "seeds", *SLOTS, "metrics", "zip")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

#: Largest sweep, in cells, that a spec may describe (split a larger study into sweeps).
MAX_CELLS = 10_000_000
#: Most points one ``logspace``/``linspace`` axis may have.
MAX_AXIS_POINTS = 100_000
#: Largest spec file read (specs are a few hundred bytes; PyYAML's pure-Python scanner,
#: needed for the limits below, reads about a megabyte in several seconds).
MAX_SPEC_BYTES = 64 * 1024
#: Most YAML nodes a spec may have once its aliases are expanded ("billion laughs").
MAX_YAML_NODES = 100_000
#: Deepest YAML nesting read.
MAX_YAML_DEPTH = 64
#: Longest sweep ``name``: a directory name (NAME_MAX is 255 bytes) with room for suffixes.
MAX_NAME_BYTES = 200
#: Combinations whose per-cell limits (``check_cell``) ``regsim validate`` checks (about a second).
VALIDATE_CELL_CHECKS = 50_000
#: Most distinct batched groups counted per axis before the count is given up as too costly.
_GROUP_COUNT_CAP = 100_000


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
    ``fit_group`` hashes the problem, learner, penalty and ensembler without
    their path parameters, and the seed (not the inference strategy, not the
    metrics): the groups of one fit group share one problem instance and one
    fit, and each inference strategy reads it. A fit group is a union of
    whole groups; chunking keeps it together (``regsim.runner.group_cells``).
    """

    components: dict  # slot -> {"plugin": name, **params} (or None for absent slots)
    metrics: tuple
    seed: int
    cell_id: str = field(compare=False)
    group: str = field(compare=False)
    fit_group: str = field(default="", compare=False)

    def __post_init__(self):
        if not self.fit_group:  # a cell built by hand: its group is its fit group
            object.__setattr__(self, "fit_group", self.group)

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
        ``(in FILE)`` when the spec came from a file. A spec of more than
        :data:`MAX_CELLS` cells is refused with its count before any cell is built.
    """
    plan = plan_spec(spec, registry)
    try:
        plan.check()
        cells = list(plan.iter_cells())
    except SpecError as exc:
        raise plan.located(exc) from None
    return Spec(name=plan.name, raw=plan.raw, cells=cells, metrics=plan.metrics,
                source=plan.source)


def plan_spec(spec: str | Path | dict, registry: Registry | None = None) -> "SpecPlan":
    """Read and validate the structure of a spec without building its cells.

    The plan knows the cell count (:attr:`SpecPlan.n_cells`) and generates cells
    lazily (:meth:`SpecPlan.iter_cells`); :meth:`SpecPlan.check` runs the checks
    that look across components (capabilities, per-cell limits, the cell limit).
    Time and memory are bounded by the size of the spec text, not its cell count.
    """
    registry = registry or get_registry()
    source = None
    if isinstance(spec, (str, Path)):
        source = str(spec)
        raw = read_yaml(spec)
        if isinstance(raw, dict) and "name" not in raw:
            raw["name"] = Path(spec).stem
    else:
        raw = spec
    try:
        return SpecPlan(raw, registry, source)
    except SpecError as exc:
        if source:
            raise SpecError(f"{exc} (in {source})") from None
        raise


# --------------------------------------------------------------------------- bounded YAML


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a nesting limit (its composer recurses per level)."""

    depth = 0

    def fetch_flow_collection_start(self, TokenClass):
        # the scanner's work per token grows with the flow level: stop before it is quadratic
        if self.flow_level >= MAX_YAML_DEPTH:
            raise SpecError(f"spec: nested deeper than {MAX_YAML_DEPTH} levels at line "
                            f"{self.get_mark().line + 1}")
        return super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise SpecError(f"spec: nested deeper than {MAX_YAML_DEPTH} levels at line "
                                f"{mark.line + 1}")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _bounded_loader(text: str):
    """A safe loader for ``text`` whose nesting is known to be within :data:`MAX_YAML_DEPTH`.

    With libyaml, a first pass over the events (no recursion, C speed) checks the
    depth, then libyaml composes; PyYAML's pure-Python loader, which checks as it
    goes, is about fifty times slower and only used where libyaml is missing.
    """
    if not getattr(yaml, "__with_libyaml__", False):
        return _BoundedLoader(text)
    depth = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise SpecError(f"spec: nested deeper than {MAX_YAML_DEPTH} levels at line "
                                f"{event.start_mark.line + 1}")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return yaml.CSafeLoader(text)


def _expanded_size(node: yaml.Node, memo: dict) -> int:
    """Nodes of ``node`` with every alias expanded, computed once per node (memoised)."""
    key = id(node)
    if key in memo:
        if memo[key] is None:
            raise SpecError(f"spec: a YAML alias refers to itself (line {node.start_mark.line + 1})")
        return memo[key]
    memo[key] = None
    if isinstance(node, yaml.ScalarNode):
        size = 1 + len(node.value) // 64
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(child, memo) for child in node.value)
    else:
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    if size > MAX_YAML_NODES:
        raise SpecError(f"spec: more than {MAX_YAML_NODES} values once YAML aliases are expanded "
                        f"(near line {node.start_mark.line + 1}); write the values out or use fewer "
                        f"aliases")
    memo[key] = size
    return size


def read_yaml(path: str | Path) -> Any:
    """The YAML document at ``path``, read safely and within bounds.

    Raises :class:`SpecError` (one line, naming the file) for an unreadable,
    oversized, non-UTF-8 or malformed file, nesting deeper than
    :data:`MAX_YAML_DEPTH` or more than :data:`MAX_YAML_NODES` values after
    alias expansion. Nothing in the file is evaluated.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read spec {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"spec: the file is larger than {MAX_SPEC_BYTES} bytes (in {path})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"spec: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                        f"{exc.start}); save the file as UTF-8 (in {path})") from None
    loader = None
    try:
        loader = _bounded_loader(text)  # reads the stream at once: may raise a ReaderError
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {})
        return loader.construct_document(node)
    except SpecError as exc:
        raise SpecError(f"{exc} (in {path})") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = " ".join(filter(None, (exc.context, exc.problem)))
        raise SpecError(f"invalid YAML in {path}: {where}{_one_line(what)}") from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        # e.g. a date that does not exist, an integer of more than 4300 digits
        raise SpecError(f"invalid YAML in {path}: {_one_line(str(exc)) or type(exc).__name__}") \
            from None
    finally:
        if loader is not None:
            loader.dispose()


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- lazy axes


def _canon(value: Any) -> str:
    return canonical_json(value)


def _radix(i: int, sizes: list[int]) -> list[int]:
    """Digits of ``i`` in the mixed radix ``sizes``, last digit fastest (itertools.product order)."""
    digits = [0] * len(sizes)
    for pos in range(len(sizes) - 1, -1, -1):
        i, digits[pos] = divmod(i, sizes[pos])
    return digits


class _Alternative:
    """One component of a slot: its fixed parameters and its own parameter axes (they cross)."""

    def __init__(self, where: str, slot: str, cls: type, fixed: dict, axes: dict[str, list],
                 zipped: dict[str, list]):
        self.where, self.slot, self.cls, self.plugin = where, slot, cls, cls.name
        self.fixed, self.axes, self.zipped = fixed, axes, zipped
        self.order = [k for k in cls.params if k not in zipped]
        self.sizes = [len(v) for v in axes.values()]
        self.n = math.prod(self.sizes)

    def __len__(self) -> int:
        return self.n

    def config(self, i: int) -> dict:
        params = dict(self.fixed)
        for (key, values), digit in zip(self.axes.items(), _radix(i, self.sizes)):
            params[key] = values[digit]
        return {"plugin": self.plugin, **{k: params[k] for k in self.order}}

    def value_sets(self) -> dict[str, set]:
        """Every parameter's possible values (canonical text)."""
        out = {k: {_canon(v)} for k, v in self.fixed.items()}
        out.update({k: {_canon(v) for v in values} for k, values in self.axes.items()})
        return out

    def tasks(self) -> set:
        """The tasks this problem alternative produces (``{None}``: not declared)."""
        task_param = getattr(self.cls, "task_param", None)
        if task_param is None:
            return {getattr(self.cls, "task", None)}
        values = self.axes.get(task_param) or self.zipped.get(task_param) or [
            self.fixed.get(task_param)]
        return {self.cls.task_for({task_param: v}) for v in values}

    def n_unbatched(self) -> int:
        """Distinct configurations without path parameters (the values of an axis are distinct)."""
        return math.prod(len(v) for k, v in self.axes.items() if not self.cls.params[k].path)

    def unbatched(self, cap: int) -> set | None:
        """Distinct configurations without path parameters (canonical text), or None past ``cap``."""
        keep = [k for k, values in self.axes.items() if not self.cls.params[k].path]
        if math.prod(len(self.axes[k]) for k in keep) > cap:
            return None
        fixed = {k: v for k, v in self.fixed.items() if not self.cls.params[k].path}
        return {_canon([self.plugin, fixed, combo])
                for combo in itertools.product(*(self.axes[k] for k in keep))}


class _Absent:
    """A slot the spec leaves out."""

    plugin = None
    cls = None
    n = 1

    def __len__(self) -> int:
        return 1

    def config(self, i: int) -> None:
        return None

    def tasks(self) -> set:
        return {None}

    def unbatched(self, cap: int) -> set:
        return {"null"}

    def n_unbatched(self) -> int:
        return 1


class _SlotAxis:
    """A slot's alternatives one after the other: ``{slot: config}`` per entry."""

    def __init__(self, slot: str, alternatives: list):
        self.slot, self.alternatives = slot, alternatives
        self.starts = list(itertools.accumulate((len(a) for a in alternatives), initial=0))

    def __len__(self) -> int:
        return self.starts[-1]

    def item(self, i: int) -> dict:
        a = bisect.bisect_right(self.starts, i) - 1
        return {self.slot: self.alternatives[a].config(i - self.starts[a])}

    def capabilities(self) -> list[dict]:
        return [{self.slot: (alt.plugin, task)} for alt in self.alternatives for task in alt.tasks()]

    def unbatched(self, cap: int) -> int | None:
        plugins = [alt.plugin for alt in self.alternatives]
        if len(set(plugins)) == len(plugins):  # different plugins never share a group
            return sum(alt.n_unbatched() for alt in self.alternatives)
        seen: set = set()
        for alt in self.alternatives:
            keys = alt.unbatched(cap)
            if keys is None:
                return None
            seen |= keys
            if len(seen) > cap:
                return None
        return len(seen)


class _SlotZipAxis:
    """Component lists of several slots moving together (``zip: [[learner, penalty]]``)."""

    def __init__(self, slots: list[str], alternatives: dict[str, list]):
        self.slots, self.alternatives = slots, alternatives
        n = len(alternatives[slots[0]])
        self.block_sizes = [[len(alternatives[s][i]) for s in slots] for i in range(n)]
        self.starts = list(itertools.accumulate((math.prod(b) for b in self.block_sizes), initial=0))

    def __len__(self) -> int:
        return self.starts[-1]

    def item(self, i: int) -> dict:
        b = bisect.bisect_right(self.starts, i) - 1
        digits = _radix(i - self.starts[b], self.block_sizes[b])
        return {s: self.alternatives[s][b].config(d) for s, d in zip(self.slots, digits)}

    def capabilities(self) -> list[dict]:
        out = []
        for b in range(len(self.block_sizes)):
            alts = [self.alternatives[s][b] for s in self.slots]
            for tasks in itertools.product(*(sorted(a.tasks(), key=str) for a in alts)):
                out.append({s: (a.plugin, t) for s, a, t in zip(self.slots, alts, tasks)})
        return out

    def unbatched(self, cap: int) -> int | None:
        blocks = [tuple(self.alternatives[s][b].plugin for s in self.slots)
                  for b in range(len(self.block_sizes))]
        if len(set(blocks)) == len(blocks):
            return sum(math.prod(self.alternatives[s][b].n_unbatched() for s in self.slots)
                       for b in range(len(blocks)))
        seen: set = set()
        for b in range(len(self.block_sizes)):
            parts = [self.alternatives[s][b].unbatched(cap) for s in self.slots]
            if any(p is None for p in parts) or math.prod(len(p) for p in parts) > cap:
                return None
            seen.update(itertools.product(*parts))
            if len(seen) > cap:
                return None
        return len(seen)


class _ParamZipAxis:
    """Parameter axes moving together (``zip: [[problem.n_train, problem.noise]]``)."""

    def __init__(self, paths: list[str], values: dict[str, list], path_params: set[str]):
        self.paths, self.values, self.path_params = paths, values, path_params

    def __len__(self) -> int:
        return len(self.values[self.paths[0]])

    def item(self, i: int) -> dict:
        return {p: self.values[p][i] for p in self.paths}

    def capabilities(self) -> list[dict]:
        return [{}]

    def unbatched(self, cap: int) -> int | None:
        keep = [p for p in self.paths if p not in self.path_params]
        return len({_canon([self.values[p][i] for p in keep]) for i in range(len(self))})


# --------------------------------------------------------------------------- the plan


class SpecPlan:
    """A spec validated axis by axis, not yet expanded: counts, capabilities, lazy cells."""

    def __init__(self, raw: Any, registry: Registry, source: str | None = None):
        self.raw, self.registry, self.source = raw, registry, source
        if not isinstance(raw, dict):
            raise SpecError(f"spec: must be a mapping of {', '.join(TOP_LEVEL)}, "
                            f"got {type(raw).__name__}")
        unknown = sorted(set(raw) - set(TOP_LEVEL), key=str)
        if unknown:
            raise SpecError(f"{key_text(unknown[0])}: unknown top-level key; allowed: "
                            f"{', '.join(TOP_LEVEL)}")
        self.name = _sweep_name(raw.get("name"))
        for slot in REQUIRED_SLOTS:
            if raw.get(slot) is None:
                raise SpecError(f"{slot}: required; give {{plugin: NAME, ...}} (installed: "
                                f"{', '.join(registry.names(SLOTS[slot]))})")
        self.seeds = _seeds(raw.get("seeds", 1))
        self.metrics = _metrics(raw.get("metrics"), registry)
        zips = _zip_groups(raw.get("zip"))
        slot_zips = [g for g in zips if "." not in g[0]]
        zipped = {path for group in zips for path in group if "." in path}

        per_alt: dict[str, list] = {}
        zip_axes: dict[str, list] = {}
        self.zip_classes: dict[str, type] = {}  # slot -> class, for slots with zipped keys
        for slot, kind in SLOTS.items():
            value = raw.get(slot)
            if value is None:
                per_alt[slot] = [_Absent()]
                continue
            alternatives = value if isinstance(value, list) else [value]
            if not alternatives:
                raise SpecError(f"{slot}: an empty list; give at least one component")
            built: dict[int, _Alternative] = {}  # YAML aliases repeat one object: build it once
            per_alt[slot] = []
            for i, alt in enumerate(alternatives):
                if id(alt) not in built:
                    built[id(alt)] = _alternative(
                        f"{slot}[{i}]" if isinstance(value, list) else slot, slot, kind, alt,
                        registry, zipped, zip_axes, allow_zip=not isinstance(value, list))
                per_alt[slot].append(built[id(alt)])
            if not isinstance(value, list) and any(p.startswith(slot + ".") for p in zipped):
                self.zip_classes[slot] = per_alt[slot][0].cls
            if not any(slot in group for group in slot_zips):  # zipped lists: per entry, below
                _check_overlap(slot, per_alt[slot])
        missing = zipped - set(zip_axes)
        if missing:
            raise SpecError(f"zip: {sorted(missing)[0]} is not an axis of a single component")

        axes: list = []
        in_slot_zip = {slot for group in slot_zips for slot in group}
        for slot in SLOTS:
            if slot not in in_slot_zip:
                axes.append(_SlotAxis(slot, per_alt[slot]))
        for group in slot_zips:
            lengths = {slot: len(per_alt[slot]) if isinstance(raw.get(slot), list) else None
                       for slot in group}
            if None in lengths.values() or len(set(lengths.values())) != 1:
                desc = ", ".join(f"{k} has {'no list' if n is None else n}" for k, n in lengths.items())
                raise SpecError(f"zip: component lists must have equal lengths; {desc}")
            _check_zip_overlap(group, per_alt)
            axes.append(_SlotZipAxis(group, {s: per_alt[s] for s in group}))
        for group in zips:
            if "." in group[0]:
                lengths = {p: len(zip_axes[p]) for p in group}
                if len(set(lengths.values())) != 1:
                    desc = ", ".join(f"{p} has {n}" for p, n in lengths.items())
                    raise SpecError(f"zip: axes must have equal lengths; {desc}")
                tuples = [_canon([zip_axes[p][i] for p in group]) for i in range(lengths[group[0]])]
                if len(set(tuples)) != len(tuples):
                    raise SpecError(f"zip: the axes {', '.join(group)} give the same cell twice "
                                    f"(a repeated combination of values); remove the repeated "
                                    f"value from its list")
                paths = {p for p in group
                         if self.zip_classes[p.split(".", 1)[0]].params[p.split(".", 1)[1]].path}
                axes.append(_ParamZipAxis(group, {p: zip_axes[p] for p in group}, paths))
        self.per_alt = per_alt
        self.axes = axes
        self.sizes = [len(a) for a in axes]
        #: Number of distinct component combinations (cells without the seed axis).
        self.n_points = math.prod(self.sizes)
        #: Number of cells: points times seeds.
        self.n_cells = self.n_points * len(self.seeds)

    # ------------------------------------------------------------------ counts

    @property
    def n_groups(self) -> int | None:
        """Batched groups, counted without expanding (``None`` when too costly to count)."""
        total = len(self.seeds)
        for axis in self.axes:
            n = axis.unbatched(_GROUP_COUNT_CAP)
            if n is None:
                return None
            total *= n
        return total

    def located(self, exc: SpecError) -> SpecError:
        """``exc`` with ``(in FILE)`` appended when the spec came from a file."""
        return SpecError(f"{exc} (in {self.source})") if self.source else exc

    # ------------------------------------------------------------------ checks

    def check(self, max_cell_checks: int | None = None) -> bool:
        """Cell limit, capabilities of every combination, per-cell limits; raise SpecError.

        Per-cell limits (``check_cell`` of components that define one) need each
        combination of components; ``max_cell_checks`` bounds how many are checked
        (``regsim validate`` checks the first :data:`VALIDATE_CELL_CHECKS`; the
        sweep checks all when it builds its cells). A spec whose every cell fails
        fails on the first. Returns whether every combination was checked.
        """
        if self.n_cells > MAX_CELLS:
            raise SpecError(f"spec: {self.n_cells:,} cells, more than the limit of {MAX_CELLS:,} "
                            f"({self.n_points:,} combinations x {len(self.seeds):,} seeds); split "
                            f"the study into several sweeps or use fewer axis points")
        tasks = set()
        for capability in self._capability_combinations():
            tasks.add(capability["problem"][1])
            _check_compatibility(capability, self.registry)
        _check_metrics(self.metrics, self.raw.get("metrics") is not None, tasks, self.registry)
        overriding = [slot for slot, alts in self.per_alt.items()
                      if any(a.cls is not None and _overrides_check_cell(a.cls) for a in alts)]
        if overriding:
            combinations = self.iter_components()
            if max_cell_checks is not None and self.n_points > max_cell_checks:
                combinations = itertools.islice(combinations, max_cell_checks)
            for components in combinations:
                for slot in overriding:
                    comp = components[slot]
                    if comp is None:
                        continue
                    cls = self.registry.get(SLOTS[slot], comp["plugin"])
                    reason = cls.check_cell(components)
                    if reason:
                        raise SpecError(f"{slot}: {comp['plugin']!r}: {reason}")
            return max_cell_checks is None or self.n_points <= max_cell_checks
        return True

    def _capability_combinations(self) -> list[dict]:
        """Distinct ``{slot: (plugin, task)}`` over the spec (task only for the problem)."""
        options = [list({tuple(sorted(o.items())): o for o in axis.capabilities()}.values())
                   for axis in self.axes]
        seen, out = set(), []
        for combo in itertools.product(*options):
            merged = {}
            for part in combo:
                merged.update(part)
            key = tuple(merged.get(s) for s in SLOTS)
            if key not in seen:
                seen.add(key)
                out.append({s: merged.get(s, (None, None)) for s in SLOTS})
        return out

    # ------------------------------------------------------------------ cells

    def iter_components(self, start: int = 0) -> Iterator[dict]:
        """Every combination of concrete components, in cell order, one at a time."""
        for i in range(start, self.n_points):
            yield self.components_at(i)

    def components_at(self, i: int) -> dict:
        """The components of combination ``i`` (cell order, ``0 <= i < n_points``)."""
        components = {slot: None for slot in SLOTS}
        zipped: dict[str, dict] = {}
        for axis, digit in zip(self.axes, _radix(i, self.sizes)):
            for key, value in axis.item(digit).items():
                if "." in key:
                    slot, param = key.split(".", 1)
                    zipped.setdefault(slot, {})[param] = value
                else:
                    components[key] = value
        for slot, values in zipped.items():
            comp = {**components[slot], **values}
            order = self.zip_classes[slot].params
            components[slot] = {"plugin": comp["plugin"], **{k: comp[k] for k in order}}
        return components

    def plugins(self) -> dict[str, set[str]]:
        """``{slot: {plugin names}}`` over every cell, without generating cells."""
        return {slot: {a.plugin for a in alts if a.plugin is not None}
                for slot, alts in self.per_alt.items()}

    # ------------------------------------------------------------------ groups, streamed

    def _layouts(self) -> list[tuple[list, list]] | None:
        """The spec as configurations whose batched groups are contiguous blocks, or None.

        A configuration fixes one alternative per slot axis (one block per
        zipped slot list); its *dims* are the parameter axes of those
        alternatives and the zipped parameter axes, each ``(size, is_path,
        axis_index, choice, key)``. Cells of one group differ only in path
        dims, so iterating non-path dims, then seeds, then path dims gives
        each group as one run of cells. None when a group could span
        configurations (one plugin twice in a component list, a zip mixing path
        and non-path parameters): :meth:`iter_groups` then groups in memory.
        """
        per_axis: list[list[tuple[Any, list]]] = []  # axis -> [(choice, dims)]
        for ax, axis in enumerate(self.axes):
            if isinstance(axis, _SlotAxis):
                alts = axis.alternatives
                if len({a.plugin for a in alts}) != len(alts):
                    return None
                per_axis.append([(a, _alt_dims(alts[a], ax, (a, None))) for a in range(len(alts))])
            elif isinstance(axis, _SlotZipAxis):
                blocks = [tuple(axis.alternatives[s][b].plugin for s in axis.slots)
                          for b in range(len(axis.block_sizes))]
                if len(set(blocks)) != len(blocks):
                    return None
                per_axis.append([(b, [d for k, s in enumerate(axis.slots)
                                      for d in _alt_dims(axis.alternatives[s][b], ax, (b, k))])
                                 for b in range(len(blocks))])
            else:  # _ParamZipAxis
                flags = {p in axis.path_params for p in axis.paths}
                if len(flags) != 1:
                    return None
                per_axis.append([(0, [(len(axis), flags.pop(), ax, None, None)])])
        return [(list(combo), [d for _, dims in combo for d in dims])
                for combo in itertools.product(*per_axis)]

    def _index(self, choices: list, dims: list, digits: list[int]) -> int:
        """The combination index (cell order) of one configuration's dim digits."""
        local: dict[tuple, list[int]] = {}
        direct: dict[int, int] = {}
        for (size, _, ax, where, key), digit in zip(dims, digits):
            if key is None:
                direct[ax] = digit
            else:
                local.setdefault((ax, where), []).append(digit)
        index = 0
        for ax, (axis, (choice, _)) in enumerate(zip(self.axes, choices)):
            if isinstance(axis, _SlotAxis):
                alt = axis.alternatives[choice]
                digit = axis.starts[choice] + _combine(local.get((ax, (choice, None)), []),
                                                        getattr(alt, "sizes", []))
            elif isinstance(axis, _SlotZipAxis):
                parts = [_combine(local.get((ax, (choice, k)), []),
                                  getattr(axis.alternatives[s][choice], "sizes", []))
                         for k, s in enumerate(axis.slots)]
                digit = axis.starts[choice] + _combine(parts, axis.block_sizes[choice])
            else:
                digit = direct[ax]
            index = index * self.sizes[ax] + digit
        return index

    def _fit_free(self, axis) -> bool:
        """Whether ``axis`` moves only slots a fit does not depend on (the inference strategy)."""
        if isinstance(axis, _SlotAxis):
            return axis.slot not in FIT_SLOTS
        if isinstance(axis, _SlotZipAxis):
            return not set(axis.slots) & set(FIT_SLOTS)
        return all(p.split(".", 1)[0] not in FIT_SLOTS for p in axis.paths)

    def iter_groups(self, block_cells: int = 20_000) -> Iterator[list[Cell]]:
        """Every batched group of cells (cells sharing ``Cell.group``), one at a time,
        the groups of one fit group (``Cell.fit_group``) one after the other.

        Memory is bounded by about ``block_cells`` cells, not by the sweep's
        size: groups are generated as contiguous blocks (see
        :meth:`_layouts`), each group's cells in cell order. The stream runs
        over the configurations of the fit slots (:data:`FIT_SLOTS`), then
        seeds, then the inference strategies, so the strategies read one fit
        whenever a chunk holds its whole fit group (``pack_chunks`` closes
        chunks only between fit groups). Exception: strategies zipped with a
        fit slot (``zip: [[ensembler, inference]]``) are laid out with that
        slot, and cells of one fit group there may come apart (correct, but
        fitted once per chunk). Specs whose groups cannot be laid out in
        blocks are grouped in memory, fit group by fit group. Every cell of
        the spec is in exactly one group.
        """
        layouts = self._layouts()
        if layouts is None:
            fits: dict[str, dict[str, list[Cell]]] = {}
            for cell in self.iter_cells():
                fits.setdefault(cell.fit_group, {}).setdefault(cell.group, []).append(cell)
            for groups in fits.values():
                yield from groups.values()
            return
        free = {ax for ax, axis in enumerate(self.axes) if self._fit_free(axis)}
        by_fit: dict[tuple, list[tuple[list, list]]] = {}
        for choices, dims in layouts:
            key = tuple(c[0] for ax, c in enumerate(choices) if ax not in free)
            by_fit.setdefault(key, []).append((choices, dims))
        for members in by_fit.values():
            # the fit slots' dims are the same in every member (same choices on those axes)
            fit_sizes = [members[0][1][i][0] for i in _fit_dims(members[0][1], free)]
            for o_fit in range(math.prod(fit_sizes)):
                fit_digits = _radix(o_fit, fit_sizes)
                yield from self._fit_configuration(members, free, fit_digits, block_cells)

    def _fit_configuration(self, members, free, fit_digits, block_cells):
        """The groups of one configuration of the fit slots, seed by seed (see :meth:`iter_groups`)."""
        points = []  # per group of a seed: the combination indices of its cells
        for choices, dims in members:
            digits = [0] * len(dims)
            for i, d in zip(_fit_dims(dims, free), fit_digits):
                digits[i] = d
            outer = [i for i, d in enumerate(dims) if d[2] in free and not d[1]]
            inner = [i for i, d in enumerate(dims) if d[1]]
            outer_sizes = [dims[i][0] for i in outer]
            inner_sizes = [dims[i][0] for i in inner]
            for o in range(math.prod(outer_sizes)):
                for i, d in zip(outer, _radix(o, outer_sizes)):
                    digits[i] = d
                indices = []
                for q in range(math.prod(inner_sizes)):
                    for i, d in zip(inner, _radix(q, inner_sizes)):
                        digits[i] = d
                    indices.append(self._index(choices, dims, digits))
                points.append(indices)
        per_seed = sum(map(len, points))
        components = ([[self.components_at(i) for i in indices] for indices in points]
                      if per_seed <= 4096 else None)
        seeds = self.seeds
        step = max(1, block_cells // max(per_seed, 1))
        for s0 in range(0, len(seeds), step):
            batch = list(seeds[s0:s0 + step])
            per_group = [[_make_cells(components[g][k] if components else self.components_at(i),
                                      self.metrics, batch, self.registry)
                          for k, i in enumerate(indices)]
                         for g, indices in enumerate(points)]
            for k in range(len(batch)):
                for per_point in per_group:
                    yield [cells[k] for cells in per_point]

    @property
    def n_groups_streamed(self) -> int | None:
        """Batched groups, exactly, when :meth:`iter_groups` streams them (else None)."""
        layouts = self._layouts()
        if layouts is None:
            return None
        return len(self.seeds) * sum(math.prod(d[0] for d in dims if not d[1])
                                     for _, dims in layouts)

    def iter_cells(self) -> Iterator[Cell]:
        """Every cell, lazily: memory does not grow with the number of cells."""
        for components in self.iter_components():
            yield from _make_cells(components, self.metrics, self.seeds, self.registry)


def _alt_dims(alt, ax: int, where: tuple) -> list[tuple]:
    """The parameter axes of one alternative as dims ``(size, is_path, axis, where, key)``."""
    if isinstance(alt, _Absent):
        return []
    return [(len(values), bool(alt.cls.params[key].path), ax, where, key)
            for key, values in alt.axes.items()]


def _fit_dims(dims: list, free: set) -> list[int]:
    """Positions in ``dims`` of the non-path dims of the fit slots' axes (not in ``free``)."""
    return [i for i, d in enumerate(dims) if d[2] not in free and not d[1]]


def _combine(digits: list[int], sizes: list[int]) -> int:
    """The inverse of :func:`_radix`: mixed-radix digits (last fastest) to an index."""
    index = 0
    for digit, size in zip(digits, sizes):
        index = index * size + digit
    return index


def _overrides_check_cell(cls: type) -> bool:
    return getattr(cls.check_cell, "__func__", None) is not Component.check_cell.__func__


def _sweep_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(f"name: must be a string of letters, digits, '_', '.', '-' (used as a "
                        f"directory), got {brief(name)}")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise SpecError(f"name: must be at most {MAX_NAME_BYTES} characters (a directory name; "
                        f"file systems allow 255 bytes), got {len(name.encode())}: {brief(name)}")
    return name


def _describe(comp: dict) -> str:
    params = ", ".join(f"{k}={brief(v)}" for k, v in comp.items() if k != "plugin")
    return f"{comp['plugin']}({params})"


def _make_cells(components: dict, metrics: list[str], seeds: list[int],
                registry: Registry) -> list[Cell]:
    """One cell per seed of one combination of components.

    ``cell_id`` is the digest of ``canonical_json({"components", "metrics",
    "seed"})``; ``group`` the same with path parameters left out;
    ``fit_group`` the digest of ``canonical_json({"fit", "seed"})`` where
    ``fit`` holds the slots a fit depends on (:data:`FIT_SLOTS`) without path
    parameters. The keys sort
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
    fit = canonical_json({"fit": {s: unbatched[s] for s in FIT_SLOTS}})[:-1]
    frozen = tuple(metrics)
    return [Cell(components=components, metrics=frozen, seed=seed,
                 cell_id=_hash(f'{ident},"seed":{seed}}}'), group=_hash(f'{group},"seed":{seed}}}'),
                 fit_group=_hash(f'{fit},"seed":{seed}}}'))
            for seed in seeds]


def _seeds(value: Any) -> range | list[int]:
    """The seeds: ``range(N)`` for ``seeds: N`` (never expanded here) or the listed ints."""
    allowed = "a positive integer or a list of non-negative integers below 2**63"
    if isinstance(value, bool):
        raise SpecError(f"seeds: must be {allowed}, got {brief(value)}")
    if isinstance(value, int):
        if value < 1:
            raise SpecError(f"seeds: must be >= 1, got {brief(value)}")
        if value > MAX_CELLS:
            raise SpecError(f"seeds: {value:,} seeds give more cells than the limit of {MAX_CELLS:,}; "
                            f"split the study into several sweeps")
        return range(value)
    if isinstance(value, list) and value and all(
        isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= INT64_MAX for s in value
    ):
        if len(set(value)) != len(value):
            twice = next(s for s in value if value.count(s) > 1)
            raise SpecError(f"seeds: the seed {twice} is listed twice")
        return list(value)
    raise SpecError(f"seeds: must be {allowed}, got {brief(value)}")


def _metrics(value: Any, registry: Registry) -> list[str]:
    installed = registry.names("metric")
    if value is None:
        return [n for n in installed if getattr(registry.get("metric", n), "default", False)]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise SpecError(f"metrics: must be a list of metric names, got {brief(value)}")
    for i, name in enumerate(value):
        if not isinstance(name, str) or len(name) > 100:
            raise SpecError(f"metrics[{i}]: must be a metric name, got {brief(name)}")
        registry.get("metric", name, where=f"metrics[{i}]")
    if len(set(value)) != len(value):
        raise SpecError(f"metrics: listed twice: {sorted({v for v in value if value.count(v) > 1})}")
    return list(value)


def _zip_groups(value: Any) -> list[list[str]]:
    if value is None:
        return []
    usage = ("a list of groups, each of parameter paths like [problem.n_train, problem.noise] "
             "or of component slots like [learner, penalty]")
    if not isinstance(value, list):
        raise SpecError(f"zip: must be {usage}, got {brief(value)}")
    for i, g in enumerate(value):
        if not (isinstance(g, list) and len(g) >= 2 and all(isinstance(p, str) for p in g)):
            raise SpecError(f"zip[{i}]: must be a list of at least two slots or parameter paths "
                            f"({usage}), got {brief(g)}")
        if all("." in p for p in g) or all(p in SLOTS for p in g):
            continue
        if any("." in p for p in g):
            bad = next(p for p in g if "." not in p)
            raise SpecError(f"zip[{i}]: {bad!r} is not a parameter path (slot.param), and a group "
                            f"zips parameter paths or component slots, not both; got {brief(g)}")
        bad = next(p for p in g if p not in SLOTS)
        raise SpecError(f"zip[{i}]: unknown slot {bad!r}; allowed: {', '.join(SLOTS)}")
    seen = [p for g in value for p in g]
    if len(set(seen)) != len(seen):
        raise SpecError("zip: a key path appears in more than one group")
    return value


def _axis_values(where: str, param: Param, value: Any) -> list | None:
    """The values of an axis, or ``None`` when ``value`` is a single value."""
    if isinstance(value, dict):
        if len(value) != 1 or next(iter(value)) not in ("logspace", "linspace"):
            raise SpecError(f"{where}: must be a single {param.describe()}, a list of them (an axis), "
                            f"{{logspace: [lo, hi, n]}} or {{linspace: [lo, hi, n]}}; got {brief(value)}")
        kind, args = next(iter(value.items()))
        if isinstance(args, list):
            args = [_yaml11_number(a) for a in args]  # YAML 1.1 reads 1e9 as a string
        unit = "powers of ten: 10**lo .. 10**hi" if kind == "logspace" else "lo .. hi"
        if (not isinstance(args, list) or len(args) != 3
                or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
                or not all(math.isfinite(float(a)) if abs(a) < 1e300 else False for a in args)
                or args[2] < 1 or int(args[2]) != args[2]):
            raise SpecError(f"{where}.{kind}: must be [lo, hi, n] ({unit}, lo and hi finite, n a "
                            f"positive integer number of points), got {brief(args)}")
        lo, hi, n = args
        if n > MAX_AXIS_POINTS:
            raise SpecError(f"{where}.{kind}: at most {MAX_AXIS_POINTS:,} points per axis, "
                            f"got n={brief(n)}")
        with np.errstate(over="ignore"):
            grid = np.logspace(lo, hi, int(n)) if kind == "logspace" else np.linspace(lo, hi, int(n))
        if not np.all(np.isfinite(grid)):
            raise SpecError(f"{where}.{kind}: the points overflow to infinity ({unit}), "
                            f"got {brief(args)}")
        return [int(v) if param.type is int else float(v) for v in grid]
    if isinstance(value, list):
        if param.type is list and not all(isinstance(v, list) for v in value):
            return None  # a list-valued parameter given one list
        if not value:
            raise SpecError(f"{where}: an empty axis; give at least one value")
        return list(value)
    return None


def _alternative(where: str, slot: str, kind: str, value: Any, registry: Registry, zipped: set,
                 zip_axes: dict, allow_zip: bool) -> _Alternative:
    """One component of a slot, validated parameter by parameter, its axes kept apart."""
    if not isinstance(value, dict) or "plugin" not in value:
        installed = ", ".join(registry.names(kind))
        raise SpecError(f"{where}: must be a mapping with 'plugin: NAME' (installed: {installed}), "
                        f"got {brief(value)}")
    name = value["plugin"]
    if not isinstance(name, str) or len(name) > 100:
        raise SpecError(f"{where}.plugin: must be a plugin name, got {brief(name)}")
    cls = registry.get(kind, name, where=f"{where}.plugin")
    given = {k: v for k, v in value.items() if k != "plugin"}
    unknown = sorted(set(given) - set(cls.params), key=str)
    if unknown:
        allowed = ", ".join(sorted(cls.params)) or "(none)"
        raise SpecError(f"{where}.{key_text(unknown[0])}: unknown parameter of {kind} {name!r}; "
                        f"allowed: {allowed}")
    fixed, axes, mine = {}, {}, {}
    for key, v in given.items():
        path = f"{where}.{key}"
        vals = _axis_values(path, cls.params[key], v)
        if vals is None:
            if path in zipped:
                raise SpecError(f"zip: {path} is a single value, not an axis")
            fixed[key] = v
            continue
        if path in zipped and not allow_zip:
            raise SpecError(f"zip: {path} is inside a list of components; zip axes of a single "
                            f"component")
        vals = [cls.params[key].check(f"{path}[{i}]", item) for i, item in enumerate(vals)]
        if path in zipped:
            zip_axes[path] = mine[key] = vals
        else:
            axes[key] = vals
    schema = {k: p for k, p in cls.params.items() if k not in axes and k not in mine}
    alt = _Alternative(where, slot, cls, validate_params(where, schema, fixed), axes, mine)
    for key, vals in axes.items():
        seen: set[str] = set()
        for item in vals:
            if _canon(item) in seen:
                example = {**alt.config(0), key: item}
                for p in mine:
                    example.pop(p, None)
                raise SpecError(f"{where}.{key}: the value {brief(item)} appears twice, so the axes "
                                f"give the same cell twice ({slot}={_describe(example)}); remove "
                                f"the repeated value from its list")
            seen.add(_canon(item))
    return alt


#: Configurations enumerated to find a repeated one among same-plugin alternatives.
_OVERLAP_ENUMERATION = 200_000


def _first_repeat(entries: list, sizes: list[int], configs) -> tuple[int, int] | None:
    """Indices ``(i, j)`` of two entries that share a configuration, or None.

    ``configs(i)`` yields entry ``i``'s configurations as canonical text. Small
    sets are enumerated into a hash set (linear); large ones, which a 64 KiB
    spec can only give with few entries, are compared pairwise by value sets.
    """
    if sum(sizes) <= _OVERLAP_ENUMERATION:
        seen: dict[str, int] = {}
        for i in range(len(entries)):
            for text in configs(i):
                j = seen.setdefault(text, i)
                if j != i:
                    return j, i
        return None
    for i, j in itertools.combinations(range(len(entries)), 2):
        if entries[i](entries[j]):
            return i, j
    return None


def _check_overlap(slot: str, alternatives: list) -> None:
    """Two components of one slot list must not give a configuration in common."""
    if len(alternatives) < 2:
        return
    by_plugin: dict[str, list[int]] = {}
    for i, alt in enumerate(alternatives):
        by_plugin.setdefault(alt.plugin, []).append(i)
    for idx in by_plugin.values():
        if len(idx) < 2:
            continue
        alts = [alternatives[i] for i in idx]
        repeat = _first_repeat(
            [_Comparable(a) for a in alts], [len(a) for a in alts],
            lambda k: (_canon(alts[k].config(i)) for i in range(len(alts[k]))))
        if repeat:
            i, j = idx[repeat[0]], idx[repeat[1]]
            raise SpecError(f"{slot}[{j}]: gives a component that {slot}[{i}] gives too "
                            f"({alternatives[i].plugin}), so the axes give the same cell twice; "
                            f"remove the repeated value from its list")


class _Comparable:
    """An alternative (or a tuple of them) callable on another: do they share a configuration?"""

    def __init__(self, *alts):
        self.alts = alts

    def __call__(self, other: "_Comparable") -> bool:
        return all(a.plugin == b.plugin and _overlap(a, b) for a, b in zip(self.alts, other.alts))


def _overlap(a, b) -> bool:
    """Whether two alternatives of one plugin share a configuration: every parameter's sets meet."""
    if isinstance(a, _Absent) or isinstance(b, _Absent):
        return isinstance(a, _Absent) and isinstance(b, _Absent)
    sa, sb = a.value_sets(), b.value_sets()
    return all(sa[k] & sb.get(k, set()) for k in sa)


def _check_zip_overlap(group: list[str], per_alt: dict) -> None:
    n = len(per_alt[group[0]])
    blocks = [tuple(per_alt[s][i] for s in group) for i in range(n)]
    sizes = [math.prod(len(a) for a in block) for block in blocks]

    def configs(i):
        for combo in itertools.product(*(range(len(a)) for a in blocks[i])):
            yield _canon([a.config(k) for a, k in zip(blocks[i], combo)])

    repeat = _first_repeat([_Comparable(*block) for block in blocks], sizes, configs)
    if repeat:
        raise SpecError(f"zip: entries {repeat[0]} and {repeat[1]} of {', '.join(group)} give the "
                        f"same cell twice; remove the repeated value from its list")


def _tasks_text(tasks) -> str:
    return " and ".join(tasks) if tasks else "no task"


def _check_compatibility(names: dict[str, tuple], registry: Registry) -> None:
    """Errors for components that cannot work together, naming both and what each supports.

    ``names`` maps each slot to ``(plugin, task)``; the task is the problem's
    declared task (``None`` when the problem does not declare one).
    """
    problem, task = names["problem"]
    learner, penalty = names["learner"][0], names["penalty"][0]
    learner_cls = registry.get("learner", learner)
    reason = learner_cls.accepts(registry.get("penalty", penalty))
    if reason:
        raise SpecError(f"learner: {learner!r} cannot fit penalty {penalty!r}: {reason} "
                        f"(to pair a list of learners with a list of penalties: zip: [[learner, penalty]])")
    ens, strat = names["ensembler"][0], names["inference"][0]
    if strat is not None and ens is None:
        raise SpecError("inference: an inference strategy needs an ensembler; add 'ensembler: {plugin: ...}'")
    ens_cls = None if ens is None else registry.get("ensembler", ens)
    if ens_cls is not None:
        reason = ens_cls.accepts_learner(learner_cls)
        if reason:
            raise SpecError(f"ensembler: {ens!r} cannot build on learner {learner!r}: {reason}")
    if task is not None and task not in learner_cls.tasks:
        raise SpecError(f"learner: {learner!r} cannot learn problem {problem!r}: the learner "
                        f"handles {_tasks_text(learner_cls.tasks)}, the problem produces {task}")
    if ens_cls is None:
        return
    ens_tasks = getattr(ens_cls, "tasks", None)
    if task is not None and ens_tasks is not None and task not in ens_tasks:
        raise SpecError(f"ensembler: {ens!r} cannot build on problem {problem!r}: the ensembler "
                        f"handles {_tasks_text(ens_tasks)}, the problem produces {task}")
    produces = ens_cls.produces
    combining = sorted(n for n in registry.names("inference")
                       if produces in registry.get("inference", n).accepts)
    fitting = [n for n in combining if task is None or task in registry.get("inference", n).tasks]
    if strat is None:
        raise SpecError(f"inference: ensembler {ens!r} needs an inference strategy; "
                        f"compatible: {', '.join(fitting) or '(none installed)'}")
    strat_cls = registry.get("inference", strat)
    if produces not in strat_cls.accepts:
        raise SpecError(f"inference: {strat!r} cannot combine {produces!r} ensembles "
                        f"(from ensembler {ens!r}); it accepts {', '.join(strat_cls.accepts) or 'none'}; "
                        f"compatible: {', '.join(combining) or '(none)'}")
    if task is not None and task not in strat_cls.tasks:
        raise SpecError(f"inference: {strat!r} cannot predict for problem {problem!r}: the strategy "
                        f"handles {_tasks_text(strat_cls.tasks)}, the problem produces {task}; "
                        f"compatible: {', '.join(fitting) or '(none)'}")


def _check_metrics(metrics: list[str], listed: bool, tasks: set, registry: Registry) -> None:
    """A listed metric must measure a task some problem of the spec produces."""
    if not listed or None in tasks:
        return
    for i, name in enumerate(metrics):
        measures = getattr(registry.get("metric", name), "tasks", None)
        if measures is not None and not tasks & set(measures):
            raise SpecError(f"metrics[{i}]: {name!r} measures {_tasks_text(measures)}; the spec's "
                            f"problems produce {_tasks_text(sorted(tasks))}, so it would be null "
                            f"in every cell")


def checked_plan(spec: dict | str | Path, registry: Registry | None = None) -> SpecPlan:
    """``plan_spec`` plus every check ``load_spec`` makes, without building the cells.

    Raises ``SpecError`` like :func:`load_spec` (messages end with ``(in FILE)``
    for a file); the sweep then generates the cells chunk by chunk, so memory
    does not grow with them.
    """
    plan = plan_spec(spec, registry)
    try:
        plan.check()
    except SpecError as exc:
        raise plan.located(exc) from None
    return plan
