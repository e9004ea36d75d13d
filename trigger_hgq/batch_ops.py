"""Sums over the batch axis written as matrix products, for the XLA-compiled train step on CPU.

XLA's CPU backend reduces a ``(batch, n)`` tensor over its batch axis (a column reduction) about 3x slower than it
multiplies it by a row of ones (measured on 16384 x 64 float32, ``tf.function(jit_compile=True)``). The train step
has one such sum in every activation quantizer's gradient and one in every bias gradient, so at large batch they
decide how far trigger-hgq trails float Keras (``benchmarks/bench_training.py``).
"""

from __future__ import annotations

import tensorflow as tf


def batch_sum(x: tf.Tensor) -> tf.Tensor:
    """``reduce_sum(x, axis=0)``, as ``ones(1, batch) @ x`` over the flattened trailing axes."""
    n = tf.shape(x)[0]
    flat = tf.reshape(x, [n, -1])
    return tf.reshape(tf.matmul(tf.ones([1, n], x.dtype), flat), tf.shape(x)[1:])


@tf.custom_gradient
def add_bias(y: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """``y + bias`` over the last axis; the bias gradient sums the batch and spatial axes with :func:`batch_sum`."""

    def grad(dy):
        per_channel = tf.reshape(dy, [-1, tf.shape(dy)[-1]])
        return dy, tf.reshape(batch_sum(per_channel), tf.shape(bias))

    return y + bias, grad
