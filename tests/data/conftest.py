"""Fixtures for the data tests (the helpers live in rootfiles.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rootfiles import JET_CARD, jet_columns, write_card, write_root  # noqa: F401


@pytest.fixture
def jets_file(tmp_path: Path) -> Path:
    return write_root(tmp_path / "jets.root", jet_columns(300), basket_entries=100)


@pytest.fixture
def jets_card(tmp_path: Path, jets_file: Path) -> Path:
    return write_card(tmp_path / "jets.yaml", files=[jets_file.name], **JET_CARD)
