"""TensorFlow-only settings of a worker process."""

from __future__ import annotations

import tensorflow as tf


def configure_worker(quiet: bool) -> None:
    """TensorFlow's logger at ERROR (``quiet``) or WARNING.

    TensorFlow's op determinism stays off: Keras 3 compiles no model with XLA while it is on (its trainer drops
    ``jit_compile``), and the HGQ train step is compiled. On the CPU, XLA's and TensorFlow's kernels give the same
    results run to run on the same machine (``tests/test_backends.py`` trains twice and compares).
    """
    tf.get_logger().setLevel("ERROR" if quiet else "WARNING")


def compiled_reader(fn, variables):
    """A ``tf.function`` of ``fn`` (it reads the variables when called; no XLA: the same kernels as eager)."""
    return tf.function(fn, autograph=False)


def as_tensor(x):
    """A tensor; a ``tf.Variable`` (what a Keras variable is here) is read."""
    return tf.convert_to_tensor(x)
