"""Layers whose only parameters are their output bits: the input quantizer, activations and additions."""

from __future__ import annotations

import keras
from keras import ops

from trigger_hgq.layers.base import HQuantizedLayer, activation_fn, register


@register
class HQuantize(HQuantizedLayer):
    """Quantizes the model inputs (per feature by default). Saturates out-of-range inputs by default."""

    default_overflow = "SAT"

    def forward(self, x, training=None):
        return x

    def proxy_ops(self):
        return []

    def trace(self, inputs, ops):
        return inputs[0]


@register
class HActivation(HQuantizedLayer):
    """``oq(act(x))`` for ``act`` in linear, relu."""

    def __init__(self, activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        self.activation = activation
        self._act = activation_fn(activation, self.name)
        self.oq.nonnegative = self.activation == "relu"  # lets training track the max alone

    def forward(self, x, training=None):
        return self._act(x)

    def proxy_ops(self):
        return [keras.layers.Activation("relu", name=f"{self.name}_relu")] if self.activation == "relu" else []

    def trace(self, inputs, ops):
        return ops.relu(inputs[0]) if self.activation == "relu" else inputs[0]

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


@register
class HAdd(HQuantizedLayer):
    """``oq(act(sum of its inputs))``, elementwise, for ``act`` in linear, relu. Additions cost no EBOPs (only
    multiplications are counted)."""

    def __init__(self, activation: str = "linear", **kwargs):
        super().__init__(**kwargs)
        self.activation = activation
        self._act = activation_fn(activation, self.name)
        self.oq.nonnegative = self.activation == "relu"

    def forward(self, inputs, training=None):
        y = inputs[0]
        for other in inputs[1:]:
            y = ops.add(y, other)
        return self._act(y)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def proxy_ops(self):
        relu = [keras.layers.Activation("relu", name=f"{self.name}_relu")] if self.activation == "relu" else []
        return [keras.layers.Add(name=f"{self.name}_add"), *relu]

    def trace(self, inputs, ops):
        y = inputs[0]
        for other in inputs[1:]:
            y = y + other
        return ops.relu(y) if self.activation == "relu" else y

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}
