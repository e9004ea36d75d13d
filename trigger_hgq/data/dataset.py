"""``load_dataset``: a card (or a public-format file) -> train/val/test arrays, class names and the scaler."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trigger_hgq.data.cache import cache_file, load_cached, save_cached
from trigger_hgq.data.card import Card, as_card
from trigger_hgq.data.chunk import Chunk, concat_chunks
from trigger_hgq.data.formats import card_format, format_of
from trigger_hgq.data.scaler import Standardizer
from trigger_hgq.data.split import SPLITS, file_identities, split_indices
from trigger_hgq.errors import TriggerHGQError


def resolve_card(source: Card | str | Path | Mapping) -> Card:
    """A card from a card, a mapping, a YAML path, or a public-format file (ARFF/CSV, Zenodo HDF5)."""
    fmt = format_of(source) if isinstance(source, str | Path) else None
    if fmt is not None:
        if fmt.bare_card is None:
            raise TriggerHGQError(f"{source}: a {fmt.title} file is read through a dataset card (features, "
                                  "label...); see datasets/README.md")
        return fmt.bare_card(source)
    return as_card(source)


def iter_chunks(card: Card | str | Path | Mapping, files: Sequence[Path] | None = None) -> Iterator[Chunk]:
    """Stream the rows of every input file of ``card`` in bounded chunks (``card.step_size``)."""
    card = resolve_card(card)
    paths = [Path(p).resolve() for p in files] if files is not None else card.resolve_files()
    ids = file_identities(paths)
    for path in paths:
        yield from card_format(card, path).read(card, path, ids[path])


def read_rows(card: Card, files: Sequence[Path] | None = None, use_cache: bool = True) -> tuple[Chunk, bool]:
    """All rows of ``card`` (before the split) and whether they came from the cache."""
    paths = [Path(p).resolve() for p in files] if files is not None else card.resolve_files()
    cached_at = cache_file(card, paths) if use_cache else None
    if cached_at is not None and (rows := load_cached(cached_at)) is not None:
        return rows, True
    chunks = [c for c in iter_chunks(card, paths) if len(c)]
    if not chunks:
        raise empty_selection(card, paths)
    rows = concat_chunks(chunks) if len(chunks) > 1 else chunks[0]
    if cached_at is not None:
        save_cached(cached_at, rows)
    return rows, False


def empty_selection(card: Card, paths: Sequence[Path]) -> TriggerHGQError:
    """The error for a card that selects no row."""
    cut = f" with cut '{card.cut}'" if card.cut else ""
    return TriggerHGQError(f"{card.where}: empty selection, no rows{cut} in {', '.join(str(p) for p in paths)}")


@dataclass
class Split:
    """One split: features ``x [n, F]`` float32, class indices ``y [n]`` int32, optional constituents and mask."""

    x: np.ndarray
    y: np.ndarray
    constituents: np.ndarray | None = None
    mask: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    """What the pipeline trains on. ``x`` arrays are standardized when ``scaler`` is set (raw otherwise)."""

    name: str
    train: Split
    val: Split
    test: Split
    select: Split
    feature_names: list[str]
    class_names: list[str]
    scaler: Standardizer | None
    constituent_fields: list[str] = field(default_factory=list)
    constituent_scaler: Standardizer | None = None  # of the real particles' features (padding stays 0)
    info: dict = field(default_factory=dict)

    x_train = property(lambda self: self.train.x)
    y_train = property(lambda self: self.train.y)
    x_val = property(lambda self: self.val.x)
    y_val = property(lambda self: self.val.y)
    x_test = property(lambda self: self.test.x)
    y_test = property(lambda self: self.test.y)
    x_select = property(lambda self: self.select.x)
    y_select = property(lambda self: self.select.y)

    def split(self, name: str) -> Split:
        """One of :data:`~trigger_hgq.data.split.SPLITS` (``select`` may have no rows)."""
        return {"train": self.train, "val": self.val, "select": self.select, "test": self.test}[name]

    def class_counts(self) -> dict[str, list[int]]:
        """Rows per class in each split."""
        k = len(self.class_names)
        return {s: np.bincount(self.split(s).y, minlength=k).tolist() for s in SPLITS}


def load_dataset(source: Card | str | Path | Mapping, *, files: Sequence[str | Path] | None = None,
                 standardize: bool = True, use_cache: bool = True) -> Dataset:
    """Read a dataset through its card and split it deterministically.

    ``source``: a :class:`Card`, a YAML card path, a card mapping, or a public-format file (``.arff``/``.csv`` from
    OpenML, ``.h5`` from Zenodo). ``files`` replaces the card's files. The split (``card.split``) depends on the
    rows and the seed only, not on the order of the files. With ``standardize`` the scaler is fitted on the training
    split and applied to every split (save it with ``dataset.scaler.save(path)``); constituents get their own,
    fitted on the real particles of the training split (``dataset.constituent_scaler``; padded slots stay 0).
    """
    try:
        card = resolve_card(source)
        if files is not None:
            card = card.with_files([Path(f) for f in files])
        paths = card.resolve_files()
        rows, from_cache = read_rows(card, paths, use_cache)
    except PermissionError as err:  # an unreadable card, data file or cache entry
        raise TriggerHGQError(f"{err.filename or source}: permission denied ({err.strerror})") from None
    sp = card.split
    parts = split_indices(rows.keys, sp.fractions, sp.seed, where=card.where)
    scaler = Standardizer.fit(rows.features[parts[0]], card.feature_names) if standardize else None
    fields = card.constituents.output_names if card.constituents else []
    particle_scaler = None
    if standardize and rows.constituents is not None:
        particle_scaler = Standardizer.fit_particles(rows.constituents[parts[0]], rows.mask[parts[0]], fields)
    splits = []
    for index in parts:
        x = rows.features[index]
        particles = mask = None
        if rows.constituents is not None:
            particles, mask = rows.constituents[index], rows.mask[index]
            if particle_scaler is not None:
                particles = particle_scaler.transform_particles(particles, mask)
        splits.append(Split(scaler.transform(x) if scaler else x, rows.labels[index], particles, mask))
    info = {"files": [str(p) for p in paths], "rows": len(rows), "rows_dropped_nan": rows.n_dropped,
            "values_filled_nan": rows.n_filled, "from_cache": from_cache,
            "split": {**dict(zip(SPLITS, sp.fractions, strict=True)), "seed": sp.seed,
                      "key": list(sp.key) if sp.key else ["file", "entry"] + (["object"] if card.flatten else [])}}
    return Dataset(card.name, **dict(zip(SPLITS, splits, strict=True)), feature_names=card.feature_names,
                   class_names=list(card.classes),
                   scaler=scaler, constituent_fields=list(fields), constituent_scaler=particle_scaler, info=info)
