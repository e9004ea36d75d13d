"""HGQ training runs: a beta schedule, exact EBOPs per epoch and the Pareto front of checkpoints.

This is the library side of the pipeline's HGQ stage: give it an HGQ model (built with trigger-hgq layers or
converted from QKeras) and the data; it trains with ``beta * EBOPs`` in the loss and keeps every checkpoint not
dominated on (validation accuracy, EBOPs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from trigger_hgq.callbacks import (
    SCHEDULES,
    BetaScheduler,
    EBOPsLogger,
    LearningRateRestarts,
    ParetoFront,
    ResetRanges,
)
from trigger_hgq.layers.base import connect
from trigger_hgq.schema import Enum, Float, Int, Obj, validate

VALIDATION_BATCH_ROWS = 16384
"""Rows per validation batch in :func:`train_hgq` (at least the training batch). Validation is inference only, so
its batch size changes no result (accuracy is a count of rows), only the time it takes."""


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
        """Validated schedule (:data:`SCHEDULE_SPEC`); errors read ``<source>: key '<key>.<field>': ...``."""
        checked = validate(SCHEDULE_SPEC, raw, source, key)
        return cls(**{k: checked[k] for k in raw})

    def to_dict(self) -> dict:
        return asdict(self)


_NUMBER = Float(text_ok=True)
SCHEDULE_SPEC = Obj({
    "epochs": (Int(lo=1), False, "training epochs (beta ramps over all of them)"),
    "batch_size": (Int(lo=1), False, "rows per training step"),
    "learning_rate": (Float(lo=0.0, text_ok=True), False, "Adam learning rate"),
    "beta0": (_NUMBER, False, "beta of the first epoch"),
    "beta1": (_NUMBER, False, "beta of the last epoch"),
    "kind": (Enum(SCHEDULES), False, "how beta moves from beta0 to beta1"),
    "lr_cycles": (Int(lo=0), False, "cosine learning-rate decays with restarts (0: constant)"),
    "seed": (Int(lo=None), False, "random seed of the run"),
}, strict=True)
"""The keys of :class:`HGQSchedule` (the pipeline config's ``hgq.schedule``)."""


STEPS_PER_EXECUTION = 32
"""Train steps that :func:`compile_for_hgq` runs per compiled call (Keras ``steps_per_execution``): each
call costs a fixed dispatch, which an HGQ model (a bits tensor beside every weight and activation) pays more of
than float Keras. The steps and their arithmetic are the same, so the trained weights are identical; batch-level
callbacks see one call per 32 steps (epoch-level ones, which every trigger-hgq callback is, are unaffected)."""


def compile_for_hgq(model: keras.Model, learning_rate: float, jit_compile: bool = True,
                    steps_per_execution: int = STEPS_PER_EXECUTION) -> keras.Model:
    """Compile with the loss HGQ models use: they output logits (no softmax in bit-exact firmware).

    ``jit_compile``: the whole train step is compiled by XLA, which fuses the many small elementwise ops of the
    quantizers, range tracking and EBOPs penalty (timings: ``benchmarks/bench_training.py``); the quantized values
    are unchanged (powers of two and floor are exact).
    ``steps_per_execution``: see :data:`STEPS_PER_EXECUTION`.
    Connects every trigger-hgq layer to its producers first (:func:`trigger_hgq.layers.base.connect`).
    """
    connect(model)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model


def train_hgq(
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    schedule: HGQSchedule,
    front_dir: str | Path,
    verbose: int = 0,
    callbacks: list | None = None,
) -> list[dict]:
    """Train ``model`` with the schedule; returns the Pareto front (sorted by EBOPs) saved in ``front_dir``.

    Each front point: ``{"epoch", "val_accuracy", "ebops", "metrics", "path"}`` with ``path`` relative to
    ``front_dir`` (a ``.keras`` checkpoint; reload with ``keras.saving.load_model``). ``callbacks`` run after the
    schedule's own, so their epoch logs hold ``beta`` and ``ebops`` (e.g. a progress bar).
    """
    keras.utils.set_random_seed(schedule.seed)
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
