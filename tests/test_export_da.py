"""hls4ml's distributed-arithmetic strategy (da4ml kernels) as an export flavour: C-sim bit-exact, its estimate."""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest

import trigger_hgq as th
from trigger_hgq.export import to_hls4ml
from trigger_hgq.export.da_cost import da_depth


def test_da_depth_reads_the_kernel_latencies():
    code = "    ap_fixed<9,3> v0 = model_inp_q_0; // 0.0\n    ap_fixed<12,5> v7 = v0 + v3; // 3.0\n" \
           "    ap_fixed<13,6> v9 = v7 - v1; // 4.0\n    out[0] = v9;\n"
    layer = SimpleNamespace(attributes={"da_codegen": SimpleNamespace(code=code)})
    assert da_depth(layer) == 4
    assert da_depth(SimpleNamespace(attributes={})) == 0


@pytest.mark.slow
def test_distributed_arithmetic_export_is_bit_exact_without_dsps(tmp_path):
    pytest.importorskip("da4ml", reason="the da extra (da4ml) is not installed")
    keras.utils.set_random_seed(0)
    inp = keras.Input((16,))
    h = th.HQuantize(name="inq")(inp)
    h = th.HDense(12, activation="relu", name="d1")(h)
    out = th.HDense(5, name="out")(h)
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).normal(size=(2000, 16)).astype(np.float32)
    th.calibrate(model, x)
    exported = to_hls4ml(model, tmp_path / "da", x=x, strategy="distributed_arithmetic", n_check=2000)
    rep = exported.report
    assert rep["strategy"] == "distributed_arithmetic"
    assert rep["bit_exact_fraction"] == 1.0 and rep["n_checked"] == 2000
    assert rep["dsp"] == 0 and rep["lut"] > 0 and rep["latency_cycles"] >= 1
    layers = {entry["name"]: entry for entry in rep["layers"]}
    dense = [entry for entry in layers.values() if entry["class_name"] == "Dense"]
    assert len(dense) == 2 and all(entry["lut"] > 0 and entry["dsp"] == 0 for entry in dense)
    kernels = [layer for layer in exported.hls_model.get_layers() if "da_kernel_cost" in layer.attributes]
    assert len(kernels) == 2 and all(da_depth(layer) >= 1 for layer in kernels)
