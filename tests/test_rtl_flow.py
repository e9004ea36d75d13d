"""The RTL route end to end: HGQ MLP -> Verilog -> yosys LUT/FF -> Verilator equals Keras; report and CLI."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest

pytest.importorskip("da4ml", reason="the rtl extra (da4ml) is not installed")

import trigger_hgq as th  # noqa: E402
from trigger_hgq.cli import main  # noqa: E402
from trigger_hgq.errors import TriggerHGQError  # noqa: E402
from trigger_hgq.export.rtl import build_rtl  # noqa: E402
from trigger_hgq.export.rtl.api import compare, merge_report  # noqa: E402
from trigger_hgq.export.rtl.synth import logic_depth, parse_stat, summarize  # noqa: E402

needs_tools = pytest.mark.skipif(
    shutil.which("yosys") is None or shutil.which("verilator") is None,
    reason="yosys and verilator (Debian packages, .ci/apt-packages) are not installed",
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small HGQ jet tagger trained briefly with beta > 0 on the shipped jet dataset, calibrated on its training
    rows; checked on 10k test jets."""
    from pathlib import Path

    from trigger_hgq.data import load_dataset

    keras.backend.clear_session()
    keras.utils.set_random_seed(1)
    ds = load_dataset(Path(__file__).resolve().parents[1] / "datasets" / "jets_hlf.yaml")
    x = np.concatenate([ds.x_train[:6000], ds.x_test[:10000]])
    y = np.concatenate([ds.y_train[:6000], ds.y_test[:10000]])
    inp = keras.Input((16,))
    h = th.HQuantize(beta=2e-5, name="inq")(inp)
    h = th.HDense(16, activation="relu", beta=2e-5, name="dense1")(h)
    h = th.HDense(8, activation="relu", beta=2e-5, name="dense2")(h)
    out = th.HDense(5, beta=2e-5, name="logits")(h)
    model = keras.Model(inp, out)
    model.compile(keras.optimizers.Adam(5e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    hist = model.fit(x[:6000], y[:6000], epochs=4, batch_size=200, verbose=0)
    th.calibrate(model, x[:6000])
    path = tmp_path_factory.mktemp("rtl_model") / "mlp.keras"
    model.save(path)
    return model, path, x[6000:], hist.history["accuracy"][-1]


@pytest.mark.slow
@needs_tools
def test_mlp_to_verilog_yosys_and_verilator(trained, tmp_path):
    model, _, x_check, accuracy = trained
    assert accuracy > 0.5
    kq_bits = model.get_layer("dense1").kq.kif_numpy(model.get_layer("dense1").quantized_weights()[0])
    bits = sum(kq_bits)
    assert len(np.unique(bits)) > 2  # per-weight bitwidths differ
    (tmp_path / "report.json").write_text(json.dumps(
        {"lut": 999999, "ff": 1, "dsp": 7, "bram": 0, "resource_source": "estimate", "latency_cycles": 99,
         "latency_ns": 495.0, "ii": 1, "latency_source": "estimate", "bit_exact_fraction": 1.0, "n_checked": 5,
         "estimate": {"lut": 999999, "dsp": 7}}))
    rtl = build_rtl(model, tmp_path, x_check[:10000], clock_ns=5.0, part_family="xcup")

    check = rtl["check"]
    assert check["n_checked"] == 10000
    assert check["bit_exact_fraction"] == 1.0
    synth = rtl["synthesis"]
    assert synth["dsp"] == 0 and synth["bram"] == 0
    assert synth["lut"] > 0 and synth["ff"] > 0 and synth["carry4"] > 0
    # da4ml's own estimates: LUTs within a factor 1.5 of what yosys maps, FFs (pipeline register bits) within 15%
    assert 1 / 1.5 < synth["lut"] / rtl["da4ml_estimate"]["lut"] < 1.5
    assert abs(synth["ff"] / rtl["da4ml_estimate"]["ff"] - 1) < 0.15
    assert rtl["pipeline_stages"] >= 2
    assert 2 <= synth["lut_levels"] <= 2 * rtl["adders_per_stage"] + 4  # registers cut the adder tree
    assert synth["logic_levels"] >= synth["lut_levels"]

    report = json.loads((tmp_path / "report.json").read_text())
    assert report["resource_source"] == "yosys" and report["lut"] == synth["lut"] and report["dsp"] == 0
    assert report["latency_source"] == "rtl" and report["latency_cycles"] == rtl["pipeline_stages"]
    assert report["estimate"] == {"lut": 999999, "dsp": 7}  # the export's estimate stays beside the synthesis
    assert report["n_checked"] == 5  # the export's own check is not overwritten
    assert report["rtl"]["check"]["bit_exact_fraction"] == 1.0
    assert (tmp_path / "rtl" / "src" / "hgq_model.v").is_file()
    assert (tmp_path / "rtl" / "synth" / "stat.txt").is_file()


def test_merge_keeps_synthesized_hls_results(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps(
        {"lut": 1234, "ff": 500, "dsp": 3, "bram": 0, "resource_source": "vsynth", "latency_cycles": 9,
         "latency_ns": 45.0, "ii": 1, "latency_source": "csynth"}))
    rtl = {"pipeline_stages": 3, "latency_ns": 15.0, "check": None,
           "synthesis": {"lut": 800, "ff": 300, "dsp": 0, "bram": 0, "carry4": 90, "lut_levels": 6}}
    report = merge_report(tmp_path, rtl)
    assert report["lut"] == 1234 and report["resource_source"] == "vsynth"
    assert report["latency_cycles"] == 9 and report["latency_source"] == "csynth"
    assert report["rtl"]["synthesis"]["lut"] == 800
    (tmp_path / "fresh").mkdir()
    fresh = merge_report(tmp_path / "fresh", {**rtl, "check": {"bit_exact_fraction": 1.0, "n_checked": 10}})
    assert fresh["resource_source"] == "yosys" and fresh["lut"] == 800 and fresh["n_checked"] == 10
    assert fresh["latency_cycles"] == 3 and fresh["ii"] == 1


def test_compare_names_first_mismatch():
    keras = np.array([[0.5, -1.25], [2.0, 0.0], [1.0, 3.5], [0.0, 0.0]])
    rtl = keras.copy()
    rtl[2, 1], rtl[3, 0] = 3.25, 0.125
    result = compare(rtl, keras)
    assert result["bit_exact_fraction"] == 0.5 and result["n_checked"] == 4
    assert result["first_mismatch"] == {"row": 2, "output": 1, "rtl": 3.25, "keras": 3.5}
    assert "first_mismatch" not in compare(keras, keras.copy())


def test_merge_refuses_unreadable_report(tmp_path):
    (tmp_path / "report.json").write_text("{not json")
    with pytest.raises(TriggerHGQError, match="report.json"):
        merge_report(tmp_path, {"pipeline_stages": 1, "latency_ns": 5.0})


def test_logic_depth_counts_luts_between_registers():
    """FF -> LUT -> LUT -> CARRY4 -> LUT -> FF, and a shorter branch FF -> LUT -> FF."""
    def cell(ctype, ins, outs):
        conns = {**{f"I{n}": [b] for n, b in enumerate(ins)}, **{f"O{n}": [b] for n, b in enumerate(outs)}}
        dirs = {**{f"I{n}": "input" for n in range(len(ins))}, **{f"O{n}": "output" for n in range(len(outs))}}
        return {"type": ctype, "connections": conns, "port_directions": dirs}

    cells = {
        "ff_a": cell("FDRE", [2, 20], [3]),
        "lut1": cell("LUT2", [3, 3], [4]),
        "lut2": cell("LUT3", [4, 3, "0"], [5]),
        "carry": cell("CARRY4", [5, 4], [6]),
        "lut3": cell("LUT2", [6, 5], [7]),
        "ff_b": cell("FDRE", [7, 20], [8]),
        "lut4": cell("LUT1", [8], [9]),
        "ff_c": cell("FDRE", [9, 20], [10]),
    }
    depth = logic_depth({"modules": {"top": {"cells": cells}}}, "top")
    assert depth == {"lut_levels": 3, "logic_levels": 4}


def test_parse_stat_of_yosys_output():
    text = """
=== top ===

   Number of wires:                 12
   Number of cells:                  9
     CARRY4                          2
     FDRE                            3
     LUT2                            3
     LUT6                            1

"""
    s = summarize(parse_stat(text))
    assert (s["lut"], s["ff"], s["carry4"], s["dsp"], s["bram"]) == (4, 3, 2, 0, 0)
    with pytest.raises(TriggerHGQError):
        parse_stat("nothing here")


def test_cli_writes_verilog_and_reports_bad_input(trained, tmp_path, capsys):
    _, path, _, _ = trained
    assert main(["rtl", str(path), str(tmp_path / "out"), "--no-synth", "--no-sim", "--clock-ns", "4"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["rtl"]["clock_ns"] == 4.0 and report["rtl"]["pipeline_stages"] >= 1
    assert (tmp_path / "out" / "rtl" / "src" / "hgq_model_wrapper.v").is_file()
    assert main(["rtl", str(tmp_path / "missing.keras"), str(tmp_path / "o2")]) == 2
    assert "missing.keras" in capsys.readouterr().err
    assert main(["rtl", str(path), str(tmp_path / "o3"), "--no-synth", "--no-sim", "--top", "9bad"]) == 2
    assert "9bad" in capsys.readouterr().err
