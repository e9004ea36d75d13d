"""Batch-axis reductions of the train step (trigger_hgq.batch_ops) against TensorFlow's own reductions."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from trigger_hgq.batch_ops import BATCH_MAX_HALVING_ROWS, batch_max, batch_sum


@pytest.mark.parametrize("rows", [1, 2, 65, 1000, BATCH_MAX_HALVING_ROWS, BATCH_MAX_HALVING_ROWS + 1,
                                  2 * BATCH_MAX_HALVING_ROWS + 3])
def test_batch_max_equals_reduce_max_eagerly_and_compiled_with_an_unknown_batch(rows):
    x = np.random.default_rng(rows).normal(size=(rows, 7)).astype(np.float32)
    x[rows // 2, 3] = 50.0  # the middle row: odd halvings share it between both halves
    x[-1, 5] = -50.0  # the last row: halvings of odd row counts must still reach it
    expected = x.max(axis=0)
    compiled = tf.function(batch_max, jit_compile=True,
                           input_signature=[tf.TensorSpec([None, 7], tf.float32)])
    np.testing.assert_array_equal(batch_max(tf.constant(x)).numpy(), expected)
    np.testing.assert_array_equal(compiled(tf.constant(x)).numpy(), expected)
    np.testing.assert_array_equal(-compiled(tf.constant(-x)).numpy(), x.min(axis=0))


@pytest.mark.parametrize("rows", [37, BATCH_MAX_HALVING_ROWS + 5])
def test_batch_max_keeps_trailing_axes(rows):
    x = np.random.default_rng(0).normal(size=(rows, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(batch_max(tf.constant(x)).numpy(), x.max(axis=0))


def test_batch_sum_matches_the_sum_over_rows():
    x = np.random.default_rng(1).integers(-8, 8, size=(129, 4, 3)).astype(np.float32)  # integers: exact sums
    np.testing.assert_array_equal(batch_sum(tf.constant(x)).numpy(), x.sum(axis=0))
