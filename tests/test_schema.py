"""The declarative schema module: normalised values, defaults, and one message format naming source and key."""

from __future__ import annotations

import numpy as np
import pytest

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.schema import (
    Enum,
    Field,
    Float,
    Int,
    ListOf,
    MapOf,
    Nullable,
    Obj,
    OneOf,
    SchemaError,
    Str,
    Tagged,
    Where,
    validate,
)

SPEC = Obj({
    "size": Field(Int(lo=1), doc="rows", default=50),
    "kind": Field(Enum(("a", "b")), default="a"),
    "names": Field(Nullable(ListOf(Str(), nonempty=True, scalar_ok=True))),
    "inner": Field(Nullable(Obj({"branch": (Str(), True, "a branch name")}, strict=True, shorthand="branch"))),
    "step": Field(OneOf((Int(lo=1), Where(Str(), lambda t: None if t.endswith("MB") else "not a size")),
                        doc="a count or a size")),
}, strict=True)


def test_defaults_and_normalisation():
    out = validate(SPEC, {"names": "x", "inner": "pt", "size": np.int64(3), "_file": "f.yaml"}, "card x.yaml")
    assert out == {"size": 3, "kind": "a", "names": ["x"], "inner": {"branch": "pt"}, "step": None,
                   "_file": "f.yaml"}
    assert type(out["size"]) is int
    assert validate(SPEC, {"step": "5 MB"}, "card x.yaml")["step"] == "5 MB"


@pytest.mark.parametrize("value, message", [
    ({"size": "abc"}, "card x.yaml: key 'size': expected an integer >= 1, got 'abc'"),
    ({"size": 0}, "card x.yaml: key 'size': expected an integer >= 1, got 0"),
    ({"kind": "c"}, "card x.yaml: key 'kind': expected one of \"a\" | \"b\", got 'c'"),
    ({"colour": 1}, "card x.yaml: key 'colour': unknown key (known: size, kind, names, inner, step)"),
    ({"inner": {}}, "card x.yaml: key 'inner.branch': missing required key (a branch name)"),
    ({"inner": {"branch": "x", "leaf": 1}}, "card x.yaml: key 'inner.leaf': unknown key (known: branch)"),
    ({"names": []}, "card x.yaml: key 'names': expected a non-empty list"),
    ({"names": ["a", 3]}, "card x.yaml: key 'names[1]': expected a non-empty string, got 3"),
    ({"step": "lots"}, "card x.yaml: key 'step': expected a count or a size, got 'lots'"),
    ([1, 2], "card x.yaml: expected a mapping, got [1, 2]"),
])
def test_one_message_format(value, message):
    with pytest.raises(TriggerHGQError) as info:
        validate(SPEC, value, "card x.yaml")
    assert str(info.value) == message
    assert isinstance(info.value, SchemaError) and info.value.source == "card x.yaml"


def test_float_bounds_and_text_numbers():
    assert validate(Float(text_ok=True), "1e-3", "config c.yaml", "lr") == 0.001
    with pytest.raises(SchemaError, match="^config c.yaml: key 'lr': expected a number, got '1e-3'$"):
        validate(Float(), "1e-3", "config c.yaml", "lr")
    with pytest.raises(SchemaError, match=r"key 'f': expected a number <= 1.0 \(a fraction\), got 2$"):
        validate(Float(hi=1.0, hint=" (a fraction)"), 2, "budget", "f")
    with pytest.raises(SchemaError, match="expected a finite number, got inf"):
        validate(Float(positive=True), float("inf"), "budget", "f")


def test_nested_problem_inside_one_of_keeps_its_path():
    spec = OneOf((Int(lo=0), Obj({"hgq": (Int(lo=0), False)}, strict=True)), doc="a count or a mapping")
    with pytest.raises(SchemaError) as info:
        validate(spec, {"hgq": -1}, "config p.yaml", "export.rtl")
    assert info.value.path == "export.rtl.hgq" and "expected an integer >= 0, got -1" in str(info.value)
    with pytest.raises(SchemaError, match="key 'export.rtl': expected a count or a mapping, got 'yes'"):
        validate(spec, "yes", "config p.yaml", "export.rtl")


def test_tagged_mappings_pick_their_keys_by_type():
    spec = ListOf(Tagged("type", {"dense": Obj({"type": (Str(), True), "units": (Int(lo=1), True)}, strict=True),
                                  "flatten": Obj({"type": (Str(), True)}, strict=True)}))
    assert validate(spec, [{"type": "dense", "units": 4}, {"type": "flatten"}], "c") == [
        {"type": "dense", "units": 4}, {"type": "flatten"}]
    with pytest.raises(SchemaError, match=r"key 'layers\[1\].type': expected one of dense, flatten, got 'lstm'"):
        validate(spec, [{"type": "flatten"}, {"type": "lstm"}], "c", "layers")
    with pytest.raises(SchemaError, match=r"key 'layers\[0\].units': unknown key"):
        validate(spec, [{"type": "flatten", "units": 3}], "c", "layers")


def test_map_keys_are_checked():
    with pytest.raises(SchemaError, match="key 'bits.4.5': expected a key that is a whole number of bits"):
        validate(MapOf(Int(), int_keys=True), {"4.5": 1}, "report", "bits")
    with pytest.raises(SchemaError, match="key 'kernel': expected a non-empty mapping"):
        validate(MapOf(Int(), nonempty=True), {}, "config a.yaml", "kernel")
