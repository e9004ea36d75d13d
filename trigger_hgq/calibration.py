"""Set exact activation ranges from a dataset, so that no value of that dataset overflows afterwards."""

from __future__ import annotations

import contextlib

import numpy as np
import tensorflow as tf

from trigger_hgq.bops import h_layers
from trigger_hgq.quantizer import FixedQuantizer


def activation_quantizers(model: tf.keras.Model) -> list[FixedQuantizer]:
    """Every activation (output) quantizer of the model."""
    return [q for layer in h_layers(model) for q in layer.quantizers() if not q.is_weight]


def reset_ranges(model: tf.keras.Model) -> None:
    """Forget the recorded activation ranges (the next training batches record them anew)."""
    for q in activation_quantizers(model):
        q.reset_range()


@contextlib.contextmanager
def recording(model: tf.keras.Model):
    """Inside the block, eager inference calls record ranges and apply no overflow."""
    quantizers = activation_quantizers(model)
    for q in quantizers:
        q.recording = True
    try:
        yield
    finally:
        for q in quantizers:
            q.recording = False


def calibrate(model: tf.keras.Model, x, batch_size: int = 16384) -> tf.keras.Model:
    """Pass ``x`` through ``model`` once (inference mode) and set every activation range to what it produces.

    Afterwards no activation of ``x`` falls outside its representable range: the integer bits of each element
    cover exactly the quantized values seen. Returns the model.
    """
    reset_ranges(model)
    x = np.asarray(x, dtype=np.float32) if not isinstance(x, list | tuple) else [np.asarray(a, np.float32) for a in x]
    n = len(x[0]) if isinstance(x, list) else len(x)
    with recording(model):
        for start in range(0, n, batch_size):
            batch = [a[start:start + batch_size] for a in x] if isinstance(x, list) else x[start:start + batch_size]
            model(batch, training=False)
    return model
