"""Reading ROOT TTrees through a dataset card with uproot + awkward, in bounded steps.

Each step (``card.step_size`` entries, or a size such as ``"50 MB"``) is read with ``TTree.iterate``, the
expressions of the card are evaluated by uproot, an event collection is optionally flattened to one row per object
(event-level values broadcast), the cut applied, the constituents padded, and one :class:`Chunk` yielded; nothing
of a step is kept after it, so the memory a file needs does not grow with its size.
"""

from __future__ import annotations

import contextlib
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from trigger_hgq.data.branches import (
    all_branches,
    branch_path,
    check_baskets,
    check_readable,
    interpretation,
    is_readable_leaf,
    reason,
    typename,
)
from trigger_hgq.data.card import Card
from trigger_hgq.data.chunk import Chunk, make_chunk
from trigger_hgq.data.collection import find_counter
from trigger_hgq.data.constituents import card_array, pad_jagged
from trigger_hgq.data.expressions import LANGUAGE, ReductionError, check_functions, free_symbols, quote_paths
from trigger_hgq.data.split import entry_keys, value_keys
from trigger_hgq.errors import TriggerHGQError

_LANGUAGE = uproot.language.python.PythonLanguage()
# What reading a damaged file raises (short reads, bad compressed data, bad object headers).
_CORRUPT = (OSError, EOFError, zlib.error, struct.error, uproot.deserialization.DeserializationError)
TREE_CLASSES = ("TTree", "TNtuple", "TNtupleD")


@contextlib.contextmanager
def open_root(path: Path) -> Iterator[uproot.ReadOnlyDirectory]:
    """Open a ROOT file; a missing, non-ROOT, truncated or corrupt file is one clear error naming it."""
    path = Path(path)
    if not path.is_file():
        raise TriggerHGQError(f"file not found: {path}")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except PermissionError:
        raise TriggerHGQError(f"{path}: permission denied, cannot read this file") from None
    if magic != b"root":
        raise TriggerHGQError(f"{path}: not a ROOT file (it starts with {magic!r}, not b'root')")
    try:
        file = uproot.open(path, array_cache=None)
    except Exception as err:
        raise TriggerHGQError(f"{path}: cannot open this ROOT file, truncated or corrupt? ({reason(err)})") from None
    with file:
        size = path.stat().st_size
        if int(file.file.fEND) > size:
            raise TriggerHGQError(f"{path}: truncated file: its header says it ends at byte {int(file.file.fEND)}, "
                                  f"but it has {size} bytes")
        yield file


def list_trees(file: uproot.ReadOnlyDirectory) -> dict[str, str]:
    """Object name -> class name of every tree in the file (all directories)."""
    try:
        names = file.classnames(recursive=True, cycle=False)
    except Exception as err:
        raise TriggerHGQError(f"{file.file_path}: cannot list its contents, truncated or corrupt? "
                              f"({reason(err)})") from None
    return {k: v for k, v in names.items() if v in TREE_CLASSES or v == "ROOT::RNTuple"}


def get_tree(file: uproot.ReadOnlyDirectory, name: str) -> uproot.TTree:
    """The TTree ``name``; its absence (with the trees that exist) or another object type is an error."""
    path = file.file_path
    trees = list_trees(file)
    if name not in trees:
        have = ", ".join(f"'{t}'" for t in trees) or "none"
        raise TriggerHGQError(f"{path}: no tree '{name}' (trees in the file: {have}; key 'tree' of the card)")
    try:
        obj = file[name]
    except Exception as err:
        raise TriggerHGQError(f"{path}: cannot read tree '{name}', truncated or corrupt? ({reason(err)})") from None
    if not isinstance(obj, uproot.TTree):
        raise TriggerHGQError(f"{path}: '{name}' is a {trees[name]}, not a TTree (RNTuple is not supported)")
    return obj


def _used_branches(tree: uproot.TTree, keys: set[str], card: Card, expr: str, what: str) -> set[str]:
    """Branches an expression reads (through aliases); a missing name is an error naming branch, tree and file, an
    unknown function one naming the function."""
    out: set[str] = set()
    todo, seen = [expr], set()
    while todo:
        e = todo.pop()
        if e in seen:
            continue
        seen.add(e)
        quoted = quote_paths(e, keys)
        check_functions(quoted, keys, f"{card.where}: {what}" if e == expr else f"{card.where}: alias of {what}", e)
        try:
            symbols = free_symbols(quoted, keys, card.aliases, tree.file.file_path, tree.object_path)
        except uproot.KeyInFileError as err:
            raise TriggerHGQError(
                f"{tree.file.file_path}: tree '{tree.name}' has no branch '{err.key}' (needed by {what}: '{expr}' "
                f"in {card.where})") from None
        for s in symbols:
            if s in card.aliases:
                todo.append(card.aliases[s])
            else:
                out.add(s)
    for b in out:
        check_readable(tree, b, f"{what}: '{expr}'")
    return out


class _Step:
    """The arrays of one step and how to turn each expression into one value per row."""

    def __init__(self, arrays: ak.Array, card: Card, counter: str | None, path: Path, tree: str,
                 quoted: dict[str, str]):
        self.arrays, self.card, self.path, self.tree, self.quoted = arrays, card, path, tree, quoted
        self.counts: np.ndarray | None = None
        if counter is not None:
            c = arrays[counter]
            self.counts = np.asarray(ak.num(c, axis=1) if c.ndim > 1 else c, np.int64)

    def __getitem__(self, expr: str) -> ak.Array:
        return self.arrays[self.quoted.get(expr, expr)]

    def _type_error(self, what: str, expr: str, arr: ak.Array, why: str) -> TriggerHGQError:
        desc = what if f"'{expr}'" in what else f"{what} ('{expr}')"
        return TriggerHGQError(f"{self.path}: tree '{self.tree}': {desc} has type {arr.type.content}: {why}")

    def rows(self, expr: str, what: str) -> np.ndarray:
        """One number per row (after flattening) for ``expr``."""
        arr = self[expr]
        if self.counts is not None and arr.ndim == 2 and _is_numeric(arr):
            if not np.array_equal(np.asarray(ak.num(arr, axis=1)), self.counts):
                raise TriggerHGQError(
                    f"{self.path}: tree '{self.tree}': {what} ('{expr}') does not have one value per "
                    f"{self.card.flatten.collection} object (key 'flatten')")  # type: ignore[union-attr]
            arr = ak.flatten(arr, axis=1)
        elif self.counts is not None and arr.ndim == 1 and _is_numeric(arr):
            return np.repeat(ak.to_numpy(arr), self.counts)
        if arr.ndim != 1 or not _is_numeric(arr):
            hint = " (set 'flatten' to make one row per object)" if arr.ndim == 2 and self.counts is None else ""
            raise self._type_error(what, expr, arr, f"one number per row is needed{hint}")
        return ak.to_numpy(arr)

    def event_values(self, expr: str, what: str) -> np.ndarray:
        arr = self[expr]
        if arr.ndim != 1 or not _is_numeric(arr):
            raise self._type_error(what, expr, arr, "one number per entry is needed")
        return ak.to_numpy(arr)

    def jagged(self, expr: str, what: str) -> ak.Array:
        arr = self[expr]
        if arr.ndim != 2 or not _is_numeric(arr):
            raise self._type_error(what, expr, arr, "a list of numbers per row is needed")
        return arr


def _is_numeric(arr: ak.Array) -> bool:
    layout = arr.layout
    while hasattr(layout, "content") and not isinstance(layout, ak.contents.NumpyArray):
        if layout.parameter("__array__") in ("string", "bytestring"):
            return False
        layout = layout.content
    return isinstance(layout, ak.contents.NumpyArray) and layout.dtype.kind in "biuf" and layout.inner_shape == ()


def iter_root_chunks(card: Card, path: Path, file_id: str) -> Iterator[Chunk]:
    """Stream the rows of one ROOT file through ``card``, one :class:`Chunk` per step."""
    with open_root(path) as file:
        tree = get_tree(file, card.tree)
        named = [(f"feature '{n}'", e) for n, e in card.features.items()]
        named += [(card.label.describe(), e) for e in card.label.expressions()]
        if card.cut:
            named.append(("cut", card.cut))
        named += [(f"split.key '{e}'", e) for e in card.split.key or ()]
        if card.constituents:
            named += [(f"constituent field '{n}'", e) for n, e in card.constituents.fields.items()]
            named += [(f"constituents.jet.{k}", e) for k, e in (card.constituents.jet or {}).items()]
        keys = set(tree.keys(recursive=True, full_paths=False)) | set(tree.keys(recursive=True))
        used: set[str] = set()
        for what, expr in named:
            used |= _used_branches(tree, keys, card, expr, what)
        counter = find_counter(tree, card) if card.flatten else None
        branches = sorted(used | ({counter} if counter else set()))
        check_baskets(tree, branches, path.stat().st_size)
        expressions = list(dict.fromkeys([e for _, e in named] + ([counter] if counter else [])))
        quoted = {e: quote_paths(e, keys) for e in expressions}
        aliases = {k: quote_paths(v, keys) for k, v in card.aliases.items()}
        steps = tree.iterate(list(dict.fromkeys(quoted.values())), aliases=aliases or None, language=LANGUAGE,
                             step_size=card.step_size, library="ak", report=True)
        start = 0
        while True:
            try:
                arrays, report = next(steps)
            except StopIteration:
                return
            except Exception as err:
                raise _read_error(tree, card, path, branches, start, err) from None
            step = _Step(arrays, card, counter, path, card.tree, quoted)
            start = report.tree_entry_stop
            chunk = _step_chunk(card, step, report.tree_entry_start, file_id)
            del arrays, report, step  # not alive while the next step is read
            yield chunk
            del chunk


def _read_error(tree: uproot.TTree, card: Card, path: Path, branches: list[str], start: int,
                err: Exception) -> TriggerHGQError:
    """The clearest error for a failed step: a misused reduction, else the first branch that fails when read alone."""
    where = f"{path}: tree '{card.tree}'"
    if isinstance(err, ReductionError):
        return TriggerHGQError(f"{where}: {err} (in an expression of {card.where})")
    if isinstance(card.step_size, int):
        stop = min(tree.num_entries, start + card.step_size)
    else:
        try:
            stop = min(tree.num_entries, start + tree.num_entries_for(card.step_size, branches, entry_start=start))
        except Exception:
            stop = tree.num_entries
    for name in branches:
        try:
            tree[name].array(entry_start=start, entry_stop=max(stop, start + 1), library="ak")
        except Exception as branch_err:
            kind = "truncated or corrupt data" if isinstance(branch_err, _CORRUPT) else "cannot be read by uproot"
            return TriggerHGQError(f"{where}: branch '{name}' (type {typename(tree[name])}): {kind} in entries "
                                   f"{start}-{stop} ({reason(branch_err)})")
    if isinstance(err, _CORRUPT):
        return TriggerHGQError(f"{where}: cannot read it, truncated or corrupt file ({reason(err)})")
    return TriggerHGQError(f"{where}: cannot evaluate the expressions of {card.where} in entries {start}-{stop}: "
                           f"{reason(err)}")


def _step_chunk(card: Card, step: _Step, start: int, file_id: str) -> Chunk:
    n_events = len(step.arrays)
    entries = start + np.arange(n_events, dtype=np.int64)
    objects = None
    if step.counts is not None:
        offsets = np.concatenate([[0], np.cumsum(step.counts)])
        entries = np.repeat(entries, step.counts)
        objects = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], step.counts)
    if card.split.key:
        cols = [step.event_values(e, f"split.key '{e}'") for e in card.split.key]
        cols = [np.repeat(c, step.counts) for c in cols] if step.counts is not None else cols
        keys = value_keys(cols, objects)
    else:
        keys = entry_keys(file_id, entries, objects)
    select = np.ones(len(entries), bool)
    if card.cut:
        select = step.rows(card.cut, "cut") != 0
    sel = np.flatnonzero(select)
    features = [step.rows(e, f"feature '{n}'")[sel] for n, e in card.features.items()]
    labels = [step.rows(e, card.label.describe())[sel] for e in card.label.expressions()]
    constituents = mask = None
    if card.constituents:
        spec = card.constituents
        fields = [step.jagged(e, f"constituent field '{n}'")[sel] for n, e in spec.fields.items()]
        counts0 = ak.num(fields[0], axis=1)
        for (name, _), f in zip(spec.fields.items(), fields, strict=True):
            if not ak.all(ak.num(f, axis=1) == counts0):
                raise TriggerHGQError(f"{step.path}: tree '{step.tree}': constituent field '{name}' has another "
                                      f"number of particles per row than '{next(iter(spec.fields))}'")
        padded, mask = pad_jagged(fields, spec.max_particles, spec.sort_index, spec.pad_dtype)
        jet = {k: step.rows(e, f"constituents.jet.{k}")[sel] for k, e in (spec.jet or {}).items()}
        constituents = card_array(spec, padded, mask, jet)
    entries, objects = entries[sel], (objects[sel] if objects is not None else None)

    def locate(i: int) -> str:
        obj = f", {card.flatten.collection}[{objects[i]}]" if objects is not None else ""  # type: ignore
        return f"{step.path}, tree '{step.tree}', entry {entries[i]}{obj}"

    return make_chunk(card, features, labels, keys[sel], locate, constituents, mask)


def inspect_root(path: Path) -> dict:
    """Every tree of a ROOT file with its entries and every branch (path, C++ type, interpretation, readable)."""
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
