"""Pipelined Verilog from a traced model: da4ml splits the dataflow into register stages and writes the project.

Layout of the project folder (da4ml's): ``src/<top>.v`` (pipeline), ``src/<top>_stage<N>.v`` (combinational
stages), ``src/<top>_wrapper.v`` (equal-width I/O fields for simulation), ``src/static/*.v`` (adder, negation,
mux modules), ``src/<top>.xdc`` (clock constraint), ``build_vivado_prj.tcl``, ``sim/`` (the C++ binder the
simulation builds) and ``model/pipeline.json`` (the dataflow).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.export.optional import da4ml
from trigger_hgq.export.rtl.timing import ULTRASCALE_PLUS
from trigger_hgq.fpga import DEFAULT_PART

ADDER_DELAY_NS = ULTRASCALE_PLUS.adder_ns
"""Delay budget of one adder level on UltraScale+ (carry chain plus routing); see :mod:`~.timing`."""


@dataclass
class RTLProject:
    """A written Verilog project.

    Attributes:
        path: project folder.
        top: top module name (``<top>_wrapper`` is the simulation wrapper).
        pipeline: the ``da4ml.cmvm.types.Pipeline`` written.
        n_stages: pipeline stages; registers sit at the input, between stages and at the output, so a sample
            captured at one clock edge appears at the output ``n_stages`` edges later (the latency; II = 1).
        adders_per_stage: adder levels allowed between two registers.
        da4ml_lut: da4ml's LUT estimate; da4ml_ff: pipeline register bits (its FF estimate).
    """

    path: Path
    top: str
    pipeline: object
    n_stages: int
    adders_per_stage: float
    da4ml_lut: float
    da4ml_ff: int


def _check_name(top: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,62}", top):
        raise TriggerHGQError(f"top module name {top!r}: use letters, digits and '_' (a Verilog identifier)")
    return top


def _patch_for_old_verilator(src: Path) -> None:
    """Our copy of da4ml's ``negative.v`` silences ``WIDTHTRUNC``, a lint code Verilator < 5.008 rejects as an
    error; ``WIDTH`` (known to every version, a superset) says the same."""
    for path in (src / "static").glob("*.v"):
        text = path.read_text()
        if "WIDTHTRUNC" in text:
            path.write_text(text.replace("WIDTHTRUNC", "WIDTH"))


def write_project(comb, out: str | os.PathLike, *, top: str = "hgq_model", clock_ns: float = 5.0,
                  adders_per_stage: float | None = None, part: str = DEFAULT_PART) -> RTLProject:
    """Pipeline ``comb`` at ``clock_ns`` and write the Verilog project to ``out`` (replaced atomically).

    ``adders_per_stage`` (default: the UltraScale+ timing model's, ``floor((clock_ns - 0.5 ns) / 1 ns)``; see
    :mod:`trigger_hgq.export.rtl.timing`) is da4ml's latency cutoff: the adder levels allowed between two
    registers.
    """
    VerilogModel = da4ml("da4ml.codegen").VerilogModel  # noqa: N806 (da4ml's class)
    to_pipeline = da4ml("da4ml.trace.pipeline").to_pipeline

    top = _check_name(top)
    if clock_ns <= 0:
        raise TriggerHGQError(f"clock_ns={clock_ns}: the clock period must be positive")
    cutoff = float(adders_per_stage) if adders_per_stage else float(ULTRASCALE_PLUS.adders_per_stage(clock_ns))
    if len(comb.ops) == 0:
        raise TriggerHGQError("the traced model has no operations (every output is constant)")
    pipeline = to_pipeline(comb, cutoff, verbose=False)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        VerilogModel(pipeline, top, tmp, part_name=part, clock_period=clock_ns).write()
        _patch_for_old_verilator(tmp / "src")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RTLProject(out, top, pipeline, len(pipeline.solutions), cutoff, float(comb.cost), int(pipeline.reg_bits))
