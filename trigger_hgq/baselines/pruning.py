"""Magnitude-pruned QKeras baselines, as the hls4ml tutorial prunes its jet tagger (tensorflow-model-optimization).

A baseline config with a ``pruning`` section::

    pruning:
      target_sparsity: 0.75    # the fraction of zero kernel weights in every Dense / Conv layer
      initial_sparsity: 0.0    # where the polynomial ramp starts
      epochs: 30               # pruning phase: sparsity ramps (PolynomialDecay) to the target over these epochs
      learning_rate: 0.001     # of the pruning phase (default: the training policy's)
      finetune: {}             # then the mask stays fixed and the model is fine-tuned under the training policy,
                               # with these keys of it replaced (e.g. {epochs: 200, learning_rate: 0.001})

The model starts from given weights (the trained unpruned parent) or, without them, is first trained dense under
the training policy. The result has no pruning wrappers (``strip_pruning``): its zeros are plain kernel entries.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from trigger_hgq.baselines.policy import POLICY_FIELDS, TrainingPolicy, TrainingRun
from trigger_hgq.baselines.qkeras_models import train_baseline
from trigger_hgq.config import config_source
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.schema import Field, Float, Int, Nullable, Obj, fail, validate

PRUNING_SPEC = Obj({
    "target_sparsity": Field(Float(lo=0.0, hi=1.0), required=True, doc="fraction of zero kernel weights, in (0, 1)"),
    "initial_sparsity": Field(Float(lo=0.0, hi=1.0), doc="where the polynomial ramp starts", default=0.0),
    "epochs": Field(Int(lo=1), doc="epochs of the sparsity ramp", default=20),
    "learning_rate": Field(Nullable(Float(lo=0.0, text_ok=True)), doc="of the ramp (default: the policy's)"),
    "finetune": Field(Nullable(Obj(POLICY_FIELDS, strict=True)), doc="the fine-tuning policy's overrides"),
}, strict=True)
"""The declared keys of a baseline config's ``pruning`` section."""
PRUNABLE = (tf.keras.layers.Dense, tf.keras.layers.Conv1D, tf.keras.layers.Conv2D)  # QKeras' Q* subclass these
MAX_FREQUENCY_STEPS = 100  # masks are recomputed at most this many steps apart during the ramp


@dataclass(frozen=True)
class PruningSettings:
    """The ``pruning`` section: the target, the pruning phase and the fine-tuning policy (mask fixed)."""

    target_sparsity: float
    initial_sparsity: float
    epochs: int
    learning_rate: float
    finetune: TrainingPolicy

    @classmethod
    def from_config(cls, config: dict) -> PruningSettings:
        """Parse and validate ``config['pruning']`` (errors name the key path)."""
        source = config_source(config)
        c = validate(PRUNING_SPEC, config.get("pruning"), source, "pruning")
        target, initial = c["target_sparsity"], c["initial_sparsity"]
        if not 0.0 < target < 1.0:
            raise fail(source, "pruning.target_sparsity", f"must be in (0, 1), got {target!r}")
        if initial > target:
            raise fail(source, "pruning.initial_sparsity", f"must be <= target_sparsity ({target}), got {initial!r}")
        policy = TrainingPolicy.from_config(config)
        lr = policy.learning_rate if c["learning_rate"] is None else float(c["learning_rate"])
        if lr <= 0.0:
            raise fail(source, "pruning.learning_rate", f"must be > 0, got {lr!r}")
        merged = {k: v for k, v in (config.get("training") or {}).items() if k in POLICY_FIELDS}
        merged.update({k: v for k, v in (config.get("pruning", {}).get("finetune") or {}).items()})
        return cls(target_sparsity=target, initial_sparsity=initial, epochs=c["epochs"], learning_rate=lr,
                   finetune=TrainingPolicy.from_section(merged, config, "pruning.finetune"))

    def max_epochs(self, dense: TrainingPolicy | None) -> int:
        """The most epochs the phases can take (``dense``: the policy of a dense training first, if any)."""
        return (dense.epochs if dense is not None else 0) + self.epochs + self.finetune.epochs

    def capped(self, epochs: int | None) -> PruningSettings:
        """Both phases with at most ``epochs`` epochs (None: unchanged)."""
        if epochs is None:
            return self
        return dataclasses.replace(self, epochs=min(self.epochs, int(epochs)), finetune=self.finetune.capped(epochs))


@dataclass(frozen=True)
class PruningRun:
    """The phases a pruned baseline went through (``dense`` only without initial weights) and its sparsity."""

    phases: dict[str, TrainingRun]
    sparsity: float

    @property
    def epochs_run(self) -> int:
        return sum(run.epochs_run for run in self.phases.values())

    @property
    def best_epoch(self) -> int:
        """The restored fine-tuning epoch, counted over all phases (1-based)."""
        before = sum(run.epochs_run for name, run in self.phases.items() if name != "finetune")
        return before + self.phases["finetune"].best_epoch


def kernel_sparsity(model: tf.keras.Model) -> float:
    """The fraction of zero entries over the kernels of all prunable (Dense / Conv) layers."""
    kernels = [layer.kernel.numpy() for layer in model.layers if isinstance(layer, PRUNABLE)]
    if not kernels:
        raise TriggerHGQError(f"model {model.name!r} has no Dense or Conv layer to prune")
    return float(sum(int(np.sum(k == 0)) for k in kernels) / sum(k.size for k in kernels))


def load_initial_weights(model: tf.keras.Model, path: str | os.PathLike) -> None:
    """Set ``model``'s weights from a saved model of the same architecture (the unpruned parent baseline)."""
    from trigger_hgq.convert.io import load_model

    parent = load_model(path)
    shapes = [w.shape for w in model.get_weights()]
    if [w.shape for w in parent.get_weights()] != shapes:
        raise TriggerHGQError(f"initial weights {str(path)!r}: the model there has another architecture than "
                              f"{model.name!r} (weight shapes differ)")
    model.set_weights(parent.get_weights())


def _wrap(model: tf.keras.Model, schedule) -> tf.keras.Model:
    """The model with every prunable layer inside a ``prune_low_magnitude`` wrapper (weights kept)."""
    import tensorflow_model_optimization as tfmot

    from trigger_hgq.convert.io import qkeras_objects

    def clone(layer):
        if isinstance(layer, PRUNABLE):
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    with tf.keras.utils.custom_object_scope(qkeras_objects()):
        return tf.keras.models.clone_model(model, clone_function=clone)


def prune_baseline(model: tf.keras.Model, config: dict, x_train, y_train, x_val, y_val,
                   init_weights: str | os.PathLike | None = None, epochs_cap: int | None = None, verbose: int = 0,
                   callbacks: list | None = None) -> tuple[tf.keras.Model, PruningRun]:
    """Prune ``model`` (built from ``config``) to ``pruning.target_sparsity``: start from ``init_weights`` or
    train it dense under the training policy, ramp the sparsity with a polynomial decay, fine-tune with the mask
    fixed (early stopping with restore-best), strip the wrappers. ``epochs_cap`` caps every phase.

    Returns the stripped model and its :class:`PruningRun`.
    """
    import tensorflow_model_optimization as tfmot

    settings = PruningSettings.from_config(config).capped(epochs_cap)
    policy = TrainingPolicy.from_config(config).capped(epochs_cap)
    phases: dict[str, TrainingRun] = {}
    if init_weights is not None:
        load_initial_weights(model, init_weights)
    else:
        phases["dense"] = train_baseline(model, config, x_train, y_train, x_val, y_val, verbose=verbose,
                                         callbacks=callbacks, policy=policy)
    steps = settings.epochs * math.ceil(len(x_train) / policy.batch_size)
    frequency = max(1, min(MAX_FREQUENCY_STEPS, steps // 10))
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=settings.initial_sparsity, final_sparsity=settings.target_sparsity, begin_step=0,
        end_step=frequency * (steps // frequency), frequency=frequency)  # the last update lands on the target
    wrapped = _wrap(model, schedule)
    # the pruning step first: it zeroes the masked weights at each epoch end, before the best epoch is recorded
    pruning_callbacks = [tfmot.sparsity.keras.UpdatePruningStep(), *(callbacks or [])]
    ramp = TrainingPolicy(epochs=settings.epochs, batch_size=policy.batch_size,
                          learning_rate=settings.learning_rate, restore_best_weights=False)
    phases["pruning"] = train_baseline(wrapped, config, x_train, y_train, x_val, y_val, verbose=verbose,
                                       callbacks=pruning_callbacks, policy=ramp)
    # past the schedule's end_step the masks no longer change: fine-tuning keeps them fixed
    phases["finetune"] = train_baseline(wrapped, config, x_train, y_train, x_val, y_val, verbose=verbose,
                                        callbacks=pruning_callbacks, policy=settings.finetune)
    stripped = tfmot.sparsity.keras.strip_pruning(wrapped)
    return stripped, PruningRun(phases, kernel_sparsity(stripped))
