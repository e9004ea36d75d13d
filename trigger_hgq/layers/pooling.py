"""Pooling: max pooling passes bits through; average pooling re-quantizes its output.

Only ``valid`` padding is supported, and average pooling needs a power-of-two pool area, so that the division
is an exact shift in the firmware as in the Keras model.
"""

from __future__ import annotations

import keras
from keras import ops

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.layers.base import HLayer, HQuantizedLayer, register


class HPooling(HLayer):
    """Pool window and strides of the pooling layers (``valid`` padding, channels last); ``rank`` 1 or 2."""

    rank = 0

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)

        def as_tuple(v, key):
            vals = (v,) * self.rank if isinstance(v, int) else tuple(int(x) for x in v)
            if len(vals) != self.rank:
                raise TriggerHGQError(f"layer {self.name!r}: {key}={v!r} needs {self.rank} values")
            return vals

        self.pool_size = as_tuple(pool_size, "pool_size")
        self.strides = as_tuple(strides if strides is not None else pool_size, "strides")
        if str(padding).lower() != "valid":
            raise TriggerHGQError(f"layer {self.name!r}: only padding='valid' is supported for pooling")
        self.padding = "valid"

    def pool(self, x, op: str):
        """``op`` (``MAX`` or ``AVG``) pooling of a batch ``x`` with this layer's window."""
        fn = ops.max_pool if op == "MAX" else ops.average_pool
        return fn(x, pool_size=self.pool_size, strides=self.strides, padding="valid")

    def compute_output_shape(self, input_shape):
        spatial = [(int(n) - k) // s + 1 for n, k, s in zip(input_shape[1:-1], self.pool_size, self.strides,
                                                            strict=True)]
        return (input_shape[0], *spatial, input_shape[-1])

    def keras_pool_kwargs(self) -> dict:
        return {"pool_size": self.pool_size, "strides": self.strides, "padding": "valid"}

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


class HMaxPooling(HPooling):
    """Max pooling; each output element has the largest bits of its window."""

    def call(self, x, training=None):
        return self.pool(x, "MAX")

    def output_bits(self):
        return self.pool(ops.expand_dims(self.input_bits(), 0), "MAX")[0]

    def proxy_ops(self):
        cls = keras.layers.MaxPooling1D if self.rank == 1 else keras.layers.MaxPooling2D
        return [cls(name=self.name, **self.keras_pool_kwargs())]

    def trace(self, inputs, ops):
        return ops.pool(inputs[0], self.pool_size, self.strides, "max")


class HAveragePooling(HPooling, HQuantizedLayer):
    """Average pooling followed by its own output quantizer (power-of-two pool area)."""

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(pool_size, strides, padding, **kwargs)
        area = 1
        for k in self.pool_size:
            area *= k
        if area & (area - 1):
            raise TriggerHGQError(
                f"layer {self.name!r}: average pooling area {area} is not a power of two (not exact in firmware)"
            )

    def forward(self, x, training=None):
        return self.pool(x, "AVG")

    def proxy_ops(self):
        cls = keras.layers.AveragePooling1D if self.rank == 1 else keras.layers.AveragePooling2D
        return [cls(name=f"{self.name}_pool", **self.keras_pool_kwargs())]

    def trace(self, inputs, ops):
        return ops.pool(inputs[0], self.pool_size, self.strides, "avg")


@register
class HMaxPooling1D(HMaxPooling):
    rank = 1


@register
class HMaxPooling2D(HMaxPooling):
    rank = 2


@register
class HAveragePooling1D(HAveragePooling):
    rank = 1


@register
class HAveragePooling2D(HAveragePooling):
    rank = 2
