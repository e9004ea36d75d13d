"""A learnable synthetic 16-feature, 5-class problem shaped like the hls4ml jet-tagging task.

Used where a real dataset would make a unit test or a benchmark slow or dependent on files: each class is a
mixture of two Gaussian blobs in a random 6-dimensional subspace, mapped non-linearly onto 16 correlated features
(a 16-64-32-32-5 MLP reaches about 0.8 accuracy, a linear model clearly less).
"""

from __future__ import annotations

import numpy as np

N_FEATURES = 16
N_CLASSES = 5


def make_classification(n: int, seed: int = 0, noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` standardized float32 rows of 16 features and int labels in [0, 5). The problem is fixed; ``seed``
    only draws the rows."""
    problem = np.random.default_rng(12345)  # the same classes for every seed
    centers = problem.normal(0.0, 1.2, size=(N_CLASSES, 2, 6))
    mixing = problem.normal(0.0, 1.0, size=(6, N_FEATURES)) / np.sqrt(6)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, size=n)
    blob = rng.integers(0, 2, size=n)
    latent = centers[y, blob] + noise * rng.normal(size=(n, 6))
    z = latent @ mixing
    x = np.concatenate([z[:, :8], np.tanh(1.5 * z[:, 8:12]), z[:, 12:] * np.abs(z[:, :4])], axis=1)
    x += 0.1 * rng.normal(size=x.shape)
    x = (x - x.mean(0)) / x.std(0)
    return x.astype(np.float32), y.astype(np.int64)
