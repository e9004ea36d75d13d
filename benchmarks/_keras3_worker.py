"""One timed HGQ training run of the 16-64-32-32-5 jet MLP (called by bench_keras3.py in a subprocess).

Usage: python _keras3_worker.py IMPL DATA.npz EPOCHS BATCH   with IMPL in trigger_hgq | hgq2

The same file runs on every stack: ``trigger_hgq`` uses only the public trigger-hgq API and the ``keras``
namespace, so it runs the Keras 2 code (tensorflow 2.15, where ``keras`` is Keras 2.15) and the Keras 3 code (under
whatever ``KERAS_BACKEND`` says) alike: HQuantize -> HDense x 4, compiled by ``th.compile_for_hgq`` (what the
pipeline uses), with the ResetRanges and EBOPsLogger callbacks. ``hgq2`` is the hgq2 package (QDense x 4, its
input quantized by the first layer), compiled plainly as its users compile it, with its FreeEBOPs callback.
Every epoch is timed with its callbacks (the EBOPs count included). Prints one JSON line:
{"impl", "backend", "epoch_s": [...], "loss": last training loss}.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402  (Keras 2.15 in the old environment, Keras 3 elsewhere: the calls below exist in both)
import numpy as np  # noqa: E402

BETA = 1e-6
LEARNING_RATE = 3e-3


from _train_worker import EpochTimer  # noqa: E402  (this folder is on sys.path: the worker runs as a script)


def build_trigger_hgq():
    import trigger_hgq as th

    inp = keras.Input((16,))
    h = th.HQuantize(beta=BETA)(inp)
    for units in (64, 32, 32):
        h = th.HDense(units, activation="relu", beta=BETA)(h)
    model = keras.Model(inp, th.HDense(5, beta=BETA)(h))
    th.compile_for_hgq(model, LEARNING_RATE)
    return model, [th.ResetRanges(), th.EBOPsLogger()]


def build_hgq2():
    from hgq.layers import QDense
    from hgq.utils.sugar import FreeEBOPs

    inp = keras.Input((16,))
    h = inp
    for units in (64, 32, 32):
        h = QDense(units, activation="relu", beta0=BETA)(h)
    model = keras.Model(inp, QDense(5, beta0=BETA)(h))
    model.compile(keras.optimizers.Adam(LEARNING_RATE), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model, [FreeEBOPs()]


def backend() -> str:
    return keras.backend.backend() if hasattr(keras.backend, "backend") else "tensorflow"


def main() -> None:
    impl, data_path, epochs, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    data = np.load(data_path)
    keras.utils.set_random_seed(0)
    builders = {"trigger_hgq": build_trigger_hgq, "hgq2": build_hgq2}
    if impl not in builders:
        raise SystemExit(f"unknown implementation {impl!r} (expected one of {sorted(builders)})")
    model, callbacks = builders[impl]()
    timer = EpochTimer()
    hist = model.fit(data["x"], data["y"], batch_size=batch, epochs=epochs, verbose=0, callbacks=[*callbacks, timer])
    print(json.dumps({"impl": impl, "backend": backend(), "keras": keras.__version__, "epoch_s": timer.times,
                      "loss": float(hist.history["loss"][-1])}))


if __name__ == "__main__":
    main()
