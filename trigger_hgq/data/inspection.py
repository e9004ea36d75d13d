"""What is in a data file (trees, branches, types, entries), and what a card makes of it, computed while streaming."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from trigger_hgq.data.card import Card
from trigger_hgq.data.dataset import empty_selection, iter_chunks, resolve_card
from trigger_hgq.data.formats import FILE_FORMATS, format_of
from trigger_hgq.data.split import SPLITS, split_counts


def inspect_file(path: str | Path) -> dict:
    """The contents of a ROOT, HDF5 or ARFF/CSV file (the inspector of its format; a file of unknown suffix is read
    as ROOT): for ROOT every tree with its entries and every branch, sub-branches included (full path, C++ type,
    how uproot reads it or why it cannot, readable as an array)."""
    path = Path(path)
    fmt = format_of(path)
    return (fmt or FILE_FORMATS["root"]).inspect(path)


class _Moments:
    """Per-column count, mean, variance (merged chunk by chunk, Chan et al.), min and max, in float64."""

    def __init__(self, n_cols: int):
        self.n, self.mean, self.m2 = 0, np.zeros(n_cols), np.zeros(n_cols)
        self.min, self.max = np.full(n_cols, np.inf), np.full(n_cols, -np.inf)

    def add(self, x: np.ndarray) -> None:
        if len(x) == 0:
            return
        x = x.astype(np.float64)
        n_b, mean_b = len(x), x.mean(axis=0)
        m2_b = ((x - mean_b) ** 2).sum(axis=0)
        delta, n = mean_b - self.mean, self.n + n_b
        self.mean = self.mean + delta * n_b / n
        self.m2 = self.m2 + m2_b + delta**2 * self.n * n_b / n
        self.n = n
        self.min, self.max = np.minimum(self.min, x.min(axis=0)), np.maximum(self.max, x.max(axis=0))

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / max(self.n, 1))


def summarize(source: Card | str | Path | Mapping, files: Sequence[str | Path] | None = None) -> dict:
    """Shapes, class counts and a feature summary of what ``source`` reads, streaming (memory of one step)."""
    card = resolve_card(source)
    if files is not None:
        card = card.with_files([Path(f) for f in files])
    paths = card.resolve_files()
    moments = _Moments(len(card.features))
    counts = np.zeros(len(card.classes), np.int64)
    dropped = filled = particles = 0
    c_shape: list[int] | None = None
    for chunk in iter_chunks(card, paths):
        moments.add(chunk.features)
        counts += np.bincount(chunk.labels, minlength=len(card.classes))
        dropped, filled = dropped + chunk.n_dropped, filled + chunk.n_filled
        if chunk.mask is not None:
            particles += int(chunk.mask.sum())
            c_shape = list(chunk.constituents.shape[1:])  # type: ignore[union-attr]
        del chunk  # not alive while the next chunk is read
    n = moments.n
    if n == 0:
        raise empty_selection(card, paths)
    sp = card.split
    sizes = dict(zip(SPLITS, split_counts(n, sp.fractions), strict=True))
    out = {
        "card": str(card.source) if card.source else card.name, "files": [str(p) for p in paths], "rows": n,
        "shape": [n, len(card.features)], "split_shapes": {s: [k, len(card.features)] for s, k in sizes.items()},
        "class_counts": dict(zip(card.classes, counts.tolist(), strict=True)),
        "rows_dropped_nan": dropped, "values_filled_nan": filled,
        "features": {name: {"mean": float(moments.mean[j]), "std": float(moments.std[j]),
                            "min": float(moments.min[j]), "max": float(moments.max[j])}
                     for j, name in enumerate(card.features)},
    }
    if c_shape is not None:
        out["constituents"] = {"shape": [n, *c_shape], "fields": card.constituents.output_names,  # type: ignore
                               "mean_particles": particles / n}
    return out


def format_inspection(info: dict) -> str:
    """Human-readable text of :func:`inspect_file`."""
    lines = [f"{info['file']} ({info['format']})"]
    if info["format"] == "root":
        for name, t in info["trees"].items():
            n_leaves = sum(b["readable"] for b in t["branches"])
            lines.append(f"  {t['class']} '{name}': {t['entries']} entries, {len(t['branches'])} branches "
                         f"({n_leaves} readable as arrays)")
            width = min(max((len(b["name"]) for b in t["branches"]), default=0), 40)
            lines += [f"    {b['name']:<{width}}  {b['type']:<16} {b['interpretation']}" for b in t["branches"]]
    elif info["format"] == "hdf5":
        lines += [f"  {k}: shape {tuple(v['shape'])}, {v['dtype']}" for k, v in info["datasets"].items()]
    else:
        lines.append(f"  {info['rows']} rows, {len(info['columns'])} columns")
        lines += [f"    {c['name']}  {c['type']}" for c in info["columns"]]
    return "\n".join(lines)


def format_summary(s: dict) -> str:
    """Human-readable text of :func:`summarize`."""
    lines = [f"card {s['card']}: {s['rows']} rows x {s['shape'][1]} features"]
    lines.append("  splits: " + ", ".join(f"{k} {tuple(v)}" for k, v in s["split_shapes"].items()))
    if "constituents" in s:
        c = s["constituents"]
        lines.append(f"  constituents {tuple(c['shape'])} ({', '.join(c['fields'])}), "
                     f"{c['mean_particles']:.1f} particles per row on average")
    lines.append("  classes: " + ", ".join(f"{k} {v}" for k, v in s["class_counts"].items()))
    if s["rows_dropped_nan"] or s["values_filled_nan"]:
        lines.append(f"  NaN/Inf: {s['rows_dropped_nan']} rows dropped, {s['values_filled_nan']} values filled")
    width = max(len(k) for k in s["features"])
    lines.append(f"  {'feature':<{width}}  {'mean':>12} {'std':>12} {'min':>12} {'max':>12}")
    for k, v in s["features"].items():
        lines.append(f"  {k:<{width}}  {v['mean']:>12.5g} {v['std']:>12.5g} {v['min']:>12.5g} {v['max']:>12.5g}")
    return "\n".join(lines)
