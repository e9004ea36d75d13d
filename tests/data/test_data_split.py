"""The split: the same rows in the same order for the same seed, whatever the order of the input files."""

from __future__ import annotations

import numpy as np
import pytest
from rootfiles import JET_CARD, event_columns, jet_columns, write_root

from trigger_hgq.data import load_dataset, parse_card, split_indices
from trigger_hgq.data.split import split_counts
from trigger_hgq.errors import TriggerHGQError

ARRAYS = ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")


@pytest.fixture
def three_files(tmp_path):
    return [write_root(tmp_path / f"part{i}.root", jet_columns(150 + 40 * i, seed=i), basket_entries=64)
            for i in range(3)]


def _load(files, **card):
    return load_dataset(parse_card(dict(JET_CARD, files=[str(f) for f in files], step_size=50, **card)))


def test_same_split_whatever_the_file_order(three_files):
    a, b, c = three_files
    reference = _load([a, b, c])
    for order in ([c, a, b], [b, c, a], [c, b, a]):
        other = _load(order)
        for name in ARRAYS:
            np.testing.assert_array_equal(getattr(reference, name), getattr(other, name), err_msg=name)
        np.testing.assert_array_equal(reference.scaler.mean, other.scaler.mean)
    n = 150 + 190 + 230
    assert (len(reference.train), len(reference.val), len(reference.test)) == tuple(split_counts(n, (.6, .2, .2)))


def test_split_mixes_the_files_and_changes_with_the_seed(three_files):
    ref = _load(three_files)
    raw = load_dataset(parse_card(dict(JET_CARD, files=[str(f) for f in three_files])), standardize=False)
    file_of = (raw.x_test[:, 3] // 1e5).astype(int)  # f3 = row + 1e5 * file seed
    assert set(file_of) == {0, 1, 2}
    other = _load(three_files, split=dict(JET_CARD["split"], seed=4))
    assert not np.array_equal(np.sort(ref.x_test[:, 3]), np.sort(other.x_test[:, 3]))


def test_same_split_with_event_keys_and_flattened_rows(tmp_path):
    files = [write_root(tmp_path / f"ev{i}.root", dict(event_columns(60, seed=i), run=np.full(60, i, np.int32)))
             for i in range(2)]
    card = {"flatten": "Jet", "features": ["Jet_pt", "MET_pt"], "label": {"expression": "Jet_hadronFlavour > 0"},
            "classes": ["light", "heavy"], "split": {"key": ["run", "luminosityBlock", "event"], "seed": 9}}
    one = load_dataset(parse_card(dict(card, files=[str(f) for f in files])))
    two = load_dataset(parse_card(dict(card, files=[str(f) for f in reversed(files)])))
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name))


def test_same_basename_in_two_folders_is_order_independent(tmp_path):
    paths = []
    for i in range(2):
        (tmp_path / f"d{i}").mkdir()
        paths.append(write_root(tmp_path / f"d{i}" / "out.root", jet_columns(80, seed=i)))
    a, b = _load(paths), _load(paths[::-1])
    assert a.info["rows"] == 160
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_duplicate_split_keys_are_refused(tmp_path):
    path = write_root(tmp_path / "dup.root", jet_columns(40))
    card = parse_card(dict(JET_CARD, files=[str(path)], split={"key": ["run"]}))
    with pytest.raises(TriggerHGQError, match="rows share their split key"):
        load_dataset(card)


def test_split_counts_are_exact():
    assert split_counts(10, (0.6, 0.2, 0.2)) == [6, 2, 2]
    assert split_counts(2, (0.6, 0.2, 0.2)) == [1, 1, 0]
    assert split_counts(7, (0.5, 0.25, 0.25)) == [3, 2, 2]  # 3.5, 1.75, 1.75: largest remainders
    keys = np.arange(1000, dtype=np.uint64)
    parts = split_indices(keys, (0.7, 0.1, 0.2), seed=1)
    assert [len(p) for p in parts] == [700, 100, 200]
    assert sorted(np.concatenate(parts).tolist()) == list(range(1000))
