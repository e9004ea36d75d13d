"""One bounded block of rows as every reader yields it, with the card's label and NaN/Inf rules applied."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from trigger_hgq.data.card import Card
from trigger_hgq.errors import TriggerHGQError


@dataclass
class Chunk:
    """Rows read in one step: features ``[n, F]`` float32, class indices ``[n]`` int32, stable row keys ``[n]``
    uint64 (see :mod:`trigger_hgq.data.split`), and optionally constituents ``[n, P, C]`` float32 with a mask."""

    features: np.ndarray
    labels: np.ndarray
    keys: np.ndarray
    constituents: np.ndarray | None = None
    mask: np.ndarray | None = None
    n_dropped: int = 0  # rows dropped for NaN/Inf (nan_policy: drop)
    n_filled: int = 0  # values replaced (nan_policy: fill)

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray) -> Chunk:
        c = None if self.constituents is None else self.constituents[index]
        m = None if self.mask is None else self.mask[index]
        return Chunk(self.features[index], self.labels[index], self.keys[index], c, m, self.n_dropped, self.n_filled)


def concat_chunks(chunks: Sequence[Chunk]) -> Chunk:
    """All rows of ``chunks`` in one chunk (the counters add up)."""
    has_c = chunks[0].constituents is not None
    return Chunk(
        np.concatenate([c.features for c in chunks]),
        np.concatenate([c.labels for c in chunks]),
        np.concatenate([c.keys for c in chunks]),
        np.concatenate([c.constituents for c in chunks]) if has_c else None,  # type: ignore[misc]
        np.concatenate([c.mask for c in chunks]) if has_c else None,  # type: ignore[misc]
        sum(c.n_dropped for c in chunks),
        sum(c.n_filled for c in chunks),
    )


def label_indices(card: Card, columns: Sequence[np.ndarray], locate: Callable[[int], str]) -> np.ndarray:
    """Class index per row from the label column(s), checked against ``card.classes``."""
    n_classes = len(card.classes)
    what = card.label.describe()
    if card.label.kind == "one_hot":
        hot = np.stack([np.asarray(c) for c in columns], axis=1)
        if hot.dtype.kind not in "biuf":
            raise TriggerHGQError(f"{what} in {card.where}: one-hot branches must be numeric, got {hot.dtype}")
        n_set = np.count_nonzero(hot, axis=1)
        bad = np.flatnonzero(n_set != 1)
        if len(bad):
            i = int(bad[0])
            raise TriggerHGQError(f"{what}: {int(n_set[i])} classes set (exactly one needed) at {locate(i)}")
        return np.argmax(hot != 0, axis=1).astype(np.int32)
    values = np.asarray(columns[0])
    if values.dtype.kind in "USO":  # class names (e.g. the nominal 'class' attribute of an ARFF file)
        lookup = {name: i for i, name in enumerate(card.classes)}
        out = np.empty(len(values), np.int32)
        for i, v in enumerate(values):
            v = v.decode() if isinstance(v, bytes) else str(v)
            if v not in lookup:
                raise TriggerHGQError(f"{what}: class '{v}' at {locate(i)} is not in classes {list(card.classes)}")
            out[i] = lookup[v]
        return out
    if values.dtype.kind not in "biuf":
        raise TriggerHGQError(f"{what} in {card.where}: must be an integer class index, got type {values.dtype}")
    as_int = np.rint(values) if values.dtype.kind == "f" else values
    bad = np.flatnonzero(~np.isfinite(values.astype(np.float64)) | (as_int != values) | (as_int < 0)
                         | (as_int >= n_classes))
    if len(bad):
        i = int(bad[0])
        raise TriggerHGQError(
            f"{what}: value {values[i]!r} at {locate(i)} is not a class index in [0, {n_classes - 1}] "
            f"(classes {list(card.classes)})")
    return as_int.astype(np.int32)


def _remap(locate: Callable[[int], str], index: np.ndarray) -> Callable[[int], str]:
    return lambda i: locate(int(index[i]))


def make_chunk(card: Card, feature_columns: Sequence[np.ndarray], label_columns: Sequence[np.ndarray],
               keys: np.ndarray, locate: Callable[[int], str], constituents: np.ndarray | None = None,
               mask: np.ndarray | None = None) -> Chunk:
    """Assemble a chunk: apply the NaN/Inf policy to features and (real) constituents, then read the labels.

    ``locate(i)`` names row ``i`` in error messages (file, tree, entry...).
    """
    n = len(keys)
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.empty((n, len(feature_columns)), np.float32)
        for j, col in enumerate(feature_columns):
            x[:, j] = col
    bad_x = ~np.isfinite(x)
    bad_c = None if constituents is None else ~np.isfinite(constituents) & mask[:, :, None]  # type: ignore[index]
    bad_rows = bad_x.any(axis=1) | (bad_c.any(axis=(1, 2)) if bad_c is not None else False)
    n_dropped = n_filled = 0
    if bad_rows.any():
        if card.nan_policy == "error":
            i = int(np.flatnonzero(bad_rows)[0])
            if bad_x[i].any():
                j = int(np.flatnonzero(bad_x[i])[0])
                what, value = f"feature '{card.feature_names[j]}'", feature_columns[j][i]
            else:
                fields = card.constituents.output_names  # type: ignore[union-attr]
                j = int(np.flatnonzero(bad_c[i].any(axis=0))[0])  # type: ignore[index]
                what, value = f"constituent field '{fields[j]}'", "NaN/Inf"
            raise TriggerHGQError(
                f"{what} is {value} at {locate(i)} (nan_policy: error in {card.where}; set nan_policy to drop or "
                "fill to accept such rows)")
        if card.nan_policy == "drop":
            keep = np.flatnonzero(~bad_rows)
            n_dropped = n - len(keep)
            label_columns = [np.asarray(c)[keep] for c in label_columns]
            x, keys = x[keep], keys[keep]
            if constituents is not None:
                constituents, mask = constituents[keep], mask[keep]  # type: ignore[index]
            locate = _remap(locate, keep)
        else:
            n_filled = int(bad_x.sum()) + (int(bad_c.sum()) if bad_c is not None else 0)
            x[bad_x] = card.fill_value
            if bad_c is not None:
                constituents = np.where(bad_c, np.float32(card.fill_value), constituents)
    labels = label_indices(card, label_columns, locate)
    return Chunk(x, labels, np.asarray(keys, np.uint64), constituents, mask, n_dropped, n_filled)
