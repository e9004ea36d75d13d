"""Training callbacks: beta schedules, per-epoch range reset, exact EBOPs logging and the Pareto front."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import keras

from trigger_hgq.atomic import atomic_path, write_json_atomic
from trigger_hgq.bops import ebops, h_layers
from trigger_hgq.calibration import reset_ranges
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.layers.base import HQuantizedLayer
from trigger_hgq.pareto import dominates

SCHEDULES = ("constant", "linear", "loglinear")


def beta_at(epoch: int, kind: str, beta0: float, beta1: float | None, epochs: int) -> float:
    """Beta at ``epoch`` (0-based) of a schedule ramping from ``beta0`` to ``beta1`` over ``epochs`` epochs."""
    if kind == "constant" or beta1 is None:
        return float(beta0)
    t = min(max(epoch / max(epochs - 1, 1), 0.0), 1.0)
    if kind == "linear":
        return float(beta0 + (beta1 - beta0) * t)
    if kind == "loglinear":
        if beta0 <= 0 or beta1 <= 0:
            raise TriggerHGQError(f"loglinear beta schedule needs beta0, beta1 > 0, got {beta0}, {beta1}")
        return float(math.exp(math.log(beta0) + (math.log(beta1) - math.log(beta0)) * t))
    raise TriggerHGQError(f"beta schedule {kind!r}: expected one of {SCHEDULES}")


def set_beta(model: keras.Model, beta: float) -> None:
    """Set the EBOPs penalty weight of every quantizing layer."""
    for layer in h_layers(model):
        if isinstance(layer, HQuantizedLayer):
            layer.beta.assign(beta)


class BetaScheduler(keras.callbacks.Callback):
    """Sets beta at the start of each epoch: ``constant``, ``linear`` or ``loglinear`` from beta0 to beta1."""

    def __init__(self, beta0: float, beta1: float | None = None, epochs: int = 1, kind: str = "loglinear"):
        super().__init__()
        if kind not in SCHEDULES:
            raise TriggerHGQError(f"beta schedule {kind!r}: expected one of {SCHEDULES}")
        self.beta0, self.beta1, self.epochs, self.kind = beta0, beta1, epochs, kind
        beta_at(0, kind, beta0, beta1, epochs)  # validate now

    def on_epoch_begin(self, epoch, logs=None):
        set_beta(self.model, beta_at(epoch, self.kind, self.beta0, self.beta1, self.epochs))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["beta"] = beta_at(epoch, self.kind, self.beta0, self.beta1, self.epochs)


def cosine_restart_lr(lr: float, fraction: float, cycles: int, min_fraction: float = 0.1) -> float:
    """Learning rate at ``fraction`` (0..1) of a schedule made of ``cycles`` cosine decays from ``lr`` to
    ``min_fraction * lr``, each restarting at ``lr`` (``cycles <= 0``: constant ``lr``)."""
    if cycles <= 0:
        return float(lr)
    pos = min(max(fraction, 0.0), 1.0) * cycles
    pos = pos - math.floor(pos) if pos < cycles else 1.0
    return float(lr * (min_fraction + (1.0 - min_fraction) * 0.5 * (1.0 + math.cos(math.pi * pos))))


class LearningRateRestarts(keras.callbacks.Callback):
    """Cosine learning-rate decays with restarts over ``epochs`` epochs: each cycle ends with a few settled epochs
    at a low learning rate, whose checkpoints are the front's best points (the rest is exploration)."""

    def __init__(self, lr: float, epochs: int, cycles: int, min_fraction: float = 0.1):
        super().__init__()
        self.lr, self.epochs, self.cycles, self.min_fraction = lr, epochs, cycles, min_fraction

    def on_epoch_begin(self, epoch, logs=None):
        rate = cosine_restart_lr(self.lr, epoch / max(self.epochs, 1), self.cycles, self.min_fraction)
        self.model.optimizer.learning_rate = rate  # assigns the optimizer's learning-rate variable


class ResetRanges(keras.callbacks.Callback):
    """Resets the recorded activation ranges at the start of each epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        reset_ranges(self.model)


class EBOPsLogger(keras.callbacks.Callback):
    """Writes the exact EBOPs into the epoch logs as ``ebops``."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["ebops"] = float(ebops(self.model))


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


class ParetoFront(keras.callbacks.Callback):
    """Keeps the checkpoints not dominated on (``metric`` higher, EBOPs lower) in ``directory``.

    Each kept epoch is saved as ``epoch-XXXX.keras``; ``index.json`` lists them with their metrics. Put it after
    :class:`EBOPsLogger` (it reads ``logs['ebops']``, computing it if absent). With ``resume=True`` a front
    already in ``directory`` is continued; otherwise its checkpoints are removed when training starts.
    """

    def __init__(self, directory: str | os.PathLike, metric: str = "val_accuracy", resume: bool = False):
        super().__init__()
        self.directory = Path(directory)
        self.metric = metric
        self.resume = resume
        self.front: list[dict] = []

    def on_train_begin(self, logs=None):
        self.directory.mkdir(parents=True, exist_ok=True)
        index = self.directory / "index.json"
        if not index.exists():
            return
        old = json.loads(index.read_text())["front"]
        if self.resume:
            self.front = old
            return
        for p in old:
            _remove(self.directory / p["path"])
        index.unlink()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if self.metric not in logs:
            raise TriggerHGQError(f"ParetoFront: metric {self.metric!r} not in the epoch logs {sorted(logs)}")
        point = {
            "epoch": int(epoch),
            self.metric: float(logs[self.metric]),
            "ebops": float(logs["ebops"]) if "ebops" in logs else float(ebops(self.model)),
            "metrics": {k: float(v) for k, v in logs.items()},
        }
        if any(dominates(p, point, self.metric) or (p[self.metric] == point[self.metric]
                                                     and p["ebops"] == point["ebops"]) for p in self.front):
            return
        point["path"] = f"epoch-{epoch:04d}.keras"
        with atomic_path(self.directory / point["path"]) as tmp:
            self.model.save(tmp)
        for p in [p for p in self.front if dominates(point, p, self.metric)]:
            self.front.remove(p)
            _remove(self.directory / p["path"])
        self.front.append(point)
        self.front.sort(key=lambda p: p["ebops"])
        self._write_index()

    def _write_index(self) -> None:
        write_json_atomic(self.directory / "index.json", {"metric": self.metric, "front": self.front})
