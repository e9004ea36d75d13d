"""The AutoQKeras method on Keras 3: a keras-tuner search over per-layer qkeras quantizers (and layer widths),
scored by accuracy traded against the model's size in bits.

AutoQKeras (QKeras' ``autoqkeras`` package) has no Keras 3 release; this module implements its method with
qkeras-v3 layers and keras-tuner (report label "AutoQKeras method on Keras 3"):

- The search space (:class:`QuantizationSpace`): for every layer of the float reference model whose class (or a
  name pattern) is listed in ``limit``, a choice of kernel and bias quantizer for Dense / Conv layers (and of an
  activation quantizer for one with a non-linear activation inside), of an activation quantizer for an
  ``Activation`` layer (``linear`` quantizers for a linear one; softmax stays float), among the config's
  ``quantization_config`` candidates whose bits do not exceed the limit; with ``tune_filters`` also a width factor
  in {0.5, 0.75, 1, 1.5, 2} per layer (``layer``) or one for the whole network (``block``), except for layer names
  matching ``tune_filters_exceptions``. The hyperparameters are named as AutoQKeras names them
  (``<layer>_kernel_quantizer``, ``network_filters_<layer>``, ...); a name pattern of ``limit`` makes the layers
  it matches share their quantizers (``<pattern>_kernel_quantizer``, ...).
- The score (:class:`BitsCost`, :func:`forgiving_delta`): each trial model is compiled with the metric ``score`` =
  accuracy x (1 + delta), where delta rewards a trial smaller than the reference and penalizes a larger one, and
  keras-tuner maximizes ``val_score`` (the best epoch of each trial).
- The driver: keras-tuner's RandomSearch, BayesianOptimization or Hyperband (``mode``), each trial fitted for
  ``epochs_per_trial`` epochs (no early stopping) and recorded at its best epoch; the best trial's model (its best
  epoch's weights) is returned, and :func:`retrain_best` trains its configuration from scratch under
  the reference baseline's training policy.

The config (``pipelines/configs/autoqkeras.yaml``) names the float reference model (a baseline config), the goal
(``bits``, with its forgiving factor), the search space (``quantization_config``: candidate quantizers and the
bits they are charged per kernel / bias / activation / linear), per layer-class or layer-name limits, the number
of trials and the epochs per trial.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from trigger_hgq.atomic import write_json_atomic
from trigger_hgq.baselines.policy import TrainingPolicy, TrainingRun
from trigger_hgq.baselines.qkeras_models import build_qkeras_model, loss_for, train_baseline, validate_baseline_config
from trigger_hgq.config import check_config, config_source, load_yaml
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.schema import Anything, Bool, Enum, Float, Int, ListOf, MapOf, Nullable, Obj, Str, Where, fail
from trigger_hgq.verbosity import quiet_warnings

LABEL = "AutoQKeras method on Keras 3"
"""How results of this module are labelled: AutoQKeras' method, not the AutoQKeras package."""
GOAL_DEFAULTS = {
    "bits": {"input_bits": 8, "output_bits": 8, "ref_bits": 8, "config": {"default": ["parameters", "activations"]}},
    "energy": {},
}
QUANTIZER_KINDS = ("kernel", "bias", "activation", "linear")
FILTER_RANGE = (0.5, 0.75, 1.0, 1.5, 2.0)
"""The width factors AutoQKeras tries per layer (``tune_filters: layer``) or network (``block``)."""
WEIGHTED = ("Dense", "Conv1D", "Conv2D", "DepthwiseConv2D")
QWEIGHTED = ("QDense", "QConv1D", "QConv2D", "QDepthwiseConv2D")
DEFAULT_LIMIT_BITS = 8

# ------------------------------------------------------------------------------------------------ config
_FACTOR = Float(lo=0.0, text_ok=True)
AUTOQKERAS_SPEC = Obj({
    "reference": (Str(), True, "a baseline config of the float model"),
    "description": (Str(nonempty=False), False),
    "mode": (Enum(("random", "bayesian", "hyperband")), False, "the keras-tuner search"),
    "max_trials": (Int(lo=1), False),
    "epochs_per_trial": (Int(lo=1), False),
    "batch_size": (Int(lo=1), False),
    "learning_rate": (Float(lo=0.0, text_ok=True), False),
    "seed": (Nullable(Int(lo=None)), False),
    "goal": (Nullable(Obj({
        "type": (Enum(tuple(GOAL_DEFAULTS)), False, "bits (energy: QTools' energy model, not available)"),
        **{k: (_FACTOR, False) for k in ("delta_p", "delta_n", "rate", "stress")},
        "params": (Nullable(MapOf(Anything())), False, "input_bits, output_bits, ref_bits, config"),
    }, strict=True)), False, "the forgiving factor"),
    "quantization_config": (Where(Obj({
        kind: (MapOf(Int(lo=0), key_doc="quantizer", nonempty=True), False) for kind in QUANTIZER_KINDS},
        strict=True), lambda space: None if any(space.values()) else "expected candidate quantizers of at least "
                                                                      "one kind"), True,
        "candidate quantizers per kind"),
    "limit": (Nullable(MapOf(ListOf(Int(lo=0)), key_doc="layer class or name pattern")), False),
    "tune_filters": (Enum(("none", "layer", "block")), False),
    "tune_filters_exceptions": (Str(nonempty=False), False),
    "transfer_weights": (Bool(), False),
    "activation_bits": (Int(lo=1), False),
    "input": (Nullable(Obj({"bits": (Int(lo=2), True), "integer": (Int(lo=None), False)}, strict=True)), False,
              "the input quantizer added to the best model"),
    "retrain": (Bool(), False),
}, strict=True)
"""An AutoQKeras config. ``activation_bits`` is accepted for compatibility with AutoQKeras configs: AutoQKeras
only uses it for layer classes listed in ``limit`` that have no quantizer choice of their own, which the layer
types of the baselines do not have."""
BITS_PARAMS = ("input_bits", "output_bits", "ref_bits", "config")


def load_autoqkeras_config(path: str | os.PathLike) -> dict:
    """Read and validate an AutoQKeras config; its ``reference`` baseline config is loaded under ``_reference``."""
    config = load_yaml(path)
    check_config(AUTOQKERAS_SPEC, config)
    source = config_source(config)
    ref = config["reference"]
    ref_config = load_yaml(Path(config["_file"]).parent / str(ref))
    validate_baseline_config(ref_config)
    if ref_config.get("quantization") is not None:
        raise fail(source, "reference", f"{ref!r} must be a float model (no 'quantization')")
    config["_reference"] = ref_config
    goal = config.get("goal") or {}
    if goal.get("type", "bits") == "energy":
        raise fail(source, "goal.type", "'energy' needs QTools' energy model, which has no Keras 3 release; "
                                        "use 'bits'")
    for key in goal.get("params") or {}:
        if key not in BITS_PARAMS:
            raise fail(source, f"goal.params.{key}", f"not a parameter of the bits goal (have: {list(BITS_PARAMS)})")
    if goal.get("rate") is not None and float(goal["rate"]) <= 1.0:
        raise fail(source, "goal.rate", f"must be > 1 (a size ratio), got {goal['rate']!r}")
    for kind, choices in config["quantization_config"].items():
        for spec in choices:
            _check_quantizer_spec(spec, source, f"quantization_config.{kind}")
    if config.get("tune_filters_exceptions") is not None:
        try:
            re.compile(config["tune_filters_exceptions"])
        except re.error as err:
            raise fail(source, "tune_filters_exceptions", f"not a regular expression: {err}") from err
    return config


def _check_quantizer_spec(spec: str, source: str, key: str) -> None:
    from qkeras.quantizers import get_quantizer

    try:
        quantizer = get_quantizer(spec)
    except Exception as err:  # noqa: BLE001 - qkeras raises anything from its safe_eval
        raise fail(source, key, f"{spec!r} is not a qkeras quantizer: {err}") from err
    if quantizer is None or not callable(quantizer):
        raise fail(source, key, f"{spec!r} is not a qkeras quantizer")


# ------------------------------------------------------------------------------------------------ the score
def forgiving_delta(reference_bits: float, trial_bits: float, delta_p: float, delta_n: float, rate: float) -> float:
    """AutoQKeras' forgiving factor: the relative change of the accuracy a trial is credited with.

    The trial's size is compared with the reference's on a logarithmic scale whose unit is ``rate``:
    ``i = log(reference / trial) / log(rate)`` counts how many times (``rate``-fold) the trial is smaller (i > 0)
    or larger (i < 0). Each such step is worth ``delta_p`` percent of accuracy when the trial is smaller and
    ``delta_n`` percent when it is larger: ``delta = i * delta_p / 100`` (or ``delta_n``). The score is then
    ``accuracy * (1 + delta)``: with delta_p = 8 and rate = 2, a model half the reference's size scores 8% above
    its accuracy, one twice the size 8% (delta_n = 8) below.
    """
    if reference_bits <= 0 or trial_bits <= 0:
        raise TriggerHGQError(f"AutoQKeras goal: model sizes must be > 0 bits (reference {reference_bits}, "
                              f"trial {trial_bits})")
    steps = math.log(reference_bits / trial_bits) / math.log(rate)
    return (delta_p if trial_bits < reference_bits else delta_n) / 100.0 * steps


def _is_named(activation, name: str) -> bool:
    if isinstance(activation, str):
        return activation == name
    return getattr(activation, "__name__", None) == name


@dataclass(frozen=True)
class BitsCost:
    """The size of a model in bits, as AutoQKeras' bits goal counts it.

    Per layer (counted when its class, or ``default``, is listed in ``config`` with ``parameters`` and/or
    ``activations``):

    - parameters: every weight of a qkeras Dense / Conv layer at its quantizer's bits (``ref_bits`` without one), of
      a float Dense / Conv layer at ``ref_bits``; a BatchNormalization's scale and offset at ``ref_bits``;
    - activations: the output size times the bits of the layer's activation quantizer (``ref_bits`` for a float
      non-linear activation, ``output_bits`` for softmax / sigmoid, 0 for a linear output); each model input
      value counts ``input_bits`` (as the activations of an ``InputLayer``).

    ``stress`` scales the reference's size (< 1 drives the search to smaller models).
    """

    input_bits: float = 8
    output_bits: float = 8
    ref_bits: float = 8
    config: dict = field(default_factory=lambda: {"default": ["parameters", "activations"]})
    stress: float = 1.0

    def _parameters(self, layer) -> float:
        kind = type(layer).__name__
        weights = layer.get_weights()
        if kind in WEIGHTED:
            return float(sum(self.ref_bits * w.size for w in weights))
        if kind in QWEIGHTED:
            quantizers = layer.get_quantizers()
            total = 0.0
            for i, w in enumerate(weights):
                q = quantizers[i] if i < len(quantizers) else None
                total += (getattr(q, "bits", None) or self.ref_bits) * w.size
            return total
        if kind in ("BatchNormalization", "QBatchNormalization"):
            n = int(layer.get_weights()[-1].size)
            return float(self.ref_bits * n * (int(bool(layer.scale)) + int(bool(layer.center))))
        return 0.0

    def _activation_bits(self, activation) -> float:
        if activation is None or _is_named(activation, "linear"):
            return 0.0
        if _is_named(activation, "softmax") or _is_named(activation, "sigmoid"):
            return float(self.output_bits)
        return float(getattr(activation, "bits", None) or self.ref_bits)

    def _activations(self, layer) -> float:
        kind = type(layer).__name__
        if kind not in (*WEIGHTED, *QWEIGHTED, "Activation", "QActivation"):
            return 0.0
        return self._activation_bits(layer.activation) * float(np.prod(layer.output.shape[1:]))

    def size(self, model: keras.Model) -> dict:
        """``total``, ``parameters`` and ``activations`` bits of ``model`` and ``layers`` (per layer name)."""
        per_layer: dict[str, dict] = {}
        p_total = a_total = 0.0
        if "activations" in (self.config.get("InputLayer", self.config.get("default")) or ()):
            for tensor in model.inputs:
                a_total += self.input_bits * float(np.prod(tensor.shape[1:]))
        for layer in model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            counted = self.config.get(type(layer).__name__, self.config.get("default"))
            if not counted:
                continue
            p = self._parameters(layer) if "parameters" in counted else 0.0
            a = self._activations(layer) if "activations" in counted else 0.0
            per_layer[layer.name] = {"parameters": p, "activations": a, "total": p + a}
            p_total += p
            a_total += a
        return {"total": p_total + a_total, "parameters": p_total, "activations": a_total, "layers": per_layer}


@dataclass(frozen=True)
class ForgivingGoal:
    """The bits goal of a config: the cost model and the forgiving factor's ``delta_p``, ``delta_n`` (percent) and
    ``rate``."""

    cost: BitsCost
    delta_p: float = 8.0
    delta_n: float = 8.0
    rate: float = 2.0

    @classmethod
    def from_config(cls, config: dict) -> ForgivingGoal:
        goal = dict(config.get("goal") or {})
        params = {**GOAL_DEFAULTS["bits"], **(goal.get("params") or {})}
        cost = BitsCost(input_bits=float(params["input_bits"]), output_bits=float(params["output_bits"]),
                        ref_bits=float(params["ref_bits"]), config=dict(params["config"]),
                        stress=float(goal.get("stress", 1.0)))
        return cls(cost, delta_p=float(goal.get("delta_p", 8.0)), delta_n=float(goal.get("delta_n", 8.0)),
                   rate=float(goal.get("rate", 2.0)))

    def reference_bits(self, reference: keras.Model) -> float:
        return self.cost.size(reference)["total"] * self.cost.stress

    def delta(self, reference_bits: float, trial_bits: float) -> float:
        return forgiving_delta(reference_bits, trial_bits, self.delta_p, self.delta_n, self.rate)


class ForgivingScore(keras.metrics.Mean):
    """The search metric ``score``: the mean accuracy of the batches times ``factor`` (1 + the trial's delta)."""

    def __init__(self, factor: float, sparse: bool, name: str = "score", **kwargs):
        super().__init__(name=name, **kwargs)
        self.factor = float(factor)
        self.sparse = bool(sparse)

    def update_state(self, y_true, y_pred, sample_weight=None):
        fn = keras.metrics.sparse_categorical_accuracy if self.sparse else keras.metrics.categorical_accuracy
        return super().update_state(fn(y_true, y_pred) * self.factor, sample_weight=sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "sparse": self.sparse}


# ------------------------------------------------------------------------------------------------ search space
def graph_layers(model: keras.Model) -> list[tuple[keras.layers.Layer, tuple[str, ...]]]:
    """The layers of a single-input, single-output model in topological order (without its InputLayer), each with
    the names of the layers feeding it (the InputLayer's name included)."""
    from trigger_hgq.graph import model_graph

    graph = model_graph(model)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise TriggerHGQError(f"AutoQKeras search: model {model.name!r} must have one input and one output")
    return [(node.layer, tuple(node.inputs)) for node in graph.nodes.values()
            if not isinstance(node.layer, keras.layers.InputLayer)]


def is_chain(layers: list[tuple[keras.layers.Layer, tuple[str, ...]]]) -> bool:
    """Whether every layer reads the one before it (no branch, no merge)."""
    return all(len(inputs) == 1 for _, inputs in layers) and all(
        inputs == (prev.name,) for (_, inputs), (prev, _) in zip(layers[1:], layers[:-1], strict=True))


def rebuild(layers: list[tuple[keras.layers.Layer, tuple[str, ...]]], inp, input_name: str, make) -> object:
    """Call ``make(layer)`` (a new layer) on the rebuilt inputs of every layer, in order; the last output."""
    built = {input_name: inp}
    y = inp
    for layer, inputs in layers:
        args = [built[name] for name in inputs]
        y = make(layer)(args if len(args) > 1 else args[0])
        built[layer.name] = y
    return y


def _input_name(model: keras.Model) -> str:
    from trigger_hgq.graph import model_graph

    return model_graph(model).inputs[0]


def _copy_layer(layer: keras.layers.Layer, **changes) -> keras.layers.Layer:
    """A new layer of the same class and config (``changes`` replace config keys)."""
    config = layer.get_config()
    config.update(changes)
    return type(layer).from_config(config)


class QuantizationSpace:
    """AutoQKeras' per-layer search space over a float chain model (see the module docstring)."""

    def __init__(self, config: dict, reference: keras.Model):
        from qkeras.quantizers import get_quantizer

        self.get_quantizer = get_quantizer
        self.reference = reference
        self.layers = graph_layers(reference)
        self.candidates = {kind: dict(config["quantization_config"].get(kind) or {}) for kind in QUANTIZER_KINDS}
        self.limit = self._limits(dict(config.get("limit") or {}))
        self.tune_filters = config.get("tune_filters", "none")
        self.exceptions = re.compile(config.get("tune_filters_exceptions", "^$"))
        self.transfer_weights = bool(config.get("transfer_weights", False))
        self.source = config_source(config)
        if self.tune_filters != "none" and not is_chain(self.layers):
            raise TriggerHGQError(f"{self.source}: key 'tune_filters': {self.tune_filters!r} changes layer widths, "
                                  f"which the branches of model {reference.name!r} must keep equal: use 'none'")

    @staticmethod
    def _limits(limit: dict) -> dict:
        """Every weighted layer class listed gets three entries [kernel, bias, activation] (missing ones: the
        ``default`` entry, else 8 bits)."""
        default = limit.get("default")
        default = [DEFAULT_LIMIT_BITS] * 3 if default is None else list(default) + [default[-1]] * (3 - len(default))
        out = {}
        for key, value in limit.items():
            value = list(value)
            if key in WEIGHTED and len(value) < 3:
                value = value + default[len(value):3]
            out[key] = value
        return out

    def _entry(self, layer) -> tuple[str | None, bool]:
        """The ``limit`` key governing ``layer`` (a name pattern first, then its class) and whether it is a
        pattern (whose layers share their quantizers); None: the layer stays float."""
        for pattern in self.limit:
            if pattern != "default" and re.match(pattern, layer.name):
                return pattern, True
        kind = type(layer).__name__
        return (kind, False) if kind in self.limit else (None, False)

    def _choose(self, hp, layer, field_name: str, kind: str, index: int):
        """A quantizer of ``kind`` for ``field_name`` (kernel, bias, activation) of ``layer``, or None."""
        key, grouped = self._entry(layer)
        if key is None:
            return None
        head = f"{key}_{field_name}" if grouped else f"{layer.name}_{field_name}"
        cap = self.limit[key][index] if -len(self.limit[key]) <= index < len(self.limit[key]) else None
        if cap is None:
            raise TriggerHGQError(f"{self.source}: key 'limit.{key}': needs an entry for the {field_name} "
                                  f"(layer {layer.name!r})")
        choices = [spec for spec, bits in self.candidates[kind].items() if bits <= cap]
        if not choices:
            raise TriggerHGQError(f"{self.source}: key 'limit.{key}': no {kind} quantizer of "
                                  f"'quantization_config.{kind}' has at most {cap} bits (layer {layer.name!r})")
        name = f"{head}_quantizer"
        spec = hp.Fixed(name, choices[0]) if len(choices) == 1 else hp.Choice(name, choices)
        return self.get_quantizer(spec)

    def _width(self, hp, layer) -> float:
        if self.tune_filters == "none" or self.exceptions.search(layer.name) or \
                type(layer).__name__ not in ("Dense", "Conv1D", "Conv2D"):
            return 1.0
        name = "network_filters" if self.tune_filters == "block" else f"network_filters_{layer.name}"
        return float(hp.Choice(name, list(FILTER_RANGE), default=1.0))

    def _quantized(self, hp, layer) -> keras.layers.Layer:
        from qkeras import QActivation, QConv1D, QConv2D, QDense, QDepthwiseConv2D

        kind = type(layer).__name__
        if kind in WEIGHTED:
            kernel = self._choose(hp, layer, "kernel", "kernel", 0)
            if kernel is None:
                return _copy_layer(layer)
            config = layer.get_config()
            width = self._width(hp, layer)
            if kind == "Dense":
                config["units"] = max(int(config["units"] * width), 1)
            elif kind in ("Conv1D", "Conv2D"):
                config["filters"] = max(int(config["filters"] * width), 1)
            key = "depthwise_quantizer" if kind == "DepthwiseConv2D" else "kernel_quantizer"
            config[key] = kernel
            if config.get("use_bias", True):
                config["bias_quantizer"] = self._choose(hp, layer, "bias", "bias", 1)
            act = layer.activation
            if act is None or _is_named(act, "linear"):
                config["activation"] = None
            elif not _is_named(act, "softmax"):  # softmax stays float
                config["activation"] = self._choose(hp, layer, "activation", "activation", -1)
            cls = {"Dense": QDense, "Conv1D": QConv1D, "Conv2D": QConv2D, "DepthwiseConv2D": QDepthwiseConv2D}[kind]
            return cls.from_config(config)
        if kind == "Activation" and not _is_named(layer.activation, "softmax"):
            linear = _is_named(layer.activation, "linear")
            quantizer = self._choose(hp, layer, "activation", "linear" if linear else "activation", -1)
            return QActivation(quantizer, name=layer.name) if quantizer is not None else _copy_layer(layer)
        return _copy_layer(layer)

    def build(self, hp) -> keras.Model:
        """The trial model of ``hp`` (fresh weights, or the reference's where shapes agree with
        ``transfer_weights``)."""
        inp = keras.Input(self.reference.inputs[0].shape[1:], name=self.reference.inputs[0].name)
        pairs = []

        def make(layer):
            pairs.append((layer, self._quantized(hp, layer)))
            return pairs[-1][1]

        x = rebuild(self.layers, inp, _input_name(self.reference), make)
        model = keras.Model(inp, x, name=f"{self.reference.name}_autoqkeras")
        if self.transfer_weights:
            for old, new in pairs:
                ours, theirs = new.get_weights(), old.get_weights()
                if ours and [w.shape for w in ours] == [w.shape for w in theirs]:
                    new.set_weights(theirs)
        return model


def _hypermodel_class():
    import keras_tuner as kt

    class AutoQKerasHyperModel(kt.HyperModel):
        """Builds and compiles the trial model of a set of hyperparameters, with its ``score`` metric."""

        def __init__(self, space: QuantizationSpace, goal: ForgivingGoal, learning_rate: float, y):
            super().__init__(name="autoqkeras")
            self.space = space
            self.goal = goal
            self.learning_rate = float(learning_rate)
            self.loss = loss_for(y)
            self.sparse = np.ndim(y) == 1
            self.reference_size = goal.reference_bits(space.reference)
            self.sizes: dict[str, dict] = {}

        def build(self, hp):
            model = self.space.build(hp)
            trial_bits = self.goal.cost.size(model)["total"]
            delta = self.goal.delta(self.reference_size, trial_bits)
            self.sizes[json.dumps(hp.values, sort_keys=True, default=str)] = {"trial": trial_bits, "delta": delta}
            model.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss=self.loss,
                          metrics=["accuracy", ForgivingScore(1.0 + delta, self.sparse)])
            return model

    return AutoQKerasHyperModel


class BestEpoch(keras.callbacks.Callback):
    """Keeps the logs and weights of the epoch of highest ``val_score`` of one trial's fit."""

    def __init__(self, monitor: str = "val_score"):
        super().__init__()
        self.monitor = monitor
        self.logs: dict[str, float] | None = None
        self.weights: list | None = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and (self.logs is None or float(value) > self.logs[self.monitor]):
            self.logs = {k: float(v) for k, v in logs.items()}
            self.weights = self.model.get_weights()


def _tuner_class(base):
    """``base`` (a keras-tuner tuner class) running each trial itself: the trial model is fitted with copies of
    the search's callbacks, its best epoch (highest ``val_score``) is what the oracle records, and that epoch's
    weights are saved as ``trial_<id>.weights.h5`` in the search folder (:meth:`best_model` loads them)."""

    class AutoQKerasTuner(base):
        def weights_path(self, trial_id: str) -> Path:
            return Path(self.project_dir) / f"trial_{trial_id}.weights.h5"

        def run_trial(self, trial, *args, **kwargs):
            hp = trial.hyperparameters
            model = self.hypermodel.build(hp)
            if "tuner/epochs" in hp.values:  # a Hyperband bracket: its epochs, from the previous round's weights
                kwargs["epochs"] = hp.values["tuner/epochs"]
                kwargs["initial_epoch"] = hp.values["tuner/initial_epoch"]
                previous = hp.values.get("tuner/trial_id")
                if previous is not None and self.weights_path(previous).is_file():
                    model.load_weights(self.weights_path(previous))
            best = BestEpoch()
            kwargs["callbacks"] = [*copy.deepcopy(list(kwargs.get("callbacks") or [])), best]
            self.hypermodel.fit(hp, model, *args, **kwargs)
            if best.logs is None:
                raise TriggerHGQError(f"AutoQKeras trial {trial.trial_id}: no epoch reported 'val_score' "
                                      "(validation data missing?)")
            model.set_weights(best.weights)
            model.save_weights(self.weights_path(trial.trial_id))
            return best.logs

        def best_model(self, trial) -> keras.Model:
            model = self.hypermodel.build(trial.hyperparameters)
            model.load_weights(self.weights_path(trial.trial_id))
            return model

    return AutoQKerasTuner


# ------------------------------------------------------------------------------------------------ search
@dataclass
class AutoQKerasResult:
    """The best model of a search (an ordinary, trained, compiled qkeras model) and the table of every trial."""

    model: keras.Model
    trials: list[dict]
    best: dict
    directory: Path
    reference_size: float = 0.0
    extra: dict = field(default_factory=dict)


def _trial_row(trial, sizes: dict) -> dict:
    """One trial: id, status, ``score`` (the objective: its best epoch's ``val_score``), hyperparameters, size in
    bits (``trial``) and ``delta``, and the metrics of its best epoch (the training ``score`` as ``train_score``)."""
    metrics = trial.metrics
    values = dict(trial.hyperparameters.values)
    score = None if trial.score is None else float(trial.score)
    row = {"trial_id": trial.trial_id, "status": str(trial.status), "score": score, "hyperparameters": values,
           **sizes.get(json.dumps(values, sort_keys=True, default=str), {})}
    for name in sorted(metrics.metrics):
        value = metrics.get_last_value(name)
        if value is not None:
            row["train_score" if name == "score" else name] = float(np.asarray(value))
    return row


def run_autoqkeras(config: dict | str | os.PathLike, x_train, y_train, x_val, y_val, directory: str | os.PathLike,
                   reference: keras.Model | None = None, verbose: int = 0,
                   callbacks: list | None = None) -> AutoQKerasResult:
    """Run the AutoQKeras search of ``config`` and return its best trained model and the trial table.

    Args:
        config: an AutoQKeras config dict (from :func:`load_autoqkeras_config`) or its YAML path.
        x_train, y_train, x_val, y_val: the data (labels as integers or one-hot).
        directory: where the tuner keeps its trials; ``trials.json`` (the table) is written there.
        reference: the float chain model to quantize (default: built from the config's ``reference`` baseline).
        verbose: 0 hides the tuner's printing.
        callbacks: extra Keras callbacks for every trial's fit (e.g. a progress bar; copied per trial).
    """
    import keras_tuner as kt

    if not isinstance(config, dict):
        config = load_autoqkeras_config(config)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if config.get("seed") is not None:
        keras.utils.set_random_seed(int(config["seed"]))
    lr = float(config.get("learning_rate", 1e-3))
    model = reference if reference is not None else build_qkeras_model(config["_reference"], np.shape(x_train)[1:])
    quiet = contextlib.redirect_stdout(io.StringIO()) if verbose == 0 else contextlib.nullcontext()
    with quiet, quiet_warnings():
        hypermodel = _hypermodel_class()(QuantizationSpace(config, model), ForgivingGoal.from_config(config), lr,
                                         y_train)
        tuner_cls = _tuner_class({"random": kt.RandomSearch, "bayesian": kt.BayesianOptimization,
                                  "hyperband": kt.Hyperband}[config.get("mode", "random")])
        budget = {"max_epochs": int(config["epochs_per_trial"])} if issubclass(tuner_cls, kt.Hyperband) else \
            {"max_trials": int(config["max_trials"])}
        tuner = tuner_cls(hypermodel, objective=kt.Objective("val_score", "max"), directory=str(directory),
                          project_name="tuner", overwrite=True, seed=config.get("seed"), **budget)
        tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=int(config["epochs_per_trial"]),
                     batch_size=int(config.get("batch_size", 1024)), verbose=verbose,
                     callbacks=list(callbacks or []))
        trials = [_trial_row(t, hypermodel.sizes) for t in tuner.oracle.trials.values()]
        done = [t for t in trials if t["score"] is not None]
        if not done:
            raise TriggerHGQError(f"AutoQKeras search in {str(directory)!r}: no trial completed")
        best = max(done, key=lambda t: t["score"])
        best_model = tuner.best_model(tuner.oracle.trials[best["trial_id"]])
    # an ordinary qkeras model: plain loss and accuracy, no search metric
    best_model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss_for(y_train), metrics=["accuracy"])
    table = {"method": LABEL, "best_trial": best["trial_id"], "reference_size": float(hypermodel.reference_size),
             "trials": trials}
    write_json_atomic(directory / "trials.json", table)
    return AutoQKerasResult(best_model, trials, best, directory, float(hypermodel.reference_size),
                            extra={"method": LABEL})


# ------------------------------------------------------------------------------------------------ final model
def with_input_quantizer(model: keras.Model, bits: int | None, integer: int = 0) -> keras.Model:
    """A fresh copy (same layers and quantizers, new initial weights) of a chain model, with the uniform
    baselines' input quantizer ``QActivation(quantized_bits(bits, integer, alpha=1))`` in front (none when
    ``bits`` is None).

    The search quantizes the reference's layers only; the input quantizer is added to the searched configuration
    for its final training, so that its firmware input is exact.
    """
    from qkeras import QActivation, quantized_bits

    inp = keras.Input(model.inputs[0].shape[1:], name="inputs")
    x = QActivation(quantized_bits(int(bits), int(integer), alpha=1), name="input_quantizer")(inp) if bits else inp
    x = rebuild(graph_layers(model), x, _input_name(model),
                lambda layer: keras.layers.deserialize(keras.layers.serialize(layer)))
    return keras.Model(inp, x, name=model.name)


def retrain_best(result: AutoQKerasResult, config: dict, x_train, y_train, x_val, y_val, epochs: int | None = None,
                 verbose: int = 0) -> tuple[keras.Model, TrainingRun]:
    """Train the best searched configuration from scratch, with the input quantizer of ``config['input']``, like
    the uniform baselines: the reference config's training policy (``epochs`` caps its epochs).

    Returns the trained model and its :class:`~trigger_hgq.baselines.policy.TrainingRun`.
    """
    if config.get("seed") is not None:
        keras.utils.set_random_seed(int(config["seed"]))
    inp = config.get("input") or {}
    model = with_input_quantizer(result.model, inp.get("bits"), inp.get("integer", 0))
    policy = TrainingPolicy.from_config(config["_reference"]).capped(epochs)
    run = train_baseline(model, config["_reference"], x_train, y_train, x_val, y_val, verbose=verbose, policy=policy)
    return model, run
