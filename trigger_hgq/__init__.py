"""trigger-hgq: High Granularity Quantization for Level-1 trigger neural networks.

Learnable per-weight and per-activation bitwidths on tf.keras (Keras 2), a differentiable resource penalty
(EBOPs), and the road from ROOT datasets to bit-exact hls4ml firmware.

The public names below are imported lazily, so that ``import trigger_hgq.data`` (and the CLI's data commands)
do not pay for importing TensorFlow.
"""

from __future__ import annotations

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"

_LAYERS = (
    "HQuantize", "HDense", "HDenseBatchNorm", "HConv1D", "HConv2D", "HConv1DBatchNorm", "HConv2DBatchNorm",
    "HActivation", "HAdd", "HMaxPooling1D", "HMaxPooling2D", "HAveragePooling1D", "HAveragePooling2D", "HFlatten",
    "HReshape", "HDropout", "HLayer", "HQuantizedLayer", "HKernelLayer",
)
# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    **{name: "trigger_hgq.layers" for name in _LAYERS},
    "calibrate": "trigger_hgq.calibration",
    "reset_ranges": "trigger_hgq.calibration",
    "BetaScheduler": "trigger_hgq.callbacks",
    "EBOPsLogger": "trigger_hgq.callbacks",
    "ParetoFront": "trigger_hgq.callbacks",
    "ResetRanges": "trigger_hgq.callbacks",
    "set_beta": "trigger_hgq.callbacks",
    "ebops": "trigger_hgq.bops",
    "layer_ebops": "trigger_hgq.bops",
    "TriggerHGQError": "trigger_hgq.errors",
    "FixedQuantizer": "trigger_hgq.quantizer",
    "QuantizerConfig": "trigger_hgq.quantizer",
    "HGQSchedule": "trigger_hgq.training",
    "train_hgq": "trigger_hgq.training",
    "compile_for_hgq": "trigger_hgq.training",
    "LearningRateRestarts": "trigger_hgq.callbacks",
    "from_qkeras": "trigger_hgq.convert",
    "to_hls4ml": "trigger_hgq.export",
}

__all__ = [*_EXPORTS, "custom_objects"]


def custom_objects() -> dict:
    """Everything ``tf.keras.models.load_model`` needs to reload a trigger-hgq model."""
    from trigger_hgq.layers import LAYER_CLASSES

    return {cls.__name__: cls for cls in LAYER_CLASSES}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trigger_hgq' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
