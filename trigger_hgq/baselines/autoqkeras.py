"""AutoQKeras search driven by YAML, with the fixes QKeras 0.9.0's AutoQKeras needs on Keras 2.15.

Known breakages on this stack, handled here without touching the installed packages:

1. ``model_quantize`` rebuilds each trial model from JSON after renaming ``Dense`` to ``QDense`` (etc.) but keeps
   ``"module": "keras.layers"`` and ``"registered_name": None``; Keras 2.15's deserializer then looks the class
   up in ``keras.layers`` only and fails with ``Could not locate class 'QDense'``.
2. The JSON carries each layer's ``build_config`` (its input shape when serialized); after ``tune_filters``
   changes a layer's units/filters, the next layer is pre-built for the old shape and the model breaks.
3. Each trial compiles its model with the reference model's optimizer object; a Keras 2.11+ optimizer is bound to
   the first model's variables, so the second trial fails.

Fix for 1 and 2: the trial models are deserialized inside Keras' legacy-format scope
(:func:`qkeras_json_compat`), where classes are found by ``class_name`` in the custom objects QKeras passes and
``build_config`` is not used (layers are built on their real inputs). Fix for 3: :class:`CompatHyperModel` gives
the reference model a fresh legacy Adam before every trial is built.

The config (``pipelines/configs/autoqkeras.yaml``) names the float reference model (a baseline config), the goal
(``bits`` or ``energy`` with its forgiving factor), the search space (``quantization_config``: candidate
quantizers and their bits per kernel / bias / activation / linear), per layer-class or layer-name limits, the
number of trials and the epochs per trial.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from trigger_hgq.atomic import write_json_atomic
from trigger_hgq.baselines.policy import TrainingPolicy, TrainingRun
from trigger_hgq.baselines.qkeras_models import build_qkeras_model, loss_for, train_baseline, validate_baseline_config
from trigger_hgq.config import check_config, config_source, load_yaml
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.schema import Anything, Bool, Enum, Float, Int, ListOf, MapOf, Nullable, Obj, Str, Where, fail
from trigger_hgq.verbosity import quiet_warnings

GOAL_DEFAULTS = {
    "bits": {"input_bits": 8, "output_bits": 8, "ref_bits": 8, "config": {"default": ["parameters", "activations"]}},
    "energy": {"process": "horowitz", "parameters_on_memory": ["sram", "sram"],
               "activations_on_memory": ["sram", "sram"], "rd_wr_on_io": [False, False], "min_sram_size": [0, 0],
               "source_quantizers": ["fp32"], "reference_internal": "int8", "reference_accumulator": "int32"},
}
QUANTIZER_KINDS = ("kernel", "bias", "activation", "linear")


@contextlib.contextmanager
def qkeras_json_compat():
    """Deserialize Keras JSON the legacy way: classes by ``class_name`` + custom objects, no ``build_config``."""
    from keras.src.saving.legacy.saved_model.utils import keras_option_scope, should_save_traces

    with keras_option_scope(save_traces=should_save_traces(), in_tf_saved_model_scope=True):
        yield


def _hypermodel_class():
    from qkeras.autoqkeras.autoqkeras_internal import AutoQKHyperModel

    class CompatHyperModel(AutoQKHyperModel):
        """AutoQKeras' hypermodel with the JSON round trip fixed and a fresh optimizer for every trial."""

        def __init__(self, *args, learning_rate: float = 1e-3, **kwargs):
            self.learning_rate = float(learning_rate)
            super().__init__(*args, **kwargs)

        def quantize_model(self, hp):
            with qkeras_json_compat():
                return super().quantize_model(hp)

        def build(self, hp):
            self.model.optimizer = tf.keras.optimizers.legacy.Adam(self.learning_rate)
            return super().build(hp)

    return CompatHyperModel


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
        "type": (Enum(tuple(GOAL_DEFAULTS)), False, "bits or energy"),
        **{k: (_FACTOR, False) for k in ("delta_p", "delta_n", "rate", "stress")},
        "params": (Nullable(MapOf(Anything())), False, "passed to QKeras' forgiving factor"),
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
"""An AutoQKeras config."""


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
    for kind, choices in config["quantization_config"].items():
        for spec in choices:
            _check_quantizer_spec(spec, source, f"quantization_config.{kind}")
    return config


def _check_quantizer_spec(spec: str, source: str, key: str) -> None:
    from qkeras.quantizers import get_quantizer

    try:
        get_quantizer(spec)
    except Exception as err:  # noqa: BLE001 - QKeras raises anything from its safe_eval
        raise fail(source, key, f"{spec!r} is not a QKeras quantizer: {err}") from err


# ------------------------------------------------------------------------------------------------ search
@dataclass
class AutoQKerasResult:
    """The best model of a search (an ordinary, trained, compiled QKeras model) and the table of every trial."""

    model: tf.keras.Model
    trials: list[dict]
    best: dict
    directory: Path
    reference_size: float = 0.0
    extra: dict = field(default_factory=dict)


def _goal(config: dict):
    from qkeras.autoqkeras.forgiving_metrics import forgiving_factor

    goal = dict(config.get("goal") or {})
    kind = goal.get("type", "bits")
    params = {**GOAL_DEFAULTS[kind], **(goal.get("params") or {})}
    for key, default in (("delta_p", 8.0), ("delta_n", 8.0), ("rate", 2.0), ("stress", 1.0)):
        params[key] = float(goal.get(key, default))
    return forgiving_factor[kind](**params)


def _trial_row(trial) -> dict:
    metrics = trial.metrics
    row = {"trial_id": trial.trial_id, "status": str(trial.status), "score": trial.score,
           "hyperparameters": dict(trial.hyperparameters.values)}
    for name in sorted(metrics.metrics):
        value = metrics.get_last_value(name)
        if value is not None:
            row[name] = float(np.asarray(value))
    return row


def run_autoqkeras(config: dict | str | os.PathLike, x_train, y_train, x_val, y_val, directory: str | os.PathLike,
                   reference: tf.keras.Model | None = None, verbose: int = 0,
                   callbacks: list | None = None) -> AutoQKerasResult:
    """Run the AutoQKeras search of ``config`` and return its best trained model and the trial table.

    Args:
        config: an AutoQKeras config dict (from :func:`load_autoqkeras_config`) or its YAML path.
        x_train, y_train, x_val, y_val: the data (labels as integers or one-hot).
        directory: where the tuner keeps its trials; ``trials.json`` (the table) is written there.
        reference: the float model to quantize (default: built from the config's ``reference`` baseline).
        verbose: 0 hides the tuner's and AutoQKeras' printing.
        callbacks: extra Keras callbacks for every trial's fit (e.g. a progress bar; copied per trial).
    """
    import keras_tuner as kt
    from qkeras.utils import _add_supported_quantized_objects

    if not isinstance(config, dict):
        config = load_autoqkeras_config(config)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if config.get("seed") is not None:
        tf.keras.utils.set_random_seed(int(config["seed"]))
    lr = float(config.get("learning_rate", 1e-3))
    model = reference if reference is not None else build_qkeras_model(config["_reference"], np.shape(x_train)[1:])
    model.compile(optimizer=tf.keras.optimizers.legacy.Adam(lr), loss=loss_for(y_train), metrics=["accuracy"])
    custom_objects: dict = {}
    _add_supported_quantized_objects(custom_objects)
    quiet = contextlib.redirect_stdout(io.StringIO()) if verbose == 0 else contextlib.nullcontext()
    with quiet, quiet_warnings():  # AutoQKeras clones and saves QKeras models: Keras warns each time
        hypermodel = _hypermodel_class()(
            model, ["accuracy"], custom_objects, _goal(config),
            learning_rate=lr,
            transfer_weights=bool(config.get("transfer_weights", False)),
            activation_bits=int(config.get("activation_bits", 4)),
            limit=dict(config.get("limit") or {}),
            tune_filters=config.get("tune_filters", "none"),
            tune_filters_exceptions=config.get("tune_filters_exceptions", "^$"),
            quantization_config=dict(config["quantization_config"]),
        )
        tuner_cls = {"random": kt.RandomSearch, "bayesian": kt.BayesianOptimization,
                     "hyperband": kt.Hyperband}[config.get("mode", "random")]
        budget = {"max_epochs": int(config["epochs_per_trial"])} if tuner_cls is kt.Hyperband else \
            {"max_trials": int(config["max_trials"])}
        tuner = tuner_cls(hypermodel, objective=kt.Objective("val_score", "max"), directory=str(directory),
                          project_name="tuner", overwrite=True, seed=config.get("seed"), **budget)
        tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=int(config["epochs_per_trial"]),
                     batch_size=int(config.get("batch_size", 1024)), verbose=verbose,
                     callbacks=list(callbacks or []))
        trials = [_trial_row(t) for t in tuner.oracle.trials.values()]
        done = [t for t in trials if t["score"] is not None]
        if not done:
            raise TriggerHGQError(f"AutoQKeras search in {str(directory)!r}: no trial completed")
        best = max(done, key=lambda t: t["score"])
        best_model = tuner.get_best_models(1)[0]
    # an ordinary QKeras model: plain loss and accuracy, no tuner metrics (which would not survive saving)
    best_model.compile(optimizer=tf.keras.optimizers.legacy.Adam(lr), loss=loss_for(y_train), metrics=["accuracy"])
    table = {"best_trial": best["trial_id"], "reference_size": float(hypermodel.reference_size), "trials": trials}
    write_json_atomic(directory / "trials.json", table)
    return AutoQKerasResult(best_model, trials, best, directory, float(hypermodel.reference_size))


# ------------------------------------------------------------------------------------------------ final model
def with_input_quantizer(model: tf.keras.Model, bits: int | None, integer: int = 0) -> tf.keras.Model:
    """A fresh copy (same layers and quantizers, new initial weights) of a chain model (AutoQKeras quantizes
    the chains :func:`build_qkeras_model` makes), with the uniform baselines'
    input quantizer ``QActivation(quantized_bits(bits, integer, alpha=1))`` in front (none when ``bits`` is None).

    AutoQKeras cannot search a model that already quantizes its input (its size estimate fails on it), so the
    quantizer is added to the searched configuration for its final training: its firmware input is then exact.
    """
    from qkeras import QActivation, quantized_bits
    from qkeras.utils import _add_supported_quantized_objects

    objects: dict = {}
    _add_supported_quantized_objects(objects)
    layers = [layer for layer in model.layers if not isinstance(layer, tf.keras.layers.InputLayer)]
    inp = tf.keras.Input(model.input_shape[1:], name="inputs")
    x = QActivation(quantized_bits(int(bits), int(integer), alpha=1), name="input_quantizer")(inp) if bits else inp
    with tf.keras.utils.custom_object_scope(objects):
        for layer in layers:
            x = type(layer).from_config(layer.get_config())(x)
    return tf.keras.Model(inp, x, name=model.name)


def retrain_best(result: AutoQKerasResult, config: dict, x_train, y_train, x_val, y_val, epochs: int | None = None,
                 verbose: int = 0) -> tuple[tf.keras.Model, TrainingRun]:
    """Train the best searched configuration from scratch, with the input quantizer of ``config['input']``, like
    the uniform baselines: the reference config's training policy (``epochs`` caps its epochs).

    Returns the trained model and its :class:`~trigger_hgq.baselines.policy.TrainingRun`.
    """
    if config.get("seed") is not None:
        tf.keras.utils.set_random_seed(int(config["seed"]))
    inp = config.get("input") or {}
    model = with_input_quantizer(result.model, inp.get("bits"), inp.get("integer", 0))
    policy = TrainingPolicy.from_config(config["_reference"]).capped(epochs)
    run = train_baseline(model, config["_reference"], x_train, y_train, x_val, y_val, verbose=verbose, policy=policy)
    return model, run
