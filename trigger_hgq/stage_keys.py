"""What a pipeline stage reads, as content: the parts of its resume key (``state.json``) beyond the config section.

A stage is skipped on a rerun only when everything it reads is unchanged: the YAML files (their bytes, ``base:``
files included), the dataset files (size and modification time, like the dataset cache), the arrays the data stage
wrote (their digest), the code the stage runs (a digest of those trigger_hgq source files) and the versions of the
installed stack it runs on (Python, Keras and its backend, QKeras, hls4ml, da4ml).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Any

import trigger_hgq
from trigger_hgq.config import base_chain
from trigger_hgq.sources import SourceGraph, digest

RUN_MODULE = "trigger_hgq.pipeline.run"
INSTALLED = SourceGraph()
"""The sources of the imported trigger_hgq."""

CHUNK_BYTES = 1 << 20

BACKEND_DISTRIBUTIONS = {"tensorflow": ("tensorflow-cpu", "tensorflow"), "jax": ("jax",), "torch": ("torch",)}
"""The distributions that may provide each Keras backend, first match wins."""
DEPENDENCIES = {"keras": ("keras",), "qkeras": ("qkeras-v3", "qkeras"), "hls4ml": ("hls4ml",), "da4ml": ("da4ml",)}
"""The libraries whose versions enter every stage key, by the distributions that may provide them."""


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution (``importlib.metadata``), or ``None`` when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def first_version(distributions: tuple[str, ...]) -> str | None:
    """The version of the first installed distribution of ``distributions`` (``None``: none is installed)."""
    for name in distributions:
        version = installed_version(name)
        if version is not None:
            return version
    return None


def dependency_versions() -> dict[str, str | None]:
    """The stack a stage runs on: the versions of Python, keras, the Keras backend (its name from
    ``keras.backend.backend()`` and its version), qkeras, hls4ml and da4ml (``None``: not installed). Part of every
    stage key, so that an upgraded library reruns the stages."""
    import keras

    backend = keras.backend.backend()
    versions: dict[str, str | None] = {"python": platform.python_version(), "keras_backend": backend,
                                       "backend_version": first_version(BACKEND_DISTRIBUTIONS.get(backend, (backend,)))}
    versions.update({name: first_version(dists) for name, dists in DEPENDENCIES.items()})
    return versions


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex, 16 characters)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def file_stamp(path: str | Path) -> list:
    """``[resolved path, size, mtime_ns]`` of a (data) file: changes whenever the file is rewritten."""
    p = Path(path).resolve()
    st = p.stat()
    return [str(p), st.st_size, st.st_mtime_ns]


def yaml_files(path: str | Path) -> dict[str, str]:
    """The bytes (digest) of a YAML config and of every file its ``base:`` chain reads, by resolved path."""
    return {str(p): file_digest(p) for p in base_chain(path)}


def dataset_stamp(path: str | Path, card=None) -> dict:
    """The dataset a run reads: a card's bytes and the stamps of the files it names, or a data file's stamp.
    ``card``: the card parsed from ``path`` when ``path`` is a card (this module reads no dataset code, so that
    the stages whose keys it computes do not depend on the readers)."""
    path = Path(path)
    if path.suffix in (".yaml", ".yml"):
        if card is None:
            raise ValueError(f"dataset_stamp({path}): a card needs its parsed card")
        return {"card": yaml_files(path), "files": [file_stamp(f) for f in card.resolve_files()]}
    return {"files": [file_stamp(path)]}


def code_version(stage: str, graph: SourceGraph = INSTALLED) -> str:
    """The package version and a digest of the sources the stage runs: ``Run.<stage>`` of
    :mod:`trigger_hgq.pipeline.run` and every module it reaches (:mod:`trigger_hgq.sources`), so that a change to
    code the stage does not run leaves its key alone."""
    modules = graph.modules(RUN_MODULE, f"Run.{stage}")
    return f"{getattr(trigger_hgq, '__version__', '0')}+{digest(graph, modules)}"


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts (a stage's inputs)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
