"""The proxy model: our FixedPointQuantizer layer reproduces the core quantizers, and hls4ml reads it."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

import trigger_hgq as th
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.export.hls import ExportOptions, convert
from trigger_hgq.export.proxy import FixedPointQuantizer, quantizer_kbi, to_proxy


def _quantize_model(rounding: str, overflow: str) -> keras.Model:
    inp = keras.Input((12,))
    out = th.HQuantize(output_quantizer={"rounding": rounding, "overflow": overflow}, name="q")(inp)
    return keras.Model(inp, out)


@pytest.mark.parametrize("rounding", ["RND", "RND_CONV", "TRN"])
@pytest.mark.parametrize("overflow", ["WRAP", "SAT"])
def test_fixed_point_quantizer_equals_core(rounding, overflow):
    """Per element: negative integer bits, zero-bit elements, unsigned elements, ties exactly at half an LSB."""
    model = _quantize_model(rounding, overflow)
    q = model.get_layer("q")
    f = np.array([2, 3, 0, -1, 5, 4, 1, 6, 2, 3, 8, 2], np.float32)
    q.oq.f.assign(f)
    # ranges: signed, unsigned, tiny (negative integer bits), never-seen (zero bits), always zero (zero bits)
    vmin = np.array([-3, 0, -8, -1, 0, -0.2, 0, -0.05, 3e38, 0, -0.01, -2], np.float32)
    vmax = np.array([2.5, 1.5, 7, 3, 0.05, 0.3, 0, 0.06, -3e38, 0, 0.01, 1.75], np.float32)
    q.oq.set_range(vmin, vmax)
    k, b, big_i = quantizer_kbi(q.oq)
    assert (b == 0).sum() >= 2 and (big_i - k < 0).any() and (k == 0).any()
    rng = np.random.default_rng(0)
    grid = np.round(rng.normal(scale=3.0, size=(4000, 12)) * 2.0**f) / 2.0**f
    x = np.concatenate([rng.normal(scale=4.0, size=(4000, 12)), grid + 0.5 * 2.0**-f, grid - 0.5 * 2.0**-f])
    x = x.astype(np.float32)
    fpq = FixedPointQuantizer(k[None], b[None], big_i[None], RND=rounding, SAT=overflow)
    expected = np.asarray(model(x, training=False))
    got = np.asarray(fpq(x))
    np.testing.assert_array_equal(got, expected)
    assert np.all(got[:, b == 0] == 0)


def _small_model() -> keras.Model:
    inp = keras.Input((6,), name="x")
    h = th.HQuantize(name="q")(inp)
    h = th.HDenseBatchNorm(5, activation="relu", name="d1")(h)
    out = th.HDense(2, name="d2")(h)
    return keras.Model(inp, out)


def test_proxy_model_equals_model_and_hls4ml_reads_masks(tmp_path):
    model = _small_model()
    x = np.random.default_rng(1).normal(size=(3000, 6)).astype(np.float32)
    model.get_layer("d1").moving_mean.assign(np.linspace(-0.5, 0.5, 5).astype(np.float32))
    model.get_layer("q").oq.f.assign(np.array([1, 2, 3, 4, 0, 2], np.float32))
    th.calibrate(model, x)
    proxy = to_proxy(model)
    np.testing.assert_array_equal(np.asarray(proxy.model(x)), np.asarray(model(x, training=False)))
    assert proxy.quantizers == {"q": "q", "d1": "d1", "d2": "d2"}
    # folded, quantized BatchNorm weights are the Dense weights of the proxy
    kernel, bias = model.get_layer("d1").quantized_weights()
    np.testing.assert_array_equal(proxy.model.get_layer("d1_dense").get_weights()[0], kernel)
    np.testing.assert_array_equal(proxy.model.get_layer("d1_dense").get_weights()[1], bias)

    hls_model, _, kind = convert(model, tmp_path / "prj", ExportOptions())
    assert kind == "hgq"
    hls_model.write()
    code = (tmp_path / "prj" / "firmware" / "nnet_utils" / "nnet_code_gen.h").read_text()
    body = code[code.index("void q("):]
    casts = re.findall(r"out\[(\d+)\] = ap_(u?)fixed<(\d+),(-?\d+),AP_(\w+?),AP_(\w+?)>", body)[:6]
    k, b, big_i = quantizer_kbi(model.get_layer("q").oq)
    assert [(int(c[0]), c[1] == "", int(c[2]), int(c[3])) for c in casts] == [
        (j, bool(k[j]), int(b[j]), int(big_i[j])) for j in range(6)
    ]
    assert all(c[4] == "RND" and c[5] == "SAT" for c in casts)


def test_proxy_rejects_foreign_layers():
    inp = keras.Input((4,))
    h = th.HQuantize(name="q")(inp)
    out = keras.layers.Dense(2, name="plain")(h)
    with pytest.raises(TriggerHGQError, match="'plain'"):
        to_proxy(keras.Model(inp, out))
