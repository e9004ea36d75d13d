"""AutoQKeras on Keras 2.15: the known breakages, our fixes, and a real 3-trial search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml

import trigger_hgq as th
from trigger_hgq import TriggerHGQError
from trigger_hgq.baselines import (
    baseline_from_yaml,
    load_autoqkeras_config,
    qkeras_json_compat,
    quantizer_specs,
    retrain_best,
    run_autoqkeras,
)
from trigger_hgq.convert import load_model, qkeras_objects, save_model
from trigger_hgq.data.synthetic import make_classification

REPO = Path(__file__).resolve().parents[1]

CONFIG = REPO / "pipelines" / "configs" / "autoqkeras.yaml"


@tf.autograph.experimental.do_not_convert
def _float_mlp() -> tf.keras.Model:
    inp = tf.keras.Input((16,), name="x")
    h = tf.keras.layers.Dense(8, name="fc1")(inp)
    h = tf.keras.layers.Activation("relu", name="relu1")(h)
    return tf.keras.Model(inp, tf.keras.layers.Dense(5, name="out")(h))


def test_model_quantize_needs_the_json_fix():
    """QKeras renames Dense to QDense in the JSON; Keras 2.15 cannot find the class unless we step in."""
    from qkeras.utils import model_quantize

    spec = {"fc1": {"kernel_quantizer": "quantized_bits(4,0,1,alpha=1)", "bias_quantizer": "quantized_bits(4,0,1)"},
            "relu1": "quantized_relu(4,0)"}
    with pytest.raises(TypeError, match="Could not locate class 'QDense'"):
        model_quantize(_float_mlp(), spec, 4)
    with qkeras_json_compat():
        quantized = model_quantize(_float_mlp(), spec, 4)
    assert type(quantized.get_layer("fc1")).__name__ == "QDense"
    assert str(quantized.get_layer("relu1").quantizer) == "quantized_relu(4,0)"


@tf.autograph.experimental.do_not_convert
def test_tuned_filter_counts_need_the_build_config_fix():
    """A JSON whose filter counts changed still carries the old input shapes ('build_config')."""
    from qkeras import QConv2D

    inp = tf.keras.Input((8, 8, 2))
    h = QConv2D(16, 3, kernel_quantizer="quantized_bits(4,0,1,alpha=1)", name="a")(inp)
    model = tf.keras.Model(inp, QConv2D(5, 3, kernel_quantizer="quantized_bits(4,0,1,alpha=1)", name="b")(h))
    config = json.loads(model.to_json())
    for layer in config["config"]["layers"]:
        if layer["config"]["name"] == "a":
            layer["config"]["filters"] = 8  # what tune_filters does
    tuned = json.dumps(config)
    with pytest.raises(ValueError):
        tf.keras.models.model_from_json(tuned, custom_objects=qkeras_objects())
    with qkeras_json_compat():
        rebuilt = tf.keras.models.model_from_json(tuned, custom_objects=qkeras_objects())
    assert rebuilt.get_layer("b").kernel.shape == (3, 3, 8, 5)
    assert rebuilt(np.zeros((1, 8, 8, 2), np.float32)).shape == (1, 4, 4, 5)


def test_shipped_config_is_valid():
    config = load_autoqkeras_config(CONFIG)
    assert config["goal"]["type"] in ("bits", "energy")
    assert config["_reference"]["name"] == "jet_tagger_float"
    assert config["max_trials"] >= 3 and config["epochs_per_trial"] >= 1


@pytest.mark.parametrize(
    "change, message",
    [
        ({"reference": None}, "reference"),
        ({"trials": 3}, "'trials'"),
        ({"goal": {"type": "latency"}}, "goal.type"),
        ({"mode": "grid"}, "mode"),
        ({"quantization_config": {"kernel": {"quantized_bitz(4,0)": 4}}}, "quantization_config.kernel"),
        ({"quantization_config": {"weights": {"quantized_bits(4,0)": 4}}}, "quantization_config.weights"),
        ({"reference": "baselines/jet_tagger_6bit.yaml"}, "float model"),
        ({"max_trials": 0}, "search.yaml: key 'max_trials': expected an integer >= 1, got 0"),
        ({"quantization_config": {"kernel": {}}}, "key 'quantization_config.kernel': expected a non-empty mapping"),
    ],
)
def test_config_errors_name_the_key(tmp_path, change, message):
    data = yaml.safe_load(CONFIG.read_text())
    data.update(change)
    if data.get("reference"):
        data["reference"] = str(CONFIG.parent / data["reference"])
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(TriggerHGQError) as info:
        load_autoqkeras_config(path)
    assert message in str(info.value)


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """A real 3-trial search on a small synthetic problem: (config, result, x, y, xv, yv, search folder)."""
    tmp_path = tmp_path_factory.mktemp("autoqkeras")
    config = load_autoqkeras_config(CONFIG)
    config.update(mode="random", max_trials=3, epochs_per_trial=1, batch_size=256, tune_filters="layer")
    x, y = make_classification(1500, seed=1)
    xv, yv = make_classification(500, seed=2)
    return config, run_autoqkeras(config, x, y, xv, yv, tmp_path / "search"), x, y, xv, yv, tmp_path


@pytest.mark.slow
def test_three_trial_search_returns_a_working_qkeras_model(search):
    config, result, x, y, xv, yv, tmp_path = search

    assert len(result.trials) == 3
    assert all(t["status"] == "COMPLETED" and t["score"] is not None for t in result.trials)
    table = json.loads((tmp_path / "search" / "trials.json").read_text())
    assert [t["trial_id"] for t in table["trials"]] == [t["trial_id"] for t in result.trials]
    assert table["best_trial"] == result.best["trial_id"]
    assert result.best["score"] == max(t["score"] for t in result.trials)
    for trial in result.trials:
        widths = [v for k, v in trial["hyperparameters"].items() if k.startswith("network_filters")]
        print(f"trial {trial['trial_id']}: score {trial['score']:.4f}, val_accuracy {trial['val_accuracy']:.4f}, "
              f"size {trial['trial']:.0f} bits, width factors {widths}")

    model = result.model
    assert any(type(layer).__name__ == "QDense" for layer in model.layers)
    pred = model.predict(xv, verbose=0)
    assert pred.shape == (500, 5)
    np.testing.assert_allclose(pred.sum(1), 1.0, rtol=1e-5)
    # the returned model is the trained best trial: its accuracy is the one the tuner recorded
    assert np.mean(pred.argmax(1) == yv) == pytest.approx(result.best["val_accuracy"], abs=1e-6)

    path = save_model(model, tmp_path / "best.h5")
    again = load_model(path)
    np.testing.assert_array_equal(again.predict(xv, verbose=0), pred)

    # the best model is an ordinary QKeras model: it converts to trigger-hgq bit-exactly
    converted = th.from_qkeras(again, input_quantizer={"init_f": 40})
    pre_softmax = tf.keras.Model(again.inputs, again.layers[-1].input)
    ref, out = pre_softmax(xv).numpy(), converted(xv).numpy()
    _, _, f = converted.layers[-1].oq.kif_numpy()
    assert np.abs(ref - out).max() <= 2.0 ** -float(f.max())


@pytest.mark.slow
def test_best_configuration_is_retrained_with_the_baselines_input_quantizer(search):
    """The fair baseline: the searched quantizers, the uniform baselines' ap_fixed<16,6> input quantizer, a full
    training of its own, and firmware that is bit-exact up to the logits."""
    from trigger_hgq.export.candidate import QKERAS_INPUT_PRECISION
    from trigger_hgq.models import logits_model, quantizes_inputs

    config, result, x, y, xv, yv, tmp_path = search
    assert config["input"] == {"bits": 16, "integer": 5} and config["retrain"] is True
    final, run = retrain_best(result, config, x, y, xv, yv, epochs=40)
    # the reference's training policy (early stopping), its cap lowered to the epochs given
    assert 5 < run.epochs_run <= 40 and 1 <= run.best_epoch <= run.epochs_run
    assert quantizes_inputs(final) and not quantizes_inputs(result.model)
    uniform = baseline_from_yaml(CONFIG.parent / "baselines" / "jet_tagger_6bit.yaml")[0]
    expected = str(uniform.get_layer("input_quantizer").quantizer)
    assert expected == "quantized_bits(16,5,0,alpha=1)"
    searched, retrained = quantizer_specs(result.model), quantizer_specs(final)
    assert retrained.pop("input_quantizer")["activation"] == expected
    assert retrained == searched and any(spec["kernel"] for spec in searched.values())
    acc = np.mean(final.predict(xv, verbose=0).argmax(1) == yv)
    print(f"retrained {run.epochs_run} epochs: val accuracy {acc:.3f}, search {result.best['val_accuracy']:.3f}")
    assert acc > max(0.4, result.best["val_accuracy"])  # it learned, more than in its 1-epoch search trial
    export = th.to_hls4ml(logits_model(final), tmp_path / "fw", x=xv[:300], backend="Vivado",
                          input_precision=QKERAS_INPUT_PRECISION)
    assert export.report["bit_exact_fraction"] == 1.0 and export.report["n_checked"] == 300
