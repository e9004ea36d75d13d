"""What a TTree branch is and whether it can be read: every branch (sub-branches included), its C++ type, how
uproot reads it, and clean errors for branches uproot cannot interpret or whose baskets lie beyond the file's end."""

from __future__ import annotations

import re

import numpy as np
import uproot

from trigger_hgq.errors import TriggerHGQError

_ADDRESS = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")
_AT_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_UNKNOWN = uproot.interpretation.identify.UnknownInterpretation


def reason(err: BaseException, limit: int = 300) -> str:
    """An exception as one short line (type and message), without object addresses."""
    text = _AT_ADDRESS.sub("", " ".join(str(err).split()))
    return f"{type(err).__name__}: {text[:limit]}"


def all_branches(tree: uproot.TTree) -> list[uproot.TBranch]:
    """Every branch of ``tree``, sub-branches included (depth first, in file order)."""
    out: list[uproot.TBranch] = []
    todo = list(reversed(tree.branches))
    while todo:
        b = todo.pop()
        out.append(b)
        todo.extend(reversed(b.branches))
    return out


def typename(branch: uproot.TBranch) -> str:
    """The branch's C++ type as uproot names it ('?' when even that cannot be worked out)."""
    try:
        return str(branch.typename)
    except Exception:
        return "?"


def interpretation(branch: uproot.TBranch) -> tuple[object | None, str]:
    """(uproot's interpretation, a one-line description); the interpretation is None when uproot has none."""
    try:
        interp = branch.interpretation
    except Exception as err:  # uproot raises (instead of returning UnknownInterpretation) on some types
        return None, f"cannot be read by uproot ({reason(err, 200)})"
    if isinstance(interp, _UNKNOWN):
        return None, f"cannot be read by uproot ({interp.reason})"
    if isinstance(interp, uproot.interpretation.grouped.AsGrouped):
        names = ", ".join(b.name for b in branch.branches[:3]) + (", ..." if len(branch.branches) > 3 else "")
        return interp, f"group of {len(branch.branches)} sub-branches ({names})"
    text = str(interp)
    if _ADDRESS.search(text):  # never show an object repr with a memory address
        text = type(interp).__name__
    return interp, text


def is_readable_leaf(branch: uproot.TBranch) -> bool:
    interp, _ = interpretation(branch)
    return interp is not None and not isinstance(interp, uproot.interpretation.grouped.AsGrouped)


def check_readable(tree: uproot.TTree, name: str, needed_by: str) -> None:
    """``tree[name]`` can be read as an array: not a group of sub-branches, not a type uproot cannot interpret."""
    branch = tree[name]
    interp, text = interpretation(branch)
    if interp is None:
        raise TriggerHGQError(f"{tree.file.file_path}: tree '{tree.name}': branch '{name}' (type {typename(branch)}) "
                              f"{text} (needed by {needed_by})")
    if isinstance(interp, uproot.interpretation.grouped.AsGrouped):
        leaves = [b for b in all_branches(branch) if is_readable_leaf(b)]
        numeric = [b for b in leaves if isinstance(interpretation(b)[0], uproot.AsDtype | uproot.AsJagged)]
        hint = f"; name one of its leaves, e.g. '{branch_path(tree, (numeric or leaves)[0])}'" if leaves else ""
        raise TriggerHGQError(f"{tree.file.file_path}: tree '{tree.name}': branch '{name}' (type {typename(branch)}) "
                              f"is a {text}, not one array{hint} (needed by {needed_by})")


def branch_path(tree: uproot.TTree, branch: uproot.TBranch) -> str:
    """The full path of ``branch`` in ``tree`` (``evt/P3/P3.Px``), as ``tree.keys(recursive=True)`` names it."""
    parts = []
    while branch is not tree and branch is not None:
        parts.append(branch.name)
        branch = branch.parent
    return "/".join(reversed(parts))


def check_baskets(tree: uproot.TTree, names: list[str], file_bytes: int) -> None:
    """Every basket of the named branches lies inside the file (a truncated copy fails here, naming the branch)."""
    for name in names:
        branch = tree[name]
        try:
            n = int(branch.member("fWriteBasket"))
            ends = (np.asarray(branch.member("fBasketSeek")[:n], np.int64)
                    + np.asarray(branch.member("fBasketBytes")[:n], np.int64))
        except Exception:  # a branch without these members (no baskets of its own)
            continue
        beyond = np.flatnonzero(ends > file_bytes)
        if len(beyond):
            i = int(beyond[0])
            raise TriggerHGQError(
                f"{tree.file.file_path}: tree '{tree.name}': branch '{name}': basket {i} ends at byte {int(ends[i])}, "
                f"beyond the end of the file ({file_bytes} bytes): truncated file")
