"""The candidate-model helpers of trigger_hgq.models on real small models: the float / 6-bit QKeras jet tagger of
the shipped baseline configs and a briefly trained HGQ MLP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
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
    tf.keras.utils.set_random_seed(3)
    config = load_baseline_config(BASELINES / "jet_tagger_6bit.yaml")
    q6 = build_qkeras_model(config)
    floats = build_qkeras_model({k: v for k, v in config.items() if k != "quantization"})
    x = np.random.default_rng(3).normal(size=(512, 16)).astype(np.float32)
    return q6, floats, x


def test_class_accuracy_is_the_fraction_of_rows_whose_argmax_is_the_label():
    inp = tf.keras.Input((4,))
    identity = tf.keras.Model(inp, tf.keras.layers.Dense(4, kernel_initializer="identity", use_bias=False)(inp))
    x = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    y = np.argmax(x, axis=1)
    assert class_accuracy(identity, x, y) == 1.0
    assert class_accuracy(identity, x, (y + 1) % 4) == 0.0
    y_half = y.copy()
    y_half[:50] = (y_half[:50] + 2) % 4
    assert class_accuracy(identity, x, y_half) == 0.75


def test_logits_model_drops_only_a_weightless_final_softmax():
    tf.keras.utils.set_random_seed(1)
    inp = tf.keras.Input((6,))
    dense = tf.keras.layers.Dense(3, name="dense")(inp)
    separate = tf.keras.Model(inp, tf.keras.layers.Activation("softmax")(dense))
    x = np.random.default_rng(1).normal(size=(32, 6)).astype(np.float32)
    logits = logits_model(separate)
    assert logits is not separate and logits.layers[-1].name == "dense"
    np.testing.assert_allclose(tf.nn.softmax(logits.predict(x, verbose=0)).numpy(), separate.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    fused = tf.keras.Model(inp, tf.keras.layers.Dense(3, activation="softmax")(inp))
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
    model, x_hgq = hgq_mlp
    assert model_ebops(model, "hgq", x_hgq) == int(th.ebops(model)) > 0


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
    tf.keras.utils.set_random_seed(0)
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
    assert {d.kq.config.lr_scale for d in warm.layers if isinstance(d, th.HDense)} == {7.0}
    # warm: QKeras' trained 6-bit grid (5 fractional bits); fresh: the library's default bits
    first = next(d for d in warm.layers if isinstance(d, th.HDense))
    assert np.all(first.kq.f_int().numpy() == 5)
    kernel, float_kernel = first.kernel.numpy(), q6.get_layer(first.name).get_weights()[0]
    np.testing.assert_array_equal(kernel * 32, np.round(kernel * 32))  # QKeras' weights, on its grid
    assert np.abs(kernel - float_kernel).max() <= 2.0 ** -6 + 1e-7
