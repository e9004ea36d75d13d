"""Helpers of the data tests: real ROOT files written with uproot (mktree + extend), and cards for them."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import uproot
import yaml


def write_root(path: Path, columns: dict, tree: str = "Events", basket_entries: int | None = None,
               **naming) -> Path:
    """Write a TTree with ``mktree`` + ``extend``: numpy arrays become flat branches, ``{prefix: {field: jagged}}``
    a NanoAOD-style collection (``prefix_field`` branches with the counter ``n<prefix>``; ``naming`` passes
    mktree's ``counter_name`` / ``field_name`` for other layouts). ``basket_entries`` splits the writing into
    several baskets."""
    data = {}
    for name, value in columns.items():
        data[name] = ak.zip({k: ak.Array(v) for k, v in value.items()}) if isinstance(value, dict) else value
    n = len(next(iter(data.values())))
    step = basket_entries or n
    with uproot.recreate(path) as f:
        types = {k: (v.type.content if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()}
        f.mktree(tree, types, **naming)
        for start in range(0, n, step):
            f[tree].extend({k: v[start:start + step] for k, v in data.items()})
    return path


def jet_columns(n: int, seed: int = 0, max_particles: int = 12) -> dict:
    """One jet per entry: 4 features, an integer label in [0, 3), run/event numbers, and a particle list ``c``."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, max_particles, n)
    total = int(counts.sum())
    label = rng.integers(0, 3, n).astype(np.int32)
    cols = {
        "run": np.full(n, 1, np.int32),
        "event": (np.arange(n) + 1000 * seed).astype(np.int64),
        "f0": rng.normal(size=n).astype(np.float32) + label,
        "f1": rng.exponential(size=n).astype(np.float32),
        "f2": rng.uniform(-1, 1, n).astype(np.float32),
        "f3": np.arange(n, dtype=np.float32) + 1e5 * seed,  # unique per row: identifies rows in the tests
        "label": label,
        "c": {
            "pt": ak.unflatten(rng.exponential(10, total).astype(np.float32), counts),
            "eta": ak.unflatten(rng.normal(size=total).astype(np.float32), counts),
            "phi": ak.unflatten(rng.uniform(-3, 3, total).astype(np.float32), counts),
        },
    }
    return cols


def event_columns(n: int, seed: int = 0) -> dict:
    """NanoAOD-like events: a ``Jet`` collection (0-5 jets; Jet_pt encodes event and index) and event-level MET."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 6, n)
    event = np.arange(n, dtype=np.int64)
    local = ak.local_index(ak.unflatten(np.zeros(int(counts.sum())), counts))
    pt = ak.values_astype(ak.unflatten(np.repeat(event, counts) * 100.0, counts) + local * 10 + 5, np.float32)
    flav = ak.unflatten(rng.choice([0, 4, 5], int(counts.sum())).astype(np.int32), counts)
    return {
        "run": np.full(n, 7, np.int32), "luminosityBlock": np.full(n, 3, np.int32), "event": event,
        "MET_pt": event.astype(np.float32),
        "Jet": {"pt": pt, "eta": ak.values_astype(local * 0.5 - 1.0, np.float32), "hadronFlavour": flav},
    }


def write_card(path: Path, **keys) -> Path:
    path.write_text(yaml.safe_dump(keys, sort_keys=False))
    return path


JET_CARD = {
    "name": "toy_jets", "tree": "Events", "features": ["f0", "f1", "f2", "f3"], "label": {"branch": "label"},
    "classes": ["a", "b", "c"], "split": {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 3},
}
