"""QKeras -> trigger-hgq conversion: the converted model computes what the QKeras model computes, bit for bit."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import trigger_hgq as th
from trigger_hgq.convert import from_qkeras, load_model, save_model

# An input quantizer with 40 fractional bits leaves float32 inputs unchanged (down to |x| ~ 2**-17), so the
# converted model sees exactly the inputs the QKeras model sees.
TRANSPARENT_INPUT = {"init_f": 40}


def pre_softmax(model: keras.Model) -> keras.Model:
    """The QKeras model without its final softmax (what the converted model outputs)."""
    last = model.layers[-1]
    assert isinstance(last, keras.layers.Activation) and last.get_config()["activation"] == "softmax"
    return keras.Model(model.inputs, last.input)


def run_eagerly(model: keras.Model, x: np.ndarray, batch: int = 2500) -> np.ndarray:
    """Inference in batches, called directly (no compiled predict function)."""
    return np.concatenate([np.asarray(model(x[i:i + batch], training=False)) for i in range(0, len(x), batch)])


def compare(source: keras.Model, converted: keras.Model, x: np.ndarray) -> tuple[float, float]:
    """(fraction of equal predicted classes, max |logit difference| in LSBs of the converted output grid)."""
    ref = run_eagerly(pre_softmax(source), x)
    out = run_eagerly(converted, x)
    out_layer = converted.layers[-1]
    _, _, f = out_layer.oq.kif_numpy()
    lsb = 2.0 ** -float(f.max())
    agree = float(np.mean(ref.argmax(1) == out.argmax(1)))
    max_lsb = float(np.abs(ref - out).max() / lsb)
    print(f"{source.name}: class agreement {agree:.5f}, max |logit diff| {max_lsb:g} LSB (LSB = 2**-{f.max()})")
    return agree, max_lsb


@pytest.fixture(scope="module")
def jet_tagger(shared):
    return load_model(shared / "reference-models" / "qkeras_3layer.json")


@pytest.fixture(scope="module")
def jet_tagger_hgq(jet_tagger):
    return from_qkeras(jet_tagger, input_quantizer=TRANSPARENT_INPUT)


def test_jet_tagger_agrees_bit_exactly(jet_tagger, jet_tagger_hgq):
    x = np.random.default_rng(1).normal(size=(10_000, 16)).astype(np.float32)  # standardized features
    agree, max_lsb = compare(jet_tagger, jet_tagger_hgq, x)
    assert agree >= 0.999
    assert max_lsb <= 1.0


def test_jet_tagger_structure_follows_qkeras_quantizers(jet_tagger_hgq):
    model = jet_tagger_hgq
    assert model.dropped_softmax == ["softmax"]
    assert isinstance(model.layers[1], th.HQuantize)
    names = [layer.name for layer in model.layers]
    assert names[2:] == ["fc1", "fc2", "fc3", "output"]  # QActivations fused into the dense layers
    for name in ("fc1", "fc2", "fc3"):
        layer = model.get_layer(name)
        assert layer.activation == "relu"
        # quantized_relu(6, 0) is ap_ufixed<6, 0>: no sign, no integer bit, 6 fractional bits
        k, i, f = layer.oq.kif_numpy()
        assert (k.max(), i.min(), i.max(), f.min(), f.max()) == (0, 0, 0, 6, 6)
        # quantized_bits(6, 0, alpha=1) weights: 5 fractional bits
        _, _, fk = layer.kq.kif_numpy(layer.kernel)
        nonzero = np.asarray(layer.kq(layer.kernel)) != 0
        assert set(np.unique(fk[nonzero])) == {5}
    assert model.get_layer("output").activation == "linear"


def test_converted_model_saves_and_reloads(jet_tagger_hgq, tmp_path):
    path = save_model(jet_tagger_hgq, tmp_path / "tagger.keras")
    assert not list(tmp_path.glob(".tmp*"))
    again = load_model(path)
    x = np.random.default_rng(2).normal(size=(500, 16)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(jet_tagger_hgq(x)))
    assert th.ebops(again) == th.ebops(jet_tagger_hgq)


def test_mnist_cnn_agrees_bit_exactly(shared):
    source = load_model(shared / "reference-models" / "qkeras_mnist_cnn.json")
    converted = from_qkeras(source, input_quantizer=TRANSPARENT_INPUT, input_range=(0.0, 1.0))
    kinds = [type(layer).__name__ for layer in converted.layers[1:]]
    assert kinds == ["HQuantize", "HConv2D", "HMaxPooling2D", "HConv2D", "HMaxPooling2D", "HFlatten", "HDropout",
                     "HDense"]
    x = np.random.default_rng(3).random(size=(2000, 28, 28, 1)).astype(np.float32)  # random images in [0, 1)
    agree, max_lsb = compare(source, converted, x)
    assert agree >= 0.999
    assert max_lsb <= 1.0


def exact_functional_model() -> keras.Model:
    """A functional QKeras model touching every exactly-mapped path (random weights)."""
    from qkeras import QActivation, QConv1D, QDense, quantized_bits, quantized_relu

    layers = keras.layers
    inp = keras.Input((16, 2), name="x")
    x = QActivation(quantized_bits(10, 3, alpha=1), name="in_q")(inp)  # becomes the input quantizer
    a = QConv1D(4, 3, kernel_quantizer=quantized_bits(5, 0), bias_quantizer=quantized_bits(6, 1, alpha=1),
                name="conv")(x)  # kernel alpha=None -> QKeras uses per-channel 'auto_po2' scales
    a = QActivation(quantized_relu(6, 2), name="conv_relu")(a)
    a = layers.MaxPooling1D(2, name="maxpool")(a)
    a = layers.AveragePooling1D(2, name="avgpool")(a)
    a = layers.Flatten(name="flat")(a)
    b = layers.Reshape((32,), name="reshape")(x)
    wq = quantized_bits(6, 0, alpha=1)
    a = QDense(8, kernel_quantizer=wq, bias_quantizer=wq, name="dense_a")(a)
    b = QDense(8, kernel_quantizer=wq, bias_quantizer=wq, activation="relu", name="dense_b")(b)
    s = layers.Add(name="add")([a, b])
    s = layers.Activation("relu", name="add_relu")(s)
    s = QActivation(quantized_bits(8, 2, keep_negative=False, alpha=1), name="add_q")(s)
    s = layers.Dropout(0.2, name="drop")(s)
    out = QDense(5, kernel_quantizer=wq, bias_quantizer=wq, name="logits")(s)
    out = layers.Activation("softmax", name="softmax")(out)
    return keras.Model(inp, out, name="functional")


def test_functional_model_with_every_exact_path():
    source = exact_functional_model()
    converted = from_qkeras(source, input_quantizer=TRANSPARENT_INPUT)
    kinds = {layer.name: type(layer).__name__ for layer in converted.layers}
    assert kinds["x_quantizer"] == "HQuantize" and "in_q" not in kinds  # the QKeras input quantizer took its place
    assert kinds["conv"] == "HConv1D" and "conv_relu" not in kinds
    assert kinds["add"] == "HAdd" and kinds["add_relu"] == "HActivation" and kinds["add_q"] == "HActivation"
    assert kinds["avgpool"] == "HAveragePooling1D" and kinds["reshape"] == "HReshape"
    # the weights the converted layers multiply with are QKeras' quantized weights (auto_po2 scales included)
    for name in ("conv", "dense_a", "dense_b", "logits"):
        src, dst = source.get_layer(name), converted.get_layer(name)
        kernel, bias = dst.quantized_weights()
        np.testing.assert_array_equal(kernel, np.asarray(src.kernel_quantizer_internal(src.kernel)))
        np.testing.assert_array_equal(bias, np.asarray(src.bias_quantizer_internal(src.bias)))
    # inputs up to 3 sigma beyond the input quantizer's range [-8, 8): QKeras clips, the converted model saturates
    x = (4.0 * np.random.default_rng(4).normal(size=(5000, 16, 2))).astype(np.float32)
    assert np.abs(x).max() > 8
    agree, max_lsb = compare(source, converted, x)
    assert agree >= 0.999
    assert max_lsb <= 1.0


def batchnorm_model() -> keras.Model:
    from qkeras import QActivation, QBatchNormalization, QDense, quantized_bits, quantized_relu

    layers = keras.layers
    inp = keras.Input((16,), name="x")
    h = layers.Dense(32, name="float_dense")(inp)
    h = layers.BatchNormalization(name="bn")(h)
    h = layers.Activation("relu", name="relu")(h)
    wq = quantized_bits(8, 0, alpha=1)
    h = QDense(16, kernel_quantizer=wq, bias_quantizer=wq, name="qdense")(h)
    h = QBatchNormalization(name="qbn")(h)  # QKeras' default power-of-two parameter quantizers
    h = QActivation(quantized_relu(8, 3), name="qrelu")(h)
    out = layers.Dense(5, activation="softmax", name="out")(h)
    model = keras.Model(inp, out, name="with_batchnorm")
    rng = np.random.default_rng(5)
    for name in ("bn", "qbn"):
        bn = model.get_layer(name)
        n = bn.gamma.shape[0]
        bn.set_weights([rng.uniform(0.5, 2.0, n), rng.normal(0, 0.3, n), rng.normal(0, 0.5, n),
                        rng.uniform(0.5, 3.0, n)])
    return model


@pytest.mark.parametrize("keep_batchnorm", [False, True])
def test_batchnorm_folds_and_float_layers_get_starting_bits(keep_batchnorm):
    source = batchnorm_model()
    converted = from_qkeras(source, input_quantizer={"init_f": 16}, float_weight_f=14, float_activation_f=14,
                            keep_batchnorm=keep_batchnorm)
    kinds = [type(layer).__name__ for layer in converted.layers[2:]]
    dense = "HDenseBatchNorm" if keep_batchnorm else "HDense"
    assert kinds == [dense, dense, "HDense"]
    x = np.random.default_rng(6).normal(size=(3000, 16)).astype(np.float32)
    # the float reference: the source model's logits (its last Dense without the softmax)
    logits = np.asarray(keras.Model(source.inputs, source.get_layer("qrelu").output)(x)) @ \
        np.asarray(source.get_layer("out").kernel) + np.asarray(source.get_layer("out").bias)
    out = run_eagerly(converted, x)
    print(f"batchnorm (keep={keep_batchnorm}): max |logit diff| {np.abs(out - logits).max():.4f}")
    # folded float weights on a 2**-14 grid: an approximation by design, close to the float computation
    diff = np.abs(out - logits)
    assert diff.max() < 0.1 and diff.mean() < 0.005
    assert np.mean(out.argmax(1) == logits.argmax(1)) >= 0.99


def test_cli_converts_a_json_model(shared, tmp_path, capsys):
    from trigger_hgq import cli

    out = tmp_path / "models" / "tagger_hgq.keras"
    code = cli.main(["convert", str(shared / "reference-models" / "qkeras_3layer.json"), str(out), "--input-f", "10",
                     "--lr-scale", "4"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["dropped_softmax"] == ["softmax"] and summary["output"] == str(out)
    model = load_model(out)
    assert summary["ebops"] == th.ebops(model) > 0
    assert model.get_layer("fc1").kq.config.lr_scale == 4
    source = load_model(shared / "reference-models" / "qkeras_3layer.json")
    x = np.random.default_rng(7).normal(size=(2000, 16)).astype(np.float32)
    # a 10-fractional-bit input quantizer is not transparent, but the classes barely change
    agree = np.mean(run_eagerly(pre_softmax(source), x).argmax(1) == run_eagerly(model, x).argmax(1))
    print(f"CLI-converted tagger (input f=10): class agreement {agree:.4f}")
    assert agree >= 0.98


def test_float_keras_tagger_converts_with_starting_bits(shared):
    source = load_model(shared / "reference-models" / "KERAS_3layer.json")
    converted = from_qkeras(source, float_weight_f=8, float_activation_f=8)  # input quantizer: 8 fractional bits
    assert converted.dropped_softmax == [source.layers[-1].name]  # Dense(activation='softmax'): kept linear
    for layer in converted.layers[2:]:
        assert layer.kq.config.init_f == 8 and layer.oq.config.init_f == 8
    x = np.random.default_rng(8).normal(size=(5000, 16)).astype(np.float32)
    last = source.layers[-1]
    logits = np.asarray(keras.Model(source.inputs, last.input)(x)) @ np.asarray(last.kernel) + np.asarray(last.bias)
    agree = float(np.mean(run_eagerly(converted, x).argmax(1) == logits.argmax(1)))
    print(f"float KERAS_3layer at 8 fractional bits: class agreement {agree:.4f}")
    assert agree >= 0.99


def test_converted_biases_and_outputs_get_the_unpriced_cap(shared, jet_tagger_hgq):
    """Converted models train like hand-built ones: biases, layer outputs and the inserted input quantizer are
    capped at UNPRICED_F_MAX (a 1000-epoch run from a converted start let biases drift to f = 18: C simulation
    45.7% equal to Keras), kernels are not; a QKeras grid finer than the cap widens it."""
    from trigger_hgq.quantizer import UNPRICED_F_MAX, QuantizerConfig

    converted = from_qkeras(load_model(shared / "reference-models" / "KERAS_3layer.json"))
    assert converted.layers[1].oq.config.f_max == UNPRICED_F_MAX
    for layer in converted.layers[2:]:
        assert layer.bq.config.f_max == UNPRICED_F_MAX and layer.oq.config.f_max == UNPRICED_F_MAX
        assert layer.kq.config.f_max == QuantizerConfig().f_max
    wide = from_qkeras(load_model(shared / "reference-models" / "KERAS_3layer.json"), float_activation_f=14)
    assert wide.get_layer(converted.layers[2].name).oq.config.f_max == 14
    for layer in jet_tagger_hgq.layers[2:]:
        assert layer.oq.config.f_max == max(UNPRICED_F_MAX, layer.oq.config.init_f)


def _inlayer_activation_model() -> keras.Model:
    from qkeras import QConv2D, QDense, quantized_bits, quantized_relu

    wq = quantized_bits(4, 1, alpha=1)
    inp = keras.Input((9, 9, 3), name="img")
    h = QConv2D(5, 3, strides=2, padding="same", kernel_quantizer=wq, bias_quantizer=wq,
                activation=quantized_relu(5, 2), name="conv")(inp)
    h = keras.layers.Flatten(name="flat")(h)
    out = QDense(4, kernel_quantizer=wq, bias_quantizer=wq, activation=quantized_relu(7, 3), name="dense")(h)
    return keras.Model(inp, out, name="inlayer")


def test_quantized_activation_inside_the_layer_and_strided_same_conv():
    source = _inlayer_activation_model()
    converted = from_qkeras(source, input_quantizer=TRANSPARENT_INPUT, input_range=(-4.0, 4.0))
    assert converted.dropped_softmax == []
    x = np.random.default_rng(9).uniform(-4, 4, size=(3000, 9, 9, 3)).astype(np.float32)
    ref, out = np.asarray(source(x)), run_eagerly(converted, x)
    # quantized_relu(7, 3) output grid: 2**-4; saturates at 8 - 2**-4 like QKeras
    np.testing.assert_array_equal(out, ref)
    assert out.max() == 8 - 2**-4


@pytest.mark.parametrize("config", ["interaction_8bit", "mixer_8bit"])
def test_particle_block_baselines_convert(config):
    """The QKeras interaction network (a mean broadcast back by Reshape + Concatenate, then Add) and the particle
    Mixer (Permute, a dense across the particles, Permute back) convert layer for layer and compute what QKeras
    computes on standardized 16-feature particles. The interaction network's sums need more than float32's 24
    mantissa bits (16-bit inputs times 8-bit weights over 16 features): QKeras rounds them by up to 2**-16, which
    moves some half-way relu roundings by one 8-bit step; the exact converted model agrees on the class."""
    from pathlib import Path

    from trigger_hgq.baselines.qkeras_models import build_qkeras_model, load_baseline_config

    path = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / "baselines" / f"{config}.yaml"
    keras.utils.set_random_seed(0)
    source = build_qkeras_model(load_baseline_config(path), (8, 16))
    converted = from_qkeras(source)
    kinds = {type(layer).__name__ for layer in converted.layers}
    want = {"HConcatenate", "HReshape", "HAdd"} if config.startswith("interaction") else {"HPermute"}
    assert want <= kinds, kinds
    x = np.random.default_rng(6).normal(size=(4000, 8, 16)).astype(np.float32)  # standardized features
    agree, max_lsb = compare(source, converted, x)
    assert agree >= 0.999
    if config.startswith("interaction"):
        first = [keras.Model(m.inputs, m.get_layer("int1").output) for m in (source, converted)]
        diff = np.abs(run_eagerly(first[0], x) - run_eagerly(first[1], x)).max()
        assert diff <= 2.0**-14  # before any rounding of QKeras' own: float32 rounding only
    else:
        assert max_lsb == 0.0
