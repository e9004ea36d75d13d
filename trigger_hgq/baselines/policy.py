"""The training policy of a baseline: epoch cap, batch size, learning rate and its plateau schedule, early stopping.

A config's ``training`` section::

    training:
      epochs: 300                  # the cap
      batch_size: 1024
      learning_rate: 0.003
      early_stopping_patience: 40  # epochs without a lower val_loss before training stops (null: never stops)
      restore_best_weights: true   # end with the weights of the epoch of lowest val_loss (default true)
      reduce_lr_on_plateau: {factor: 0.5, patience: 10, min_lr: 1.0e-5}   # on val_loss; null: constant rate

The policy is parsed (and validated) once, by :meth:`TrainingPolicy.from_config`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import keras

from trigger_hgq.config import config_source
from trigger_hgq.schema import Bool, Field, Float, Int, Nullable, Obj, fail, validate

PLATEAU_SPEC = Obj({
    "factor": Field(Float(lo=0.0, hi=1.0), doc="learning-rate factor, in (0, 1)", default=0.5),
    "patience": Field(Int(lo=1), doc="epochs without a lower val_loss", default=10),
    "min_lr": Field(Float(lo=0.0, text_ok=True), doc="the floor", default=1e-5),
}, strict=True)
POLICY_FIELDS: dict[str, Field] = {
    "epochs": Field(Int(lo=1), doc="the epoch cap", default=10),
    "batch_size": Field(Int(lo=1), default=1024),
    "learning_rate": Field(Float(lo=0.0, text_ok=True), doc="Adam learning rate (> 0)", default=1e-3),
    "early_stopping_patience": Field(Nullable(Int(lo=0)), doc="epochs without a lower val_loss (0/null: off)"),
    "restore_best_weights": Field(Bool(), doc="end with the weights of the lowest val_loss", default=True),
    "reduce_lr_on_plateau": Field(Nullable(PLATEAU_SPEC), doc="the plateau schedule (null: constant rate)"),
}
"""The declared keys of a training policy (a baseline config's ``training``, a pruning ``finetune``)."""


@dataclass(frozen=True)
class PlateauSchedule:
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without a lower val_loss, down to
    ``min_lr``."""

    factor: float = 0.5
    patience: int = 10
    min_lr: float = 1e-5


@dataclass(frozen=True)
class TrainingPolicy:
    """How a baseline is fitted; ``epochs`` is the cap, ``early_stopping_patience`` None never stops early."""

    epochs: int = 10
    batch_size: int = 1024
    learning_rate: float = 1e-3
    early_stopping_patience: int | None = None
    restore_best_weights: bool = True
    reduce_lr_on_plateau: PlateauSchedule | None = None

    @classmethod
    def from_section(cls, section: dict | None, config: dict, prefix: str) -> TrainingPolicy:
        """The policy of a ``training``-like mapping at ``prefix`` of ``config`` (errors name the key path);
        keys outside :data:`POLICY_FIELDS` are left to the caller."""
        source = config_source(config)
        c = validate(Obj(POLICY_FIELDS), section or {}, source, prefix)
        if c["learning_rate"] <= 0.0:
            raise fail(source, f"{prefix}.learning_rate", f"must be > 0, got {c['learning_rate']!r}")
        plateau = c["reduce_lr_on_plateau"]
        if plateau is not None:
            if not 0.0 < plateau["factor"] < 1.0:
                raise fail(source, f"{prefix}.reduce_lr_on_plateau.factor",
                           f"must be in (0, 1), got {plateau['factor']!r}")
            plateau = PlateauSchedule(factor=float(plateau["factor"]), patience=int(plateau["patience"]),
                                      min_lr=float(plateau["min_lr"]))
        return cls(epochs=c["epochs"], batch_size=c["batch_size"], learning_rate=float(c["learning_rate"]),
                   early_stopping_patience=c["early_stopping_patience"] or None,
                   restore_best_weights=c["restore_best_weights"], reduce_lr_on_plateau=plateau)

    @classmethod
    def from_config(cls, config: dict) -> TrainingPolicy:
        """The policy of a baseline config's ``training`` section."""
        return cls.from_section(config.get("training"), config, "training")

    def capped(self, epochs: int | None) -> TrainingPolicy:
        """The same policy with at most ``epochs`` epochs (None: unchanged)."""
        return self if epochs is None else dataclasses.replace(self, epochs=min(self.epochs, int(epochs)))

    def callbacks(self) -> tuple[list, RestoreBest | None]:
        """The Keras callbacks of the policy and the one that tracks (and restores) the best epoch, if any."""
        out: list = []
        if self.reduce_lr_on_plateau is not None:
            p = self.reduce_lr_on_plateau
            out.append(keras.callbacks.ReduceLROnPlateau("val_loss", factor=p.factor, patience=p.patience,
                                                         min_lr=p.min_lr, verbose=0))
        best = None
        if self.restore_best_weights or self.early_stopping_patience:
            patience = self.early_stopping_patience or self.epochs + 1  # restore-only: never stops
            best = RestoreBest(patience=patience, restore=self.restore_best_weights)
            out.append(best)
        return out, best


class RestoreBest(keras.callbacks.EarlyStopping):
    """Early stopping on val_loss (``best_epoch``: 0-based) that ends training with the best epoch's weights, also
    when the epoch cap (not the patience) ended it (Keras' ``EarlyStopping`` restores them in ``on_train_end``)."""

    def __init__(self, patience: int, restore: bool):
        super().__init__("val_loss", patience=patience, restore_best_weights=restore)


@dataclass(frozen=True)
class TrainingRun:
    """What a fit under a policy did: the Keras history, the epochs run and the 1-based epoch whose weights the
    model ends with (the restored best, or the last)."""

    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int

    @classmethod
    def of(cls, history: dict[str, list[float]], best: RestoreBest | None) -> TrainingRun:
        """From a Keras history and the policy's best-epoch callback (None: the last epoch is kept)."""
        epochs = len(history.get("loss", []))
        if best is None or not best.restore_best_weights or best.best_weights is None:
            return cls(history, epochs, epochs)
        return cls(history, epochs, int(best.best_epoch) + 1)
