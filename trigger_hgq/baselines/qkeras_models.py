"""QKeras baselines from YAML: the architecture, uniform bit settings and the training settings.

A config (see ``pipelines/configs/baselines/``)::

    name: jet_tagger_6bit
    input_shape: [16]
    layers:                       # dense | conv1d | conv2d | maxpool1d | maxpool2d | flatten | dropout
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
``batchnorm: true`` (a BatchNormalization between the linear operation and the activation).
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from trigger_hgq.baselines.policy import TrainingPolicy, TrainingRun
from trigger_hgq.config import check_keys, get_number, load_yaml, where
from trigger_hgq.errors import TriggerHGQError

LAYER_KEYS = {
    "dense": {"type", "units", "activation", "batchnorm", "name"},
    "conv1d": {"type", "filters", "kernel_size", "strides", "padding", "activation", "batchnorm", "name"},
    "conv2d": {"type", "filters", "kernel_size", "strides", "padding", "activation", "batchnorm", "name"},
    "maxpool1d": {"type", "pool_size", "name"},
    "maxpool2d": {"type", "pool_size", "name"},
    "flatten": {"type", "name"},
    "dropout": {"type", "rate", "name"},
}
TOP_KEYS = {"name", "input_shape", "layers", "quantization", "training", "pruning", "description"}
QUANT_KEYS = {"bits", "integer", "activation_bits", "activation_integer", "input"}
TRAIN_KEYS = {"epochs", "batch_size", "learning_rate", "early_stopping_patience", "validation_split",
              "restore_best_weights", "reduce_lr_on_plateau"}


def load_baseline_config(path: str | os.PathLike) -> dict:
    """Read and validate a baseline config (``base:`` files are merged under it)."""
    config = load_yaml(path)
    validate_baseline_config(config)
    return config


def validate_baseline_config(config: dict) -> None:
    check_keys(config, TOP_KEYS, config, "")
    if not config.get("input_shape"):
        raise TriggerHGQError(f"{where(config, 'input_shape')}: missing")
    layers = config.get("layers")
    if not isinstance(layers, list) or not layers:
        raise TriggerHGQError(f"{where(config, 'layers')}: expected a non-empty list of layers")
    for idx, entry in enumerate(layers):
        prefix = f"layers[{idx}]"
        if not isinstance(entry, dict) or entry.get("type") not in LAYER_KEYS:
            raise TriggerHGQError(f"{where(config, prefix + '.type')}: expected one of {sorted(LAYER_KEYS)}")
        check_keys(entry, LAYER_KEYS[entry["type"]], config, prefix)
        act = entry.get("activation", "linear")
        if act not in ("relu", "linear", "softmax"):
            raise TriggerHGQError(f"{where(config, prefix + '.activation')}: {act!r}, expected relu, linear, softmax")
        if act == "softmax" and idx != len(layers) - 1:
            raise TriggerHGQError(f"{where(config, prefix + '.activation')}: softmax is only allowed on the last layer")
    quant = config.get("quantization")
    if quant is not None:
        check_keys(quant, QUANT_KEYS, config, "quantization")
        for key in ("bits", "activation_bits"):
            get_number(quant, key, quant.get("bits"), config, "quantization", int, 2)
        for key in ("integer", "activation_integer"):
            get_number(quant, key, 0, config, "quantization", int)
        if quant.get("input") is not None:
            check_keys(quant["input"], {"bits", "integer"}, config, "quantization.input")
            get_number(quant["input"], "bits", None, config, "quantization.input", int, 2)
    check_keys(config.get("training", {}) or {}, TRAIN_KEYS, config, "training")
    TrainingPolicy.from_config(config)
    if config.get("pruning") is not None:
        from trigger_hgq.baselines.pruning import PruningSettings  # it builds on this module

        PruningSettings.from_config(config)


def _quantizers(config: dict):
    """(kernel/bias quantizer, relu quantizer, input quantizer) as QKeras objects, or Nones for a float model."""
    from qkeras import quantized_bits, quantized_relu

    quant = config.get("quantization")
    if quant is None:
        return None, None, None
    bits, integer = int(quant["bits"]), int(quant.get("integer", 0))
    abits = int(quant.get("activation_bits", bits))
    aint = int(quant.get("activation_integer", 0))
    weights = quantized_bits(bits, integer, alpha=1)
    relu = quantized_relu(abits, aint)
    inp = quant.get("input")
    input_q = quantized_bits(int(inp["bits"]), int(inp.get("integer", 0)), alpha=1) if inp else None
    return weights, relu, input_q


@tf.autograph.experimental.do_not_convert  # symbolic construction needs no autograph (saves seconds per layer)
def build_qkeras_model(config: dict) -> tf.keras.Model:
    """The (uncompiled) QKeras model of a baseline config; a float Keras model when it has no ``quantization``."""
    from qkeras import QActivation, QConv1D, QConv2D, QDense

    validate_baseline_config(config)
    weights_q, relu_q, input_q = _quantizers(config)
    quantized = weights_q is not None
    inp = tf.keras.Input(tuple(int(d) for d in config["input_shape"]), name="inputs")
    x = QActivation(input_q, name="input_quantizer")(inp) if input_q is not None else inp
    layers = config["layers"]
    for idx, entry in enumerate(layers):
        kind = entry["type"]
        name = entry.get("name") or ("output" if idx == len(layers) - 1 and kind == "dense" else f"{kind}_{idx}")
        qargs = {"kernel_quantizer": weights_q, "bias_quantizer": weights_q} if quantized else {}
        if kind == "dense":
            cls = QDense if quantized else tf.keras.layers.Dense
            x = cls(int(entry["units"]), name=name, **qargs)(x)
        elif kind in ("conv1d", "conv2d"):
            cls = {"conv1d": (tf.keras.layers.Conv1D, QConv1D), "conv2d": (tf.keras.layers.Conv2D, QConv2D)}[kind]
            x = cls[int(quantized)](
                int(entry["filters"]), entry["kernel_size"], strides=entry.get("strides", 1),
                padding=entry.get("padding", "valid"), name=name, **qargs,
            )(x)
        elif kind in ("maxpool1d", "maxpool2d"):
            cls = tf.keras.layers.MaxPooling1D if kind == "maxpool1d" else tf.keras.layers.MaxPooling2D
            x = cls(entry.get("pool_size", 2), name=name)(x)
            continue
        elif kind == "flatten":
            x = tf.keras.layers.Flatten(name=name)(x)
            continue
        else:
            x = tf.keras.layers.Dropout(float(entry.get("rate", 0.1)), name=name)(x)
            continue
        if entry.get("batchnorm"):
            x = tf.keras.layers.BatchNormalization(name=f"{name}_bn")(x)
        act = entry.get("activation", "linear")
        if act == "relu":
            x = QActivation(relu_q, name=f"{name}_relu")(x) if quantized else \
                tf.keras.layers.Activation("relu", name=f"{name}_relu")(x)
        elif act == "softmax":
            x = tf.keras.layers.Activation("softmax", name=f"{name}_softmax")(x)
    return tf.keras.Model(inp, x, name=str(config.get("name", "baseline")))


def loss_for(y: np.ndarray, from_logits: bool = False) -> tf.keras.losses.Loss:
    """Sparse or one-hot categorical cross-entropy, following the label array's shape."""
    if np.ndim(y) == 1:
        return tf.keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    return tf.keras.losses.CategoricalCrossentropy(from_logits=from_logits)


def compile_baseline(model: tf.keras.Model, config: dict, y: np.ndarray,
                     policy: TrainingPolicy | None = None) -> tf.keras.Model:
    """Compile with the policy's (default: the config's) learning rate (legacy Adam: reusable across rebuilt
    models), accuracy metric."""
    lr = (policy or TrainingPolicy.from_config(config)).learning_rate
    model.compile(optimizer=tf.keras.optimizers.legacy.Adam(lr), loss=loss_for(y), metrics=["accuracy"])
    return model


def train_baseline(model: tf.keras.Model, config: dict, x_train, y_train, x_val, y_val, verbose: int = 0,
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


def baseline_from_yaml(path: str | os.PathLike) -> tuple[tf.keras.Model, dict]:
    """Read a baseline config and build its model: ``(model, config)``."""
    config = load_baseline_config(path)
    return build_qkeras_model(config), config


def quantizer_specs(model: tf.keras.Model) -> dict[str, dict]:
    """Per QKeras layer: its quantizers as QKeras writes them (``kernel``, ``bias``, ``activation``) and width."""
    out = {}
    for layer in model.layers:
        kernel = getattr(layer, "kernel_quantizer_internal", None)
        act = getattr(layer, "quantizer", None) if type(layer).__name__ == "QActivation" else None
        if kernel is None and act is None:
            continue
        bias = getattr(layer, "bias_quantizer_internal", None)
        width = getattr(layer, "units", None) or getattr(layer, "filters", None)
        out[layer.name] = {"kernel": str(kernel) if kernel is not None else None,
                           "bias": str(bias) if bias is not None else None,
                           "activation": str(act) if act is not None else None,
                           "units": int(width) if width else None}
    return out
