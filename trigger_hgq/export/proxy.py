"""The proxy model: a plain Keras model that hls4ml 1.3.0 converts with per-element fixed-point precision.

Its quantizers are :class:`FixedPointQuantizer` layers carrying three integer weights of shape
``(1, *element_shape)``: ``keep_negative`` (sign bit k), ``bits`` (width ``b = k + i + f``) and ``integers`` (the
ap_fixed ``I = k + i``, sign included), and the settings ``RND``, ``SAT``, ``fusible`` and ``overrides``.
:mod:`trigger_hgq.export.handlers` registers a handler for this layer in hls4ml's Keras 3 frontend, which emits
hls4ml's ``FixedPointQuantizer`` layer (``mask_kbi``: the per-element ``(k, B, I)``). hls4ml's bit-exact flow
(``model/optimizer/passes/bit_exact.py``) then derives every accumulator and result precision from these masks
and from the (already quantized) float weights of the compute layers in between, and each quantizer becomes one
``ap_fixed<b, I, AP_<RND>, AP_<SAT>>`` cast per element (``backends/fpga/passes/hgq_proxy_model.py``).

:func:`to_proxy` rebuilds a calibrated trigger-hgq model in that form: each compute layer becomes the plain Keras
layers it names itself (:meth:`~trigger_hgq.layers.HLayer.proxy_ops`: Dense, Conv1D/2D, Add, pooling, Activation
relu, with its exact quantized, BatchNorm-folded weights), followed, for a layer with an output quantizer
(:class:`~trigger_hgq.layers.HQuantizedLayer`), by a :class:`FixedPointQuantizer` holding the per-element
(k, b, I) of that quantizer.
Evaluated in Keras, the proxy model gives the same outputs as the trigger-hgq model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.graph import model_graph
from trigger_hgq.layers import HLayer, HQuantize, HQuantizedLayer
from trigger_hgq.quantizer import FixedQuantizer, apply_overflow, round_grid


class FixedPointQuantizer(keras.layers.Layer):
    """Per-element ``ap_fixed<bits, integers>`` cast (see the module docstring).

    Args:
        keep_negative, bits, integers: arrays of the element shape (or ``(1, *shape)``): sign bit, total bits and
            integer bits including the sign. ``bits == 0`` makes the element constant zero.
        RND: rounding mode (``RND``, ``RND_CONV`` or ``TRN``); SAT: overflow mode (``WRAP`` or ``SAT``).
        fusible: every element has the same precision (hls4ml may fold the cast into the layer before).
        overrides: per-layer hls4ml settings carried by the proxy model (hls4ml's ``overrides`` key).
    """

    def __init__(self, keep_negative=None, bits=None, integers=None, RND: str = "TRN", SAT: str = "WRAP",
                 fusible: bool = False, overrides: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.RND, self.SAT = RND, SAT
        self.fusible = bool(fusible)
        self.overrides = dict(overrides or {})
        self._init_kbi = None
        if keep_negative is not None:
            self._init_kbi = [np.asarray(a, np.int32) for a in (keep_negative, bits, integers)]

    def build(self, input_shape):
        shape = (1, *(int(d) for d in tuple(input_shape)[1:]))
        init = self._init_kbi or [np.zeros(shape, np.int32)] * 3
        # Integer variables: hls4ml formats their values into the C++ type names (ap_fixed<b, I>).
        self.keep_negative, self.bits, self.integers = (
            self.add_weight(name=name, shape=shape, dtype="int32", trainable=False,
                            initializer=keras.initializers.Constant(np.broadcast_to(value.reshape(shape), shape)))
            for name, value in zip(("keep_negative", "bits", "integers"), init, strict=True)
        )
        super().build(input_shape)

    def call(self, x):
        k, b, big_i = (ops.cast(w, x.dtype) for w in (self.keep_negative, self.bits, self.integers))
        f = b - big_i
        scale = ops.power(2.0, f)
        xq = round_grid(x * scale, self.RND) / scale
        return apply_overflow(xq, k, big_i - k, f, self.SAT)

    def kbi(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keep_negative, bits, integers) as int arrays of the element shape."""
        return tuple(np.asarray(ops.convert_to_numpy(w)[0], np.int64)
                     for w in (self.keep_negative, self.bits, self.integers))

    def get_config(self):
        return {**super().get_config(), "RND": self.RND, "SAT": self.SAT, "fusible": self.fusible,
                "overrides": self.overrides}


@dataclass
class Proxy:
    """The proxy model and where each of its layers comes from.

    Attributes:
        model: the Keras proxy model (hls4ml input).
        source: proxy layer name -> name of the trigger-hgq layer it implements.
        quantizers: proxy quantizer layer name -> the trigger-hgq layer whose output it is.
    """

    model: keras.Model
    source: dict[str, str] = field(default_factory=dict)
    quantizers: dict[str, str] = field(default_factory=dict)


def quantizer_kbi(q: FixedQuantizer) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-element (keep_negative, bits, integers) of a calibrated activation quantizer (zeros where b = 0)."""
    k, i, f = q.kif_numpy()
    return k, k + i + f, k + i


def fixed_point_quantizer(q: FixedQuantizer, name: str) -> FixedPointQuantizer:
    """A proxy quantizer layer equal to the activation quantizer ``q`` in inference."""
    k, b, big_i = quantizer_kbi(q)
    fusible = all(np.unique(a).size == 1 for a in (k, b, big_i))
    return FixedPointQuantizer(k[None], b[None], big_i[None], RND=q.config.rounding, SAT=q.config.overflow,
                               fusible=fusible, name=name)


def to_proxy(model: keras.Model) -> Proxy:
    """Build the hls4ml proxy model of a calibrated trigger-hgq ``model`` (see the module docstring)."""
    graph = model_graph(model)
    built: dict[str, keras.KerasTensor] = {}
    inputs = []
    for name in graph.inputs:
        inp = keras.Input(shape=tuple(graph.nodes[name].layer.output.shape[1:]), name=name)
        built[name] = inp
        inputs.append(inp)
    proxy = Proxy(model=None)
    for name, node in graph.nodes.items():
        layer = node.layer
        if name in graph.inputs:
            continue
        if not isinstance(layer, HLayer):
            raise TriggerHGQError(
                f"layer {layer.name!r} ({type(layer).__name__}) is not a trigger-hgq layer: an HGQ model for export "
                "must be built from trigger-hgq layers only"
            )
        if not isinstance(layer, HQuantize) and any(src in graph.inputs for src in node.inputs):
            raise TriggerHGQError(
                f"layer {layer.name!r} reads the model input unquantized: put an HQuantize layer after the input"
            )
        x = [built[src] for src in node.inputs]
        y = x if len(x) > 1 else x[0]
        for op in layer.proxy_ops():
            y = op(y)
            if hasattr(op, "trigger_hgq_weights"):
                op.set_weights(op.trigger_hgq_weights)
                del op.trigger_hgq_weights
            proxy.source[op.name] = layer.name
        if isinstance(layer, HQuantizedLayer):
            fpq = fixed_point_quantizer(layer.oq, layer.name)
            y = fpq(y)
            proxy.source[fpq.name] = layer.name
            proxy.quantizers[fpq.name] = layer.name
        built[name] = y
    outputs = [built[name] for name in graph.outputs]
    proxy.model = keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                              name=f"{model.name}_proxy")
    return proxy
