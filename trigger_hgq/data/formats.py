"""The data-file formats a card reads, one entry each: its file suffixes, its reader, its inspector and, for a
public format, the card a bare file of it is read through."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from trigger_hgq.data.card import Card
from trigger_hgq.data.chunk import Chunk
from trigger_hgq.data.public import (
    inspect_h5,
    inspect_table,
    iter_h5_chunks,
    iter_table_chunks,
    openml_card,
    zenodo_card,
)
from trigger_hgq.data.root import inspect_root, iter_root_chunks
from trigger_hgq.errors import TriggerHGQError


@dataclass(frozen=True)
class FileFormat:
    name: str
    """The value of a card's ``format`` key (one of ``card.FORMATS``)."""
    title: str
    suffixes: tuple[str, ...]
    """File suffixes (lower case) that ``format: auto`` reads as this format."""
    read: Callable[[Card, Path, str], Iterator[Chunk]]
    """``read(card, path, file_id)``: the rows of one file through ``card``, in bounded chunks."""
    inspect: Callable[[Path], dict]
    """What is in a file (trees and branches, datasets, columns)."""
    bare_card: Callable[[Path], Card] | None
    """The card a bare file of this format is read through; None: it needs a card."""


FILE_FORMATS: dict[str, FileFormat] = {f.name: f for f in (
    FileFormat("root", "ROOT", (".root",), iter_root_chunks, inspect_root, None),
    FileFormat("openml", "ARFF/CSV", (".arff", ".csv"), iter_table_chunks, inspect_table, openml_card),
    FileFormat("hdf5", "HDF5", (".h5", ".hdf5"), iter_h5_chunks, inspect_h5, zenodo_card),
)}


def format_of(path: str | Path) -> FileFormat | None:
    """The format a file suffix names, or None."""
    suffix = Path(path).suffix.lower()
    return next((f for f in FILE_FORMATS.values() if suffix in f.suffixes), None)


def card_format(card: Card, path: Path) -> FileFormat:
    """The format ``card`` reads ``path`` as: its ``format`` key, or the file suffix's when ``auto``."""
    if card.format != "auto":
        return FILE_FORMATS[card.format]
    fmt = format_of(path)
    if fmt is None:
        raise TriggerHGQError(
            f"{card.where}: cannot tell the format of {path} from its suffix; set key 'format' to one of "
            f"{', '.join(FILE_FORMATS)}")
    return fmt
