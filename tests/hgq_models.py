"""Small HGQ test models covering every layer kind, trained briefly with beta > 0 (bits differ, some are 0)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

import trigger_hgq as th
from trigger_hgq.layers.base import connect

FAST_BITS = {"lr_scale": 30.0, "init_f": 5.0}


def _q(**extra) -> dict:
    return {"kernel_quantizer": dict(FAST_BITS), "output_quantizer": dict(FAST_BITS), **extra}


def mlp_batchnorm() -> keras.Model:
    inp = keras.Input((16,), name="x")
    h = th.HQuantize(output_quantizer=dict(FAST_BITS), name="inq")(inp)
    h = th.HDenseBatchNorm(24, activation="relu", name="dense_bn", **_q())(h)
    h = th.HDense(16, activation="relu", name="dense1", **_q())(h)
    h = th.HDropout(0.1, name="drop")(h)
    out = th.HDense(5, name="logits", **_q())(h)
    return keras.Model(inp, out, name="mlp_batchnorm")


def conv1d_pooling() -> keras.Model:
    inp = keras.Input((32, 3), name="x")
    h = th.HQuantize(output_quantizer=dict(FAST_BITS), name="inq")(inp)
    h = th.HConv1D(6, 3, activation="relu", name="conv_a", **_q())(h)
    h = th.HMaxPooling1D(2, name="maxpool")(h)
    h = th.HConv1DBatchNorm(6, 3, padding="same", activation="relu", name="conv_bn", **_q())(h)
    h = th.HAveragePooling1D(2, name="avgpool", output_quantizer=dict(FAST_BITS))(h)
    h = th.HFlatten(name="flat")(h)
    out = th.HDense(5, name="logits", **_q())(h)
    return keras.Model(inp, out, name="conv1d_pooling")


def conv2d_residual() -> keras.Model:
    inp = keras.Input((8, 8, 2), name="x")
    h = th.HQuantize(output_quantizer=dict(FAST_BITS), name="inq")(inp)
    a = th.HConv2D(4, 3, padding="same", activation="relu", name="conv_a", **_q())(h)
    b = th.HConv2DBatchNorm(4, (3, 3), padding="same", name="conv_b", **_q())(a)
    b = th.HActivation("relu", name="relu_b", output_quantizer=dict(FAST_BITS))(b)
    s = th.HAdd(name="add", output_quantizer=dict(FAST_BITS))([a, b])
    s = th.HMaxPooling2D(2, name="maxpool")(s)
    s = th.HAveragePooling2D((2, 2), name="avgpool", output_quantizer=dict(FAST_BITS))(s)
    s = th.HReshape((16,), name="reshape")(s)
    out = th.HDense(5, name="logits", **_q())(s)
    return keras.Model(inp, out, name="conv2d_residual")


BUILDERS = {"mlp_batchnorm": mlp_batchnorm, "conv1d_pooling": conv1d_pooling, "conv2d_residual": conv2d_residual}


def make_data(model: keras.Model, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs of the model's shape and labels from a fixed non-linear teacher (learnable)."""
    shape = tuple(model.input_shape[1:])
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    teacher = np.random.default_rng(7).normal(size=(int(np.prod(shape)), 5))
    flat = x.reshape(n, -1)
    y = np.argmax(np.tanh(flat) @ teacher + 0.3 * flat[:, :5] ** 2, axis=1)
    return x, y


def train_hgq(name: str, n_train: int = 4096, epochs: int = 4, beta: float = 3e-5, seed: int = 0):
    """Build, train with an EBOPs penalty and calibrate one of the test models. Returns (model, x_train)."""
    keras.utils.set_random_seed(seed)
    model = BUILDERS[name]()
    x, y = make_data(model, n_train, seed)
    connect(model)
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x, y, batch_size=256, epochs=epochs, verbose=0,
              callbacks=[th.ResetRanges(), th.BetaScheduler(beta, kind="constant")])
    th.calibrate(model, x)
    return model, x


def value_and_grads(fn, variables: list) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """``fn()`` (a scalar of the current backend) and its gradients w.r.t. ``variables`` (Keras variables), as
    NumPy arrays, under TensorFlow or JAX. A gradient that does not reach a variable is None or zeros."""
    if keras.backend.backend() == "jax":
        import jax

        def pure(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
                return fn()

        value, grads = jax.value_and_grad(pure)([v.value for v in variables])
        return np.asarray(value), [np.asarray(g) for g in grads]
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = fn()
    grads = tape.gradient(value, [v.value for v in variables])
    return ops.convert_to_numpy(value), [None if g is None else ops.convert_to_numpy(g) for g in grads]
