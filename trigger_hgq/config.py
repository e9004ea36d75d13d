"""YAML configs (baselines, AutoQKeras, pipeline): reading with ``base:`` inheritance, validation with named keys."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml

from trigger_hgq.errors import TriggerHGQError


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` on top of ``base``, recursively for nested dicts (lists and scalars are replaced)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_yaml(path: str | os.PathLike, _seen: tuple[Path, ...] = ()) -> dict:
    """Read a YAML mapping; a top-level ``base: other.yaml`` (relative to the file) is read first and merged under.

    The returned dict records its file under ``_file``.
    """
    path = Path(path).resolve()
    if path in _seen:
        raise TriggerHGQError(f"config {str(path)!r}: 'base' chain loops back to itself")
    if not path.is_file():
        raise TriggerHGQError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise TriggerHGQError(f"config file {str(path)!r}: invalid YAML: {' '.join(str(err).split())}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise TriggerHGQError(f"config file {str(path)!r}: cannot read it ({getattr(err, 'strerror', None) or err})"
                              ) from None
    if not isinstance(data, dict):
        raise TriggerHGQError(f"config file {str(path)!r}: expected a mapping at the top level")
    base = data.pop("base", None)
    if base is not None:
        data = deep_merge(load_yaml(path.parent / str(base), (*_seen, path)), data)
    data["_file"] = str(path)
    return data


def where(config: dict, key: str) -> str:
    """``file: key`` for error messages."""
    return f"config {config.get('_file', '<dict>')!r} key {key!r}"


def check_keys(section: dict, allowed: set[str], config: dict, prefix: str) -> None:
    """Unknown keys in a config section are an error naming the key."""
    if not isinstance(section, dict):
        raise TriggerHGQError(f"{where(config, prefix)}: expected a mapping, got {type(section).__name__}")
    for key in section:
        if key not in allowed and not key.startswith("_"):
            raise TriggerHGQError(
                f"{where(config, f'{prefix}.{key}' if prefix else key)}: unknown key (allowed: {sorted(allowed)})"
            )


def get_number(section: dict, key: str, default, config: dict, prefix: str, kind=float, minimum=None):
    """A numeric entry with type and range checks."""
    value = section.get(key, default)
    full = f"{prefix}.{key}" if prefix else key
    if value is None:
        raise TriggerHGQError(f"{where(config, full)}: missing")
    try:
        number = kind(value)
    except (TypeError, ValueError) as err:
        raise TriggerHGQError(f"{where(config, full)}: expected a number, got {value!r}") from err
    if kind is int and number != value:
        raise TriggerHGQError(f"{where(config, full)}: expected an integer, got {value!r}")
    if minimum is not None and number < minimum:
        raise TriggerHGQError(f"{where(config, full)}: must be >= {minimum}, got {value!r}")
    return number
