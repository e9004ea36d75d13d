"""trigger-hgq: High Granularity Quantization for Level-1 trigger neural networks.

Learnable per-weight and per-activation bitwidths on Keras 3 (TensorFlow or JAX backend, chosen by
``KERAS_BACKEND``), a differentiable resource penalty (EBOPs), and the road from ROOT datasets to bit-exact hls4ml
firmware.

The public names below are imported lazily, so that ``import trigger_hgq.data`` (and the CLI's data commands) do
not pay for importing Keras and its backend. The layer classes are not listed here: they are read from the layer
registry (:mod:`trigger_hgq.layers.registry`) when first asked for, so ``__all__`` and ``dir()`` import the layers.
"""

from __future__ import annotations

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"

# public name -> module that defines it (the layer classes: see _layer_names)
_EXPORTS: dict[str, str] = {
    "supported_layers": "trigger_hgq.layers",
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



def _layer_names() -> list[str]:
    """The public layer classes (registered layers and their base classes); imports the layers."""
    from trigger_hgq import layers

    return [cls.__name__ for cls in layers.LAYER_CLASSES + layers.BASE_CLASSES]


def custom_objects() -> dict:
    """The trigger-hgq layer classes by name (they are also registered serializable under the package
    ``trigger_hgq``, so ``keras.saving.load_model`` needs no custom objects)."""
    from trigger_hgq.layers import LAYER_CLASSES

    return {cls.__name__: cls for cls in LAYER_CLASSES}


def __getattr__(name: str):
    if name == "__all__":
        value = [*_layer_names(), *_EXPORTS, "custom_objects"]
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name.startswith("H") and name in _layer_names():
        value = getattr(importlib.import_module("trigger_hgq.layers"), name)
    else:
        raise AttributeError(f"module 'trigger_hgq' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__getattr__("__all__"))
