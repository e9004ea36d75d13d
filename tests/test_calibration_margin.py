"""Overflow headroom: a calibration margin of whole integer bits, and the count of rows that leave a range."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hgq_models import make_data, train_hgq

import trigger_hgq as th
from trigger_hgq.calibration import (
    activation_quantizers,
    calibrate,
    rows_outside_ranges,
    unwrapped_predict,
    widen_ranges,
)
from trigger_hgq.errors import TriggerHGQError


def npy(t) -> np.ndarray:
    return keras.ops.convert_to_numpy(t)


@pytest.fixture(scope="module")
def mlp():
    model, x = train_hgq("mlp_batchnorm", n_train=2048, epochs=2)
    x_cal = x[:512]
    x_extreme = make_data(model, 1000, seed=9)[0] * 3.0  # three times wider than the calibration data
    return model, x_cal, x_extreme


def _kif(model):
    return {q.layer.name: q.kif_numpy() for q in activation_quantizers(model)}


@pytest.mark.slow
def test_margin_adds_integer_bits_to_wrapping_quantizers_only(mlp):
    model, x_cal, _ = mlp
    calibrate(model, x_cal)
    before, ebops0 = _kif(model), th.ebops(model)
    calibrate(model, x_cal, margin_bits=1)
    after, ebops1 = _kif(model), th.ebops(model)
    for name, (k0, i0, f0) in before.items():
        k1, i1, f1 = after[name]
        np.testing.assert_array_equal(f1, f0)
        live = k0 + i0 + f0 > 0
        np.testing.assert_array_equal(live, k1 + i1 + f1 > 0)  # pruned elements stay pruned
        if name == "inq":  # the input quantizer saturates: unchanged
            np.testing.assert_array_equal(i1, i0)
            np.testing.assert_array_equal(k1, k0)
        elif name == "logits":  # not a relu: signed, one more integer bit above the magnitude seen
            assert np.all(k1[live] == 1) and np.all(i1[live] == i0[live] + 1)
        else:  # relu outputs: unsigned stays unsigned, one more integer bit
            np.testing.assert_array_equal(k1, k0)
            np.testing.assert_array_equal(i1[live], i0[live] + 1)
    assert ebops1 > ebops0  # EBOPs count the deployed bits, margin included
    with pytest.raises(TriggerHGQError, match="margin_bits"):
        widen_ranges(model, -1)


@pytest.mark.slow
def test_count_of_rows_outside_the_calibrated_range(mlp):
    model, x_cal, x_extreme = mlp
    rows = np.concatenate([x_cal[:20], x_extreme[:20] / 2.0])
    calibrate(model, x_cal)
    assert not rows_outside_ranges(model, x_cal).any()  # the calibration data itself never leaves its ranges
    flagged = rows_outside_ranges(model, rows)
    assert 0 < flagged.sum() < len(rows)
    calibrate(model, x_cal)
    ranges = [(npy(q.vmin), npy(q.vmax)) for q in activation_quantizers(model)]
    for r, flag in enumerate(flagged):  # independently: a row leaves a range iff it widens one when added
        calibrate(model, np.concatenate([x_cal, rows[r:r + 1]]))
        widened = any(np.any(npy(q.vmin) != lo) or np.any(npy(q.vmax) != hi)
                      for q, (lo, hi) in zip(activation_quantizers(model), ranges, strict=True))
        assert widened == flag, r


@pytest.mark.slow
def test_extreme_inputs_wrap_without_margin_and_not_with_it(mlp):
    model, x_cal, x_extreme = mlp
    calibrate(model, x_cal, margin_bits=4)  # reference: wrapping ranges wide enough for these rows (16x)
    assert not rows_outside_ranges(model, x_extreme, modes=("WRAP",)).any()
    reference = npy(model(x_extreme, training=False))
    results = {}
    for margin in (0, 1, 2):
        calibrate(model, x_cal, margin_bits=margin)
        out = npy(model(x_extreme, training=False))
        wraps = rows_outside_ranges(model, x_extreme, modes=("WRAP",))
        changed = np.any(out != reference, axis=1)
        assert not np.any(changed & ~wraps), margin  # a row that wraps nowhere gives the reference output
        flips = int(np.sum(np.argmax(out, 1) != np.argmax(reference, 1)))
        results[margin] = (int(wraps.sum()), int(changed.sum()), flips)
    assert results[0][0] > results[1][0] > results[2][0] == 0  # fewer rows wrap with each margin bit
    assert results[0][2] > 0 and results[2][2] == 0  # no margin: classes flip; enough margin: none


@pytest.mark.slow
def test_unwrapped_predict_is_the_output_without_wrap_around(mlp):
    model, x_cal, x_extreme = mlp
    calibrate(model, x_cal, margin_bits=4)  # wide enough that none of these rows wraps
    assert not rows_outside_ranges(model, x_extreme, modes=("WRAP",)).any()
    wide = npy(model(x_extreme, training=False))
    calibrate(model, x_cal)
    wraps = rows_outside_ranges(model, x_extreme, modes=("WRAP",))
    assert wraps.any()
    np.testing.assert_array_equal(unwrapped_predict(model, x_extreme), wide)  # the wrapping rows included
    assert np.any(npy(model(x_extreme, training=False))[wraps] != wide[wraps])  # ranges untouched: still wraps


def test_unwrapped_predict_stays_exact_where_wider_ranges_round():
    """A logit with 12 fractional bits: 10 more integer bits take its wrap arithmetic past float32's 24-bit
    mantissa (the class-flip reference of an earlier pipeline, which flagged flips where nothing wrapped);
    unwrapped_predict never wraps, so it equals the deployed output wherever no row leaves a range."""
    x = np.random.default_rng(0).normal(size=(2000, 8)).astype(np.float32)
    inp = keras.Input((8,))
    model = keras.Model(inp, th.HDense(4, output_quantizer={"init_f": 12})(th.HQuantize()(inp)))
    calibrate(model, x)
    deployed = model.predict(x, verbose=0)
    np.testing.assert_array_equal(unwrapped_predict(model, x), deployed)
    widen_ranges(model, 10)
    assert np.any(model.predict(x, verbose=0) != deployed)
