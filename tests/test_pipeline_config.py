"""Pipeline inputs: config keys, profiles, budget and missing files fail early, with exit code 2 and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trigger_hgq.cli import main
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.pipeline.config import PipelineConfig

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "pipelines" / "configs" / "jet_tagging.yaml"


def write_config(tmp_path: Path, **changes) -> Path:
    raw = yaml.safe_load(CONFIG.read_text())
    raw["dataset"] = str((CONFIG.parent / raw["dataset"]).resolve())
    for section in ("float", "autoqkeras"):
        raw[section]["config"] = str((CONFIG.parent / raw[section]["config"]).resolve())
    raw["baselines"]["configs"] = [str((CONFIG.parent / c).resolve()) for c in raw["baselines"]["configs"]]
    raw["profiles"]["quick"]["baselines"]["configs"] = [
        str((CONFIG.parent / c).resolve()) for c in raw["profiles"]["quick"]["baselines"]["configs"]]
    for key, value in changes.items():
        section, _, sub = key.partition("__")
        if sub:
            raw[section][sub] = value
        else:
            raw[section] = value
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_shipped_config_and_profiles():
    quick = PipelineConfig.load(CONFIG, profile="quick")
    default = PipelineConfig.load(CONFIG)
    assert quick.profile == "quick" and default.profile == "default"
    assert quick.hgq_schedule().epochs < default.hgq_schedule().epochs
    assert quick.section("autoqkeras")["max_trials"] == 2
    assert default.budget.latency_cycles == 20
    over = PipelineConfig.load(CONFIG, overrides={"budget": {"latency_ns": 10}})
    assert over.budget.latency_cycles == 2


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"hgq__scheduel": {}}, "'hgq.scheduel': unknown key"),
        ({"budget__latency_ns": 0}, "pipeline.yaml: key 'budget.latency_ns': expected a number > 0, got 0"),
        ({"colour": "red"}, "'colour': unknown key"),
        ({"hgq__schedule": {"epochs": 3, "kind": "cubic"}}, "hgq.schedule.kind"),
        ({"profile": "huge"}, "'profile'"),
        ({"export__rtl": {"hgq": -1}}, "'export.rtl.hgq'"),
        ({"budget__implementation": "vivado"}, "budget.implementation"),
        ({"hgq__workers": 0}, "'hgq.workers': expected an integer >= 1"),
        ({"export__workers": "two"}, "'export.workers': expected an integer >= 1"),
    ],
)
def test_bad_config_is_named(tmp_path, changes, message):
    """Each problem names the config file and the key path, in the schema's one format."""
    with pytest.raises(TriggerHGQError, match=message.replace(".", r"\.").replace("(", r"\(")):
        PipelineConfig.load(write_config(tmp_path, **changes))


@pytest.mark.parametrize("changes, key, problem", [
    ({"budget__lut_fraction": 2}, "budget.lut_fraction", "expected a number <= 1.0 (a fraction of the part), got 2"),
    ({"budget__part": "xc7z020", "budget__dsp_fraction": 0.5}, "budget.part",
     "resources of 'xc7z020' unknown (known: xcvu13p, xcvu9p, xcvu7p, xcku115, xcvu19p)"),
    ({"export__rtl": {"hgq": 1, "baseline": ["a"]}}, "export.rtl.baseline",
     "unknown key (known: hgq, baselines, matched, hls_da)"),
    ({"export__rtl": "yes"}, "export.rtl", "expected a count >= 0 or a mapping, got 'yes'"),
    ({"max_train_rows": 50}, "max_train_rows", "expected an integer >= 100, got 50"),
    ({"hgq__schedule": {"epochs": 0}}, "hgq.schedule.epochs", "expected an integer >= 1, got 0"),
])
def test_config_message_format(tmp_path, changes, key, problem):
    path = write_config(tmp_path, **changes)
    with pytest.raises(TriggerHGQError) as info:
        PipelineConfig.load(path)
    assert str(info.value) == f"config {path.resolve()}: key '{key}': {problem}"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--latency-budget-ns", "-5"], "--latency-budget-ns -5.0: expected a finite number > 0"),
        (["--latency-budget-ns", "inf"], "--latency-budget-ns inf: expected a finite number > 0"),
        (["--latency-budget-ns", "nan"], "--latency-budget-ns nan"),
        (["--clock-ns", "1e400"], "--clock-ns inf"),
        (["--lut-fraction", "1.5"], "--lut-fraction 1.5: expected a finite number in (0, 1]"),
        (["--dsp-fraction", "nan"], "--dsp-fraction nan"),
        (["--data", "/nonexistent/jets.yaml"], "jets.yaml': no such file"),
    ],
)
def test_cli_bad_input_exit_2_nothing_written(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    code = main(["pipeline", "--config", str(write_config(tmp_path)), "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_failing_dataset_card_exit_2_nothing_written(tmp_path, capsys):
    card = tmp_path / "card.yaml"
    card.write_text("name: broken\nfiles: [jets.root]\ntree: jets\nfeatures: [a]\nlabel: {branch: y}\n"
                    "classes: [a, b]\nsplitt: {}\n")
    out = tmp_path / "run"
    code = main(["pipeline", "--config", str(write_config(tmp_path)), "--out", str(out), "--data", str(card)])
    err = capsys.readouterr().err
    assert code == 2 and "splitt" in err and not out.exists()


def test_start_model_must_be_a_baseline(tmp_path, capsys):
    out = tmp_path / "run"
    path = write_config(tmp_path, hgq__start_from="jet_tagger_3bit")
    assert main(["pipeline", "--config", str(path), "--out", str(out)]) == 2
    assert "hgq.start_from" in capsys.readouterr().err
    assert not out.exists()


def test_pruned_baselines_start_from_the_unpruned_config_their_base_chain_reads(tmp_path):
    from trigger_hgq.pipeline.inputs import RunInputs

    base = REPO / "pipelines" / "configs" / "baselines"
    parents = RunInputs(PipelineConfig.load(CONFIG)).pruning_parents()
    assert parents == {base / "jet_tagger_6bit_pruned50.yaml": base / "jet_tagger_6bit.yaml",
                       base / "jet_tagger_6bit_pruned75.yaml": base / "jet_tagger_6bit.yaml"}
    # without its parent in the run, a pruned baseline trains dense first
    cfg = PipelineConfig.load(CONFIG, overrides={"baselines": {"configs": [
        str(base / "jet_tagger_4bit.yaml"), str(base / "jet_tagger_6bit_pruned50.yaml")]}})
    assert RunInputs(cfg).pruning_parents() == {base / "jet_tagger_6bit_pruned50.yaml": None}


def test_every_input_file_is_parsed_once_into_a_frozen_object(tmp_path, monkeypatch):
    """The run reads the dataset card, each baseline config and the AutoQKeras config once, where it starts; the
    stages get them from one frozen object (the resume keys and the data stage reuse the parsed card)."""
    import dataclasses
    from collections import Counter

    import trigger_hgq.baselines.autoqkeras as autoqkeras
    import trigger_hgq.baselines.qkeras_models as qkeras_models
    import trigger_hgq.data.card as card_module
    from trigger_hgq.pipeline.inputs import LoadedInputs
    from trigger_hgq.pipeline.run import Run
    from trigger_hgq.stage_keys import dataset_stamp

    calls: Counter = Counter()

    def counted(module, name, key):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls[key(*args)] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counted(card_module, "parse_card", lambda data, **kw: "card")
    counted(qkeras_models, "load_baseline_config", lambda path: Path(path).name)
    counted(autoqkeras, "load_autoqkeras_config", lambda path: "autoqkeras")
    cfg = PipelineConfig.load(CONFIG, profile="quick")
    run = Run.reading_inputs(cfg, tmp_path / "run")
    inputs = run.inputs
    assert isinstance(inputs, LoadedInputs)
    with pytest.raises(dataclasses.FrozenInstanceError):
        inputs.card = None  # type: ignore[misc]
    names = [b.path.name for b in inputs.baselines]
    assert "jet_tagger_6bit.yaml" in names and len(names) == len(set(names)) > 1
    assert calls == Counter({"card": 1, "autoqkeras": 1, **{n: 1 for n in names}})
    # the stage keys read the bytes of the files, not their contents again
    assert dataset_stamp(inputs.dataset, inputs.card)["files"][0][0].endswith("jets_hlf.root")
    assert calls["card"] == 1
    assert inputs.baseline("jet_tagger_6bit").policy.batch_size == 1024
    assert inputs.baseline("jet_tagger_6bit").config["quantization"]["bits"] == 6
    assert inputs.autoqkeras_config() is not inputs.autoqkeras  # the stage changes its copy only
