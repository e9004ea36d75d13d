"""Baselines HGQ is compared with: uniform-bit QKeras models from YAML configs, magnitude-pruned ones and a search
by the AutoQKeras method on Keras 3."""

from __future__ import annotations

from trigger_hgq.baselines.autoqkeras import (
    AutoQKerasResult,
    load_autoqkeras_config,
    retrain_best,
    run_autoqkeras,
    with_input_quantizer,
)
from trigger_hgq.baselines.qkeras_models import (
    baseline_from_yaml,
    build_qkeras_model,
    load_baseline_config,
    quantizer_specs,
    train_baseline,
)

__all__ = [
    "AutoQKerasResult", "baseline_from_yaml", "build_qkeras_model", "load_autoqkeras_config", "load_baseline_config",
    "quantizer_specs", "retrain_best", "run_autoqkeras", "train_baseline", "with_input_quantizer",
]
