"""Mirrored training jets: more real jets for constituent-level models from the symmetries of pp collisions.

Generator-level physics is symmetric under phi -> -phi and under eta -> -eta (the beams are identical and
unpolarized), so a jet's mirror image is as real a jet as the original, of the same class. Constituent-level
models are data-limited on a dataset of ~100k jets (docs/benchmarks.md: the particle models gain +1.4 pt per
doubling of the training jets where the 16-feature MLP gains +0.3), and mirrors quadruple the training jets
without new files. Only the training split is mirrored; validation, selection and test rows stay as read.
High-level jet features (masses, substructure) do not change under the mirrors, so only particles are mirrored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trigger_hgq.data.particle_features import REFLECTED, REGISTRY, reflected
from trigger_hgq.data.scaler import Standardizer

MIRROR_PLANES = tuple(REFLECTED)
"""The mirrors a run may add to its training jets (``mirrors`` of a pipeline config)."""

INVARIANT_RAW_FIELDS = frozenset({"pt", "E", "mass", "charge"})
"""Raw constituent fields (the keys of a card's ``constituents.branches``) that no mirror changes."""


def mirror_problem(names: Sequence[str]) -> str | None:
    """Why the particle features ``names`` cannot be mirrored (a raw field of unknown sign), or None."""
    raw = INVARIANT_RAW_FIELDS | (set().union(*REFLECTED.values()) - set(REGISTRY))
    for name in names:
        if name not in REGISTRY and name not in raw:
            return (f"the particle feature '{name}' has no known sign under the mirrors (known: the derived features "
                    f"and the raw fields {', '.join(sorted(raw))})")
    return None


def with_mirrors(x: np.ndarray, mask: np.ndarray, y: np.ndarray, names: Sequence[str], planes: Sequence[str]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The jets ``x [n, P, F]`` (their ``mask [n, P]``, labels ``y [n]``) followed by their images under every
    combination of the mirrors ``planes``: ``2 ** len(planes)`` copies, the originals first, then (for
    ``phi, eta``) the phi, the eta and the phi-and-eta images."""
    if len(set(planes)) != len(planes):
        raise ValueError(f"mirror planes listed twice: {list(planes)}")
    copies = [x]
    for plane in planes:
        copies += [reflected(c, names, plane) for c in copies]
    k = len(copies)
    return np.concatenate(copies), np.concatenate([mask] * k), np.concatenate([y] * k)


def mirror_training_jets(arrays: dict[str, np.ndarray], masks: dict[str, np.ndarray], names: Sequence[str],
                         planes: Sequence[str]) -> Standardizer:
    """Mirror the training split of ``arrays`` (``x_<split>`` raw particles ``[n, P, F]``, ``y_<split>``; ``masks``:
    each split's ``[n, P]`` real particles) in ``planes`` and standardize every split's particles on the mirrored
    training particles, in place (float32). Returns that scaler (the particles' front-end step); padded slots stay
    exactly 0."""
    arrays["x_train"], masks["train"], arrays["y_train"] = with_mirrors(
        arrays["x_train"], masks["train"], arrays["y_train"], names, planes)
    scaler = Standardizer.fit_particles(arrays["x_train"], masks["train"], names)
    for split, mask in masks.items():
        arrays[f"x_{split}"] = scaler.transform_particles(arrays[f"x_{split}"], mask)
    return scaler
