"""The timing model of the RTL route: what fits between two registers at the target clock, and a check of the
synthesized netlist against it.

Model (Xilinx UltraScale+, speed grade -2, figures rounded from the data sheet DS923 and typical routed paths):

- every register-to-register path pays ``overhead_ns`` = 0.5 ns (clock-to-out, setup, clock uncertainty);
- one LUT level (a LUT6 and the net to the next cell) costs ``lut_level_ns`` = 0.5 ns;
- a carry chain costs ``carry4_ns`` = 0.05 ns per 4 bits (yosys maps carries to CARRY4; a CARRY8 holds two);
- one adder level (input LUT, its net, a ~16-bit carry chain and the net out) costs ``adder_ns`` = 1.0 ns.

So at a period ``T`` a stage holds ``floor((T - overhead) / lut_level_ns)`` LUT levels (9 at 5 ns) and da4ml
pipelines with ``floor((T - overhead) / adder_ns)`` adder levels per stage (its ``latency_cutoff``; 4 at 5 ns): an
adder level is one LUT level plus carries, and requantization (relu, saturation muxes) adds LUT levels that
da4ml's latency model does not count, which is why the LUT limit leaves room above the adder count. Measured on
the jet taggers: 5 adder levels per stage gave 8-11 LUT levels (up to 6.4 ns in this model), 4 fit.
The pipeline depth (latency in cycles) follows from the adder depth of the dataflow divided by the adders per
stage. :func:`check_timing` compares yosys's longest register-to-register path (``lut_levels``, and its delay
in this model) with the limit, so a claimed latency in cycles can be checked: a stage beyond the limit would not
close timing at ``T`` and needs a longer period or more stages.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from trigger_hgq.errors import TriggerHGQError


@dataclass(frozen=True)
class TimingModel:
    """Delays (ns) of the target part's logic; see the module docstring."""

    overhead_ns: float = 0.5
    lut_level_ns: float = 0.5
    carry4_ns: float = 0.05
    adder_ns: float = 1.0
    part_family: str = "xcup"

    def max_lut_levels(self, clock_ns: float) -> int:
        """LUT levels that fit one clock period."""
        _check_clock(clock_ns)
        return max(1, math.floor((clock_ns - self.overhead_ns) / self.lut_level_ns + 1e-9))

    def adders_per_stage(self, clock_ns: float) -> int:
        """Adder levels per pipeline stage (da4ml's latency cutoff)."""
        _check_clock(clock_ns)
        return max(1, math.floor((clock_ns - self.overhead_ns) / self.adder_ns + 1e-9))

    def path_ns(self, lut_levels: int, carry4_cells: int) -> float:
        """Delay of one register-to-register path with that many LUT levels and CARRY4 cells."""
        return self.overhead_ns + lut_levels * self.lut_level_ns + carry4_cells * self.carry4_ns


ULTRASCALE_PLUS = TimingModel()


def _check_clock(clock_ns: float) -> None:
    if not clock_ns > 0:
        raise TriggerHGQError(f"clock_ns={clock_ns}: the clock period must be positive")


def check_timing(synthesis: dict, clock_ns: float, model: TimingModel = ULTRASCALE_PLUS) -> dict:
    """The longest stage of a synthesized design against the timing model at ``clock_ns``.

    ``synthesis`` holds yosys's ``lut_levels`` (most LUTs on one register-to-register path) and, when known,
    ``critical_path_ns`` (that path's delay in this model). Returns the limits, the longest stage and whether it
    fits (``meets_clock``).
    """
    limit = model.max_lut_levels(clock_ns)
    levels = int(synthesis["lut_levels"])
    path = synthesis.get("critical_path_ns")
    fits = levels <= limit and (path is None or path <= clock_ns + 1e-9)
    return {"clock_ns": clock_ns, "max_lut_levels": limit, "adders_per_stage": model.adders_per_stage(clock_ns),
            "longest_stage_lut_levels": levels, "critical_path_ns": path, "meets_clock": bool(fits),
            "model": asdict(model)}


def next_adders_per_stage(adders_per_stage: float, timing: dict) -> int | None:
    """Timing closure: fewer adder levels per stage when the longest stage did not fit (None: it fits, or one
    adder per stage already). Scales by how far the stage is over the limit (LUT levels or delay), at least one
    adder fewer, so one retry usually closes."""
    if timing["meets_clock"] or adders_per_stage <= 1:
        return None
    ratio = timing["max_lut_levels"] / max(timing["longest_stage_lut_levels"], 1)
    if timing.get("critical_path_ns"):
        ratio = min(ratio, timing["clock_ns"] / timing["critical_path_ns"])
    return max(1, min(math.ceil(adders_per_stage) - 1, math.floor(adders_per_stage * ratio)))
