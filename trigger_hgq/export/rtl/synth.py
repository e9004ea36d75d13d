"""Out-of-context logic synthesis of the written Verilog with yosys (``synth_xilinx``), and its netlist statistics.

Yosys 0.23 maps to the given Xilinx family's LUTs and flip-flops, but its carry chains are ``CARRY4`` cells even
for UltraScale+ (a ``CARRY8`` holds two). Sources are read with ``read_verilog -defer``: da4ml's static
``lookup_table.v`` reads a memory file that only table-based designs have, and deferring elaboration keeps
unused modules from being elaborated at all. Shift-register inference is off (``-nosrl``): da4ml's pipeline
registers form no chain it maps (no design synthesized here ever got an SRL cell), and on the 8-particle 8-bit Deep
Sets the pass alone took 380 s, 24% of yosys's time (docs/benchmarks.md, 2026-12-04).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter, defaultdict, deque
from pathlib import Path

from trigger_hgq.errors import TriggerHGQError

FAMILIES = ("xcup", "xcu", "xc7")
"""Xilinx families offered: UltraScale+, UltraScale, 7-series (yosys ``synth_xilinx -family``)."""

_SEQUENTIAL = re.compile(r"^(FD[A-Z]*|LD[A-Z]*|RAMB.*|DSP48.*|SRL.*|RAM\d+.*)$")
_LUT = re.compile(r"^LUT[1-6]$")
_LEVEL_CELLS = re.compile(r"^(LUT[1-6]|CARRY\d|MUXF\d)$")


def yosys_script(prj: Path, top: str, family: str) -> str:
    sources = sorted((prj / "src" / "static").glob("*.v")) + sorted((prj / "src").glob(f"{top}_stage*.v"))
    sources.append(prj / "src" / f"{top}.v")
    files = " ".join(os.path.relpath(p, prj / "synth") for p in sources)
    return (
        f"read_verilog -defer {files}\n"
        f"synth_xilinx -family {family} -top {top} -flatten -noiopad -noclkbuf -nosrl\n"
        "tee -q -o stat.txt stat\n"
        "write_json netlist.json\n"
    )


def parse_stat(text: str) -> dict[str, int]:
    """Cell counts by type from yosys ``stat`` output (the flattened top module)."""
    cells: dict[str, int] = {}
    in_cells = False
    for line in text.splitlines():
        if "Number of cells:" in line:
            in_cells = True
            continue
        m = re.match(r"^\s+(\S+)\s+(\d+)\s*$", line)
        if in_cells and m:
            cells[m.group(1)] = int(m.group(2))
        elif in_cells and line.strip():
            break
    if not cells:
        raise TriggerHGQError("yosys stat output lists no cells")
    return cells


def logic_depth(netlist: dict, top: str, timing=None) -> dict:
    """Longest register-to-register (or port) paths of a flattened yosys JSON netlist.

    Returns ``lut_levels`` (most LUTs on one path) and ``logic_levels`` (most LUT, CARRY and MUXF cells on one
    path, as Vivado counts logic levels; here in yosys's CARRY4 cells); with a ``timing``
    (:class:`~trigger_hgq.export.rtl.timing.TimingModel`) also ``critical_path_ns``, the slowest path's delay in
    that model (a MUXF counts as a carry cell).
    """
    cells = netlist["modules"][top]["cells"]
    driver: dict[int, str] = {}
    inputs: dict[str, list[int]] = {}
    for name, cell in cells.items():
        if _SEQUENTIAL.match(cell["type"]):
            continue
        dirs = cell.get("port_directions", {})
        ins = []
        for port, bits in cell["connections"].items():
            for b in bits:
                if not isinstance(b, int):
                    continue
                if dirs.get(port) == "output":
                    driver[b] = name
                else:
                    ins.append(b)
        inputs[name] = ins
    deps = {name: {driver[b] for b in ins if b in driver} for name, ins in inputs.items()}
    users: dict[str, list[str]] = defaultdict(list)
    for name, ds in deps.items():
        for d in ds:
            users[d].append(name)
    pending = {name: len(ds) for name, ds in deps.items()}
    queue = deque(name for name, n in pending.items() if n == 0)
    lut = dict.fromkeys(inputs, 0)
    level = dict.fromkeys(inputs, 0)
    delay = dict.fromkeys(inputs, 0.0)
    t_lut, t_carry = (timing.lut_level_ns, timing.carry4_ns) if timing is not None else (0.0, 0.0)
    done = 0
    while queue:
        name = queue.popleft()
        done += 1
        ctype = cells[name]["type"]
        is_lut = bool(_LUT.match(ctype))
        lut[name] = max((lut[d] for d in deps[name]), default=0) + is_lut
        level[name] = max((level[d] for d in deps[name]), default=0) + bool(_LEVEL_CELLS.match(ctype))
        step = t_lut if is_lut else (t_carry if _LEVEL_CELLS.match(ctype) else 0.0)
        delay[name] = max((delay[d] for d in deps[name]), default=0.0) + step
        for u in users[name]:
            pending[u] -= 1
            if pending[u] == 0:
                queue.append(u)
    if done != len(inputs):
        raise TriggerHGQError(f"netlist of {top!r} has a combinational loop")
    depth = {"lut_levels": max(lut.values(), default=0), "logic_levels": max(level.values(), default=0)}
    if timing is not None:
        depth["critical_path_ns"] = round(timing.overhead_ns + max(delay.values(), default=0.0), 3)
    return depth


def summarize(cells: dict[str, int]) -> dict:
    """Resource totals from cell counts: LUTs (LUT1..LUT6), FFs, CARRY4, MUXF, DSP, BRAM (RAMB36 = 1, RAMB18 = 0.5)."""
    count = Counter(cells)
    luts = {t: n for t, n in count.items() if _LUT.match(t)}
    return {
        "lut": sum(luts.values()),
        "ff": sum(n for t, n in count.items() if t.startswith("FD")),
        "carry4": sum(n for t, n in count.items() if t.startswith("CARRY")),
        "muxf": sum(n for t, n in count.items() if t.startswith("MUXF")),
        "dsp": sum(n for t, n in count.items() if t.startswith("DSP")),
        "bram": sum(n for t, n in count.items() if t.startswith("RAMB36")) + 0.5 * sum(
            n for t, n in count.items() if t.startswith("RAMB18")),
        "lut_by_inputs": dict(sorted(luts.items())),
        "cells": dict(sorted(count.items())),
    }


def synthesize(prj: str | os.PathLike, top: str, family: str = "xcup", timeout_s: float = 3600, timing=None) -> dict:
    """Run yosys on the project (log, script and ``stat.txt`` kept in ``<prj>/synth``); returns resource totals,
    logic depth (and the critical path's delay in the ``timing`` model) and yosys's wall time ``seconds``."""
    if family not in FAMILIES:
        raise TriggerHGQError(f"part_family={family!r}, expected one of {FAMILIES}")
    if shutil.which("yosys") is None:
        raise TriggerHGQError("yosys is not on PATH: install the Debian package 'yosys' (see .ci/apt-packages)")
    prj = Path(prj)
    work = prj / "synth"
    work.mkdir(exist_ok=True)
    (work / "synth.ys").write_text(yosys_script(prj, top, family))
    t0 = time.perf_counter()
    try:
        r = subprocess.run(["yosys", "-q", "-l", "yosys.log", "synth.ys"], cwd=work, capture_output=True, text=True,
                           timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as err:
        raise TriggerHGQError(f"yosys on {work}: timed out after {timeout_s:.0f} s") from err
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
        raise TriggerHGQError(f"yosys on {work} failed (exit {r.returncode}):\n{tail}")
    result = summarize(parse_stat((work / "stat.txt").read_text()))
    netlist_path = work / "netlist.json"
    result["seconds"] = round(time.perf_counter() - t0, 1)
    result.update(logic_depth(json.loads(netlist_path.read_text()), top, timing))
    netlist_path.unlink()
    result["family"] = family
    return result
