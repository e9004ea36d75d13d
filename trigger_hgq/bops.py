"""Exact effective bit operations (EBOPs) of a quantized model.

EBOPs = sum over every multiplication of (bits of the weight) x (bits of the incoming activation element); an
operand with zero bits contributes nothing. Each layer computes its own share (``layer.ebops_tensor()``); here
they are summed in float64 from the current weights, bits and calibrated ranges.
"""

from __future__ import annotations

import weakref

import tensorflow as tf

from trigger_hgq.layers.base import HLayer


def h_layers(model: tf.keras.Model) -> list[HLayer]:
    """All trigger-hgq layers of ``model`` (nested models included), in graph order."""
    found: list[HLayer] = []
    for layer in model.layers:
        if isinstance(layer, HLayer):
            found.append(layer)
        elif isinstance(layer, tf.keras.Model):
            found.extend(h_layers(layer))
    return found


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> compiled EBOPs function


def _ebops_fn(model: tf.keras.Model):
    """A compiled function returning each multiplying layer's EBOPs (float64), cached on the model."""
    fn = _COMPILED.get(model)
    if fn is None:
        layers = [layer for layer in h_layers(model) if layer.has_ebops]
        fn = tf.function(lambda: {layer.name: layer.ebops_tensor(tf.float64) for layer in layers})
        _COMPILED[model] = fn
    return fn


def layer_ebops(model: tf.keras.Model) -> dict[str, int]:
    """Exact EBOPs per layer name, for the layers that multiply (reads the current variables)."""
    return {name: int(round(float(value))) for name, value in _ebops_fn(model)().items()}


def ebops(model: tf.keras.Model) -> int:
    """Exact EBOPs of the whole quantized model (an integer)."""
    return int(sum(layer_ebops(model).values()))
