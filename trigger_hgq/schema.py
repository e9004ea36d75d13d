"""Declarative schemas for YAML configs, dataset cards and reports: types, allowed values, required and optional
keys with defaults, nested mappings and lists.

A schema is a tree of :class:`Spec` objects. :func:`validate` checks a value against one and returns a normalised
copy (numpy scalars and arrays become Python numbers and lists, tuples become lists, absent optional keys get
their default). The first problem raises :class:`SchemaError`, whose message has one format for every input::

    dataset card datasets/x.yaml: key 'constituents.max_particles': expected an integer >= 1, got 'abc'

that is ``<source>: key '<key path>': <problem>`` (``<source>: <problem>`` for the value as a whole).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trigger_hgq.errors import TriggerHGQError


def error_message(source: str, path: str, problem: str) -> str:
    """The one message format: ``source: key 'path': problem`` (parts that are empty are left out)."""
    return ": ".join(part for part in (source, f"key '{path}'" if path else "", problem) if part)


class SchemaError(TriggerHGQError):
    """A value that does not follow its schema: ``path`` is the key path at fault (``""``: the whole value)."""

    default_source = ""

    def __init__(self, path: str, problem: str, source: str | None = None):
        self.path = path
        self.problem = problem
        self.source = self.default_source if source is None else source
        super().__init__(error_message(self.source, path, problem))


def join(path: str, key: str) -> str:
    """The key path of ``key`` inside ``path``."""
    return f"{path}.{key}" if path else key


def shown(value: Any) -> str:
    """A value as messages show it (its repr, shortened)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, arrays and tuples -> lists (deeply is done by the specs)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | tuple):
        return list(value.tolist() if isinstance(value, np.ndarray) else value)
    return value


class Spec:
    """One value's type; ``check`` returns the normalised value or raises :class:`SchemaError`."""

    doc = ""

    def check(self, value: Any, path: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class Anything(Spec):
    doc: str = "any value"

    def check(self, value, path):
        return value


@dataclass
class Str(Spec):
    nonempty: bool = True
    doc: str = "string"

    def check(self, value, path):
        value = _plain(value)
        if not isinstance(value, str) or (self.nonempty and not value.strip()):
            raise SchemaError(path, f"expected a {'non-empty ' if self.nonempty else ''}string, got {shown(value)}")
        return value


@dataclass
class IsoTime(Spec):
    doc: str = "ISO 8601 time"

    def check(self, value, path):
        value = Str().check(value, path)
        try:
            _dt.datetime.fromisoformat(value)
        except ValueError:
            raise SchemaError(path, f"expected an ISO 8601 time (2024-05-01T12:00:00), got {value!r}") from None
        return value


@dataclass
class Bool(Spec):
    doc: str = "bool"

    def check(self, value, path):
        value = _plain(value)
        if not isinstance(value, bool):
            raise SchemaError(path, f"expected true or false, got {shown(value)}")
        return value


@dataclass
class Int(Spec):
    lo: int | None = 0
    hi: int | None = None
    doc: str = "int"

    def check(self, value, path):
        value = _plain(value)
        if isinstance(value, bool) or not isinstance(value, int):
            bound = f" >= {self.lo}" if self.lo is not None else ""
            raise SchemaError(path, f"expected an integer{bound}, got {shown(value)}")
        if self.lo is not None and value < self.lo:
            raise SchemaError(path, f"expected an integer >= {self.lo}, got {value}")
        if self.hi is not None and value > self.hi:
            raise SchemaError(path, f"expected an integer <= {self.hi}, got {value}")
        return value


@dataclass
class Float(Spec):
    """A finite number (an int is accepted and becomes a float). ``text_ok``: a string that reads as a number
    (YAML reads ``1e-3`` as text) is accepted too."""

    lo: float | None = None
    hi: float | None = None
    positive: bool = False
    hint: str = ""
    text_ok: bool = False
    doc: str = "number"

    def check(self, value, path):
        value = _plain(value)
        if self.text_ok and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchemaError(path, f"expected a number, got {shown(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise SchemaError(path, f"expected a finite number, got {value}")
        if self.positive and value <= 0:
            raise SchemaError(path, f"expected a number > 0, got {value:g}")
        if self.lo is not None and value < self.lo:
            raise SchemaError(path, f"expected a number >= {self.lo}, got {value:g}")
        if self.hi is not None and value > self.hi:
            raise SchemaError(path, f"expected a number <= {self.hi}{self.hint}, got {value:g}")
        return value


@dataclass
class Enum(Spec):
    values: tuple = ()

    @property
    def doc(self) -> str:  # type: ignore[override]
        return " | ".join(json.dumps(v) for v in self.values)

    def check(self, value, path):
        value = _plain(value)
        if not any(type(value) is type(v) and value == v for v in self.values):
            raise SchemaError(path, f"expected one of {self.doc}, got {shown(value)}")
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
class OneOf(Spec):
    """The first of ``options`` that accepts the value. A problem found inside one of them (at a deeper key path)
    is reported as it is; when none accepts the value itself the message says ``expected <doc>``."""

    options: tuple[Spec, ...] = ()
    doc: str = "value"

    def check(self, value, path):
        for option in self.options:
            try:
                return option.check(value, path)
            except SchemaError as err:
                if err.path != path:
                    raise
        raise SchemaError(path, f"expected {self.doc}, got {shown(_plain(value))}")


@dataclass
class Where(Spec):
    """``inner``, then a rule on its result: ``rule(value)`` returns the problem (a string) or None."""

    inner: Spec = field(default_factory=Anything)
    rule: Callable[[Any], str | None] = lambda value: None

    @property
    def doc(self) -> str:  # type: ignore[override]
        return self.inner.doc

    def check(self, value, path):
        value = self.inner.check(value, path)
        problem = self.rule(value)
        if problem:
            raise SchemaError(path, problem)
        return value


@dataclass
class ListOf(Spec):
    """A list of ``item``; ``scalar_ok``: a single value stands for a one-item list; ``unique``: what an item is
    called, when no item may appear twice (``None``: repeats allowed)."""

    item: Spec = field(default_factory=Str)
    nonempty: bool = False
    scalar_ok: bool = False
    unique: str | None = None

    @property
    def doc(self) -> str:  # type: ignore[override]
        return f"list of {self.item.doc}"

    def check(self, value, path):
        value = _plain(value)
        if self.scalar_ok and not isinstance(value, list | dict) and value is not None:
            value = [value]
        if not isinstance(value, list):
            raise SchemaError(path, f"expected a list, got {shown(value)}")
        if self.nonempty and not value:
            raise SchemaError(path, "expected a non-empty list")
        items = [self.item.check(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if self.unique and len({repr(v) for v in items}) < len(items):
            raise SchemaError(path, f"{shown(items)} names a {self.unique} twice")
        return items


@dataclass
class MapOf(Spec):
    """A mapping with free string keys (class names, layer names, stage names, bitwidths...)."""

    item: Spec = field(default_factory=Str)
    key_doc: str = "name"
    int_keys: bool = False  # keys are non-negative integers written as strings (bitwidths)
    nonempty: bool = False

    @property
    def doc(self) -> str:  # type: ignore[override]
        return f"{{{self.key_doc}: {self.item.doc}}}"

    def check(self, value, path):
        if not isinstance(value, dict):
            raise SchemaError(path, f"expected a mapping {self.doc}, got {shown(_plain(value))}")
        if self.nonempty and not value:
            raise SchemaError(path, f"expected a non-empty mapping {self.doc}")
        out = {}
        for key, v in value.items():
            key = str(_plain(key)) if self.int_keys else key
            if not isinstance(key, str) or not key.strip():
                raise SchemaError(path, f"expected non-empty string keys, got {shown(key)}")
            if self.int_keys and not key.isdigit():
                raise SchemaError(join(path, key), "expected a key that is a whole number of bits, e.g. '4'")
            out[key] = self.item.check(v, join(path, key))
        return out


@dataclass(frozen=True)
class Field:
    """One declared key of an :class:`Obj`: its spec, whether it must be given, its description and default."""

    spec: Spec
    required: bool = False
    doc: str = ""
    default: Any = None


@dataclass
class Obj(Spec):
    """A mapping with declared keys: ``fields`` maps key -> :class:`Field` (or ``(spec, required, description)``).

    ``strict``: an undeclared key is an error (keys starting with ``_``, which the loaders add, are allowed);
    otherwise undeclared keys are kept untouched. ``shorthand``: a value that is not a mapping stands for
    ``{shorthand: value}``. ``name_key``: problems inside name the entry by that key's value (``name_label``).
    """

    fields: dict[str, Any] = field(default_factory=dict)
    strict: bool = False
    shorthand: str | None = None
    name_key: str | None = None
    name_label: str = "model"
    doc: str = "mapping"

    def __post_init__(self):
        self.fields = {k: f if isinstance(f, Field) else Field(*f) for k, f in self.fields.items()}

    def check(self, value, path):
        if self.shorthand is not None and not isinstance(value, dict) and value is not None:
            value = {self.shorthand: value}
        if not isinstance(value, dict):
            raise SchemaError(path, f"expected a mapping, got {shown(_plain(value))}")
        if self.strict:
            for key in value:
                if key not in self.fields and not (isinstance(key, str) and key.startswith("_")):
                    raise SchemaError(join(path, str(key)), f"unknown key (known: {', '.join(self.fields)})")
        label = value.get(self.name_key) if self.name_key else None
        out = dict(value)
        try:
            for key, f in self.fields.items():
                if key not in value:
                    if f.required:
                        raise SchemaError(join(path, key), "missing required key" + (f" ({f.doc})" if f.doc else ""))
                    out[key] = f.default
                    continue
                out[key] = f.spec.check(value[key], join(path, key))
        except SchemaError as err:
            if isinstance(label, str):
                raise SchemaError(err.path, f"{err.problem} ({self.name_label} {label!r})") from None
            raise
        return out


@dataclass
class Tagged(Spec):
    """A mapping whose ``tag`` key (e.g. ``type``) picks its spec among ``options``."""

    tag: str = "type"
    options: dict[str, Spec] = field(default_factory=dict)

    @property
    def doc(self) -> str:  # type: ignore[override]
        return f"mapping with {self.tag}: " + " | ".join(self.options)

    def check(self, value, path):
        if not isinstance(value, dict):
            raise SchemaError(path, f"expected a mapping, got {shown(_plain(value))}")
        kind = value.get(self.tag)
        if not isinstance(kind, str) or kind not in self.options:
            raise SchemaError(join(path, self.tag), f"expected one of {', '.join(self.options)}, got {shown(kind)}")
        return self.options[kind].check(value, path)


def validate(spec: Spec, value: Any, source: str, path: str = "", error: type[SchemaError] = SchemaError) -> Any:
    """``spec.check(value)``, with problems raised as ``error`` naming ``source`` (e.g. ``config /x.yaml``)."""
    try:
        return spec.check(value, path)
    except SchemaError as err:
        raise error(err.path, err.problem, source) from None


def fail(source: str, path: str, problem: str) -> SchemaError:
    """The error for a rule that relates several keys (raised by the caller), in the schema's format."""
    return SchemaError(path, problem, source)
