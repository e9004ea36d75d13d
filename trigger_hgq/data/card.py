"""Dataset cards: the YAML file that says how a dataset is read (files, tree, features, label, split...).

The schema (:data:`CARD_SPEC`) is documented in ``datasets/README.md``. :func:`load_card` validates a card
completely before any data file is opened: an unknown key, a malformed YAML or a value of the wrong kind is one
:class:`TriggerHGQError` naming the card file and the key.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from trigger_hgq.data.particle_features import JET_KEYS, features_problem
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.schema import (
    Anything,
    Enum,
    Field,
    Float,
    Int,
    ListOf,
    MapOf,
    Nullable,
    Obj,
    OneOf,
    Str,
    Where,
    fail,
    validate,
)

FORMATS = ("auto", "root", "openml", "hdf5")
NAN_POLICIES = ("error", "drop", "fill")
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$")
_MEMORY_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
                 "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class LabelSpec:
    """Where the class index of a row comes from: exactly one of an integer branch, one-hot branches, an expression."""

    kind: str  # "branch" | "one_hot" | "expression"
    branch: str | None = None
    one_hot: tuple[str, ...] = ()
    expression: str | None = None

    def expressions(self) -> list[str]:
        """The expressions to read for the label (one per one-hot branch)."""
        if self.kind == "one_hot":
            return list(self.one_hot)
        return [self.branch if self.kind == "branch" else self.expression]  # type: ignore[list-item]

    def describe(self) -> str:
        if self.kind == "one_hot":
            return f"label.one_hot [{', '.join(self.one_hot)}]"
        return f"label.{self.kind} '{self.branch or self.expression}'"


@dataclass(frozen=True)
class FlattenSpec:
    """An event collection read as one row per object.

    ``collection`` names it (in messages and row locations); ``counter`` is the branch holding the number of objects
    per entry (an integer, or a list whose length is used); ``members`` is the prefix of its member branches (e.g.
    ``Jet_``, ``Jet.``, ``AK4CHS.``). Unset, the counter is looked for (see :mod:`trigger_hgq.data.collection`).
    """

    collection: str
    counter: str | None = None
    members: str | None = None


@dataclass(frozen=True)
class ConstituentSpec:
    """Jagged per-row lists (particles) padded to ``[n, max_particles, n_fields]``, sorted by ``sort_by``.

    With ``features`` the last axis holds those per-particle features instead (derived from the raw fields and the
    ``jet`` axis, see :mod:`trigger_hgq.data.particle_features`, or raw fields passed through by name).
    """

    fields: dict[str, str]  # field name -> branch or expression
    max_particles: int = 50
    sort_by: str | None = "pt"
    jet: dict[str, str] | None = None  # jet quantity (pt, eta, phi, mass) -> branch or expression, one per row
    features: tuple[str, ...] = ()  # the last axis; () = the raw fields

    @property
    def output_names(self) -> list[str]:
        """The names along the last axis of the constituent array."""
        return list(self.features) if self.features else list(self.fields)

    @property
    def sort_index(self) -> int | None:
        """The index of ``sort_by`` among the raw fields."""
        return list(self.fields).index(self.sort_by) if self.sort_by else None

    @property
    def pad_dtype(self) -> type:
        """The dtype the raw fields are padded in: float64 when features are derived from them, else float32."""
        return np.float64 if self.features else np.float32


@dataclass(frozen=True)
class SplitSpec:
    """Fractions of rows in train/val/select/test and the seed of the deterministic, file-order independent
    assignment. ``select`` (default 0: none) holds rows that neither training, early stopping nor the Pareto front
    see: the comparison matches models on them (:mod:`trigger_hgq.comparison`), the test split stays for reporting.

    ``key`` (optional) lists event-identifying branches (e.g. run, luminosityBlock, event) used instead of
    (file name, entry) as the stable per-row key.
    """

    train: float = 0.6
    val: float = 0.2
    test: float = 0.2
    seed: int = 42
    select: float = 0.0
    key: tuple[str, ...] | None = None

    @property
    def fractions(self) -> tuple[float, float, float, float]:
        """The fractions in rank order (:data:`trigger_hgq.data.split.SPLITS`): train, val, select, test."""
        return (self.train, self.val, self.select, self.test)


@dataclass(frozen=True)
class Card:
    """A validated dataset card. ``base_dir`` is the folder relative paths (files, cache) are resolved against."""

    name: str
    files: tuple[str, ...]
    features: dict[str, str]  # feature name -> branch or expression, in order
    label: LabelSpec
    classes: tuple[str, ...]
    tree: str = "Events"
    description: str = ""
    format: str = "auto"
    aliases: dict[str, str] = field(default_factory=dict)
    flatten: FlattenSpec | None = None
    cut: str | None = None
    constituents: ConstituentSpec | None = None
    split: SplitSpec = field(default_factory=SplitSpec)
    nan_policy: str = "error"
    fill_value: float = 0.0
    step_size: int | str = 100_000
    cache: str | None = None
    generation: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None
    base_dir: Path = field(default_factory=Path.cwd)

    @property
    def where(self) -> str:
        """How error messages name this card."""
        return f"dataset card {self.source}" if self.source else f"dataset card '{self.name}'"

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    def resolve_files(self) -> list[Path]:
        """The card's files: variables expanded, relative to ``base_dir``, globs matched (sorted), deduplicated."""
        out: list[Path] = []
        for entry in self.files:
            text = os.path.expanduser(expand_vars(entry, self.where, "files"))
            path = Path(text) if os.path.isabs(text) else self.base_dir / text
            if glob.has_magic(str(path)):
                matches = sorted(Path(p) for p in glob.glob(str(path)))
                if not matches:
                    raise TriggerHGQError(f"{self.where}: key 'files': '{entry}' matches no file (looked for {path})")
                out.extend(matches)
            else:
                if not path.exists():
                    raise TriggerHGQError(f"file not found: {path} (key 'files' of {self.where})")
                out.append(path)
        unique = list(dict.fromkeys(p.resolve() for p in out))
        return unique

    def cache_dir(self) -> Path | None:
        if self.cache is None:
            return None
        text = os.path.expanduser(expand_vars(self.cache, self.where, "cache"))
        return Path(text) if os.path.isabs(text) else self.base_dir / text

    def with_files(self, files: list[str | Path]) -> Card:
        """The same card reading other files (absolute paths)."""
        return replace(self, files=tuple(str(Path(f).resolve()) for f in files))

    def reading_dict(self) -> dict[str, Any]:
        """Everything that changes the rows read (not the split, cache or documentation): keys a cache."""
        c = self.constituents
        return {
            "format": self.format, "tree": self.tree, "features": self.features, "aliases": self.aliases,
            "label": [self.label.kind, self.label.expressions()], "classes": list(self.classes),
            "flatten": None if self.flatten is None else [self.flatten.collection, self.flatten.counter,
                                                          self.flatten.members],
            "cut": self.cut, "split_key": list(self.split.key or []),
            "constituents": None if c is None else [c.fields, c.max_particles, c.sort_by] + (
                [c.jet, list(c.features)] if c.features else []),
            "nan_policy": self.nan_policy, "fill_value": self.fill_value,
        }


def expand_vars(text: str, where: str, key: str) -> str:
    """Expand ``$VAR``, ``${VAR}`` and ``${VAR:-default}``; an unset variable without default is an error."""

    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(3)
        value = os.environ.get(name)
        if value:
            return value
        if m.group(1) and m.group(2) is not None:
            return m.group(2)
        raise TriggerHGQError(f"{where}: key '{key}': environment variable {name} is not set (in '{text}')")

    return _VAR.sub(sub, text)


def memory_bytes(text: str) -> int | None:
    """``"50 MB"`` -> 50_000_000 bytes; None when ``text`` is not a memory size."""
    m = _MEMORY.match(text)
    if m is None:
        return None
    return int(float(m.group(1)) * _MEMORY_UNITS[m.group(2).upper()])


def _one_label(label: dict) -> str | None:
    given = [k for k in LABEL_KEYS if label.get(k) is not None]
    return None if len(given) == 1 else f"needs exactly one of branch, one_hot, expression; got {given or 'none'}"


def _memory_size(text: str) -> str | None:
    return None if memory_bytes(text) is not None else f"expected a size such as '50 MB', got {text!r}"


_NAMES = ListOf(Str(), nonempty=True, scalar_ok=True)
_EXPRESSIONS = OneOf((MapOf(Str(), nonempty=True), _NAMES), doc="a non-empty list of names or a mapping "
                                                               "{name: branch or expression}")
LABEL_KEYS = ("branch", "one_hot", "expression")
FLATTEN_KEYS = ("collection", "counter", "members")
SPLIT_KEYS = ("train", "val", "select", "test", "seed", "key")
LABEL_SPEC = Where(Obj({"branch": (Nullable(Str()), False, "the integer class branch"),
                        "one_hot": (Nullable(_NAMES), False, "one branch per class"),
                        "expression": (Nullable(Str()), False, "an expression giving the class index")},
                       strict=True, shorthand="branch"), _one_label)
CARD_SPEC = Obj({
    "name": (Str(), False, "the dataset's name (default: the card's file name)"),
    "description": (Nullable(Str(nonempty=False)), False),
    "format": Field(Enum(FORMATS), default="auto"),
    "files": (_NAMES, True, "data files or glob patterns"),
    "tree": (Str(), False, "the TTree (HDF5: the group)"),
    "features": (_EXPRESSIONS, True, "the model inputs"),
    "aliases": (Nullable(MapOf(Str())), False, "names usable in expressions"),
    "label": (LABEL_SPEC, True, "the class index of a row"),
    "classes": (Nullable(_NAMES), False, "class names in index order"),
    "flatten": (Nullable(Obj({"collection": (Str(), True, "the collection's name, e.g. Jet"),
                              "counter": (Nullable(Str()), False), "members": (Nullable(Str()), False)},
                             strict=True, shorthand="collection")), False, "read one row per object"),
    "cut": (Nullable(Str()), False, "a row selection"),
    "constituents": (Nullable(Obj({
        "branches": (_EXPRESSIONS, True, "the fields, e.g. {pt: ..., eta: ..., phi: ...}"),
        "max_particles": Field(Int(lo=1), default=50),
        "sort_by": (Nullable(Str()), False, "default: pt when it is a field"),
        "jet": (Nullable(Obj({k: (Nullable(Str()), False, f"the jet's {k}") for k in JET_KEYS}, strict=True)), False,
                "the jet axis, one value per row (used by features)"),
        "features": (Nullable(ListOf(Str(), nonempty=True)), False,
                     "derived per-particle features or raw field names, in order")}, strict=True)), False),
    "split": (Nullable(Obj({
        **{k: Field(Float(lo=0.0, hi=1.0), default=getattr(SplitSpec, k)) for k in ("train", "val", "select", "test")},
        "seed": Field(Int(lo=0), default=SplitSpec.seed),
        "key": (Nullable(_NAMES), False, "event-identifying branches")}, strict=True)), False),
    "nan_policy": Field(Enum(NAN_POLICIES), default="error"),
    "fill_value": Field(Float(), default=0.0),
    "step_size": Field(OneOf((Int(lo=1), Where(Str(), _memory_size)),
                             doc="a number of entries >= 1 or a size such as '50 MB'"), default=100_000),
    "cache": (Nullable(Str()), False, "the cache folder"),
    "generation": (Nullable(MapOf(Anything(), key_doc="key")), False, "how the data was generated"),
}, strict=True)
"""A dataset card (``datasets/README.md`` documents the keys)."""


def _names(value: dict | list) -> dict[str, str]:
    return dict(value) if isinstance(value, dict) else {v: v for v in value}


def parse_card(data: Any, source: Path | None = None, base_dir: Path | None = None) -> Card:
    """Validate a card given as a mapping (what the YAML holds) and return a :class:`Card`."""
    where = f"dataset card {source}" if source else "dataset card"
    if not isinstance(data, Mapping):
        raise fail(where, "", "expected a YAML mapping of keys (name, files, tree, features, label...)")
    raw = dict(data)
    c = validate(CARD_SPEC, raw, where)
    label = LabelSpec("one_hot", one_hot=tuple(c["label"]["one_hot"])) if c["label"]["one_hot"] else \
        LabelSpec("branch", branch=c["label"]["branch"]) if c["label"]["branch"] else \
        LabelSpec("expression", expression=c["label"]["expression"])
    if c["classes"] is not None:
        classes = tuple(c["classes"])
    elif label.kind == "one_hot":
        classes = label.one_hot
    else:
        raise fail(where, "classes", f"is required with {label.describe()} (the class names, in index order)")
    if len(set(classes)) != len(classes):
        raise fail(where, "classes", f"class names must be unique, got {list(classes)}")
    if label.kind == "one_hot" and len(classes) != len(label.one_hot):
        raise fail(where, "classes", f"has {len(classes)} names but label.one_hot has {len(label.one_hot)} branches")
    flatten = None if c["flatten"] is None else FlattenSpec(**{k: c["flatten"][k] for k in FLATTEN_KEYS})
    constituents = _constituents(c["constituents"], raw.get("constituents"), where)
    if constituents is not None and flatten is not None:
        raise fail(where, "constituents", "cannot be combined with 'flatten' (each row must own one list of "
                                          "particles)")
    split = SplitSpec() if c["split"] is None else SplitSpec(**{k: c["split"][k] for k in SPLIT_KEYS})
    fractions = sum(split.fractions)
    if abs(fractions - 1.0) > 1e-6:
        raise fail(where, "split", f"train + val + select + test must be 1, got {fractions:g}")
    if split.train <= 0:
        raise fail(where, "split.train", "must be above 0")
    if split.key is not None:
        split = replace(split, key=tuple(split.key))
    return Card(
        name=c["name"] if "name" in raw else (source.stem if source else "dataset"), files=tuple(c["files"]),
        features=_names(c["features"]), label=label, classes=classes,
        tree=c["tree"] if "tree" in raw else ("jets" if c["format"] == "hdf5" else "Events"),
        description=c["description"] or "", format=c["format"], aliases=c["aliases"] or {}, flatten=flatten,
        cut=c["cut"], constituents=constituents, split=split, nan_policy=c["nan_policy"],
        fill_value=c["fill_value"], step_size=c["step_size"], cache=c["cache"], generation=c["generation"] or {},
        source=source, base_dir=base_dir or (source.parent if source else Path.cwd()))


def _constituents(checked: dict | None, raw: Any, where: str) -> ConstituentSpec | None:
    if checked is None:
        return None
    fields = _names(checked["branches"])
    sort_by = checked["sort_by"] if "sort_by" in raw else ("pt" if "pt" in fields else None)
    if sort_by is not None and sort_by not in fields:
        raise fail(where, "constituents.sort_by", f"'{sort_by}' is not one of the fields {list(fields)}")
    jet = None if checked["jet"] is None else {k: checked["jet"][k] for k in JET_KEYS if checked["jet"][k] is not None}
    features = tuple(checked["features"] or ())
    if jet is not None and not features:
        raise fail(where, "constituents.jet", "is used by constituents.features (derived per-particle features), "
                                              "which is not set")
    problem = features_problem(features, fields, jet) if features else None
    if problem:
        raise fail(where, "constituents.features", problem)
    return ConstituentSpec(fields, checked["max_particles"], sort_by, jet, features)


def load_card(path: str | Path) -> Card:
    """Read and validate a YAML dataset card."""
    path = Path(path)
    if not path.is_file():
        raise TriggerHGQError(f"dataset card not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise TriggerHGQError(f"dataset card {path}: malformed YAML{at}: {problem}") from None
    except UnicodeDecodeError:
        raise TriggerHGQError(f"dataset card {path}: not a text (YAML) file") from None
    return parse_card(data, source=path.resolve())


def as_card(card: Card | str | Path | Mapping) -> Card:
    """A :class:`Card` from a card, a path to a YAML card, or a mapping."""
    if isinstance(card, Card):
        return card
    if isinstance(card, Mapping):
        return parse_card(card)
    return load_card(card)
