"""The layer graph of a Keras 3 model from public APIs only (``model.layers``, ``layer.input``, ``layer.output``).

Every graph walk of trigger-hgq (bits through the model, conversion, the hls4ml proxy, the RTL trace) reads the
model through :func:`model_graph`: each layer with the names of the layers that feed it, in topological order, and
the layers holding the model inputs and outputs. A layer called more than once in a model is an error (its
inputs would be ambiguous); an ``InputLayer`` (present in functional models, absent in ``Sequential`` ones, where
the model input feeds the first layer) is a node with no inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from trigger_hgq.errors import TriggerHGQError


@dataclass(frozen=True)
class LayerNode:
    """One layer of a model and where its inputs come from.

    Attributes:
        layer: the Keras layer (an ``InputLayer`` for a model input).
        inputs: names of the producing layers, in the order of the layer's inputs (empty for model inputs).
    """

    layer: keras.layers.Layer
    inputs: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.layer.name


@dataclass(frozen=True)
class ModelGraph:
    """A model's layers in topological order (``nodes``), its input and output layer names."""

    nodes: dict[str, LayerNode]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def producers(self, name: str) -> list[keras.layers.Layer]:
        """The layers feeding layer ``name``."""
        return [self.nodes[src].layer for src in self.nodes[name].inputs]

    def readers(self, name: str) -> list[str]:
        """Names of the layers reading layer ``name``."""
        return [n for n, node in self.nodes.items() if name in node.inputs]


def _tensors(value) -> list:
    return [t for t in keras.tree.flatten(value) if isinstance(t, keras.KerasTensor)]


def model_graph(model: keras.Model) -> ModelGraph:
    """The graph of a functional or ``Sequential`` ``model`` (see the module docstring)."""
    producer: dict[int, str] = {}  # id(KerasTensor) -> producing layer name
    nodes: dict[str, LayerNode] = {}
    input_names: list[str] = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            nodes[layer.name] = LayerNode(layer, ())
            input_names.append(layer.name)
            for t in _tensors(layer.output):
                producer[id(t)] = layer.name
    for t in model.inputs:  # Sequential models: the model input has no InputLayer among model.layers
        if id(t) not in producer:
            name = getattr(t, "name", None) or "input"
            stand_in = keras.layers.InputLayer(shape=tuple(t.shape[1:]), dtype=t.dtype, name=name)
            nodes[name] = LayerNode(stand_in, ())
            input_names.append(name)
            producer[id(t)] = name
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            sources = _tensors(layer.input)
        except (AttributeError, ValueError) as err:
            raise TriggerHGQError(f"layer {layer.name!r}: not connected in a model ({err})") from err
        missing = [t for t in sources if id(t) not in producer]
        if missing:
            raise TriggerHGQError(
                f"layer {layer.name!r} ({type(layer).__name__}): its input is not produced inside the model "
                "(a layer called more than once, or from another model, is not supported)"
            )
        nodes[layer.name] = LayerNode(layer, tuple(producer[id(t)] for t in sources))
        for t in _tensors(layer.output):
            producer[id(t)] = layer.name
    outputs = []
    for t in model.outputs:
        if id(t) not in producer:
            raise TriggerHGQError(f"model {model.name!r}: an output is not produced by any of its layers")
        outputs.append(producer[id(t)])
    return ModelGraph(nodes, tuple(input_names), tuple(outputs))
