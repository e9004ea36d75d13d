"""HGQ training runs: a beta schedule, exact EBOPs per epoch and the Pareto front of checkpoints.

This is the library side of the pipeline's HGQ stage: give it an HGQ model (built with trigger-hgq layers or
converted from QKeras) and the data; it trains with ``beta * EBOPs`` in the loss and keeps every checkpoint not
dominated on (validation accuracy, EBOPs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from trigger_hgq.callbacks import (
    SCHEDULES,
    BetaScheduler,
    EBOPsLogger,
    LearningRateRestarts,
    ParetoFront,
    ResetRanges,
)
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.pareto import thin_front as thin_front  # re-exported: the pipeline picks exports with it

VALIDATION_BATCH_ROWS = 16384
"""Rows per validation batch in :func:`train_hgq`. Validation is inference only, so its batch size changes no result
(accuracy is a count of rows), only the time: at the training batch of 1024, validating the shipped data's 20k jets
took 25-50% of each epoch, in 16384-row batches about 3%."""


@dataclass
class HGQSchedule:
    """Training settings of one HGQ run (beta ramps from ``beta0`` to ``beta1`` over ``epochs``).

    ``lr_cycles``: cosine learning-rate decays with restarts over the run (0: constant ``learning_rate``).
    """

    epochs: int = 60
    batch_size: int = 1024
    learning_rate: float = 3e-3
    beta0: float = 1e-7
    beta1: float = 1e-4
    kind: str = "loglinear"
    lr_cycles: int = 0
    seed: int = 0

    @classmethod
    def from_dict(cls, raw: dict, source: str = "schedule", key: str = "schedule") -> HGQSchedule:
        """Validated schedule; errors read ``<source> key '<key>.<field>': ...``."""
        unknown = sorted(set(raw) - set(cls.__dataclass_fields__))
        if unknown:
            raise TriggerHGQError(f"{source} key '{key}.{unknown[0]}': unknown key "
                                  f"(known: {sorted(cls.__dataclass_fields__)})")
        sched = cls(**raw)
        if sched.kind not in SCHEDULES:
            raise TriggerHGQError(f"{source} key '{key}.kind': {sched.kind!r}, expected one of {SCHEDULES}")
        for name in ("epochs", "batch_size"):
            if getattr(sched, name) < 1:
                raise TriggerHGQError(f"{source} key '{key}.{name}': must be >= 1")
        return sched

    def to_dict(self) -> dict:
        return asdict(self)


STEPS_PER_EXECUTION = 32
"""Train steps that :func:`compile_for_hgq` runs per call into TensorFlow (Keras ``steps_per_execution``). Each
call costs a fixed dispatch that the XLA-compiled step of an HGQ model pays more of than float Keras (a bits tensor
beside every weight and activation: the jet MLP has 21 trainable tensors, against 8 in float); 32 steps per call
made epochs at batch 1024 about 0.76x as long. The steps and their arithmetic are the same, so the trained weights
are identical; batch-level callbacks see one call per 32 steps (epoch-level ones, which every trigger-hgq callback
is, are unaffected)."""


def compile_for_hgq(model: tf.keras.Model, learning_rate: float, jit_compile: bool = True,
                    steps_per_execution: int = STEPS_PER_EXECUTION) -> tf.keras.Model:
    """Compile with the loss HGQ models use: they output logits (no softmax in bit-exact firmware).

    ``jit_compile``: the whole train step is compiled by XLA, which fuses the many small elementwise ops of the
    quantizers, range tracking and EBOPs penalty (about 1.5-2x faster epochs at batch 1024-2048, see
    ``benchmarks/bench_training.py``); the quantized values are unchanged (powers of two and floor are exact).
    ``steps_per_execution``: see :data:`STEPS_PER_EXECUTION`.
    """
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model


def train_hgq(
    model: tf.keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    schedule: HGQSchedule,
    front_dir: str | Path,
    verbose: int = 0,
    callbacks: list | None = None,
) -> list[dict]:
    """Train ``model`` with the schedule; returns the Pareto front (sorted by EBOPs) saved in ``front_dir``.

    Each front point: ``{"epoch", "val_accuracy", "ebops", "metrics", "path"}`` with ``path`` relative to
    ``front_dir`` (a ``.keras`` checkpoint; reload with ``custom_objects()``). ``callbacks`` run after the
    schedule's own, so their epoch logs hold ``beta`` and ``ebops`` (e.g. a progress bar).
    """
    tf.keras.utils.set_random_seed(schedule.seed)
    compile_for_hgq(model, schedule.learning_rate)
    front = ParetoFront(front_dir, metric="val_accuracy")
    callbacks = [
        ResetRanges(),
        BetaScheduler(schedule.beta0, schedule.beta1, schedule.epochs, schedule.kind),
        *([LearningRateRestarts(schedule.learning_rate, schedule.epochs, schedule.lr_cycles)]
          if schedule.lr_cycles > 0 else []),
        EBOPsLogger(),
        front,
        *(callbacks or []),
    ]
    model.fit(*train, validation_data=val, epochs=schedule.epochs, batch_size=schedule.batch_size,
              validation_batch_size=max(schedule.batch_size, VALIDATION_BATCH_ROWS), callbacks=callbacks,
              verbose=verbose)
    return list(front.front)
