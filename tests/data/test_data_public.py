"""The public hls4ml jet dataset formats: OpenML ARFF/CSV and the Zenodo HDF5 files (small files, real layout)."""

from __future__ import annotations

from dataclasses import replace

import h5py
import numpy as np
import pytest

from trigger_hgq.cli import main
from trigger_hgq.data import HLF_FEATURES, SplitSpec, load_dataset, openml_card, zenodo_card
from trigger_hgq.errors import TriggerHGQError

OPENML_CLASSES = ["g", "q", "t", "w", "z"]  # the nominal values as the ARFF header declares them
PARTICLE_NAMES = ["j1_px", "j1_py", "j1_pz", "j1_e", "j1_erel", "j1_pt", "j1_ptrel", "j1_eta", "j1_etarel",
                  "j1_etarot", "j1_phi", "j1_phirel", "j1_phirot", "j1_deltaR", "j1_costheta", "j1_costhetarel",
                  "j1_pdgid"]  # one name more than the 16 columns of jetConstituentList, as in the real files
JET_NAMES = (["j_ptfrac", "j_pt", "j_eta", "j_mass", "j_tau1_b1", "j_tau2_b1", "j_tau3_b1", "j_tau1_b2", "j_tau2_b2",
              "j_tau3_b2", "j_tau32_b1", "j_tau32_b2"] + ["j_zlogz"]
             + [f"j_{v}" for v in ("c1_b0", "c1_b1", "c1_b2", "c2_b1", "c2_b2", "d2_b1", "d2_b2", "d2_a1_b1",
                                   "d2_a1_b2", "m2_b1", "m2_b2", "n2_b1", "n2_b2")]
             + [f"j_tau{k}_b{b}_mmdt" for b in (1, 2) for k in (1, 2, 3)] + ["j_tau32_b1_mmdt", "j_tau32_b2_mmdt"]
             + list(HLF_FEATURES[1:15]) + ["j_mass_trim", "j_mass_prun", "j_mass_sdb2", "j_mass_sdm1"]
             + ["j_multiplicity", "j_g", "j_q", "j_w", "j_z", "j_t", "j_undef"])


def _rows(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16)).round(4)
    x[:, 15] = rng.integers(5, 80, n)  # multiplicity
    x[:, 0] = np.arange(n) + 0.5  # identifies each row
    labels = rng.choice(OPENML_CLASSES, n)
    return x, labels


def _write_arff(path, x, labels, missing=None):
    lines = ["% hls4ml LHC jet dataset (high-level features)", "@RELATION hls4ml_lhc_jets_hlf", ""]
    lines += [f"@ATTRIBUTE {name} NUMERIC" for name in HLF_FEATURES]
    lines += ["@ATTRIBUTE class {" + ",".join(OPENML_CLASSES) + "}", "", "@DATA"]
    for i, (row, lab) in enumerate(zip(x, labels, strict=True)):
        values = [repr(float(v)) for v in row]
        if missing is not None and i == missing:
            values[3] = "?"
        lines.append(",".join(values + [lab]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_openml_arff_loads_with_classes_in_hls4ml_order(tmp_path):
    x, labels = _rows(200)
    path = _write_arff(tmp_path / "hls4ml_lhc_jets_hlf.arff", x, labels)
    ds = load_dataset(path, standardize=False)
    assert ds.class_names == ["g", "q", "w", "z", "t"] and ds.feature_names == list(HLF_FEATURES)
    xs = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
    ys = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    order = np.argsort(xs[:, 0])
    np.testing.assert_allclose(xs[order], x.astype(np.float32))
    expected = np.array([{"g": 0, "q": 1, "w": 2, "z": 3, "t": 4}[v] for v in labels])
    np.testing.assert_array_equal(ys[order], expected)


def test_openml_csv_and_missing_values(tmp_path):
    x, labels = _rows(60, seed=1)
    header = ",".join(f'"{n}"' for n in HLF_FEATURES) + ',"class"'
    body = "\n".join(",".join([*map(str, row), lab]) for row, lab in zip(x, labels, strict=True))
    (tmp_path / "jets.csv").write_text(header + "\n" + body + "\n")
    ds = load_dataset(tmp_path / "jets.csv", standardize=False)
    assert ds.info["rows"] == 60
    np.testing.assert_allclose(np.sort(np.concatenate([ds.x_train, ds.x_val, ds.x_test])[:, 0]), x[:, 0])
    x2, labels2 = _rows(50, seed=2)
    x2[:, 0] += 1000
    _write_arff(tmp_path / "more.arff", x2, labels2)
    card = openml_card(tmp_path / "jets.csv", split=SplitSpec(0.5, 0.25, 0.25, seed=5, key=("j_zlogz",)))
    one = load_dataset(card, files=[tmp_path / "jets.csv", tmp_path / "more.arff"])
    two = load_dataset(card, files=[tmp_path / "more.arff", tmp_path / "jets.csv"])
    assert one.info["rows"] == 110
    np.testing.assert_array_equal(one.x_test, two.x_test)
    np.testing.assert_array_equal(one.y_train, two.y_train)
    _write_arff(tmp_path / "holes.arff", x, labels, missing=7)
    with pytest.raises(TriggerHGQError, match=r"feature 'j_c1_b2_mmdt' is nan at .*holes\.arff, data row 7"):
        load_dataset(tmp_path / "holes.arff")


def _write_zenodo(path, n, seed=0, max_particles=150):
    rng = np.random.default_rng(seed)
    jets = rng.normal(size=(n, len(JET_NAMES))).astype(np.float32)
    jets[:, JET_NAMES.index("j_zlogz")] = np.arange(n)  # identifies each row
    cls = rng.integers(0, 5, n)
    hot = np.zeros((n, 6), np.float32)
    hot[np.arange(n), cls] = 1
    jets[:, -6:] = hot
    counts = rng.integers(1, 40, n)
    constituents = np.zeros((n, max_particles, 16), np.float32)
    for i, k in enumerate(counts):
        constituents[i, :k] = rng.uniform(0.5, 50, (k, 16))  # not sorted: the reader sorts by pT
    with h5py.File(path, "w") as f:
        f["jets"] = jets
        f["jetFeatureNames"] = np.array([s.encode() for s in JET_NAMES])
        f["jetConstituentList"] = constituents
        f["particleFeatureNames"] = np.array([s.encode() for s in PARTICLE_NAMES])
        f["jetImage"] = np.zeros((n, 4, 4), np.float32)
    return jets, cls, counts, constituents


def test_zenodo_h5_features_labels_and_constituents(tmp_path):
    jets, cls, counts, constituents = _write_zenodo(tmp_path / "jetImage_0_150p_0_10000.h5", 120)
    card = zenodo_card(tmp_path / "jetImage_0_150p_0_10000.h5", max_particles=30)
    ds = load_dataset(replace(card, step_size=50), standardize=False)
    assert ds.constituent_fields == ["pt", "etarel", "phirel"]
    xs = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
    ys = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    cs = np.concatenate([ds.train.constituents, ds.val.constituents, ds.test.constituents])
    ms = np.concatenate([ds.train.mask, ds.val.mask, ds.test.mask])
    row = xs[:, 0].astype(int)
    np.testing.assert_array_equal(xs, jets[row][:, [JET_NAMES.index(f) for f in HLF_FEATURES]])
    np.testing.assert_array_equal(ys, cls[row])
    assert cs.shape == (120, 30, 3)
    pt_col, eta_col = PARTICLE_NAMES.index("j1_pt"), PARTICLE_NAMES.index("j1_etarel")
    for i in range(0, 120, 7):
        k = min(counts[row[i]], 30)
        raw = constituents[row[i], : counts[row[i]]]
        order = np.argsort(-raw[:, pt_col], kind="stable")[:k]
        assert ms[i].sum() == k
        np.testing.assert_array_equal(cs[i, :k, 0], raw[order, pt_col])
        np.testing.assert_array_equal(cs[i, :k, 1], raw[order, eta_col])
        assert not cs[i, k:].any()


def test_zenodo_missing_column_and_inspect(tmp_path, capsys):
    _write_zenodo(tmp_path / "z.h5", 10)
    card = zenodo_card(tmp_path / "z.h5")
    bad = replace(card, features={"x": "j_nope"})
    with pytest.raises(TriggerHGQError, match=r"z\.h5: no column 'j_nope' \(needed by feature 'x'"):
        load_dataset(bad)
    assert main(["data", "inspect", str(tmp_path / "z.h5")]) == 0
    out = capsys.readouterr().out
    assert "jetConstituentList: shape (10, 150, 16)" in out and "jets: shape (10, 59)" in out
    x, labels = _rows(5)
    _write_arff(tmp_path / "t.arff", x, labels)
    assert main(["data", "inspect", str(tmp_path / "t.arff")]) == 0
    out = capsys.readouterr().out
    assert "5 rows, 17 columns" in out and "class  {g,q,t,w,z}" in out
