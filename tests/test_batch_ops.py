"""Batch-axis reductions of the train step (trigger_hgq.batch_ops) against NumPy's reductions, eagerly and in a
compiled function of the current backend."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from trigger_hgq.batch_ops import BATCH_MAX_HALVING_ROWS, add_bias, batch_max, batch_sum


def compiled(fn):
    """``fn`` compiled by the current backend (XLA under both TensorFlow and JAX)."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn, jit_compile=True)


@pytest.mark.parametrize("rows", [1, 2, 65, 1000, BATCH_MAX_HALVING_ROWS, BATCH_MAX_HALVING_ROWS + 1,
                                  2 * BATCH_MAX_HALVING_ROWS + 3])
def test_batch_max_equals_reduce_max_eagerly_and_compiled(rows):
    x = np.random.default_rng(rows).normal(size=(rows, 7)).astype(np.float32)
    x[rows // 2, 3] = 50.0  # the middle row: odd halvings share it between both halves
    x[-1, 5] = -50.0  # the last row: halvings of odd row counts must still reach it
    expected = x.max(axis=0)
    fn = compiled(batch_max)
    np.testing.assert_array_equal(ops.convert_to_numpy(batch_max(x)), expected)
    np.testing.assert_array_equal(ops.convert_to_numpy(fn(ops.convert_to_tensor(x))), expected)
    np.testing.assert_array_equal(-ops.convert_to_numpy(fn(ops.convert_to_tensor(-x))), x.min(axis=0))


@pytest.mark.parametrize("rows", [37, BATCH_MAX_HALVING_ROWS + 5])
def test_batch_max_keeps_trailing_axes(rows):
    x = np.random.default_rng(0).normal(size=(rows, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(ops.convert_to_numpy(batch_max(x)), x.max(axis=0))


def test_batch_sum_matches_the_sum_over_rows():
    x = np.random.default_rng(1).integers(-8, 8, size=(129, 4, 3)).astype(np.float32)  # integers: exact sums
    np.testing.assert_array_equal(ops.convert_to_numpy(batch_sum(x)), x.sum(axis=0))
    np.testing.assert_array_equal(ops.convert_to_numpy(compiled(batch_sum)(ops.convert_to_tensor(x))),
                                  x.sum(axis=0))


def test_add_bias_adds_over_the_last_axis():
    y = np.random.default_rng(2).normal(size=(5, 3, 4)).astype(np.float32)
    b = np.arange(4, dtype=np.float32) / 8
    np.testing.assert_array_equal(ops.convert_to_numpy(add_bias(y, b)), y + b)
