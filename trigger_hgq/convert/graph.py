"""The source model as a plain graph, and the conversion plan: BatchNormalization folds, activation fusion, softmax.

A Sequential or functional Keras model becomes a list of :class:`Node` (one per layer, topological order, each
naming the nodes it reads). Planning then marks:

* ``BatchNormalization`` / ``QBatchNormalization`` right after a dense/conv layer with a linear activation and no
  other reader: folded into that layer (the node becomes an alias of it);
* an activation (``QActivation``, ``Activation``, ``ReLU``) right after a dense/conv layer with a linear or relu
  activation and no other reader: fused into that layer's output quantizer (``oq(act(x W + b))``, what the
  firmware computes anyway);
* a softmax producing a model output: dropped, so the converted model outputs logits (bit-exact firmware has no
  softmax; the argmax of the logits is the predicted class).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras

from trigger_hgq.convert.quantizers import ActivationGrid, activation_grid, quantizer_name
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.graph import model_graph

KERNEL_TYPES = ("Dense", "QDense", "Conv1D", "QConv1D", "Conv2D", "QConv2D")
BATCHNORM_TYPES = ("BatchNormalization", "QBatchNormalization")
ACTIVATION_TYPES = ("Activation", "QActivation", "ReLU")
PASSIVE_ACTIVATIONS = ("linear", "relu")


@dataclass
class Node:
    """One layer of the source model and the names of the nodes it reads."""

    name: str
    layer: keras.layers.Layer | None  # None for model inputs
    inputs: list[str]
    alias_of: str | None = None  # folded/fused/dropped: its output is the output of that node
    batchnorm: keras.layers.Layer | None = None  # a folded BatchNormalization (kernel nodes)
    activation: str | ActivationGrid = "linear"  # kernel and activation nodes: what follows the linear op
    shape: tuple | None = None  # model inputs: the shape without the batch axis

    @property
    def kind(self) -> str:
        return "Input" if self.layer is None else type(self.layer).__name__


@dataclass
class Graph:
    nodes: dict[str, Node]
    order: list[str]
    inputs: list[str]
    outputs: list[str]
    dropped_softmax: list[str] = field(default_factory=list)

    def resolve(self, name: str) -> str:
        while self.nodes[name].alias_of is not None:
            name = self.nodes[name].alias_of
        return name

    def readers(self) -> dict[str, int]:
        """How many live nodes (and model outputs) read each live node."""
        count = {name: 0 for name in self.order}
        for name in self.order:
            node = self.nodes[name]
            if node.alias_of is None:
                for src in node.inputs:
                    count[self.resolve(src)] += 1
        for out in self.outputs:
            count[self.resolve(out)] += 1
        return count


def _refuse_shared_layers(model: keras.Model) -> None:
    """A layer called more than once in a functional model (its config lists several inbound nodes) is an error."""
    if isinstance(model, keras.Sequential):
        return
    try:
        entries = model.get_config().get("layers", [])
    except (NotImplementedError, TypeError, ValueError):
        return  # no config to read: the graph walk still refuses inputs produced outside the model
    for entry in entries:
        calls = len(entry.get("inbound_nodes") or [])
        if calls > 1:
            name = entry.get("name") or (entry.get("config") or {}).get("name")
            raise TriggerHGQError(
                f"layer {name!r} ({entry.get('class_name')}) is called {calls} times; shared layers are not supported"
            )


def build_graph(model: keras.Model) -> Graph:
    """The layers of ``model`` (Sequential or functional, not nested) as a graph of :class:`Node`."""
    if not isinstance(model, keras.Model):
        raise TriggerHGQError(f"from_qkeras needs a Keras Model, got {type(model).__name__}")
    if not list(getattr(model, "inputs", None) or []):
        raise TriggerHGQError(f"model {model.name!r} has no defined inputs (give it an input shape first)")
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            raise TriggerHGQError(f"layer {layer.name!r}: nested models are not supported; flatten the model first")
    _refuse_shared_layers(model)
    mg = model_graph(model)
    nodes: dict[str, Node] = {}
    order: list[str] = []
    for name, gnode in mg.nodes.items():
        if name in mg.inputs:
            shape = tuple(gnode.layer.output.shape[1:])
            if any(d is None for d in shape):
                raise TriggerHGQError(f"input {name!r}: shape {(None, *shape)} has undefined dimensions")
            nodes[name] = Node(name, None, [], shape=tuple(int(d) for d in shape))
        else:
            nodes[name] = Node(name, gnode.layer, list(gnode.inputs))
        order.append(name)
    return Graph(nodes, order, list(mg.inputs), list(mg.outputs))


def activation_of(obj, layer_name: str, role: str = "activation") -> str | ActivationGrid:
    """``'linear'``, ``'relu'``, ``'softmax'`` or the grid of a QKeras activation quantizer."""
    from qkeras.base_quantizer import BaseQuantizer

    if obj is None:
        return "linear"
    name = quantizer_name(obj)
    if name in ("linear", "relu", "softmax"):
        return name
    if isinstance(obj, BaseQuantizer):
        return activation_grid(obj, layer_name, role)
    raise TriggerHGQError(
        f"layer {layer_name!r}: activation {name!r} is not supported (bit-exact firmware needs 'linear' or 'relu'; "
        "a final 'softmax' is dropped)"
    )


def node_activation(node: Node) -> str | ActivationGrid:
    """The activation applied by an activation layer or inside a dense/conv layer."""
    layer = node.layer
    if node.kind == "ReLU":
        if layer.max_value is not None or float(layer.negative_slope) != 0.0 or float(layer.threshold) != 0.0:
            raise TriggerHGQError(
                f"layer {node.name!r}: ReLU with max_value/negative_slope/threshold is not supported"
            )
        return "relu"
    if node.kind == "QActivation":
        return activation_of(layer.activation, node.name)
    return activation_of(getattr(layer, "activation", None), node.name)


def plan(graph: Graph, drop_softmax: bool = True) -> Graph:
    """Mark BatchNormalization folds, activation fusion and the dropped output softmax (in place)."""
    nodes = graph.nodes
    for name in graph.order:
        node = nodes[name]
        if node.kind in KERNEL_TYPES or node.kind in ACTIVATION_TYPES:
            node.activation = node_activation(node)
    # softmax producing a model output: drop it (the model outputs logits)
    for out in graph.outputs:
        node = nodes[graph.resolve(out)]
        if node.activation == "softmax":
            if not drop_softmax:
                raise TriggerHGQError(f"layer {node.name!r}: softmax is not supported (drop_softmax=False)")
            graph.dropped_softmax.append(node.name)
            if node.kind in ACTIVATION_TYPES:
                node.alias_of = node.inputs[0]
            else:
                node.activation = "linear"
    for name in graph.order:
        if nodes[name].activation == "softmax" and nodes[name].alias_of is None:
            raise TriggerHGQError(
                f"layer {name!r}: softmax is only supported on a model output (where it is dropped)"
            )
    # BatchNormalization folds
    for name in graph.order:
        node = nodes[name]
        if node.kind not in BATCHNORM_TYPES:
            continue
        src = nodes[graph.resolve(node.inputs[0])]
        readers = graph.readers()
        if (
            src.kind not in KERNEL_TYPES
            or src.batchnorm is not None
            or src.activation != "linear"
            or readers[src.name] != 1
        ):
            raise TriggerHGQError(
                f"layer {name!r} ({node.kind}): BatchNormalization is only supported right after a Dense/Conv layer "
                f"with a linear activation and no other reader (it is folded into it); it follows {src.name!r} "
                f"({src.kind})"
            )
        src.batchnorm = node.layer
        node.alias_of = src.name
    # activation fusion into the preceding dense/conv layer
    for name in graph.order:
        node = nodes[name]
        if node.kind not in ACTIVATION_TYPES or node.alias_of is not None:
            continue
        if node.activation == "linear":
            node.alias_of = node.inputs[0]
            continue
        src = nodes[graph.resolve(node.inputs[0])]
        if src.kind in KERNEL_TYPES and graph.readers()[src.name] == 1 and src.activation in PASSIVE_ACTIVATIONS:
            src.activation = _compose(src.activation, node.activation)
            node.alias_of = src.name
    return graph


def _compose(inner: str, outer: str | ActivationGrid) -> str | ActivationGrid:
    """``outer(inner(x))`` for inner in linear/relu."""
    if inner == "linear":
        return outer
    if outer == "relu":
        return "relu"
    # relu followed by a quantizer: the quantizer sees non-negative values only
    return ActivationGrid(f=outer.f, lo=max(outer.lo, 0.0), hi=outer.hi, relu=True)
