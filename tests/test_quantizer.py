"""The fixed-point quantizer: rounding, surrogate gradients, bits of weights and ranges, overflow modes."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from hgq_models import value_and_grads
from keras import ops

import trigger_hgq as th
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.quantizer import FixedQuantizer, QuantizerConfig, ceil_log2, range_kif, weight_kif


def npy(t) -> np.ndarray:
    return ops.convert_to_numpy(t)


def const(values) -> np.ndarray:
    return np.asarray(values, np.float32)


def make_quantizer(shape, is_weight, **cfg):
    layer = keras.layers.Layer()
    q = FixedQuantizer(layer, "q", QuantizerConfig.from_any(cfg, "test"), is_weight=is_weight)
    q.build(shape)
    return q


def test_round_half_up_on_grid():
    q = make_quantizer((6,), is_weight=True, init_f=2)
    x = const([0.125, -0.125, 0.375, -0.375, 0.1, 1.0 / 3.0])
    # grid 0.25: ties go up (towards +inf), as AP_RND
    np.testing.assert_array_equal(q(x), [0.25, 0.0, 0.5, -0.25, 0.0, 0.25])


def test_round_half_even_and_truncation():
    x = const([0.125, 0.375, -0.125, -0.3])
    conv = make_quantizer((4,), is_weight=True, init_f=2, rounding="RND_CONV")
    trn = make_quantizer((4,), is_weight=True, init_f=2, rounding="TRN")
    np.testing.assert_array_equal(conv(x), [0.0, 0.5, 0.0, -0.25])
    np.testing.assert_array_equal(trn(x), [0.0, 0.25, -0.25, -0.5])


def test_fractional_bits_round_half_up():
    q = make_quantizer((3,), is_weight=True, lr_scale=1)
    q.f.assign([2.5, 2.49, -1.5])
    np.testing.assert_array_equal(q.f_int(), [3.0, 2.0, -1.0])


def test_surrogate_gradients():
    q = make_quantizer((3,), is_weight=True, init_f=2, lr_scale=1)  # the stored variable is f itself
    x = keras.Variable(const([0.3, -0.7, 0.05]))
    total, (gx, gf) = value_and_grads(lambda: ops.sum(q(x)), [x, q.f])
    np.testing.assert_allclose(gx, [1.0, 1.0, 1.0])  # straight through
    err = npy(q(x)) - npy(x)  # [-0.05, -0.05, -0.05]
    np.testing.assert_allclose(gf, -math.log(2) * err, rtol=1e-6)
    assert total == np.float32(npy(q(x)).sum())


def test_forward_value_is_exactly_the_grid_value():
    """The surrogate terms add exact zeros: the output is round(x * 2**f) / 2**f bit for bit."""
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(512, 6)) * 4).astype(np.float32)
    f = rng.integers(-3, 12, size=6).astype(np.float32)
    q = make_quantizer((6,), is_weight=True, lr_scale=1)
    q.f.assign(f)
    scaled = x * np.float32(2.0) ** f
    expected = (np.floor(scaled) + (scaled - np.floor(scaled) >= 0.5)) / np.float32(2.0) ** f
    np.testing.assert_array_equal(npy(q(x)), expected.astype(np.float32))


def test_lr_scale_keeps_value_and_scales_gradient():
    q = make_quantizer((2,), is_weight=True, init_f=3, lr_scale=10)
    assert npy(q.f_int()).tolist() == [3.0, 3.0]
    x = const([0.3, 0.1])
    _, (gf,) = value_and_grads(lambda: ops.sum(q(x)), [q.f])
    err = npy(q(x)) - x
    np.testing.assert_allclose(gf, -10 * math.log(2) * err, rtol=1e-6)


def test_ceil_log2_exact_at_powers_of_two():
    x = const([1.0, 2.0, 3.0, 4.0, 0.5, 0.75, 1024.0, 1025.0, 2.0**-10])
    np.testing.assert_array_equal(ceil_log2(x), [0, 1, 2, 2, -1, 0, 10, 11, -10])


@pytest.mark.parametrize(
    "value, f, bits, k",
    [
        (0.75, 2, 2, 0),  # mantissa 3 -> 2 bits unsigned
        (-0.75, 2, 3, 1),  # mantissa -3 -> 3 bits two's complement
        (-0.5, 1, 1, 1),  # mantissa -1 -> 1 bit
        (0.5, 1, 1, 0),  # mantissa 1 -> 1 bit
        (-1.0, 2, 3, 1),  # mantissa -4 -> 100
        (0.1, 2, 0, 0),  # rounds to 0: pruned
        (5.0, 0, 3, 0),  # 101
        (6.0, -1, 2, 0),  # mantissa 3 at grid 2
    ],
)
def test_weight_bits_from_value(value, f, bits, k):
    q = make_quantizer((1,), is_weight=True, init_f=f)
    kk, ii, ff = q.kif_numpy(const([value]))
    assert (kk[0] + ii[0] + ff[0], kk[0]) == (bits, k)
    assert float(q.bits(const([value]))[0]) == bits


def test_range_bits():
    f = const([3.0, 3.0, 2.0, 4.0, 2.0])
    vmin = const([0.0, -1.0, -0.25, 0.0, 3.0e38])  # last: never seen
    vmax = const([0.875, 0.5, 1.5, 0.0, -3.0e38])
    k, i = range_kif(vmin, vmax, f)
    b = npy(k + i + f)
    # [0, 0.875] with f=3: ap_ufixed<3,0>; [-1, 0.5]: ap_fixed<4,1>; [-0.25, 1.5] f=2: ap_fixed<4,2>; zero: 0 bits
    np.testing.assert_array_equal(npy(k), [0, 1, 1, 0, 0])
    np.testing.assert_array_equal(b, [3, 4, 4, 0, 0])


def test_weight_kif_matches_twos_complement():
    rng = np.random.default_rng(1)
    n = rng.integers(-300, 300, size=2000).astype(np.float32)
    f = rng.integers(-3, 6, size=2000).astype(np.float32)
    k, i = weight_kif(const(n / 2.0**f), const(f))
    bits = npy(k + i + const(f))
    for mant, b in zip(n.astype(int).tolist(), bits, strict=True):
        expected = 0 if mant == 0 else (mant.bit_length() if mant > 0 else (-mant - 1).bit_length() + 1)
        assert b == expected


def activation_quantizer(overflow, vmin, vmax, f):
    q = make_quantizer((3,), is_weight=False, init_f=f, overflow=overflow)
    q.set_range(vmin, vmax)
    return q


def test_saturation_beyond_range():
    q = activation_quantizer("SAT", -1.0, 0.75, 2)  # ap_fixed<3,1>: [-1, 0.75]
    y = npy(q(const([[5.0, -7.3, 0.5], [0.8, -1.2, 0.74]]), training=False))
    np.testing.assert_array_equal(y, [[0.75, -1.0, 0.5], [0.75, -1.0, 0.75]])


def test_wrap_beyond_range():
    q = activation_quantizer("WRAP", -1.0, 0.75, 2)  # 3-bit two's complement, step 0.25
    y = npy(q(const([[1.0, -1.25, 1.5], [2.75, 0.5, -3.0]]), training=False))
    # mantissas: 4 -> -4, -5 -> 3, 6 -> -2, 11 -> 3, 2 -> 2, -12 -> -4
    np.testing.assert_array_equal(y, [[-1.0, 0.75, -0.5], [0.75, 0.5, -1.0]])


def test_unsigned_wrap_and_zero_bits():
    q = make_quantizer((2,), is_weight=False, init_f=1, overflow="WRAP")
    q.set_range([0.0, 0.0], [1.5, 0.0])  # ap_ufixed<2,1> and a constant-zero element
    y = npy(q(const([[2.5, 4.0], [-0.5, 0.3]]), training=False))
    np.testing.assert_array_equal(y, [[0.5, 0.0], [1.5, 0.0]])


def test_training_records_ranges_without_overflow():
    q = make_quantizer((2,), is_weight=False, init_f=2)
    x = const([[3.1, -0.2], [-1.0, 0.1]])
    y = npy(q(x, training=True))
    np.testing.assert_array_equal(y, [[3.0, -0.25], [-1.0, 0.0]])
    np.testing.assert_array_equal(npy(q.vmin), [-1.0, -0.25])
    np.testing.assert_array_equal(npy(q.vmax), [3.0, 0.0])


def test_unknown_quantizer_key_and_mode():
    with pytest.raises(TriggerHGQError, match="layer 'd1' kernel_quantizer: unknown quantizer key 'bitz'"):
        th.HDense(4, name="d1", kernel_quantizer={"bitz": 3})
    with pytest.raises(TriggerHGQError, match="overflow='CLAMP'"):
        th.HDense(4, name="d2", output_quantizer={"overflow": "CLAMP"})


def test_granularity_shapes():
    assert tuple(make_quantizer((4, 3), True, granularity="channel").f.shape) == (1, 3)
    assert tuple(make_quantizer((4, 3), True, granularity="tensor").f.shape) == (1, 1)
    assert tuple(make_quantizer((4, 3), True).f.shape) == (4, 3)


def test_surrogate_gradient_of_activation_sums_over_batch():
    q = make_quantizer((2,), is_weight=False, init_f=1, lr_scale=1)
    x = const([[0.2, 0.7], [0.6, -0.1]])
    _, (gf,) = value_and_grads(lambda: ops.sum(3.0 * q(x, training=True)), [q.f])
    err = np.array([[0.0, 0.5], [0.5, 0.0]]) - x
    np.testing.assert_allclose(gf, -3.0 * math.log(2) * err.sum(0), rtol=1e-6)


def test_unpriced_quantizers_are_capped_unless_asked_for_more():
    """Biases and layer outputs cost no EBOPs: their fractional bits are capped by default (a bias that drifted to
    f = 18 made an accumulator too wide for exact float32); an explicit start above the cap raises it."""
    import trigger_hgq as th
    from trigger_hgq.quantizer import UNPRICED_F_MAX

    layer = th.HDense(3)
    assert layer.bias_quantizer.f_max == UNPRICED_F_MAX and layer.output_quantizer.f_max == UNPRICED_F_MAX
    assert layer.kernel_quantizer.f_max == QuantizerConfig().f_max  # kernel bits are priced: no extra cap
    inp = keras.Input((4,))
    model = keras.Model(inp, layer(th.HQuantize()(inp)))
    layer.bq.f.assign(np.full(3, 18.0 / layer.bias_quantizer.lr_scale, np.float32))
    np.testing.assert_array_equal(layer.bq.f_int(), [UNPRICED_F_MAX] * 3)
    assert model.output_shape == (None, 3)
    wide = th.HDense(3, bias_quantizer={"init_f": 16}, output_quantizer={"init_f": 14, "f_max": 15})
    assert wide.bias_quantizer.f_max == 16 and wide.output_quantizer.f_max == 15


@pytest.mark.parametrize("on", [True, False])
def test_weight_bits_pass_the_magnitude_gradient(on):
    """With ``magnitude_gradient`` the bits of a weight pull its value towards zero by
    d/dw log2(1 + |w| 2**f) = sign(w) 2**f / ((1 + |w| 2**f) ln 2); values, and the gradient w.r.t. f, unchanged."""
    q = make_quantizer((4,), is_weight=True, init_f=2, lr_scale=1, magnitude_gradient=on)
    w = keras.Variable(const([0.7, -1.3, 0.05, 0.0]))  # the last two quantize to zero (pruned: no bits, no grad)
    bits = npy(q.bits(w))
    np.testing.assert_array_equal(bits, [2.0, 4.0, 0.0, 0.0])  # n = 3: 2 bits; n = -5: sign + 3 bits
    _, (gf, gw) = value_and_grads(lambda: ops.sum(q.bits(w)), [q.f, w])
    np.testing.assert_array_equal(gf, [1.0, 1.0, 0.0, 0.0])
    if not on:
        assert gw is None or not np.any(gw)
        return
    wv = npy(w)[:2]
    mag = np.abs(wv) * 4.0
    np.testing.assert_allclose(gw[:2], np.sign(wv) * 4.0 / ((1 + mag) * math.log(2)), rtol=1e-6)
    np.testing.assert_array_equal(gw[2:], [0.0, 0.0])
