"""Card expressions: uproot's Python expression language plus per-entry reductions over collections.

The reductions (``sum``, ``max``, ``min``, ``mean``, ``count``, ``leading``, ``subleading``, ``nth``) take a list
per entry (a jagged branch such as ``Jet_pt``, or an expression of such branches) and give one number per entry:
``max(Jet_pt)``, ``sum(Jet_pt * (Jet_pt > 30))``, ``leading(Jet_eta, by=Jet_pt)``. An empty list gives ``default``
(NaN unless given; ``sum`` and ``count`` give 0). Before uproot sees an expression, every name is checked: an
unknown function is reported as such (with the functions available), a missing branch as a missing branch; branch
names that are paths (``evt/N``, ``Info/pfMET``) are quoted so that ``/`` is not read as a division.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable

import awkward as ak
import numpy as np
import uproot

from trigger_hgq.errors import TriggerHGQError


class ReductionError(ValueError):
    """A reduction applied to something that is not a list per entry."""


def _lists(x, name: str) -> ak.Array:
    arr = ak.Array(x) if not isinstance(x, ak.Array) else x
    if arr.ndim < 2:
        raise ReductionError(f"{name}() needs a list per entry (a jagged branch such as Jet_pt), got type "
                             f"{arr.type.content} (one value per entry)")
    return arr


def _filled(values: ak.Array, default: float) -> ak.Array:
    return ak.fill_none(values, default, axis=-1)


def _sum(x):
    return ak.sum(_lists(x, "sum"), axis=-1)


def _count(x):
    return ak.num(_lists(x, "count"), axis=-1)


def _mean(x, *, default: float = np.nan):
    arr = _lists(x, "mean")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = _filled(ak.mean(arr, axis=-1), default)
    return ak.where(ak.num(arr, axis=-1) > 0, mean, default)


def _max(x, *, default: float = np.nan):
    return _filled(ak.max(_lists(x, "max"), axis=-1), default)


def _min(x, *, default: float = np.nan):
    return _filled(ak.min(_lists(x, "min"), axis=-1), default)


def _nth(x, n: int, *, by=None, default: float = np.nan, name: str = "nth"):
    arr = _lists(x, name)
    if by is not None:
        order = ak.argsort(_lists(by, name), axis=-1, ascending=False, stable=True)
        if not ak.all(ak.num(order, axis=-1) == ak.num(arr, axis=-1)):
            raise ReductionError(f"{name}(x, by=...): x and by have another number of objects in some entries")
        arr = arr[order]
    return _filled(ak.firsts(arr[:, n:], axis=-1), default)


def _leading(x, *, by=None, default: float = np.nan):
    return _nth(x, 0, by=by, default=default, name="leading")


def _subleading(x, *, by=None, default: float = np.nan):
    return _nth(x, 1, by=by, default=default, name="subleading")


REDUCTIONS: dict[str, Callable] = {
    "sum": _sum, "count": _count, "mean": _mean, "max": _max, "min": _min,
    "leading": _leading, "subleading": _subleading, "nth": _nth,
}
LANGUAGE = uproot.language.python.PythonLanguage(
    functions={**uproot.language.python.PythonLanguage.default_functions, **REDUCTIONS})


def quote_paths(expr: str, path_keys: Iterable[str]) -> str:
    """``expr`` with each branch path containing ``/`` written ``get('a/b')`` (unless ``expr`` is that path)."""
    paths = sorted((k for k in path_keys if "/" in k), key=len, reverse=True)
    if expr in paths or not paths:
        return expr
    pattern = re.compile(r"(?<![\w./'\"])(" + "|".join(re.escape(p) for p in paths) + r")(?![\w.\[])")
    return pattern.sub(lambda m: f"get({m.group(1)!r})", expr)


def _call_name(node: ast.Call) -> str:
    try:
        return ast.unparse(node.func)
    except Exception:  # pragma: no cover - ast.unparse handles every parsed node
        return "?"


def check_functions(expr: str, keys: set[str], where: str, shown: str | None = None) -> None:
    """Every call in ``expr`` is to a known function; otherwise one error listing the functions available.
    ``shown`` is the expression as the card writes it (before :func:`quote_paths`)."""
    shown = shown or expr
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as err:
        raise TriggerHGQError(f"{where}: '{shown}' is not a valid expression ({err.msg})") from None
    known = LANGUAGE.functions
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if isinstance(node.func, ast.Name) and (name in known or name == LANGUAGE.getter):
            continue
        hint = f" ('{name}' is a branch, not a function)" if name in keys else ""
        raise TriggerHGQError(
            f"{where}: unknown function '{name}' in '{shown}'{hint}; reductions: {', '.join(REDUCTIONS)}; "
            f"other functions: {', '.join(sorted(set(known) - set(REDUCTIONS)))}")


def free_symbols(expr: str, keys: set[str], aliases: dict[str, str], file_path: str, object_path: str) -> list[str]:
    """The branch or alias names ``expr`` reads (uproot's rules); a missing name raises ``uproot.KeyInFileError``."""
    return LANGUAGE.free_symbols(expr, keys, aliases, file_path, object_path)
