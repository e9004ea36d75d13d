"""A QKeras baseline through the open-source RTL route: exact conversion (QKeras' RND_CONV rounding and ranges),
da4ml Verilog, yosys, and Verilator equal to the QKeras model's logits on 1500 test jets."""

from __future__ import annotations

import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

pytest.importorskip("da4ml", reason="the rtl extra (da4ml) is not installed")

from trigger_hgq.export.rtl.candidate import exact_rtl_model  # noqa: E402
from trigger_hgq.pipeline import tasks  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SMALL_6BIT = {
    "name": "tagger_6bit_small", "input_shape": [16],
    "layers": [{"type": "dense", "units": 16, "activation": "relu", "name": "fc1"},
               {"type": "dense", "units": 8, "activation": "relu", "name": "fc2"},
               {"type": "dense", "units": 5, "activation": "softmax", "name": "output"}],
    "quantization": {"bits": 6, "integer": 0, "activation_bits": 6, "activation_integer": 0,
                     "input": {"bits": 16, "integer": 5}},
    "training": {"epochs": 2, "batch_size": 256, "learning_rate": 0.003, "early_stopping_patience": 5},
}
needs_tools = pytest.mark.skipif(
    shutil.which("yosys") is None or shutil.which("verilator") is None,
    reason="yosys and verilator (Debian packages, .ci/apt-packages) are not installed",
)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A small uniform 6-bit QKeras tagger (the baselines' quantization) trained briefly on the shipped jets."""
    from trigger_hgq.data import load_dataset

    tmp = tmp_path_factory.mktemp("rtl_qkeras")
    ds = load_dataset(REPO / "datasets" / "jets_hlf.yaml")
    arrays = tmp / "arrays.npz"
    np.savez(arrays, x_train=ds.x_train[:4000], y_train=ds.y_train[:4000], x_val=ds.x_val[:1000],
             y_val=ds.y_val[:1000], x_test=ds.x_test[:1500], y_test=ds.y_test[:1500])
    config = tmp / "small.yaml"
    config.write_text(yaml.safe_dump(SMALL_6BIT))
    spec = tasks.BaselineSpec(config=str(config), arrays=str(arrays), out=str(tmp / "q.h5"))
    trained = tasks.train_baseline_task(spec)
    return trained, arrays, tmp


@pytest.mark.slow
@needs_tools
def test_qkeras_baseline_through_the_rtl_route(baseline):
    trained, arrays, tmp = baseline
    assert trained["method"] == "qkeras" and trained["val_accuracy"] > 0.4
    spec = tasks.RtlSpec(name=trained["name"], method="qkeras", path=trained["path"], arrays=str(arrays),
                         out=str(tmp / "fw"), part="xcvu13p-flga2577-2-e", clock_ns=5.0, export={"n_check": 1500},
                         ebops=None)
    out = tasks.rtl_task(spec)
    rtl, syn = out["rtl"], out["yosys"]
    assert rtl["conversion_exact_fraction"] == 1.0  # converted model == QKeras logits on every checked row
    assert rtl["bit_exact_fraction"] == 1.0 and rtl["n_checked"] == 1500 and not rtl["marked"]
    assert syn["lut"] > 100 and syn["ff"] > 0 and syn["carry"] > 0 and syn["dsp"] == 0
    assert rtl["latency_cycles"] >= 2 and rtl["latency_ns"] == 5.0 * rtl["latency_cycles"]
    assert rtl["max_lut_levels"] == 9 and 1 <= rtl["adders_per_stage"] <= 4
    assert 1 <= rtl["longest_stage_lut_levels"] == syn["lut_levels"]
    assert rtl["meets_clock"] and syn["lut_levels"] <= 9 and rtl["critical_path_ns"] <= 5.0  # timing closed
    assert 1 <= rtl["pipelinings_tried"] <= 3
    assert (tmp / "fw" / "rtl" / "src").is_dir()


@pytest.mark.slow
def test_exact_rtl_model_keeps_qkeras_rounding_or_says_why_not(baseline):
    from trigger_hgq.convert.io import load_model

    trained, arrays, _ = baseline
    x = np.load(arrays)["x_test"][:300]
    converted, exact = exact_rtl_model(load_model(trained["path"]), "qkeras", x)
    assert exact == 1.0
    assert {converted.get_layer(n).oq.config.rounding for n in ("fc1", "fc2")} == {"RND_CONV"}
    float_model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(5)])
    assert exact_rtl_model(float_model, "float", x) == (None, "a float model has no exact fixed-point form")
    none, why = exact_rtl_model(float_model, "qkeras", x)
    assert none is None and "does not quantize its inputs" in why
