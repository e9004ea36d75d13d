"""``from_qkeras``: a QKeras (or float Keras) model -> the equivalent learnable-bit trigger-hgq model."""

from __future__ import annotations

import logging

import keras
import numpy as np

from trigger_hgq.convert.graph import Graph, build_graph, plan
from trigger_hgq.convert.layers import LAYER_MAP, Bounds, Options, convert_input
from trigger_hgq.convert.quantizers import ActivationGrid
from trigger_hgq.errors import TriggerHGQError

log = logging.getLogger(__name__)
DEFAULT_INPUT_F = 10  # with the default input range: ap_fixed<16,6>, hls4ml's default type of a model input


def _input_grid(graph: Graph, name: str) -> ActivationGrid | None:
    """The grid of a QKeras input quantizer (a non-relu QActivation that is the input's only reader)."""
    readers = [n for n in graph.order if graph.nodes[n].alias_of is None and name in graph.nodes[n].inputs]
    if len(readers) != 1 or name in graph.outputs:
        return None
    node = graph.nodes[readers[0]]
    if node.kind == "QActivation" and isinstance(node.activation, ActivationGrid) and not node.activation.relu:
        node.alias_of = name
        return node.activation
    return None


def from_qkeras(
    model: keras.Model,
    *,
    input_quantizer: dict | None = None,
    input_range: tuple[float, float] | None = None,
    float_weight_f: int = 8,
    float_activation_f: int = 8,
    quantizer: dict | None = None,
    beta: float = 0.0,
    keep_batchnorm: bool = False,
    drop_softmax: bool = True,
    rounding: str | None = None,
    name: str | None = None,
) -> keras.Model:
    """Convert a Sequential or functional QKeras / Keras model into a trigger-hgq model with the same weights.

    Layers: QDense/Dense -> HDense, QConv1D/2D/Conv1D/2D -> HConv1D/2D, QActivation/Activation/ReLU -> fused
    into the preceding dense/conv layer's output quantizer when it is that layer's only reader, else HActivation;
    (Q)BatchNormalization -> folded into the preceding dense/conv layer (its kernel and bias, or kept trainable
    inside an H*BatchNorm layer with ``keep_batchnorm=True``; the folded weights lie on no QKeras grid and start
    with ``float_weight_f`` fractional bits, an approximation); Max/AveragePooling, Flatten, Reshape, Dropout,
    Add -> their trigger-hgq variants. A softmax producing a model output is dropped: the converted model outputs
    logits (bit-exact firmware has no softmax; the argmax of the logits is the predicted class).

    Bits: every QKeras quantizer maps exactly (see :mod:`trigger_hgq.convert.quantizers`), so before any training
    the converted model computes on QKeras' fixed-point grid; output quantizers without a QKeras counterpart are
    transparent (wide enough to hold the exact result). Float weights start with ``float_weight_f`` fractional
    bits and the outputs of float layers with ``float_activation_f``. Every activation range is fixed from
    interval bounds (QKeras' clipping included); training with :class:`trigger_hgq.ResetRanges` or
    :func:`trigger_hgq.calibration` replaces them by the ranges the data needs (and so lifts QKeras' clipping).

    Args:
        model: the source model (QKeras layers need ``qkeras`` importable; not nested models).
        input_quantizer: :class:`QuantizerConfig` keys of the inserted input quantizer (HQuantize; default
            ``init_f=10``, saturating). Not used when the model starts with a QKeras ``quantized_bits``
            QActivation, which becomes the input quantizer.
        input_range: the input values the model expects (the input quantizer's integer bits cover it). The
            default, with ``init_f=10``, makes the input ``ap_fixed<16,6>``, the type hls4ml gives a model input
            by default. The chosen input types are logged and kept in ``converted.input_types``.
        float_weight_f, float_activation_f: starting fractional bits for float weights / float layer outputs.
        quantizer: :class:`QuantizerConfig` defaults for every quantizer (e.g. ``lr_scale``, ``granularity``).
        beta: starting EBOPs penalty weight of every layer.
        keep_batchnorm: keep BatchNormalization trainable (H*BatchNorm layers) instead of folding it.
        drop_softmax: drop an output softmax (else a softmax is an error).
        rounding: force one rounding mode on every quantizer, e.g. ``"RND"`` (round half up, HGQ's own, which
            the RTL route supports) before HGQ training; the default keeps QKeras' round-half-even so that the
            converted model reproduces the QKeras model exactly.
        name: name of the converted model (default: the source name + ``_hgq``).

    Raises:
        TriggerHGQError: naming the layer and the quantizer or layer type that cannot be converted.
    """
    input_range = Options.input_range if input_range is None else input_range
    opts = Options(
        input_quantizer={"init_f": DEFAULT_INPUT_F, **(input_quantizer or {})},
        input_range=(float(input_range[0]), float(input_range[1])),
        float_weight_f=int(float_weight_f),
        float_activation_f=int(float_activation_f),
        quantizer=dict(quantizer or {}),
        beta=float(beta),
        keep_batchnorm=bool(keep_batchnorm),
        rounding=rounding,
    )
    if not (np.isfinite(opts.input_range).all() and opts.input_range[0] < opts.input_range[1]):
        raise TriggerHGQError(f"input_range {input_range}: expected finite numbers, the low end below the high end")
    graph = plan(build_graph(model), drop_softmax=drop_softmax)
    for node_name in graph.order:
        node = graph.nodes[node_name]
        if node.layer is not None and node.alias_of is None and node.kind not in LAYER_MAP:
            raise TriggerHGQError(
                f"layer {node_name!r}: layer type {node.kind} is not supported by from_qkeras (supported: "
                f"{', '.join(sorted(LAYER_MAP))}, and (Q)BatchNormalization after a dense/conv layer)"
            )
    return _build(graph, opts, name or f"{model.name}_hgq")


def _feeds_per_particle(graph: Graph, name: str) -> bool:
    """The input ``name`` is ``(particles, features)`` and its first layer past the input quantizer (and its
    aliases) is a dense layer: a per-particle input, whose quantizer then shares its bits over the particles."""
    node = graph.nodes[name]
    if node.shape is None or len(node.shape) != 2:
        return False
    names = {name}
    for other in graph.order:  # the input's aliases (a folded input quantizer), then its first real reader
        n = graph.nodes[other]
        if n.layer is not None and set(n.inputs) & names:
            if n.alias_of is not None:
                names.add(other)
                continue
            return n.kind in ("Dense", "QDense")
    return False


def _build(graph: Graph, opts: Options, name: str) -> keras.Model:
    tensors: dict[str, keras.KerasTensor] = {}
    bounds: dict[str, Bounds] = {}
    inputs = []
    for node_name in graph.order:
        node = graph.nodes[node_name]
        if node.layer is None:
            grid = _input_grid(graph, node_name)
            inp, tensors[node_name], bounds[node_name] = convert_input(node_name, node.shape, grid, opts,
                                                                       _feeds_per_particle(graph, node_name))
            inputs.append(inp)
            continue
        if node.alias_of is not None:
            continue
        sources = [graph.resolve(src) for src in node.inputs]
        tensors[node_name], bounds[node_name] = LAYER_MAP[node.kind](
            node, [tensors[s] for s in sources], [bounds[s] for s in sources], opts
        )
    outputs = [tensors[graph.resolve(out)] for out in graph.outputs]
    if graph.dropped_softmax:
        log.info("from_qkeras: dropped the output softmax of %s; the converted model outputs logits",
                 ", ".join(graph.dropped_softmax))
    converted = keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                            name=name)
    converted.dropped_softmax = list(graph.dropped_softmax)
    converted.input_types = dict(opts.chosen_inputs)
    for inp, text in converted.input_types.items():
        log.info("from_qkeras: input %r: %s", inp, text)
    return converted
