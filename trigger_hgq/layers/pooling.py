"""Pooling: max pooling passes bits through; average pooling re-quantizes its output.

Only ``valid`` padding is supported, and average pooling needs a power-of-two pool area, so that the division
is an exact shift in the firmware as in the Keras model.
"""

from __future__ import annotations

import tensorflow as tf

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.layers.base import HLayer, HQuantizedLayer, register


class _PoolMixin:
    rank = 0

    def _pool_init(self, pool_size, strides, padding):
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

    def _pool(self, x, op: str):
        return tf.nn.pool(x, window_shape=self.pool_size, pooling_type=op, strides=self.strides, padding="VALID")

    def compute_output_shape(self, input_shape):
        spatial = [(int(n) - k) // s + 1 for n, k, s in zip(input_shape[1:-1], self.pool_size, self.strides,
                                                            strict=True)]
        return tf.TensorShape((input_shape[0], *spatial, input_shape[-1]))

    def _pool_config(self):
        return {"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}


class _HMaxPooling(_PoolMixin, HLayer):
    """Max pooling; each output element has the largest bits of its window."""

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self._pool_init(pool_size, strides, padding)

    def call(self, x, training=None):
        return self._pool(x, "MAX")

    def output_bits(self):
        return self._pool(self.input_bits()[None], "MAX")[0]

    def get_config(self):
        return {**super().get_config(), **self._pool_config()}


class _HAveragePooling(_PoolMixin, HQuantizedLayer):
    """Average pooling followed by its own output quantizer (power-of-two pool area)."""

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self._pool_init(pool_size, strides, padding)
        area = 1
        for k in self.pool_size:
            area *= k
        if area & (area - 1):
            raise TriggerHGQError(
                f"layer {self.name!r}: average pooling area {area} is not a power of two (not exact in firmware)"
            )

    def build(self, input_shape):
        self.oq.build(tuple(self.compute_output_shape(input_shape))[1:])
        self.build_penalty()
        super().build(input_shape)

    def call(self, x, training=None):
        y = self.oq(self._pool(x, "AVG"), training)
        self.add_penalty(training)
        return y

    def get_config(self):
        return {**super().get_config(), **self._pool_config()}


@register
class HMaxPooling1D(_HMaxPooling):
    rank = 1


@register
class HMaxPooling2D(_HMaxPooling):
    rank = 2


@register
class HAveragePooling1D(_HAveragePooling):
    rank = 1


@register
class HAveragePooling2D(_HAveragePooling):
    rank = 2
