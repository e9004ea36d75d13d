"""Reading ROOT files through cards: flat trees, flattened collections, cuts, constituents, NaN policies, cache."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from rootfiles import JET_CARD, event_columns, jet_columns, write_card, write_root

from trigger_hgq.data import iter_chunks, load_card, load_dataset, parse_card
from trigger_hgq.errors import TriggerHGQError


def _all_rows(ds):
    """Every row of the three splits, raw features and labels, ordered by the unique feature f3."""
    x = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
    y = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    order = np.argsort(x[:, 3])
    return x[order], y[order]


def test_flat_tree_rows_equal_the_written_branches(tmp_path, jets_card):
    cols = jet_columns(300)
    ds = load_dataset(jets_card, standardize=False)
    assert ds.feature_names == ["f0", "f1", "f2", "f3"] and ds.class_names == ["a", "b", "c"]
    assert (len(ds.train), len(ds.val), len(ds.test)) == (180, 60, 60)
    x, y = _all_rows(ds)
    expected = np.stack([cols[f].astype(np.float32) for f in ("f0", "f1", "f2", "f3")], axis=1)
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(y, cols["label"])
    assert ds.info["rows"] == 300 and ds.info["from_cache"] is False


def test_step_size_does_not_change_the_result(tmp_path, jets_file):
    a = load_dataset(parse_card(dict(JET_CARD, files=[str(jets_file)], step_size=7)))
    b = load_dataset(parse_card(dict(JET_CARD, files=[str(jets_file)], step_size=100000)))
    c = load_dataset(parse_card(dict(JET_CARD, files=[str(jets_file)], step_size="1 kB")))
    for other in (b, c):
        for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
            np.testing.assert_array_equal(getattr(a, name), getattr(other, name))
    assert len(list(iter_chunks(parse_card(dict(JET_CARD, files=[str(jets_file)], step_size=7))))) == 43


def test_flatten_broadcasts_event_values_and_cuts_per_object(tmp_path):
    cols = event_columns(80)
    path = write_root(tmp_path / "events.root", cols, basket_entries=30)
    card = parse_card({
        "files": [str(path)], "flatten": "Jet", "features": {"pt": "Jet_pt", "eta": "Jet_eta", "met": "MET_pt",
                                                             "ratio": "Jet_pt / (MET_pt + 1)"},
        "label": {"expression": "(Jet_hadronFlavour == 4) * 1 + (Jet_hadronFlavour == 5) * 2"},
        "classes": ["light", "c", "b"], "cut": "Jet_eta > -0.6", "step_size": 25,
        "split": {"train": 0.5, "val": 0.25, "test": 0.25, "seed": 1, "key": ["run", "luminosityBlock", "event"]},
    })
    ds = load_dataset(card, standardize=False)
    x = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
    y = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    pt = ak.flatten(cols["Jet"]["pt"]).to_numpy()
    eta = ak.flatten(cols["Jet"]["eta"]).to_numpy()
    flav = ak.flatten(cols["Jet"]["hadronFlavour"]).to_numpy()
    keep = eta > -0.6  # drops the first jet of each event (eta -1.0)
    assert len(x) == keep.sum() and keep.sum() < len(pt)
    order = np.argsort(x[:, 0])
    x, y = x[order], y[order]
    np.testing.assert_array_equal(x[:, 0], pt[keep])
    np.testing.assert_array_equal(x[:, 2], np.floor(x[:, 0] / 100))  # the event's MET_pt, broadcast
    np.testing.assert_allclose(x[:, 3], x[:, 0] / (x[:, 2] + 1), rtol=1e-6)
    np.testing.assert_array_equal(y, np.select([flav[keep] == 4, flav[keep] == 5], [1, 2], 0))


def test_constituents_padded_sorted_by_pt_with_mask(tmp_path, jets_file):
    cols = jet_columns(300)
    card = parse_card(dict(JET_CARD, files=[str(jets_file)], step_size=64, constituents={
        "branches": {"pt": "c_pt", "eta": "c_eta", "phi": "c_phi"}, "max_particles": 6, "sort_by": "pt"}))
    ds = load_dataset(card, standardize=False)
    assert ds.constituent_fields == ["pt", "eta", "phi"]
    c = np.concatenate([s.constituents for s in (ds.train, ds.val, ds.test)])
    m = np.concatenate([s.mask for s in (ds.train, ds.val, ds.test)])
    f3 = np.concatenate([ds.x_train, ds.x_val, ds.x_test])[:, 3]
    assert c.shape == (300, 6, 3) and m.shape == (300, 6) and c.dtype == np.float32
    for i in np.argsort(f3)[:40]:
        row = int(f3[i])
        pt, eta = np.asarray(cols["c"]["pt"][row]), np.asarray(cols["c"]["eta"][row])
        order = np.argsort(-pt, kind="stable")[:6]
        k = len(order)
        assert m[i].sum() == k and m[i, :k].all()
        np.testing.assert_array_equal(c[i, :k, 0], pt[order])
        np.testing.assert_array_equal(c[i, :k, 1], eta[order])
        assert np.all(c[i, k:] == 0)


def test_nan_policies(tmp_path):
    cols = jet_columns(50)
    cols["f1"] = cols["f1"].copy()
    cols["f1"][[5, 17]] = [np.nan, np.inf]
    path = write_root(tmp_path / "nan.root", cols)
    base = dict(JET_CARD, files=[str(path)])
    with pytest.raises(TriggerHGQError, match=r"feature 'f1' is nan at .*nan\.root, tree 'Events', entry 5 "
                                              r"\(nan_policy: error"):
        load_dataset(parse_card(base))
    dropped = load_dataset(parse_card(dict(base, nan_policy="drop")), standardize=False)
    assert dropped.info["rows"] == 48 and dropped.info["rows_dropped_nan"] == 2
    assert 5 not in _all_rows(dropped)[0][:, 3]
    filled = load_dataset(parse_card(dict(base, nan_policy="fill", fill_value=-9.0)), standardize=False)
    x, _ = _all_rows(filled)
    assert filled.info["values_filled_nan"] == 2 and x[5, 1] == -9.0 and x[17, 1] == -9.0


def test_one_hot_labels_and_aliases(tmp_path):
    cols = jet_columns(60)
    for k, name in enumerate(("is_a", "is_b", "is_c")):
        cols[name] = (cols["label"] == k).astype(np.float32)
    path = write_root(tmp_path / "onehot.root", cols)
    card = parse_card({"files": [str(path)], "features": {"f0": "f0", "f1": "f1", "sum": "s", "f3": "f3"},
                       "aliases": {"s": "f1 + f2"}, "label": {"one_hot": ["is_a", "is_b", "is_c"]}})
    assert card.classes == ("is_a", "is_b", "is_c")
    ds = load_dataset(card, standardize=False)
    x, y = _all_rows(ds)
    np.testing.assert_array_equal(y, cols["label"])
    np.testing.assert_allclose(x[:, 2], cols["f1"] + cols["f2"], rtol=1e-6)


def test_cache_is_reused_and_invalidated(tmp_path, jets_file):
    card_path = write_card(tmp_path / "c.yaml", files=["jets.root"], cache="cache", **JET_CARD)
    first = load_dataset(card_path)
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz" and first.info["from_cache"] is False
    second = load_dataset(card_path)
    assert second.info["from_cache"] is True
    np.testing.assert_array_equal(first.x_train, second.x_train)
    np.testing.assert_array_equal(first.y_test, second.y_test)
    write_root(jets_file, jet_columns(120, seed=5))  # the input changes: the old cache is not used
    third = load_dataset(card_path)
    assert third.info["from_cache"] is False and third.info["rows"] == 120
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_card_files_are_relative_to_the_card_and_expand_variables(tmp_path, jets_file, monkeypatch):
    sub = tmp_path / "cards"
    sub.mkdir()
    card = write_card(sub / "c.yaml", files=["${TOY_DATA:-..}/jets.root"], **JET_CARD)
    assert load_card(card).resolve_files() == [jets_file.resolve()]
    monkeypatch.setenv("TOY_DATA", str(tmp_path))
    assert load_card(write_card(sub / "d.yaml", files=["$TOY_DATA/*.root"], **JET_CARD)).resolve_files() == [
        jets_file.resolve()]
    monkeypatch.delenv("TOY_DATA")
    with pytest.raises(TriggerHGQError, match=r"d\.yaml: key 'files': environment variable TOY_DATA is not set"):
        load_card(sub / "d.yaml").resolve_files()
