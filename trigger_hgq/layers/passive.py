"""Passive layers: the values, and so the bits, pass through unchanged (reshaped)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from trigger_hgq.layers.base import HLayer, register


@register
class HFlatten(HLayer):
    def call(self, x, training=None):
        return ops.reshape(x, (-1, int(np.prod(x.shape[1:]))))

    def compute_output_shape(self, input_shape):
        n = 1
        for d in input_shape[1:]:
            n *= int(d)
        return (input_shape[0], n)

    def output_bits(self):
        return ops.reshape(self.input_bits(), (-1,))

    def proxy_ops(self):
        return [keras.layers.Flatten(name=self.name)]

    def trace(self, inputs, ops):
        return inputs[0].reshape(-1)


@register
class HReshape(HLayer):
    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)

    def call(self, x, training=None):
        return ops.reshape(x, (-1, *self.target_shape))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.target_shape)

    def output_bits(self):
        return ops.reshape(self.input_bits(), self.target_shape)

    def proxy_ops(self):
        return [keras.layers.Reshape(self.target_shape, name=self.name)]

    def trace(self, inputs, ops):
        return inputs[0].reshape(self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


@register
class HDropout(HLayer):
    """Dropout while training; the identity in inference and in the firmware."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if training and self.rate > 0:
            return keras.random.dropout(x, rate=self.rate, seed=self.seed_generator)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def output_bits(self):
        return self.input_bits()

    def proxy_ops(self):
        return []

    def trace(self, inputs, ops):
        return inputs[0]

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
