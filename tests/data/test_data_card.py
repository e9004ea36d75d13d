"""Dataset cards: the schema, its defaults, and one error naming the card and the key for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trigger_hgq.data import FlattenSpec, load_card, parse_card
from trigger_hgq.errors import TriggerHGQError

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
MINIMAL = {"files": ["a.root"], "features": ["x"], "label": {"branch": "y"}, "classes": ["s", "b"]}


def test_defaults_and_forms():
    card = parse_card(MINIMAL)
    assert card.tree == "Events" and card.nan_policy == "error" and card.step_size == 100_000
    assert (card.split.train, card.split.val, card.split.test, card.split.seed) == (0.6, 0.2, 0.2, 42)
    assert card.features == {"x": "x"} and card.flatten is None and card.constituents is None
    card = parse_card(dict(MINIMAL, features={"ratio": "x / z"}, label="y", step_size="20 MB",
                           constituents={"branches": ["pt", "eta"], "max_particles": 8}))
    assert card.features == {"ratio": "x / z"} and card.label.branch == "y" and card.step_size == "20 MB"
    assert card.constituents.fields == {"pt": "pt", "eta": "eta"} and card.constituents.sort_by == "pt"
    assert parse_card(dict(MINIMAL, format="hdf5")).tree == "jets"
    assert parse_card(dict(MINIMAL, flatten="Jet")).flatten == FlattenSpec("Jet")
    assert parse_card(dict(MINIMAL, flatten={"collection": "Jet", "counter": "Jet_size", "members": "Jet."})).flatten \
        == FlattenSpec("Jet", counter="Jet_size", members="Jet.")


@pytest.mark.parametrize("change, message", [
    ({"label": {"branch": "y", "expression": "z > 1"}}, "key 'label': needs exactly one of branch, one_hot, "
                                                        "expression; got ['branch', 'expression']"),
    ({"label": {"brnch": "y"}}, "key 'label.brnch': unknown key"),
    ({"split": {"train": 0.5, "val": 0.2, "test": 0.2}}, "key 'split': train + val + select + test must be 1, got 0.9"),
    ({"split": {"train": 0.0, "val": 0.5, "test": 0.5}}, "key 'split.train': must be above 0"),
    ({"nan_policy": "ignore"}, 'key \'nan_policy\': expected one of "error" | "drop" | "fill", got \'ignore\''),
    ({"step_size": "lots"}, "key 'step_size': expected a number of entries >= 1 or a size such as '50 MB', got 'lots'"),
    ({"step_size": 0}, "key 'step_size': expected a number of entries >= 1 or a size such as '50 MB', got 0"),
    ({"classes": ["s", "s"]}, "key 'classes': class names must be unique"),
    ({"constituents": {"branches": {"pt": "c_pt"}, "sort_by": "e"}}, "key 'constituents.sort_by': 'e' is not one"),
    ({"constituents": {"branches": {"pt": "c_pt"}}, "flatten": "Jet"}, "key 'constituents': cannot be combined"),
    ({"features": []}, "key 'features': expected a non-empty list of names or a mapping"),
    ({"flatten": {"counter": "Jet_size"}}, "key 'flatten.collection': missing required key"),
    ({"flatten": {"collection": "Jet", "countr": "n"}}, "key 'flatten.countr': unknown key"),
    ({"flatten": {"collection": "Jet", "counter": 3}}, "key 'flatten.counter': expected a non-empty string, got 3"),
    ({"cache": 3}, "key 'cache': expected a non-empty string, got 3"),
    ({"constituents": {"branches": ["pt"], "max_particles": "abc"}},
     "key 'constituents.max_particles': expected an integer >= 1, got 'abc'"),
    ({"split": {"train": 1.5, "val": 0.0, "test": 0.0}}, "key 'split.train': expected a number <= 1.0, got 1.5"),
])
def test_bad_values_name_the_card_and_key(tmp_path, change, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(dict(MINIMAL, **change)))
    with pytest.raises(TriggerHGQError) as err:
        load_card(path)
    assert str(err.value).startswith(f"dataset card {path}: ") and message in str(err.value), str(err.value)


def test_required_keys_and_missing_card(tmp_path):
    with pytest.raises(TriggerHGQError, match="key 'label': missing required key"):
        parse_card({"files": ["a.root"], "features": ["x"]})
    with pytest.raises(TriggerHGQError, match="key 'classes': is required with label.branch 'y'"):
        parse_card({"files": ["a.root"], "features": ["x"], "label": {"branch": "y"}})
    with pytest.raises(TriggerHGQError, match=r"dataset card not found: .*nope\.yaml"):
        load_card(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(TriggerHGQError, match=r"list\.yaml: expected a YAML mapping"):
        load_card(tmp_path / "list.yaml")


@pytest.mark.parametrize("card", sorted(p.name for p in DATASETS.glob("*.yaml")))
def test_shipped_cards_are_valid(card):
    parsed = load_card(DATASETS / card)
    assert parsed.name == Path(card).stem and parsed.description
