"""HGQ training of the 16-64-32-32-5 jet MLP: beta schedule, Pareto front, and the effect of beta.

Schedule used here (documented in README "Training recipe"): beta ramps log-linearly from 1e-6 to 1e-3 over 16
epochs, with fractional bits moving 10x faster than the weights (lr_scale=10).
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import trigger_hgq as th
from trigger_hgq.data.synthetic import make_classification
from trigger_hgq.layers.base import connect
from trigger_hgq.training import STEPS_PER_EXECUTION

BITS = {"lr_scale": 10.0, "init_f": 6.0}


def jet_mlp() -> keras.Model:
    inp = keras.Input((16,))
    h = th.HQuantize(output_quantizer=BITS)(inp)
    for units in (64, 32, 32):
        h = th.HDense(units, activation="relu", kernel_quantizer=BITS, output_quantizer=BITS)(h)
    return keras.Model(inp, th.HDense(5, kernel_quantizer=BITS, output_quantizer=BITS)(h))


@pytest.fixture(scope="module")
def data():
    return make_classification(16000, seed=0), make_classification(4000, seed=1)


def fit(data, callbacks, epochs):
    (x, y), (xv, yv) = data
    keras.utils.set_random_seed(0)
    model = connect(jet_mlp())
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=512, epochs=epochs, validation_data=(xv, yv), verbose=0,
                        callbacks=[th.ResetRanges(), *callbacks, th.EBOPsLogger()])
    return model, history.history


@pytest.mark.slow
def test_loglinear_beta_gives_a_pareto_front_spanning_10x(data, tmp_path):
    epochs = 16
    front = th.ParetoFront(tmp_path / "front")
    model, hist = fit(data, [th.BetaScheduler(1e-6, 1e-3, epochs, "loglinear"), front], epochs)
    betas = hist["beta"]
    assert betas[0] == pytest.approx(1e-6) and betas[-1] == pytest.approx(1e-3)
    assert all(b1 > b0 for b0, b1 in zip(betas, betas[1:], strict=False))
    index = json.loads((tmp_path / "front" / "index.json").read_text())
    points = index["front"]
    assert len(points) >= 5
    ebops = [p["ebops"] for p in points]
    assert max(ebops) / min(ebops) >= 10
    # non-dominated: sorted by EBOPs, accuracy strictly increases
    accs = [p["val_accuracy"] for p in points]
    assert accs == sorted(accs) and len(set(accs)) == len(accs)
    for p in points:  # every checkpoint exists and reloads with the recorded EBOPs
        assert (tmp_path / "front" / p["path"]).exists()
    best = points[-1]
    loaded = keras.saving.load_model(tmp_path / "front" / best["path"])
    assert th.ebops(loaded) == best["ebops"]
    assert best["val_accuracy"] > 0.7


@pytest.mark.slow
def test_larger_constant_beta_ends_with_fewer_ebops(data):
    ends = {}
    for beta in (1e-5, 1e-4):
        _, hist = fit(data, [th.BetaScheduler(beta, kind="constant")], epochs=5)
        ends[beta] = hist["ebops"][-1]
    assert ends[1e-4] < ends[1e-5]


def test_beta_schedules():
    from trigger_hgq.callbacks import beta_at

    assert beta_at(0, "linear", 0.0, 1.0, 5) == 0.0
    assert beta_at(2, "linear", 0.0, 1.0, 5) == 0.5
    assert beta_at(2, "loglinear", 1e-6, 1e-2, 5) == pytest.approx(1e-4)
    assert beta_at(9, "loglinear", 1e-6, 1e-2, 5) == pytest.approx(1e-2)  # held after the ramp
    assert beta_at(3, "constant", 2e-5, None, 5) == 2e-5
    with pytest.raises(th.TriggerHGQError, match="loglinear beta schedule needs beta0, beta1 > 0"):
        th.BetaScheduler(0.0, 1e-3, 5, "loglinear")


def test_pareto_dominance_keeps_only_the_front(tmp_path):
    model = jet_mlp()
    front = th.ParetoFront(tmp_path, metric="val_accuracy")
    front.set_model(model)
    front.on_train_begin()
    for epoch, (acc, ebops) in enumerate([(0.5, 100.0), (0.6, 200.0), (0.55, 50.0), (0.7, 150.0), (0.4, 300.0)]):
        front.on_epoch_end(epoch, {"val_accuracy": acc, "ebops": ebops})
    kept = [(p["val_accuracy"], p["ebops"]) for p in front.front]
    assert kept == [(0.55, 50.0), (0.7, 150.0)]
    assert sorted(p.name for p in tmp_path.glob("*.keras")) == ["epoch-0002.keras", "epoch-0003.keras"]
    assert np.isclose(json.loads((tmp_path / "index.json").read_text())["front"][1]["val_accuracy"], 0.7)


def test_a_new_run_replaces_an_old_front_unless_resumed(tmp_path):
    model = jet_mlp()
    first = th.ParetoFront(tmp_path)
    first.set_model(model)
    first.on_train_begin()
    first.on_epoch_end(0, {"val_accuracy": 0.9, "ebops": 10.0})  # would dominate everything after it
    resumed = th.ParetoFront(tmp_path, resume=True)
    resumed.set_model(model)
    resumed.on_train_begin()
    assert [p["val_accuracy"] for p in resumed.front] == [0.9]
    fresh = th.ParetoFront(tmp_path)
    fresh.set_model(model)
    fresh.on_train_begin()
    fresh.on_epoch_end(0, {"val_accuracy": 0.5, "ebops": 100.0})
    assert [p["val_accuracy"] for p in fresh.front] == [0.5]
    assert sorted(p.name for p in tmp_path.glob("*.keras")) == ["epoch-0000.keras"]


def default_mlp(beta: float) -> keras.Model:
    """The README's model with every quantizer setting left at its default; only beta is given."""
    inp = keras.Input((16,))
    h = th.HQuantize(beta=beta)(inp)
    for units in (32, 16):
        h = th.HDense(units, activation="relu", beta=beta)(h)
    return keras.Model(inp, th.HDense(5, beta=beta)(h))


@pytest.mark.slow
def test_library_defaults_move_the_bits_in_a_short_training(data):
    """A new user's first run: plain compile, 8 epochs, defaults untouched; beta 1e-3 must cost fewer EBOPs."""
    (x, y), _ = data
    result = {}
    for beta in (0.0, 1e-3):
        keras.utils.set_random_seed(0)
        model = default_mlp(beta)
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        model.fit(x, y, batch_size=2048, epochs=8, verbose=0)
        th.calibrate(model, x)
        result[beta] = th.ebops(model)
    assert result[1e-3] < 0.8 * result[0.0], result


def test_train_hgq_front_accuracy_is_the_checkpoints_accuracy_on_the_validation_rows(data, tmp_path):
    """train_hgq validates in large batches (VALIDATION_BATCH_ROWS); the recorded val_accuracy must still be the
    saved checkpoint's accuracy on the validation rows, row by row, at any inference batch size."""
    from trigger_hgq.training import VALIDATION_BATCH_ROWS, HGQSchedule, train_hgq

    (x, y), (xv, yv) = data
    assert len(yv) < VALIDATION_BATCH_ROWS  # one validation batch, against 64-row batches below
    keras.utils.set_random_seed(0)
    front = train_hgq(default_mlp(1e-5), (x[:4096], y[:4096]), (xv, yv),
                      HGQSchedule(epochs=3, batch_size=256, beta0=1e-6, beta1=1e-4), tmp_path / "front")
    assert front
    for point in front:
        model = keras.saving.load_model(tmp_path / "front" / point["path"])
        hits = int(np.sum(np.argmax(model.predict(xv, batch_size=64, verbose=0), axis=1) == yv))
        assert hits == round(point["val_accuracy"] * len(yv)), point


def test_steps_per_execution_changes_no_trained_weight(data):
    """compile_for_hgq runs STEPS_PER_EXECUTION steps per call: the same steps, so the same weights, bits and ranges
    as one step per call (on a step count that leaves a partial last call in each epoch)."""
    (x, y), _ = data
    x, y = x[:5000], y[:5000]  # 5000 rows at batch 100: 50 steps per epoch, 32 + 18 per call
    assert STEPS_PER_EXECUTION > 1
    weights = {}
    for steps in (1, STEPS_PER_EXECUTION):
        keras.utils.set_random_seed(0)
        model = th.compile_for_hgq(jet_mlp(), 3e-3, steps_per_execution=steps)
        model.fit(x, y, batch_size=100, epochs=2, verbose=0, callbacks=[th.ResetRanges()])
        weights[steps] = [keras.ops.convert_to_numpy(w) for w in model.weights]
        assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 100
    for a, b in zip(*weights.values(), strict=True):
        np.testing.assert_array_equal(a, b)
