"""HGQ models -> hls4ml projects, C simulation bit-exact on >= 10k inputs (slow: trains and compiles firmware)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import trigger_hgq as th
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.export.proxy import quantizer_kbi

pytestmark = pytest.mark.slow
N_CHECK = 10_000


def _compile(model: keras.Model) -> keras.Model:
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _all_bits(model: keras.Model) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-element bits of every activation quantizer and of every (folded) kernel."""
    acts, kernels = [], []
    for layer in model.layers:
        if isinstance(layer, th.HQuantizedLayer):
            k, b, _ = quantizer_kbi(layer.oq)
            acts.append(b)
        if isinstance(layer, th.HKernelLayer):
            k, i, f = layer.kq.kif_numpy(layer.folded()[0])
            kernels.append(k + i + f)
    return acts, kernels


def _assert_heterogeneous(model: keras.Model) -> None:
    acts, kernels = _all_bits(model)
    assert any(np.unique(b).size > 1 for b in acts), "activation bits should differ per element"
    assert any((b == 0).any() for b in acts), "some activation elements should have zero bits"
    assert any((b == 0).any() for b in kernels), "some weights should have zero bits (pruned)"
    assert any(np.unique(b[b > 0]).size > 2 for b in kernels), "weight bits should differ per element"


def _assert_exact_export(model, x, out_dir):
    export = th.to_hls4ml(model, out_dir, x=x)
    report = json.loads((out_dir / "report.json").read_text())
    assert report["bit_exact_fraction"] == 1.0 and report["n_checked"] >= N_CHECK
    assert report["model_kind"] == "hgq" and report["resource_source"] == "estimate"
    # EBOPs track LUT + 55 DSP for latency designs: the estimate must agree within a factor 2
    ratio = (report["lut"] + 55 * report["dsp"]) / report["ebops"]
    assert 0.5 <= ratio <= 2.0, ratio
    # per-element precisions survive: every quantizer of the firmware is the model's own (or narrower, where
    # hls4ml proves the upstream values need fewer bits), never wider
    from hls4ml.model.optimizer.passes.hgq_proxy_model import FixedPointQuantizer

    for node in export.hls_model.get_layers():
        if isinstance(node, FixedPointQuantizer):
            source = model.get_layer(export.proxy.quantizers[node.name])
            _, b_model, _ = quantizer_kbi(source.oq)
            b_hls = np.broadcast_to(np.asarray(node.mask_kbi[1])[0], b_model.shape)
            assert np.all(b_hls <= b_model), node.name
    return export, report


def _sequences(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Tracks of 32 steps x 3 features, a class-dependent pulse; the last 4 steps zero-padded (jagged input)."""
    x = rng.normal(size=(n, 32, 3)).astype(np.float32)
    y = rng.integers(0, 3, n)
    pos = rng.integers(0, 24, n)
    for j in range(n):
        x[j, pos[j]:pos[j] + 4, y[j]] += 2.0
    x[:, 28:, :] = 0.0
    return x, y


def test_conv1d_add_batchnorm_pooling_exact(tmp_path):
    rng = np.random.default_rng(11)
    x, y = _sequences(N_CHECK + 500, rng)
    beta = 3e-5
    inp = keras.Input((32, 3), name="tracks")
    q = th.HQuantize(beta=beta, name="q")(inp)
    c1 = th.HConv1DBatchNorm(8, 3, padding="same", activation="relu", beta=beta, name="c1")(q)
    c2 = th.HConv1D(8, 3, padding="same", activation="relu", beta=beta, name="c2")(c1)
    added = th.HAdd(beta=beta, name="add")([c1, c2])
    pooled = th.HMaxPooling1D(2, name="mp")(added)
    c3 = th.HConv1D(4, 3, activation="relu", beta=beta, name="c3")(pooled)
    avg = th.HAveragePooling1D(2, beta=beta, name="ap")(c3)
    flat = th.HFlatten(name="flat")(avg)
    d1 = th.HDenseBatchNorm(16, activation="relu", beta=beta, name="d1")(flat)
    out = th.HDense(3, beta=beta, name="out")(d1)
    model = _compile(keras.Model(inp, out))
    model.fit(x[:4000], y[:4000], epochs=3, batch_size=128, verbose=0)
    th.calibrate(model, x)
    _assert_heterogeneous(model)
    _assert_exact_export(model, x, tmp_path / "conv1d")


def test_conv2d_pooling_dropout_exact(tmp_path):
    rng = np.random.default_rng(12)
    n = N_CHECK + 200
    x = rng.normal(scale=0.5, size=(n, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 2, n)
    x[y == 1, 2:5, 2:5, 0] += 1.5
    x[:, :, 7, :] = 0.0  # a dead detector column
    beta = 3e-5
    inp = keras.Input((8, 8, 1), name="image")
    h = th.HQuantize(beta=beta, name="q")(inp)
    h = th.HConv2D(4, 3, activation="relu", beta=beta, name="c1")(h)
    h = th.HAveragePooling2D(2, beta=beta, name="ap")(h)
    h = th.HConv2DBatchNorm(6, 2, padding="same", activation="relu", beta=beta, name="c2")(h)
    h = th.HMaxPooling2D(3, name="mp")(h)
    h = th.HFlatten(name="flat")(h)
    h = th.HDropout(0.1, name="drop")(h)
    out = th.HDense(2, beta=beta, name="out")(h)
    model = _compile(keras.Model(inp, out))
    model.fit(x[:4000], y[:4000], epochs=3, batch_size=128, verbose=0)
    th.calibrate(model, x)
    _assert_heterogeneous(model)
    _assert_exact_export(model, x, tmp_path / "conv2d")


def _numerics_model() -> keras.Model:
    inp = keras.Input((6,), name="x")
    h = th.HQuantize(output_quantizer={"rounding": "RND_CONV", "overflow": "SAT"}, name="q")(inp)
    h = th.HDense(5, output_quantizer={"rounding": "RND", "overflow": "WRAP"}, name="d1")(h)
    h = th.HActivation("relu", output_quantizer={"rounding": "TRN", "overflow": "WRAP"}, name="act")(h)
    out = th.HDense(2, output_quantizer={"rounding": "RND", "overflow": "WRAP", "init_f": 3}, name="d2")(h)
    return keras.Model(inp, out)


def test_rounding_wrap_negative_integer_bits_and_error_path(tmp_path):
    """Every rounding / overflow mode, ties at half an LSB, wrap-around beyond the calibrated range, negative
    integer bits: C simulation equals the model. Then a firmware made narrower than the model is caught, naming
    the input row and the first differing layer."""
    model = _numerics_model()
    rng = np.random.default_rng(5)
    model.set_weights([rng.uniform(-0.7, 0.7, w.shape).astype(np.float32) if w.ndim == 2 else w
                       for w in model.get_weights()])
    f_in = np.array([1, 2, 0, -3, 5, 7], np.float32)
    model.get_layer("q").oq.f.assign(f_in)
    model.get_layer("d1").oq.f.assign(np.array([2, 0, -1, 3, 1], np.float32))
    scale = np.array([1, 1, 1, 1, 0.1, 0.02], np.float32)
    th.calibrate(model, rng.normal(scale=0.5, size=(2000, 6)).astype(np.float32) * scale)
    grid = np.round(rng.normal(size=(6000, 6)) * scale * 2.0**f_in) / 2.0**f_in
    x = np.concatenate([rng.normal(scale=2.0, size=(6000, 6)) * scale, grid + 0.5 * 2.0**-f_in]).astype(np.float32)
    k, b, big_i = quantizer_kbi(model.get_layer("q").oq)
    assert (big_i - k < 0).any() and (b == 0).any()  # negative integer bits and a zero-bit input
    # d1 wraps: its pre-quantizer values leave the calibrated range on the check inputs
    from trigger_hgq.export.proxy import to_proxy

    proxy = to_proxy(model).model
    pre = np.asarray(keras.Model(proxy.inputs, proxy.get_layer("d1_dense").output)(x))
    k, b, big_i = quantizer_kbi(model.get_layer("d1").oq)
    assert ((pre >= 2.0 ** (big_i - k)) | (pre < -k * 2.0 ** (big_i - k))).any()
    export = th.to_hls4ml(model, tmp_path / "numerics", x=x)
    assert export.report["bit_exact_fraction"] == 1.0

    # without hls4ml's bit-exact flow every tensor gets the default type ap_fixed<8,3>: the input keeps only 5
    # fractional bits (input feature 5 needs 7) and the first Dense drops accumulator bits
    narrow = {"Model": {"BitExact": False, "Precision": "ap_fixed<8,3>"}}
    with pytest.raises(TriggerHGQError, match=r"first mismatching input row \d+; first differing layer '(q|d1_dense)'"):
        th.to_hls4ml(model, tmp_path / "narrow", x=x, hls_config=narrow)
    report = json.loads((tmp_path / "narrow" / "report.json").read_text())
    check = report["check"]
    assert 0.0 < report["bit_exact_fraction"] < 1.0
    row = np.asarray(check["first_mismatch_input"][0], np.float32)
    np.testing.assert_array_equal(row, x[check["first_mismatch"]])
    # independently: does the input quantizer see a different value once the input is cut to ap_fixed<8,3>?
    cut = (np.mod(np.floor(row * 32) + 128, 256) - 128) / 32
    q = model.get_layer("q")
    q_differs = not np.array_equal(np.asarray(q(row[None], training=False)),
                                   np.asarray(q(cut[None].astype(np.float32))))
    assert check["first_differing_layer"] == ("q" if q_differs else "d1_dense")
    assert check["first_differing_source"] == ("q" if q_differs else "d1")
