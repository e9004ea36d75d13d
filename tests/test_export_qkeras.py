"""QKeras and float Keras models through hls4ml's own converters: the real jet taggers (slow: compiles firmware)."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import trigger_hgq as th
from trigger_hgq.cli import main
from trigger_hgq.export.cli import load_model

pytestmark = pytest.mark.slow


def test_qkeras_jet_tagger_export(shared, tmp_path, capsys):
    """The real QKeras 16-64-32-32-5 tagger exports through the CLI; weights keep their quantizers' ap_fixed<6,1>;
    the bit-exact fraction is reported (hls4ml's table softmax is never bit-exact; the float input is cut to the
    input type ap_fixed<16,6>, so the ReLUs differ on some rows)."""
    model_json = shared / "reference-models" / "qkeras_3layer.json"
    x = np.random.default_rng(3).normal(size=(10_000, 16)).astype(np.float32)  # standardized jet features
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "qkeras"
    rc = main(["export", str(model_json), str(out), "--data", str(tmp_path / "x.npy"), "--backend", "Vivado"])
    assert rc == 0, capsys.readouterr().err
    assert "qkeras model, bit-exact" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["model_kind"] == "qkeras" and report["n_checked"] == 10_000
    assert 0.0 <= report["bit_exact_fraction"] <= 1.0
    layers = {layer["name"]: layer for layer in report["layers"]}
    for name in ("fc1", "fc2", "fc3", "output"):
        assert "(weight fixed<6,1," in layers[name]["precision"], layers[name]["precision"]
    for name in ("relu1", "relu2", "relu3"):
        assert layers[name]["precision"].startswith("ufixed<6,0,RND_CONV,SAT")
    defines = (out / "firmware" / "defines.h").read_text()
    assert defines.count("ap_fixed<6,1> weight") == 4 and defines.count("ap_fixed<6,1> bias") == 4
    check = report["check"]
    assert check["n_traced"] == 1000 and layers["softmax"]["bit_exact_fraction"] < 1.0
    assert check["logits_bit_exact_fraction"] == layers["output"]["bit_exact_fraction"]

    # With an input type that holds the float inputs, everything up to the logits is exact.
    model = load_model(model_json)
    export = th.to_hls4ml(model, tmp_path / "qkeras_wide", x=x[:2000], backend="Vivado",
                          input_precision="ap_fixed<32,8>")
    check = export.report["check"]
    assert check["logits_bit_exact_fraction"] == 1.0
    assert [c.name for c in export.check.layers][-2:] == ["output", "softmax"]
    assert all(c.exact_fraction == 1.0 for c in export.check.layers if c.name.startswith("relu"))


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing.keras"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.keras" in err
    assert main(["hls-report", str(tmp_path)]) == 2
    assert "no project.tcl" in capsys.readouterr().err


@pytest.mark.slow
def test_qkeras_interaction_network_is_exact_up_to_the_logits(tmp_path):
    """The QKeras interaction network (per-particle QDense with biases, a mean broadcast back by concatenation, Add,
    quantized relu) through hls4ml: with an input type that holds the inputs, every layer up to the logits equals
    QKeras on 1,000 rows (the per-particle biases are written as their quantized values)."""
    from trigger_hgq.baselines.qkeras_models import build_qkeras_model, load_baseline_config

    config = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / "baselines" / "interaction_8bit.yaml"
    keras.utils.set_random_seed(0)
    model = build_qkeras_model(load_baseline_config(config), (8, 16))
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 0.3, layer.bias.shape).astype(np.float32))  # off the 8-bit grid
    x = rng.normal(size=(1000, 8, 16)).astype(np.float32)
    export = th.to_hls4ml(model, tmp_path / "prj", x=x, input_precision="ap_fixed<32,8>")
    check = export.report["check"]
    assert check["logits_bit_exact_fraction"] == 1.0, check.get("first_differing_layer")
    classes = {layer.class_name for layer in export.hls_model.get_layers()}
    assert {"PointwiseConv1D", "Concatenate", "Merge"} <= classes
