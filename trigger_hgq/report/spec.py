"""Small declarative type specs for JSON-like data: each checks a value, names the key path at fault, and returns
a normalised copy (numpy scalars and arrays become Python numbers and lists, tuples become lists)."""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trigger_hgq.errors import TriggerHGQError


class ReportSchemaError(TriggerHGQError):
    """A report dict that does not follow the schema; ``path`` is the offending key path (``""`` for the root)."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"report {path or '(root)'}: {message}")


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, arrays and tuples -> lists (deeply is done by the specs)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | tuple):
        return list(value.tolist() if isinstance(value, np.ndarray) else value)
    return value


class Spec:
    """One value's type; ``check`` returns the normalised value or raises ReportSchemaError."""

    doc = ""

    def check(self, value: Any, path: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class Str(Spec):
    nonempty: bool = True
    doc: str = "string"

    def check(self, value, path):
        value = _plain(value)
        if not isinstance(value, str):
            raise ReportSchemaError(path, f"expected a string, got {_show(value)}")
        if self.nonempty and not value.strip():
            raise ReportSchemaError(path, "expected a non-empty string")
        return value


@dataclass
class IsoTime(Spec):
    doc: str = "ISO 8601 time"

    def check(self, value, path):
        value = Str().check(value, path)
        try:
            _dt.datetime.fromisoformat(value)
        except ValueError:
            raise ReportSchemaError(path, f"expected an ISO 8601 time (2024-05-01T12:00:00), got {value!r}") from None
        return value


@dataclass
class Bool(Spec):
    doc: str = "bool"

    def check(self, value, path):
        value = _plain(value)
        if not isinstance(value, bool):
            raise ReportSchemaError(path, f"expected true or false, got {_show(value)}")
        return value


@dataclass
class Int(Spec):
    lo: int | None = 0
    doc: str = "int"

    def check(self, value, path):
        value = _plain(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ReportSchemaError(path, f"expected an integer, got {_show(value)}")
        if self.lo is not None and value < self.lo:
            raise ReportSchemaError(path, f"expected an integer >= {self.lo}, got {value}")
        return value


@dataclass
class Float(Spec):
    lo: float | None = None
    hi: float | None = None
    positive: bool = False
    hint: str = ""
    doc: str = "number"

    def check(self, value, path):
        value = _plain(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ReportSchemaError(path, f"expected a number, got {_show(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise ReportSchemaError(path, f"expected a finite number, got {value}")
        if self.positive and value <= 0:
            raise ReportSchemaError(path, f"expected a number > 0, got {value}")
        if self.lo is not None and value < self.lo:
            raise ReportSchemaError(path, f"expected a number >= {self.lo}, got {value}")
        if self.hi is not None and value > self.hi:
            raise ReportSchemaError(path, f"expected a number <= {self.hi}{self.hint}, got {value}")
        return value


@dataclass
class Enum(Spec):
    values: tuple[str, ...] = ()

    @property
    def doc(self) -> str:  # type: ignore[override]
        return " | ".join(json.dumps(v) for v in self.values)

    def check(self, value, path):
        value = _plain(value)
        if not any(type(value) is type(v) and value == v for v in self.values):
            raise ReportSchemaError(path, f"expected one of {self.doc}, got {_show(value)}")
        return value


@dataclass
class Nullable(Spec):
    inner: Spec = field(default_factory=Str)

    @property
    def doc(self) -> str:  # type: ignore[override]
        return f"{self.inner.doc} or null"

    def check(self, value, path):
        return None if value is None else self.inner.check(value, path)


@dataclass
class ListOf(Spec):
    item: Spec = field(default_factory=Str)
    nonempty: bool = False

    @property
    def doc(self) -> str:  # type: ignore[override]
        return f"list of {self.item.doc}"

    def check(self, value, path):
        value = _plain(value)
        if not isinstance(value, list):
            raise ReportSchemaError(path, f"expected a list, got {_show(value)}")
        if self.nonempty and not value:
            raise ReportSchemaError(path, "expected a non-empty list")
        return [self.item.check(v, f"{path}[{i}]") for i, v in enumerate(value)]


@dataclass
class MapOf(Spec):
    """A dict with string keys (class names, layer names, stage names, bitwidths...)."""

    item: Spec = field(default_factory=Str)
    key_doc: str = "name"
    int_keys: bool = False  # keys are non-negative integers written as strings (bitwidths)

    @property
    def doc(self) -> str:  # type: ignore[override]
        return f"{{{self.key_doc}: {self.item.doc}}}"

    def check(self, value, path):
        if not isinstance(value, dict):
            raise ReportSchemaError(path, f"expected a mapping {self.doc}, got {_show(value)}")
        out = {}
        for key, v in value.items():
            key = str(_plain(key)) if self.int_keys else key
            if not isinstance(key, str) or not key:
                raise ReportSchemaError(path, f"expected non-empty string keys, got {_show(key)}")
            if self.int_keys and not (key.isdigit()):
                raise ReportSchemaError(f"{path}.{key}", "expected a key that is a whole number of bits, e.g. '4'")
            out[key] = self.item.check(v, f"{path}.{key}")
        return out


@dataclass
class Obj(Spec):
    """A dict with declared keys: ``fields`` maps key -> (spec, required, description)."""

    fields: dict[str, tuple[Spec, bool, str]] = field(default_factory=dict)
    name_key: str | None = None  # errors inside name this entry by fields[name_key] (e.g. the model's name)
    doc: str = "object"

    def check(self, value, path):
        if not isinstance(value, dict):
            raise ReportSchemaError(path, f"expected a mapping, got {_show(value)}")
        label = value.get(self.name_key) if self.name_key else None
        try:
            out = dict(value)  # unknown keys are kept untouched
            for key, (spec, required, _desc) in self.fields.items():
                sub = f"{path}.{key}" if path else key
                if key not in value:
                    if required:
                        raise ReportSchemaError(sub, "missing required key")
                    out[key] = None
                    continue
                out[key] = spec.check(value[key], sub)
        except ReportSchemaError as err:
            if isinstance(label, str):
                err.args = (f"{err.args[0]} (model {label!r})",)
            raise
        return out
