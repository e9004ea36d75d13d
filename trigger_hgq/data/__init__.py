"""Datasets: cards, ROOT and public-format readers, the deterministic split and the standardization.

``load_dataset(card)`` is the entry point of the pipeline; the card schema is documented in datasets/README.md.
"""

from __future__ import annotations

from trigger_hgq.data.card import Card, ConstituentSpec, FlattenSpec, LabelSpec, SplitSpec, load_card, parse_card
from trigger_hgq.data.chunk import Chunk
from trigger_hgq.data.dataset import Dataset, Split, iter_chunks, load_dataset, read_rows, resolve_card
from trigger_hgq.data.inspection import inspect_file, summarize
from trigger_hgq.data.public import HLF_FEATURES, JET_CLASSES, ONE_HOT, openml_card, zenodo_card
from trigger_hgq.data.scaler import Standardizer
from trigger_hgq.data.split import split_indices

__all__ = [
    "Card", "ConstituentSpec", "FlattenSpec", "LabelSpec", "SplitSpec", "load_card", "parse_card", "Chunk",
    "Dataset", "Split", "iter_chunks", "load_dataset", "read_rows", "resolve_card", "inspect_file", "summarize",
    "HLF_FEATURES", "JET_CLASSES", "ONE_HOT", "openml_card", "zenodo_card", "Standardizer", "split_indices",
]
