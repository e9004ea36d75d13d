"""Up-front checks of command-line inputs: numbers, input files and output locations, named by their flag.

Entry points call these before any work, so a bad value fails in a second with one line naming the flag or
file, and nothing is created.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from trigger_hgq.errors import TriggerHGQError


def positive_number(value, flag: str, hi: float | None = None) -> float:
    """``value`` as a finite float > 0 (and <= ``hi``); else an error naming ``flag``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TriggerHGQError(f"{flag} {value!r}: expected a number")
    if not math.isfinite(value) or value <= 0 or (hi is not None and value > hi):
        limit = f"in (0, {hi:g}]" if hi is not None else "> 0"
        raise TriggerHGQError(f"{flag} {value!r}: expected a finite number {limit}")
    return float(value)


def readable_file(path: str | os.PathLike, what: str) -> Path:
    """An existing, readable regular file (``what`` names it in the error, e.g. ``"--data"``)."""
    path = Path(path)
    if not path.exists():
        raise TriggerHGQError(f"{what} {str(path)!r}: no such file")
    if not path.is_file():
        raise TriggerHGQError(f"{what} {str(path)!r}: not a regular file")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as err:
        raise TriggerHGQError(f"{what} {str(path)!r}: cannot read it ({err.strerror or err})") from None
    return path


def _writable_parent(path: Path, what: str) -> None:
    """The nearest existing ancestor of ``path`` must be a folder in which a folder can be made (so the missing
    ones can be); tried with an empty temporary folder, removed at once."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise TriggerHGQError(f"{what} {str(path)!r}: {str(parent)!r} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise TriggerHGQError(f"{what} {str(path)!r}: folder {str(parent)!r} is not writable")
            try:  # what access() cannot tell: a read-only or virtual file system (/proc), a full disk, root
                os.rmdir(tempfile.mkdtemp(prefix=".trigger-hgq-check-", dir=parent))
            except OSError as err:
                raise TriggerHGQError(f"{what} {str(path)!r}: cannot create it in {str(parent)!r} "
                                      f"({err.strerror or err})") from None
            return


def output_file(path: str | os.PathLike, what: str, suffixes: tuple[str, ...] = ()) -> Path:
    """A file that can be written: not a folder, with one of ``suffixes``, in a writable (or creatable) folder."""
    path = Path(path)
    if suffixes and path.suffix not in suffixes:
        raise TriggerHGQError(f"{what} {str(path)!r}: use a file name ending in {' or '.join(suffixes)}")
    if path.is_dir():
        raise TriggerHGQError(f"{what} {str(path)!r}: is a folder, expected a file name")
    _writable_parent(path, what)
    if path.exists() and not os.access(path, os.W_OK):
        raise TriggerHGQError(f"{what} {str(path)!r}: the existing file is not writable")
    return path


def output_dir(path: str | os.PathLike, what: str) -> Path:
    """A folder that can be written: an existing folder, or a new one in a writable (or creatable) folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise TriggerHGQError(f"{what} {str(path)!r}: is an existing file, not a folder")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise TriggerHGQError(f"{what} {str(path)!r}: folder is not writable")
    else:
        _writable_parent(path, what)
    return path
