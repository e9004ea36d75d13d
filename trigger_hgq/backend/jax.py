"""JAX-only settings of a worker process."""

from __future__ import annotations

import logging


def configure_worker(quiet: bool) -> None:
    """JAX's logger at ERROR (``quiet``) or WARNING. JAX on CPU is deterministic already: nothing else to set."""
    logging.getLogger("jax").setLevel(logging.ERROR if quiet else logging.WARNING)
