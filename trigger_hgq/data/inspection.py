"""What is in a data file (trees, branches, types, entries), and what a card makes of it, computed while streaming."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from trigger_hgq.data.branches import (
    all_branches,
    branch_path,
    check_baskets,
    interpretation,
    is_readable_leaf,
    typename,
)
from trigger_hgq.data.card import SUFFIX_FORMATS, Card
from trigger_hgq.data.dataset import empty_selection, iter_chunks, resolve_card
from trigger_hgq.data.public import iter_table, open_h5, read_arff_header
from trigger_hgq.data.root import get_tree, list_trees, open_root
from trigger_hgq.data.split import SPLITS, split_counts


def inspect_file(path: str | Path) -> dict:
    """The contents of a ROOT, HDF5 or ARFF/CSV file: for ROOT every tree with its entries and every branch,
    sub-branches included (full path, C++ type, how uproot reads it or why it cannot, readable as an array)."""
    path = Path(path)
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None and path.is_file():
        with open(path, "rb") as f:
            fmt = "root" if f.read(4) == b"root" else None
    if fmt == "root" or fmt is None:
        return _inspect_root(path)
    if fmt == "hdf5":
        return _inspect_h5(path)
    return _inspect_table(path)


def _inspect_root(path: Path) -> dict:
    out: dict = {"file": str(path), "format": "root", "trees": {}}
    with open_root(path) as file:
        size = path.stat().st_size
        for name, cls in list_trees(file).items():
            if cls == "ROOT::RNTuple":
                out["trees"][name] = {"class": cls, "entries": None, "branches": []}
                continue
            tree = get_tree(file, name)
            branches = []
            for b in all_branches(tree):
                _, text = interpretation(b)
                branches.append({"name": branch_path(tree, b), "type": typename(b), "interpretation": text,
                                 "readable": is_readable_leaf(b)})
            check_baskets(tree, tree.keys(recursive=True), size)
            out["trees"][name] = {"class": cls, "entries": int(tree.num_entries), "branches": branches}
    return out


def _inspect_h5(path: Path) -> dict:
    out: dict = {"file": str(path), "format": "hdf5", "datasets": {}}
    with open_h5(path) as f:
        def visit(name, obj):
            if hasattr(obj, "shape"):
                out["datasets"][name] = {"shape": list(obj.shape), "dtype": str(obj.dtype)}
        f.visititems(visit)
    return out


def _inspect_table(path: Path) -> dict:
    attrs = None
    if path.suffix.lower() == ".arff" and path.is_file():
        with open(path, encoding="utf-8", errors="replace") as f:
            attrs = read_arff_header(f, path)
    rows, names, kinds = 0, [], {}
    for _, block_names, cols in iter_table(path, 100_000):
        names = block_names
        rows += len(next(iter(cols.values())))
        for n, c in cols.items():
            kinds[n] = "numeric" if c.dtype.kind == "f" and kinds.get(n, "numeric") == "numeric" else "text"
    columns = [{"name": n, "type": "{" + ",".join(a[1]) + "}" if attrs and isinstance(a[1], tuple) else kinds[n]}
               for n, a in zip(names, attrs or [(n, None) for n in names], strict=True)]
    return {"file": str(path), "format": "arff" if attrs else "csv", "rows": rows, "columns": columns}


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
    sizes = dict(zip(SPLITS, split_counts(n, (sp.train, sp.val, sp.test)), strict=True))
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
        out["constituents"] = {"shape": [n, *c_shape], "fields": list(card.constituents.fields),  # type: ignore
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
