"""JAX-only settings of a worker process and compiled reads of variables."""

from __future__ import annotations

import logging

import jax
import keras


def configure_worker(quiet: bool) -> None:
    """JAX's logger at ERROR (``quiet``) or WARNING. JAX on CPU is deterministic already: nothing else to set."""
    logging.getLogger("jax").setLevel(logging.ERROR if quiet else logging.WARNING)


def compiled_reader(fn, variables):
    """``jax.jit`` of ``fn`` with the variables' values passed in (a jitted function must not capture them)."""

    def pure(values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return fn()

    jitted = jax.jit(pure)
    return lambda: jitted([v.value for v in variables])


def as_tensor(x):
    """A JAX array (a Keras variable's current value)."""
    return keras.ops.convert_to_tensor(x)
