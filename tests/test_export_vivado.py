"""Synthesis report parsing on report files written here in hls4ml's documented project layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trigger_hgq.cli import main
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.export.report import REPORT_NAME
from trigger_hgq.export.vivado import parse_csynth_xml, parse_project

CSYNTH_VIVADO = """<?xml version="1.0" encoding="UTF-8"?>
<profile>
  <ReportVersion><Version>2020.1</Version></ReportVersion>
  <UserAssignments>
    <unit>ns</unit><ProductFamily>virtexuplus</ProductFamily><Part>xcvu13p-flga2577-2-e</Part>
    <TopModelName>myproject</TopModelName><TargetClockPeriod>5.00</TargetClockPeriod>
    <ClockUncertainty>0.62</ClockUncertainty><FlowTarget>vivado</FlowTarget>
  </UserAssignments>
  <PerformanceEstimates>
    <PipelineType>function</PipelineType>
    <SummaryOfTimingAnalysis><unit>ns</unit><EstimatedClockPeriod>4.360</EstimatedClockPeriod></SummaryOfTimingAnalysis>
    <SummaryOfOverallLatency>
      <unit>clock cycles</unit>
      <Best-caseLatency>9</Best-caseLatency><Average-caseLatency>9</Average-caseLatency>
      <Worst-caseLatency>11</Worst-caseLatency>
      <Best-caseRealTimeLatency>45.000 ns</Best-caseRealTimeLatency>
      <Worst-caseRealTimeLatency>55.000 ns</Worst-caseRealTimeLatency>
      <Interval-min>1</Interval-min><Interval-max>1</Interval-max>
    </SummaryOfOverallLatency>
  </PerformanceEstimates>
  <AreaEstimates>
    <Resources><BRAM_18K>2</BRAM_18K><DSP48E>12</DSP48E><FF>3456</FF><LUT>23456</LUT><URAM>0</URAM></Resources>
    <AvailableResources>
      <BRAM_18K>5376</BRAM_18K><DSP48E>12288</DSP48E><FF>3456000</FF><LUT>1728000</LUT><URAM>1280</URAM>
    </AvailableResources>
  </AreaEstimates>
</profile>
"""

CSYNTH_VITIS = CSYNTH_VIVADO.replace("<profile>", '<profile xmlns="http://www.xilinx.com/hls">').replace(
    "DSP48E>", "DSP>").replace("<Interval-max>1<", "<Interval-max>2<")

VSYNTH_RPT = """Copyright 1986-2020 Xilinx, Inc. All Rights Reserved.
| Tool Version : Vivado v.2020.1 (lin64) Build 2902540 Wed May 27 19:54:35 MDT 2020
| Design       : myproject
| Device       : xcvu13pflga2577-2
------------------------------------------------------------------------------------

Utilization Design Information

Table of Contents
-----------------
1. CLB Logic
2. BLOCKRAM
3. ARITHMETIC

1. CLB Logic
------------

+----------------------------+-------+-------+-----------+-------+
|          Site Type         |  Used | Fixed | Available | Util% |
+----------------------------+-------+-------+-----------+-------+
| CLB LUTs*                  | 21012 |     0 |   1728000 |  1.22 |
|   LUT as Logic             | 21012 |     0 |   1728000 |  1.22 |
|   LUT as Memory            |     0 |     0 |    791040 |  0.00 |
| CLB Registers              |  3021 |     0 |   3456000 |  0.09 |
|   Register as Flip Flop    |  3021 |     0 |   3456000 |  0.09 |
+----------------------------+-------+-------+-----------+-------+
* Warning! The Final LUT count, after physical optimizations and full implementation, is typically lower.


2. BLOCKRAM
-----------

+----------------+------+-------+-----------+-------+
|    Site Type   | Used | Fixed | Available | Util% |
+----------------+------+-------+-----------+-------+
| Block RAM Tile |  1.5 |     0 |      2688 |  0.06 |
|   RAMB36/FIFO* |    1 |     0 |      2688 |  0.04 |
|   RAMB18       |    1 |     0 |      5376 |  0.02 |
| URAM           |    0 |     0 |      1280 |  0.00 |
+----------------+------+-------+-----------+-------+


3. ARITHMETIC
-------------

+----------------+------+-------+-----------+-------+
|    Site Type   | Used | Fixed | Available | Util% |
+----------------+------+-------+-----------+-------+
| DSPs           |   10 |     0 |     12288 |  0.08 |
|   DSP48E2 only |   10 |       |           |  0.08 |
+----------------+------+-------+-----------+-------+
"""

VSYNTH_7SERIES = VSYNTH_RPT.replace("CLB LUTs*", "Slice LUTs*").replace("CLB Registers", "Slice Registers")

UTIL_ROWS = [
    ("Instance", "Module", "Total LUTs", "Logic LUTs", "LUTRAMs", "SRLs", "FFs", "RAMB36", "RAMB18", "URAM",
     "DSP Blocks"),
    ("design_1_wrapper", "(top)", "19876(1.15%)", "19800(1.1%)", "40(0.01%)", "36(0.0%)", "2890(0.08%)", "1(0.04%)",
     "1(0.02%)", "0(0.00%)", "8(0.07%)"),
    ("  design_1_i", "design_1", "19876(1.15%)", "19800(1.1%)", "40(0.01%)", "36(0.0%)", "2890(0.08%)", "1(0.04%)",
     "1(0.02%)", "0(0.00%)", "8(0.07%)"),
    ("    myproject_0", "design_1_myp_0", "19001(1.10%)", "19000(1.1%)", "1(0.00%)", "0(0.0%)", "2500(0.07%)",
     "1(0.04%)", "1(0.02%)", "0(0.00%)", "8(0.07%)"),
]


def _table(rows) -> str:
    """An ASCII table as Vivado's report_utilization -hierarchical writes it."""
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(len(rows[0]))]
    rule = "+" + "+".join("-" * w for w in widths) + "+"
    lines = [rule, "|" + "|".join(c.center(w) for c, w in zip(rows[0], widths, strict=True)) + "|", rule]
    lines += ["|" + "|".join(f" {c:<{w - 1}}" for c, w in zip(r, widths, strict=True)) + "|" for r in rows[1:]]
    return "\n".join([*lines, rule])


UTIL_RPT = (
    "Copyright 1986-2020 Xilinx, Inc. All Rights Reserved.\n| Design       : design_1_wrapper\n"
    "1. Utilization by Hierarchy\n---------------------------\n\n" + _table(UTIL_ROWS) + "\n"
)

COSIM_RPT = """================================================================
== Vivado HLS Report
================================================================
+ General Information:
    * Project:  myproject_prj
    * Solution: solution1
+------+---------+-----------+-----------+-----------+----------+----------+----------+
|      |         |   Latency (clock cycles)          |  Interval (clock cycles)        |
| RTL  | Status  |    min    |    avg    |    max    |    min   |   avg    |   max    |
+------+---------+-----------+-----------+-----------+----------+----------+----------+
|  VHDL|       NA|         NA|         NA|         NA|        NA|        NA|        NA|
|   Verilog|     Pass|          9|          9|         11|         1|         1|         1|
+------+---------+-----------+-----------+-----------+----------+----------+----------+
"""


def _project(root: Path, csynth: str | None = CSYNTH_VIVADO, vsynth: str | None = None, util: str | None = None,
             cosim: str | None = None) -> Path:
    (root / "project.tcl").parent.mkdir(parents=True, exist_ok=True)
    (root / "project.tcl").write_text('variable project_name\nset project_name "myproject"\nset clock_period 5\n')
    sol = root / "myproject_prj" / "solution1"
    if csynth:
        (sol / "syn" / "report").mkdir(parents=True)
        (sol / "syn" / "report" / "myproject_csynth.xml").write_text(csynth)
    if cosim:
        (sol / "sim" / "report").mkdir(parents=True)
        (sol / "sim" / "report" / "myproject_cosim.rpt").write_text(cosim)
    if vsynth:
        (root / "vivado_synth.rpt").write_text(vsynth)
    if util:
        (root / "util.rpt").write_text(util)
    return root


def test_csynth_only(tmp_path):
    out = parse_project(_project(tmp_path / "p", cosim=COSIM_RPT))
    assert out["resource_source"] == "csynth" and out["latency_source"] == "csynth"
    assert (out["lut"], out["ff"], out["dsp"], out["bram"]) == (23456, 3456, 12, 2)
    assert (out["latency_cycles"], out["latency_ns"], out["ii"]) == (11, 55.0, 1)
    assert out["synthesis"]["csynth"]["estimated_clock_ns"] == 4.36
    assert out["synthesis"]["cosim"] == {"rtl": "Verilog", "status": "Pass", "latency_min": 9, "latency_max": 11,
                                         "ii_min": 1, "ii_max": 1}


def test_vitis_csynth_spelling(tmp_path):
    path = tmp_path / "csynth.xml"
    path.write_text(CSYNTH_VITIS)
    parsed = parse_csynth_xml(path)
    assert parsed["dsp"] == 12 and parsed["ii"] == 2 and parsed["latency_best_cycles"] == 9


@pytest.mark.parametrize("vsynth", [VSYNTH_RPT, VSYNTH_7SERIES])
def test_vsynth_overrides_resources(tmp_path, vsynth):
    out = parse_project(_project(tmp_path / "p", vsynth=vsynth))
    assert out["resource_source"] == "vsynth" and out["latency_source"] == "csynth"
    assert (out["lut"], out["ff"], out["dsp"], out["bram"]) == (21012, 3021, 10, 3)
    assert out["latency_cycles"] == 11


def test_impl_overrides_vsynth(tmp_path):
    out = parse_project(_project(tmp_path / "p", vsynth=VSYNTH_RPT, util=UTIL_RPT))
    assert out["resource_source"] == "impl"
    assert (out["lut"], out["ff"], out["dsp"], out["bram"]) == (19876, 2890, 8, 3)
    plain = UTIL_RPT.replace("19876(1.15%)", "19876").replace("2890(0.08%)", "2890")
    out = parse_project(_project(tmp_path / "q", util=plain, csynth=None))
    assert out["resource_source"] == "impl" and out["latency_source"] is None and out["lut"] == 19876


def test_report_cli_fills_export_report(tmp_path, capsys):
    prj = _project(tmp_path / "p", vsynth=VSYNTH_RPT)
    exported = {"model_kind": "hgq", "bit_exact_fraction": 1.0, "n_checked": 10000, "ebops": 1234, "lut": 1,
                "dsp": 0, "ff": 1, "bram": 0, "latency_cycles": 3, "latency_ns": 15.0, "ii": 1,
                "resource_source": "estimate", "latency_source": "estimate", "layers": []}
    (prj / REPORT_NAME).write_text(json.dumps(exported))
    assert main(["hls-report", str(prj)]) == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert "deprecated" not in captured.err
    saved = json.loads((prj / REPORT_NAME).read_text())
    assert printed == saved
    assert set(exported) <= set(saved)
    assert saved["bit_exact_fraction"] == 1.0 and saved["ebops"] == 1234
    assert (saved["lut"], saved["dsp"], saved["resource_source"], saved["latency_cycles"]) == (21012, 10, "vsynth", 11)
    # a project synthesized without trigger-hgq gets the same fields; the old command name still works, with a note
    bare = _project(tmp_path / "bare")
    assert main(["report", str(bare)]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert "deprecated, use `trigger-hgq hls-report`" in captured.err
    assert set(exported) <= set(report) and report["bit_exact_fraction"] is None and report["lut"] == 23456


def test_bad_reports_name_the_file(tmp_path):
    prj = _project(tmp_path / "p", csynth="<profile><broken")
    with pytest.raises(TriggerHGQError, match="myproject_csynth.xml"):
        parse_project(prj)
    empty = _project(tmp_path / "e", csynth=None)
    with pytest.raises(TriggerHGQError, match="no synthesis reports"):
        parse_project(empty)
    bad = _project(tmp_path / "b", vsynth="nothing useful here\n")
    with pytest.raises(TriggerHGQError, match="vivado_synth.rpt"):
        parse_project(bad)
