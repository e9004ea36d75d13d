"""ROOT layouts a card must describe (split objects, Delphes naming, path names), per-event reductions, and clean
errors for unknown functions, unreadable branches and truncated files."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from rootfiles import write_root

from trigger_hgq.cli import main
from trigger_hgq.data import load_dataset, parse_card
from trigger_hgq.errors import TriggerHGQError

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
FULLSPLIT = "root-samples/uproot-small-evnt-tree-fullsplit.root"


def _rows(ds) -> tuple[np.ndarray, np.ndarray]:
    """All rows (raw features, labels), sorted by the features."""
    x = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
    y = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    order = np.lexsort(x.T[::-1])
    return x[order], y[order]


def _sorted(x: np.ndarray) -> np.ndarray:
    return x[np.lexsort(x.T[::-1])]


def _cli_error(argv: list[str], capsys) -> str:
    """Run the CLI, expect exit 2 with one line on stderr, no traceback; return that line."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1 and "Traceback" not in lines[0], captured.err
    return lines[0]


@pytest.fixture(scope="module")
def delphes(tmp_path_factory) -> tuple[Path, dict]:
    """Delphes naming written with uproot: ``Jet.PT``, ``Jet.Eta``, ``Jet.Flavor`` counted by ``Jet_size``; the
    event-level ``Info/pfMET`` (a name with '/'); and ``AK4CHS.pt`` counted by ``AK4CHS_count``."""
    rng = np.random.default_rng(5)
    n = 60
    counts = rng.integers(0, 5, n)
    total = int(counts.sum())
    event = np.repeat(np.arange(n), counts)
    local = ak.flatten(ak.local_index(ak.unflatten(np.zeros(total), counts))).to_numpy()
    pt = (event * 100 + 50 - 10 * local).astype(np.float32)  # unique, decreasing in each event (Delphes order)
    eta = rng.uniform(-2.5, 2.5, total).astype(np.float32)
    cols = {
        "Jet": {"PT": ak.unflatten(pt, counts), "Eta": ak.unflatten(eta, counts),
                "Flavor": ak.unflatten(rng.choice([0, 5], total).astype(np.int32), counts)},
        "Info/pfMET": (np.arange(n) + 1).astype(np.float32),
    }
    path = write_root(tmp_path_factory.mktemp("delphes") / "delphes.root", cols, tree="Delphes", basket_entries=25,
                      counter_name=lambda name: f"{name}_size", field_name=lambda name, key: f"{name}.{key}")
    other = {"AK4CHS": {"pt": cols["Jet"]["PT"], "eta": cols["Jet"]["Eta"]}, "met": cols["Info/pfMET"]}
    write_root(path.with_name("ak4.root"), other, tree="Delphes", counter_name=lambda name: f"{name}_count",
               field_name=lambda name, key: f"{name}.{key}")
    return path, cols


def _card(path: Path, **keys) -> dict:
    return {"files": [str(path)], "tree": "Delphes", "label": {"expression": "Jet.Flavor == 5"},
            "classes": ["light", "b"], "split": {"train": 0.5, "val": 0.25, "test": 0.25}} | keys


def test_split_object_file_one_row_per_array_element(shared, monkeypatch):
    """The example card: members of the split object `evt`, the variable-length evt/SliceF64 counted by evt/N."""
    monkeypatch.setenv("TRIGGER_HGQ_SHARED", str(shared))
    ds = load_dataset(DATASETS / "split_objects_fullsplit.yaml", standardize=False)
    x, y = _rows(ds)
    ev = uproot.open(shared / FULLSPLIT)["tree"].arrays(
        ["N", "SliceF64", "SliceI32", "P3.Px", "P3.Py", "I32"], library="ak")
    n = ak.to_numpy(ev["N"]).astype(np.int64)
    assert np.array_equal(n, ak.num(ev["SliceF64"])) and n.sum() == len(x) == 450
    per_event = [ev["P3.Px"], ev["P3.Px"] + ev["P3.Py"], ak.sum(ev["SliceF64"], axis=1)]
    expected = np.stack([ak.flatten(ev["SliceF64"]).to_numpy(), ak.flatten(ev["SliceI32"]).to_numpy()]
                        + [np.repeat(ak.to_numpy(v), n) for v in per_event], axis=1).astype(np.float32)
    order = np.lexsort(expected.T[::-1])
    np.testing.assert_array_equal(x, expected[order])
    np.testing.assert_array_equal(y, np.repeat(ak.to_numpy(ev["I32"]) % 2, n)[order])
    # the member prefix alone finds the counter (the first jagged evt/Slice* array); the bare name does not
    card = dict(files=[str(shared / FULLSPLIT)], tree="tree", features=["evt/SliceF64"],
                label={"expression": "evt/I32 % 2"}, classes=["even", "odd"])
    auto = load_dataset(parse_card(card | {"flatten": {"collection": "Slice", "members": "Slice"}}), standardize=False)
    assert sum(len(s) for s in (auto.train, auto.val, auto.test)) == 450
    with pytest.raises(TriggerHGQError) as err:
        load_dataset(parse_card(card | {"flatten": "Slice"}))
    assert "no counter branch for collection 'Slice' (looked for nSlice, Slice_size, Slice and a jagged" in str(
        err.value) and "flatten: {collection: Slice, counter: BRANCH}" in str(err.value)


def test_delphes_naming_and_member_prefix(delphes):
    path, cols = delphes
    ds = load_dataset(parse_card(_card(path, flatten="Jet", features={
        "pt": "Jet.PT", "eta": "Jet.Eta", "met": "Info/pfMET", "pt_over_met": "Jet.PT / Info/pfMET"})),
        standardize=False)
    x, y = _rows(ds)
    counts = ak.num(cols["Jet"]["PT"])
    pt, met = ak.flatten(cols["Jet"]["PT"]).to_numpy(), np.repeat(cols["Info/pfMET"], counts)
    expected = np.stack([pt, ak.flatten(cols["Jet"]["Eta"]).to_numpy(), met, pt / met], axis=1)
    order = np.lexsort(expected.T[::-1])
    np.testing.assert_allclose(x, expected[order], rtol=1e-6)
    np.testing.assert_array_equal(y, (ak.flatten(cols["Jet"]["Flavor"]).to_numpy() == 5)[order])
    # AK4CHS.pt counted by AK4CHS_count: found from the member prefix, or named
    other = path.with_name("ak4.root")
    base = _card(other, features=["AK4CHS.pt", "met"], label={"expression": "AK4CHS.eta > 0"})
    found = _rows(load_dataset(parse_card(base | {"flatten": "AK4CHS"}), standardize=False))[0]
    named = _rows(load_dataset(parse_card(base | {"flatten": {"collection": "AK4CHS", "counter": "AK4CHS_count",
                                                              "members": "AK4CHS."}}), standardize=False))[0]
    np.testing.assert_array_equal(found, named)
    np.testing.assert_array_equal(found, _sorted(expected[:, [0, 2]]))
    with pytest.raises(TriggerHGQError, match=r"branch 'met' \(type float\) cannot count objects: an integer per "
                                              r"entry or a list per entry is needed \(key 'flatten.counter'"):
        load_dataset(parse_card(base | {"flatten": {"collection": "AK4CHS", "counter": "met"}}))


def test_reductions_give_one_value_per_event(delphes):
    path, cols = delphes
    features = {"ht": "sum(Jet.PT)", "n": "count(Jet.PT)", "max_eta": "max(Jet.Eta, default=-9)",
                "min_eta": "min(Jet.Eta, default=9)", "mean_eta": "mean(Jet.Eta, default=0)",
                "lead_pt": "leading(Jet.PT, default=0)", "sub_pt": "subleading(Jet.PT, default=0)",
                "fwd_eta": "leading(Jet.Eta, by=abs(Jet.Eta), default=0)", "third_pt": "nth(Jet.PT, 2, default=0)",
                "ht_central": "sum(Jet.PT * (abs(Jet.Eta) < 1))", "met": "Info/pfMET"}
    ds = load_dataset(parse_card(_card(path, features=features, label={"expression": "count(Jet.PT) > 2"},
                                       classes=["few", "many"])), standardize=False)
    x, y = _rows(ds)
    pt, eta = [[np.asarray(v, np.float64) for v in cols["Jet"][f].tolist()] for f in ("PT", "Eta")]

    def pick(values, i, order=None):
        v = values if order is None else values[order]
        return v[i] if len(v) > i else 0.0

    expected = np.array([[p.sum(), len(p), e.max(initial=-9), e.min(initial=9), e.mean() if len(e) else 0,
                          pick(p, 0), pick(p, 1), pick(e, 0, np.argsort(-np.abs(e), kind="stable")), pick(p, 2),
                          p[np.abs(e) < 1].sum(), m] for p, e, m in zip(pt, eta, cols["Info/pfMET"], strict=True)])
    order = np.lexsort(expected.T[::-1])
    np.testing.assert_allclose(x, expected[order].astype(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(y, (expected[order, 1] > 2).astype(np.int32))
    # empty collections without a default: NaN, which nan_policy then handles
    empty = parse_card(_card(path, features={"lead_eta": "leading(Jet.Eta)"}, label={"expression": "Info/pfMET > 30"},
                             nan_policy="drop"))
    ds = load_dataset(empty)
    assert len(ds.train) + len(ds.val) + len(ds.test) == int(np.count_nonzero(ak.num(cols["Jet"]["PT"]))) < 60
    assert ds.info["rows_dropped_nan"] == 60 - int(np.count_nonzero(ak.num(cols["Jet"]["PT"])))


def test_unknown_function_and_misused_reduction(delphes, tmp_path, capsys):
    path, _ = delphes
    for expr, function in (("summ(Jet.PT)", "summ"), ("np.sum(Jet.PT)", "np.sum"), ("Jet.PT(2)", "Jet.PT")):
        card = tmp_path / "card.json"
        card.write_text(json.dumps(_card(path, features={"x": expr}, flatten="Jet")))  # JSON is valid YAML
        line = _cli_error(["data", "inspect", str(path), "--card", str(card)], capsys)
        assert f"feature 'x': unknown function '{function}' in '{expr}'" in line and "card.json" in line, line
        assert "reductions: sum, count, mean, max, min, leading, subleading, nth" in line and "sqrt" in line
        assert "no branch" not in line
    card.write_text(json.dumps(_card(path, features={"x": "sum(Info/pfMET)"})))
    line = _cli_error(["data", "inspect", str(path), "--card", str(card)], capsys)
    assert "delphes.root: tree 'Delphes': sum() needs a list per entry" in line and "card.json" in line, line


def test_inspect_lists_every_sub_branch_with_its_type(shared, capsys):
    tree = uproot.open(shared / FULLSPLIT)["tree"]
    keys = tree.keys(recursive=True)
    assert len(keys) == 43 and len(tree.branches) == 1
    assert main(["data", "inspect", str(shared / FULLSPLIT), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)["trees"]["tree"]
    assert [b["name"] for b in info["branches"]] == keys
    assert [b["type"] for b in info["branches"]] == [tree[k].typename for k in keys]
    by_name = {b["name"]: b for b in info["branches"]}
    assert by_name["evt/SliceF64"]["type"] == "double[]" and by_name["evt/SliceF64"]["readable"]
    assert by_name["evt/P3/P3.Px"]["interpretation"] == "AsDtype('>i4')"
    assert by_name["evt"]["interpretation"].startswith("group of 39 sub-branches") and not by_name["evt"]["readable"]
    assert main(["data", "inspect", str(shared / FULLSPLIT)]) == 0
    text = capsys.readouterr().out
    assert "TTree 'tree': 100 entries, 43 branches (41 readable as arrays)" in text
    for k in keys:
        assert f"    {k} " in text
    assert "0x" not in text and "AsGroup" not in text and "TBranchElement" not in text


@pytest.fixture
def unknown_leaf_file(tmp_path) -> Path:
    """A branch whose leaf class uproot does not know: written with uproot, its TLeafS class renamed TLeafX (in the
    branch's metadata and the file's streamer list), as a file made by a framework with its own leaf type."""
    path = write_root(tmp_path / "custom.root", {"x": np.arange(20, dtype=np.float32),
                                                  "flags": np.arange(20, dtype=np.uint16),
                                                  "label": np.arange(20, dtype=np.int32) % 2})
    data = path.read_bytes()
    assert data.count(b"TLeafS") == 2
    path.write_bytes(data.replace(b"TLeafS", b"TLeafX"))
    return path


def test_unreadable_branch_is_named_with_its_type(unknown_leaf_file, shared, tmp_path, capsys):
    path = unknown_leaf_file
    assert isinstance(uproot.open(path)["Events"]["flags"].interpretation,
                      uproot.interpretation.identify.UnknownInterpretation)
    assert main(["data", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "flags  unknown          cannot be read by uproot (none of the rules matched)" in out, out
    card = {"files": [str(path)], "label": "label", "classes": ["a", "b"]}
    (tmp_path / "bad.json").write_text(json.dumps(card | {"features": ["x", "flags"]}))
    line = _cli_error(["data", "inspect", str(path), "--card", str(tmp_path / "bad.json")], capsys)
    assert "custom.root: tree 'Events': branch 'flags' (type unknown) cannot be read by uproot" in line, line
    assert "needed by feature 'flags'" in line and "corrupt" not in line
    assert len(load_dataset(parse_card(card | {"features": ["x"]})).y_train) == 12  # the other branches read
    # a split object read as a whole: uproot cannot make one array of it
    (tmp_path / "group.json").write_text(json.dumps({
        "files": [str(shared / FULLSPLIT)], "tree": "tree", "features": ["evt"], "label": {"expression": "N % 2"},
        "classes": ["a", "b"]}))
    line = _cli_error(["data", "inspect", str(shared / FULLSPLIT), "--card", str(tmp_path / "group.json")], capsys)
    assert "tree 'tree': branch 'evt' (type Event) is a group of 39 sub-branches" in line, line
    assert "name one of its leaves, e.g. 'evt/I16'" in line and "corrupt" not in line


def test_truncated_file_is_caught(tmp_path, capsys):
    """The shipped jets file cut to its first 1 MB: its header says where it ends; with that header made to agree,
    the baskets beyond the end are found before reading."""
    data = (DATASETS / "jets_hlf.root").read_bytes()
    cut = tmp_path / "cut.root"
    cut.write_bytes(data[:1_000_000])
    f_end = struct.unpack(">i", data[12:16])[0]  # fEND of a small-file header (version < 1000000)
    assert f_end == len(data)
    line = _cli_error(["data", "inspect", str(cut)], capsys)
    assert f"cut.root: truncated file: its header says it ends at byte {len(data)}, but it has 1000000 bytes" in line
    line = _cli_error(["data", "inspect", str(cut), "--card", str(DATASETS / "jets_hlf.yaml")], capsys)
    assert "cut.root: truncated file" in line
    patched = bytearray(data[:1_000_000])
    patched[12:16] = struct.pack(">i", len(patched))
    cut.write_bytes(bytes(patched))
    line = _cli_error(["data", "inspect", str(cut)], capsys)
    assert "cut.root: tree 'jets': branch '" in line and "beyond the end of the file (1000000 bytes)" in line, line
    with pytest.raises(TriggerHGQError, match=r"cut\.root: tree 'jets': branch '\w+': basket \d+ ends at byte \d+, "
                                              r"beyond the end of the file \(1000000 bytes\): truncated file"):
        load_dataset(DATASETS / "jets_hlf.yaml", files=[cut])
