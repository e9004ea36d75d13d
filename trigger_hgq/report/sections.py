"""The report's sections, in the order report.md and report.html show them, with their headings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    key: str
    """What the writers' renderers are keyed by."""
    title: str
    """The heading (the HTML page shows the selection as its verdict card, without one)."""


SECTIONS: tuple[Section, ...] = (
    Section("selection", "Selection"),
    Section("budget", "Budget"),
    Section("dataset", "Dataset"),
    Section("comparison", "HGQ against the baselines"),
    Section("models", "Models"),
    Section("plots", "Plots"),
    Section("quantizers", "Per-layer quantization (QKeras, AutoQKeras)"),
    Section("timings", "Stage timings"),
)
SECTION_KEYS: tuple[str, ...] = tuple(s.key for s in SECTIONS)
TITLES: dict[str, str] = {s.key: s.title for s in SECTIONS}


def in_order(renderers: dict, writer: str) -> list:
    """``renderers`` (section key -> renderer) in section order; a writer must render every section, no other."""
    if set(renderers) != set(SECTION_KEYS):
        raise ValueError(f"{writer}: renders {sorted(renderers)}, the sections are {list(SECTION_KEYS)}")
    return [renderers[key] for key in SECTION_KEYS]
