"""Streaming keeps memory flat: a file 10x larger than one step peaks within 1.5x of a one-step file
(allocations traced with tracemalloc, not time)."""

from __future__ import annotations

import tracemalloc

from rootfiles import JET_CARD, jet_columns, write_root

from trigger_hgq.data import parse_card, summarize

STEP = 4000


def _traced_peak(card) -> tuple[int, int]:
    tracemalloc.start()
    try:
        rows = summarize(card)["rows"]
        return rows, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_flat_as_the_file_grows(tmp_path):
    small = write_root(tmp_path / "one_step.root", jet_columns(STEP, max_particles=20), basket_entries=STEP // 4)
    big = write_root(tmp_path / "ten_steps.root", jet_columns(10 * STEP, seed=1, max_particles=20),
                     basket_entries=STEP // 4)
    card = dict(JET_CARD, step_size=STEP, constituents={
        "branches": {"pt": "c_pt", "eta": "c_eta", "phi": "c_phi"}, "max_particles": 16})
    _traced_peak(parse_card(dict(card, files=[str(small)])))  # warm-up: first-use allocations of the libraries
    rows_small, peak_small = _traced_peak(parse_card(dict(card, files=[str(small)])))
    rows_big, peak_big = _traced_peak(parse_card(dict(card, files=[str(big)])))
    assert (rows_small, rows_big) == (STEP, 10 * STEP)
    assert big.stat().st_size > 8 * small.stat().st_size
    ratio = peak_big / peak_small
    print(f"traced peak: one step {peak_small / 1e6:.1f} MB, ten steps {peak_big / 1e6:.1f} MB, ratio {ratio:.2f}")
    assert ratio <= 1.5, f"peak {peak_big / 1e6:.1f} MB vs {peak_small / 1e6:.1f} MB: ratio {ratio:.2f}"
