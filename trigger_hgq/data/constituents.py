"""Particle lists of each row as a padded ``[n, max_particles, n_fields]`` array sorted by a field, with a mask."""

from __future__ import annotations

from collections.abc import Sequence

import awkward as ak
import numpy as np


def pad_jagged(fields: Sequence[ak.Array], max_particles: int, sort_index: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Pad jagged per-row lists (all with the same counts) to ``max_particles``.

    The particles of each row are sorted by ``fields[sort_index]`` in decreasing order (stable; None keeps the
    file order), the leading ``max_particles`` kept, the rest of the slots filled with 0. Returns the float32
    array ``[n, max_particles, len(fields)]`` and the bool mask ``[n, max_particles]`` of real particles.
    Works on the flat contents with numpy (a few index arrays of the particle count, no per-field copies).
    """
    counts = np.asarray(ak.num(fields[0], axis=1), np.int64)
    n, total = len(counts), int(counts.sum())
    starts = np.cumsum(counts) - counts
    row = np.repeat(np.arange(n, dtype=np.int32), counts)
    if sort_index is not None:
        key = ak.to_numpy(ak.flatten(fields[sort_index], axis=1))
        order = np.lexsort((-key, row))  # by row, then decreasing key; stable for ties
    else:
        order = np.arange(total)
    slot = (np.arange(total) - np.repeat(starts, counts)).astype(np.int32)  # position after sorting
    keep = slot < max_particles
    row, slot, order = row[keep], slot[keep], order[keep]
    out = np.zeros((n, max_particles, len(fields)), np.float32)
    for j, f in enumerate(fields):
        out[row, slot, j] = ak.to_numpy(ak.flatten(f, axis=1))[order]
    mask = np.arange(max_particles)[None, :] < np.minimum(counts, max_particles)[:, None]
    return out, mask


def sort_padded(values: np.ndarray, mask: np.ndarray, max_particles: int,
                sort_index: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The same for lists already padded to a fixed length (``values [n, P, F]``, ``mask [n, P]``)."""
    values = np.asarray(values, np.float32)
    if sort_index is not None:
        key = np.where(mask, values[:, :, sort_index], -np.inf)
        order = np.argsort(-key, axis=1, kind="stable")
        values = np.take_along_axis(values, order[:, :, None], axis=1)
        mask = np.take_along_axis(mask, order, axis=1)
    values, mask = values[:, :max_particles], mask[:, :max_particles]
    if values.shape[1] < max_particles:
        extra = max_particles - values.shape[1]
        values = np.concatenate([values, np.zeros((len(values), extra, values.shape[2]), np.float32)], axis=1)
        mask = np.concatenate([mask, np.zeros((len(mask), extra), bool)], axis=1)
    values = np.where(mask[:, :, None], values, np.float32(0))
    return np.ascontiguousarray(values, np.float32), np.ascontiguousarray(mask)
