"""Physics checks on the shipped dataset (datasets/jets_hlf.root: features and constituents, two cards)."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from trigger_hgq.data.generation.features import FEATURE_NAMES

DATASETS = Path(__file__).resolve().parents[1] / "datasets"
HLF = DATASETS / "jets_hlf.root"
CONSTITUENTS = DATASETS / "jets_hlf.root"
CLASSES = ("g", "q", "w", "z", "t")


@pytest.fixture(scope="module")
def hlf() -> dict[str, np.ndarray]:
    if not HLF.exists():
        pytest.fail(f"shipped dataset missing: {HLF}")
    return uproot.open(HLF)["jets"].arrays(filter_name=["label", "j_*"], library="np")


def groomed_mass_peak(mass: np.ndarray, expected: float, half_window: float = 40.0) -> float:
    """Mode of the groomed-mass histogram (1 GeV bins, smoothed with a 7 GeV triangle) in expected +- window."""
    edges = np.arange(expected - half_window, expected + half_window + 1.0, 1.0)
    counts, _ = np.histogram(mass, bins=edges)
    kernel = np.array([1, 2, 3, 4, 3, 2, 1], dtype=float)
    smooth = np.convolve(counts, kernel / kernel.sum(), mode="same")
    centers = 0.5 * (edges[1:] + edges[:-1])
    return float(centers[np.argmax(smooth)])


def test_default_file_content_and_size(hlf):
    labels = hlf["label"]
    assert np.bincount(labels, minlength=5).tolist() == [20_000] * 5
    for name in ("j_pt", "j_eta", "j_phi", "j_mass", *FEATURE_NAMES):
        assert hlf[name].dtype == np.float32, name
        assert np.all(np.isfinite(hlf[name])), name
    assert np.all((hlf["j_pt"] > 800) & (hlf["j_pt"] < 1200)) and np.all(np.abs(hlf["j_eta"]) < 2.5)
    bytes_per_jet = HLF.stat().st_size / len(labels)
    print(f"\n{HLF.name}: {len(labels)} jets, {bytes_per_jet:.1f} bytes/jet")
    assert HLF.stat().st_size < 60e6  # 64 constituents per jet included: their mantissas are rounded to fit


@pytest.mark.parametrize("cls, expected", [("w", 80.4), ("z", 91.2), ("t", 172.5)])
def test_groomed_mass_peaks(hlf, cls, expected):
    mass = hlf["j_mass_mmdt"][hlf["label"] == CLASSES.index(cls)]
    peak = groomed_mass_peak(mass, expected)
    print(f"\n{cls}: groomed-mass peak {peak:.1f} GeV (expected {expected})")
    assert abs(peak - expected) < 5.0


def test_peak_estimator_finds_a_known_peak():
    rng = np.random.default_rng(0)
    sample = np.concatenate([rng.normal(86.0, 8.0, 20_000), rng.uniform(0, 300, 20_000)])
    assert abs(groomed_mass_peak(sample, 80.4) - 86.0) <= 1.5


def test_gluon_jets_have_more_constituents_than_quark_jets(hlf):
    mult = hlf["j_multiplicity"]
    g, q = mult[hlf["label"] == 0].mean(), mult[hlf["label"] == 1].mean()
    print(f"\nmean multiplicity: g {g:.1f}, q {q:.1f}")
    assert g > q


@pytest.mark.slow
def test_float_mlp_reaches_70_percent(hlf):
    """A float 16-64-32-32-5 MLP trained briefly on the standardized features (split 60/20/20, seed 42)."""
    import keras

    x = np.stack([hlf[name] for name in FEATURE_NAMES], axis=1).astype(np.float32)
    y = hlf["label"].astype(np.int64)
    order = np.random.default_rng(42).permutation(len(y))
    n_train, n_val = int(0.6 * len(y)), int(0.2 * len(y))
    train, val, test = np.split(order, [n_train, n_train + n_val])
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    x = (x - mean) / std
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input(shape=(16,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(5, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x[train], y[train], validation_data=(x[val], y[val]), epochs=12, batch_size=256, verbose=0,
              callbacks=[keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)])
    _, accuracy = model.evaluate(x[test], y[test], verbose=0)
    print(f"\nfloat MLP test accuracy: {accuracy:.4f}")
    assert accuracy >= 0.70


def test_constituent_file():
    if not CONSTITUENTS.exists():
        pytest.fail(f"shipped dataset missing: {CONSTITUENTS}")
    jets = uproot.open(CONSTITUENTS)["jets"].arrays(["label", "const_pt", "nconst", "j_multiplicity", "j_pt"])
    assert np.bincount(ak.to_numpy(jets.label), minlength=5).tolist() == [20_000] * 5
    pt = jets.const_pt
    assert ak.max(ak.num(pt)) == 64 and ak.all(ak.num(pt) == jets.nconst)
    assert ak.all(pt[:, 1:] <= pt[:, :-1])  # leading constituents first
    assert np.all(ak.to_numpy(jets.nconst) == np.minimum(ak.to_numpy(jets.j_multiplicity), 64))
    assert np.mean(ak.to_numpy(jets.nconst) >= 32) > 0.95  # >= 32 particles in nearly every jet
    # the kept constituents carry most of the jet momentum
    frac = ak.to_numpy(ak.sum(pt, axis=1)) / ak.to_numpy(jets.j_pt)
    assert np.median(frac) > 0.9


@pytest.mark.parametrize("stem, per_class", [("jets_hlf", 20_000), ("jets_constituents", 20_000),
                                             ("jets_constituents16", 20_000)])
def test_cards_match_their_files(stem, per_class):
    card = yaml.safe_load((DATASETS / f"{stem}.yaml").read_text())
    assert set(card) == {"name", "description", "files", "tree", "features", "label", "classes", "flatten", "cut",
                         "constituents", "split", "nan_policy", "generation"}
    root = DATASETS / card["files"][0]
    meta = json.loads(str(uproot.open(root)["generation"]))
    assert card["generation"] == {"command": meta["command"], "seed": meta["seed"]}
    assert f"--jets-per-class {per_class}" in meta["command"]
    assert card["features"] == list(FEATURE_NAMES) and card["classes"] == list(CLASSES)
    assert uproot.open(root)[card["tree"]].num_entries == 5 * per_class


@pytest.mark.slow
def test_the_shipped_rows_come_back_from_the_cards_seed(hlf):
    """Re-run the first 20 events of the first top chunk: its jets are rows of the shipped file, bit for bit."""
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")
    from trigger_hgq.data.generation.pythia_jets import PROCESSES, ChunkTask, JetSelection, chunk_seed, run_chunk

    seed = yaml.safe_load((DATASETS / "jets_hlf.yaml").read_text())["generation"]["seed"]
    process = [p.name for p in PROCESSES].index("ttbar")
    jets = run_chunk(ChunkTask(process, 0, 20, chunk_seed(seed, process, 0), JetSelection(), 0))
    assert len(jets["label"]) >= 10
    columns = ("j_pt", "j_eta", "j_phi", "j_mass", *FEATURE_NAMES)
    for i in range(len(jets["label"])):
        rows = np.flatnonzero((hlf["j_pt"] == np.float32(jets["j_pt"][i]))
                              & (hlf["j_eta"] == np.float32(jets["j_eta"][i])))
        assert rows.size == 1
        assert hlf["label"][rows[0]] == jets["label"][i] == CLASSES.index("t")
        for name in columns:
            assert hlf[name][rows[0]] == np.float32(jets[name][i]), name
