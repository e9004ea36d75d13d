"""atomic_path: the one temp-and-rename helper for writers that take a file name."""

from __future__ import annotations

import os

import numpy as np
import pytest

from trigger_hgq.atomic import atomic_path


def test_atomic_path_renames_with_a_new_files_mode(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "sub" / "arrays.npz") as tmp:
            assert tmp.suffix == ".npz" and tmp.parent == tmp_path / "sub" and tmp.name.startswith(".")
            np.savez(tmp, x=np.arange(3))
    finally:
        os.umask(old)
    out = tmp_path / "sub" / "arrays.npz"
    assert np.load(out)["x"].tolist() == [0, 1, 2]
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["arrays.npz"]


def test_atomic_path_leaves_the_old_file_and_nothing_else_on_error(tmp_path):
    final = tmp_path / "model.keras"
    final.write_text("old")
    with pytest.raises(RuntimeError, match="writer failed"), atomic_path(final) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert final.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]
