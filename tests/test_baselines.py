"""QKeras baselines from the shipped YAML configs: architecture, uniform bits, training settings, config errors."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from trigger_hgq import TriggerHGQError
from trigger_hgq.baselines import (
    baseline_from_yaml,
    build_qkeras_model,
    load_baseline_config,
    quantizer_specs,
    train_baseline,
)
from trigger_hgq.data.synthetic import make_classification

REPO = Path(__file__).resolve().parents[1]

CONFIGS = REPO / "pipelines" / "configs" / "baselines"
BITS = {"jet_tagger_4bit": 4, "jet_tagger_6bit": 6, "jet_tagger_8bit": 8, "jet_tagger_16bit": 16}


def _dense_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


@pytest.mark.parametrize("name", ["jet_tagger_float", *BITS])
def test_shipped_jet_tagger_configs(name):
    model, config = baseline_from_yaml(CONFIGS / f"{name}.yaml")
    dense = _dense_layers(model)
    assert [layer.units for layer in dense] == [64, 32, 32, 5]
    assert model.input_shape == (None, 16)
    assert model.count_params() == 16 * 64 + 64 + 64 * 32 + 32 + 32 * 32 + 32 + 32 * 5 + 5
    assert model.layers[-1].get_config()["activation"] == "softmax"
    assert config["training"]["epochs"] > 0 and config["training"]["batch_size"] > 0
    if name == "jet_tagger_float":
        assert all(type(layer).__name__ == "Dense" for layer in dense)
        return
    bits = BITS[name]
    for layer in dense:
        assert type(layer).__name__ == "QDense"
        assert layer.kernel_quantizer_internal.bits == bits and layer.bias_quantizer_internal.bits == bits
        assert layer.kernel_quantizer_internal.alpha == 1
    qacts = [layer for layer in model.layers if type(layer).__name__ == "QActivation"]
    inq, relus = qacts[0], qacts[1:]  # the input quantizer: the firmware input ap_fixed<16,6>
    assert (inq.activation.bits, inq.activation.integer) == (16, 5)
    assert len(relus) == 3 and all(layer.activation.bits == bits for layer in relus)


def test_6bit_baseline_matches_the_reference_qkeras_tagger(shared):
    """The shipped 6-bit config rebuilds the quantizers of the public QKeras jet tagger."""
    model, _ = baseline_from_yaml(CONFIGS / "jet_tagger_6bit.yaml")
    reference = json.loads((shared / "reference-models" / "qkeras_3layer.json").read_text())
    ref_layers = {layer["config"]["name"]: layer for layer in reference["config"]["layers"]}
    for name in ("fc1", "fc2", "fc3", "output"):
        ours = model.get_layer(name).get_config()
        theirs = ref_layers[name]["config"]
        assert ours["units"] == theirs["units"]
        for key in ("kernel_quantizer", "bias_quantizer"):
            mine = ours[key]["config"]
            assert {k: mine[k] for k in theirs[key]["config"]} == theirs[key]["config"]
    ref_relu = ref_layers["relu1"]["config"]["activation"]["config"]
    ours = model.get_layer("fc1_relu").activation.get_config()
    assert (ours["bits"], ours["integer"]) == (ref_relu["bits"], ref_relu["integer"])


def test_baseline_trains_above_chance():
    config = load_baseline_config(CONFIGS / "jet_tagger_8bit.yaml")
    config["training"].update(epochs=3, batch_size=256)
    x, y = make_classification(3000, seed=1)
    xv, yv = make_classification(1000, seed=2)
    model = build_qkeras_model(config)
    run = train_baseline(model, config, x, y, xv, yv)
    assert len(run.history["val_accuracy"]) == run.epochs_run == 3
    print(f"8-bit baseline after 3 epochs: val accuracy {run.history['val_accuracy'][-1]:.3f}")
    assert run.history["val_accuracy"][-1] > 0.45  # 5 balanced classes: chance is 0.2


def test_conv_and_input_quantizer_entries():
    config = {
        "name": "conv", "input_shape": [12, 12, 1],
        "layers": [
            {"type": "conv2d", "filters": 4, "kernel_size": 3, "activation": "relu", "batchnorm": True},
            {"type": "maxpool2d", "pool_size": 2},
            {"type": "flatten"},
            {"type": "dropout", "rate": 0.2},
            {"type": "dense", "units": 3, "activation": "softmax"},
        ],
        "quantization": {"bits": 5, "input": {"bits": 10, "integer": 2}},
    }
    model = build_qkeras_model(config)
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    assert kinds == ["QActivation", "QConv2D", "BatchNormalization", "QActivation", "MaxPooling2D", "Flatten",
                     "Dropout", "QDense", "Activation"]
    assert model.get_layer("input_quantizer").activation.bits == 10
    assert model.output_shape == (None, 3)


def test_baseline_saves_and_loads_as_a_keras_file(tmp_path):
    """A trained QKeras baseline round-trips through a ``.keras`` file with no custom objects: same layers,
    quantizers and outputs."""
    config = load_baseline_config(CONFIGS / "jet_tagger_6bit.yaml")
    config["training"].update(epochs=1, batch_size=256)
    x, y = make_classification(1000, seed=1)
    model = build_qkeras_model(config)
    train_baseline(model, config, x, y, x[:200], y[:200])
    path = tmp_path / "jet_tagger_6bit.keras"
    model.save(path)
    again = keras.saving.load_model(path, compile=False)
    assert [type(layer).__name__ for layer in again.layers] == [type(layer).__name__ for layer in model.layers]
    assert quantizer_specs(again) == quantizer_specs(model)
    assert quantizer_specs(again)["fc1"] == {"kernel": "quantized_bits(6,0,0,alpha=1)",
                                             "bias": "quantized_bits(6,0,0,alpha=1)", "activation": None,
                                             "units": 64}
    assert quantizer_specs(again)["fc1_relu"]["activation"] == "quantized_relu(6,0)"
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"optimiser": "sgd"}, "optimiser"),
        ({"layers": [{"type": "dense", "units": 4, "activation": "softmax"}, {"type": "dense", "units": 2}]},
         "softmax is only allowed on the last layer"),
        ({"layers": [{"type": "lstm", "units": 4}]}, "layers[0].type"),
        ({"layers": [{"type": "dense", "units": 4, "activation": "tanh"}]}, "layers[0].activation"),
        ({"layers": [{"type": "dense", "units": 4, "kernel": 3}]}, "layers[0].kernel"),
        ({"quantization": {"bits": 1}}, "quantization.bits"),
        ({"quantization": {"bits": 6, "alpha": "auto"}}, "quantization.alpha"),
        ({"training": {"epochs": "many"}}, "training.epochs"),
        ({"training": {"early_stopping_patience": -1}}, "bad.yaml: key 'training.early_stopping_patience': "
                                                        "expected an integer >= 0, got -1"),
        ({"layers": [{"type": "dense", "units": 0}]}, "bad.yaml: key 'layers[0].units': expected an integer >= 1"),
        ({"input_shape": []}, "bad.yaml: key 'input_shape': expected a non-empty list"),
        ({"training": {"learning_rate": 0}}, "training.learning_rate"),
        ({"training": {"restore_best_weights": "yes"}}, "training.restore_best_weights"),
        ({"training": {"reduce_lr_on_plateau": {"factor": 2.0}}}, "training.reduce_lr_on_plateau.factor"),
        ({"training": {"reduce_lr_on_plateau": {"patience": 0}}}, "training.reduce_lr_on_plateau.patience"),
        ({"training": {"reduce_lr_on_plateau": {"cooldown": 3}}}, "training.reduce_lr_on_plateau.cooldown"),
        ({"pruning": {"target_sparsity": 1.5}}, "pruning.target_sparsity"),
        ({"pruning": {}}, "pruning.target_sparsity"),
        ({"pruning": {"target_sparsity": 0.5, "initial_sparsity": 0.6}}, "pruning.initial_sparsity"),
        ({"pruning": {"target_sparsity": 0.5, "epochs": 0}}, "pruning.epochs"),
        ({"pruning": {"target_sparsity": 0.5, "schedule": "constant"}}, "pruning.schedule"),
        ({"pruning": {"target_sparsity": 0.5, "finetune": {"momentum": 0.9}}}, "pruning.finetune.momentum"),
        ({"pruning": {"target_sparsity": 0.5, "finetune": {"early_stopping_patience": "x"}}},
         "pruning.finetune.early_stopping_patience"),
    ],
)
def test_config_errors_name_the_key(tmp_path, change, message):
    base = tmp_path / "base.yaml"
    base.write_text((CONFIGS / "jet_tagger_float.yaml").read_text())
    config = {"base": "base.yaml", **change}
    path = tmp_path / "bad.yaml"
    import yaml

    path.write_text(yaml.safe_dump(config))
    with pytest.raises(TriggerHGQError) as info:
        baseline_from_yaml(path)
    assert message in str(info.value) and "bad.yaml" in str(info.value)


def test_base_chain_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nname: b\n")
    with pytest.raises(TriggerHGQError, match="loops"):
        load_baseline_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: missing.yaml\n")
    with pytest.raises(TriggerHGQError, match="missing.yaml"):
        load_baseline_config(tmp_path / "c.yaml")
