"""What differs per Keras backend, in one small module per backend (imported only under that backend).

:func:`configure_worker` prepares a worker process (a pipeline task): quiet logs.
:func:`compiled_reader` compiles a function of the current variable values (no arguments), such as the bits that the
exact EBOPs count reads every epoch: one compiled call instead of hundreds of small eager operations.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

import keras


def backend_module():
    """The module of the current Keras backend (``trigger_hgq.backend.tensorflow`` or ``.jax``)."""
    name = keras.backend.backend()
    if name not in ("tensorflow", "jax"):
        from trigger_hgq.errors import TriggerHGQError

        raise TriggerHGQError(f"Keras backend {name!r} is not supported: set KERAS_BACKEND to tensorflow or jax")
    return importlib.import_module(f"{__name__}.{name}")


def configure_worker(quiet: bool) -> None:
    """Quiet the backend's own logger (errors only when ``quiet``)."""
    backend_module().configure_worker(quiet)


def compiled_reader(fn: Callable[[], object], variables: Sequence[keras.Variable]) -> Callable[[], object]:
    """``fn`` (no arguments; it reads ``variables``, and no other variable) compiled once: each call of the result
    returns ``fn()`` on the variables' current values (a structure of backend tensors)."""
    return backend_module().compiled_reader(fn, list(variables))


def as_tensor(x):
    """``x`` as a backend tensor; a variable is read (its gradient still reaches the variable), so a custom-gradient
    function given the result sees a plain tensor (TensorFlow's ``custom_gradient`` refuses functions that read
    variables)."""
    return backend_module().as_tensor(x)
