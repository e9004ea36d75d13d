"""A converted QKeras model trains with the HGQ penalty: fewer EBOPs at equal or better validation accuracy."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

import trigger_hgq as th
from trigger_hgq.baselines import build_qkeras_model, load_baseline_config, train_baseline
from trigger_hgq.data.synthetic import make_classification

REPO = Path(__file__).resolve().parents[1]


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.asarray(model(x, training=False)).argmax(1) == y))


@pytest.mark.slow
def test_converted_baseline_trains_to_fewer_ebops():
    x, y = make_classification(4000, seed=1)
    xv, yv = make_classification(2000, seed=2)
    # a QKeras baseline (uniform 6 bits, like the public tagger), trained briefly
    config = load_baseline_config(REPO / "pipelines" / "configs" / "baselines" / "jet_tagger_6bit.yaml")
    config["training"].update(epochs=3, batch_size=256)
    source = build_qkeras_model(config)
    train_baseline(source, config, x, y, xv, yv)

    model = th.from_qkeras(source, quantizer={"lr_scale": 10.0})
    acc_before, ebops_before = accuracy(model, xv, yv), th.ebops(model)
    assert acc_before == pytest.approx(accuracy(source, xv, yv), abs=0.01)  # conversion keeps the classifier

    epochs = 6
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=256, verbose=0, callbacks=[
        th.ResetRanges(), th.BetaScheduler(1e-6, 1e-5, epochs=epochs, kind="loglinear"), th.EBOPsLogger(),
    ])
    th.calibrate(model, x)
    acc_after, ebops_after = accuracy(model, xv, yv), th.ebops(model)
    print(f"HGQ training of the converted 6-bit tagger: EBOPs {ebops_before} -> {ebops_after}, "
          f"val accuracy {acc_before:.4f} -> {acc_after:.4f}; per epoch {[int(e) for e in history.history['ebops']]}")
    assert ebops_after < ebops_before
    assert acc_after >= acc_before
