"""Standardization: fitted on the training split only, saved and reloaded as JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rootfiles import JET_CARD

from trigger_hgq.data import Standardizer, load_dataset, parse_card
from trigger_hgq.errors import TriggerHGQError


def test_fitted_on_the_training_split_only(jets_file, tmp_path):
    card = parse_card(dict(JET_CARD, files=[str(jets_file)]))
    raw = load_dataset(card, standardize=False)
    ds = load_dataset(card)
    np.testing.assert_allclose(ds.scaler.mean, raw.x_train.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(ds.scaler.std, raw.x_train.astype(np.float64).std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(axis=0), 1, atol=1e-5)
    np.testing.assert_allclose(ds.x_test, (raw.x_test - ds.scaler.mean) / ds.scaler.std, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ds.scaler.mean, raw.x_test.mean(axis=0))  # the test split did not enter the fit
    path = ds.scaler.save(tmp_path / "run" / "scaler.json")
    data = json.loads(path.read_text())
    assert data["feature_names"] == ["f0", "f1", "f2", "f3"] and data["formula"] == "(x - mean) / std"
    again = Standardizer.load(path)
    np.testing.assert_array_equal(again.transform(raw.x_val), ds.x_val)
    np.testing.assert_allclose(again.inverse(ds.x_val), raw.x_val, rtol=1e-5, atol=1e-4)


def test_constant_feature_and_bad_files(tmp_path):
    x = np.stack([np.full(10, 3.0), np.arange(10.0)], axis=1)
    s = Standardizer.fit(x, ["const", "ramp"])
    assert s.std[0] == 1.0 and np.all(s.transform(x)[:, 0] == 0)
    (tmp_path / "bad.json").write_text(json.dumps({"feature_names": ["a"], "mean": [0.0], "std": [0.0]}))
    with pytest.raises(TriggerHGQError, match=r"bad\.json: std must be positive"):
        Standardizer.load(tmp_path / "bad.json")
    (tmp_path / "trunc.json").write_text('{"feature_names": ["a"], "mean": [0')
    with pytest.raises(TriggerHGQError, match=r"trunc\.json: not valid JSON"):
        Standardizer.load(tmp_path / "trunc.json")
