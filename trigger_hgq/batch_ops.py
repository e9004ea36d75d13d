"""Reductions over the batch axis and the bias addition of the train step, on ``keras.ops``.

XLA's CPU backend reduces a ``(batch, n)`` tensor over its batch axis (a column reduction) slowly. A sum is faster
as a product with a row of ones; a maximum as a few halvings (elementwise maxima of the two halves of the batch)
before a short reduction. Both give exactly the plain reduction's result (integer-valued sums aside, a maximum
does not depend on the order it is taken in). The batch size is static when the step is compiled (JAX always,
TensorFlow unless a retrace relaxed it), so the choice of form is a Python branch on the static shape.
"""

from __future__ import annotations

from keras import ops

from trigger_hgq.backend import as_tensor


def batch_sum(x):
    """``sum(x, axis=0)``, as ``ones(1, batch) @ x`` over the flattened trailing axes (static trailing shape; the
    batch size may be dynamic)."""
    x = ops.convert_to_tensor(x)
    n = x.shape[0] if x.shape[0] is not None else ops.shape(x)[0]
    flat = ops.reshape(x, (n, -1))
    return ops.reshape(ops.matmul(ops.ones((1, n), x.dtype), flat), x.shape[1:])


BATCH_MAX_HALVINGS = 6
"""Halvings in :func:`batch_max` before its final reduction (16384 rows -> 256)."""
BATCH_MAX_HALVING_ROWS = 8192
"""From this many rows on, :func:`batch_max` halves first; below, the plain reduction is faster."""


def batch_max(x):
    """``max(x, axis=0)``; from :data:`BATCH_MAX_HALVING_ROWS` rows on (static batch size), after
    :data:`BATCH_MAX_HALVINGS` elementwise maxima of the batch's two halves.

    An odd number of rows overlaps the halves by the middle row, which a maximum does not mind; the result equals
    the plain reduction exactly.
    """
    x = ops.convert_to_tensor(x)
    rows = x.shape[0]
    if rows is None or rows < BATCH_MAX_HALVING_ROWS:
        return ops.max(x, axis=0)
    for _ in range(BATCH_MAX_HALVINGS):
        half = (rows + 1) // 2
        x = ops.maximum(x[:half], x[rows - half:])
        rows = half
    return ops.max(x, axis=0)


def add_bias(y, bias):
    """``y + bias`` over the last axis; the bias gradient sums ``dy`` over the other axes with :func:`batch_sum`."""

    @ops.custom_gradient
    def add(y, bias):
        def grad(*args, upstream=None):
            dy = args[0] if upstream is None else upstream
            channels = dy.shape[-1]
            return dy, ops.reshape(batch_sum(ops.reshape(dy, (-1, channels))), bias.shape)

        return y + bias, grad

    return add(as_tensor(y), as_tensor(bias))
