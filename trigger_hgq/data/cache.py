"""Optional ``.npz`` cache of the rows a card reads (before the split), keyed by the card and the input files.

The cache name holds a digest of everything that changes the rows (the card's reading keys and each file's
resolved path, size and modification time), so a stale cache is never read. The split, the seed and the scaler are
applied after the cache, so changing them reuses it. Written to a temporary name, then renamed.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trigger_hgq.atomic import atomic_path
from trigger_hgq.data.card import Card
from trigger_hgq.data.chunk import Chunk

CACHE_VERSION = 1


def cache_file(card: Card, files: Sequence[Path]) -> Path | None:
    """Where the rows of ``card`` over ``files`` are cached (None when the card has no ``cache`` folder)."""
    folder = card.cache_dir()
    if folder is None:
        return None
    stamp = []
    for p in sorted(Path(f).resolve() for f in files):
        st = p.stat()
        stamp.append([str(p), st.st_size, st.st_mtime_ns])
    blob = json.dumps({"v": CACHE_VERSION, "card": card.reading_dict(), "files": stamp}, sort_keys=True)
    digest = hashlib.blake2b(blob.encode(), digest_size=10).hexdigest()
    return folder / f"{card.name}-{digest}.npz"


def load_cached(path: Path) -> Chunk | None:
    """The cached rows, or None when there is no usable cache file."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            has_c = "constituents" in z.files
            return Chunk(z["features"], z["labels"], z["keys"], z["constituents"] if has_c else None,
                         z["mask"] if has_c else None, int(z["n_dropped"]), int(z["n_filled"]))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def save_cached(path: Path, rows: Chunk) -> Path:
    """Write ``rows`` to ``path`` atomically."""
    arrays = {"features": rows.features, "labels": rows.labels, "keys": rows.keys,
              "n_dropped": np.int64(rows.n_dropped), "n_filled": np.int64(rows.n_filled)}
    if rows.constituents is not None:
        arrays |= {"constituents": rows.constituents, "mask": rows.mask}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return path
