"""Bad input: one clear message naming the file/tree/branch/key, exit code 2 from the CLI, no traceback, nothing
written (the card's cache folder is never created)."""

from __future__ import annotations

import shutil

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml
from rootfiles import JET_CARD, jet_columns, write_root

from trigger_hgq.cli import main
from trigger_hgq.data import load_dataset
from trigger_hgq.errors import TriggerHGQError


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    cols = jet_columns(3000)
    cols["f1"] = cols["f1"].copy()
    cols["f1"][1234] = np.nan
    cols["name"] = ak.Array([f"jet{i}" for i in range(3000)])
    cols["weight"] = np.linspace(0, 2, 3000).astype(np.float32)
    write_root(folder / "good.root", cols, basket_entries=500)
    return folder


def _card(folder, name="card.yaml", **changes):
    data = dict(JET_CARD, files=["good.root"], cache="cache", nan_policy="drop") | changes
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _case(name, folder):
    """(file given to `data inspect`, card or None, expected message parts) for each bad input."""
    good = folder / "good.root"
    if name == "missing file":
        return folder / "missing.root", _card(folder), ["file not found", "missing.root"]
    if name == "missing file in card":
        return None, _card(folder, files=["nowhere/*.root"]), ["card.yaml", "key 'files'", "nowhere/*.root"]
    if name == "missing tree":
        return good, _card(folder, tree="Jets"), ["good.root", "no tree 'Jets'", "'Events'"]
    if name == "missing branch":
        return good, _card(folder, features=["f0", "f9"]), ["good.root", "tree 'Events'", "no branch 'f9'"]
    if name == "jagged branch as feature":
        return good, _card(folder, features=["f0", "c_pt"]), ["good.root", "feature 'c_pt'", "var * float32",
                                                               "set 'flatten'"]
    if name == "string branch as feature":
        return good, _card(folder, features=["name"]), ["good.root", "feature 'name'", "type string"]
    if name == "float branch as label":
        return good, _card(folder, label={"branch": "weight"}), ["label.branch 'weight'", "entry 1",
                                                                "not a class index"]
    if name == "nan under error":
        return good, _card(folder, nan_policy="error"), ["feature 'f1' is nan", "good.root", "entry 1234"]
    if name == "empty selection":
        return good, _card(folder, cut="f1 < -1"), ["card.yaml", "empty selection", "cut 'f1 < -1'"]
    if name == "truncated root file":
        data = good.read_bytes()
        (folder / "truncated.root").write_bytes(data[: len(data) // 2])
        return folder / "truncated.root", _card(folder), [
            "truncated.root", "truncated file", f"ends at byte {len(data)}, but it has {len(data) // 2} bytes"]
    if name == "corrupt root file":
        data = bytearray(good.read_bytes())
        seek = int(uproot.open(good)["Events"]["f1"].member("fBasketSeek")[2])  # a compressed basket of f1
        data[seek + 80: seek + 400] = bytes(320)
        (folder / "corrupt.root").write_bytes(bytes(data))
        return folder / "corrupt.root", _card(folder), [
            "corrupt.root", "tree 'Events'", "branch 'f1' (type float): truncated or corrupt data in entries"]
    if name == "not a root file":
        (folder / "notes.root").write_text("run 1: 42 events\n" * 50)
        return folder / "notes.root", _card(folder), ["notes.root", "not a ROOT file"]
    if name == "rntuple instead of ttree":
        with uproot.recreate(folder / "rntuple.root") as f:
            f["Events"] = {"f0": np.arange(5.0)}  # assigning a dict writes an RNTuple
        return folder / "rntuple.root", _card(folder), ["rntuple.root", "'Events' is a ROOT::RNTuple, not a TTree"]
    if name == "invalid expression":
        return good, _card(folder, features={"x": "f0 +* 2"}), ["card.yaml", "feature 'x'", "'f0 +* 2' is not a "
                                                                "valid expression"]
    if name == "unknown card key":
        return good, _card(folder, featurs=["f0"]), ["card.yaml", "key 'featurs': unknown key"]
    if name == "unknown nested card key":
        return good, _card(folder, split={"train": 0.5, "val": 0.5, "test": 0.0, "sed": 1}), [
            "card.yaml", "key 'split.sed': unknown key"]
    if name == "malformed yaml":
        path = folder / "card.yaml"
        path.write_text("name: x\nfiles: [good.root\nfeatures: [f0]\n")
        return good, path, ["card.yaml", "malformed YAML at line"]
    raise AssertionError(name)


CASES = ["missing file", "missing file in card", "missing tree", "missing branch", "jagged branch as feature",
         "string branch as feature", "float branch as label", "nan under error", "empty selection",
         "truncated root file", "corrupt root file", "not a root file", "rntuple instead of ttree",
         "invalid expression", "unknown card key", "unknown nested card key",
         "malformed yaml"]


@pytest.mark.parametrize("name", CASES)
def test_bad_input_gives_one_clear_error(name, base, tmp_path, capsys):
    folder = tmp_path / "work"
    shutil.copytree(base, folder)
    file, card, expected = _case(name, folder)
    argv = ["data", "inspect", str(file)] + (["--card", str(card)] if card and file else [])
    if file is None:
        argv = ["data", "inspect", str(folder / "good.root"), "--card", str(card)]
        with pytest.raises(TriggerHGQError) as err:
            load_dataset(card)
        lines = [f"trigger-hgq data: error: {err.value}"]
    else:
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.strip().splitlines()
        with pytest.raises(TriggerHGQError) as err:  # the library call fails the same way, and writes nothing
            load_dataset(card, files=[file])
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    assert lines[0].startswith("trigger-hgq data: error: ")
    for part in expected:
        assert part in lines[0], (part, lines[0])
    assert not (folder / "cache").exists()
    before = sorted(p.name for p in folder.iterdir())
    assert not any(p.startswith(".") for p in before)


def test_inspect_without_card_reports_missing_and_non_root_files(tmp_path, capsys):
    (tmp_path / "x.root").write_bytes(b"\x00" * 1000)
    assert main(["data", "inspect", str(tmp_path / "x.root")]) == 2
    assert "x.root: not a ROOT file" in capsys.readouterr().err
    assert main(["data", "inspect", str(tmp_path / "y.root")]) == 2
    assert f"file not found: {tmp_path / 'y.root'}" in capsys.readouterr().err
