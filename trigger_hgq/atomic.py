"""Atomic file writes: a temporary name in the same folder, then a rename (an interruption leaves no half file).

The final file gets the permissions a plain ``open(path, "w")`` would give it (0666 less the process umask, so
0644 under the usual umask 022): ``tempfile.mkstemp`` creates its file 0600, and a rename keeps that mode.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def current_umask() -> int:
    """The process umask (read without changing it where /proc allows; else set and restored at once)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode a newly created regular file gets under the current umask."""
    return 0o666 & ~current_umask()


def write_bytes_atomic(path: str | os.PathLike, data: bytes, prefix: str | None = None, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it and ``os.replace``.

    ``prefix`` names the temporary file (default ``.<name>.``); ``fsync`` flushes it to disk before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix or f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, new_file_mode())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix, so writers that pick the format by extension work) for a
    writer that takes a file name (``model.save``, ``np.savez``, ``uproot.recreate``, a compiler's ``-o``); on
    success it gets the mode of a new file and is renamed over ``path``, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        if tmp.is_file():
            os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def _jsonable(value):
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def write_json_atomic(path: str | os.PathLike, data) -> Path:
    """Write ``data`` as indented JSON (numpy values and paths converted) atomically."""
    return write_text_atomic(path, json.dumps(data, indent=1, default=_jsonable) + "\n")
