"""Resume keys cover content: an edited YAML or a rewritten dataset at the same path reruns exactly the stages
that read it (and those after them); everything else is skipped."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from trigger_hgq.pipeline.config import load_pipeline_config
from trigger_hgq.pipeline.keys import dataset_stamp, yaml_files
from trigger_hgq.pipeline.run import Run

REPO = Path(__file__).resolve().parents[1]


class StubRun(Run):
    """The real stage runner and keys, with each stage's work replaced by a record of the call."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ran: list[str] = []

    def data(self):
        self.ran.append("data")
        return {"arrays": "arrays.npz", "dataset": {"classes": ["a", "b"]}}

    def baselines(self, data):
        self.ran.append("baselines")
        return {"models": [{"name": "jet_tagger_6bit", "method": "qkeras", "path": "b.h5"}]}

    def autoqkeras(self, data):
        self.ran.append("autoqkeras")
        return {"models": []}

    def hgq(self, data, base):
        self.ran.append("hgq")
        return {"front": [], "models": []}

    def export(self, data, candidates):
        self.ran.append("export")
        return {"models": []}

    def report(self, data, exported):
        self.ran.append("report")
        return {"files": {}, "selected": None, "closest": None, "nothing_fits": True}


@pytest.fixture
def setup(tmp_path):
    configs = tmp_path / "configs"
    shutil.copytree(REPO / "pipelines" / "configs", configs)
    data = tmp_path / "jets.csv"
    data.write_text("a,b,label\n1,2,0\n")
    text = (configs / "jet_tagging.yaml").read_text().replace("../../datasets/jets_hlf.yaml", str(data))
    (configs / "jet_tagging.yaml").write_text(text)
    out = tmp_path / "run"

    def run() -> list[str]:
        r = StubRun(load_pipeline_config(configs / "jet_tagging.yaml", profile="quick"), out)
        r.run()
        return r.ran if r.ran[-1:] == ["report"] else [*r.ran, "report"]  # list the report, rerun or not

    assert run() == ["data", "baselines", "autoqkeras", "hgq", "export", "report"]
    assert run()[:-1] == []  # nothing changed: all skipped (the report may rerun: it shows the latest timings)
    return configs, data, run


def test_edited_baseline_yaml_reruns_baselines_and_what_follows(setup):
    configs, _, run = setup
    yml = configs / "baselines" / "jet_tagger_6bit.yaml"
    yml.write_text(yml.read_text().replace("integer: 5}", "integer: 6}"))
    assert run() == ["baselines", "hgq", "export", "report"]  # data and AutoQKeras do not read it
    assert run()[:-1] == []


def test_edited_base_file_reruns_every_stage_that_reads_it(setup):
    configs, _, run = setup
    # the float config is the `base:` of every QKeras baseline and the AutoQKeras reference
    yml = configs / "baselines" / "jet_tagger_float.yaml"
    yml.write_text(yml.read_text().replace("epochs: 30", "epochs: 31"))
    assert run() == ["baselines", "autoqkeras", "hgq", "export", "report"]


def test_edited_autoqkeras_yaml_skips_baselines_and_hgq(setup):
    configs, _, run = setup
    yml = configs / "autoqkeras.yaml"
    yml.write_text(yml.read_text().replace("seed: 0", "seed: 1"))
    assert run() == ["autoqkeras", "export", "report"]


def test_rewritten_dataset_at_the_same_path(setup):
    _, data, run = setup
    st = data.stat()
    data.write_text("a,b,label\n1,3,0\n")  # regenerated: same size, new modification time
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert run() == ["data", "baselines", "autoqkeras", "hgq", "export", "report"]
    assert run()[:-1] == []


def test_code_change_and_key_parts(setup, monkeypatch):
    configs, data, run = setup
    monkeypatch.setattr("trigger_hgq.pipeline.run.code_version", lambda: "another version")
    assert run() == ["data", "baselines", "autoqkeras", "hgq", "export", "report"]
    files = yaml_files(configs / "baselines" / "jet_tagger_4bit.yaml")
    assert sorted(Path(p).name for p in files) == ["jet_tagger_4bit.yaml", "jet_tagger_float.yaml"]
    assert dataset_stamp(data)["files"][0][1] == data.stat().st_size
    card = dataset_stamp(REPO / "datasets" / "jets_hlf.yaml")
    assert [Path(f[0]).name for f in card["files"]] == ["jets_hlf.root"]
