"""HGlobalAveragePooling1D: the mean over the steps of a sequence, re-quantized (one module: forward, bits,
hls4ml proxy op and RTL trace).

The number of steps must be a power of two, so that the division is an exact shift in the firmware as in Keras.
On per-particle inputs ``(particles, features)`` it is the permutation-invariant aggregation of a Deep Sets model:
with bits shared by the particles (``per_particle`` layers before it) the mean does not depend on their order, and
particles that are exactly zero (zero padding through bias-free layers) add nothing to it.
"""

from __future__ import annotations

import keras
from keras import ops

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.layers.base import HQuantizedLayer, register


@register
class HGlobalAveragePooling1D(HQuantizedLayer):
    """``oq(mean over steps of x)`` for inputs ``(batch, steps, channels)``; no multiplication (0 EBOPs)."""

    def build_weights(self, input_shape):
        if len(input_shape) != 3:
            raise TriggerHGQError(
                f"layer {self.name!r}: expects inputs (batch, steps, channels), got {tuple(input_shape)}"
            )
        steps = int(input_shape[1])
        if steps & (steps - 1):
            raise TriggerHGQError(
                f"layer {self.name!r}: {steps} steps is not a power of two (the mean is not exact in firmware)"
            )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def forward(self, x, training=None):
        return ops.mean(x, axis=1)

    def proxy_ops(self):
        return [keras.layers.GlobalAveragePooling1D(name=f"{self.name}_pool")]

    def trace(self, inputs, ops):
        steps = inputs[0].shape[0]
        return ops.pool(inputs[0], (steps,), (steps,), "avg").reshape(-1)
