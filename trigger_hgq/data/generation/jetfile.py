"""Write generated jets to a ROOT TTree (uproot ``mktree`` + ``extend``) and describe it with a dataset card."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import uproot
import yaml

from trigger_hgq.atomic import atomic_path, write_text_atomic
from trigger_hgq.data.generation.features import FEATURE_NAMES

CLASSES: tuple[str, ...] = ("g", "q", "w", "z", "t")
KINEMATICS: tuple[str, ...] = ("j_pt", "j_eta", "j_phi", "j_mass")
TREE = "jets"
CONSTITUENT_RECORD = "const"  # branches const_pt, const_eta, const_phi, const_E and their counter nconst
CONSTITUENT_FIELDS: tuple[str, ...] = ("pt", "eta", "phi", "E")
CONSTITUENT_MANTISSA_BITS: dict[str, int] = {"pt": 12, "eta": 16, "phi": 16, "E": 12}
"""Mantissa bits each constituent field keeps in the file (float32 has 23; the rest are rounded off, so LZMA
packs the file to about 60%): pT and E to a relative 1.2e-4, eta and phi to 3e-5 at |eta| = 2, both far below a
detector's resolution."""


def round_mantissa(values: np.ndarray, bits: int) -> np.ndarray:
    """float32 ``values`` rounded to ``bits`` mantissa bits (to nearest, ties away from zero)."""
    u = np.ascontiguousarray(values, np.float32).view(np.uint32)
    drop = 23 - int(bits)
    if drop <= 0:
        return u.view(np.float32)
    half, keep = np.uint32(1 << (drop - 1)), np.uint32(0xFFFFFFFF ^ ((1 << drop) - 1))
    return ((u + half) & keep).view(np.float32)
# the per-particle features the card derives (trigger_hgq.data.particle_features), jet axis from KINEMATICS
CONSTITUENT_FEATURES: tuple[str, ...] = ("pt_rel", "eta_rel", "phi_rel", "delta_r", "e_rel", "log_pt", "log_e")


def _tree_columns(arrays: dict) -> dict:
    """Branch name -> array: int32 label, float32 kinematics and features, jagged float32 constituents (their
    mantissas rounded to :data:`CONSTITUENT_MANTISSA_BITS`)."""
    import awkward as ak

    label = np.asarray(arrays["label"], dtype=np.int32)
    cols: dict = {"label": label}
    for name in (*KINEMATICS, *FEATURE_NAMES):
        cols[name] = np.asarray(arrays[name], dtype=np.float32)
    if "const" in arrays:
        const = {}
        for f in CONSTITUENT_FIELDS:
            jagged = ak.values_astype(arrays["const"][f], np.float32)
            flat = round_mantissa(ak.to_numpy(ak.flatten(jagged)), CONSTITUENT_MANTISSA_BITS[f])
            const[f] = ak.unflatten(flat, ak.num(jagged))
        cols[CONSTITUENT_RECORD] = ak.zip(const)
    return cols


def write_jet_tree(
    path: str | Path,
    arrays: dict,
    *,
    metadata: dict | None = None,
    basket_entries: int = 50_000,
) -> Path:
    """Write jets to ``path`` (TTree ``jets``, LZMA-compressed) via a temporary file renamed at the end.

    ``metadata`` (JSON-serializable) is stored beside the tree as the string ``generation``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = _tree_columns(arrays)
    n = len(cols["label"])
    with atomic_path(path) as tmp, uproot.recreate(tmp, compression=uproot.LZMA(9)) as f:
        types = {k: (v.dtype if isinstance(v, np.ndarray) else v.type.content) for k, v in cols.items()}
        tree = f.mktree(TREE, types, title="jets: g q w z t at pT ~ 1 TeV (Pythia 8 + FastJet)")
        for start in range(0, max(n, 1), basket_entries):
            tree.extend({k: v[start : start + basket_entries] for k, v in cols.items()})
        if metadata is not None:
            f["generation"] = json.dumps(metadata, sort_keys=True)
    return path


def write_card(
    path: str | Path,
    *,
    name: str,
    description: str,
    data_file: str | Path,
    command: str,
    seed: int,
    max_constituents: int = 0,
) -> Path:
    """Write the dataset card (YAML) of a generated file; ``files`` is relative to the card's folder."""
    path = Path(path)
    rel = os.path.relpath(Path(data_file).resolve(), path.resolve().parent)
    constituents = None
    if max_constituents > 0:
        constituents = {
            "branches": {f: f"{CONSTITUENT_RECORD}_{f}" for f in CONSTITUENT_FIELDS},
            "max_particles": int(max_constituents),
            "sort_by": "pt",
            "jet": {k.removeprefix("j_"): k for k in KINEMATICS},
            "features": list(CONSTITUENT_FEATURES),
        }
    card = {
        "name": name,
        "description": description,
        "files": [rel],
        "tree": TREE,
        "features": list(FEATURE_NAMES),
        "label": {"branch": "label"},
        "classes": list(CLASSES),
        "flatten": None,
        "cut": None,
        "constituents": constituents,
        "split": {"train": 0.6, "val": 0.2, "test": 0.2, "seed": 42},
        "nan_policy": "error",
        "generation": {"command": command, "seed": int(seed)},
    }
    return write_text_atomic(path, yaml.safe_dump(card, sort_keys=False, width=120))
