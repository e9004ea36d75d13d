"""Warm the RTL route's compiled code: da4ml's constant-multiplication solver is compiled by numba on first use
(minutes of CPU in a fresh environment, cached in the environment afterwards).

``python -m trigger_hgq.export.rtl.warmup`` traces a small calibrated HGQ model once, which compiles (or loads)
every solver the route uses; the pipeline runs it in a background process while its models train, so that its
RTL tasks, which run in several processes at once, load the cache instead of each compiling it.
"""

from __future__ import annotations

import os

import numpy as np

WARMUP_SEED = 0


def warm_up_trace():
    """Trace a calibrated 6-16-3 HGQ MLP (relu) into da4ml logic; returns ``(model, traced, x)``, ``x`` the 256
    calibration rows."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    from trigger_hgq.calibration import calibrate
    from trigger_hgq.export.rtl.trace import trace_model
    from trigger_hgq.layers import HDense, HQuantize

    keras.utils.set_random_seed(WARMUP_SEED)
    inp = keras.Input((6,))
    h = HQuantize(beta=0)(inp)
    h = HDense(16, activation="relu")(h)
    model = keras.Model(inp, HDense(3)(h))
    x = np.random.default_rng(WARMUP_SEED).normal(size=(256, 6)).astype(np.float32)
    calibrate(model, x)
    return model, trace_model(model), x


def warm_up() -> float:
    """Run :func:`warm_up_trace`; returns the traced logic's adder cost."""
    return float(warm_up_trace()[1].comb.cost)


if __name__ == "__main__":
    warm_up()
