"""Reductions over the batch axis written for the XLA-compiled train step on CPU.

XLA's CPU backend reduces a ``(batch, n)`` tensor over its batch axis (a column reduction) slowly: it rewrites the
reduction into a windowed reduction that it does not vectorize. A sum is about 3x faster as a product with a row of
ones; a maximum about 3x faster as a few halvings (elementwise maxima of the two halves of the batch) before a
short reduction (both measured on 16384 x 64 float32, ``tf.function(jit_compile=True)``). The train step has such a
sum in every activation quantizer's gradient and every bias gradient, and a maximum in every activation quantizer's
range tracking, so at large batch they decide how far trigger-hgq trails float Keras
(``benchmarks/bench_training.py``).
"""

from __future__ import annotations

import tensorflow as tf


def batch_sum(x: tf.Tensor) -> tf.Tensor:
    """``reduce_sum(x, axis=0)``, as ``ones(1, batch) @ x`` over the flattened trailing axes."""
    n = tf.shape(x)[0]
    flat = tf.reshape(x, [n, -1])
    return tf.reshape(tf.matmul(tf.ones([1, n], x.dtype), flat), tf.shape(x)[1:])


BATCH_MAX_HALVINGS = 6
"""Halvings in :func:`batch_max` before its final reduction (16384 rows -> 256; more measured no faster)."""
BATCH_MAX_HALVING_ROWS = 8192
"""From this many rows on, :func:`batch_max` halves first. Below, the plain reduction is faster: in the train step
of the jet MLP, halvings cost 7-9% at batch 1024 and 2048 and save about 10% at 16384."""


def _halved_max(x: tf.Tensor) -> tf.Tensor:
    for _ in range(BATCH_MAX_HALVINGS):
        rows = tf.shape(x)[0]
        half = (rows + 1) // 2
        x = tf.maximum(x[:half], x[rows - half:])
    return tf.reduce_max(x, axis=0)


def batch_max(x: tf.Tensor) -> tf.Tensor:
    """``reduce_max(x, axis=0)``; from :data:`BATCH_MAX_HALVING_ROWS` rows on, after :data:`BATCH_MAX_HALVINGS`
    elementwise maxima of the batch's two halves.

    An odd number of rows overlaps the halves by the middle row, which a maximum does not mind; the result equals
    ``reduce_max`` exactly (a maximum does not depend on the order it is taken in). XLA knows the batch size when it
    compiles, so it keeps only the branch taken.
    """
    return tf.cond(tf.shape(x)[0] >= BATCH_MAX_HALVING_ROWS, lambda: _halved_max(x),
                   lambda: tf.reduce_max(x, axis=0))


@tf.custom_gradient
def add_bias(y: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """``y + bias`` over the last axis; the bias gradient sums the batch and spatial axes with :func:`batch_sum`."""

    def grad(dy):
        per_channel = tf.reshape(dy, [-1, tf.shape(dy)[-1]])
        return dy, tf.reshape(batch_sum(per_channel), tf.shape(bias))

    return y + bias, grad
