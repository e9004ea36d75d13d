"""What differs per Keras backend, in one small module per backend (imported only under that backend).

:func:`configure_worker` prepares a worker process (a pipeline task): quiet logs and reproducible kernels.
"""

from __future__ import annotations

import importlib

import keras


def backend_module():
    """The module of the current Keras backend (``trigger_hgq.backend.tensorflow`` or ``.jax``)."""
    name = keras.backend.backend()
    if name not in ("tensorflow", "jax"):
        from trigger_hgq.errors import TriggerHGQError

        raise TriggerHGQError(f"Keras backend {name!r} is not supported: set KERAS_BACKEND to tensorflow or jax")
    return importlib.import_module(f"{__name__}.{name}")


def configure_worker(quiet: bool) -> None:
    """Quiet the backend's own logger (errors only when ``quiet``) and make its kernels deterministic."""
    backend_module().configure_worker(quiet)
