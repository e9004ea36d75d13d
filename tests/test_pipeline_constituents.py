"""End to end on the jets' particles: the constituent pipeline's quick profile (the interaction network on 8
particles, 16 features each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from trigger_hgq.cli import main
from trigger_hgq.report.schema import validate_report

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "pipelines" / "configs" / "jet_tagging_constituents.yaml"
BASELINE = "interaction_8bit"  # the architecture HGQ starts from, uniform 8-bit QKeras


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("constituents") / "run"
    code = main(["pipeline", "--config", str(CONFIG), "--profile", "quick", "--out", str(out)])
    return code, out


@pytest.mark.slow
def test_quick_constituent_profile_is_bit_exact_end_to_end(quick_run):
    code, out = quick_run
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    validate_report(report)
    assert report["dataset"]["n_particles"] == 8 and report["dataset"]["input_shape"] == [8, 16]
    card = yaml.safe_load((REPO / "datasets" / "jets_constituents16.yaml").read_text())
    features = card["constituents"]["features"]
    assert report["dataset"]["features"] == features and len(features) == 16
    # the training jets and their phi, eta and phi-and-eta images; the particles standardized on all of them
    assert report["dataset"]["mirrors"] == ["phi", "eta"]
    assert report["dataset"]["n_train"] == 4 * report["dataset"]["n_train_jets"] == 6000
    assert report["dataset"]["n_test"] == 2000
    scaler = json.loads((out / "data" / "particle_scaler.json").read_text())
    odd = [features.index(f) for f in ("py", "phi", "phi_rel", "phi_rot", "pz", "eta", "eta_rel", "eta_rot")]
    assert max(abs(scaler["mean"][i]) for i in odd) < 1e-6 * min(scaler["std"][i] for i in odd)
    assert "6,000 training examples" in (out / "report.md").read_text()
    by_method: dict[str, list[dict]] = {}
    for m in report["models"]:
        by_method.setdefault(m["method"], []).append(m)
    assert set(by_method) == {"qkeras", "autoqkeras", "hgq"}
    # every HGQ candidate's firmware equals its Keras model on the checked test jets; the QKeras models (exported as
    # measured, not promised: QKeras computes in float32) differ on at most 1 jet in 1,000
    for m in report["models"]:
        least = 1.0 if m["method"] == "hgq" else 0.999
        assert m["bit_exact_fraction"] >= least and m["n_checked"] == 2000, m["name"]
        assert m["latency_cycles"] > 0 and m["lut"] > 0 and m["ebops"] > 0
    names = {m["name"] for m in report["models"]}
    assert {BASELINE, "autoqkeras_best"} <= names and len(by_method["hgq"]) >= 2
    # the per-particle dense layers are pointwise convolutions in every hls4ml project
    for m in report["models"]:
        config = (Path(m["firmware_dir"]) / "firmware" / "myproject.cpp").read_text()
        assert "pointwise_conv_1d_cl" in config, m["name"]
    rows = {row["baseline"]: row for row in report["comparison"]["baselines"]}
    assert BASELINE in rows
    # the baseline trained once per seed; the one kept is the most accurate on validation, and it is the model saved
    base = next(m for m in report["models"] if m["name"] == BASELINE)
    seeds = base["training"]["seed_val_accuracy"]
    assert sorted(seeds) == ["0", "1"] and seeds[str(base["training"]["seed"])] == max(seeds.values())
    assert base["val_accuracy"] == pytest.approx(max(seeds.values()), abs=1e-6)
    assert sorted(p.name for p in (out / "models").glob(f"{BASELINE}*.keras")) == [
        f"{BASELINE}_seed0.keras", f"{BASELINE}_seed1.keras"]


@pytest.mark.slow
def test_sweep_report_tabulates_n_beside_the_anchors(quick_run, tmp_path):
    from trigger_hgq.report.sweep import ANCHORS, write_sweep

    _, out = quick_run
    report = json.loads((out / "report.json").read_text())
    files = write_sweep(tmp_path, {8: report}, BASELINE)
    text = files["sweep.md"].read_text()
    row = next(line for line in text.splitlines() if line.startswith("| 8 |"))
    matched = next(r for r in report["comparison"]["baselines"] if r["baseline"] == BASELINE)["hgq_model"]
    assert (matched or "none reaches it") in row
    assert "another dataset" in text and "| JEDI-linear | 32 | 80.90% | 62,000 | 60 |" in text
    assert files["sweep.png"].read_bytes()[:4] == b"\x89PNG"
    saved = json.loads(files["sweep.json"].read_text())
    assert saved["rows"][0]["n_particles"] == 8 and set(saved["anchors"]) == set(ANCHORS)


def test_a_particle_sweep_config_checks_every_count_first(tmp_path):
    """n_particles as a list: each count's inputs are checked before any run writes a file."""
    config = tmp_path / "sweep.yaml"
    bl = REPO / "pipelines" / "configs" / "baselines"
    config.write_text(f"base: {CONFIG}\ndataset: {REPO / 'datasets' / 'jets_constituents.yaml'}\n"
                      f"float: {{config: {bl / 'deepsets_float.yaml'}}}\nautoqkeras: {{enabled: false}}\n"
                      f"baselines: {{configs: [{bl / 'deepsets_8bit.yaml'}]}}\nhgq: {{start_from: deepsets_8bit}}\n"
                      "n_particles: [8, 12]\n")
    out = tmp_path / "run"
    assert main(["pipeline", "--config", str(config), "--out", str(out)]) == 2
    assert not out.exists()
