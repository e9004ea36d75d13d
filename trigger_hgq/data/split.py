"""Deterministic train/val/test split that does not depend on the order of the input files.

Every row gets a stable 64-bit key from what identifies it, not from where it lands in the concatenated arrays:
(file identity, entry in that file, object index within the entry), or (values of ``split.key`` branches such as
run, luminosityBlock, event; object index). The seed is mixed into the key, the rows are ranked by the mixed
value, and the first ``round(train * n)`` ranks form the training split, the next ones validation, then the
selection split (often empty), the rest test (exact counts, largest remainder). The rank order is also the row
order inside each split, a reproducible shuffle.
Reordering files, or changing the step size, changes nothing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trigger_hgq.errors import TriggerHGQError

SPLITS = ("train", "val", "select", "test")
"""The splits in rank order. ``select`` comes before ``test`` so that adding one takes its rows from the test
split and leaves the training and validation rows as they were."""
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix64(x: np.ndarray) -> np.ndarray:
    """A bijective 64-bit finalizer (splitmix64): nearby inputs give unrelated outputs."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def text_hash64(text: str) -> np.uint64:
    """A stable 64-bit hash of a string (independent of Python's per-process hash seed)."""
    return np.uint64(int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little"))


def combine(h: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Fold ``values`` (uint64, same shape) into the running keys ``h``."""
    with np.errstate(over="ignore"):
        return mix64(np.asarray(h, np.uint64) * _GOLDEN + mix64(values))


def as_key_bits(values: np.ndarray) -> np.ndarray:
    """Integers as their uint64 value, floats by their float64 bit pattern: the input of :func:`combine`."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    if values.dtype.kind in "iub":
        return values.astype(np.int64).view(np.uint64) if values.dtype.kind == "i" else values.astype(np.uint64)
    raise TypeError(f"cannot key on dtype {values.dtype}")


def file_identities(paths: Sequence[Path]) -> dict[Path, str]:
    """The name each file contributes to the row keys: its basename, or, where basenames repeat among the inputs,
    its path relative to the inputs' common folder. Independent of the order of ``paths``."""
    names: dict[str, int] = {}
    for p in paths:
        names[p.name] = names.get(p.name, 0) + 1
    common = Path(os.path.commonpath([str(p.parent) for p in paths])) if paths else Path()
    return {p: p.name if names[p.name] == 1 else str(p.relative_to(common)) for p in paths}


def entry_keys(file_id: str, entries: np.ndarray, objects: np.ndarray | None = None) -> np.ndarray:
    """Row keys from (file identity, entry number in the file, object index in the entry)."""
    h = combine(np.full(len(entries), text_hash64(file_id), np.uint64), np.asarray(entries, np.uint64))
    if objects is not None:
        h = combine(h, np.asarray(objects, np.uint64))
    return h


def value_keys(columns: Sequence[np.ndarray], objects: np.ndarray | None = None) -> np.ndarray:
    """Row keys from event-identifying values (run, luminosityBlock, event...) and the object index."""
    h = np.full(len(columns[0]), text_hash64("split.key"), np.uint64)
    for col in columns:
        h = combine(h, as_key_bits(col))
    if objects is not None:
        h = combine(h, np.asarray(objects, np.uint64))
    return h


def split_counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Exact row counts for ``fractions`` of ``n`` (largest remainder; ties go to the earlier split)."""
    raw = [f * n for f in fractions]
    counts = [int(np.floor(r)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def split_indices(keys: np.ndarray, fractions: Sequence[float], seed: int, where: str = "split") -> list[np.ndarray]:
    """Row indices of each split (one per fraction, in :data:`SPLITS` order), each in its reproducible shuffled
    order.

    Raises when two rows share a key (the split would then depend on the row order).
    """
    keys = np.asarray(keys, np.uint64)
    ranked = combine(keys, np.full(len(keys), np.uint64(seed), np.uint64))
    order = np.argsort(ranked, kind="stable")
    dup = np.flatnonzero(np.diff(keys[np.argsort(keys, kind="stable")]) == 0)
    if len(dup):
        raise TriggerHGQError(
            f"{where}: {len(dup)} rows share their split key with another row, so the split would depend on the "
            "file order; give 'split.key' branches that identify each entry uniquely (or drop split.key to use "
            "file name and entry number)")
    counts = split_counts(len(keys), fractions)
    bounds = np.cumsum([0] + counts)
    return [order[bounds[i]: bounds[i + 1]] for i in range(len(counts))]
