"""The pipeline's HGQ stage helpers: export points matched to the baselines, learning-rate restarts, the fresh
start, and the local process pool used for exports."""

from __future__ import annotations

import math

import pytest

from trigger_hgq.callbacks import cosine_restart_lr
from trigger_hgq.comparison import export_matches
from trigger_hgq.pipeline.executor import PoolExecutor


def test_exported_matches_are_the_cheapest_reaching_each_baseline():
    front = [{"path": f"p{i}", "ebops": e, "val_accuracy": a}
             for i, (e, a) in enumerate([(1000, 0.60), (3000, 0.70), (5000, 0.715), (9000, 0.7205), (20000, 0.73)])]
    baselines = [{"name": "b6", "val_accuracy": 0.72}, {"name": "float", "val_accuracy": None}]
    chosen = export_matches(front, baselines)
    # 0.72 itself -> the 9000-EBOPs point; 0.1 pt above (calibration slack) -> the 20000 one; within 0.5 pt -> 5000;
    # no validation accuracy: nothing
    assert sorted(p["path"] for p in chosen) == ["p2", "p3", "p4"]
    assert export_matches(front, [{"val_accuracy": 0.99}]) == []


def test_cosine_restarts_decay_and_restart():
    lr = 1e-2
    assert cosine_restart_lr(lr, 0.3, cycles=0) == lr  # off: constant
    values = [cosine_restart_lr(lr, t / 100, cycles=4) for t in range(101)]
    assert values[0] == pytest.approx(lr)
    assert min(values) >= 0.1 * lr - 1e-12
    # each quarter decays monotonically, then restarts at the full rate
    for start in (0, 25, 50, 75):
        seg = values[start:start + 25]
        assert all(b <= a for a, b in zip(seg, seg[1:], strict=False))
    assert values[25] == pytest.approx(lr) and values[24] < 0.2 * lr
    assert values[100] == pytest.approx(0.1 * lr)
    assert cosine_restart_lr(lr, 0.5, cycles=1) == pytest.approx(lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2))))


def _square(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative {x}")
    return x * x


def test_process_pool_keeps_order_reports_each_and_raises_task_errors():
    pool = PoolExecutor(2)
    try:
        done = []
        assert pool.map(_square, [3, 1, 2], on_done=done.append) == [9, 1, 4]
        assert sorted(done) == [1, 4, 9]
        with pytest.raises(ValueError, match="negative -1"):
            pool.map(_square, [2, -1])
    finally:
        pool.close()


def test_fresh_start_has_the_baseline_architecture_and_default_bits():
    from pathlib import Path

    import numpy as np

    import trigger_hgq as th
    from trigger_hgq.models import hgq_start_model

    config = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / "baselines" / "jet_tagger_6bit.yaml"
    model = hgq_start_model("unused.h5", config, seed=0, warm_start=False)
    dense = [layer for layer in model.layers if isinstance(layer, th.HDense)]
    assert [d.units for d in dense] == [64, 32, 32, 5]
    assert isinstance(model.layers[1], th.HQuantize)
    default = th.QuantizerConfig()
    for d in dense:  # the library's defaults, not QKeras' 6-bit grid (5 fractional bits)
        assert d.kq.config.lr_scale == default.lr_scale
        assert np.all(d.kq.f_int().numpy() == default.init_f)
    assert model.output_shape == (None, 5)  # logits: the softmax is dropped
