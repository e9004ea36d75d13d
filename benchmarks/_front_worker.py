"""One front run of the 16-64-32-32-5 jet MLP under a wall-time or epoch budget (called by bench_front.py).

Usage: python _front_worker.py IMPL DATA.npz SPEC_JSON   with IMPL in float | trigger_hgq | hgq2 | hgq
(trigger_hgq: /work/venv313 Keras 3; hgq2: hgq2 0.2.0 in its own Keras 3 virtualenv, run with KERAS_BACKEND=jax;
hgq: hgq 0.2.6 in its Keras 2 virtualenv).

SPEC_JSON keys: ``seconds`` (training wall time) or ``epochs`` (training epochs, then ``seconds`` is ignored),
``batch_size``, ``learning_rate``, ``beta0``, ``beta1``, ``seed``, optional ``lr_cycles`` and, for trigger_hgq,
optional ``layer_kwargs`` passed to every layer (library defaults when absent).
Beta ramps log-linearly from beta0 to beta1 over the budget (set at each epoch start from the elapsed fraction of
the wall time, or of the epochs), so every implementation gets the same schedule shape in the same seconds, whatever
its speed, or over the same epochs. Every epoch that is not dominated on (validation accuracy, EBOPs) is kept in
memory; at the end each kept point is calibrated on the training rows and evaluated on the test rows. EBOPs use one
definition for every implementation: sum over multiplications of (input element bits, sign included) x (weight
bits, sign included, from the quantized weight and its fractional bits: ``signed_weight_bits``); biases not counted.
Validation runs in batches of VALIDATION_ROWS for every implementation (as ``trigger_hgq.train_hgq`` does): it is
inference only, so the batch changes no accuracy, and at the training batch it took 25-50% of an epoch, time that
the budget would otherwise spend on something other than training.
Prints one JSON line: {"impl", "epochs", "train_s", "points": [{"val_accuracy", "test_accuracy", "ebops"}]}.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402  (Keras 3 for trigger-hgq and hgq2; Keras 2.15 in the hgq 0.2.6 virtualenv)
import numpy as np  # noqa: E402

VALIDATION_ROWS = 16384  # trigger_hgq.training.VALIDATION_BATCH_ROWS, not imported: the hgq 0.2.6 venv lacks it


def signed_weight_bits(values: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Bits of each quantized weight as a two's-complement (negative) or unsigned (positive) integer mantissa."""
    n = np.round(values * np.power(2.0, f)).astype(np.int64)
    pos = np.ceil(np.log2(np.maximum(n, 0) + 1.0))
    neg = 1.0 + np.ceil(np.log2(np.maximum(-n, 1).astype(np.float64)))
    return np.where(n > 0, pos, np.where(n < 0, neg, 0.0))


class WallTimeSchedule(keras.callbacks.Callback):
    """Log-linear beta over the wall-time (or epoch) budget; stops training when the budget is spent; keeps the front.

    ``set_beta(beta)`` is called at each epoch start (None: the caller reads ``self.beta``, set there, itself);
    ``fast_ebops()`` is the implementation's own EBOPs estimate, used only to choose the front during training.
    """

    def __init__(self, spec: dict, set_beta, fast_ebops):
        super().__init__()
        self.spec, self.set_beta, self.fast_ebops = spec, set_beta, fast_ebops
        self.points: list[dict] = []
        self.beta = float(spec["beta0"])

    def on_train_begin(self, logs=None):
        self.t0 = time.perf_counter()

    def fraction(self, epoch: int) -> float:
        """How far along the schedule: by epochs when ``spec['epochs']`` is set, else by wall time."""
        if self.spec.get("epochs"):
            return min(epoch / max(self.spec["epochs"] - 1, 1), 1.0)
        return min((time.perf_counter() - self.t0) / self.spec["seconds"], 1.0)

    def on_epoch_begin(self, epoch, logs=None):
        frac = self.fraction(epoch) if epoch else 0.0
        cycles = int(self.spec.get("lr_cycles", 0))
        if cycles > 0:  # cosine decays with restarts, to 1/10 of the rate, over the same budget
            pos = min(frac * cycles, cycles - 1e-9) % 1.0
            lr = self.spec["learning_rate"] * (0.1 + 0.9 * 0.5 * (1.0 + np.cos(np.pi * pos)))
            self.model.optimizer.learning_rate.assign(lr)
        b0, b1 = self.spec["beta0"], self.spec["beta1"]
        self.beta = float(np.exp(np.log(b0) + (np.log(b1) - np.log(b0)) * frac))
        if self.set_beta is not None:
            self.set_beta(self.beta)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs = epoch + 1
        point = {"epoch": epoch, "val_accuracy": float(logs["val_accuracy"]), "ebops": float(self.fast_ebops())}
        if not any(p["val_accuracy"] >= point["val_accuracy"] and p["ebops"] <= point["ebops"] for p in self.points):
            self.points = [p for p in self.points
                           if not (point["val_accuracy"] >= p["val_accuracy"] and point["ebops"] <= p["ebops"])]
            point["weights"] = [w.copy() for w in self.model.get_weights()]
            self.points.append(point)
        if epoch == 0:  # the budget starts after the first epoch (graph tracing / XLA compilation)
            self.t0 = time.perf_counter()
        if self.spec.get("epochs"):
            done = epoch + 1 >= self.spec["epochs"]
        else:
            done = epoch > 0 and time.perf_counter() - self.t0 >= self.spec["seconds"]
        if done:
            self.model.stop_training = True


def build_float():
    inp = keras.Input((16,))
    h = inp
    for units in (64, 32, 32):
        h = keras.layers.Dense(units, activation="relu")(h)
    return keras.Model(inp, keras.layers.Dense(5)(h))


def run_float(data: dict, spec: dict) -> dict:
    model = build_float()
    model.compile(keras.optimizers.Adam(spec["learning_rate"]),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    t0 = time.perf_counter()
    hist = model.fit(data["x_train"], data["y_train"], validation_data=(data["x_val"], data["y_val"]),
                     batch_size=spec["batch_size"], validation_batch_size=VALIDATION_ROWS,
                     epochs=spec.get("epochs", 100), verbose=0,
                     callbacks=[keras.callbacks.EarlyStopping(patience=15, restore_best_weights=True,
                                                                 monitor="val_accuracy")])
    acc = float(np.mean(np.argmax(model.predict(data["x_test"], verbose=0), 1) == data["y_test"]))
    return {"impl": "float", "epochs": len(hist.history["loss"]), "train_s": time.perf_counter() - t0,
            "points": [{"val_accuracy": max(hist.history["val_accuracy"]), "test_accuracy": acc, "ebops": None}]}


# ------------------------------------------------------------------------------------------------ trigger-hgq
def run_trigger_hgq(data: dict, spec: dict) -> dict:
    import trigger_hgq as th
    from trigger_hgq.callbacks import set_beta
    from trigger_hgq.training import compile_for_hgq

    kw = dict(spec.get("layer_kwargs") or {})
    inp = keras.Input((16,))
    h = th.HQuantize(**{k: v for k, v in kw.items() if k in ("output_quantizer", "l1_bits")})(inp)
    for units in (64, 32, 32):
        h = th.HDense(units, activation="relu", **kw)(h)
    model = keras.Model(inp, th.HDense(5, **kw)(h))
    compile_for_hgq(model, spec["learning_rate"], jit_compile=bool(spec.get("jit", True)))
    sched = WallTimeSchedule(spec, lambda b: set_beta(model, b), lambda: th.ebops(model))
    t0 = time.perf_counter()
    model.fit(data["x_train"], data["y_train"], validation_data=(data["x_val"], data["y_val"]), epochs=100000,
              batch_size=spec["batch_size"], validation_batch_size=VALIDATION_ROWS, verbose=0,
              callbacks=[th.ResetRanges(), sched])
    train_s = time.perf_counter() - t0
    points = []
    for p in sched.points:
        model.set_weights(p["weights"])
        th.calibrate(model, data["x_train"])
        acc = float(np.mean(np.argmax(model.predict(data["x_test"], batch_size=16384, verbose=0), 1)
                            == data["y_test"]))
        points.append({"epoch": p["epoch"], "val_accuracy": p["val_accuracy"], "test_accuracy": acc,
                       "ebops": int(th.ebops(model))})
    return {"impl": "trigger_hgq", "epochs": sched.epochs,
            "train_s": train_s, "points": points}


# ------------------------------------------------------------------------------------------------ hgq2 0.2.0
def run_hgq2(data: dict, spec: dict) -> dict:
    """hgq2 QDense layers with the library's default quantizers (each QDense quantizes its own input)."""
    from hgq.layers import QDense
    from hgq.utils import trace_minmax
    from hgq.utils.sugar import BetaScheduler
    from keras import ops

    inp = keras.Input((16,))
    h = inp
    for units in (64, 32, 32):
        h = QDense(units, activation="relu", beta0=spec["beta0"])(h)
    model = keras.Model(inp, QDense(5, beta0=spec["beta0"])(h))
    dense = [layer for layer in model.layers if isinstance(layer, QDense)]

    def same_ebops() -> float:
        """EBOPs by the one definition, from public hgq2 properties only.

        ``qkernel``: the kernel as inference uses it; ``kq.epsilon_(shape)``: 2**-f per weight (f: fractional bits);
        ``iq.fbits_(shape)``: per input element, the bits with the sign bit included (hgq2's ``bits_`` leaves the
        sign out for its wrapping activation quantizers), valid after ``trace_minmax``.
        """
        total = 0.0
        for layer in dense:
            kernel = np.asarray(ops.convert_to_numpy(layer.qkernel), np.float64)
            f = np.round(-np.log2(np.asarray(ops.convert_to_numpy(layer.kq.epsilon_(kernel.shape)), np.float64)))
            in_bits = np.asarray(ops.convert_to_numpy(layer.iq.fbits_((1, kernel.shape[0]))), np.float64)
            total += float(np.sum(in_bits.reshape(-1, 1) * signed_weight_bits(kernel, f)))
        return total

    def fast_ebops() -> float:
        return float(sum(float(ops.convert_to_numpy(layer.ebops)) for layer in dense))

    model.compile(keras.optimizers.Adam(spec["learning_rate"]),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    sched = WallTimeSchedule(spec, None, fast_ebops)
    t0 = time.perf_counter()
    model.fit(data["x_train"], data["y_train"], validation_data=(data["x_val"], data["y_val"]), epochs=100000,
              batch_size=spec["batch_size"], validation_batch_size=VALIDATION_ROWS, verbose=0,
              callbacks=[sched, BetaScheduler(lambda epoch: sched.beta)])  # sched first: it sets the epoch's beta
    train_s = time.perf_counter() - t0
    points = []
    for p in sched.points:
        model.set_weights(p["weights"])
        trace_minmax(model, data["x_train"], batch_size=16384)
        acc = float(np.mean(np.argmax(model.predict(data["x_test"], batch_size=16384, verbose=0), 1)
                            == data["y_test"]))
        points.append({"epoch": p["epoch"], "val_accuracy": p["val_accuracy"], "test_accuracy": acc,
                       "ebops": int(round(same_ebops()))})
    return {"impl": "hgq2", "epochs": sched.epochs, "train_s": train_s, "points": points}


# ------------------------------------------------------------------------------------------------ hgq 0.2.6
def run_hgq(data: dict, spec: dict) -> dict:
    from HGQ import ResetMinMax, trace_minmax
    from HGQ.layers import HDense, HQuantize

    inp = keras.Input((16,))
    h = HQuantize(beta=0.0)(inp)
    for units in (64, 32, 32):
        h = HDense(units, activation="relu", beta=0.0)(h)
    model = keras.Model(inp, HDense(5, beta=0.0)(h))
    layers = [layer for layer in model.layers if hasattr(layer, "beta")]
    dense = [layer for layer in layers if hasattr(layer, "kq")]

    def set_beta(b):
        for layer in layers:
            layer.beta.assign(b)

    def same_ebops() -> float:
        """EBOPs by the trigger-hgq definition (signed weight bits) from the current weights and ranges."""
        total = 0.0
        for layer in dense:
            in_bits = np.asarray(layer.input_bw_exact, np.float64).reshape(-1)
            f = np.round(layer.kq.fbw.numpy())
            wq = layer.kq.forward(layer.fused_kernel).numpy()
            total += float(np.sum(in_bits[:, None] * signed_weight_bits(wq, f)))
        return total

    def fast_ebops() -> float:
        return float(sum(float(layer.bops.numpy()) for layer in dense))

    model.compile(keras.optimizers.Adam(spec["learning_rate"]),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    sched = WallTimeSchedule(spec, set_beta, fast_ebops)
    t0 = time.perf_counter()
    model.fit(data["x_train"], data["y_train"], validation_data=(data["x_val"], data["y_val"]), epochs=100000,
              batch_size=spec["batch_size"], validation_batch_size=VALIDATION_ROWS, verbose=0,
              callbacks=[ResetMinMax(), sched])
    train_s = time.perf_counter() - t0
    points = []
    for p in sched.points:
        model.set_weights(p["weights"])
        trace_minmax(model, data["x_train"], verbose=False)
        acc = float(np.mean(np.argmax(model.predict(data["x_test"], batch_size=16384, verbose=0), 1)
                            == data["y_test"]))
        points.append({"epoch": p["epoch"], "val_accuracy": p["val_accuracy"], "test_accuracy": acc,
                       "ebops": int(round(same_ebops()))})
    return {"impl": "hgq", "epochs": sched.epochs,
            "train_s": train_s, "points": points}


def main() -> None:
    impl, data_path, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    with np.load(data_path) as f:
        data = {k: f[k] for k in f.files}
    keras.utils.set_random_seed(int(spec.get("seed", 0)))
    if spec.get("threads") and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(int(spec["threads"]))
        tf.config.threading.set_inter_op_parallelism_threads(int(spec["threads"]))
    run = {"float": run_float, "trigger_hgq": run_trigger_hgq, "hgq2": run_hgq2, "hgq": run_hgq}[impl]
    print(json.dumps(run(data, spec)))


if __name__ == "__main__":
    main()
