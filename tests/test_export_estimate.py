"""The analytical estimator against published Vivado HLS results of the hls4ml jet tagger (conversion only)."""

from __future__ import annotations

import numpy as np
import pytest

from trigger_hgq.export.cli import load_model
from trigger_hgq.export.estimate import estimate
from trigger_hgq.export.estimate_costs import DSP_MIN_WEIGHT_BITS
from trigger_hgq.export.hls import ExportOptions, convert

# hls4ml 16-64-32-32-5 jet tagger at 5 ns, Vivado HLS: ap_fixed<16,6> 13 cycles; QKeras 6-bit 15 cycles.
PUBLISHED_CYCLES = {"KERAS_3layer": 13, "qkeras_3layer": 15}


@pytest.fixture(scope="module")
def taggers(shared, tmp_path_factory):
    out = {}
    for name in PUBLISHED_CYCLES:
        model = load_model(shared / "reference-models" / f"{name}.json")
        for backend in ("Vivado", "Vitis"):
            opts = ExportOptions(backend=backend)
            hls_model, _, kind = convert(model, tmp_path_factory.mktemp(f"{name}_{backend}"), opts)
            out[name, backend] = (model, hls_model, kind, opts)
    return out


@pytest.mark.parametrize("name", sorted(PUBLISHED_CYCLES))
def test_latency_matches_published(taggers, name):
    _, hls_model, _, opts = taggers[name, "Vivado"]
    est = estimate(hls_model, opts.clock_ns, opts.uncertainty_fraction, exact=False)
    assert abs(est.latency_cycles - PUBLISHED_CYCLES[name]) <= 3, est.latency_cycles
    assert est.latency_ns == est.latency_cycles * 5.0
    # Vitis HLS reserves 27% of the clock instead of 12.5%: never faster
    _, vitis_model, _, vitis_opts = taggers[name, "Vitis"]
    vitis = estimate(vitis_model, vitis_opts.clock_ns, vitis_opts.uncertainty_fraction, exact=False)
    assert vitis.latency_cycles >= est.latency_cycles
    assert vitis.effective_clock_ns == pytest.approx(5.0 * 0.73)


def test_dsp_rule_and_multiplications(taggers):
    """16-bit float weights: every non-zero multiplication is a DSP (hls4ml's rule: weights of 9 bits and more);
    6-bit QKeras weights: none (only the softmax's own multiplications)."""
    model, hls_model, kind, opts = taggers["KERAS_3layer", "Vivado"]
    assert kind == "float"
    est = estimate(hls_model, opts.clock_ns, opts.uncertainty_fraction, exact=False)
    dense = [layer for layer in model.layers if layer.get_weights()]
    n_nonzero = sum(int(np.count_nonzero(np.round(layer.get_weights()[0] * 2**10))) for layer in dense)
    by_name = {layer.name: layer for layer in est.layers}
    assert sum(by_name[layer.name].n_mult for layer in dense) == n_nonzero
    assert sum(by_name[layer.name].dsp for layer in dense) == n_nonzero
    assert 16 >= DSP_MIN_WEIGHT_BITS

    model, hls_model, kind, opts = taggers["qkeras_3layer", "Vivado"]
    assert kind == "qkeras"
    est = estimate(hls_model, opts.clock_ns, opts.uncertainty_fraction, exact=False)
    dense = [layer for layer in est.layers if layer.class_name == "Dense"]
    assert sum(layer.dsp for layer in dense) == 0 and all(layer.lut > 0 for layer in dense)
    # the QKeras kernels are pruned: zero weights are no multiplication
    kernels = [w for layer in model.layers for w in layer.get_weights()[:1]]
    assert sum(layer.n_mult for layer in dense) < sum(k.size for k in kernels)
    assert est.ebops == sum(layer.ebops for layer in est.layers) > 0


def test_float_precision_is_user_settable(shared, tmp_path):
    model = load_model(shared / "reference-models" / "KERAS_3layer.json")
    hls_model, _, _ = convert(model, tmp_path / "p", ExportOptions(precision="ap_fixed<10,4>"))
    precisions = {str(layer.get_output_variable().type.precision) for layer in hls_model.get_layers()
                  if layer.class_name in ("Dense", "Activation")}
    assert precisions == {"fixed<10,4,TRN,WRAP,0>"}


def test_da_cost_is_hls4ml_distributed_arithmetic_cost(tmp_path):
    """da_costs reproduces the cost hls4ml's own distributed-arithmetic pass records for each kernel."""
    pytest.importorskip("da4ml", reason="optional extra 'da' (da4ml) not installed")
    import keras

    import trigger_hgq as th
    from trigger_hgq.export.da_cost import da_costs

    inp = keras.Input((6,))
    h = th.HQuantize(name="q")(inp)
    h = th.HDense(5, activation="relu", name="d1")(h)
    model = keras.Model(inp, th.HDense(3, name="d2")(h))
    th.calibrate(model, np.random.default_rng(2).normal(size=(500, 6)).astype(np.float32))
    hls_model, _, _ = convert(model, tmp_path / "a", ExportOptions())
    ours = da_costs(hls_model)
    da_model, _, _ = convert(model, tmp_path / "b",
                             ExportOptions(hls_config={"Model": {"Strategy": "distributed_arithmetic"}}))
    theirs = {layer.name: layer.attributes["da_kernel_cost"] for layer in da_model.get_layers()
              if "da_kernel_cost" in layer.attributes}
    assert set(ours) == set(theirs) == {"d1_dense", "d2_dense"}
    assert all(ours[name] == pytest.approx(theirs[name]) and ours[name] > 0 for name in ours)
