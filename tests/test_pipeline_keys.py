"""Resume keys cover content: an edited YAML or a rewritten dataset at the same path reruns exactly the stages
that read it (and those after them); everything else is skipped."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

import trigger_hgq
from trigger_hgq.pipeline.config import PipelineConfig
from trigger_hgq.pipeline.run import STAGES, Run
from trigger_hgq.sources import SourceGraph
from trigger_hgq.stage_keys import code_version, dataset_stamp, yaml_files

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(trigger_hgq.__file__).resolve().parent


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

    def start_rtl_warmup(self):
        return None

    def rtl(self, data, exported, candidates):
        self.ran.append("rtl")
        return {"models": [], "failed": []}

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
        r = StubRun.reading_inputs(PipelineConfig.load(configs / "jet_tagging.yaml", profile="quick"), out)
        r.run()
        ran = sorted(r.ran, key=STAGES.index)  # baselines and autoqkeras run side by side: in either order
        return ran if ran[-1:] == ["report"] else [*ran, "report"]  # list the report, rerun or not

    assert run() == ["data", "baselines", "autoqkeras", "hgq", "export", "rtl", "report"]
    assert run()[:-1] == []  # nothing changed: all skipped (the report may rerun: it shows the latest timings)
    return configs, data, run


def test_edited_baseline_yaml_reruns_baselines_and_what_follows(setup):
    configs, _, run = setup
    yml = configs / "baselines" / "jet_tagger_6bit.yaml"
    yml.write_text(yml.read_text().replace("integer: 5}", "integer: 6}"))
    assert run() == ["baselines", "hgq", "export", "rtl", "report"]  # data and AutoQKeras do not read it
    assert run()[:-1] == []


def test_edited_base_file_reruns_every_stage_that_reads_it(setup):
    configs, _, run = setup
    # the float config is the `base:` of every QKeras baseline and the AutoQKeras reference
    yml = configs / "baselines" / "jet_tagger_float.yaml"
    yml.write_text(yml.read_text().replace("epochs: 30", "epochs: 31"))
    assert run() == ["baselines", "autoqkeras", "hgq", "export", "rtl", "report"]


def test_edited_autoqkeras_yaml_skips_baselines_and_hgq(setup):
    configs, _, run = setup
    yml = configs / "autoqkeras.yaml"
    yml.write_text(yml.read_text().replace("seed: 0", "seed: 1"))
    assert run() == ["autoqkeras", "export", "rtl", "report"]


def test_rewritten_dataset_at_the_same_path(setup):
    _, data, run = setup
    st = data.stat()
    data.write_text("a,b,label\n1,3,0\n")  # regenerated: same size, new modification time
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert run() == ["data", "baselines", "autoqkeras", "hgq", "export", "rtl", "report"]
    assert run()[:-1] == []


def test_code_change_and_key_parts(setup, monkeypatch):
    configs, data, run = setup
    monkeypatch.setattr("trigger_hgq.pipeline.run.code_version", lambda stage: "another version")
    assert run() == ["data", "baselines", "autoqkeras", "hgq", "export", "rtl", "report"]
    files = yaml_files(configs / "baselines" / "jet_tagger_4bit.yaml")
    assert sorted(Path(p).name for p in files) == ["jet_tagger_4bit.yaml", "jet_tagger_float.yaml"]
    assert dataset_stamp(data)["files"][0][1] == data.stat().st_size
    from trigger_hgq.data import load_card

    card = dataset_stamp(REPO / "datasets" / "jets_hlf.yaml", load_card(REPO / "datasets" / "jets_hlf.yaml"))
    assert [Path(f[0]).name for f in card["files"]] == ["jets_hlf.root"]


# ------------------------------------------------------------------------------------------- code keys per stage
@pytest.fixture
def sources(tmp_path):
    """A copy of the trigger_hgq sources to edit, and the stage keys of its current state."""
    root = tmp_path / "src" / "trigger_hgq"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))

    def keys(stages: tuple[str, ...] = STAGES) -> dict[str, str]:
        graph = SourceGraph(root)
        return {stage: code_version(stage, graph) for stage in stages}

    def edit(relative: str, old: str | None = None, new: str = "") -> None:
        f = root / relative
        text = f.read_text()
        added = "\n\ndef added_by_test():\n    return 1\n"
        f.write_text(text + added if old is None else re.sub(old, new, text, count=1))

    return keys, edit


def changed(before: dict, after: dict) -> set[str]:
    return {stage for stage in before if before[stage] != after[stage]}


def test_edited_report_writer_changes_only_the_report_key(sources):
    keys, edit = sources
    before = keys()
    assert len(set(before.values())) == len(STAGES)  # each stage runs its own set of sources
    edit("report/html.py")
    assert changed(before, keys()) == {"report"}


def test_edited_quantizer_changes_the_training_and_export_keys(sources):
    keys, edit = sources
    before = keys()
    edit("quantizer.py")
    # every stage that builds, trains, loads or exports a model; the data and report stages do not
    assert changed(before, keys()) == {"baselines", "autoqkeras", "hgq", "export", "rtl"}


def test_edited_data_reader_and_rtl_route(sources):
    keys, edit = sources
    before = keys()
    edit("data/root.py")
    assert changed(before, keys()) == {"data"}
    before = keys()
    edit("export/rtl/synth.py")
    assert changed(before, keys()) == {"rtl"}


def test_key_follows_the_imports_a_stage_adds(sources):
    """The modules come from the stage's code: a stage that starts importing a module reruns when it changes."""
    keys, edit = sources
    edit("pipeline/run.py", r"(    def baselines\(self.*\n)",
         r"\1        from trigger_hgq.report import html  # noqa: F401\n")
    before = keys()
    edit("report/html.py")
    assert changed(before, keys()) == {"baselines", "report"}


def test_stub_run_reruns_only_the_report_after_a_report_edit(setup, sources, monkeypatch):
    """The real stage runner with the keys of the edited source copy."""
    _, _, run = setup
    keys, edit = sources
    monkeypatch.setattr("trigger_hgq.pipeline.run.code_version", lambda stage: keys((stage,))[stage])
    assert run()[:-1] == []  # the copy has the same sources
    edit("report/markdown.py")
    assert run() == ["report"]
    edit("quantizer.py")
    assert run() == ["baselines", "autoqkeras", "hgq", "export", "rtl", "report"]


def test_unknown_stage_is_an_error():
    with pytest.raises(LookupError, match="Run.nonesuch"):
        code_version("nonesuch")


# ------------------------------------------------------------------------------------------- dependency versions
def test_dependency_versions_name_the_installed_stack():
    import importlib.metadata
    import platform

    import keras

    from trigger_hgq.stage_keys import dependency_versions

    versions = dependency_versions()
    assert versions["python"] == platform.python_version()
    assert versions["keras"] == importlib.metadata.version("keras") == keras.__version__
    assert versions["keras_backend"] == keras.backend.backend()
    backend_module = __import__(keras.backend.backend())
    assert versions["backend_version"] == backend_module.__version__
    assert versions["hls4ml"] == importlib.metadata.version("hls4ml")
    assert set(versions) == {"python", "keras", "keras_backend", "backend_version", "qkeras", "hls4ml", "da4ml"}


def test_absent_dependency_is_null(monkeypatch):
    import importlib.metadata

    from trigger_hgq import stage_keys

    real = importlib.metadata.version

    def version(name):
        if name == "da4ml":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    assert stage_keys.dependency_versions()["da4ml"] is None


@pytest.mark.parametrize("dist", ["keras", "hls4ml", "da4ml", "qkeras-v3", "tensorflow-cpu"])
def test_a_new_dependency_version_reruns_every_stage(setup, monkeypatch, dist):
    import keras

    from trigger_hgq import stage_keys

    if dist == "tensorflow-cpu" and keras.backend.backend() != "tensorflow":
        pytest.skip("the backend version is looked up for the tensorflow backend only")
    _, _, run = setup
    real = stage_keys.installed_version
    monkeypatch.setattr(stage_keys, "installed_version", lambda name: "99.0" if name == dist else real(name))
    assert run() == ["data", "baselines", "autoqkeras", "hgq", "export", "rtl", "report"]
    assert run()[:-1] == []  # the same stack again: all skipped


def test_another_backend_reruns_every_stage(setup, monkeypatch):
    import keras

    _, _, run = setup
    other = "jax" if keras.backend.backend() != "jax" else "tensorflow"
    monkeypatch.setattr(keras.backend, "backend", lambda: other)
    assert run() == ["data", "baselines", "autoqkeras", "hgq", "export", "rtl", "report"]
