"""Shared fixtures: quiet TensorFlow, deterministic seeds, the shared reference folder."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """``$TRIGGER_HGQ_SHARED`` or ``../shared`` beside the checkout (None in a user's clone without it)."""
    env = os.environ.get("TRIGGER_HGQ_SHARED")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if path is None:
        pytest.skip("reference folder not found: set TRIGGER_HGQ_SHARED or put shared/ beside the checkout")
    return path


@pytest.fixture(autouse=True)
def _seed():
    import tensorflow as tf

    np.random.seed(0)
    tf.random.set_seed(0)
    tf.keras.backend.clear_session()
    yield
