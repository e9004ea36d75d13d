"""YAML configs (baselines, AutoQKeras, pipeline): reading with ``base:`` inheritance; their schemas
(:mod:`trigger_hgq.schema`) check them with messages naming the file and the key path."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.schema import Spec, validate


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
        raise TriggerHGQError(f"config {path}: key 'base': the chain loops back to itself")
    if not path.is_file():
        raise TriggerHGQError(f"config {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise TriggerHGQError(f"config {path}: invalid YAML: {' '.join(str(err).split())}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise TriggerHGQError(f"config {path}: cannot read it ({getattr(err, 'strerror', None) or err})"
                              ) from None
    if not isinstance(data, dict):
        raise TriggerHGQError(f"config {path}: expected a mapping at the top level")
    base = data.pop("base", None)
    if base is not None:
        data = deep_merge(load_yaml(path.parent / str(base), (*_seen, path)), data)
    data["_file"] = str(path)
    return data


def config_source(config: dict) -> str:
    """How messages name a config read by :func:`load_yaml`: ``config <file>``."""
    return f"config {config.get('_file', '<dict>')}"


def check_config(spec: Spec, config: dict) -> dict:
    """``config`` checked against ``spec``: the normalised copy; problems name the file and the key path."""
    return validate(spec, config, config_source(config))


def base_chain(path: str | os.PathLike) -> list[Path]:
    """A YAML config and every file its ``base:`` chain reads, resolved, in order (a file that is missing or not
    valid YAML ends the chain: :func:`load_yaml` names it)."""
    out: list[Path] = []
    p = Path(path).resolve()
    while p.is_file() and p not in out:
        out.append(p)
        try:
            data = yaml.safe_load(p.read_text())
        except yaml.YAMLError:
            break
        base = data.get("base") if isinstance(data, dict) else None
        if base is None:
            break
        p = (p.parent / str(base)).resolve()
    return out
