"""The baselines' training policy: early stopping restores the best epoch, the plateau schedule lowers the learning
rate, the cap binds, and every shipped baseline config trains to convergence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trigger_hgq.baselines import build_qkeras_model, load_baseline_config, train_baseline
from trigger_hgq.baselines.policy import PlateauSchedule, TrainingPolicy
from trigger_hgq.data.synthetic import make_classification

CONFIGS = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / "baselines"


def _overfitting_problem():
    """Few noisy training rows for the 16-64-32-32-5 MLP: the validation loss falls, then rises."""
    x, y = make_classification(300, seed=1, noise=2.0)
    xv, yv = make_classification(2000, seed=2, noise=2.0)
    return x, y, xv, yv


def _float_model():
    config = load_baseline_config(CONFIGS / "jet_tagger_float.yaml")
    return build_qkeras_model(config), config


def _val_loss(model, xv, yv, batch_size):
    return float(model.evaluate(xv, yv, batch_size=batch_size, verbose=0)[0])


def test_early_stopping_restores_the_best_epoch():
    x, y, xv, yv = _overfitting_problem()
    model, config = _float_model()
    policy = TrainingPolicy(epochs=300, batch_size=64, learning_rate=3e-3, early_stopping_patience=15)
    run = train_baseline(model, config, x, y, xv, yv, policy=policy)
    val_loss = run.history["val_loss"]
    print(f"stopped after {run.epochs_run} epochs, best {run.best_epoch}: val loss "
          f"{val_loss[run.best_epoch - 1]:.4f} (last {val_loss[-1]:.4f})")
    assert run.epochs_run == len(val_loss) < policy.epochs  # the patience, not the cap, ended it
    assert run.epochs_run == run.best_epoch + policy.early_stopping_patience
    assert run.best_epoch == int(np.argmin(val_loss)) + 1
    assert val_loss[-1] > val_loss[run.best_epoch - 1] * 1.05  # it overfitted after the best epoch
    restored = _val_loss(model, xv, yv, policy.batch_size)
    assert restored == pytest.approx(val_loss[run.best_epoch - 1], rel=1e-5)


def test_best_weights_are_restored_when_the_cap_ends_training():
    x, y, xv, yv = _overfitting_problem()
    model, config = _float_model()
    policy = TrainingPolicy(epochs=60, batch_size=64, learning_rate=3e-3, early_stopping_patience=None)
    run = train_baseline(model, config, x, y, xv, yv, policy=policy)
    val_loss = run.history["val_loss"]
    assert run.epochs_run == 60 and run.best_epoch == int(np.argmin(val_loss)) + 1 < 60
    assert _val_loss(model, xv, yv, 64) == pytest.approx(min(val_loss), rel=1e-5)

    model, _ = _float_model()
    last = train_baseline(model, config, x, y, xv, yv, policy=TrainingPolicy(
        epochs=60, batch_size=64, learning_rate=3e-3, restore_best_weights=False))
    assert last.best_epoch == 60
    assert _val_loss(model, xv, yv, 64) == pytest.approx(last.history["val_loss"][-1], rel=1e-5)


def test_plateau_schedule_halves_the_learning_rate_down_to_its_floor():
    x, y, xv, yv = _overfitting_problem()
    model, config = _float_model()
    policy = TrainingPolicy(epochs=80, batch_size=64, learning_rate=3e-3,
                            reduce_lr_on_plateau=PlateauSchedule(factor=0.5, patience=3, min_lr=1e-4))
    run = train_baseline(model, config, x, y, xv, yv, policy=policy)
    lrs = run.history["learning_rate"]
    values = [lrs[0]] + [b for a, b in zip(lrs, lrs[1:], strict=False) if b != a]  # each rate it took
    print("learning rates:", values)
    assert values[0] == pytest.approx(3e-3) and len(values) > 2
    for before, after in zip(values, values[1:], strict=False):
        assert after == pytest.approx(max(0.5 * before, 1e-4), rel=1e-5)
    assert values[-1] == pytest.approx(1e-4, rel=1e-5)


def test_epoch_override_caps_the_policy():
    policy = TrainingPolicy.from_config(load_baseline_config(CONFIGS / "jet_tagger_6bit.yaml"))
    assert policy.capped(4).epochs == 4 and policy.capped(None) == policy
    assert policy.capped(10_000).epochs == policy.epochs


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_baselines_train_to_convergence(path):
    """Every shipped baseline: lr 3e-3 halved on a 10-epoch val-loss plateau, early stopping with patience >= 20
    restoring the best weights, a cap of >= 300 epochs."""
    policy = TrainingPolicy.from_config(load_baseline_config(path))
    assert policy.learning_rate == pytest.approx(3e-3) and policy.epochs >= 300
    assert policy.early_stopping_patience >= 20 and policy.restore_best_weights
    assert policy.reduce_lr_on_plateau == PlateauSchedule(factor=0.5, patience=10, min_lr=1e-5)


def test_best_of_seeds_keeps_the_most_accurate_seed_and_records_every_seed():
    from trigger_hgq.baselines.seeds import best_of_seeds, seed_model_name

    runs = {0: {"val_accuracy": 0.62, "path": "a.keras", "training": {"epochs_run": 90}},
            3: {"val_accuracy": 0.65, "path": "b.keras", "training": {"epochs_run": 120}},
            1: {"val_accuracy": 0.65, "path": "c.keras", "training": {"epochs_run": 80}}}
    best = best_of_seeds(runs)
    assert best["path"] == "c.keras"  # a tie goes to the lowest seed
    assert best["training"] == {"epochs_run": 80, "seed": 1,
                                "seed_val_accuracy": {"0": 0.62, "1": 0.65, "3": 0.65}}
    assert runs[1]["training"] == {"epochs_run": 80}  # the task's result is not changed
    assert seed_model_name("deepsets_8bit", 0, 1) == "deepsets_8bit"
    assert seed_model_name("deepsets_8bit", 1, 2) == "deepsets_8bit_seed1"
