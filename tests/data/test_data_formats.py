"""One registry of data-file formats: the card's ``format`` values, suffixes, readers and inspectors."""

from __future__ import annotations

from dataclasses import replace

import h5py
import numpy as np
import pytest

from trigger_hgq.data import inspect_file, load_dataset, parse_card
from trigger_hgq.data.card import FORMATS
from trigger_hgq.data.dataset import resolve_card
from trigger_hgq.data.formats import FILE_FORMATS, card_format, format_of
from trigger_hgq.errors import TriggerHGQError


def test_registry_covers_the_card_formats_and_suffixes_are_unique():
    assert sorted(FILE_FORMATS) == sorted(set(FORMATS) - {"auto"})
    suffixes = [s for f in FILE_FORMATS.values() for s in f.suffixes]
    assert len(suffixes) == len(set(suffixes))
    assert format_of("a/b/jets.CSV").name == "openml"
    assert format_of("jets.hdf5").name == format_of("jets.h5").name == "hdf5"
    assert format_of("events.root").name == "root"
    assert format_of("jets.parquet") is None


def test_auto_format_from_the_suffix_or_an_error_naming_the_key(tmp_path):
    card = parse_card({"name": "t", "files": ["x.root"], "tree": "t", "features": {"a": "a"},
                       "label": {"branch": "y"}, "classes": ["a", "b"]}, tmp_path / "card.yaml")
    assert card_format(card, tmp_path / "x.root").name == "root"
    assert card_format(replace(card, format="hdf5"), tmp_path / "x.root").name == "hdf5"
    with pytest.raises(TriggerHGQError, match=r"card.yaml.*x\.dat from its suffix; set key 'format' to one of "
                                              r"root, openml, hdf5"):
        card_format(card, tmp_path / "x.dat")


def test_bare_files_read_through_their_format(tmp_path):
    with pytest.raises(TriggerHGQError, match=r"x\.root: a ROOT file is read through a dataset card"):
        resolve_card(tmp_path / "x.root")
    csv = tmp_path / "small.csv"
    names = list(resolve_card(csv).features)  # the OpenML card names the 16 features
    rng = np.random.default_rng(0)
    rows = [",".join([*(f"{v:.3f}" for v in rng.normal(size=16)), "gqwzt"[i % 5]]) for i in range(50)]
    csv.write_text(",".join([*names, "class"]) + "\n" + "\n".join(rows) + "\n")
    ds = load_dataset(csv)
    assert sum(len(ds.split(s)) for s in ("train", "val", "test")) == 50
    info = inspect_file(csv)
    assert (info["format"], info["rows"], len(info["columns"])) == ("csv", 50, 17)


def test_inspect_dispatches_on_the_suffix(tmp_path):
    h5 = tmp_path / "x.h5"
    with h5py.File(h5, "w") as f:
        f["jets"] = np.zeros((3, 4), np.float32)
    assert inspect_file(h5) == {"file": str(h5), "format": "hdf5", "datasets": {"jets": {"shape": [3, 4],
                                                                                        "dtype": "float32"}}}
    other = tmp_path / "x.unknown"
    other.write_bytes(b"not a ROOT file")
    with pytest.raises(TriggerHGQError, match="x.unknown"):  # an unknown suffix is read as ROOT
        inspect_file(other)
