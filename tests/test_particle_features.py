"""Per-particle features derived at load time (``constituents.jet`` / ``constituents.features``) on the shipped
the shipped jets (datasets/jets_hlf.root), checked against a recomputation from the raw jagged branches."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot
import yaml

from trigger_hgq.data import iter_chunks, load_card, load_dataset, parse_card
from trigger_hgq.data.generation.jetfile import write_card
from trigger_hgq.errors import TriggerHGQError

DATASETS = Path(__file__).resolve().parents[1] / "datasets"
CARD = DATASETS / "jets_constituents.yaml"
ROOT = DATASETS / "jets_hlf.root"  # replaced by its first jets (conftest.constituent_sample) for every test
FEATURES = ["pt_rel", "eta_rel", "phi_rel", "delta_r", "e_rel", "log_pt", "log_e"]
P = 64
N_CHECKED = 300


def _card(**constituents) -> dict:
    """The shipped card as a mapping (absolute file path), its constituents section updated."""
    data = yaml.safe_load(CARD.read_text())
    data["files"] = [str(ROOT)]
    data["constituents"] = {k: v for k, v in {**data["constituents"], **constituents}.items() if v is not None}
    return data


@pytest.fixture(scope="module", autouse=True)
def _sample_file(constituent_sample):
    global ROOT
    ROOT = constituent_sample


@pytest.fixture(scope="module")
def jets():
    return uproot.open(ROOT)["jets"].arrays()


@pytest.fixture(scope="module")
def shipped():
    return load_dataset(parse_card(_card()), standardize=False, use_cache=False)


def _expected(jets, entry: int) -> tuple[np.ndarray, int]:
    """The 7 features of one jet's leading (by pT) 64 constituents, from the raw branches, and their count."""
    pt, eta, phi, e = (np.asarray(jets[f"const_{f}"][entry], np.float64) for f in ("pt", "eta", "phi", "E"))
    order = np.argsort(-pt, kind="stable")[:P]
    pt, eta, phi, e = pt[order], eta[order], phi[order], e[order]
    j_pt, j_eta, j_phi, j_mass = (float(jets[b][entry]) for b in ("j_pt", "j_eta", "j_phi", "j_mass"))
    # jet energy from its momentum components
    p_jet_sq = (j_pt * np.cos(j_phi)) ** 2 + (j_pt * np.sin(j_phi)) ** 2 + (j_pt * np.sinh(j_eta)) ** 2
    e_jet = np.sqrt(p_jet_sq + j_mass**2)
    d_eta = eta - j_eta
    d_phi = np.arctan2(np.sin(phi - j_phi), np.cos(phi - j_phi))
    cols = [pt / j_pt, d_eta, d_phi, np.sqrt(d_eta**2 + d_phi**2), e / e_jet, np.log(pt), np.log(e)]
    return np.stack(cols, axis=1), len(order)


def _entries_of(split_x: np.ndarray, jets) -> np.ndarray:
    """The file entry of each row, found by its 16 high-level feature values (unique per jet)."""
    names = yaml.safe_load(CARD.read_text())["features"]
    stored = np.stack([ak.to_numpy(jets[f]).astype(np.float32) for f in names], axis=1)
    index = {row.tobytes(): i for i, row in enumerate(stored)}
    assert len(index) == len(stored)
    return np.array([index[np.ascontiguousarray(r, np.float32).tobytes()] for r in split_x])


def test_shipped_card_gives_the_features_in_order(shipped):
    assert shipped.constituent_fields == FEATURES
    for split in (shipped.train, shipped.val, shipped.test):
        assert split.constituents.shape == (len(split), P, 7) and split.constituents.dtype == np.float32
        assert split.mask.shape == (len(split), P) and split.mask.dtype == bool


def test_features_match_a_recomputation_from_the_raw_branches(shipped, jets):
    train = shipped.train
    entries = _entries_of(train.x[:N_CHECKED], jets)
    for i, entry in enumerate(entries):
        want, k = _expected(jets, int(entry))
        assert k == min(int(jets.nconst[entry]), P)
        np.testing.assert_array_equal(train.mask[i], np.arange(P) < k)
        np.testing.assert_allclose(train.constituents[i, :k], want, rtol=2e-6, atol=1e-6,
                                   err_msg=f"entry {entry}")


def test_padded_slots_are_exactly_zero_and_mask_unchanged(shipped, jets):
    raw = load_dataset(parse_card(_card(jet=None, features=None)), standardize=False, use_cache=False)
    assert raw.constituent_fields == ["pt", "eta", "phi", "E"]
    for name in ("train", "val", "select", "test"):
        split = shipped.split(name)
        np.testing.assert_array_equal(split.mask, raw.split(name).mask)
        assert (~split.mask).any()  # some jets have fewer than 64 particles
        padded = split.constituents[~split.mask]
        assert np.all(padded == 0) and not np.signbit(padded).any()
        assert np.isfinite(split.constituents[split.mask]).all()
    counts = np.concatenate([s.mask.sum(axis=1) for s in (raw.train, raw.val, raw.select, raw.test)])
    # compared as arrays: a failing comparison of two long lists makes pytest diff them for many minutes
    np.testing.assert_array_equal(np.sort(counts), np.sort(np.minimum(ak.to_numpy(jets.nconst), P)))


def test_phi_rel_is_wrapped_and_pt_rel_follows_the_sort(shipped):
    c, m = shipped.train.constituents, shipped.train.mask
    phi_rel = c[..., 2][m]
    assert phi_rel.min() >= -np.pi and phi_rel.max() < np.pi
    pt_rel = np.where(m, c[..., 0], -1.0)
    assert np.all(np.diff(pt_rel, axis=1)[m[:, 1:]] <= 0)  # sorted by raw pt, so by pt_rel, decreasing


def test_sort_by_uses_the_raw_field_before_deriving(jets):
    card = parse_card(_card(sort_by="eta", features=["eta_rel", "pt", "log_pt"]))
    chunk = next(iter(iter_chunks(card)))
    c, m = chunk.constituents, chunk.mask
    eta_rel = np.where(m, c[..., 0], -1e9)
    assert np.all(np.diff(eta_rel, axis=1)[m[:, 1:]] <= 0)
    for entry in range(0, 200, 13):
        eta = np.asarray(jets.const_eta[entry], np.float64)
        pt = np.asarray(jets.const_pt[entry], np.float32)
        order = np.argsort(-eta, kind="stable")[:P]
        k = len(order)
        np.testing.assert_array_equal(c[entry, :k, 1], pt[order])  # a raw field passed through unchanged
        np.testing.assert_allclose(c[entry, :k, 0], eta[order] - float(jets.j_eta[entry]), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(c[entry, :k, 2], np.log(pt[order].astype(np.float64)), rtol=1e-6, atol=1e-6)


def test_hdf5_reader_derives_the_same_features(tmp_path, jets):
    """The first 200 jets written in the Zenodo HDF5 layout, read through an hdf5 card with the same keys."""
    n = 200
    names = ["j_pt", "j_eta", "j_phi", "j_mass", "j_g", "j_q", "j_w", "j_z", "j_t"]
    table = np.zeros((n, len(names)), np.float32)
    for i, b in enumerate(names[:4]):
        table[:, i] = ak.to_numpy(jets[b][:n])
    table[np.arange(n), 4 + ak.to_numpy(jets.label[:n])] = 1
    particles = np.zeros((n, P, 4), np.float32)
    for i in range(n):
        k = int(jets.nconst[i])
        for j, f in enumerate(("pt", "eta", "phi", "E")):
            particles[i, :k, j] = ak.to_numpy(jets[f"const_{f}"][i])  # file order: the reader sorts
    path = tmp_path / "jets.h5"
    with h5py.File(path, "w") as f:
        f["jets"] = table
        f["jetFeatureNames"] = np.array([s.encode() for s in names])
        f["jetConstituentList"] = particles
        f["particleFeatureNames"] = np.array([s.encode() for s in ("j1_pt", "j1_eta", "j1_phi", "j1_e")])
    h5_card = parse_card({
        "format": "hdf5", "files": [str(path)], "features": ["j_pt"], "label": {"one_hot": names[4:]},
        "classes": list("gqwzt"), "step_size": 64,
        "constituents": {"branches": {"pt": "j1_pt", "eta": "j1_eta", "phi": "j1_phi", "E": "j1_e"},
                         "jet": {"pt": "j_pt", "eta": "j_eta", "phi": "j_phi", "mass": "j_mass"},
                         "features": FEATURES, "max_particles": P}})
    got = [c for c in iter_chunks(h5_card)]
    c, m = np.concatenate([g.constituents for g in got]), np.concatenate([g.mask for g in got])
    want = next(iter(iter_chunks(parse_card({**_card(), "step_size": n}))))
    np.testing.assert_array_equal(m, want.mask[:n])
    np.testing.assert_array_equal(c, want.constituents[:n])


def test_the_generator_card_writer_writes_the_shipped_constituents_section(tmp_path):
    written = write_card(tmp_path / "c.yaml", name="c", description="", data_file=ROOT, command="python x",
                         seed=2, max_constituents=P)
    assert yaml.safe_load(written.read_text())["constituents"] == yaml.safe_load(CARD.read_text())["constituents"]
    assert load_card(written).constituents.features == tuple(FEATURES)
    bare = write_card(tmp_path / "b.yaml", name="b", description="", data_file=ROOT, command="python x", seed=2)
    assert load_card(bare).constituents is None


def test_cache_key_includes_jet_and_features(tmp_path):
    base = _card()
    base["cache"] = str(tmp_path / "cache")
    first = load_dataset(parse_card(base), standardize=False)
    again = load_dataset(parse_card(base), standardize=False)
    assert not first.info["from_cache"] and again.info["from_cache"]
    np.testing.assert_array_equal(first.train.constituents, again.train.constituents)
    other = load_dataset(parse_card({**base, "constituents": {**base["constituents"], "features": ["pt_rel"]}}),
                         standardize=False)
    assert not other.info["from_cache"] and other.train.constituents.shape[2] == 1
    moved = {**base["constituents"], "jet": {**base["constituents"]["jet"], "pt": "2 * j_pt"}}
    halved = load_dataset(parse_card({**base, "constituents": moved}), standardize=False)
    assert not halved.info["from_cache"]
    np.testing.assert_allclose(halved.train.constituents[..., 0], first.train.constituents[..., 0] / 2, rtol=1e-6)


BAD = [
    ({"jet": None}, "key 'constituents.features': 'pt_rel' needs constituents.jet (the jet axis)"),
    ({"features": ["pt_rel", "pt_frac"]},
     "key 'constituents.features': unknown feature 'pt_frac' (derived features: pt_rel, eta_rel, phi_rel, "
     "delta_r, e_rel, log_pt, log_e, px, py, pz, cos_theta, cos_theta_rel, eta_rot, phi_rot; or a field of "
     "constituents.branches: pt, eta, phi, E)"),
    ({"branches": {"pt": "const_pt", "eta": "const_eta", "phi": "const_phi"}},
     "key 'constituents.features': 'e_rel' needs the constituent field 'E' (constituents.branches has pt, eta, "
     "phi)"),
    ({"jet": {"pt": "j_pt", "eta": "j_eta", "phi": "j_phi"}}, "key 'constituents.features': 'e_rel' needs "
                                                              "constituents.jet.mass"),
    ({"features": ["log_pt", "log_pt"]}, "key 'constituents.features': 'log_pt' is listed twice"),
    ({"branches": {"pt": "const_pt", "pt_rel": "const_pt / j_pt"}, "features": ["pt_rel"]},
     "key 'constituents.features': 'pt_rel' is both a field of constituents.branches and a derived feature"),
    ({"features": None}, "key 'constituents.jet': is used by constituents.features"),
    ({"jet": {"pt": "j_pt", "energy": "j_e"}}, "key 'constituents.jet.energy': unknown key (known: pt, eta, phi, "
                                               "mass)"),
    ({"features": []}, "key 'constituents.features': expected a non-empty list"),
    ({"features": "pt_rel"}, "key 'constituents.features': expected a list, got 'pt_rel'"),
]


@pytest.mark.parametrize("change, message", BAD)
def test_bad_cards_are_one_error_naming_the_key(tmp_path, change, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_card(**change), sort_keys=False))
    with pytest.raises(TriggerHGQError) as err:
        load_card(path)
    assert str(err.value).startswith(f"dataset card {path.resolve()}: {message}")


def test_a_missing_jet_branch_names_it_and_the_key():
    card = parse_card(_card(jet={"pt": "j_pt", "eta": "j_eta", "phi": "jet_phi", "mass": "j_mass"}))
    with pytest.raises(TriggerHGQError, match=r"tree 'jets' has no branch 'jet_phi' \(needed by "
                                              r"constituents.jet.phi: 'jet_phi'"):
        load_dataset(card, use_cache=False)


def test_a_non_finite_feature_of_a_real_particle_follows_nan_policy():
    zero_pt = {"pt": "const_pt * 0", "eta": "const_eta", "phi": "const_phi", "E": "const_E"}
    with pytest.raises(TriggerHGQError, match=r"constituent field 'log_pt' is NaN/Inf at .*entry 0 "
                                              r"\(nan_policy: error"):
        load_dataset(parse_card(_card(branches=zero_pt, features=["eta_rel", "log_pt"])), use_cache=False)
    filled = load_dataset(parse_card({**_card(branches=zero_pt, features=["eta_rel", "log_pt"]),
                                      "nan_policy": "fill", "fill_value": -9.0}), standardize=False, use_cache=False)
    c, m = filled.train.constituents, filled.train.mask
    assert np.all(c[..., 1][m] == -9.0) and np.all(c[~m] == 0)


def test_standardized_particles_keep_padding_at_zero():
    """load_dataset's default: each feature standardized over the real particles of the training split only."""
    raw = load_dataset(parse_card(_card()), standardize=False, use_cache=False)
    std = load_dataset(parse_card(_card()), use_cache=False)
    scaler = std.constituent_scaler
    assert scaler is not None and list(scaler.feature_names) == FEATURES
    real = raw.train.constituents[raw.train.mask].astype(np.float64)
    np.testing.assert_allclose(scaler.mean, real.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scaler.std, real.std(axis=0), rtol=1e-6)
    for name in ("train", "val", "test"):
        r, s = raw.split(name), std.split(name)
        np.testing.assert_array_equal(s.mask, r.mask)
        assert np.all(s.constituents[~s.mask] == 0)
        want = (r.constituents[r.mask].astype(np.float64) - real.mean(axis=0)) / real.std(axis=0)
        np.testing.assert_allclose(s.constituents[s.mask], want, rtol=1e-5, atol=1e-5)
    z = std.train.constituents[std.train.mask]
    assert np.all(np.abs(z.mean(axis=0)) < 1e-4) and np.allclose(z.std(axis=0), 1.0, atol=1e-4)


HLS4ML_16 = ["px", "py", "pz", "E", "e_rel", "pt", "pt_rel", "eta", "eta_rel", "eta_rot", "phi", "phi_rel",
             "phi_rot", "delta_r", "cos_theta", "cos_theta_rel"]


def _expected_16(jets, entry: int) -> np.ndarray:
    """The 16 hls4ml features of one jet's leading 64 constituents, by vector algebra on the raw branches: momenta
    from (pt, eta, phi), angles from unit 3-vectors, the principal axis as the leading eigenvector of the pT-weighted
    covariance of (eta_rel, phi_rel)."""
    pt, eta, phi, e = (np.asarray(jets[f"const_{f}"][entry], np.float64) for f in ("pt", "eta", "phi", "E"))
    order = np.argsort(-pt, kind="stable")[:P]
    pt, eta, phi, e = pt[order], eta[order], phi[order], e[order]
    j_pt, j_eta, j_phi, j_mass = (float(jets[b][entry]) for b in ("j_pt", "j_eta", "j_phi", "j_mass"))
    mom = np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=1)
    jet = np.array([j_pt * np.cos(j_phi), j_pt * np.sin(j_phi), j_pt * np.sinh(j_eta)])
    e_jet = np.sqrt(jet @ jet + j_mass**2)
    unit = mom / np.linalg.norm(mom, axis=1, keepdims=True)
    d_eta, d_phi = eta - j_eta, np.arctan2(np.sin(phi - j_phi), np.cos(phi - j_phi))
    xy = np.stack([d_eta, d_phi], axis=1)
    _, vectors = np.linalg.eigh((xy * pt[:, None]).T @ xy)
    axis = vectors[:, -1]  # the largest eigenvalue's
    rot = np.stack([xy @ axis, xy @ np.array([-axis[1], axis[0]])], axis=1)
    cols = [*mom.T, e, e / e_jet, pt, pt / j_pt, eta, d_eta, rot[:, 0], phi, d_phi, rot[:, 1],
            np.hypot(d_eta, d_phi), unit[:, 2], unit @ (jet / np.linalg.norm(jet))]
    return np.stack(cols, axis=1)


def test_the_16_hls4ml_features_match_a_hand_computation_on_real_jets(jets):
    card = load_card(DATASETS / "jets_constituents16.yaml")
    assert card.constituents.output_names == HLS4ML_16
    data = _card(features=HLS4ML_16)
    ds = load_dataset(parse_card(data), standardize=False, use_cache=False)
    rows = _entries_of(ds.test.x[:N_CHECKED], jets)
    for r, entry in enumerate(rows):
        want = _expected_16(jets, entry)
        got = ds.test.constituents[r, : len(want)].astype(np.float64)
        # the principal axis is a line: its direction (sign of eta_rot and phi_rot) is a convention
        sign = np.sign(np.sum(got[:, 9] * want[:, 9])) or 1.0
        want[:, [9, 12]] *= sign
        tolerance = 2e-5 * (np.abs(want) + np.abs(want).max(axis=0))  # float32 of values up to ~1 TeV
        bad = np.argwhere(np.abs(got - want) > tolerance)
        assert not len(bad), f"jet {entry}, {HLS4ML_16[bad[0][1]]}: {got[tuple(bad[0])]} != {want[tuple(bad[0])]}"
        assert not ds.test.constituents[r, len(want):].any()



@pytest.mark.parametrize("plane", ["phi", "eta"])
def test_a_mirrored_jet_has_the_reflected_features(jets, plane):
    """The features derived from mirrored raw particles and jet axis are ``reflected``'s sign flips, on real jets."""
    from trigger_hgq.data.particle_features import REFLECTED, REGISTRY, derive, reflected

    fields, n, names = ["pt", "eta", "phi", "E"], 500, [*HLS4ML_16, "log_pt", "log_e"]  # every derived feature
    assert set(names) >= set(REGISTRY)
    values = np.stack([ak.to_numpy(ak.fill_none(ak.pad_none(jets[f"const_{f}"][:n], P, clip=True), 0.0))
                       for f in fields], axis=-1).astype(np.float64)
    mask = np.arange(P)[None, :] < ak.to_numpy(ak.num(jets["const_pt"][:n]))[:, None]
    jet = {k: ak.to_numpy(jets[f"j_{k}"][:n]).astype(np.float64) for k in ("pt", "eta", "phi", "mass")}
    mirrored = values.copy()
    mirrored[:, :, fields.index(plane)] *= -1
    original = derive(names, fields, values, mask, jet)
    want = derive(names, fields, mirrored, mask, {**jet, plane: -jet[plane]})
    got = reflected(original, names, plane)
    changed = {names[i] for i in np.flatnonzero(np.any(got != original, axis=(0, 1)))}
    assert changed == REFLECTED[plane]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert not got[~mask].any()


def test_mirrored_training_jets_are_their_images_standardized_together():
    """``mirror_training_jets``: the training split becomes the jets, then their phi, eta and phi-and-eta images
    (labels and masks repeated), all standardized on those 4x particles (odd features centred at exactly their
    symmetric mean, 0); the validation jets are not mirrored, only standardized the same way; padding stays 0."""
    from trigger_hgq.data.mirrors import mirror_training_jets
    from trigger_hgq.data.particle_features import REFLECTED

    ds = load_dataset(parse_card(_card(features=HLS4ML_16)), standardize=False, use_cache=False)
    n_p = 16
    raw = {}
    for split in ("train", "val"):
        part = ds.split(split)
        raw.update({f"x_{split}": part.constituents[:, :n_p], f"mask_{split}": part.mask[:, :n_p],
                    f"y_{split}": part.y})
    arrays = {k: v for k, v in raw.items() if not k.startswith("mask_")}
    masks = {"train": raw["mask_train"], "val": raw["mask_val"]}
    scaler = mirror_training_jets(arrays, masks, HLS4ML_16, ("phi", "eta"))
    n = len(raw["y_train"])
    assert arrays["x_train"].shape == (4 * n, n_p, 16) and len(arrays["x_val"]) == len(raw["y_val"])
    np.testing.assert_array_equal(arrays["y_train"], np.tile(raw["y_train"], 4))
    np.testing.assert_array_equal(masks["train"], np.tile(raw["mask_train"], (4, 1)))
    odd = {"phi": [HLS4ML_16.index(f) for f in REFLECTED["phi"]], "eta": [HLS4ML_16.index(f) for f in REFLECTED["eta"]]}
    real = raw["x_train"][raw["mask_train"]].astype(np.float64)
    flipped = odd["phi"] + odd["eta"]
    # the scaler saw every jet and its images: the odd features' mean is 0, their spread the root mean square
    assert np.all(np.abs(scaler.mean[flipped]) < 1e-6 * scaler.std[flipped])
    np.testing.assert_allclose(scaler.std[flipped], np.sqrt(np.mean(real[:, flipped] ** 2, axis=0)), rtol=1e-5)
    blocks = arrays["x_train"].reshape(4, n, n_p, 16)
    for k, planes in enumerate([(), ("phi",), ("eta",), ("phi", "eta")]):
        sign = np.ones(16)
        for plane in planes:
            sign[odd[plane]] = -1
        want = (raw["x_train"] * sign - scaler.mean) / scaler.std
        np.testing.assert_allclose(blocks[k][raw["mask_train"]], want[raw["mask_train"]], rtol=1e-5, atol=1e-5)
        assert not blocks[k][~raw["mask_train"]].any()
    want = (raw["x_val"] - scaler.mean) / scaler.std
    np.testing.assert_allclose(arrays["x_val"][raw["mask_val"]], want[raw["mask_val"]], rtol=1e-5, atol=1e-5)
    assert not arrays["x_val"][~raw["mask_val"]].any()


def test_a_feature_of_unknown_sign_cannot_be_mirrored(tmp_path):
    """A raw constituent field passed through under a name of unknown parity: the run's ``mirrors`` is refused
    before anything runs, naming the config key, the card and the feature."""
    from trigger_hgq.data.mirrors import mirror_problem
    from trigger_hgq.pipeline.config import PipelineConfig
    from trigger_hgq.pipeline.particles import check_particles

    assert mirror_problem(HLS4ML_16) is None
    card = parse_card(_card(branches={"pt": "const_pt", "eta": "const_eta", "phi": "const_phi", "E": "const_E",
                                      "d0": "const_pt"}, features=[*FEATURES, "d0"]))
    config = tmp_path / "run.yaml"
    config.write_text(f"dataset: {ROOT}\nn_particles: 8\nmirrors: [phi, eta]\n")
    with pytest.raises(TriggerHGQError, match=r"run.yaml: key 'mirrors': .*'d0' has no known sign"):
        check_particles(PipelineConfig.load(config), card)
    config.write_text(f"dataset: {ROOT}\nn_particles: 8\nmirrors: eta\n")
    assert PipelineConfig.load(config).mirrors == ("eta",)
    check_particles(PipelineConfig.load(config), parse_card(_card()))
