"""Declared parameter schemas for components.

A component declares its parameters as data, benchopt style::

    class L2:
        name = "l2"
        params = {"alpha": Param(float, default=1.0, ge=0, doc="penalty strength")}

so a spec can be validated, a sweep grid shown and a cell hashed before anything
runs. Unknown or out-of-range values raise :class:`SpecError` naming the key path,
the bad value and what is allowed.
"""

from __future__ import annotations

import math
import numbers
import re
import reprlib
from dataclasses import dataclass
from typing import Any

__all__ = ["Param", "SpecError", "REQUIRED", "validate_params", "brief", "key_text", "INT64_MAX"]

#: Integers are stored as Arrow int64; a larger one would fail in the store, not here.
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


class _BriefRepr(reprlib.Repr):
    """``repr`` bounded in size and depth, whatever the value (aliases, huge ints)."""

    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother = 3, 60, 60
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = self.maxfrozenset = 6

    def repr_int(self, x, level):
        if x.bit_length() > 200:  # repr of a 4300-digit int raises; of a long one floods
            return f"<an integer of {x.bit_length()} bits>"
        return super().repr_int(x, level)

    def repr_bytes(self, x, level):
        return super().repr1(x[:40], level) + ("..." if len(x) > 40 else "")


_BRIEF = _BriefRepr()


def key_text(key: Any) -> str:
    """A mapping key as it appears in a key path: a short string as is, anything else briefly."""
    if isinstance(key, str) and len(key) <= 60 and key.isprintable():
        return key
    return brief(key)


def brief(value: Any) -> str:
    """A short ``repr`` of ``value`` for messages: bounded however large or nested it is."""
    try:
        text = _BRIEF.repr(value)
    except Exception:  # a hostile __repr__ must not turn an error message into a traceback
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 120 else text[:117] + "..."


class SpecError(ValueError):
    """A spec or a component's parameters are invalid.

    The message always starts with the key path (``penalty.alpha: ...``).
    """


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Param:
    """One parameter of a component.

    Parameters
    ----------
    type : type
        ``float``, ``int``, ``str``, ``bool`` or ``list`` (a list of numbers, or of
        ``item`` values). Integers must fit int64 (the result store's type).
    default : object
        Value when the spec omits the key; ``REQUIRED`` makes it mandatory.
    ge, gt, le, lt : float, optional
        Inclusive / exclusive bounds for numbers.
    choices : tuple, optional
        The allowed values.
    nullable : bool
        Whether ``None`` (YAML ``null``) is allowed.
    path : bool
        A *path* parameter is batched: cells that differ only in path parameters
        run as one computation and the component sees an ``(m,)`` array, one
        entry per cell (penalty strengths, ensemble sizes). Defaults to ``False``;
        penalties mark their hyper-parameters as path parameters.
    doc : str
        One line for ``regsim plugins`` and error messages.
    item : Param, optional
        For ``list`` parameters: the ``int`` or ``float`` schema every element is
        checked against, e.g. ``Param(list, item=Param(int, ge=1), min_len=1)`` for
        layer sizes. Elements are kept as floats either way (list columns are
        ``list<double>``; cell ids hash them). Without it elements are finite floats.
    min_len, max_len : int, optional
        For ``list`` parameters: bounds on the number of elements.
    """

    type: type = float
    default: Any = REQUIRED
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple | None = None
    nullable: bool = False
    path: bool = False
    doc: str = ""
    item: "Param | None" = None
    min_len: int | None = None
    max_len: int | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe(self) -> str:
        """What is allowed, in words, for error messages."""
        parts = [self.type.__name__]
        if self.type is list:
            parts = [f"list of {self.item.describe() if self.item else 'float'}"]
            if self.min_len is not None:
                parts.append(f"with at least {self.min_len} element{'s' * (self.min_len != 1)}")
            if self.max_len is not None:
                parts.append(f"with at most {self.max_len} elements")
        if self.choices is not None:
            parts = ["one of " + ", ".join(repr(c) for c in self.choices)]
        for sym, bound in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt)):
            if bound is not None:
                parts.append(f"{sym} {bound:g}")
        if self.nullable:
            parts.append("or null")
        return " ".join(parts)

    def check(self, key: str, value: Any) -> Any:
        """Return ``value`` converted to the declared type or raise :class:`SpecError`."""
        if value is None:
            if self.nullable:
                return None
            raise SpecError(f"{key}: must be {self.describe()}, got null")
        value = self._convert(key, value)
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            raise SpecError(f"{key}: must be one of {allowed}, got {brief(value)}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and math.isnan(value):
                raise SpecError(f"{key}: must be a number, got nan")
            for ok, sym, bound in (
                (lambda v, b: v >= b, ">=", self.ge),
                (lambda v, b: v > b, ">", self.gt),
                (lambda v, b: v <= b, "<=", self.le),
                (lambda v, b: v < b, "<", self.lt),
            ):
                if bound is not None and not ok(value, bound):
                    raise SpecError(f"{key}: must be {sym} {bound:g}, got {brief(value)}")
        return value

    def _convert(self, key: str, value: Any) -> Any:
        want = self.type
        if want is list:
            if not isinstance(value, (list, tuple)):
                raise SpecError(f"{key}: must be a {self.describe()}, got {brief(value)}")
            for bound, ok, words in ((self.min_len, len(value) >= (self.min_len or 0), "at least"),
                                     (self.max_len, self.max_len is None
                                      or len(value) <= self.max_len, "at most")):
                if bound is not None and not ok:
                    raise SpecError(f"{key}: must have {words} {bound} element"
                                    f"{'s' * (bound != 1)} ({self.describe()}), got {brief(value)}")
            if self.item is not None:
                # checked as the item type, kept as floats: list columns are list<double> and
                # cell ids of stored results hash the floats
                return [float(self.item.check(f"{key}[{i}]", v)) for i, v in enumerate(value)]
            return [self._number(f"{key}[{i}]", v) for i, v in enumerate(value)]
        if isinstance(value, (list, tuple, dict)):
            raise SpecError(
                f"{key}: must be a single {self.describe()}, got {type(value).__name__} {brief(value)}"
            )
        if want is bool:
            if isinstance(value, bool):
                return value
            raise SpecError(f"{key}: must be true or false, got {brief(value)}")
        if want is int:
            value = _yaml11_number(value)
            if isinstance(value, float) and not math.isfinite(value):
                raise SpecError(f"{key}: must be a finite integer ({self.describe()}), got {brief(value)}")
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != int(value):
                raise SpecError(f"{key}: must be an integer ({self.describe()}), got {brief(value)}")
            value = int(value)
            if not INT64_MIN <= value <= INT64_MAX:
                raise SpecError(f"{key}: must be an integer within int64 (|value| < 2**63, what the "
                                f"result store holds), got {brief(value)}")
            return value
        if want is float:
            return self._number(key, value)
        if want is str:
            if not isinstance(value, str):
                raise SpecError(f"{key}: must be a string, got {brief(value)}")
            return value
        return value

    @staticmethod
    def _number(key: str, value: Any) -> float:
        value = _yaml11_number(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise SpecError(f"{key}: must be a number, got {brief(value)}")
        try:
            number = float(value)
        except (OverflowError, ValueError):  # an int beyond the float range
            number = math.inf
        if not math.isfinite(number):
            raise SpecError(f"{key}: must be a finite number, got {brief(value)}")
        return number


# PyYAML follows YAML 1.1, where ``1e-3`` (no dot) is a string; users mean a number.
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _yaml11_number(value: Any) -> Any:
    """``value`` as a float when it is a string spelling a plain decimal number."""
    if isinstance(value, str) and len(value) < 400 and _NUMBER.match(value.strip()):
        return float(value)
    return value


def validate_params(prefix: str, schema: dict[str, Param], given: dict[str, Any]) -> dict[str, Any]:
    """Validate ``given`` against ``schema``; return all parameters with defaults filled.

    ``prefix`` is the key path used in messages, e.g. ``"penalty"``.
    """
    unknown = sorted(set(given) - set(schema), key=str)
    if unknown:
        allowed = ", ".join(sorted(schema)) or "(none)"
        raise SpecError(f"{prefix}.{key_text(unknown[0])}: unknown parameter; allowed: {allowed}")
    out = {}
    for key, param in schema.items():
        if key in given:
            out[key] = param.check(f"{prefix}.{key}", given[key])
        elif param.required:
            raise SpecError(f"{prefix}.{key}: required parameter is missing ({param.describe()})")
        else:
            out[key] = param.default
    return out
