"""The 16 jet features: agreement with fastjet-contrib (SoftDrop, EnergyCorrelator) and their definitions."""

from __future__ import annotations

import itertools
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from trigger_hgq.data.generation.features import FEATURE_NAMES, compute_jet_features
from trigger_hgq.errors import TriggerHGQError

CONSTITUENT_FILE = Path(__file__).resolve().parents[1] / "datasets" / "jets_hlf.root"  # with the constituents


def _contrib_features(px, py, pz, e) -> dict[str, np.ndarray]:
    """mMDT mass and ECF ratios from fastjet-contrib (SoftDrop + EnergyCorrelatorGeneralized, pt_R measure)."""
    fastjet = pytest.importorskip("fastjet")
    particles = ak.zip({"px": px, "py": py, "pz": pz, "E": e})
    ca = fastjet.JetDefinition(fastjet.cambridge_algorithm, 10.0)  # one C/A jet holding every constituent
    groomed = fastjet.ClusterSequence(particles, ca).exclusive_jets_softdrop_grooming(
        njets=1, beta=0.0, symmetry_cut=0.1, R0=0.8
    )
    cs = fastjet.ClusterSequence(groomed.constituents, ca)

    def ecfg(angles: int, npoint: int, beta: float) -> np.ndarray:
        values = cs.exclusive_jets_energy_correlator(njets=1, func="generalized", npoint=npoint, angles=angles,
                                                     beta=beta, normalized=True)
        return np.asarray(values, dtype=np.float64).reshape(-1)

    e2 = {b: ecfg(1, 2, b) for b in (0.0, 1.0, 2.0)}
    e3 = {b: ecfg(3, 3, b) for b in (1.0, 2.0)}
    g13 = {b: ecfg(1, 3, b) for b in (1.0, 2.0)}
    g23 = {b: ecfg(2, 3, b) for b in (1.0, 2.0)}
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "j_c1_b0_mmdt": e2[0.0],
            "j_c1_b1_mmdt": e2[1.0],
            "j_c1_b2_mmdt": e2[2.0],
            "j_c2_b1_mmdt": e3[1.0] / e2[1.0] ** 2,
            "j_c2_b2_mmdt": e3[2.0] / e2[2.0] ** 2,
            "j_d2_b1_mmdt": e3[1.0] / e2[1.0] ** 3,
            "j_d2_b2_mmdt": e3[2.0] / e2[2.0] ** 3,
            "j_d2_a1_b1_mmdt": e3[1.0] / e2[1.0] ** 3,
            "j_d2_a1_b2_mmdt": e3[1.0] / e2[2.0] ** 1.5,
            "j_m2_b1_mmdt": g13[1.0] / e2[1.0],
            "j_m2_b2_mmdt": g13[2.0] / e2[2.0],
            "j_n2_b1_mmdt": g23[1.0] / e2[1.0] ** 2,
            "j_n2_b2_mmdt": g23[2.0] / e2[2.0] ** 2,
            "j_mass_mmdt": np.asarray(groomed.msoftdrop, dtype=np.float64).reshape(-1),
        }


def test_features_agree_with_fastjet_contrib_on_generated_jets():
    """Done-when 2: >= 500 Pythia jets (the shipped constituent file), every feature within 1e-6 relative."""
    if not CONSTITUENT_FILE.exists():
        pytest.fail(f"shipped constituent file missing: {CONSTITUENT_FILE}")
    jets = uproot.open(CONSTITUENT_FILE)["jets"].arrays(["const_pt", "const_eta", "const_phi", "const_E"],
                                                        entry_stop=1000)
    assert len(jets) >= 500
    pt, eta, phi, e = (ak.values_astype(jets[f"const_{f}"], np.float64) for f in ("pt", "eta", "phi", "E"))
    ours = compute_jet_features(pt, eta, phi, energy=e)
    ref = _contrib_features(pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), e)

    single = ~np.isfinite(ref["j_c2_b1_mmdt"])  # groomed down to one particle: contrib's ratios are 0/0
    assert single.mean() < 0.05
    for name, expected in ref.items():
        got = ours[name]
        if name == "j_mass_mmdt":
            # a groomed jet of one photon whose stored (float32) E is a hair below |p|: fastjet's m() is
            # -sqrt(-m^2), ours is 0
            expected = np.maximum(expected, 0.0)
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-6, atol=1e-300, err_msg=name)
        assert np.all(got[~finite] == 0.0), name  # our convention: a ratio with a zero denominator is 0
    # the file's multiplicity counts all constituents (the file keeps at most 64), so compare what is comparable
    assert np.all(ours["j_multiplicity"] == ak.to_numpy(ak.num(pt)))


def _brute_force(pt, y, phi, mass):
    """The definitions, term by term, for a jet whose grooming keeps every particle."""
    z = pt / pt.sum()
    n = len(pt)

    def dr(i, j):
        dphi = abs(phi[i] - phi[j])
        dphi = min(dphi, 2 * np.pi - dphi)
        return np.hypot(y[i] - y[j], dphi)

    e2 = {b: sum(z[i] * z[j] * dr(i, j) ** b for i, j in itertools.combinations(range(n), 2)) for b in (0, 1, 2)}
    e3, g13, g23 = {}, {}, {}
    for b in (1, 2):
        e3[b] = g13[b] = g23[b] = 0.0
        for i, j, k in itertools.combinations(range(n), 3):
            angles = sorted([dr(i, j), dr(i, k), dr(j, k)])
            zzz = z[i] * z[j] * z[k]
            e3[b] += zzz * (angles[0] * angles[1] * angles[2]) ** b
            g13[b] += zzz * angles[0] ** b
            g23[b] += zzz * (angles[0] * angles[1]) ** b
    px, py = pt * np.cos(phi), pt * np.sin(phi)
    mt = np.sqrt(pt**2 + mass**2)
    pz, energy = mt * np.sinh(y), mt * np.cosh(y)
    m_jet = np.sqrt(energy.sum() ** 2 - px.sum() ** 2 - py.sum() ** 2 - pz.sum() ** 2)
    ez = energy / energy.sum()
    return {
        "j_zlogz": float(np.sum(ez * np.log(ez))),
        "j_c1_b0_mmdt": e2[0],
        "j_c1_b1_mmdt": e2[1],
        "j_c1_b2_mmdt": e2[2],
        "j_c2_b1_mmdt": e3[1] / e2[1] ** 2,
        "j_c2_b2_mmdt": e3[2] / e2[2] ** 2,
        "j_d2_b1_mmdt": e3[1] / e2[1] ** 3,
        "j_d2_b2_mmdt": e3[2] / e2[2] ** 3,
        "j_d2_a1_b1_mmdt": e3[1] / e2[1] ** 3,
        "j_d2_a1_b2_mmdt": e3[1] / e2[2] ** 1.5,
        "j_m2_b1_mmdt": g13[1] / e2[1],
        "j_m2_b2_mmdt": g13[2] / e2[2],
        "j_n2_b1_mmdt": g23[1] / e2[1] ** 2,
        "j_n2_b2_mmdt": g23[2] / e2[2] ** 2,
        "j_mass_mmdt": m_jet,
        "j_multiplicity": n,
    }, pz, energy


def test_features_match_the_definitions_on_a_hand_made_jet():
    # four hard prongs of similar pT: every C/A declustering passes z >= 0.1, so mMDT keeps all of them
    pt = np.array([300.0, 250.0, 200.0, 180.0])
    y = np.array([0.10, 0.25, -0.05, 0.18])
    phi = np.array([1.00, 1.12, 1.20, 0.90])
    mass = np.array([0.14, 0.0, 0.49, 0.14])
    expected, pz, energy = _brute_force(pt, y, phi, mass)
    eta = np.arcsinh(pz / pt)
    got = compute_jet_features(pt, eta, phi, mass=mass)
    assert list(got) == list(FEATURE_NAMES)
    for name in FEATURE_NAMES:
        np.testing.assert_allclose(got[name], [expected[name]], rtol=1e-9, err_msg=name)
    by_energy = compute_jet_features(pt, eta, phi, energy=energy)
    for name in FEATURE_NAMES:
        np.testing.assert_allclose(by_energy[name], got[name], rtol=1e-12, err_msg=name)


def test_grooming_drops_a_soft_wide_prong_and_one_particle_jets_give_zero_ratios():
    # a 1 TeV core of two close prongs plus a soft (z < 0.1) particle far away: mMDT removes the soft one
    pt = np.array([500.0, 400.0, 30.0])
    eta = np.array([0.0, 0.05, 0.6])
    phi = np.array([0.0, 0.05, 0.5])
    full = compute_jet_features(pt, eta, phi, mass=np.zeros(3))
    core = compute_jet_features(pt[:2], eta[:2], phi[:2], mass=np.zeros(2))
    for name in FEATURE_NAMES:
        if name not in ("j_zlogz", "j_multiplicity"):
            np.testing.assert_allclose(full[name], core[name], rtol=1e-12, err_msg=name)
    assert full["j_multiplicity"][0] == 3 and full["j_zlogz"][0] < core["j_zlogz"][0]
    assert core["j_c2_b1_mmdt"][0] == 0.0  # two particles: no three-point correlation
    one = compute_jet_features(np.array([900.0]), np.array([0.3]), np.array([1.0]), mass=np.array([0.14]))
    assert one["j_c1_b1_mmdt"][0] == 0.0 and one["j_d2_b1_mmdt"][0] == 0.0 and one["j_n2_b2_mmdt"][0] == 0.0
    np.testing.assert_allclose(one["j_mass_mmdt"], [0.14], rtol=1e-6)


def test_features_are_invariant_under_azimuthal_rotation_and_longitudinal_boost():
    rng = np.random.default_rng(3)
    n = 60
    pt = rng.exponential(15.0, n) + 1.0
    eta = rng.normal(0.4, 0.2, n)
    phi = rng.normal(3.0, 0.2, n)
    base = compute_jet_features(pt, eta, phi, mass=np.zeros(n))
    rotated = compute_jet_features(pt, eta, np.mod(phi + 2.5, 2 * np.pi), mass=np.zeros(n))
    boosted = compute_jet_features(pt, eta + 1.3, phi, mass=np.zeros(n))  # massless: rapidity = eta
    for name in FEATURE_NAMES:
        np.testing.assert_allclose(rotated[name], base[name], rtol=1e-9, err_msg=name)
        if name != "j_zlogz":  # energies change under a boost; pT and rapidity differences do not
            np.testing.assert_allclose(boosted[name], base[name], rtol=1e-9, err_msg=name)


def test_input_layouts_give_the_same_features():
    rng = np.random.default_rng(4)
    sizes = [5, 12, 3]
    jets = [(rng.exponential(20, k) + 1, rng.normal(0, 0.2, k), rng.normal(1, 0.2, k)) for k in sizes]
    as_lists = compute_jet_features(*[[j[i] for j in jets] for i in range(3)], mass=[np.zeros(k) for k in sizes])
    as_awkward = compute_jet_features(*[ak.Array([j[i].tolist() for j in jets]) for i in range(3)],
                                      mass=ak.Array([[0.0] * k for k in sizes]))
    padded = np.zeros((3, 3, 12))
    for row, jet in enumerate(jets):
        for i in range(3):
            padded[i, row, : len(jet[i])] = jet[i]
    as_padded = compute_jet_features(padded[0], padded[1], padded[2], mass=np.zeros((3, 12)))
    for name in FEATURE_NAMES:
        np.testing.assert_array_equal(as_awkward[name], as_lists[name])
        np.testing.assert_array_equal(as_padded[name], as_lists[name])
    assert list(as_padded["j_multiplicity"]) == sizes


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mass": [np.zeros(2)], "energy": [np.ones(2)]}, "exactly one of `mass` or `energy`"),
        ({}, "exactly one of `mass` or `energy`"),
        ({"mass": [np.zeros(3)]}, "`mass` has a different number"),
        ({"mass": [np.array([0.0, np.nan])]}, "`mass` contains NaN"),
    ],
)
def test_bad_inputs_raise_clear_errors(kwargs, message):
    with pytest.raises(TriggerHGQError, match=message):
        compute_jet_features([np.ones(2)], [np.zeros(2)], [np.zeros(2)], **kwargs)


def test_a_jet_without_particles_is_named():
    with pytest.raises(TriggerHGQError, match="jet 1 has no particle"):
        compute_jet_features(np.array([[1.0, 2.0], [0.0, 0.0]]), np.zeros((2, 2)), np.zeros((2, 2)),
                             mass=np.zeros((2, 2)))
