"""The RTL route's timing model: what fits one clock period on UltraScale+, and the netlist's longest stage."""

from __future__ import annotations

import pytest

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.export.rtl.synth import logic_depth
from trigger_hgq.export.rtl.timing import ULTRASCALE_PLUS, TimingModel, check_timing, next_adders_per_stage


def test_limits_at_common_clocks():
    # (5 ns - 0.5 ns overhead) / 0.5 ns per LUT level = 9 levels; (5 - 0.5) ns / 1 ns per adder = 4 adders
    # (5 ns - 0.5 ns overhead) / 0.5 ns per LUT level = 9 levels; 5 ns / 1 ns per adder = 5 adders
    assert ULTRASCALE_PLUS.max_lut_levels(5.0) == 9
    assert ULTRASCALE_PLUS.adders_per_stage(5.0) == 4
    assert ULTRASCALE_PLUS.max_lut_levels(2.5) == 4 and ULTRASCALE_PLUS.adders_per_stage(2.5) == 2
    assert ULTRASCALE_PLUS.max_lut_levels(25.0) == 49
    # a stage of the allowed adders (one LUT level each plus a 16-bit carry) fits the period it was cut for
    adders = ULTRASCALE_PLUS.adders_per_stage(5.0)
    assert ULTRASCALE_PLUS.path_ns(adders, 4 * adders) <= 5.0
    slow = TimingModel(lut_level_ns=1.0, adder_ns=1.5)
    assert slow.max_lut_levels(5.0) == 4 and slow.adders_per_stage(5.0) == 3
    with pytest.raises(TriggerHGQError, match="clock_ns"):
        ULTRASCALE_PLUS.max_lut_levels(0.0)


def test_check_timing_flags_a_stage_beyond_the_limit():
    ok = check_timing({"lut_levels": 9, "critical_path_ns": 4.9}, 5.0)
    assert ok["meets_clock"] and ok["max_lut_levels"] == 9 and ok["longest_stage_lut_levels"] == 9
    assert not check_timing({"lut_levels": 10, "critical_path_ns": 4.9}, 5.0)["meets_clock"]
    assert not check_timing({"lut_levels": 6, "critical_path_ns": 5.3}, 5.0)["meets_clock"]
    assert check_timing({"lut_levels": 10}, 10.0)["meets_clock"]  # 19 levels fit 10 ns


def _chain(types: list[str]) -> dict:
    """A netlist FF -> types[0] -> ... -> FF, each cell reading the previous one's output bit."""
    cells = {"ff_in": {"type": "FDRE", "connections": {"D": [1], "Q": [2]},
                       "port_directions": {"D": "input", "Q": "output"}}}
    bit = 2
    for n, ctype in enumerate(types):
        cells[f"c{n}"] = {"type": ctype, "connections": {"I0": [bit], "O": [bit + 1]},
                          "port_directions": {"I0": "input", "O": "output"}}
        bit += 1
    cells["ff_out"] = {"type": "FDRE", "connections": {"D": [bit], "Q": [bit + 1]},
                       "port_directions": {"D": "input", "Q": "output"}}
    return {"modules": {"top": {"cells": cells}}}


def test_netlist_critical_path_in_the_model():
    netlist = _chain(["LUT6", "CARRY4", "CARRY4", "LUT3", "LUT2"])
    depth = logic_depth(netlist, "top", ULTRASCALE_PLUS)
    assert depth["lut_levels"] == 3 and depth["logic_levels"] == 5
    assert depth["critical_path_ns"] == pytest.approx(0.5 + 3 * 0.5 + 2 * 0.05)
    assert "critical_path_ns" not in logic_depth(netlist, "top")
    long_stage = logic_depth(_chain(["LUT6"] * 10), "top", ULTRASCALE_PLUS)
    assert not check_timing(long_stage, 5.0)["meets_clock"]


def test_timing_closure_cuts_finer_until_the_stage_fits():
    over = check_timing({"lut_levels": 11, "critical_path_ns": 6.35}, 5.0)
    assert next_adders_per_stage(5, over) == 3  # 5 * min(9/11, 5/6.35) = 3.9 -> 3
    slightly = check_timing({"lut_levels": 10, "critical_path_ns": 5.0}, 5.0)
    assert next_adders_per_stage(4, slightly) == 3  # at least one fewer
    assert next_adders_per_stage(4, check_timing({"lut_levels": 8, "critical_path_ns": 4.6}, 5.0)) is None
    assert next_adders_per_stage(1, over) is None  # nothing left to cut
