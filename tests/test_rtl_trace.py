"""The da4ml trace of trigger-hgq models: quantization semantics against the core, every layer type against Keras."""

from __future__ import annotations

from fractions import Fraction

import keras
import numpy as np
import pytest
from keras import ops

pytest.importorskip("da4ml", reason="the rtl extra (da4ml) is not installed")

import trigger_hgq as th  # noqa: E402
from trigger_hgq.errors import TriggerHGQError  # noqa: E402
from trigger_hgq.export.rtl.api import keras_outputs, quantized_inputs  # noqa: E402
from trigger_hgq.export.rtl.trace import quantize_var, trace_model  # noqa: E402
from trigger_hgq.quantizer import apply_overflow, round_grid  # noqa: E402


def core_quantize(x: np.ndarray, k: int, i: int, f: int, overflow: str, rounding: str) -> np.ndarray:
    """The core quantizer's own rounding and overflow functions (float64), as inference applies them."""
    k, i, f = (ops.convert_to_tensor(float(a), "float64") for a in (k, i, f))
    scale = ops.power(ops.convert_to_tensor(2.0, "float64"), f)
    xq = round_grid(ops.convert_to_tensor(x, "float64") * scale, rounding) / scale
    return ops.convert_to_numpy(apply_overflow(xq, k, i, f, overflow))


def test_quantize_var_matches_core_on_every_grid_value():
    from da4ml.trace import FixedVariable, HWConfig, comb_trace

    rng = np.random.default_rng(3)
    hw = HWConfig(1, -1, -1)
    checked = unsigned_wrap_of_negatives = half_even_ties = 0
    while checked < 300:
        kin, iin, fin = int(rng.integers(0, 2)), int(rng.integers(-2, 5)), int(rng.integers(-2, 5))
        if kin + iin + fin <= 0:
            continue
        k, i, f = int(rng.integers(0, 2)), int(rng.integers(-3, 8)), int(rng.integers(-3, 7))
        overflow, rounding = ("WRAP", "SAT")[rng.integers(0, 2)], ("RND", "RND_CONV", "TRN")[rng.integers(0, 3)]
        negate = bool(rng.integers(0, 2))
        v = FixedVariable.from_kif(kin, iin, fin, hwconf=hw)
        src = -v if negate else v
        out = quantize_var(src, k, i, f, overflow, rounding, "test")
        xs = np.arange(float(v.low), float(v.high) + 2.0**-fin / 2, 2.0**-fin)
        got = comb_trace([v], [out]).predict(xs[:, None])[:, 0]
        want = core_quantize(-xs if negate else xs, k, i, f, overflow, rounding)
        np.testing.assert_array_equal(got, want, err_msg=f"in {(kin, iin, fin)} neg={negate} -> {(k, i, f)} "
                                                          f"{overflow} {rounding}")
        checked += 1
        unsigned_wrap_of_negatives += k == 0 and overflow == "WRAP" and float(src.low) < 0 and k + i + f > 0
        half_even_ties += rounding == "RND_CONV" and f < fin and k + i + f > 0
    assert unsigned_wrap_of_negatives >= 20  # the case da4ml's own quantize gets wrong for wide i
    assert half_even_ties >= 25  # QKeras' rounding, where ties (x.5 LSB) go to the even neighbour


@pytest.mark.parametrize("value", [-5.375, -0.5, 0.0, 0.25, 0.375, 3.0, 17.5])
@pytest.mark.parametrize("fmt", [(0, 2, 1), (1, 1, 2), (0, 3, -1), (1, 0, 0), (0, 0, 0)])
@pytest.mark.parametrize("overflow", ["WRAP", "SAT"])
@pytest.mark.parametrize("rounding", ["RND", "RND_CONV", "TRN"])
def test_quantize_constants_match_core(value, fmt, overflow, rounding):
    from da4ml.trace import FixedVariable, HWConfig

    c = FixedVariable.from_const(value, HWConfig(1, -1, -1))
    out = quantize_var(c, *fmt, overflow, rounding, "test")
    assert out.low == out.high
    assert Fraction(out.low) == Fraction(float(core_quantize(np.array([value]), *fmt, overflow, rounding)[0]))


def test_unknown_rounding_is_refused():
    from da4ml.trace import FixedVariable, HWConfig

    v = FixedVariable.from_kif(1, 2, 3, hwconf=HWConfig(1, -1, -1))
    with pytest.raises(TriggerHGQError, match="layer 'x'.*STOCH"):
        quantize_var(v, 1, 2, 1, "WRAP", "STOCH", "layer 'x'")


def test_round_half_even_ties_go_to_even():
    from da4ml.trace import FixedVariable, HWConfig, comb_trace

    v = FixedVariable.from_kif(1, 3, 2, hwconf=HWConfig(1, -1, -1))
    out = quantize_var(v, 1, 3, 0, "WRAP", "RND_CONV", "test")
    xs = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.75, -0.25])
    got = comb_trace([v], [out]).predict(xs[:, None])[:, 0]
    np.testing.assert_array_equal(got, [-2.0, -2.0, 0.0, 0.0, 2.0, 2.0, 1.0, 0.0])


def _every_layer_model(beta: float) -> keras.Model:
    inp = keras.Input((16,))
    q = th.HQuantize(beta=beta, name="inq")(inp)
    seq = th.HReshape((8, 2), name="seq")(q)
    c1 = th.HConv1D(4, 3, padding="same", activation="relu", beta=beta, name="conv1d")(seq)
    pooled = th.HAdd(beta=beta, name="add_pool")([
        th.HMaxPooling1D(2, name="maxpool")(c1),
        th.HAveragePooling1D(2, beta=beta, name="avgpool")(c1),
    ])
    img = th.HReshape((4, 4, 1), name="img")(q)
    c2 = th.HConv2DBatchNorm(2, 2, activation="relu", beta=beta, name="conv2d_bn")(img)
    h1 = th.HDenseBatchNorm(8, beta=beta, name="dense_bn")(th.HFlatten(name="flat1")(pooled))
    h2 = th.HDense(8, beta=beta, name="dense")(th.HDropout(0.1, name="drop")(th.HFlatten(name="flat2")(c2)))
    h = th.HActivation("relu", beta=beta, name="relu")(th.HAdd(beta=beta, name="add")([h1, h2]))
    out = th.HDense(5, beta=beta, name="out")(h)
    return keras.Model(inp, out)


def _blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(0).normal(0, 1.5, (5, 16))
    y = rng.integers(0, 5, n)
    return (centers[y] + rng.normal(0, 1.0, (n, 16))).astype(np.float32), y


@pytest.mark.slow
def test_every_layer_type_traces_exactly():
    """Conv1D/2D (same/valid), folded BatchNorm, pooling, HAdd, reshape, dropout: da4ml's interpreter of the traced
    dataflow equals Keras, also on rows outside the calibration set (overflows wrap or saturate alike)."""
    x, y = _blobs(3000, 1)
    model = _every_layer_model(beta=3e-5)
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=2, batch_size=128, verbose=0)
    th.calibrate(model, x[:1000])
    traced = trace_model(model)
    x_check = np.concatenate([x[1000:], 1.5 * x[:1000]])  # unseen rows, some outside the calibrated ranges
    got = traced.comb.predict(quantized_inputs(model, traced, [x_check]))
    want = keras_outputs(model, [x_check])
    assert np.mean(np.all(got == want, axis=1)) == 1.0
    assert {"conv1d", "conv2d_bn", "dense_bn", "out"} <= {k for k, v in traced.layer_cost.items() if v > 0}


def test_unsupported_layer_is_named():
    inp = keras.Input((4,))
    h = th.HQuantize(name="inq")(inp)
    h = keras.layers.Dense(3, name="plain_dense")(h)
    model = keras.Model(inp, th.HDense(2, name="out")(th.HQuantize(name="q2")(h)))
    th.calibrate(model, np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
    with pytest.raises(TriggerHGQError, match="plain_dense"):
        trace_model(model)
