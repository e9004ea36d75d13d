"""The counter of an event collection (``flatten``): how many objects each entry holds.

Layouts found in practice: NanoAOD (``Jet_pt`` counted by ``nJet``), Delphes (``Jet.PT`` counted by ``Jet_size``),
split TClonesArray objects (``AK4CHS.pt`` counted by the collection branch ``AK4CHS`` itself) and variable-length
arrays of a split object (``evt/SliceF64`` counted by ``evt/N``). The card's ``flatten.counter`` names the counter;
unset, it is ``n<collection>``, ``<collection>_size``, ``<collection>`` (a TClonesArray), else the first jagged
branch whose name starts with the member prefix (``flatten.members``; by default ``<collection>_`` or
``<collection>.``), in that order.
"""

from __future__ import annotations

import numpy as np
import uproot

from trigger_hgq.data.branches import all_branches, check_readable, interpretation, typename
from trigger_hgq.data.card import Card, FlattenSpec
from trigger_hgq.errors import TriggerHGQError


def _is_count(tree: uproot.TTree, name: str) -> bool:
    interp, _ = interpretation(tree[name])
    if isinstance(interp, uproot.AsJagged):
        return True
    dtype = getattr(interp, "to_dtype", None)
    return isinstance(dtype, np.dtype) and dtype.kind in "iu" and dtype.shape == ()


def _names(tree: uproot.TTree) -> dict[str, uproot.TBranch]:
    """Full paths and (where unambiguous) short names -> branch."""
    out: dict[str, uproot.TBranch] = {}
    for b in all_branches(tree):
        out.setdefault(b.name, b)
    for path in tree.keys(recursive=True):
        out[path] = tree[path]
    return out


def find_counter(tree: uproot.TTree, card: Card) -> str:
    """The branch counting the objects of ``card.flatten`` per entry (an integer, or a jagged member)."""
    spec: FlattenSpec = card.flatten  # type: ignore[assignment]
    names = _names(tree)
    where = f"{tree.file.file_path}: tree '{tree.name}'"
    if spec.counter is not None:
        if spec.counter not in names:
            raise TriggerHGQError(f"{where} has no branch '{spec.counter}' (key 'flatten.counter' of {card.where})")
        check_readable(tree, spec.counter, "key 'flatten.counter'")
        if not _is_count(tree, spec.counter):
            raise TriggerHGQError(
                f"{where}: branch '{spec.counter}' (type {typename(tree[spec.counter])}) cannot count objects: an "
                f"integer per entry or a list per entry is needed (key 'flatten.counter' of {card.where})")
        return spec.counter
    c = spec.collection
    for name in (f"n{c}", f"{c}_size", c):
        if name in names and _is_count(tree, name):
            return name
    prefixes = [spec.members] if spec.members else [f"{c}_", f"{c}."]
    for name in names:
        leaf = name.rsplit("/", 1)[-1]
        if any(name.startswith(p) or leaf.startswith(p) for p in prefixes) and isinstance(
                interpretation(tree[name])[0], uproot.AsJagged):
            return name
    members = " or ".join(f"{p}*" for p in prefixes)
    raise TriggerHGQError(
        f"{where} has no counter branch for collection '{c}' (looked for n{c}, {c}_size, {c} and a jagged {members} "
        f"branch; set 'flatten: {{collection: {c}, counter: BRANCH}}' or 'flatten.members' in {card.where})")
