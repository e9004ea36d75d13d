"""Read the reports of a synthesized hls4ml project (Vivado HLS / Vitis HLS, Vivado synthesis and implementation).

Layout (hls4ml's Vivado/Vitis backends), relative to the project directory:

* ``project.tcl``: ``set project_name "<top>"`` (and clock period);
* ``<top>_prj/solution1/syn/report/<top>_csynth.xml``: HLS estimate (latency, II, resources);
* ``vivado_synth.rpt``: ``report_utilization`` after Vivado synthesis (``vsynth``);
* ``util.rpt``: hierarchical ``report_utilization`` after implementation (``impl``), the ``(top)`` row is used;
* ``<top>_prj/solution1/sim/report/<top>_cosim.rpt``: RTL co-simulation latency (recorded, not used for fields).

hls4ml's own report helpers print rather than return, need IPython for some, and break on some files; these
parsers return plain dicts and tolerate both Vivado (``DSP48E``, ``Slice LUTs``) and Vitis/UltraScale (``DSP``,
``CLB LUTs``) spellings. BRAM is counted in 18 Kb blocks (a 36 Kb tile counts 2).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from trigger_hgq.errors import TriggerHGQError


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    match = re.match(r"\s*([-+]?\d+(?:\.\d+)?)", str(text))
    return int(round(float(match.group(1)))) if match else None


def project_top(prj: Path) -> str:
    """The top function name from ``project.tcl`` (else the single ``*_prj`` folder)."""
    tcl = prj / "project.tcl"
    if tcl.is_file():
        match = re.search(r'set\s+project_name\s+"([^"]+)"', tcl.read_text())
        if match:
            return match.group(1)
    candidates = sorted(p.name[:-4] for p in prj.glob("*_prj") if p.is_dir())
    if len(candidates) == 1:
        return candidates[0]
    raise TriggerHGQError(f"project {prj}: no project.tcl naming the project and no single <name>_prj folder")


def clock_ns_of(prj: Path) -> float | None:
    tcl = prj / "project.tcl"
    if tcl.is_file():
        match = re.search(r"set\s+clock_period\s+([\d.]+)", tcl.read_text())
        if match:
            return float(match.group(1))
    return None


def parse_csynth_xml(path: Path) -> dict:
    """Latency, II, clock and resources of an HLS ``<top>_csynth.xml``."""
    try:
        text = path.read_text()
        root = ET.fromstring(re.sub(r'\sxmlns="[^"]+"', "", text, count=1))
    except (OSError, ET.ParseError) as err:
        raise TriggerHGQError(f"HLS report {path}: cannot be read ({err})") from err
    perf = root.find("./PerformanceEstimates")
    area = root.find("./AreaEstimates/Resources")
    if perf is None or area is None:
        raise TriggerHGQError(f"HLS report {path}: no PerformanceEstimates / AreaEstimates section")
    latency = perf.find("./SummaryOfOverallLatency")
    res = {child.tag: _int(child.text) for child in area}

    def get(node, tag):
        found = node.find(tag) if node is not None else None
        return found.text if found is not None else None

    target = get(root, "./UserAssignments/TargetClockPeriod")
    estimated = get(perf, "./SummaryOfTimingAnalysis/EstimatedClockPeriod")
    return {
        "latency_cycles": _int(get(latency, "./Worst-caseLatency")),
        "latency_best_cycles": _int(get(latency, "./Best-caseLatency")),
        "ii": _int(get(latency, "./Interval-max")),
        "target_clock_ns": float(target) if target else None,
        "estimated_clock_ns": float(estimated) if estimated else None,
        "lut": res.get("LUT"),
        "ff": res.get("FF"),
        "dsp": res.get("DSP", res.get("DSP48E")),
        "bram": res.get("BRAM_18K"),
        "uram": res.get("URAM"),
    }


_UTIL_ROWS = {
    "lut": ("CLB LUTs", "Slice LUTs"),
    "ff": ("CLB Registers", "Slice Registers"),
    "bram_tiles": ("Block RAM Tile",),
    "uram": ("URAM",),
    "dsp": ("DSPs", "DSP48E2", "DSP48E1", "DSP Slices"),
}


def parse_utilization(path: Path) -> dict:
    """Totals of a flat Vivado ``report_utilization`` (``vivado_synth.rpt``)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise TriggerHGQError(f"utilization report {path}: cannot be read ({err})") from err
    found: dict[str, float] = {}
    for line in lines:
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        name = cells[0].rstrip("*").strip()
        for key, names in _UTIL_ROWS.items():
            if name in names and key not in found:
                try:
                    found[key] = float(cells[1])
                except ValueError:
                    pass
    if "lut" not in found:
        raise TriggerHGQError(f"utilization report {path}: no 'CLB LUTs' / 'Slice LUTs' row")
    return {
        "lut": int(found["lut"]),
        "ff": int(found.get("ff", 0)),
        "dsp": int(found.get("dsp", 0)),
        "bram": int(round(2 * found.get("bram_tiles", 0.0))),
        "uram": int(found.get("uram", 0)),
    }


def parse_hier_utilization(path: Path) -> dict:
    """The top row of a hierarchical ``report_utilization`` (``util.rpt`` after implementation)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise TriggerHGQError(f"utilization report {path}: cannot be read ({err})") from err
    header = None
    for line in lines:
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None and "Instance" in cells and any("LUT" in c for c in cells):
            header = cells
            continue
        if header is not None and len(cells) == len(header):
            row = dict(zip(header, cells, strict=True))

            def col(*names, row=row):
                for n in names:
                    if n in row:
                        return _int(row[n]) or 0
                return 0

            return {
                "lut": col("Total LUTs"),
                "ff": col("FFs"),
                "dsp": col("DSP Blocks", "DSP48 Blocks", "DSPs"),
                "bram": 2 * col("RAMB36") + col("RAMB18"),
                "uram": col("URAM"),
            }
    raise TriggerHGQError(f"utilization report {path}: no hierarchical table with an 'Instance' / 'Total LUTs' header")


def parse_cosim(path: Path) -> dict:
    """RTL co-simulation status and latency from ``<top>_cosim.rpt``."""
    for line in path.read_text().splitlines():
        if ("Verilog" in line or "VHDL" in line) and line.strip().startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 8 and cells[1] != "NA":
                return {"rtl": cells[0], "status": cells[1], "latency_min": _int(cells[2]),
                        "latency_max": _int(cells[4]), "ii_min": _int(cells[5]), "ii_max": _int(cells[7])}
    return {}


def parse_project(prj: str | Path) -> dict:
    """Report fields of a synthesized project: resources from impl > vsynth > csynth, latency from csynth.

    Returns a dict with ``lut``, ``dsp``, ``ff``, ``bram``, ``latency_cycles``, ``latency_ns``, ``ii``,
    ``resource_source``, ``latency_source`` and the raw parsed sections (``csynth``, ``vsynth``, ``impl``,
    ``cosim``).
    """
    prj = Path(prj)
    if not prj.is_dir():
        raise TriggerHGQError(f"project directory {prj} does not exist")
    top = project_top(prj)
    sol_dirs = sorted((prj / f"{top}_prj").glob("solution*"))
    sections: dict[str, dict] = {}
    for sol in sol_dirs:
        xml = sol / "syn" / "report" / f"{top}_csynth.xml"
        if xml.is_file():
            sections["csynth"] = parse_csynth_xml(xml)
            cosim = sol / "sim" / "report" / f"{top}_cosim.rpt"
            if cosim.is_file():
                sections["cosim"] = parse_cosim(cosim)
            break
    if (prj / "vivado_synth.rpt").is_file():
        sections["vsynth"] = parse_utilization(prj / "vivado_synth.rpt")
    if (prj / "util.rpt").is_file():
        sections["impl"] = parse_hier_utilization(prj / "util.rpt")
    if not sections.get("csynth") and not sections.get("vsynth") and not sections.get("impl"):
        raise TriggerHGQError(
            f"project {prj}: no synthesis reports ({top}_prj/solution1/syn/report/{top}_csynth.xml, "
            "vivado_synth.rpt or util.rpt): run the HLS build first"
        )
    out: dict = {"resource_source": None, "latency_source": None}
    for source in ("impl", "vsynth", "csynth"):
        if source in sections:
            sec = sections[source]
            out.update({k: sec.get(k) for k in ("lut", "dsp", "ff", "bram")}, resource_source=source)
            break
    if "csynth" in sections:
        cs = sections["csynth"]
        clock = cs.get("target_clock_ns") or clock_ns_of(prj)
        out.update(latency_cycles=cs["latency_cycles"], ii=cs["ii"], latency_source="csynth",
                   latency_ns=round(cs["latency_cycles"] * clock, 3) if clock and cs["latency_cycles"] is not None
                   else None)
    out["synthesis"] = sections
    return out
