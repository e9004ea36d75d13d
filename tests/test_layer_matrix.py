"""Every registered layer x rounding x overflow, on small shapes (a per-layer matrix in the spirit of HGQ2's tests).

Each registered layer class has one entry in ``CASES`` (a test fails when a layer is registered without one):
the layer between an input quantizer and a small quantized dense head. For every rounding and overflow mode,
outputs on inputs three times wider than the calibration data (so activations wrap or saturate) survive a
``.keras`` save/load exactly. Per layer (modes rotating over the layers): one training step moves the weights and
the fractional bits, EBOPs equal a by-hand count, and the da4ml trace (the RTL route) equals Keras. Shared subsets
(a model holding the pooling layers; per-particle layers; the particle blocks; two modes each) are compiled by
hls4ml and C-simulated bit-exact.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import keras
import numpy as np
import pytest

import trigger_hgq as th
from trigger_hgq.calibration import recording
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.graph import model_graph
from trigger_hgq.quantizer import OVERFLOW_MODES, ROUNDING_MODES

MODES = [(r, o) for r in ROUNDING_MODES for o in OVERFLOW_MODES]
WIDEN = 3.0  # check inputs are this much wider than the calibration inputs: forces overflows


def _q(rounding: str, overflow: str) -> dict:
    return {"rounding": rounding, "overflow": overflow, "init_f": 3.0, "lr_scale": 30.0}


def _kernel_kw(q: dict) -> dict:
    return {"kernel_quantizer": dict(q), "bias_quantizer": dict(q), "output_quantizer": dict(q), "beta": 1e-4}


def _out_kw(q: dict) -> dict:
    return {"output_quantizer": dict(q), "beta": 1e-4}


# layer name -> (input shape, the layer under test applied to the quantized input)
CASES: dict[str, tuple[tuple[int, ...], Callable[[dict], Callable]]] = {
    "HQuantize": ((6,), lambda q: th.HQuantize(name="under_test", **_out_kw(q))),
    "HDense": ((6,), lambda q: th.HDense(4, activation="relu", name="under_test", **_kernel_kw(q))),
    "HDense[particles]": ((8, 3), lambda q: th.HDense(4, activation="relu", name="under_test",
                                                         **_kernel_kw(q))),
    "HDenseBatchNorm": ((6,), lambda q: th.HDenseBatchNorm(4, name="under_test", **_kernel_kw(q))),
    "HConv1D": ((8, 2), lambda q: th.HConv1D(3, 3, padding="same", activation="relu", name="under_test",
                                             **_kernel_kw(q))),
    "HConv1DBatchNorm": ((8, 2), lambda q: th.HConv1DBatchNorm(3, 3, strides=2, name="under_test", **_kernel_kw(q))),
    "HConv2D": ((4, 4, 2), lambda q: th.HConv2D(2, 2, activation="relu", name="under_test", **_kernel_kw(q))),
    "HConv2DBatchNorm": ((4, 4, 2), lambda q: th.HConv2DBatchNorm(2, 3, padding="same", name="under_test",
                                                                  **_kernel_kw(q))),
    "HActivation": ((6,), lambda q: th.HActivation("relu", name="under_test", **_out_kw(q))),
    "HAdd": ((6,), lambda q: lambda h: th.HAdd(name="under_test", **_out_kw(q))(
        [h, th.HActivation("relu", name="side", **_out_kw(q))(h)])),
    "HAdd[relu]": ((4, 3), lambda q: lambda h: th.HAdd("relu", per_particle=True, name="under_test", **_out_kw(q))(
        [h, th.HDense(3, name="side", **_kernel_kw(q))(h)])),
    "HPermute": ((8, 3), lambda q: th.HPermute((2, 1), name="under_test")),
    "HConcatenate": ((4, 3), lambda q: lambda h: th.HConcatenate(1, name="under_test")(
        [h, th.HActivation("relu", name="side", **_out_kw(q))(h), h])),
    "HMaxPooling1D": ((8, 2), lambda q: th.HMaxPooling1D(2, name="under_test")),
    "HMaxPooling2D": ((4, 4, 2), lambda q: th.HMaxPooling2D(2, name="under_test")),
    "HAveragePooling1D": ((8, 2), lambda q: th.HAveragePooling1D(2, name="under_test", **_out_kw(q))),
    "HAveragePooling2D": ((4, 4, 2), lambda q: th.HAveragePooling2D(2, name="under_test", **_out_kw(q))),
    "HGlobalAveragePooling1D": ((8, 2), lambda q: th.HGlobalAveragePooling1D(name="under_test", **_out_kw(q))),
    "HFlatten": ((4, 2), lambda q: th.HFlatten(name="under_test")),
    "HReshape": ((6,), lambda q: th.HReshape((3, 2), name="under_test")),
    "HDropout": ((6,), lambda q: th.HDropout(0.5, name="under_test")),
}
NAMES = sorted(CASES)  # a bracket names a second case of one class, e.g. HDense on (particles, features)


def build(name: str, rounding: str = "RND", overflow: str = "WRAP") -> keras.Model:
    """Input quantizer -> the layer under test -> (flatten) -> quantized dense head, every quantizer in one mode."""
    shape, make = CASES[name]
    q = _q(rounding, overflow)
    inp = keras.Input(shape, name="x")
    h = th.HQuantize(name="inq", **_out_kw(q))(inp)
    h = make(q)(h)
    if len(h.shape) > 2:
        h = th.HFlatten(name="flat_head")(h)
    out = th.HDense(2, name="head", **_kernel_kw(q))(h)
    return keras.Model(inp, out, name=f"{name.replace('[', '_').rstrip(']')}_{rounding}_{overflow}")


def data(model: keras.Model, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, *model.input_shape[1:])).astype(np.float32)


def calibrated(name: str, rounding: str, overflow: str) -> tuple[keras.Model, np.ndarray]:
    keras.utils.set_random_seed(0)
    model = build(name, rounding, overflow)
    x = data(model, 256, 1)
    th.calibrate(model, x)
    return model, WIDEN * data(model, 256, 2)


def _mode_of(name: str) -> tuple[str, str]:
    """One mode per layer for the costlier checks, rotating so that every mode is used."""
    return MODES[NAMES.index(name) % len(MODES)]


def test_every_registered_layer_is_in_the_matrix():
    classes = sorted({name.split("[")[0] for name in NAMES})
    assert sorted(th.supported_layers()) == classes
    assert {cls.__name__ for cls in th.custom_objects().values()} == set(classes)


def _weight_names(model: keras.Model) -> list[tuple[str, list[str]]]:
    return [(layer.name, [w.name.split("/")[-1] for w in layer.weights]) for layer in model.layers]


@pytest.mark.parametrize("rounding,overflow", MODES)
@pytest.mark.parametrize("name", NAMES)
def test_save_load_keeps_outputs_on_overflowing_inputs(name, rounding, overflow, tmp_path):
    model, x_wide = calibrated(name, rounding, overflow)
    want = np.asarray(model(x_wide, training=False))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects=th.custom_objects())
    assert _weight_names(loaded) == _weight_names(model)  # same variables in the same order
    np.testing.assert_array_equal(np.asarray(loaded(x_wide, training=False)), want)
    assert th.ebops(loaded) == th.ebops(model)
    with recording(model):  # without wrap / saturation the outputs differ: the check inputs do overflow
        assert np.any(np.asarray(model(x_wide, training=False)) != want)


@pytest.mark.parametrize("name", NAMES)
def test_training_step_moves_weights_and_bits(name):
    model, _ = calibrated(name, *_mode_of(name))
    x = data(model, 64, 3)
    y = np.random.default_rng(4).normal(size=(64, 2)).astype(np.float32)
    model(x, training=True)
    n_quantized = sum(isinstance(layer, th.HQuantizedLayer) for layer in model.layers)
    assert len(model.losses) == n_quantized  # each quantizing layer adds its penalty, only while training
    model(x, training=False)
    assert len(model.losses) == 0
    model.compile(keras.optimizers.Adam(0.05), "mse", run_eagerly=True)
    before = [np.asarray(v) for v in model.trainable_variables]
    model.train_on_batch(x, y)
    moved = {id(v) for v, b in zip(model.trainable_variables, before, strict=True) if np.any(np.asarray(v) != b)}
    layer, head = model.get_layer("under_test"), model.get_layer("head")
    # every output and kernel quantizer's bits (biases start at zero: zero bits, no gradient yet)
    expected = [q.f for q in layer.quantizers() + head.quantizers() + model.get_layer("inq").quantizers()
                if q.name != "bias"]
    expected += [lay.kernel for lay in (layer, head) if isinstance(lay, th.HKernelLayer)]
    assert [v.name for v in expected if id(v) not in moved] == []


def _bits_by_hand(graph, name: str) -> np.ndarray:
    """Bits of each output element of layer ``name``, from the quantizers' (k, i, f) and the layers in between."""
    layer = graph.nodes[name].layer
    if isinstance(layer, th.HQuantizedLayer):
        return np.sum(layer.oq.kif_numpy(), axis=0)
    src = _bits_by_hand(graph, graph.nodes[name].inputs[0])
    if isinstance(layer, th.HMaxPooling):
        out_shape = tuple(layer.compute_output_shape((1, *src.shape)))[1:]
        out = np.zeros(out_shape, np.int64)
        for pos in np.ndindex(*out_shape[:-1]):
            win = src[tuple(slice(p * s, p * s + k)
                            for p, s, k in zip(pos, layer.strides, layer.pool_size, strict=True))]
            out[pos] = win.reshape(-1, src.shape[-1]).max(axis=0)
        return out
    if isinstance(layer, th.HPermute):
        return np.transpose(src, [d - 1 for d in layer.dims])
    if isinstance(layer, th.HConcatenate):
        return np.concatenate([_bits_by_hand(graph, src_name) for src_name in graph.nodes[name].inputs],
                              axis=layer.data_axis())
    return src.reshape(tuple(layer.output.shape[1:]))  # flatten, reshape, dropout: the same elements


def _ebops_by_hand(graph, layer) -> int:
    a = _bits_by_hand(graph, graph.nodes[layer.name].inputs[0])
    k, i, f = layer.kq.kif_numpy(layer.folded()[0])
    w = k + i + f
    if isinstance(layer, th.HDense):  # every particle position (if any) multiplies the same kernel
        rows = a.reshape(-1, w.shape[0])
        return int(sum(rows[p, r] * w[r, c] for p in range(rows.shape[0]) for r in range(w.shape[0])
                       for c in range(w.shape[1])))
    rank = a.ndim - 1
    pads = []
    for n, kk, s in zip(a.shape[:rank], w.shape[:rank], layer.strides, strict=True):
        total = max((-(-n // s) - 1) * s + kk - n, 0) if layer.padding == "same" else 0
        pads.append((total // 2, total - total // 2))
    padded = np.pad(a, [*pads, (0, 0)])  # padding elements have zero bits
    out_shape = tuple(layer.output.shape[1:-1])
    total = 0
    for pos in np.ndindex(*out_shape):
        win = padded[tuple(slice(p * s, p * s + kk)
                           for p, s, kk in zip(pos, layer.strides, w.shape[:rank], strict=True))]
        total += int(np.sum(win[..., None] * w))
    return total


@pytest.mark.parametrize("name", NAMES)
def test_ebops_equal_a_count_by_hand(name):
    model, _ = calibrated(name, *_mode_of(name))
    by_layer = th.layer_ebops(model)
    kernels = [layer for layer in model.layers if isinstance(layer, th.HKernelLayer)]
    assert set(by_layer) == {layer.name for layer in kernels}  # only multiplying layers cost EBOPs
    graph = model_graph(model)
    for layer in kernels:
        assert by_layer[layer.name] == _ebops_by_hand(graph, layer) > 0, layer.name


def test_model_ebops_of_a_tiny_model_with_known_bits():
    """A 2-2-1 model with hand-set weights and calibration inputs whose bits are known: EBOPs counted by hand."""
    inp = keras.Input((2,))
    h = th.HQuantize(output_quantizer={"init_f": 1}, name="inq")(inp)
    h = th.HDense(2, name="d1", use_bias=False, kernel_quantizer={"init_f": 1}, output_quantizer={"init_f": 2})(h)
    out = th.HDense(1, name="d2", use_bias=False, kernel_quantizer={"init_f": 0})(h)
    model = keras.Model(inp, out)
    model.get_layer("d1").kernel.assign([[1.5, 0.5], [-1.0, 0.0]])
    model.get_layer("d2").kernel.assign([[3.0], [-2.0]])
    th.calibrate(model, np.array([[3.5, -0.5], [0.0, 0.5]], np.float32))
    # inputs (f=1): [0, 3.5] -> ufixed<3,2>: 3 bits; [-0.5, 0.5] -> fixed<2,1>: 2 bits
    # d1 kernel (f=1): 1.5 -> 2 bits (0b1.1), 0.5 -> 1 bit, -1.0 -> 2 bits (sign + 1), 0.0 -> 0 bits (pruned)
    d1 = 3 * (2 + 1) + 2 * (2 + 0)
    # d1 outputs (f=2, exact): 1.5 x0 - x1 in [-0.5, 5.75] -> fixed<6,4>: 6 bits; 0.5 x0 in [0, 1.75] -> 3 bits
    # d2 kernel (f=0): 3.0 -> 2 bits (0b11), -2.0 -> 2 bits (sign + 1)
    d2 = 6 * 2 + 3 * 2
    assert th.layer_ebops(model) == {"d1": d1, "d2": d2}
    assert th.ebops(model) == d1 + d2 == 31


@pytest.mark.parametrize("name", NAMES)
def test_rtl_trace_equals_keras_on_overflowing_inputs(name):
    pytest.importorskip("da4ml", reason="the rtl extra (da4ml) is not installed")
    from trigger_hgq.export.rtl.api import keras_outputs, quantized_inputs
    from trigger_hgq.export.rtl.trace import trace_model

    model, x_wide = calibrated(name, *_mode_of(name))
    traced = trace_model(model)
    got = traced.comb.predict(quantized_inputs(model, traced, [x_wide]))
    np.testing.assert_array_equal(got, keras_outputs(model, [x_wide]))


def _calibrated_check_rows(model: keras.Model) -> np.ndarray:
    """Calibrate ``model`` on normal rows; return 1,000 check rows, half of them three times wider (overflows)."""
    th.calibrate(model, data(model, 512, 1))
    return np.concatenate([data(model, 500, 2), WIDEN * data(model, 500, 3)])


def _exported_bit_exact(model: keras.Model, x_check: np.ndarray, tmp_path):
    """Export ``model`` with hls4ml and check that its C simulation equals Keras on every row of ``x_check``."""
    export = th.to_hls4ml(model, tmp_path / "prj", x=x_check)
    report = json.loads((tmp_path / "prj" / "report.json").read_text())
    assert report["bit_exact_fraction"] == 1.0 and report["n_checked"] == len(x_check)
    return export


def _pooling_model(rounding: str, overflow: str) -> keras.Model:
    q = _q(rounding, overflow)
    inp = keras.Input((8, 2), name="x")
    h = th.HQuantize(name="inq", **_out_kw(q))(inp)
    h = th.HConv1D(4, 3, padding="same", activation="relu", name="conv", **_kernel_kw(q))(h)
    h = th.HAdd(name="add", **_out_kw(q))([th.HMaxPooling1D(2, name="maxpool")(h),
                                            th.HAveragePooling1D(2, name="avgpool", **_out_kw(q))(h)])
    h = th.HGlobalAveragePooling1D(name="gap", **_out_kw(q))(h)
    out = th.HDense(3, name="head", **_kernel_kw(q))(h)
    return keras.Model(inp, out, name=f"pooling_{rounding}_{overflow}")


@pytest.mark.slow
@pytest.mark.parametrize("rounding,overflow", [("RND_CONV", "WRAP"), ("TRN", "SAT")])
def test_pooling_subset_is_bit_exact_in_c_simulation(rounding, overflow, tmp_path):
    """Proxy + hls4ml C simulation of pooling (global average pooling included) equal the model, overflows too."""
    keras.utils.set_random_seed(0)
    model = _pooling_model(rounding, overflow)
    x_check = _calibrated_check_rows(model)
    export = _exported_bit_exact(model, x_check, tmp_path)
    assert "GlobalPooling1D" in {layer.class_name for layer in export.hls_model.get_layers()}
    wrapped = np.asarray(model(x_check, training=False))
    with recording(model):  # the check rows do overflow: without wrap / saturation the outputs differ
        assert np.any(np.asarray(model(x_check, training=False)) != wrapped)


def _deepsets_model(rounding: str, overflow: str) -> keras.Model:
    """Per-particle dense layers (no bias: zero-padded particles stay exactly zero), a mean, a dense head."""
    q = _q(rounding, overflow)
    inp = keras.Input((8, 3), name="particles")
    h = th.HQuantize(name="inq", **_out_kw(q))(inp)
    h = th.HDense(6, activation="relu", use_bias=False, name="phi1", **_kernel_kw(q))(h)
    h = th.HDense(4, activation="relu", use_bias=False, name="phi2", **_kernel_kw(q))(h)
    h = th.HGlobalAveragePooling1D(name="mean", **_out_kw(q))(h)
    out = th.HDense(3, name="rho", **_kernel_kw(q))(h)
    return keras.Model(inp, out, name=f"deepsets_{rounding}_{overflow}")


@pytest.mark.slow
@pytest.mark.parametrize("rounding,overflow", [("RND", "SAT"), ("TRN", "WRAP")])
def test_per_particle_subset_is_bit_exact_in_c_simulation(rounding, overflow, tmp_path):
    """Dense layers on (particles, features) become hls4ml pointwise convolutions, bit-exact with the model."""
    keras.utils.set_random_seed(0)
    model = _deepsets_model(rounding, overflow)
    x_check = _calibrated_check_rows(model)
    x_check[:100, 5:] = 0.0  # zero-padded particles
    export = _exported_bit_exact(model, x_check, tmp_path)
    classes = {layer.name: layer.class_name for layer in export.hls_model.get_layers()}
    assert [classes[n] for n in ("phi1_dense", "phi2_dense", "rho_dense")] == ["PointwiseConv1D"] * 2 + ["Dense"]
    assert "GlobalPooling1D" in classes.values()


def _particle_blocks_model(rounding: str, overflow: str) -> keras.Model:
    """An interaction layer (a mean broadcast back to the particles by concatenation), a dense layer across the
    particles (transposes), a per-particle dense layer, a mean and a head (trigger_hgq.blocks)."""
    from trigger_hgq.blocks import interaction, mix_particles
    from trigger_hgq.models import HGQKit

    q = _q(rounding, overflow)
    kit = HGQKit(q)
    inp = keras.Input((8, 3), name="particles")
    h = th.HQuantize(name="inq", per_particle=True, **_out_kw(q))(inp)
    h = interaction(kit, h, 6, "relu", "int1")
    h = mix_particles(kit, h, 4, "relu", "mix1")
    h = kit.dense(h, 5, "relu", True, "ch1")
    h = kit.mean(h, "mean")
    out = th.HDense(3, name="head", **_kernel_kw(q))(h)
    return keras.Model(inp, out, name=f"blocks_{rounding}_{overflow}")


@pytest.mark.slow
@pytest.mark.parametrize("rounding,overflow", [("RND", "WRAP"), ("RND_CONV", "SAT")])
def test_particle_blocks_are_bit_exact_in_c_simulation(rounding, overflow, tmp_path):
    """The interaction and particle-mixing blocks become hls4ml Concatenate / Transpose / Merge layers, bit-exact
    with the model (overflows too), and their RTL trace equals Keras."""
    pytest.importorskip("da4ml", reason="the rtl extra (da4ml) is not installed")
    from trigger_hgq.export.rtl.api import keras_outputs, quantized_inputs
    from trigger_hgq.export.rtl.trace import trace_model

    keras.utils.set_random_seed(0)
    model = _particle_blocks_model(rounding, overflow)
    x_check = _calibrated_check_rows(model)
    export = _exported_bit_exact(model, x_check, tmp_path)
    classes = [layer.class_name for layer in export.hls_model.get_layers()]
    assert {"Concatenate", "Transpose", "Merge", "GlobalPooling1D"} <= set(classes)
    traced = trace_model(model)
    got = traced.comb.predict(quantized_inputs(model, traced, [x_check]))
    np.testing.assert_array_equal(got, keras_outputs(model, [x_check]))


def test_a_layer_without_firmware_form_is_named():
    class HMystery(th.HLayer):
        def call(self, x, training=None):
            return x

        def output_bits(self):
            return self.input_bits()

    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    h = HMystery(name="mystery")(th.HQuantize(name="inq")(inp))
    model = keras.Model(inp, th.HDense(2, name="head")(h))
    th.calibrate(model, data(model, 32, 0))
    from trigger_hgq.export.proxy import to_proxy

    with pytest.raises(TriggerHGQError, match="'mystery' \\(HMystery\\) has no firmware mapping"):
        to_proxy(model)
    pytest.importorskip("da4ml", reason="the rtl extra (da4ml) is not installed")
    from trigger_hgq.export.rtl.trace import trace_model

    with pytest.raises(TriggerHGQError, match="'mystery' \\(HMystery\\): no RTL form"):
        trace_model(model)


def test_a_second_layer_class_of_the_same_name_is_refused():
    from trigger_hgq.layers.registry import add_layer_class

    class HDense(th.HLayer):  # another class under a registered name
        pass

    with pytest.raises(TriggerHGQError, match="'HDense' .* already registered"):
        add_layer_class(HDense)
    assert th.supported_layers().count("HDense") == 1
    add_layer_class(th.HDense)  # the same class again is fine (a module reloaded)


def test_global_average_pooling_needs_power_of_two_steps():
    with pytest.raises(TriggerHGQError, match="'gap': 6 steps is not a power of two"):
        th.HGlobalAveragePooling1D(name="gap")(keras.Input((6, 2)))
