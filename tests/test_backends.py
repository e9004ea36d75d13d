"""The same HGQ model under the TensorFlow and the JAX backend: trained under one, saved to ``.keras``, reloaded
under the other in a fresh process, it gives bit-identical outputs and the same EBOPs; quantized weights and
outputs sit exactly on their grids.

Each step runs in its own process (``KERAS_BACKEND`` is read once, at import), once for every model: this file is
also the worker, ``python tests/test_backends.py train|load <backend> <dir> <model>...``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
BACKENDS = ("tensorflow", "jax")
MODELS = ("small_mlp", "mlp_batchnorm")
N_ROWS = 4000


def small_mlp():
    """HQuantize -> HDense(relu) -> HDense, with an EBOPs penalty."""
    import keras

    import trigger_hgq as th

    bits = {"lr_scale": 30.0, "init_f": 5.0}
    inp = keras.Input((12,), name="x")
    h = th.HQuantize(output_quantizer=dict(bits), beta=3e-5, name="inq")(inp)
    h = th.HDense(16, activation="relu", kernel_quantizer=dict(bits), output_quantizer=dict(bits), beta=3e-5,
                  name="hidden")(h)
    out = th.HDense(4, kernel_quantizer=dict(bits), output_quantizer=dict(bits), beta=3e-5, name="logits")(h)
    return keras.Model(inp, out, name="small_mlp")


def train(name: str, directory: Path) -> None:
    """Train ``name`` a few epochs under the current backend, calibrate, save model, inputs and outputs."""
    import keras

    import trigger_hgq as th

    if name == "small_mlp":
        keras.utils.set_random_seed(0)
        model = small_mlp()
        rng = np.random.default_rng(0)
        x = rng.normal(size=(4096, 12)).astype(np.float32)
        y = np.argmax(np.tanh(x) @ rng.normal(size=(12, 4)), axis=1)
        th.compile_for_hgq(model, 3e-3)
        model.fit(x, y, batch_size=256, epochs=4, verbose=0, callbacks=[th.ResetRanges()])
        th.calibrate(model, x)
    else:
        from hgq_models import train_hgq

        model, x = train_hgq(name, n_train=2048, epochs=2)
    # rows seen in calibration, and wider ones that saturate the input and wrap inside
    rows = np.concatenate([x[: N_ROWS // 2], 2.5 * np.random.default_rng(5).normal(size=(N_ROWS // 2, *x.shape[1:]))])
    rows = rows.astype(np.float32)
    model.save(directory / f"{name}.keras")
    np.save(directory / f"{name}_rows.npy", rows)
    report(model, rows, directory / f"{name}_train_{keras.backend.backend()}.npz")


def report(model, rows: np.ndarray, path: Path) -> None:
    """Outputs (inference, one batch and batch 256 through predict), EBOPs and grid checks, saved to ``path``."""
    from keras import ops

    import trigger_hgq as th
    from trigger_hgq.bops import h_layers
    from trigger_hgq.layers import HKernelLayer, HQuantizedLayer

    out = ops.convert_to_numpy(model(rows, training=False))
    predicted = model.predict(rows, batch_size=256, verbose=0)
    off_grid = []
    for layer in h_layers(model):
        if isinstance(layer, HKernelLayer):
            kernel, bias = layer.quantized_weights()
            for values, q in ((kernel, layer.kq), (bias, layer.bq)):
                scaled = values.astype(np.float64) * 2.0 ** ops.convert_to_numpy(q.f_int())
                if not np.array_equal(scaled, np.round(scaled)):
                    off_grid.append(f"{layer.name}/{q.name}")
        if isinstance(layer, HQuantizedLayer) and layer.name == model.layers[-1].name:
            scaled = out.astype(np.float64) * 2.0 ** ops.convert_to_numpy(layer.oq.f_int())
            if not np.array_equal(scaled, np.round(scaled)):
                off_grid.append(f"{layer.name}/out")
    np.savez(path, out=out, predicted=predicted, ebops=th.ebops(model),
             layer_ebops=json.dumps(th.layer_ebops(model)), off_grid=json.dumps(off_grid))


def load(name: str, directory: Path) -> None:
    """Reload ``name`` under the current backend and report on the saved rows (importing the layers registers
    them with Keras: no custom objects)."""
    import keras

    import trigger_hgq.layers  # noqa: F401

    model = keras.saving.load_model(directory / f"{name}.keras")
    report(model, np.load(directory / f"{name}_rows.npy"), directory / f"{name}_load_{keras.backend.backend()}.npz")


def run_worker(step: str, backend: str, directory: Path, names: tuple[str, ...]) -> None:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, str(Path(__file__)), step, backend, str(directory), *names], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{step} under {backend}:\n{done.stderr[-4000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("trained_on", BACKENDS)
def test_a_model_trained_under_one_backend_is_bit_identical_under_the_other(trained_on, tmp_path):
    other = next(b for b in BACKENDS if b != trained_on)
    run_worker("train", trained_on, tmp_path, MODELS)
    run_worker("load", other, tmp_path, MODELS)
    for name in MODELS:
        trained = np.load(tmp_path / f"{name}_train_{trained_on}.npz")
        loaded = np.load(tmp_path / f"{name}_load_{other}.npz")
        assert len(trained["out"]) == N_ROWS, name
        assert np.array_equal(trained["out"], loaded["out"]), name
        assert np.array_equal(trained["predicted"], loaded["predicted"]), name
        assert np.array_equal(trained["out"], trained["predicted"]), name  # predict's batches change nothing
        assert int(trained["ebops"]) == int(loaded["ebops"]) > 0, name
        assert json.loads(str(trained["layer_ebops"])) == json.loads(str(loaded["layer_ebops"])), name
        assert json.loads(str(trained["off_grid"])) == [] and json.loads(str(loaded["off_grid"])) == [], name
        assert len(np.unique(trained["out"])) > 50, name  # a real, varied output


def test_configure_worker_quiets_the_current_backend():
    import logging

    import keras

    from trigger_hgq.backend import configure_worker

    configure_worker(quiet=True)
    configure_worker(quiet=True)  # a second call is fine
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        assert tf.get_logger().level == logging.ERROR
    else:
        assert logging.getLogger("jax").level == logging.ERROR



def test_configured_worker_compiles_the_hgq_step_and_trains_reproducibly():
    """In a configured worker the HGQ step is still jit-compiled (Keras keeps ``jit_compile``), and training the same
    model twice from the same seed gives bit-identical weights (what the pipeline's resume and reports rely on)."""
    import keras

    import trigger_hgq as th
    from trigger_hgq.backend import configure_worker

    configure_worker(quiet=True)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2048, 12)).astype(np.float32)
    y = np.argmax(np.tanh(x) @ rng.normal(size=(12, 4)), axis=1)
    weights = []
    for _ in range(2):
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        model = small_mlp()
        th.compile_for_hgq(model, 3e-3)
        assert model.jit_compile is True
        model.fit(x, y, batch_size=256, epochs=2, verbose=0, callbacks=[th.ResetRanges()])
        weights.append([np.asarray(w) for w in model.get_weights()])
    assert all(np.array_equal(a, b) for a, b in zip(*weights, strict=True))


if __name__ == "__main__":
    step, backend, folder, *model_names = sys.argv[1:]
    assert os.environ.get("KERAS_BACKEND") == backend
    sys.path.insert(0, str(HERE))
    for model_name in model_names:
        {"train": train, "load": load}[step](model_name, Path(folder))
