"""The AutoQKeras method on Keras 3: the forgiving factor, the bits cost, the per-layer search space, config
errors and a real 3-trial keras-tuner search whose best configuration is retrained."""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import pytest
import yaml

import trigger_hgq as th
from trigger_hgq import TriggerHGQError
from trigger_hgq.baselines import (
    baseline_from_yaml,
    load_autoqkeras_config,
    quantizer_specs,
    retrain_best,
    run_autoqkeras,
)
from trigger_hgq.baselines.autoqkeras import (
    LABEL,
    BitsCost,
    ForgivingGoal,
    QuantizationSpace,
    forgiving_delta,
    with_input_quantizer,
)
from trigger_hgq.convert import load_model, save_model
from trigger_hgq.data.synthetic import make_classification

REPO = Path(__file__).resolve().parents[1]

CONFIG = REPO / "pipelines" / "configs" / "autoqkeras.yaml"


def _float_mlp() -> keras.Model:
    inp = keras.Input((16,), name="x")
    h = keras.layers.Dense(8, name="fc1")(inp)
    h = keras.layers.Activation("relu", name="relu1")(h)
    h = keras.layers.Dense(5, name="out")(h)
    return keras.Model(inp, keras.layers.Activation("softmax", name="softmax")(h))


def test_forgiving_factor_credits_smaller_models_and_penalizes_larger_ones():
    """delta = (delta_p or delta_n) / 100 * log(reference / trial) / log(rate)."""
    assert forgiving_delta(1000, 500, 8.0, 8.0, 2.0) == pytest.approx(0.08)
    assert forgiving_delta(1000, 250, 8.0, 8.0, 2.0) == pytest.approx(0.16)
    assert forgiving_delta(1000, 2000, 8.0, 4.0, 2.0) == pytest.approx(-0.04)  # larger: delta_n
    assert forgiving_delta(1000, 1000, 8.0, 8.0, 2.0) == 0.0
    assert forgiving_delta(900, 100, 5.0, 5.0, 3.0) == pytest.approx(0.10)
    assert forgiving_delta(1000, 700, 8.0, 8.0, 2.0) == pytest.approx(0.08 * math.log(1000 / 700) / math.log(2))
    with pytest.raises(TriggerHGQError):
        forgiving_delta(1000, 0, 8.0, 8.0, 2.0)


def test_bits_cost_counts_parameters_and_activations():
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    cost = BitsCost(input_bits=16, output_bits=10, ref_bits=8)
    # float: 16 inputs x 16 bits, (16*8 + 8) + (8*5 + 5) weights x 8 bits, relu 8 x 8 bits, softmax 5 x 10 bits
    size = cost.size(_float_mlp())
    assert size["parameters"] == 8 * (16 * 8 + 8 + 8 * 5 + 5)
    assert size["activations"] == 16 * 16 + 8 * 8 + 5 * 10
    assert size["total"] == size["parameters"] + size["activations"]
    assert size["layers"]["fc1"] == {"parameters": 8 * 136, "activations": 0.0, "total": 8 * 136}

    inp = keras.Input((16,))
    h = QDense(8, kernel_quantizer=quantized_bits(3, 0, alpha=1), bias_quantizer=quantized_bits(5, 0, alpha=1))(inp)
    h = QActivation(quantized_relu(4, 0))(h)
    h = QDense(5, kernel_quantizer=quantized_bits(6, 0, alpha=1), use_bias=False,
               activation=quantized_relu(2, 0))(h)
    q = cost.size(keras.Model(inp, h))
    assert q["parameters"] == 3 * 128 + 5 * 8 + 6 * 40
    assert q["activations"] == 16 * 16 + 4 * 8 + 2 * 5
    only_p = BitsCost(ref_bits=8, config={"default": ["parameters"]}).size(keras.Model(inp, h))
    assert only_p["total"] == q["parameters"]


def test_search_space_follows_limits_patterns_and_filter_tuning():
    config = load_autoqkeras_config(CONFIG)
    config.update(limit={"Dense": [4, 4], "Activation": [6]}, tune_filters="layer", tune_filters_exceptions="^out$")
    space = QuantizationSpace(config, _float_mlp())
    hp = kt.HyperParameters()
    model = space.build(hp)
    names = sorted(p.name for p in hp.space)
    assert names == ["fc1_bias_quantizer", "fc1_kernel_quantizer", "network_filters_fc1",
                     "out_bias_quantizer", "out_kernel_quantizer", "relu1_activation_quantizer"]
    choices = {p.name: list(p.values) if hasattr(p, "values") else [p.value] for p in hp.space}
    assert choices["fc1_kernel_quantizer"] == ["quantized_bits(2,0,1,alpha=1)", "quantized_bits(3,0,1,alpha=1)",
                                               "quantized_bits(4,0,1,alpha=1)"]  # at most 4 bits
    assert choices["fc1_bias_quantizer"] == ["quantized_bits(4,0,1,alpha=1)"]
    assert choices["relu1_activation_quantizer"] == ["quantized_relu(3,1)", "quantized_relu(4,2)",
                                                     "quantized_relu(6,2)"]
    assert choices["network_filters_fc1"] == [0.5, 0.75, 1.0, 1.5, 2.0]
    assert [type(layer).__name__ for layer in model.layers[1:]] == ["QDense", "QActivation", "QDense", "Activation"]

    hp = kt.HyperParameters()
    hp.Fixed("network_filters_fc1", 0.5)
    hp.Fixed("fc1_kernel_quantizer", "quantized_bits(3,0,1,alpha=1)")
    model = space.build(hp)
    assert model.get_layer("fc1").units == 4 and model.get_layer("out").kernel.shape == (4, 5)
    assert str(model.get_layer("fc1").kernel_quantizer_internal) == "quantized_bits(3,0,1,alpha=1)"
    assert model.output_shape == (None, 5)

    # a name pattern groups its layers (one shared choice); a class missing from the limit stays float
    config.update(limit={"^(fc1|out)$": [8, 8, 8]}, tune_filters="none")
    hp = kt.HyperParameters()
    model = QuantizationSpace(config, _float_mlp()).build(hp)
    assert sorted(p.name for p in hp.space) == ["^(fc1|out)$_bias_quantizer", "^(fc1|out)$_kernel_quantizer"]
    assert [type(layer).__name__ for layer in model.layers[1:]] == ["QDense", "Activation", "QDense", "Activation"]

    config.update(limit={"Dense": [1]})
    with pytest.raises(TriggerHGQError, match="limit.Dense"):
        QuantizationSpace(config, _float_mlp()).build(kt.HyperParameters())


def test_search_space_over_an_interaction_network():
    """A model with branches and merges (the interaction network's mean broadcast back and added): every Dense of
    both branches gets its quantizers, the graph is rebuilt as it was, and width tuning is refused by its key."""
    from trigger_hgq.baselines.qkeras_models import build_qkeras_model, load_baseline_config

    reference = build_qkeras_model(load_baseline_config(CONFIG.parent / "baselines" / "interaction_float.yaml"),
                                   (8, 16))
    config = load_autoqkeras_config(CONFIG)
    config.update(limit={"Dense": [8, 8, 8], "Activation": [8]}, tune_filters="none")
    hp = kt.HyperParameters()
    model = QuantizationSpace(config, reference).build(hp)
    kinds = {layer.name: type(layer).__name__ for layer in model.layers}
    assert kinds["int1_self"] == kinds["int1_context"] == kinds["int2_self"] == "QDense"
    assert kinds["int1"] == "Add" and kinds["int1_relu"] == "QActivation" and kinds["int1_bcast_x8"] == "Concatenate"
    assert "int1_context_kernel_quantizer" in {p.name for p in hp.space}
    assert [tuple(layer.output.shape) for layer in model.layers] == \
        [tuple(layer.output.shape) for layer in reference.layers]
    x = np.random.default_rng(0).normal(size=(16, 8, 16)).astype(np.float32)
    assert model.predict(x, verbose=0).shape == (16, 5)
    config.update(tune_filters="layer")
    with pytest.raises(TriggerHGQError, match="'tune_filters'"):
        QuantizationSpace(config, reference)


def test_goal_of_the_shipped_config():
    config = load_autoqkeras_config(CONFIG)
    goal = ForgivingGoal.from_config(config)
    assert (goal.delta_p, goal.delta_n, goal.rate) == (8.0, 8.0, 2.0)
    assert (goal.cost.input_bits, goal.cost.output_bits, goal.cost.ref_bits) == (16, 16, 16)
    ref = baseline_from_yaml(CONFIG.parent / "baselines" / "jet_tagger_float.yaml")[0]
    n_weights = 16 * 64 + 64 + 64 * 32 + 32 + 32 * 32 + 32 + 32 * 5 + 5
    assert goal.reference_bits(ref) == 16 * (n_weights + 16 + 64 + 32 + 32 + 5)


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
        ({"goal": {"type": "energy"}}, "goal.type"),
        ({"goal": {"params": {"process": "horowitz"}}}, "goal.params.process"),
        ({"goal": {"rate": 1.0}}, "goal.rate"),
        ({"tune_filters_exceptions": "(unclosed"}, "tune_filters_exceptions"),
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

    assert len(result.trials) == 3 and LABEL == "AutoQKeras method on Keras 3"
    assert all(t["status"] == "COMPLETED" and t["score"] is not None for t in result.trials)
    table = json.loads((tmp_path / "search" / "trials.json").read_text())
    assert [t["trial_id"] for t in table["trials"]] == [t["trial_id"] for t in result.trials]
    assert table["best_trial"] == result.best["trial_id"] and table["method"] == LABEL
    assert result.best["score"] == max(t["score"] for t in result.trials)
    for trial in result.trials:  # the score is the forgiving factor applied to the accuracy
        delta = forgiving_delta(table["reference_size"], trial["trial"], 8.0, 8.0, 2.0)
        assert trial["delta"] == pytest.approx(delta)
        assert trial["val_score"] == pytest.approx(trial["val_accuracy"] * (1 + delta), rel=1e-5)
        assert trial["score"] == pytest.approx(trial["val_score"])  # the objective: the validation score
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

    path = save_model(model, tmp_path / "best.keras")
    again = load_model(path)
    np.testing.assert_array_equal(again.predict(xv, verbose=0), pred)

    # the best model is an ordinary QKeras model: it converts to trigger-hgq bit-exactly
    converted = th.from_qkeras(again, input_quantizer={"init_f": 40})
    pre_softmax = keras.Model(again.inputs, again.layers[-1].input)
    ref, out = keras.ops.convert_to_numpy(pre_softmax(xv)), keras.ops.convert_to_numpy(converted(xv))
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
    assert quantizer_specs(with_input_quantizer(result.model, None)) == quantizer_specs(result.model)
    uniform = baseline_from_yaml(CONFIG.parent / "baselines" / "jet_tagger_6bit.yaml")[0]
    expected = str(uniform.get_layer("input_quantizer").activation)
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
