"""The public hls4ml LHC jet dataset in the formats users keep on disk, read in bounded steps.

* OpenML 42468 (``hls4ml_lhc_jets_hlf``): an ARFF file (``@attribute`` lines, then ``@data`` rows) or the CSV export
  (a header row), 16 high-level features and the nominal ``class`` (g, q, t, w, z).
* Zenodo (``jetImage_*_150p*.h5``): HDF5 with ``jets`` (one row per jet; column names in ``jetFeatureNames``,
  including the one-hot ``j_g j_q j_w j_z j_t``) and ``jetConstituentList`` (``[n, 150, 16]``, zero-padded; column
  names are the first 16 of ``particleFeatureNames``). A compound (structured) dataset, whose fields name the
  columns, is read the same way.

Cards with ``format: openml`` or ``format: hdf5`` name columns directly in ``features``, ``label`` and
``constituents.branches`` (no expressions, no cut, no flattening).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from trigger_hgq.data.card import Card, ConstituentSpec, LabelSpec, SplitSpec, memory_bytes
from trigger_hgq.data.chunk import Chunk, make_chunk
from trigger_hgq.data.constituents import card_array, sort_padded
from trigger_hgq.data.split import entry_keys, value_keys
from trigger_hgq.errors import TriggerHGQError

HLF_FEATURES = (
    "j_zlogz", "j_c1_b0_mmdt", "j_c1_b1_mmdt", "j_c1_b2_mmdt", "j_c2_b1_mmdt", "j_c2_b2_mmdt", "j_d2_b1_mmdt",
    "j_d2_b2_mmdt", "j_d2_a1_b1_mmdt", "j_d2_a1_b2_mmdt", "j_m2_b1_mmdt", "j_m2_b2_mmdt", "j_n2_b1_mmdt",
    "j_n2_b2_mmdt", "j_mass_mmdt", "j_multiplicity",
)
JET_CLASSES = ("g", "q", "w", "z", "t")
ONE_HOT = ("j_g", "j_q", "j_w", "j_z", "j_t")


# ---------------------------------------------------------------- ARFF / CSV


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _split_fields(line: str, quote: str) -> list[str]:
    return [_unquote(v) for v in next(csv.reader([line], quotechar=quote, skipinitialspace=True))]


def read_arff_header(f: io.TextIOBase, path: Path) -> list[tuple[str, str | tuple[str, ...]]]:
    """The attributes of an ARFF file, ``(name, "numeric" | "string" | nominal values)``; leaves ``f`` at the data."""
    attrs: list[tuple[str, str | tuple[str, ...]]] = []
    for number, raw in enumerate(f, start=1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        head = line.split(None, 1)[0].lower()
        if head == "@relation":
            continue
        if head == "@attribute":
            rest = line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""
            if rest[:1] in "'\"":
                end = rest.find(rest[0], 1)
                name, kind = rest[1:end], rest[end + 1:].strip()
            else:
                parts = rest.split(None, 1)
                name, kind = parts[0], (parts[1] if len(parts) > 1 else "")
            if kind.startswith("{"):
                attrs.append((name, tuple(_split_fields(kind.strip("{} "), "'"))))
            elif kind.lower() in ("numeric", "real", "integer"):
                attrs.append((name, "numeric"))
            elif kind.lower() == "string":
                attrs.append((name, "string"))
            else:
                raise TriggerHGQError(f"{path}: line {number}: attribute '{name}' has unsupported type '{kind}'")
            continue
        if head == "@data":
            if not attrs:
                raise TriggerHGQError(f"{path}: ARFF file without @attribute lines")
            return attrs
        raise TriggerHGQError(f"{path}: line {number}: not an ARFF header line: {line[:80]!r}")
    raise TriggerHGQError(f"{path}: not an ARFF file (no @data section)")


def iter_table(path: Path, step_rows: int) -> Iterator[tuple[int, list[str], dict[str, np.ndarray]]]:
    """Stream an ARFF or CSV table: ``(first row number, column names, {name: values})`` per block of rows.

    Numeric columns are float64 (``?`` and empty values become NaN); other columns stay strings.
    """
    if not path.is_file():
        raise TriggerHGQError(f"file not found: {path}")
    try:
        f = open(path, encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as err:
        raise TriggerHGQError(f"{path}: cannot open ({err})") from None
    with f:
        try:
            if path.suffix.lower() == ".arff":
                attrs = read_arff_header(f, path)
                names, quote = [a[0] for a in attrs], "'"
            else:
                header = f.readline()
                names, quote = _split_fields(header, '"'), '"'
                if not header.strip() or len(names) < 2:
                    raise TriggerHGQError(f"{path}: not a CSV table with a header row of column names")
            start, block, number = 0, [], 0
            for number, line in enumerate(f, start=1):  # noqa: B007
                if not line.strip() or line.lstrip().startswith("%"):
                    continue
                if line.lstrip().startswith("{"):
                    raise TriggerHGQError(f"{path}: sparse ARFF rows are not supported (data line {number})")
                values = _split_fields(line, quote)
                if len(values) != len(names):
                    raise TriggerHGQError(f"{path}: data line {number} has {len(values)} values, expected "
                                          f"{len(names)} (truncated or corrupt file?)")
                block.append(values)
                if len(block) == step_rows:
                    yield start, names, _columns(block, names)
                    start, block = start + len(block), []
            if block or start == 0:  # an empty table still yields its (empty) columns once
                yield start, names, _columns(block, names)
        except UnicodeDecodeError:
            raise TriggerHGQError(f"{path}: not a text (ARFF/CSV) file") from None


def _columns(block: list[list[str]], names: list[str]) -> dict[str, np.ndarray]:
    if not block:
        return {name: np.empty(0, np.float64) for name in names}
    table = np.array(block, dtype=str)
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        col = table[:, j]
        missing = (col == "?") | (col == "")
        try:
            out[name] = np.where(missing, "nan", col).astype(np.float64)
        except ValueError:
            out[name] = col
    return out


# ---------------------------------------------------------------- HDF5


def _decode(names) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in np.asarray(names).ravel()]


def open_h5(path: Path):
    """``path`` opened read-only with h5py; one TriggerHGQError naming it when missing or not HDF5."""
    import h5py

    if not path.is_file():
        raise TriggerHGQError(f"file not found: {path}")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise TriggerHGQError(f"{path}: not a readable HDF5 file ({err})") from None


def h5_columns(f, path: Path, dataset: str) -> list[str]:
    """Column names of a 2-D dataset (``jetFeatureNames`` for ``jets``) or the fields of a compound dataset."""
    if dataset not in f:
        have = ", ".join(k for k in f.keys()) or "none"
        raise TriggerHGQError(f"{path}: no dataset '{dataset}' (datasets: {have}; key 'tree' of the card)")
    ds = f[dataset]
    if ds.dtype.names:
        return list(ds.dtype.names)
    name_ds = "jetFeatureNames" if dataset == "jets" else f"{dataset}Names"
    if ds.ndim != 2 or name_ds not in f:
        raise TriggerHGQError(f"{path}: dataset '{dataset}' needs compound fields or a '{name_ds}' dataset of names")
    names = _decode(f[name_ds][()])
    if len(names) != ds.shape[1]:
        raise TriggerHGQError(f"{path}: '{name_ds}' has {len(names)} names for {ds.shape[1]} columns of '{dataset}'")
    return names


def _pick(columns: list[str], wanted: str, what: str, path: Path, card: Card) -> int:
    if wanted not in columns:
        raise TriggerHGQError(f"{path}: no column '{wanted}' (needed by {what} in {card.where}; columns: "
                              f"{', '.join(columns[:60])}{' ...' if len(columns) > 60 else ''})")
    return columns.index(wanted)


def _step_rows(card: Card, row_bytes: int) -> int:
    if isinstance(card.step_size, int):
        return card.step_size
    return max(1, memory_bytes(card.step_size) // max(row_bytes, 1))  # type: ignore[operator]


def _check_plain(card: Card, fmt: str) -> None:
    if card.cut or card.flatten:
        raise TriggerHGQError(f"{card.where}: keys 'cut' and 'flatten' are for ROOT files, not format {fmt}")


def iter_table_chunks(card: Card, path: Path, file_id: str) -> Iterator[Chunk]:
    """Stream an OpenML ARFF/CSV file through ``card``."""
    _check_plain(card, "openml")
    if card.constituents:
        raise TriggerHGQError(f"{card.where}: key 'constituents': {path.name} (ARFF/CSV) holds no particle lists")
    wanted = [(f"feature '{n}'", e) for n, e in card.features.items()]
    wanted += [(card.label.describe(), e) for e in card.label.expressions()]
    wanted += [(f"split.key '{e}'", e) for e in card.split.key or ()]
    for start, names, cols in iter_table(path, _step_rows(card, 8 * 20)):
        for what, col in wanted:
            _pick(names, col, what, path, card)
        n = len(next(iter(cols.values())))
        for name, col in card.features.items():
            if cols[col].dtype.kind != "f":
                raise TriggerHGQError(f"{path}: feature '{name}' (column '{col}') is not numeric")
        rows = start + np.arange(n, dtype=np.int64)
        keys = value_keys([cols[c] for c in card.split.key]) if card.split.key else entry_keys(file_id, rows)

        def locate(i: int, rows: np.ndarray = rows) -> str:
            return f"{path}, data row {rows[i]}"

        yield make_chunk(card, [cols[c] for c in card.features.values()],
                         [cols[c] for c in card.label.expressions()], keys, locate)


def iter_h5_chunks(card: Card, path: Path, file_id: str) -> Iterator[Chunk]:
    """Stream a Zenodo-style HDF5 file through ``card`` (constituents from ``jetConstituentList``)."""
    _check_plain(card, "hdf5")
    with open_h5(path) as f:
        columns = h5_columns(f, path, card.tree)
        ds = f[card.tree]
        structured = bool(ds.dtype.names)
        f_idx = [_pick(columns, c, f"feature '{n}'", path, card) for n, c in card.features.items()]
        l_idx = [_pick(columns, c, card.label.describe(), path, card) for c in card.label.expressions()]
        k_idx = [_pick(columns, c, f"split.key '{c}'", path, card) for c in card.split.key or ()]
        c_ds = c_idx = None
        j_idx: dict[str, int] = {}
        row_bytes = 4 * len(columns)
        if card.constituents:
            if "jetConstituentList" not in f:
                raise TriggerHGQError(f"{path}: no dataset 'jetConstituentList' (key 'constituents' of {card.where})")
            c_ds = f["jetConstituentList"]
            p_names = _decode(f["particleFeatureNames"][()])[: c_ds.shape[2]] if "particleFeatureNames" in f else []
            c_idx = [_pick(p_names, c, f"constituent field '{n}'", path, card)
                     for n, c in card.constituents.fields.items()]
            j_idx = {k: _pick(columns, c, f"constituents.jet.{k}", path, card)
                     for k, c in (card.constituents.jet or {}).items()}
            row_bytes += 4 * c_ds.shape[1] * c_ds.shape[2]
            if c_ds.shape[0] != ds.shape[0]:
                raise TriggerHGQError(f"{path}: jetConstituentList has {c_ds.shape[0]} rows, '{card.tree}' "
                                      f"{ds.shape[0]}")
        step = _step_rows(card, row_bytes)
        for start in range(0, ds.shape[0], step):
            try:
                block = ds[start: start + step]
                raw_c = c_ds[start: start + step] if c_ds is not None else None
            except (OSError, ValueError) as err:
                raise TriggerHGQError(
                    f"{path}: cannot read rows from {start} (truncated or corrupt file?): {err}") from None

            def col(i: int, block: np.ndarray = block) -> np.ndarray:
                return block[columns[i]] if structured else block[:, i]

            constituents = mask = None
            if raw_c is not None:
                spec = card.constituents
                present = np.any(raw_c != 0, axis=2)
                padded, mask = sort_padded(raw_c[:, :, c_idx], present, spec.max_particles,  # type: ignore
                                           spec.sort_index, spec.pad_dtype)  # type: ignore[union-attr]
                constituents = card_array(spec, padded, mask, {k: col(i) for k, i in j_idx.items()})  # type: ignore
            rows = start + np.arange(len(block), dtype=np.int64)

            def locate(i: int, rows: np.ndarray = rows) -> str:
                return f"{path}, '{card.tree}' row {rows[i]}"

            keys = value_keys([col(i) for i in k_idx]) if k_idx else entry_keys(file_id, rows)
            yield make_chunk(card, [col(i) for i in f_idx], [col(i) for i in l_idx], keys, locate, constituents,
                             mask)


# ---------------------------------------------------------------- default cards


def inspect_h5(path: Path) -> dict:
    """Every dataset of an HDF5 file with its shape and dtype."""
    out: dict = {"file": str(path), "format": "hdf5", "datasets": {}}
    with open_h5(path) as f:
        def visit(name, obj):
            if hasattr(obj, "shape"):
                out["datasets"][name] = {"shape": list(obj.shape), "dtype": str(obj.dtype)}
        f.visititems(visit)
    return out


def inspect_table(path: Path) -> dict:
    """The rows and columns (name, type: numeric, text or the ARFF nominal values) of an ARFF or CSV file."""
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


def openml_card(path: str | Path, **changes) -> Card:
    """A card for the OpenML ARFF/CSV file: the 16 features, ``class`` mapped to g, q, w, z, t."""
    path = Path(path).resolve()
    card = Card(name=path.stem, files=(str(path),), features={f: f for f in HLF_FEATURES},
                label=LabelSpec("branch", branch="class"), classes=JET_CLASSES, tree="data", format="openml",
                split=SplitSpec(), base_dir=path.parent)
    return replace(card, **changes)


def zenodo_card(path: str | Path, max_particles: int | None = None, **changes) -> Card:
    """A card for Zenodo HDF5 files (``path`` may be a glob): the 16 features, the one-hot labels, and with
    ``max_particles`` the constituents (pt, etarel, phirel) sorted by pT."""
    path = Path(path)
    files = (str(path.resolve()) if path.exists() else str(path.absolute()),)
    constituents = None
    if max_particles:
        constituents = ConstituentSpec({"pt": "j1_pt", "etarel": "j1_etarel", "phirel": "j1_phirel"},
                                       max_particles, "pt")
    card = Card(name=path.stem, files=files, features={f: f for f in HLF_FEATURES},
                label=LabelSpec("one_hot", one_hot=ONE_HOT), classes=JET_CLASSES, tree="jets", format="hdf5",
                constituents=constituents, base_dir=path.absolute().parent)
    return replace(card, **changes)
