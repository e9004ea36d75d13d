"""Exact effective bit operations (EBOPs) of a quantized model.

EBOPs = sum over every multiplication of (bits of the weight) x (bits of the incoming activation element); an
operand with zero bits contributes nothing. Each layer computes its own share (``layer.ebops_exact()``): the bits
are small integers, read from the current weights, bits and calibrated ranges, and summed in float64 with NumPy.
"""

from __future__ import annotations

import keras

from trigger_hgq.layers.base import HLayer, connect


def h_layers(model: keras.Model) -> list[HLayer]:
    """All trigger-hgq layers of ``model`` (nested models included), in graph order."""
    found: list[HLayer] = []
    for layer in model.layers:
        if isinstance(layer, HLayer):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(h_layers(layer))
    return found


def layer_ebops(model: keras.Model) -> dict[str, int]:
    """Exact EBOPs per layer name, for the layers that multiply (reads the current variables)."""
    connect(model)
    return {layer.name: int(round(layer.ebops_exact())) for layer in h_layers(model) if layer.has_ebops}


def ebops(model: keras.Model) -> int:
    """Exact EBOPs of the whole quantized model (an integer)."""
    return int(sum(layer_ebops(model).values()))
