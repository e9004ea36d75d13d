"""Standardization ``(x - mean) / std`` per feature, fitted on the training split only, saved as JSON with a run.

The export stage reads the same JSON: the deployed firmware expects standardized inputs, so the front end either
applies this step or folds it into the input quantizer (a per-feature scale and offset).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trigger_hgq.atomic import write_text_atomic
from trigger_hgq.errors import TriggerHGQError

FORMULA = "(x - mean) / std"


@dataclass(frozen=True)
class Standardizer:
    """Per-feature mean and standard deviation. A constant feature gets std 1 (it maps to 0, not to NaN)."""

    feature_names: tuple[str, ...]
    mean: np.ndarray  # float64, shape (n_features,)
    std: np.ndarray  # float64, shape (n_features,), > 0

    @classmethod
    def fit(cls, x: np.ndarray, feature_names: Sequence[str]) -> Standardizer:
        """Mean and std (population, ddof=0) of each column of ``x``, accumulated in float64."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != len(feature_names):
            raise ValueError(f"expected x of shape (n, {len(feature_names)}), got {x.shape}")
        if len(x) == 0:
            raise TriggerHGQError("cannot fit the standardization on an empty training split")
        mean = x.mean(axis=0, dtype=np.float64)
        std = x.std(axis=0, dtype=np.float64)
        std = np.where(std > 0, std, 1.0)
        return cls(tuple(feature_names), mean, std)

    @classmethod
    def fit_particles(cls, values: np.ndarray, mask: np.ndarray, feature_names: Sequence[str]) -> Standardizer:
        """The same per particle feature, over the real particles (``mask``) of ``values [n, P, F]``."""
        return cls.fit(np.asarray(values)[np.asarray(mask, bool)], feature_names)

    def transform_particles(self, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Standardized real particles; padded slots stay exactly 0 (float32)."""
        out = np.zeros(np.shape(values), np.float32)
        mask = np.asarray(mask, bool)
        out[mask] = self.transform(np.asarray(values)[mask])
        return out

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Standardized copy of ``x`` (float32)."""
        return ((np.asarray(x, np.float64) - self.mean) / self.std).astype(np.float32)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Raw feature values from standardized ones (float64)."""
        return np.asarray(z, np.float64) * self.std + self.mean

    def to_dict(self) -> dict:
        return {
            "kind": "standardize",
            "formula": FORMULA,
            "feature_names": list(self.feature_names),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "scaler") -> Standardizer:
        try:
            names = tuple(data["feature_names"])
            mean = np.asarray(data["mean"], np.float64)
            std = np.asarray(data["std"], np.float64)
        except (KeyError, TypeError, ValueError) as err:
            raise TriggerHGQError(f"{where}: not a standardization (needs feature_names, mean, std): {err}") from None
        if data.get("kind", "standardize") != "standardize" or mean.shape != (len(names),) or std.shape != mean.shape:
            raise TriggerHGQError(f"{where}: mean and std must each have one value per feature ({len(names)})")
        if not np.all(std > 0):
            raise TriggerHGQError(f"{where}: std must be positive for every feature")
        return cls(names, mean, std)

    def save(self, path: str | Path) -> Path:
        """Write the JSON atomically (temporary file, then rename)."""
        return write_text_atomic(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> Standardizer:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise TriggerHGQError(f"scaler file not found: {path}") from None
        except json.JSONDecodeError as err:
            raise TriggerHGQError(f"{path}: not valid JSON: {err}") from None
        return cls.from_dict(data, where=str(path))
