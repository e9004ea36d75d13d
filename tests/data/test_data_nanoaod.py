"""The real CMS Open Data NanoAOD sample loads through the shipped cards: one row per FatJet, one row per Jet."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from trigger_hgq.cli import main
from trigger_hgq.data import load_card, load_dataset

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
SAMPLE = "root-samples/nanoAOD_2015_CMS_Open_Data_ttbar.root"


@pytest.fixture(scope="module")
def events(shared):
    return uproot.open(shared / SAMPLE)["Events"].arrays(
        filter_name=["FatJet_*", "Jet_pt", "Jet_eta", "Jet_hadronFlavour", "PV_npvs"])


@pytest.fixture(autouse=True)
def _shared_env(shared, monkeypatch):
    monkeypatch.setenv("TRIGGER_HGQ_SHARED", str(shared))


def _rows(ds):
    return (np.concatenate([ds.x_train, ds.x_val, ds.x_test]), np.concatenate([ds.y_train, ds.y_val, ds.y_test]))


def test_one_row_per_fatjet(events):
    card = load_card(DATASETS / "cms_nanoaod_fatjets.yaml")
    ds = load_dataset(card, standardize=False)
    x, y = _rows(ds)
    n_fat = int(ak.sum(ak.num(events.FatJet_pt)))
    assert x.shape == (n_fat, len(card.features)) and n_fat == 2
    order = np.argsort(x[:, 0])  # feature 0 is pt
    ref = np.argsort(ak.flatten(events.FatJet_pt).to_numpy())
    names = ds.feature_names
    for name, branch in (("pt", "FatJet_pt"), ("mass", "FatJet_mass"), ("tau1", "FatJet_tau1"),
                         ("tau2", "FatJet_tau2"), ("tau3", "FatJet_tau3"), ("n_constituents", "FatJet_nConstituents")):
        np.testing.assert_array_equal(x[order, names.index(name)], ak.flatten(events[branch]).to_numpy()[ref])
    tau21 = ak.flatten(events.FatJet_tau2 / events.FatJet_tau1).to_numpy()[ref]
    np.testing.assert_allclose(x[order, names.index("tau21")], tau21, rtol=1e-6)
    np.testing.assert_array_equal(y, 0)  # neither FatJet holds a b hadron in this sample


def test_one_row_per_jet_with_cut_and_broadcast(events):
    ds = load_dataset(DATASETS / "cms_nanoaod_jets.yaml", standardize=False)
    x, y = _rows(ds)
    pt = ak.flatten(events.Jet_pt).to_numpy()
    keep = pt > 20
    npv = np.repeat(events.PV_npvs.to_numpy(), ak.num(events.Jet_pt))[keep]
    flav = ak.flatten(events.Jet_hadronFlavour).to_numpy()[keep]
    assert len(x) == keep.sum() > 300
    names = ds.feature_names
    key = np.lexsort((x[:, names.index("Jet_eta")], x[:, names.index("Jet_pt")]))
    ref = np.lexsort((ak.flatten(events.Jet_eta).to_numpy()[keep], pt[keep]))
    np.testing.assert_array_equal(x[key, names.index("Jet_pt")], pt[keep][ref])
    np.testing.assert_array_equal(x[key, names.index("PV_npvs")], npv[ref])
    np.testing.assert_array_equal(y[key], np.select([flav[ref] == 4, flav[ref] == 5], [1, 2], 0))
    assert sum(map(sum, ds.class_counts().values())) == keep.sum()


def test_cli_inspect_the_sample(shared, events, capsys):
    tree = uproot.open(shared / SAMPLE)["Events"]
    assert main(["data", "inspect", str(shared / SAMPLE)]) == 0
    out = capsys.readouterr().out
    assert f"TTree 'Events': {tree.num_entries} entries, {len(tree.branches)} branches" in out
    assert "FatJet_tau1" in out and "float[]" in out
    assert main(["data", "inspect", str(shared / SAMPLE), "--card", str(DATASETS / "cms_nanoaod_jets.yaml")]) == 0
    out = capsys.readouterr().out
    flav = ak.flatten(events.Jet_hadronFlavour[events.Jet_pt > 20]).to_numpy()
    n_light, n_c, n_b = (flav == 0).sum(), (flav == 4).sum(), (flav == 5).sum()
    assert f"{len(flav)} rows x 9 features" in out and f"light {n_light}, c {n_c}, b {n_b}" in out
