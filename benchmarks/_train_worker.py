"""One timed training run of the 16-64-32-32-5 jet MLP (called by bench_training.py in a subprocess).

Usage: python _train_worker.py IMPL DATA.npz EPOCHS BATCH   with IMPL in float | float_spe | trigger_hgq | hgq
Each implementation is compiled as its users compile it: float Keras and hgq 0.2.6 with a plain ``compile``,
trigger-hgq through ``trigger_hgq.training.compile_for_hgq`` (what ``train_hgq`` and the pipeline use, with
``steps_per_execution`` = ``trigger_hgq.training.STEPS_PER_EXECUTION``). ``float_spe`` is float Keras with that
same ``steps_per_execution``: the like-for-like yardstick for what the XLA-compiled quantized step itself costs.
Prints one JSON line: {"impl": ..., "epoch_s": [...]}.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402  (Keras 3 here; Keras 2.15 in the hgq 0.2.6 virtualenv, same calls)
import numpy as np  # noqa: E402

BETA = 1e-6


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.t0)


def build(impl: str):
    inp = keras.Input((16,))
    if impl.startswith("float"):
        h = inp
        for units in (64, 32, 32):
            h = keras.layers.Dense(units, activation="relu")(h)
        return keras.Model(inp, keras.layers.Dense(5)(h)), []
    if impl == "trigger_hgq":
        import trigger_hgq as th

        h = th.HQuantize(beta=BETA)(inp)
        for units in (64, 32, 32):
            h = th.HDense(units, activation="relu", beta=BETA)(h)
        return keras.Model(inp, th.HDense(5, beta=BETA)(h)), [th.ResetRanges(), th.EBOPsLogger()]
    if impl == "hgq":
        from HGQ import FreeBOPs, ResetMinMax
        from HGQ.layers import HDense, HQuantize

        h = HQuantize(beta=BETA)(inp)
        for units in (64, 32, 32):
            h = HDense(units, activation="relu", beta=BETA)(h)
        return keras.Model(inp, HDense(5, beta=BETA)(h)), [ResetMinMax(), FreeBOPs()]
    raise SystemExit(f"unknown implementation {impl!r}")


def main() -> None:
    impl, data_path, epochs, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    data = np.load(data_path)
    keras.utils.set_random_seed(0)
    model, callbacks = build(impl)
    if impl == "trigger_hgq":
        from trigger_hgq.training import compile_for_hgq

        compile_for_hgq(model, 3e-3)
    else:
        spe = 1
        if impl == "float_spe":
            from trigger_hgq.training import STEPS_PER_EXECUTION as spe
        model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], steps_per_execution=spe)
    timer = EpochTimer()
    model.fit(data["x"], data["y"], batch_size=batch, epochs=epochs, verbose=0, callbacks=[*callbacks, timer])
    print(json.dumps({"impl": impl, "epoch_s": timer.times}))


if __name__ == "__main__":
    main()
