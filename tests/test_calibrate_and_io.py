"""Calibration (no overflow on the calibration data), save/load round trip, EBOPs bookkeeping, layer errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hgq_models import make_data, train_hgq

import trigger_hgq as th
from trigger_hgq.calibration import activation_quantizers, recording
from trigger_hgq.errors import TriggerHGQError


@pytest.fixture(scope="module")
def conv_model():
    return train_hgq("conv2d_residual", n_train=2048, epochs=2)


def pre_overflow_values(model, x):
    """Each quantizing layer's quantized output before any wrap/saturation (recording mode)."""
    layers = [layer for layer in model.layers if isinstance(layer, th.HQuantizedLayer)]
    probe = keras.Model(model.inputs[0], [layer.output for layer in layers])
    saved = [(np.asarray(q.vmin), np.asarray(q.vmax)) for q in activation_quantizers(model)]
    with recording(probe):  # recording widens the ranges: put them back afterwards
        outs = probe(x, training=False)
    for q, (lo, hi) in zip(activation_quantizers(model), saved, strict=True):
        q.vmin.assign(lo)
        q.vmax.assign(hi)
    return layers, [np.asarray(o) for o in outs]


def count_outside(model, x) -> tuple[int, int]:
    layers, outs = pre_overflow_values(model, x)
    outside = total = 0
    for layer, v in zip(layers, outs, strict=True):
        k, i, f = layer.oq.kif_numpy()
        lo = -k * 2.0**i
        hi = np.where(k + i + f > 0, 2.0**i - 2.0**-f, 0.0)
        outside += int(np.sum((v < lo) | (v > hi)))
        total += v.size
    return outside, total


def test_calibrate_leaves_no_activation_out_of_range(conv_model):
    model, x = conv_model
    x_other = make_data(model, 3000, seed=5)[0] * 2.0
    outside_before, total = count_outside(model, x_other)
    assert outside_before > 0  # data twice as wide as the training data overflows the training ranges
    th.calibrate(model, x_other)
    outside_after, _ = count_outside(model, x_other)
    assert outside_after == 0, f"{outside_after} of {total} activations outside their range"
    # and, with no overflow, inference equals the overflow-free pass exactly
    with recording(model):
        free = np.asarray(model(x_other, training=False))
    np.testing.assert_array_equal(np.asarray(model(x_other, training=False)), free)
    th.calibrate(model, x)


def test_save_load_round_trip(conv_model, tmp_path):
    model, x = conv_model
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects=th.custom_objects())
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(activation_quantizers(model), activation_quantizers(loaded), strict=True):
        np.testing.assert_array_equal(np.asarray(a.vmin), np.asarray(b.vmin))
        np.testing.assert_array_equal(np.asarray(a.vmax), np.asarray(b.vmax))
        for u, v in zip(a.kif_numpy(), b.kif_numpy(), strict=True):
            np.testing.assert_array_equal(u, v)
    for layer in model.layers:
        if isinstance(layer, th.HKernelLayer):
            other = loaded.get_layer(layer.name)
            for u, v in zip(layer.quantized_weights(), other.quantized_weights(), strict=True):
                np.testing.assert_array_equal(u, v)
            np.testing.assert_array_equal(np.asarray(layer.kq.f_int()), np.asarray(other.kq.f_int()))
    assert th.ebops(loaded) == th.ebops(model)


def test_ebops_of_dense_is_sum_of_bit_products():
    inp = keras.Input((3,))
    h = th.HQuantize(output_quantizer={"init_f": 2})(inp)
    out = th.HDense(2, name="d", kernel_quantizer={"init_f": 2}, use_bias=False)(h)
    model = keras.Model(inp, out)
    model.get_layer("d").kernel.assign([[0.75, 0.1], [-1.0, 0.5], [0.25, -0.25]])
    th.calibrate(model, np.array([[1.5, -0.5, 0.0], [0.25, 0.75, 0.0]], np.float32))
    # inputs: [0, 1.5] f=2 -> 3 bits; [-0.5, 0.75] -> ap_fixed<3,1>: 3 bits; always 0 -> 0 bits
    # weights (f=2): 0.75 -> 2, 0.1 -> 0 (pruned), -1.0 -> 3, 0.5 -> 2, 0.25 -> 1, -0.25 -> 1
    expected = 3 * (2 + 0) + 3 * (3 + 2) + 0 * (1 + 1)
    assert th.ebops(model) == expected
    assert th.layer_ebops(model) == {"d": expected}


def test_ebops_of_conv_counts_every_output_position():
    inp = keras.Input((5, 1))
    h = th.HQuantize(output_quantizer={"init_f": 0})(inp)
    out = th.HConv1D(1, 2, name="c", use_bias=False, kernel_quantizer={"init_f": 0})(h)
    model = keras.Model(inp, out)
    model.get_layer("c").kernel.assign(np.array([3.0, 1.0]).reshape(2, 1, 1))
    th.calibrate(model, np.array([[1, 2, 0, 4, 7]], np.float32)[..., None])
    in_bits = np.array([1, 2, 0, 3, 3])  # unsigned integers 1, 2, 0, 4, 7
    w_bits = np.array([2, 1])
    assert th.ebops(model) == sum(in_bits[p:p + 2] @ w_bits for p in range(4))


def test_penalty_is_added_to_the_loss_while_training():
    inp = keras.Input((4,))
    h = th.HQuantize(beta=0.5)(inp)
    out = th.HDense(2, beta=0.5)(h)
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    model(x, training=True)
    assert len(model.losses) == 2
    assert float(sum(float(np.asarray(v)) for v in model.losses)) == pytest.approx(0.5 * th.ebops(model), rel=1e-6)
    model(x, training=False)
    assert len(model.losses) == 0


def test_unsupported_activation_and_unquantized_input_are_named():
    with pytest.raises(TriggerHGQError, match="layer 'act': activation 'tanh' is not supported"):
        th.HActivation("tanh", name="act")
    inp = keras.Input((4,))
    out = th.HDense(2, name="first")(inp)
    model = keras.Model(inp, out)
    with pytest.raises(TriggerHGQError, match="feeds a trigger-hgq layer but its output is not quantized"):
        th.ebops(model)


def test_average_pooling_area_must_be_power_of_two():
    with pytest.raises(TriggerHGQError, match="layer 'avg': average pooling area 3"):
        th.HAveragePooling1D(3, name="avg")
