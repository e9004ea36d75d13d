"""trigger-hgq: High Granularity Quantization for Level-1 trigger neural networks.

Learnable per-weight and per-activation bitwidths on tf.keras (Keras 2), a differentiable resource penalty
(EBOPs), and the road from ROOT datasets to bit-exact hls4ml firmware.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from trigger_hgq.calibrate import calibrate, reset_ranges  # noqa: E402
from trigger_hgq.callbacks import BetaScheduler, EBOPsLogger, ParetoFront, ResetRanges, set_beta  # noqa: E402
from trigger_hgq.ebops import ebops, layer_ebops  # noqa: E402
from trigger_hgq.errors import TriggerHGQError  # noqa: E402
from trigger_hgq.export import to_hls4ml  # noqa: E402
from trigger_hgq.layers import *  # noqa: E402,F403
from trigger_hgq.layers import LAYER_CLASSES  # noqa: E402
from trigger_hgq.quantizer import FixedQuantizer, QuantizerConfig  # noqa: E402

__version__ = "0.1.0"


def custom_objects() -> dict:
    """Everything ``tf.keras.models.load_model`` needs to reload a trigger-hgq model."""
    return {cls.__name__: cls for cls in LAYER_CLASSES}
