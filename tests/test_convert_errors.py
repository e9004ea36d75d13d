"""Every quantizer or layer that cannot be converted gives one clear error naming the layer and the culprit."""

from __future__ import annotations

import json
import shutil

import keras
import pytest

from trigger_hgq import TriggerHGQError, cli
from trigger_hgq.convert import from_qkeras, load_model, save_model

layers = keras.layers


def chain(*stack, input_shape=(8,)) -> keras.Model:
    inp = keras.Input(input_shape, name="x")
    h = inp
    for layer in stack:
        h = layer(h)
    return keras.Model(inp, h)


def qdense(kernel=None, bias=None, **kw):
    from qkeras import QDense, quantized_bits

    wq = quantized_bits(6, 0, alpha=1)
    return QDense(4, kernel_quantizer=kernel or wq, bias_quantizer=bias or wq, name="d", **kw)


def qact(quantizer):
    from qkeras import QActivation

    return QActivation(quantizer, name="act")


def _q(name, *args, **kwargs):
    import qkeras

    return getattr(qkeras, name)(*args, **kwargs)


QUANTIZER_CASES = {
    "po2 kernel": (lambda: chain(qdense(kernel=_q("quantized_po2", 4))), ["'d'", "quantized_po2"]),
    "binary kernel": (lambda: chain(qdense(kernel=_q("binary"))), ["'d'", "binary"]),
    "ternary kernel": (lambda: chain(qdense(kernel=_q("ternary"))), ["'d'", "ternary"]),
    "stochastic binary": (lambda: chain(qdense(kernel=_q("stochastic_binary"))), ["'d'", "stochastic_binary"]),
    "alpha auto": (lambda: chain(qdense(kernel=_q("quantized_bits", 4, 0, alpha="auto"))), ["'d'", "alpha='auto'"]),
    "stochastic rounding": (
        lambda: chain(qdense(kernel=_q("quantized_bits", 4, 0, alpha=1, use_stochastic_rounding=True))),
        ["'d'", "stochastic rounding"]),
    "qnoise": (lambda: chain(qdense(kernel=_q("quantized_bits", 4, 0, alpha=1, qnoise_factor=0.5))),
               ["'d'", "qnoise_factor"]),
    "po2 bias": (lambda: chain(qdense(bias=_q("quantized_po2", 4))), ["'d'", "bias quantizer", "quantized_po2"]),
    "tanh activation": (lambda: chain(qdense(), qact(_q("quantized_tanh", 4))), ["'act'", "quantized_tanh"]),
    "sigmoid activation": (lambda: chain(qdense(), qact(_q("quantized_sigmoid", 4))), ["'act'", "quantized_sigmoid"]),
    "leaky quantized relu": (lambda: chain(qdense(), qact(_q("quantized_relu", 4, 0, negative_slope=0.25))),
                             ["'act'", "negative_slope"]),
    "sigmoid relu": (lambda: chain(qdense(), qact(_q("quantized_relu", 4, 0, use_sigmoid=1))),
                     ["'act'", "use_sigmoid"]),
    "symmetric activation": (lambda: chain(qdense(), qact(_q("quantized_bits", 4, 0, symmetric=1))),
                             ["'act'", "symmetric"]),
    "po2 relu": (lambda: chain(qdense(), qact(_q("quantized_relu_po2", 4))), ["'act'", "quantized_relu_po2"]),
    "ulaw": (lambda: chain(qdense(), qact(_q("quantized_ulaw", 4))), ["'act'", "quantized_ulaw"]),
}


def _shared_layer_model():
    inp = keras.Input((8,), name="x")
    dense = layers.Dense(8, name="shared")
    return keras.Model(inp, dense(dense(inp)))


def _multiply_model():
    inp = keras.Input((8,), name="x")
    return keras.Model(inp, layers.Multiply(name="mul")([layers.Dense(4)(inp), layers.Dense(4)(inp)]))


def _depthwise():
    from qkeras import QDepthwiseConv2D

    return chain(QDepthwiseConv2D(3, name="dw"), input_shape=(8, 8, 2))


LAYER_CASES = {
    "tanh": (lambda: chain(layers.Dense(4, name="d"), layers.Activation("tanh", name="act")), ["'act'", "'tanh'"]),
    "sigmoid in dense": (lambda: chain(layers.Dense(4, activation="sigmoid", name="d")), ["'d'", "'sigmoid'"]),
    "inner softmax": (lambda: chain(layers.Dense(4, name="d"), layers.Activation("softmax", name="sm"),
                                    layers.Dense(2, name="d2")), ["'sm'", "softmax"]),
    "lstm": (lambda: chain(layers.LSTM(4, name="rnn"), input_shape=(5, 3)), ["'rnn'", "LSTM"]),
    "multiply": (_multiply_model, ["'mul'", "Multiply"]),
    "global pooling over 5 steps": (lambda: chain(layers.GlobalAveragePooling1D(name="gap"), input_shape=(5, 3)),
                                    ["'gap'", "5 steps is not a power of two"]),
    "global max pooling": (lambda: chain(layers.GlobalMaxPooling1D(name="gmp"), input_shape=(4, 3)),
                           ["'gmp'", "GlobalMaxPooling1D"]),
    "batchnorm at input": (lambda: chain(layers.BatchNormalization(name="bn"), layers.Dense(4)), ["'bn'", "Dense"]),
    "batchnorm after relu": (lambda: chain(layers.Dense(4, activation="relu", name="d"),
                                           layers.BatchNormalization(name="bn")), ["'bn'", "linear activation"]),
    "dilated conv": (lambda: chain(layers.Conv1D(2, 3, dilation_rate=2, name="conv"), input_shape=(16, 1)),
                     ["'conv'", "dilation_rate"]),
    "leaky relu": (lambda: chain(layers.Dense(4), layers.LeakyReLU(name="leaky")), ["'leaky'", "LeakyReLU"]),
    "relu6": (lambda: chain(layers.Dense(4), layers.ReLU(max_value=6.0, name="relu6")), ["'relu6'", "max_value"]),
    "depthwise": (_depthwise, ["'dw'", "QDepthwiseConv2D"]),
    "shared layer": (_shared_layer_model, ["'shared'", "shared layers"]),
    "same-padded pooling": (lambda: chain(layers.MaxPooling1D(2, padding="same", name="pool"), input_shape=(5, 2)),
                            ["'pool'", "padding"]),
    "pool area 3": (lambda: chain(layers.AveragePooling1D(3, name="avg"), input_shape=(9, 2)),
                    ["'avg'", "power of two"]),
}


@pytest.mark.parametrize("case", sorted(QUANTIZER_CASES))
def test_unsupported_quantizer_names_layer_and_quantizer(case):
    build, expected = QUANTIZER_CASES[case]
    with pytest.raises(TriggerHGQError) as info:
        from_qkeras(build())
    for text in expected:
        assert text in str(info.value), (case, str(info.value))


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_unsupported_layer_names_layer_and_type(case):
    build, expected = LAYER_CASES[case]
    with pytest.raises(TriggerHGQError) as info:
        from_qkeras(build())
    for text in expected:
        assert text in str(info.value), (case, str(info.value))


def test_softmax_kept_only_on_request():
    model = chain(layers.Dense(4, name="d"), layers.Activation("softmax", name="sm"))
    assert from_qkeras(model).dropped_softmax == ["sm"]
    with pytest.raises(TriggerHGQError, match="'sm'.*softmax"):
        from_qkeras(model, drop_softmax=False)


def test_file_errors(tmp_path, shared):
    refs = shared / "reference-models"
    with pytest.raises(TriggerHGQError, match="does not exist"):
        load_model(tmp_path / "missing.keras")
    arch = tmp_path / "net.json"  # a Keras 2 architecture: the legacy reader
    shutil.copy(refs / "KERAS_3layer.json", arch)
    with pytest.raises(TriggerHGQError, match="net_weights.h5"):
        load_model(arch)
    shutil.copy(refs / "qkeras_3layer_weights.h5", tmp_path / "net_weights.h5")  # another model's weights
    with pytest.raises(TriggerHGQError, match="does not fit .*net.json.*fc1_relu"):
        load_model(arch)
    (tmp_path / "bad.json").write_text(json.dumps({"class_name": "NoSuchModel", "config": {}}))
    with pytest.raises(TriggerHGQError, match="bad.json"):
        load_model(tmp_path / "bad.json", weights=tmp_path / "net_weights.h5")
    broken = json.loads((refs / "qkeras_3layer.json").read_text())
    broken["config"]["layers"][1]["class_name"] = "QNoSuchLayer"
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(TriggerHGQError, match="broken.json.*'fc1'.*QNoSuchLayer"):
        load_model(tmp_path / "broken.json", weights=refs / "qkeras_3layer_weights.h5")
    other = chain(layers.Dense(3, name="d"))
    with pytest.raises(TriggerHGQError, match="out.txt"):
        save_model(other, tmp_path / "out.txt")


def test_keras3_json_with_other_weights(tmp_path):
    arch = tmp_path / "net.json"  # a Keras 3 architecture and Keras 3 weights beside it
    arch.write_text(chain(layers.Dense(4, name="d")).to_json())
    chain(layers.Dense(3, name="d")).save_weights(tmp_path / "net.weights.h5")
    with pytest.raises(TriggerHGQError, match="does not fit"):
        load_model(arch)
    chain(layers.Dense(4, name="d")).save_weights(tmp_path / "net.weights.h5")
    assert load_model(arch).get_layer("d").kernel.shape == (8, 4)


def test_cli_reports_errors_in_one_line(tmp_path, capsys):
    code = cli.main(["convert", str(tmp_path / "missing.json"), str(tmp_path / "out.keras")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and "missing.json" in err and err.startswith("trigger-hgq convert: error:")
    assert not (tmp_path / "out.keras").exists()
