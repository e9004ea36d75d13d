"""TensorFlow-only settings of a worker process."""

from __future__ import annotations

import tensorflow as tf


def configure_worker(quiet: bool) -> None:
    """TensorFlow's logger at ERROR (``quiet``) or WARNING; deterministic kernels (set once per process)."""
    tf.get_logger().setLevel("ERROR" if quiet else "WARNING")
    try:
        tf.config.experimental.enable_op_determinism()
    except RuntimeError:  # already set, or set after the runtime started: determinism is then as configured
        pass


def compiled_reader(fn, variables):
    """A ``tf.function`` of ``fn`` (it reads the variables when called; no XLA: the same kernels as eager)."""
    return tf.function(fn, autograph=False)


def as_tensor(x):
    """A tensor; a ``tf.Variable`` (what a Keras variable is here) is read."""
    return tf.convert_to_tensor(x)
