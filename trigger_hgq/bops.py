"""Exact effective bit operations (EBOPs) of a quantized model.

EBOPs = sum over every multiplication of (bits of the weight) x (bits of the incoming activation element); an
operand with zero bits contributes nothing. Each layer computes its own share (``layer.ebops_exact()``): the bits
are small integers, read from the current weights, bits and calibrated ranges, and summed in float64 with NumPy.
:func:`layer_ebops` reads the bits of every layer in one compiled call (cached per model; rebuilt when its layers,
producers, variables or quantizer settings change), as the :class:`~trigger_hgq.callbacks.EBOPsLogger` does
every epoch.
"""

from __future__ import annotations

import weakref

import keras

from trigger_hgq.backend import compiled_reader
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


_READERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> (signature, layers, compiled reader)


def _signature(model: keras.Model, layers: list[HLayer]) -> tuple:
    """What the compiled bits depend on besides variable values: layers, producers, variables, quantizer settings."""
    return (
        tuple(id(layer) for layer in layers),
        tuple(id(p) for layer in layers for p in (layer.producers_holder.layers if layer.producers_holder else ())),
        tuple(id(v) for v in model.weights),
        tuple(repr(q.config) for layer in h_layers(model) for q in layer.quantizers()),
    )


def _operands(model: keras.Model, layers: list[HLayer]) -> list:
    """Every multiplying layer's (input bits, kernel bits), read in one compiled call."""
    signature = _signature(model, layers)
    cached = _READERS.get(model)
    if cached is None or cached[0] != signature:
        reader = compiled_reader(lambda: [layer.ebops_operands() for layer in layers], model.weights)
        cached = (signature, reader)
        _READERS[model] = cached
    return cached[1]()


def layer_ebops(model: keras.Model) -> dict[str, int]:
    """Exact EBOPs per layer name, for the layers that multiply (reads the current variables)."""
    connect(model)
    layers = [layer for layer in h_layers(model) if layer.has_ebops]
    operands = _operands(model, layers)
    return {layer.name: int(round(layer.ebops_from_operands(*ops_))) for layer, ops_ in zip(layers, operands,
                                                                                          strict=True)}


def ebops(model: keras.Model) -> int:
    """Exact EBOPs of the whole quantized model (an integer)."""
    return int(sum(layer_ebops(model).values()))
