"""The candidate-model helpers of trigger_hgq.models on real small models: the float / 6-bit QKeras jet tagger of
the shipped baseline configs and a briefly trained HGQ MLP."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from hgq_models import make_data, train_hgq

import trigger_hgq as th
from trigger_hgq.baselines.qkeras_models import build_qkeras_model, load_baseline_config
from trigger_hgq.convert.io import save_model
from trigger_hgq.export.rtl.candidate import exact_rtl_model
from trigger_hgq.models import (
    bits_histogram,
    calibrate_hgq,
    class_accuracy,
    hgq_start_model,
    logits_model,
    model_ebops,
    outputs_logits,
    quantizes_inputs,
)

BASELINES = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / "baselines"


@pytest.fixture(scope="module")
def hgq_mlp():
    return train_hgq("mlp_batchnorm", n_train=2048, epochs=2)


@pytest.fixture(scope="module")
def taggers():
    """The untrained 6-bit QKeras jet tagger and the float tagger of the same architecture (seeded)."""
    keras.utils.set_random_seed(3)
    config = load_baseline_config(BASELINES / "jet_tagger_6bit.yaml")
    q6 = build_qkeras_model(config)
    floats = build_qkeras_model({k: v for k, v in config.items() if k != "quantization"})
    x = np.random.default_rng(3).normal(size=(512, 16)).astype(np.float32)
    return q6, floats, x


def test_class_accuracy_is_the_fraction_of_rows_whose_argmax_is_the_label():
    inp = keras.Input((4,))
    identity = keras.Model(inp, keras.layers.Dense(4, kernel_initializer="identity", use_bias=False)(inp))
    x = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    y = np.argmax(x, axis=1)
    assert class_accuracy(identity, x, y) == 1.0
    assert class_accuracy(identity, x, (y + 1) % 4) == 0.0
    y_half = y.copy()
    y_half[:50] = (y_half[:50] + 2) % 4
    assert class_accuracy(identity, x, y_half) == 0.75


def test_logits_model_drops_only_a_weightless_final_softmax():
    keras.utils.set_random_seed(1)
    inp = keras.Input((6,))
    dense = keras.layers.Dense(3, name="dense")(inp)
    separate = keras.Model(inp, keras.layers.Activation("softmax")(dense))
    x = np.random.default_rng(1).normal(size=(32, 6)).astype(np.float32)
    logits = logits_model(separate)
    assert logits is not separate and logits.layers[-1].name == "dense"
    probabilities = keras.ops.convert_to_numpy(keras.activations.softmax(logits.predict(x, verbose=0)))
    np.testing.assert_allclose(probabilities, separate.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    fused = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(inp))
    assert logits_model(fused) is fused  # its softmax sits inside a layer with weights: kept
    assert not outputs_logits(separate, "qkeras") and outputs_logits(logits, "qkeras")


def test_quantizes_inputs_and_exact_rtl_model(taggers, hgq_mlp):
    q6, floats, x = taggers
    assert quantizes_inputs(q6) and not quantizes_inputs(floats)
    converted, fraction = exact_rtl_model(q6, "qkeras", x)
    assert fraction == 1.0  # the converted model's logits equal the QKeras logits on every row
    assert {layer.oq.config.rounding for layer in converted.layers if isinstance(layer, th.HDense)} == {"RND_CONV"}
    assert exact_rtl_model(floats, "float", x) == (None, "a float model has no exact fixed-point form")
    none, why = exact_rtl_model(floats, "qkeras", x)
    assert none is None and "does not quantize its inputs" in why
    model, _ = hgq_mlp
    assert exact_rtl_model(model, "hgq", x) == (model, None)


def test_model_ebops_grows_with_the_bits(taggers, hgq_mlp):
    q6, floats, x = taggers
    six_bit, wide = model_ebops(q6, "qkeras", x), model_ebops(floats, "float", x)
    assert isinstance(six_bit, int) and 0 < six_bit < wide  # floats count as 10 fractional bits


def _two_by_two(kernel: np.ndarray, quantized: bool) -> keras.Model:
    """Two inputs, one bias-free dense layer with ``kernel``: a QKeras model (inputs ``quantized_bits(8, 3)``,
    4 fractional bits; kernel ``quantized_bits(4, 0)``, 3 fractional bits) or the float one."""
    from qkeras import QActivation, QDense, quantized_bits

    inp = keras.Input((2,), name="inputs")
    if quantized:
        h = QActivation(quantized_bits(8, 3, alpha=1), name="input_quantizer")(inp)
        dense = QDense(kernel.shape[1], kernel_quantizer=quantized_bits(4, 0, alpha=1), use_bias=False, name="d")
    else:
        h, dense = inp, keras.layers.Dense(kernel.shape[1], use_bias=False, name="d")
    model = keras.Model(inp, dense(h))
    dense.set_weights([kernel])
    return model


# inputs: feature 0 in [0, 1.5] (unsigned: 1 integer bit), feature 1 in [-2, 3] (sign + 2 integer bits)
CALIBRATION = np.array([[0.0, -2.0], [1.5, 3.0], [0.75, 0.5]], np.float32)


def test_model_ebops_of_a_qkeras_model_by_hand():
    """EBOPs = sum over the multiplications of (input bits) x (weight bits), bits = sign + integer + fractional."""
    kernel = np.array([[0.5, -0.25], [0.0, 0.875]], np.float32)  # all on the 3-fractional-bit grid
    # input bits (4 fractional): feature 0: 1 + 4 = 5; feature 1: 1 + 2 + 4 = 7
    # weight bits (3 fractional): 0.5 = 0.100b: 3; -0.25: sign + -2 integer + 3 = 2; 0: 0; 0.875 = 0.111b: 3
    expected = 5 * (3 + 2) + 7 * (0 + 3)
    assert model_ebops(_two_by_two(kernel, quantized=True), "qkeras", CALIBRATION) == expected == 46
    # an HGQ model is counted as it is: the same model converted and calibrated by hand gives the same number
    hgq = th.from_qkeras(_two_by_two(kernel, quantized=True))
    th.calibrate(hgq, CALIBRATION)
    assert model_ebops(hgq, "hgq", CALIBRATION) == 46


def test_model_ebops_of_a_float_model_by_hand():
    """Float tensors count as 10 fractional bits."""
    kernel = np.array([[0.5], [-0.25]], np.float32)
    # inputs: 1 + 10 = 11 and 1 + 2 + 10 = 13 bits; weights: 0.5 -> 10 bits, -0.25 -> 1 - 2 + 10 = 9 bits
    assert model_ebops(_two_by_two(kernel, quantized=False), "float", CALIBRATION) == 11 * 10 + 13 * 9


def test_bits_histogram_counts_every_weight_and_activation(hgq_mlp):
    model, _ = hgq_mlp
    hist = bits_histogram(model)
    assert set(hist) == {"inq", "dense_bn", "dense1", "logits"}  # the quantized layers, not the dropout
    assert "weights" not in hist["inq"] and sum(hist["inq"]["activations"].values()) == 16
    for name, (n_in, n_out) in {"dense_bn": (16, 24), "dense1": (24, 16), "logits": (16, 5)}.items():
        assert sum(hist[name]["weights"].values()) == n_in * n_out
        assert sum(hist[name]["activations"].values()) == n_out
        assert all(int(bits) >= 0 for bits in hist[name]["weights"])
    assert len({b for layer in hist.values() for b in layer["activations"]}) > 1  # trained with beta: bits differ


def test_calibrate_hgq_counts_rows_leaving_the_calibrated_ranges():
    keras.utils.set_random_seed(0)
    model = train_hgq("mlp_batchnorm", n_train=1024, epochs=1)[0]
    x, _ = make_data(model, 1500, seed=5)
    inside = {"x_train": x[:1000], "x_val": x[1000:], "x_test": x[:300]}
    assert calibrate_hgq(model, inside, margin_bits=0) == {
        "margin_bits": 0, "test_rows_outside_calibration": 0, "test_rows_wrapping": 0, "test_class_flips": 0}
    extreme = np.concatenate([x[:300], 50.0 * x[:40]])  # 40 rows far outside what it was calibrated on
    over = calibrate_hgq(model, {**inside, "x_test": extreme}, margin_bits=2)
    assert over["margin_bits"] == 2 and over["test_rows_outside_calibration"] >= 40
    assert 0 <= over["test_class_flips"] <= over["test_rows_wrapping"] <= over["test_rows_outside_calibration"]


def test_hgq_start_model_warm_or_fresh(taggers, tmp_path):
    q6, _, _ = taggers
    path = save_model(q6, tmp_path / "q6.h5")
    warm = hgq_start_model(path, BASELINES / "jet_tagger_6bit.yaml", seed=3, warm_start=True, lr_scale=7.0)
    fresh = hgq_start_model("unused.h5", BASELINES / "jet_tagger_6bit.yaml", seed=4)
    assert warm.name == "hgq_seed3" and fresh.name == "hgq_seed4"
    for model in (warm, fresh):
        assert [d.units for d in model.layers if isinstance(d, th.HDense)] == [64, 32, 32, 5]
    # fresh: the baseline's layers as trigger-hgq layers, relu fused, the softmax dropped, an input quantizer
    assert [(type(layer).__name__, layer.name) for layer in fresh.layers] == [
        ("InputLayer", "inputs"), ("HQuantize", "inputs_quantizer"), ("HDense", "fc1"), ("HDense", "fc2"),
        ("HDense", "fc3"), ("HDense", "output")]
    assert [d.activation for d in fresh.layers if isinstance(d, th.HDense)] == ["relu", "relu", "relu", "linear"]
    assert {q.config.rounding for d in fresh.layers if isinstance(d, th.HDense) for q in (d.kq, d.bq, d.oq)} == {"RND"}
    assert fresh.get_layer("inputs_quantizer").oq.config.overflow == "SAT"
    fresh_first = fresh.get_layer("fc1")
    assert np.all(keras.ops.convert_to_numpy(fresh_first.kq.f_int()) == th.QuantizerConfig().init_f)
    assert {d.kq.config.lr_scale for d in warm.layers if isinstance(d, th.HDense)} == {7.0}
    # warm: QKeras' trained 6-bit grid (5 fractional bits); fresh: the library's default bits
    first = next(d for d in warm.layers if isinstance(d, th.HDense))
    assert np.all(first.kq.f_int().numpy() == 5)
    kernel, float_kernel = first.kernel.numpy(), q6.get_layer(first.name).get_weights()[0]
    np.testing.assert_array_equal(kernel * 32, np.round(kernel * 32))  # QKeras' weights, on its grid
    assert np.abs(kernel - float_kernel).max() <= 2.0 ** -6 + 1e-7


def test_fresh_hgq_start_from_a_loaded_config_and_deep_sets():
    """The fresh start takes the loaded config as well as its path; a Deep Sets config gets per-particle bits
    (the model does not depend on the order of the particles) and fills the particle count from the data."""
    config = load_baseline_config(BASELINES / "deepsets_float.yaml")
    model = hgq_start_model("unused.h5", config, seed=0, lr_scale=2.0, input_shape=(8, 7))
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "HQuantize", "HDense", "HDense", "HDense", "HGlobalAveragePooling1D", "HDense", "HDense"]
    assert model.input_shape == (None, 8, 7) and model.output_shape == (None, 5)
    assert {d.kq.config.lr_scale for d in model.layers if isinstance(d, th.HDense)} == {2.0}
    x = np.random.default_rng(0).normal(size=(64, 8, 7)).astype(np.float32)
    th.calibrate(model, x)
    permuted = x[:, np.random.default_rng(1).permutation(8)]
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(permuted, verbose=0))
