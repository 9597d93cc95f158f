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
from dataclasses import dataclass
from typing import Any

__all__ = ["Param", "SpecError", "REQUIRED", "validate_params"]


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
        ``float``, ``int``, ``str``, ``bool`` or ``list`` (a list of numbers).
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

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe(self) -> str:
        """What is allowed, in words, for error messages."""
        parts = [self.type.__name__]
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
            raise SpecError(f"{key}: must be one of {allowed}, got {value!r}")
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
                    raise SpecError(f"{key}: must be {sym} {bound:g}, got {value!r}")
        return value

    def _convert(self, key: str, value: Any) -> Any:
        want = self.type
        if want is list:
            if not isinstance(value, (list, tuple)):
                raise SpecError(f"{key}: must be a list, got {value!r}")
            return [self._number(key, v) for v in value]
        if isinstance(value, (list, tuple, dict)):
            raise SpecError(
                f"{key}: must be a single {self.describe()}, got {type(value).__name__} {value!r}"
            )
        if want is bool:
            if isinstance(value, bool):
                return value
            raise SpecError(f"{key}: must be true or false, got {value!r}")
        if want is int:
            value = _yaml11_number(value)
            if isinstance(value, float) and not math.isfinite(value):
                raise SpecError(f"{key}: must be a finite integer ({self.describe()}), got {value!r}")
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != int(value):
                raise SpecError(f"{key}: must be an integer ({self.describe()}), got {value!r}")
            return int(value)
        if want is float:
            return self._number(key, value)
        if want is str:
            if not isinstance(value, str):
                raise SpecError(f"{key}: must be a string, got {value!r}")
            return value
        return value

    @staticmethod
    def _number(key: str, value: Any) -> float:
        value = _yaml11_number(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise SpecError(f"{key}: must be a number, got {value!r}")
        if not math.isfinite(value):
            raise SpecError(f"{key}: must be a finite number, got {value!r}")
        return float(value)


# PyYAML follows YAML 1.1, where ``1e-3`` (no dot) is a string; users mean a number.
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _yaml11_number(value: Any) -> Any:
    """``value`` as a float when it is a string spelling a plain decimal number."""
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        return float(value)
    return value


def validate_params(prefix: str, schema: dict[str, Param], given: dict[str, Any]) -> dict[str, Any]:
    """Validate ``given`` against ``schema``; return all parameters with defaults filled.

    ``prefix`` is the key path used in messages, e.g. ``"penalty"``.
    """
    unknown = sorted(set(given) - set(schema))
    if unknown:
        allowed = ", ".join(sorted(schema)) or "(none)"
        raise SpecError(f"{prefix}.{unknown[0]}: unknown parameter; allowed: {allowed}")
    out = {}
    for key, param in schema.items():
        if key in given:
            out[key] = param.check(f"{prefix}.{key}", given[key])
        elif param.required:
            raise SpecError(f"{prefix}.{key}: required parameter is missing ({param.describe()})")
        else:
            out[key] = param.default
    return out
