"""Magnitude-pruned QKeras baselines, pruned as the hls4ml tutorial prunes its jet tagger.

A baseline config with a ``pruning`` section::

    pruning:
      target_sparsity: 0.75    # the fraction of zero kernel weights in every Dense / Conv layer
      initial_sparsity: 0.0    # where the polynomial ramp starts
      epochs: 30               # pruning phase: sparsity ramps (PolynomialDecay) to the target over these epochs
      learning_rate: 0.001     # of the pruning phase (default: the training policy's)
      finetune: {}             # then the mask stays fixed and the model is fine-tuned under the training policy,
                               # with these keys of it replaced (e.g. {epochs: 200, learning_rate: 0.001})

The model starts from given weights (the trained unpruned parent) or, without them, is first trained dense under
the training policy. Pruning is done with plain Keras: every Dense / Conv kernel gets a :class:`KernelMask`
constraint (Keras applies a variable's constraint after each optimizer step, so a masked weight is zero after
every step); :class:`MagnitudePruning`, a callback of the pruning phase, recomputes the masks every ``frequency``
steps from the smallest ``|w|`` at the sparsity of a :class:`PolynomialDecay` schedule. Fine-tuning keeps the
masks fixed; at the end the constraints are removed again, so the result is the same model with plain kernels
whose pruned entries are exact zeros.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

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
PRUNABLE = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D)  # qkeras' Q* subclass these
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


def kernel_sparsity(model: keras.Model) -> float:
    """The fraction of zero entries over the kernels of all prunable (Dense / Conv) layers."""
    kernels = [keras.ops.convert_to_numpy(layer.kernel) for layer in model.layers if isinstance(layer, PRUNABLE)]
    if not kernels:
        raise TriggerHGQError(f"model {model.name!r} has no Dense or Conv layer to prune")
    return float(sum(int(np.sum(k == 0)) for k in kernels) / sum(k.size for k in kernels))


def load_initial_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """Set ``model``'s weights from a saved model of the same architecture (the unpruned parent baseline)."""
    from trigger_hgq.convert.io import load_model

    parent = load_model(path)
    shapes = [w.shape for w in model.get_weights()]
    if [w.shape for w in parent.get_weights()] != shapes:
        raise TriggerHGQError(f"initial weights {str(path)!r}: the model there has another architecture than "
                              f"{model.name!r} (weight shapes differ)")
    model.set_weights(parent.get_weights())


@dataclass(frozen=True)
class PolynomialDecay:
    """The sparsity ramp of tensorflow-model-optimization's ``PolynomialDecay``: at step ``t`` (optimizer steps,
    0-based) the target is ``s(t) = final + (initial - final) * (1 - p)**power`` with
    ``p = clip((t - begin_step) / (end_step - begin_step), 0, 1)``; masks are recomputed at the steps
    ``begin_step + k * frequency`` up to ``end_step``."""

    initial_sparsity: float
    final_sparsity: float
    begin_step: int
    end_step: int
    frequency: int
    power: float = 3.0

    def sparsity(self, step: int) -> float:
        span = max(1, self.end_step - self.begin_step)
        p = min(1.0, max(0.0, (step - self.begin_step) / span))
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (1.0 - p) ** self.power

    def updates_at(self, step: int) -> bool:
        """Whether the masks are recomputed after ``step`` optimizer steps."""
        return self.begin_step <= step <= self.end_step and (step - self.begin_step) % self.frequency == 0

    @classmethod
    def over(cls, settings: PruningSettings, steps: int) -> PolynomialDecay:
        """The ramp of ``settings`` over ``steps`` optimizer steps: masks recomputed about ten times, at most
        :data:`MAX_FREQUENCY_STEPS` steps apart, the last update (at the target) within the ramp."""
        frequency = max(1, min(MAX_FREQUENCY_STEPS, steps // 10))
        return cls(settings.initial_sparsity, settings.target_sparsity, begin_step=0,
                   end_step=frequency * (steps // frequency), frequency=frequency)


class KernelMask(keras.constraints.Constraint):
    """Zero the pruned entries of a kernel: ``w -> inner(w) * mask`` (``inner``: the constraint the kernel had,
    e.g. qkeras' clip; ``mask``: a non-trainable variable of 0/1 of the kernel's shape). It is set on the kernel
    variable during pruning only, never in a layer's config, so it is not saved."""

    def __init__(self, mask: keras.Variable, inner=None):
        self.mask = mask
        self.inner = inner

    def __call__(self, w):
        if self.inner is not None:
            w = self.inner(w)
        return ops.multiply(w, ops.cast(self.mask, w.dtype))


def magnitude_mask(kernel: np.ndarray, sparsity: float) -> np.ndarray:
    """0/1 mask zeroing the ``round(sparsity * size)`` entries of smallest ``|kernel|`` (ties: in index order,
    so entries already zero stay pruned)."""
    flat = np.abs(np.asarray(kernel, np.float64)).ravel()
    n_zero = int(round(float(sparsity) * flat.size))
    mask = np.ones(flat.size, np.float32)
    mask[np.argsort(flat, kind="stable")[:n_zero]] = 0.0
    return mask.reshape(np.shape(kernel))


class Masks:
    """The :class:`KernelMask` constraints of a model's prunable kernels: attached on creation, removed by
    :meth:`detach` (which restores each kernel's own constraint)."""

    def __init__(self, model: keras.Model):
        self.layers = [layer for layer in model.layers if isinstance(layer, PRUNABLE)]
        if not self.layers:
            raise TriggerHGQError(f"model {model.name!r} has no Dense or Conv layer to prune")
        self.constraints = []
        for layer in self.layers:
            mask = keras.Variable(np.ones(tuple(layer.kernel.shape), np.float32), trainable=False,
                                  name=f"{layer.name}_mask")
            constraint = KernelMask(mask, inner=layer.kernel.constraint)
            layer.kernel.constraint = constraint
            self.constraints.append(constraint)

    def update(self, sparsity: float) -> None:
        """New masks at ``sparsity`` from the current kernels; the kernels are masked at once."""
        for layer, constraint in zip(self.layers, self.constraints, strict=True):
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            mask = magnitude_mask(kernel, sparsity)
            constraint.mask.assign(mask)
            layer.kernel.assign(kernel * mask)

    def detach(self) -> None:
        for layer, constraint in zip(self.layers, self.constraints, strict=True):
            layer.kernel.constraint = constraint.inner


class MagnitudePruning(keras.callbacks.Callback):
    """Recompute the masks at the steps of ``schedule`` (counted over every fit this callback takes part in):
    before the first step and after each optimizer step where :meth:`PolynomialDecay.updates_at` holds."""

    def __init__(self, masks: Masks, schedule: PolynomialDecay):
        super().__init__()
        self.masks = masks
        self.schedule = schedule
        self.step = 0

    def _update(self) -> None:
        sync = getattr(self.model, "jax_state_sync", None)  # JAX: the fit's state back into the variables
        if callable(sync):
            sync()
        self.masks.update(self.schedule.sparsity(self.step))
        if keras.backend.backend() == "jax":
            # a jitted JAX step holds the masks as constants: trace it again with the new ones
            self.model.make_train_function(force=True)

    def on_train_begin(self, logs=None):
        if self.step == 0 and self.schedule.updates_at(0):
            self._update()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.schedule.updates_at(self.step):
            self._update()


def prune_baseline(model: keras.Model, config: dict, x_train, y_train, x_val, y_val,
                   init_weights: str | os.PathLike | None = None, epochs_cap: int | None = None, verbose: int = 0,
                   callbacks: list | None = None, settings: PruningSettings | None = None,
                   policy: TrainingPolicy | None = None) -> tuple[keras.Model, PruningRun]:
    """Prune ``model`` (built from ``config``) to ``pruning.target_sparsity``: start from ``init_weights`` or
    train it dense under the training policy, ramp the sparsity with a polynomial decay, fine-tune with the masks
    fixed (early stopping with restore-best), remove the mask constraints. ``epochs_cap`` caps every phase.
    ``settings`` and ``policy`` are the config's parsed ``pruning`` section and training policy (None: parsed
    from ``config``).

    Returns the model (the same object, its pruned kernel entries exact zeros) and its :class:`PruningRun`.
    """
    settings = (settings or PruningSettings.from_config(config)).capped(epochs_cap)
    policy = (policy or TrainingPolicy.from_config(config)).capped(epochs_cap)
    phases: dict[str, TrainingRun] = {}
    if init_weights is not None:
        load_initial_weights(model, init_weights)
    else:
        phases["dense"] = train_baseline(model, config, x_train, y_train, x_val, y_val, verbose=verbose,
                                         callbacks=callbacks, policy=policy)
    steps = settings.epochs * math.ceil(len(x_train) / policy.batch_size)
    masks = Masks(model)
    try:
        # the pruning callback first: the masks are set before the epoch's other callbacks see the weights
        pruning = MagnitudePruning(masks, PolynomialDecay.over(settings, steps))
        ramp = TrainingPolicy(epochs=settings.epochs, batch_size=policy.batch_size,
                              learning_rate=settings.learning_rate, restore_best_weights=False)
        phases["pruning"] = train_baseline(model, config, x_train, y_train, x_val, y_val, verbose=verbose,
                                           callbacks=[pruning, *(callbacks or [])], policy=ramp)
        # the schedule ended on the target: fine-tuning keeps the masks fixed
        phases["finetune"] = train_baseline(model, config, x_train, y_train, x_val, y_val, verbose=verbose,
                                            callbacks=callbacks, policy=settings.finetune)
    finally:
        masks.detach()
    return model, PruningRun(phases, kernel_sparsity(model))
