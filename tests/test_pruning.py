"""Pruned QKeras baselines: the polynomial-decay schedule, the magnitude masks, the target sparsity reached and kept
through fine-tuning, saving and the hls4ml export (zero weights in the project), and the parent's initial
weights."""

from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np
import pytest

from trigger_hgq import TriggerHGQError
from trigger_hgq.baselines import build_qkeras_model, load_baseline_config, train_baseline
from trigger_hgq.baselines.pruning import (
    PRUNABLE,
    PolynomialDecay,
    PruningSettings,
    kernel_sparsity,
    magnitude_mask,
    prune_baseline,
)
from trigger_hgq.convert.io import load_model, save_model
from trigger_hgq.data.synthetic import make_classification

CONFIGS = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / "baselines"
TARGETS = {"jet_tagger_6bit_pruned50": 0.5, "jet_tagger_6bit_pruned75": 0.75}


@pytest.fixture(scope="module")
def data():
    x, y = make_classification(4000, seed=1)
    xv, yv = make_classification(2000, seed=2)
    return x, y, xv, yv


def _kernels(model):
    return {layer.name: keras.ops.convert_to_numpy(layer.kernel)
            for layer in model.layers if isinstance(layer, PRUNABLE)}


def test_polynomial_decay_follows_tfmot_and_ends_on_the_target():
    """s(t) = s_f + (s_i - s_f) (1 - t / t_end)^3, masks recomputed every ``frequency`` steps up to ``end_step``."""
    config = load_baseline_config(CONFIGS / "jet_tagger_6bit_pruned75.yaml")
    settings = PruningSettings.from_config(config)
    schedule = PolynomialDecay.over(settings, steps=1234)
    assert schedule.frequency == 100 and schedule.end_step == 1200 and schedule.begin_step == 0
    assert schedule.sparsity(0) == settings.initial_sparsity == 0.0
    assert schedule.sparsity(600) == pytest.approx(0.75 - 0.75 * 0.5 ** 3)
    assert schedule.sparsity(1200) == schedule.sparsity(5000) == pytest.approx(0.75)
    updates = [t for t in range(2000) if schedule.updates_at(t)]
    assert updates == list(range(0, 1201, 100))
    short = PolynomialDecay.over(settings, steps=7)  # fewer steps than ten updates: one per step
    assert short.frequency == 1 and short.end_step == 7


def test_magnitude_mask_zeroes_the_smallest_weights():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(16, 10))
    kernel[0, :4] = 0.0  # already pruned entries stay pruned
    mask = magnitude_mask(kernel, 0.3)
    assert mask.shape == kernel.shape and int(np.sum(mask == 0)) == 48
    assert np.all(mask[0, :4] == 0)
    assert np.abs(kernel[mask == 0]).max() <= np.abs(kernel[mask == 1]).min()


def _pruned(name, data, epochs_cap=3, init_weights=None):
    config = load_baseline_config(CONFIGS / f"{name}.yaml")
    config["training"]["batch_size"] = 256
    model = build_qkeras_model(config)
    return prune_baseline(model, config, *data, init_weights=init_weights, epochs_cap=epochs_cap)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_pruned_baseline_reaches_its_target_sparsity(name, data, tmp_path):
    target = TARGETS[name]
    model, run = _pruned(name, data)
    assert list(run.phases) == ["dense", "pruning", "finetune"]  # no initial weights: trained dense first
    assert all(r.epochs_run <= 3 for r in run.phases.values())  # the cap binds every phase
    assert run.epochs_run == sum(r.epochs_run for r in run.phases.values())
    kernels = _kernels(model)
    zeros = sum(int(np.sum(k == 0)) for k in kernels.values()) / sum(k.size for k in kernels.values())
    print(f"{name}: sparsity {zeros:.4f}, per layer", {n: round(float(np.mean(k == 0)), 4) for n, k in kernels.items()})
    assert run.sparsity == pytest.approx(zeros) == kernel_sparsity(model)
    assert abs(zeros - target) <= 0.01
    assert all(abs(np.mean(k == 0) - target) <= 0.01 for k in kernels.values())  # every layer, not only the sum
    xv, yv = data[2], data[3]
    accuracy = np.mean(model.predict(xv, verbose=0).argmax(1) == yv)
    assert accuracy > 0.4  # 5 classes: chance is 0.2

    # saved and reloaded: plain QKeras layers, the same zeros and outputs
    assert all(layer.kernel.constraint is None or type(layer.kernel.constraint).__name__ != "KernelMask"
               for layer in model.layers if isinstance(layer, PRUNABLE))  # the masks are gone
    path = save_model(model, tmp_path / f"{name}.keras")
    again = load_model(path)
    kinds = {type(layer).__name__ for layer in again.layers}
    assert "QDense" in kinds
    for layer_name, kernel in _kernels(again).items():
        np.testing.assert_array_equal(kernel == 0, kernels[layer_name] == 0)
    np.testing.assert_array_equal(again.predict(xv, verbose=0), model.predict(xv, verbose=0))


def test_pruning_starts_from_the_parent_weights(data, tmp_path):
    x, y, xv, yv = data
    config = load_baseline_config(CONFIGS / "jet_tagger_6bit.yaml")
    config["training"].update(epochs=6, batch_size=256)
    parent = build_qkeras_model(config)
    train_baseline(parent, config, x, y, xv, yv)
    parent_accuracy = np.mean(parent.predict(xv, verbose=0).argmax(1) == yv)
    path = save_model(parent, tmp_path / "parent.keras")

    model, run = _pruned("jet_tagger_6bit_pruned50", data, epochs_cap=1, init_weights=path)
    assert list(run.phases) == ["pruning", "finetune"]
    accuracy = np.mean(model.predict(xv, verbose=0).argmax(1) == yv)
    # one ramp epoch and one fine-tuning epoch from fresh weights reach far less than the trained parent
    print(f"parent {parent_accuracy:.3f}, pruned from it {accuracy:.3f}")
    assert accuracy > parent_accuracy - 0.05 and abs(run.sparsity - 0.5) <= 0.01

    other = keras.Sequential([keras.Input((16,)), keras.layers.Dense(7), keras.layers.Dense(5)])
    wrong = save_model(other, tmp_path / "other.keras")
    with pytest.raises(TriggerHGQError, match="other.keras"):
        _pruned("jet_tagger_6bit_pruned50", data, epochs_cap=1, init_weights=wrong)


def _array_values(header: Path) -> np.ndarray:
    """The numbers of the array initialiser in an hls4ml weights header (``w2[...] = {...};``)."""
    body = re.search(r"=\s*\{(.*?)\}", header.read_text(), re.S)
    assert body is not None, header
    return np.array([float(v) for v in body.group(1).replace("\n", " ").split(",") if v.strip()])


@pytest.mark.slow
def test_pruned_baseline_stays_pruned_through_export(data, tmp_path):
    """The hls4ml project's weight arrays carry the zeros (at least the target's fraction)."""
    import trigger_hgq as th
    from trigger_hgq.export.candidate import QKERAS_INPUT_PRECISION
    from trigger_hgq.models import logits_model

    model, run = _pruned("jet_tagger_6bit_pruned75", data, epochs_cap=2)
    path = save_model(model, tmp_path / "pruned.keras")
    export = th.to_hls4ml(logits_model(load_model(path)), tmp_path / "fw", x=data[2][:300], backend="Vivado",
                          input_precision=QKERAS_INPUT_PRECISION)
    assert export.report["n_checked"] == 300
    headers = sorted((tmp_path / "fw" / "firmware" / "weights").glob("w*.h"))
    assert len(headers) == 4, headers  # the four Dense kernels
    values = [_array_values(h) for h in headers]
    assert sorted(v.size for v in values) == sorted(k.size for k in _kernels(model).values())
    zeros = sum(int(np.sum(v == 0)) for v in values) / sum(v.size for v in values)
    print(f"exported kernels: {zeros:.4f} zeros (model {run.sparsity:.4f})")
    assert zeros >= 0.75 - 0.01 and zeros >= run.sparsity
