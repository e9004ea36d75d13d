"""Particle lists of each row as a padded ``[n, max_particles, n_fields]`` array sorted by a field, with a mask.

:func:`pad_jagged` (jagged lists) and :func:`sort_padded` (lists already padded) give the raw fields; with the card's
``constituents.features`` they are padded in float64 and :func:`card_array` derives the features
(:mod:`trigger_hgq.data.particle_features`).
"""

from __future__ import annotations

from collections.abc import Sequence

import awkward as ak
import numpy as np

from trigger_hgq.data.card import ConstituentSpec
from trigger_hgq.data.particle_features import derive


def pad_jagged(fields: Sequence[ak.Array], max_particles: int, sort_index: int | None,
               dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Pad jagged per-row lists (all with the same counts) to ``max_particles``.

    The particles of each row are sorted by ``fields[sort_index]`` in decreasing order (stable; None keeps the
    file order), the leading ``max_particles`` kept, the rest of the slots filled with 0. Returns the ``dtype``
    array ``[n, max_particles, len(fields)]`` (float32 unless given) and the bool mask ``[n, max_particles]`` of
    real particles.
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
    out = np.zeros((n, max_particles, len(fields)), dtype)
    for j, f in enumerate(fields):
        out[row, slot, j] = ak.to_numpy(ak.flatten(f, axis=1))[order]
    mask = np.arange(max_particles)[None, :] < np.minimum(counts, max_particles)[:, None]
    return out, mask


def sort_padded(values: np.ndarray, mask: np.ndarray, max_particles: int, sort_index: int | None,
                dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """The same for lists already padded to a fixed length (``values [n, P, F]``, ``mask [n, P]``)."""
    values = np.asarray(values, dtype)
    if sort_index is not None:
        key = np.where(mask, values[:, :, sort_index], -np.inf)
        order = np.argsort(-key, axis=1, kind="stable")
        values = np.take_along_axis(values, order[:, :, None], axis=1)
        mask = np.take_along_axis(mask, order, axis=1)
    values, mask = values[:, :max_particles], mask[:, :max_particles]
    if values.shape[1] < max_particles:
        extra = max_particles - values.shape[1]
        values = np.concatenate([values, np.zeros((len(values), extra, values.shape[2]), dtype)], axis=1)
        mask = np.concatenate([mask, np.zeros((len(mask), extra), bool)], axis=1)
    values = np.where(mask[:, :, None], values, dtype(0))
    return np.ascontiguousarray(values, dtype), np.ascontiguousarray(mask)


def card_array(spec: ConstituentSpec, values: np.ndarray, mask: np.ndarray,
               jet: dict[str, np.ndarray]) -> np.ndarray:
    """The constituent array of a card from its padded raw fields (``values`` of dtype ``spec.pad_dtype``): the
    derived ``spec.features`` when set (``jet``: one value per row for each ``spec.jet`` quantity), else the raw
    fields, float32 either way."""
    if not spec.features:
        return np.asarray(values, np.float32)
    return derive(spec.features, list(spec.fields), values, mask, jet)
