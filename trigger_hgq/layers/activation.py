"""Layers whose only parameters are their output bits: the input quantizer, activations and additions."""

from __future__ import annotations

import tensorflow as tf

from trigger_hgq.layers.base import HQuantizedLayer, activation_fn, register


@register
class HQuantize(HQuantizedLayer):
    """Quantizes the model inputs (per feature by default). Saturates out-of-range inputs by default."""

    default_overflow = "SAT"

    def build(self, input_shape):
        self.oq.build(tuple(input_shape)[1:])
        self.build_penalty()
        super().build(input_shape)

    def call(self, x, training=None):
        y = self.oq(x, training)
        self.add_penalty(training)
        return y


@register
class HActivation(HQuantizedLayer):
    """``oq(act(x))`` for ``act`` in linear, relu."""

    def __init__(self, activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        self.activation = activation
        self._act = activation_fn(activation, self.name)

    def build(self, input_shape):
        self.oq.build(tuple(input_shape)[1:])
        self.build_penalty()
        super().build(input_shape)

    def call(self, x, training=None):
        y = self.oq(self._act(x), training)
        self.add_penalty(training)
        return y

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


@register
class HAdd(HQuantizedLayer):
    """Elementwise sum of its inputs, quantized. Additions cost no EBOPs (only multiplications are counted)."""

    def build(self, input_shape):
        self.oq.build(tuple(input_shape[0])[1:])
        self.build_penalty()
        super().build(input_shape)

    def call(self, inputs, training=None):
        y = self.oq(tf.add_n(list(inputs)), training)
        self.add_penalty(training)
        return y

    def compute_output_shape(self, input_shape):
        return input_shape[0]
