"""QKeras baselines from YAML: the architecture, uniform bit settings and the training settings.

A config (see ``pipelines/configs/baselines/``)::

    name: jet_tagger_6bit
    input_shape: [16]             # or [null, 7]: a null size (a particle count) is the data's
    layers:                       # dense | conv1d | conv2d | maxpool1d | maxpool2d | global_average_pooling
                                  # | interaction | mix_particles | flatten | dropout
      - {type: dense, units: 64, activation: relu}
      - {type: dense, units: 5, activation: softmax}
    quantization:                 # omit (or null) for a float Keras model
      bits: 6                     # weights and biases: quantized_bits(bits, integer, alpha=1)
      integer: 0                  # QKeras convention: integer bits without the sign bit
      activation_bits: 6          # relu: quantized_relu(activation_bits, activation_integer)
      activation_integer: 0
      input: {bits: 16, integer: 6}   # optional input quantizer: QActivation(quantized_bits(16, 6, alpha=1))
    training:                     # the fit (trigger_hgq.baselines.policy.TrainingPolicy)
      epochs: 300                 # the cap
      batch_size: 1024
      learning_rate: 0.003
      early_stopping_patience: 40 # on val_loss; the best epoch's weights are restored
      reduce_lr_on_plateau: {factor: 0.5, patience: 10, min_lr: 1.0e-5}
    pruning: {target_sparsity: 0.75, ...}   # optional: magnitude pruning (trigger_hgq.baselines.pruning)

Dense and convolution entries take ``activation`` (relu, linear; softmax on the last layer only) and
``batchnorm: true`` (a BatchNormalization between the linear operation and the activation). Dense entries also take
``use_bias``. On inputs ``(particles, features)`` a dense layer acts on each particle with shared weights;
``global_average_pooling`` is the mean over the particles (a Deep Sets aggregation: a power-of-two count keeps it
an exact shift in firmware, and dense layers without bias before it keep zero-padded particles at exactly zero).
``interaction`` (units, activation) is the linear-cost interaction network's node update and ``mix_particles``
(units: the output particle count, default the input's) an MLP-Mixer's dense across the particles
(:mod:`trigger_hgq.blocks`).
"""

from __future__ import annotations

import os

import keras
import numpy as np

from trigger_hgq.baselines.policy import POLICY_FIELDS, TrainingPolicy, TrainingRun
from trigger_hgq.config import check_config, config_source, load_yaml
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.schema import (
    Anything,
    Bool,
    Enum,
    Field,
    Float,
    Int,
    ListOf,
    MapOf,
    Nullable,
    Obj,
    OneOf,
    Str,
    Tagged,
    fail,
)

_SIZE = OneOf((Int(lo=1), ListOf(Int(lo=1), nonempty=True)), doc="a size >= 1 or a list of sizes")
_NAME = (Str(), False, "layer name")
_ACTIVATION = Field(Enum(("relu", "linear", "softmax")), doc="activation (softmax: last layer only)",
                    default="linear")
_CONV = {"type": (Str(), True), "filters": (Int(lo=1), True, "output channels"), "kernel_size": (_SIZE, True),
         "strides": (_SIZE, False), "padding": (Enum(("valid", "same")), False), "activation": _ACTIVATION,
         "batchnorm": (Bool(), False), "name": _NAME}
_POOL = {"type": (Str(), True), "pool_size": (_SIZE, False), "name": _NAME}
LAYER_SPEC = Tagged("type", {
    "dense": Obj({"type": (Str(), True), "units": (Int(lo=1), True, "output units"), "activation": _ACTIVATION,
                  "batchnorm": (Bool(), False), "use_bias": (Bool(), False, "default true"), "name": _NAME},
                 strict=True),
    "conv1d": Obj(_CONV, strict=True),
    "conv2d": Obj(_CONV, strict=True),
    "maxpool1d": Obj(_POOL, strict=True),
    "maxpool2d": Obj(_POOL, strict=True),
    "global_average_pooling": Obj({"type": (Str(), True), "name": _NAME}, strict=True),
    "interaction": Obj({"type": (Str(), True), "units": (Int(lo=1), True, "output features per particle"),
                        "activation": _ACTIVATION, "name": _NAME}, strict=True),
    "mix_particles": Obj({"type": (Str(), True),
                          "units": (Nullable(Int(lo=1)), False, "output particles (default: as many as come in)"),
                          "activation": _ACTIVATION, "name": _NAME}, strict=True),
    "flatten": Obj({"type": (Str(), True), "name": _NAME}, strict=True),
    "dropout": Obj({"type": (Str(), True), "rate": (Float(lo=0.0, hi=1.0), False), "name": _NAME}, strict=True),
})
"""One entry of ``layers``: its ``type`` picks the keys it may have."""

QUANTIZATION_SPEC = Obj({
    "bits": (Int(lo=2), True, "weight and bias bits"),
    "integer": (Int(lo=None), False, "integer bits without the sign bit"),
    "activation_bits": (Int(lo=2), False, "relu bits (default: bits)"),
    "activation_integer": (Int(lo=None), False),
    "input": (Nullable(Obj({"bits": (Int(lo=2), True), "integer": (Int(lo=None), False)}, strict=True)), False,
              "input quantizer"),
}, strict=True)

TRAINING_FIELDS: dict[str, Field] = {
    **POLICY_FIELDS,
    "validation_split": Field(Nullable(Float(lo=0.0, hi=1.0))),
}
"""The keys of a baseline config's ``training`` section: a new training setting is one entry here."""
TRAINING_SPEC = Obj(TRAINING_FIELDS, strict=True)

BASELINE_SPEC = Obj({
    "name": (Str(), False, "model name"),
    "description": (Str(nonempty=False), False),
    "input_shape": (ListOf(Nullable(Int(lo=1)), nonempty=True), True,
                    "the input shape without the batch axis (null: the data's size, e.g. the particle count)"),
    "layers": (ListOf(LAYER_SPEC, nonempty=True), True, "the layers, in order"),
    "quantization": (Nullable(QUANTIZATION_SPEC), False, "uniform bits (omit for a float Keras model)"),
    "training": (Nullable(TRAINING_SPEC), False, "training settings (the policy: baselines/policy.py)"),
    "pruning": (Nullable(MapOf(Anything(), key_doc="key")), False,
                "magnitude pruning to a target sparsity (its keys: baselines/pruning.py PRUNING_SPEC)"),
}, strict=True)
"""A baseline config (after ``base:`` files are merged under it)."""


def load_baseline_config(path: str | os.PathLike) -> dict:
    """Read and validate a baseline config (``base:`` files are merged under it)."""
    config = load_yaml(path)
    validate_baseline_config(config)
    return config


def validate_baseline_config(config: dict) -> None:
    """Check ``config`` against :data:`BASELINE_SPEC` (and softmax on the last layer only); the config is not
    changed."""
    checked = check_config(BASELINE_SPEC, config)
    layers = checked["layers"]
    for idx, entry in enumerate(layers[:-1]):
        if entry.get("activation") == "softmax":
            raise fail(config_source(config), f"layers[{idx}].activation", "softmax is only allowed on the last layer")
    TrainingPolicy.from_config(config)
    if config.get("pruning") is not None:
        from trigger_hgq.baselines.pruning import PruningSettings  # it builds on this module

        PruningSettings.from_config(config)



def _quantizers(config: dict):
    """Factories (fresh QKeras quantizer objects per layer) for (kernel/bias, relu, input), or Nones for a float
    model (and an input factory of None without an input quantizer)."""
    from qkeras import quantized_bits, quantized_relu

    quant = config.get("quantization")
    if quant is None:
        return None, None, None
    bits, integer = int(quant["bits"]), int(quant.get("integer", 0))
    abits = int(quant.get("activation_bits", bits))
    aint = int(quant.get("activation_integer", 0))
    inp = quant.get("input")

    def weights():
        return quantized_bits(bits, integer, alpha=1)

    def relu():
        return quantized_relu(abits, aint)

    def input_q():
        return quantized_bits(int(inp["bits"]), int(inp.get("integer", 0)), alpha=1)

    return weights, relu, input_q if inp else None


def input_shape_of(config: dict, data_shape: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The model input shape of a baseline config: its ``input_shape`` with null sizes taken from ``data_shape``
    (the data's shape without the batch axis), which must agree with the sizes the config fixes."""
    want = list(config["input_shape"])
    if data_shape is None:
        if None in want:
            raise fail(config_source(config), "input_shape", f"{want} has null sizes, which come from the data: "
                                                             "build the model with the data's input shape")
        return tuple(int(d) for d in want)
    data_shape = tuple(int(d) for d in data_shape)
    if len(want) != len(data_shape) or any(w is not None and int(w) != d
                                           for w, d in zip(want, data_shape, strict=True)):
        hint = " (inputs (particles, features) come with a pipeline config's n_particles)" \
            if len(want) != len(data_shape) else ""
        shown = "[" + ", ".join("null" if w is None else str(w) for w in want) + "]"
        raise fail(config_source(config), "input_shape", f"{shown} does not fit the data's input shape "
                                                         f"{list(data_shape)}{hint}")
    return data_shape


def check_input_fits(config: dict, data_shape: tuple[int, ...], particles_key: str = "the particle count") -> None:
    """Before anything trains: the config takes inputs of ``data_shape`` (:func:`input_shape_of`) and every
    ``global_average_pooling`` on the particle axis averages a power-of-two number of particles (``particles_key``
    names where that number is set, e.g. a pipeline config's ``n_particles``)."""
    shape = input_shape_of(config, data_shape)
    for idx, entry in enumerate(config["layers"]):
        if entry["type"] in ("flatten", "conv1d", "conv2d", "maxpool1d", "maxpool2d"):
            return  # the particle axis ends (or changes) here: the Keras build checks the rest
        if entry["type"] in ("global_average_pooling", "interaction") and len(shape) == 2 \
                and shape[0] & (shape[0] - 1):
            raise TriggerHGQError(
                f"{particles_key}: {shape[0]} is not a power of two, and {config_source(config)} takes a mean over "
                f"the particles (layers[{idx}], {entry['type']}): not an exact shift in firmware")
        if entry["type"] == "mix_particles" and len(shape) == 2 and entry.get("units"):
            shape = (int(entry["units"]), shape[1])


class KerasKit:
    """The float Keras / QKeras layers of a baseline (a :class:`trigger_hgq.blocks.LayerKit`): quantized when the
    config has ``quantization`` (``weights_q`` and ``relu_q`` make fresh QKeras quantizers)."""

    def __init__(self, weights_q=None, relu_q=None):
        self.weights_q, self.relu_q = weights_q, relu_q

    def activation(self, x, activation: str, name: str):
        from qkeras import QActivation

        if activation == "relu":
            return QActivation(self.relu_q(), name=f"{name}_relu")(x) if self.weights_q else \
                keras.layers.Activation("relu", name=f"{name}_relu")(x)
        if activation == "softmax":
            return keras.layers.Activation("softmax", name=f"{name}_softmax")(x)
        return x

    def qargs(self, use_bias: bool = True) -> dict:
        if self.weights_q is None:
            return {} if use_bias else {"use_bias": False}
        return {"kernel_quantizer": self.weights_q(), **({"bias_quantizer": self.weights_q()} if use_bias
                                                         else {"use_bias": False})}

    def dense(self, x, units: int, activation: str, use_bias: bool, name: str, batchnorm: bool = False):
        from qkeras import QDense

        cls = QDense if self.weights_q else keras.layers.Dense
        x = cls(int(units), name=name, **self.qargs(use_bias))(x)
        if batchnorm:
            x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
        return self.activation(x, activation, name)

    def mean(self, x, name: str):
        steps = int(x.shape[1])
        if steps & (steps - 1):
            raise TriggerHGQError(f"layer {name!r}: a mean over {steps} particles: not a power of two (not an "
                                  "exact shift in firmware)")
        return keras.layers.GlobalAveragePooling1D(name=name)(x)

    def add(self, inputs: list, activation: str, name: str, particles: bool):
        return self.activation(keras.layers.Add(name=name)(list(inputs)), activation, name)

    def reshape(self, x, shape, name: str):
        return keras.layers.Reshape(tuple(shape), name=name)(x)

    def concatenate(self, inputs: list, axis: int, name: str):
        return keras.layers.Concatenate(axis=axis, name=name)(list(inputs))

    def permute(self, x, dims, name: str):
        return keras.layers.Permute(tuple(dims), name=name)(x)


def build_qkeras_model(config: dict, input_shape: tuple[int, ...] | None = None) -> keras.Model:
    """The (uncompiled) QKeras model of a baseline config; a float Keras model when it has no ``quantization``.

    ``input_shape`` (the data's, without the batch axis) fills the config's null sizes (:func:`input_shape_of`).
    """
    from qkeras import QActivation, QConv1D, QConv2D

    from trigger_hgq.blocks import PARTICLE_ENTRIES, particle_entry

    validate_baseline_config(config)
    weights_q, relu_q, input_q = _quantizers(config)
    quantized = weights_q is not None
    kit = KerasKit(weights_q, relu_q)
    inp = keras.Input(input_shape_of(config, input_shape), name="inputs")
    x = QActivation(input_q(), name="input_quantizer")(inp) if input_q is not None else inp
    layers = config["layers"]
    for idx, entry in enumerate(layers):
        kind = entry["type"]
        name = entry.get("name") or ("output" if idx == len(layers) - 1 and kind == "dense" else f"{kind}_{idx}")
        where = f"{config_source(config)}: layers[{idx}]"
        activation = entry.get("activation", "linear")
        if kind == "dense":
            x = kit.dense(x, int(entry["units"]), activation, bool(entry.get("use_bias", True)), name,
                          bool(entry.get("batchnorm")))
        elif kind in ("conv1d", "conv2d"):
            cls = {"conv1d": (keras.layers.Conv1D, QConv1D), "conv2d": (keras.layers.Conv2D, QConv2D)}[kind]
            x = cls[int(quantized)](
                int(entry["filters"]), entry["kernel_size"], strides=entry.get("strides", 1),
                padding=entry.get("padding", "valid"), name=name, **kit.qargs(),
            )(x)
            if entry.get("batchnorm"):
                x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
            x = kit.activation(x, activation, name)
        elif kind in ("maxpool1d", "maxpool2d"):
            cls = keras.layers.MaxPooling1D if kind == "maxpool1d" else keras.layers.MaxPooling2D
            x = cls(entry.get("pool_size", 2), name=name)(x)
        elif kind in PARTICLE_ENTRIES:
            if len(x.shape) != 3:
                raise fail(config_source(config), f"layers[{idx}]", f"{kind} needs inputs (particles, features), "
                                                                    f"got {tuple(x.shape[1:])}")
            try:
                x = particle_entry(kit, x, entry, name)
            except TriggerHGQError as err:
                raise TriggerHGQError(f"{where}: {err}") from None
        elif kind == "flatten":
            x = keras.layers.Flatten(name=name)(x)
        else:
            x = keras.layers.Dropout(float(entry.get("rate", 0.1)), name=name)(x)
    return keras.Model(inp, x, name=str(config.get("name", "baseline")))


def loss_for(y: np.ndarray, from_logits: bool = False) -> keras.losses.Loss:
    """Sparse or one-hot categorical cross-entropy, following the label array's shape."""
    if np.ndim(y) == 1:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    return keras.losses.CategoricalCrossentropy(from_logits=from_logits)


def compile_baseline(model: keras.Model, config: dict, y: np.ndarray,
                     policy: TrainingPolicy | None = None) -> keras.Model:
    """Compile with a fresh Adam at the policy's (default: the config's) learning rate, the cross-entropy of the
    labels' form (:func:`loss_for`) and the accuracy metric."""
    lr = (policy or TrainingPolicy.from_config(config)).learning_rate
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss_for(y), metrics=["accuracy"])
    return model


def train_baseline(model: keras.Model, config: dict, x_train, y_train, x_val, y_val, verbose: int = 0,
                   callbacks: list | None = None, policy: TrainingPolicy | None = None) -> TrainingRun:
    """Compile and fit ``model`` under ``policy`` (default: the config's ``training``): learning-rate plateau
    schedule, early stopping on val_loss, the best epoch's weights restored. Extra Keras ``callbacks`` (e.g. a
    progress bar) run before the policy's, each epoch."""
    policy = policy or TrainingPolicy.from_config(config)
    compile_baseline(model, config, y_train, policy)
    extra, best = policy.callbacks()
    history = model.fit(
        x_train, y_train, validation_data=(x_val, y_val), epochs=policy.epochs, batch_size=policy.batch_size,
        callbacks=[*(callbacks or []), *extra], verbose=verbose,
    )
    return TrainingRun.of({k: [float(v) for v in vals] for k, vals in history.history.items()}, best)


def baseline_from_yaml(path: str | os.PathLike) -> tuple[keras.Model, dict]:
    """Read a baseline config and build its model: ``(model, config)``."""
    config = load_baseline_config(path)
    return build_qkeras_model(config), config


def quantizer_specs(model: keras.Model) -> dict[str, dict]:
    """Per QKeras layer: its quantizers as QKeras writes them (``kernel``, ``bias``, ``activation``: a QDense /
    QConv activation quantizer or a QActivation's quantizer) and its width (units / filters)."""
    out = {}
    for layer in model.layers:
        kernel = getattr(layer, "kernel_quantizer_internal", None)
        if type(layer).__name__ == "QActivation":
            act = layer.activation
        else:
            act = getattr(layer, "activation", None) if kernel is not None else None
            act = act if act is not None and hasattr(act, "bits") else None  # a quantizer, not a Keras function
        if kernel is None and act is None:
            continue
        bias = getattr(layer, "bias_quantizer_internal", None)
        width = getattr(layer, "units", None) or getattr(layer, "filters", None)
        out[layer.name] = {"kernel": str(kernel) if kernel is not None else None,
                           "bias": str(bias) if bias is not None else None,
                           "activation": str(act) if act is not None else None,
                           "units": int(width) if width else None}
    return out
