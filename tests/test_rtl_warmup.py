"""The RTL route's warm-up: one real trace through da4ml, runnable as the pipeline's background process."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("da4ml")

import numpy as np  # noqa: E402

from trigger_hgq.export.rtl.api import keras_outputs, quantized_inputs  # noqa: E402
from trigger_hgq.export.rtl.warmup import warm_up_trace  # noqa: E402


def test_warm_up_trace_computes_the_model():
    """The warm-up's traced logic is the model: da4ml's interpreter equals Keras on every calibration row."""
    model, traced, x = warm_up_trace()
    got = traced.comb.predict(quantized_inputs(model, traced, [x]))
    want = keras_outputs(model, [x])
    assert got.shape == (256, 3)
    assert np.array_equal(got, want)


def test_warm_up_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "trigger_hgq.export.rtl.warmup"], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
