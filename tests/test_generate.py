"""The Pythia 8 + FastJet generator on a few events: labels, cuts, determinism, the ROOT file and its card."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import uproot
import yaml

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from trigger_hgq.data import load_dataset  # noqa: E402
from trigger_hgq.data.generation.features import FEATURE_NAMES  # noqa: E402
from trigger_hgq.data.generation.generate import generate_jets, register, register_generate, run_generate  # noqa: E402
from trigger_hgq.data.generation.pythia_jets import chunk_seed  # noqa: E402
from trigger_hgq.errors import TriggerHGQError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "datasets"))
import generate_jets as generate_script  # noqa: E402

N_PER_CLASS = 3
EVENTS_PER_CHUNK = 12


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """One tiny run through the script (2 workers, constituents, card) and one in-process run (1 worker)."""
    out = tmp_path_factory.mktemp("gen")
    root, card = out / "tiny.root", out / "tiny.yaml"
    argv = [str(root), "--jets-per-class", str(N_PER_CLASS), "--seed", "11", "--events-per-chunk",
            str(EVENTS_PER_CHUNK), "--workers", "2", "--constituents", "20", "--card", str(card), "--no-progress"]
    assert generate_script.main(argv) == 0
    arrays, stats = generate_jets(N_PER_CLASS, 11, workers=1, events_per_chunk=EVENTS_PER_CHUNK,
                                  max_constituents=20, progress=False)
    return root, card, arrays, stats


@pytest.mark.slow
def test_generated_jets_have_balanced_labels_and_pass_the_cuts(generated):
    _, _, arrays, stats = generated
    assert np.bincount(arrays["label"], minlength=5).tolist() == [N_PER_CLASS] * 5
    assert np.all((arrays["j_pt"] > 800) & (arrays["j_pt"] < 1200))
    assert np.all(np.abs(arrays["j_eta"]) < 2.5)
    for name in FEATURE_NAMES:
        assert np.all(np.isfinite(arrays[name])), name
    # constituents: at most 20, sorted by decreasing pT, and fewer than the jet's multiplicity allows
    import awkward as ak

    pt = arrays["const"]["pt"]
    assert ak.max(ak.num(pt)) <= 20
    assert ak.all(pt[:, 1:] <= pt[:, :-1])
    assert np.all(ak.to_numpy(ak.num(pt)) == np.minimum(arrays["j_multiplicity"], 20))
    assert set(stats) == {"qcd", "wprime", "ttbar"} and all(s["events"] > 0 for s in stats.values())


@pytest.mark.slow
def test_the_file_does_not_depend_on_the_number_of_workers(generated):
    root, _, arrays, _ = generated
    tree = uproot.open(root)["jets"]
    assert tree.num_entries == 5 * N_PER_CLASS
    stored = tree.arrays(library="np")
    np.testing.assert_array_equal(stored["label"], arrays["label"])
    for name in ("j_pt", "j_eta", "j_phi", "j_mass", *FEATURE_NAMES):
        assert stored[name].dtype == np.float32, name
        np.testing.assert_array_equal(stored[name], arrays[name].astype(np.float32), err_msg=name)
    const = tree.arrays(["const_pt", "nconst"])
    # stored with 12 mantissa bits (jetfile.CONSTITUENT_MANTISSA_BITS): within 2^-13 relative of the generated
    for got, want in zip(const["const_pt"].tolist(), arrays["const"]["pt"].tolist(), strict=True):
        np.testing.assert_allclose(got, want, rtol=2.0**-13, atol=0)
        assert np.all(np.asarray(got, np.float32).view(np.uint32) & np.uint32(0x7FF) == 0)  # 11 bits rounded off


@pytest.mark.slow
def test_the_card_and_metadata_record_the_exact_command(generated):
    root, card_path, _, _ = generated
    card = yaml.safe_load(card_path.read_text())
    assert card["files"] == ["tiny.root"] and card["tree"] == "jets"
    assert card["features"] == list(FEATURE_NAMES)
    assert card["label"] == {"branch": "label"} and card["classes"] == ["g", "q", "w", "z", "t"]
    assert card["constituents"]["branches"] == {"pt": "const_pt", "eta": "const_eta", "phi": "const_phi",
                                                "E": "const_E"}
    assert card["constituents"]["jet"] == {"pt": "j_pt", "eta": "j_eta", "phi": "j_phi", "mass": "j_mass"}
    assert card["constituents"]["features"] == ["pt_rel", "eta_rel", "phi_rel", "delta_r", "e_rel", "log_pt",
                                                "log_e"]
    ds = load_dataset(card_path, standardize=False, use_cache=False)
    assert ds.train.constituents.shape == (len(ds.train), 20, 7) and not ds.train.constituents[~ds.train.mask].any()
    assert card["generation"]["seed"] == 11
    assert card["generation"]["command"].startswith("python datasets/generate_jets.py ")
    assert "--seed 11" in card["generation"]["command"] and "--workers" not in card["generation"]["command"]
    meta = json.loads(str(uproot.open(root)["generation"]))
    assert meta["command"] == card["generation"]["command"]
    assert "Wprime:anglesWZ = 1." in meta["processes"]["wprime"]
    assert [p.name for p in root.parent.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_chunk_seeds_differ_between_seeds_processes_and_chunks():
    seeds = {chunk_seed(s, p, c) for s in (1, 2) for p in range(3) for c in range(50)}
    assert len(seeds) == 2 * 3 * 50
    assert all(1 <= s <= 900_000_000 for s in seeds)
    assert chunk_seed(1, 0, 0) == chunk_seed(1, 0, 0)


def test_bad_arguments_are_clear_errors_and_write_nothing(tmp_path):
    out = tmp_path / "x.root"
    assert generate_script.main([str(out), "--jets-per-class", "0", "--no-progress"]) == 2
    assert not out.exists()
    with pytest.raises(TriggerHGQError, match="--jets-per-class"):
        generate_jets(10, 1, events_per_chunk=0)


def test_register_generate_adds_the_data_generate_command():
    parser = argparse.ArgumentParser()
    data = parser.add_subparsers(dest="data_command")
    register_generate(data)
    args = parser.parse_args(["generate", "out.root", "--jets-per-class", "5", "--seed", "3", "--constituents", "50"])
    assert args.func is run_generate
    assert (args.output, args.jets_per_class, args.seed, args.constituents) == ("out.root", 5, 3, 50)
    assert register is register_generate  # the name trigger_hgq.data.cli looks up
