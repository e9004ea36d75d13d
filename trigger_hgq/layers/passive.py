"""Passive layers: the values, and so the bits, pass through unchanged (reshaped, reordered or joined)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from trigger_hgq.errors import TriggerHGQError
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
class HPermute(HLayer):
    """Reorders the data axes (``dims`` as Keras ``Permute``: 1 is the first axis after the batch), e.g.
    ``(2, 1)`` turns ``(particles, features)`` into ``(features, particles)`` so that a dense layer mixes the
    particles. Wires only in firmware (hls4ml's Transpose)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise TriggerHGQError(f"layer {self.name!r}: dims {self.dims} is not a permutation of 1..{len(self.dims)}")

    def call(self, x, training=None):
        return ops.transpose(x, (0, *self.dims))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def output_bits(self):
        return ops.transpose(self.input_bits(), [d - 1 for d in self.dims])

    def proxy_ops(self):
        return [keras.layers.Permute(self.dims, name=self.name)]

    def trace(self, inputs, ops):
        return np.transpose(inputs[0], [d - 1 for d in self.dims])

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


@register
class HConcatenate(HLayer):
    """Joins its inputs along ``axis`` (Keras' convention: the batch axis is 0, -1 the last). The same input may
    come more than once: a vector concatenated with itself is copied, which is how a per-jet vector is broadcast
    to every particle (:func:`trigger_hgq.blocks.broadcast_particles`). Wires only in firmware."""

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)
        if self.axis == 0:
            raise TriggerHGQError(f"layer {self.name!r}: axis 0 is the batch axis")

    def data_axis(self) -> int:
        """The axis in shapes without the batch axis."""
        return self.axis - 1 if self.axis > 0 else self.axis

    def call(self, inputs, training=None):
        return ops.concatenate(list(inputs), axis=self.axis)

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        out = list(shapes[0])
        out[self.axis] = sum(int(s[self.axis]) for s in shapes)
        return tuple(out)

    def output_bits(self):
        bits = self.input_bits()
        return ops.concatenate(list(bits) if isinstance(bits, list) else [bits], axis=self.data_axis())

    def proxy_ops(self):
        # A negative axis: hls4ml's C++ counts the batch axis, its bit-exact pass does not; both agree from the end.
        rank = len(self.output.shape)
        axis = self.axis - rank if self.axis > 0 else self.axis
        return [keras.layers.Concatenate(axis=axis, name=self.name)]

    def trace(self, inputs, ops):
        return np.concatenate(list(inputs), axis=self.data_axis())

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


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
