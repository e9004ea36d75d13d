"""Dataset cards: the YAML file that says how a dataset is read (files, tree, features, label, split...).

The schema is documented in ``datasets/README.md``. :func:`load_card` validates a card completely before any data
file is opened: an unknown key, a malformed YAML or a value of the wrong kind is one :class:`TriggerHGQError`
naming the card file and the key.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from trigger_hgq.errors import TriggerHGQError

TOP_KEYS = (
    "name", "description", "format", "files", "tree", "features", "aliases", "label", "classes", "flatten", "cut",
    "constituents", "split", "nan_policy", "fill_value", "step_size", "cache", "generation",
)
LABEL_KEYS = ("branch", "one_hot", "expression")
CONSTITUENT_KEYS = ("branches", "max_particles", "sort_by")
FLATTEN_KEYS = ("collection", "counter", "members")
SPLIT_KEYS = ("train", "val", "test", "seed", "key")
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
    """Jagged per-row lists (particles) padded to ``[n, max_particles, n_fields]``, sorted by ``sort_by``."""

    fields: dict[str, str]  # field name -> branch or expression
    max_particles: int = 50
    sort_by: str | None = "pt"


@dataclass(frozen=True)
class SplitSpec:
    """Fractions of rows in train/val/test and the seed of the deterministic, file-order independent assignment.

    ``key`` (optional) lists event-identifying branches (e.g. run, luminosityBlock, event) used instead of
    (file name, entry) as the stable per-row key.
    """

    train: float = 0.6
    val: float = 0.2
    test: float = 0.2
    seed: int = 42
    key: tuple[str, ...] | None = None


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
            "constituents": None if c is None else [c.fields, c.max_particles, c.sort_by],
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


class _Checker:
    """Type checks that name the card and the key."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, key: str, msg: str) -> TriggerHGQError:
        return TriggerHGQError(f"{self.where}: key '{key}': {msg}")

    def unknown(self, data: Mapping, known: tuple[str, ...], prefix: str = "") -> None:
        for k in data:
            if k not in known:
                raise TriggerHGQError(
                    f"{self.where}: unknown key '{prefix}{k}' (known keys: {', '.join(prefix + x for x in known)})")

    def string(self, value: Any, key: str, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def strings(self, value: Any, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.fail(key, f"must be a non-empty list of strings, got {value!r}")
        return tuple(self.string(v, key) for v in value)  # type: ignore[misc]

    def mapping(self, value: Any, key: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a mapping, got {value!r}")
        return dict(value)

    def number(self, value: Any, key: str, lo: float | None = None, hi: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.fail(key, f"must be in [{lo}, {hi}], got {value!r}")
        return float(value)

    def integer(self, value: Any, key: str, lo: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer, got {value!r}")
        if lo is not None and value < lo:
            raise self.fail(key, f"must be at least {lo}, got {value!r}")
        return value

    def choice(self, value: Any, key: str, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value


def parse_card(data: Any, source: Path | None = None, base_dir: Path | None = None) -> Card:
    """Validate a card given as a mapping (what the YAML holds) and return a :class:`Card`."""
    where = f"dataset card {source}" if source else "dataset card"
    ck = _Checker(where)
    if not isinstance(data, Mapping):
        raise TriggerHGQError(f"{where}: must be a YAML mapping of keys (name, files, tree, features, label...)")
    ck.unknown(data, TOP_KEYS)
    for required in ("files", "features", "label"):
        if required not in data:
            raise ck.fail(required, "is required")

    name = ck.string(data.get("name", source.stem if source else "dataset"), "name")
    fmt = ck.choice(data.get("format", "auto"), "format", FORMATS)
    files = ck.strings(data["files"], "files")
    tree = ck.string(data.get("tree", "jets" if fmt == "hdf5" else "Events"), "tree")

    raw_features = data["features"]
    if isinstance(raw_features, Mapping):
        features = {ck.string(k, "features"): ck.string(v, f"features.{k}") for k, v in raw_features.items()}
    else:
        features = {f: f for f in ck.strings(raw_features, "features")}
    if not features:
        raise ck.fail("features", "needs at least one feature")
    aliases = {ck.string(k, "aliases"): ck.string(v, f"aliases.{k}") for k, v in ck.mapping(
        data.get("aliases"), "aliases").items()}

    label = _parse_label(ck, data["label"])
    if "classes" in data:
        classes = ck.strings(data["classes"], "classes")
    elif label.kind == "one_hot":
        classes = label.one_hot
    else:
        raise ck.fail("classes", f"is required with {label.describe()} (the class names, in index order)")
    if len(set(classes)) != len(classes):
        raise ck.fail("classes", f"class names must be unique, got {list(classes)}")
    if label.kind == "one_hot" and len(classes) != len(label.one_hot):
        raise ck.fail("classes", f"has {len(classes)} names but label.one_hot has {len(label.one_hot)} branches")

    flatten = _parse_flatten(ck, data.get("flatten"))
    cut = ck.string(data.get("cut"), "cut", optional=True)
    constituents = _parse_constituents(ck, data.get("constituents"))
    if constituents is not None and flatten is not None:
        raise ck.fail("constituents", "cannot be combined with 'flatten' (each row must own one list of particles)")
    split = _parse_split(ck, data.get("split"))
    nan_policy = ck.choice(data.get("nan_policy", "error"), "nan_policy", NAN_POLICIES)
    fill_value = ck.number(data.get("fill_value", 0.0), "fill_value")
    step_size = data.get("step_size", 100_000)
    if isinstance(step_size, str):
        if memory_bytes(step_size) is None:
            raise ck.fail("step_size", f"must be a number of entries or a size such as '50 MB', got {step_size!r}")
    else:
        step_size = ck.integer(step_size, "step_size", lo=1)
    cache = ck.string(data.get("cache"), "cache", optional=True)
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise ck.fail("description", "must be text")
    generation = ck.mapping(data.get("generation"), "generation")
    return Card(
        name=name, files=files, features=features, label=label, classes=classes, tree=tree,  # type: ignore[arg-type]
        description=description, format=fmt, aliases=aliases, flatten=flatten, cut=cut, constituents=constituents,
        split=split, nan_policy=nan_policy, fill_value=fill_value, step_size=step_size, cache=cache,
        generation=generation, source=source,
        base_dir=base_dir or (source.parent if source else Path.cwd()))


def _parse_label(ck: _Checker, raw: Any) -> LabelSpec:
    if isinstance(raw, str):  # shorthand: the integer class branch
        raw = {"branch": raw}
    spec = ck.mapping(raw, "label")
    ck.unknown(spec, LABEL_KEYS, prefix="label.")
    given = [k for k in LABEL_KEYS if spec.get(k) is not None]
    if len(given) != 1:
        raise ck.fail("label", f"needs exactly one of branch, one_hot, expression; got {given or 'none'}")
    kind = given[0]
    if kind == "one_hot":
        return LabelSpec(kind, one_hot=ck.strings(spec[kind], "label.one_hot"))
    value = ck.string(spec[kind], f"label.{kind}")
    return LabelSpec(kind, branch=value) if kind == "branch" else LabelSpec(kind, expression=value)


def _parse_flatten(ck: _Checker, raw: Any) -> FlattenSpec | None:
    if raw is None or isinstance(raw, str):
        name = ck.string(raw, "flatten", optional=True)
        return None if name is None else FlattenSpec(name)
    spec = ck.mapping(raw, "flatten")
    ck.unknown(spec, FLATTEN_KEYS, prefix="flatten.")
    if "collection" not in spec:
        raise ck.fail("flatten.collection", "is required (the collection's name, e.g. Jet)")
    return FlattenSpec(ck.string(spec["collection"], "flatten.collection"),  # type: ignore[arg-type]
                       ck.string(spec.get("counter"), "flatten.counter", optional=True),
                       ck.string(spec.get("members"), "flatten.members", optional=True))


def _parse_constituents(ck: _Checker, raw: Any) -> ConstituentSpec | None:
    if raw is None:
        return None
    spec = ck.mapping(raw, "constituents")
    ck.unknown(spec, CONSTITUENT_KEYS, prefix="constituents.")
    branches = spec.get("branches")
    if isinstance(branches, list):
        branches = {b: b for b in ck.strings(branches, "constituents.branches")}
    fields = {ck.string(k, "constituents.branches"): ck.string(v, f"constituents.branches.{k}")
              for k, v in ck.mapping(branches, "constituents.branches").items()}
    if not fields:
        raise ck.fail("constituents.branches", "needs at least one field, e.g. {pt: ..., eta: ..., phi: ...}")
    max_particles = ck.integer(spec.get("max_particles", 50), "constituents.max_particles", lo=1)
    sort_by = ck.string(spec.get("sort_by", "pt" if "pt" in fields else None), "constituents.sort_by", optional=True)
    if sort_by is not None and sort_by not in fields:
        raise ck.fail("constituents.sort_by", f"'{sort_by}' is not one of the fields {list(fields)}")
    return ConstituentSpec(fields, max_particles, sort_by)


def _parse_split(ck: _Checker, raw: Any) -> SplitSpec:
    spec = ck.mapping(raw, "split")
    ck.unknown(spec, SPLIT_KEYS, prefix="split.")
    default = SplitSpec()
    fractions = {k: ck.number(spec.get(k, getattr(default, k)), f"split.{k}", 0.0, 1.0)
                 for k in ("train", "val", "test")}
    if abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise ck.fail("split", f"train + val + test must be 1, got {sum(fractions.values()):g}")
    if fractions["train"] <= 0:
        raise ck.fail("split.train", "must be above 0")
    seed = ck.integer(spec.get("seed", default.seed), "split.seed", lo=0)
    key = ck.strings(spec["key"], "split.key") if spec.get("key") is not None else None
    return SplitSpec(seed=seed, key=key, **fractions)


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
