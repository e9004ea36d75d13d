"""Base classes of the learnable-bit layers: bit bookkeeping through the graph and the resource penalty.

Each trigger-hgq layer knows the bits of its output elements (:meth:`HLayer.output_bits`); a layer that
multiplies finds the bits of its input elements by asking the layer that feeds it, and computes its own EBOPs.
While training, a quantizing layer adds ``beta * EBOPs (+ l1_bits * sum of its bits)`` to the model loss.

A quantizing layer (:class:`HQuantizedLayer`) writes only its own part: ``build_weights`` (its variables),
``compute_output_shape``, ``forward`` (the computation before the output quantizer) and, if it multiplies,
``ebops_tensor``. The base builds the output quantizer and the penalty weight after ``build_weights`` and wraps
``forward`` with the output quantizer and the penalty, so no layer can forget them.

Every layer also says how it is built in firmware, without importing hls4ml or da4ml: :meth:`HLayer.proxy_ops`
(the plain Keras layers of the hls4ml proxy model, :mod:`trigger_hgq.export.proxy`) and :meth:`HLayer.trace`
(its dataflow on arrays of da4ml variables, through the operations object that :mod:`trigger_hgq.export.rtl.trace`
passes in).

A layer learns which layers feed it when it is called on the outputs of other trigger-hgq layers while a model is
built (symbolic call), and from the model graph: :func:`connect` (idempotent, called by ``compile_for_hgq``,
``ebops``, ``calibrate`` and the exporters) gives every trigger-hgq layer of a model its producer layers.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
from keras import ops

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.layers.registry import add_layer_class
from trigger_hgq.quantizer import UNPRICED_F_MAX, FixedQuantizer, QuantizerConfig

SERIALIZE_PACKAGE = "trigger_hgq"


def register(cls):
    """Register a layer class: Keras (de)serialization under the ``trigger_hgq`` package, and the layer list
    (:mod:`trigger_hgq.layers.registry`; a second class of the same name is an error)."""
    add_layer_class(cls)
    return keras.saving.register_keras_serializable(package=SERIALIZE_PACKAGE)(cls)


class Producers:
    """The layers feeding an :class:`HLayer` in its model (a plain holder: Keras does not track what it holds, so
    the producers are not sublayers of the layer and their weights are not its weights)."""

    __slots__ = ("layers",)

    def __init__(self, layers: list[keras.layers.Layer]):
        self.layers = list(layers)


_PRODUCED_BY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # symbolic output -> its trigger-hgq layer


def _symbolic(value) -> list:
    return [t for t in keras.tree.flatten(value) if isinstance(t, keras.KerasTensor)]


def connect(model: keras.Model) -> keras.Model:
    """Give every trigger-hgq layer of ``model`` (nested models included) its producer layers, read from
    :func:`trigger_hgq.graph.model_graph`. Idempotent; a layer connected in another model is re-connected."""
    from trigger_hgq.graph import model_graph

    graph = model_graph(model)
    for name, node in graph.nodes.items():
        layer = node.layer
        if isinstance(layer, HLayer):
            layer.producers_holder = Producers(graph.producers(name))
        elif isinstance(layer, keras.Model):
            connect(layer)
    return model


def producer_layers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """The layers whose outputs feed ``layer`` (set by :func:`connect`)."""
    holder = getattr(layer, "producers_holder", None)
    if holder is None:
        raise TriggerHGQError(
            f"layer {layer.name!r} ({type(layer).__name__}): not connected to its model, its input bits are "
            "unknown: call trigger_hgq.compile_for_hgq(model, ...) or trigger_hgq.layers.base.connect(model) first"
        )
    return list(holder.layers)


def bits_of(layer: keras.layers.Layer):
    """Differentiable bits of each output element of ``layer`` (no batch axis)."""
    if isinstance(layer, HLayer):
        return layer.output_bits()
    raise TriggerHGQError(
        f"layer {layer.name!r} ({type(layer).__name__}) feeds a trigger-hgq layer but its output is not quantized: "
        "start the model with HQuantize and use trigger-hgq layers throughout"
    )


class HLayer(keras.layers.Layer):
    """Base of every trigger-hgq layer. Subclasses define :meth:`output_bits`; those that multiply, EBOPs."""

    has_ebops = False  # True for layers that multiply (and so cost EBOPs)
    producers_holder: Producers | None = None  # set by connect()

    def __call__(self, *args, **kwargs):
        """Call the layer; on symbolic inputs that trigger-hgq layers produced, also remember those producers
        (:func:`connect` sets them from the whole model graph in any case)."""
        outputs = super().__call__(*args, **kwargs)
        first = args[0] if args else next(iter(kwargs.values()), None)
        sources, produced = _symbolic(first), _symbolic(outputs)
        if produced:
            for t in produced:
                _PRODUCED_BY[t] = self
            if sources and all(t in _PRODUCED_BY for t in sources):
                self.producers_holder = Producers([_PRODUCED_BY[t] for t in sources])
        return outputs

    def input_bits(self):
        """Bits of the input elements (a list for multi-input layers)."""
        bits = [bits_of(layer) for layer in producer_layers(self)]
        return bits if len(bits) > 1 else bits[0]

    def output_bits(self):
        raise NotImplementedError

    def ebops_tensor(self):
        """Differentiable effective bit operations of this layer, float32 (0 when it does no multiplication)."""
        return ops.convert_to_tensor(0.0)

    def ebops_exact(self) -> float:
        """Effective bit operations from the current variables, summed in float64 (0 without multiplication)."""
        return 0.0

    def quantizers(self) -> list[FixedQuantizer]:
        return []

    # ---------------------------------------------------------------------------------- firmware forms
    def proxy_ops(self) -> list[keras.layers.Layer]:
        """Plain Keras layers computing this layer in the hls4ml proxy model, without its output quantizer."""
        raise TriggerHGQError(
            f"layer {self.name!r} ({type(self).__name__}) has no firmware mapping for hls4ml export"
        )

    def trace(self, inputs: list[np.ndarray], ops) -> np.ndarray:
        """This layer's dataflow on object arrays of da4ml variables (one array per input, no batch axis),
        before its output quantizer. ``ops`` (:class:`trigger_hgq.export.rtl.trace.TraceOps`) does the operations
        that need da4ml itself: ``matmul``, ``relu``, ``patches``, ``pool``."""
        raise TriggerHGQError(
            f"layer {self.name!r} ({type(self).__name__}): no RTL form for this layer "
            "(supported: trigger-hgq layers only)"
        )


class HQuantizedLayer(HLayer):
    """A layer that quantizes its output with its own activation quantizer ``oq`` and carries ``beta``.

    Args:
        output_quantizer: :class:`QuantizerConfig` or dict for the output (activation) quantizer.
        beta: starting weight of the EBOPs penalty (set per epoch by :class:`BetaScheduler`).
        l1_bits: weight of an L1 penalty on the bits of this layer's quantizers.
        per_particle: on outputs ``(particles, features)``, one width and one range per feature, shared by every
            particle: the layer then treats the particles alike, so a sum or mean over them does not depend on
            their order (Deep Sets). None: the layer's default (:meth:`particle_default`).
    """

    default_overflow = "WRAP"

    def __init__(self, output_quantizer=None, beta: float = 0.0, l1_bits: float = 0.0,
                 per_particle: bool | None = None, **kwargs):
        super().__init__(**kwargs)
        self.per_particle = None if per_particle is None else bool(per_particle)
        self.output_quantizer = QuantizerConfig.from_any(
            output_quantizer, f"layer {self.name!r} output_quantizer", overflow=self.default_overflow,
            f_max=UNPRICED_F_MAX,
        )
        self.init_beta = float(beta)
        self.l1_bits = float(l1_bits)
        self.oq = FixedQuantizer(self, "out", self.output_quantizer, is_weight=False)

    # ---------------------------------------------------------------------------------- subclass hooks
    def build_weights(self, input_shape) -> None:
        """Create the layer's own variables (before the output quantizer's); none by default."""

    def compute_output_shape(self, input_shape):
        return input_shape

    def particle_default(self, input_shape) -> bool:
        """Whether bits are shared over the particle axis when ``per_particle`` is not given: no by default."""
        return False

    def forward(self, inputs, training=None):
        """The computation before the output quantizer."""
        raise NotImplementedError

    # ---------------------------------------------------------------------------------- build / call
    def build(self, input_shape):
        """Own variables, then the output quantizer's, then ``beta`` (the order saved checkpoints hold)."""
        self.build_weights(input_shape)
        out_shape = tuple(self.compute_output_shape(input_shape))[1:]
        shared = self.particle_default(input_shape) if self.per_particle is None else self.per_particle
        if shared and len(out_shape) != 2:
            raise TriggerHGQError(f"layer {self.name!r}: per_particle needs outputs (particles, features), got "
                                  f"{out_shape}")
        self.oq.build(out_shape, shared_axes=(0,) if shared else ())
        self.build_penalty()
        super().build(input_shape)

    def call(self, inputs, training=None):
        y = self.oq(self.forward(inputs, training), training)
        self.add_penalty(training)
        return y

    def build_penalty(self) -> None:
        self.beta = self.add_weight(
            name="beta", shape=(), initializer=keras.initializers.Constant(self.init_beta), trainable=False
        )

    def output_bits(self):
        return self.oq.bits()

    def quantizers(self) -> list[FixedQuantizer]:
        return [self.oq]

    def weight_bits(self) -> list:
        """Differentiable bits of this layer's own quantized tensors (for the L1 penalty)."""
        return [self.oq.bits()]

    def add_penalty(self, training) -> None:
        """Add ``beta * EBOPs + l1_bits * sum(bits)`` to the losses (training only)."""
        if not training:
            return
        loss = self.beta * self.ebops_tensor()
        if self.l1_bits:
            loss = loss + self.l1_bits * sum(ops.sum(b) for b in self.weight_bits())
        self.add_loss(loss)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            output_quantizer=self.output_quantizer.to_dict(),
            beta=self.init_beta,
            l1_bits=self.l1_bits,
            per_particle=self.per_particle,
        )
        return config


def activation_fn(name: str, layer_name: str):
    """The activations whose firmware is exact without lookup tables: ``linear`` and ``relu``."""
    if name in (None, "linear"):
        return lambda x: x
    if name == "relu":
        return ops.relu
    raise TriggerHGQError(
        f"layer {layer_name!r}: activation {name!r} is not supported (bit-exact firmware needs 'linear' or 'relu')"
    )
