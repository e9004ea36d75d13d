"""Selection on the RTL route (budget.implementation: rtl), the comparison's RTL ratios and which candidates take
the RTL route (export.rtl)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trigger_hgq.comparison import compare, rtl_ratios
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.fpga import Budget
from trigger_hgq.pipeline.config import PipelineConfig
from trigger_hgq.rtl_plan import merge_rtl, rtl_candidates, rtl_settings
from trigger_hgq.selection import rtl_view, select

CONFIG = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / "jet_tagging.yaml"


def model(name, method, acc, cycles, lut, ebops=10_000, rtl=None, dsp=0):
    m = {"name": name, "method": method, "accuracy": acc, "val_accuracy": acc, "latency_cycles": cycles, "lut": lut,
         "dsp": dsp,
         "ebops": ebops, "bit_exact_fraction": 1.0, "resource_source": "estimate"}
    if rtl is not None:
        r_lut, r_cycles, r_exact = rtl
        m["yosys"] = {"lut": r_lut, "ff": 100, "carry": 10, "dsp": 0}
        m["rtl"] = {"latency_cycles": r_cycles, "bit_exact_fraction": r_exact, "n_checked": 1000}
    return m


def candidates():
    # HLS: q6 fits (14 cycles), h_big is too slow (24); RTL: h_big fits (6 cycles) and q6 is exact too
    return [model("q6", "qkeras", 0.750, 14, 150_000, 60_000, rtl=(40_000, 8, 1.0)),
            model("h_big", "hgq", 0.752, 24, 9_000, 5_000, rtl=(4_000, 6, 1.0)),
            model("h_small", "hgq", 0.700, 9, 2_000, 900, rtl=(1_500, 4, 1.0)),
            model("a", "autoqkeras", 0.760, 10, 30_000)]  # no RTL figures


def test_selection_uses_the_rtl_numbers():
    hls = select(candidates(), Budget(latency_ns=100, clock_ns=5))
    assert hls["selected"] == "a"  # HLS: the most accurate within 20 cycles
    models = candidates()
    rtl = select(models, Budget(latency_ns=100, clock_ns=5, implementation="rtl"))
    assert rtl["selected"] == "h_big"  # RTL: 6 cycles fit; 'a' has no RTL figures
    by = {m["name"]: m for m in models}
    assert by["a"]["budget_violations"] == ["no RTL figures (the RTL route did not run for this model: export.rtl)"]
    assert by["h_big"]["within_budget"] and by["h_big"]["lut_equiv"] == 9_000  # the model's own (HLS) LUT-equiv
    # a tight budget: 7 cycles; only RTL latencies decide
    models = candidates()
    tight = select(models, Budget(latency_ns=35, clock_ns=5, implementation="rtl"))
    assert tight["selected"] == "h_big" and not {m["name"]: m for m in models}["q6"]["within_budget"]
    # an RTL design that is not exact with its model does not fit
    models = candidates()
    models[1]["rtl"]["bit_exact_fraction"] = 0.99
    assert select(models, Budget(implementation="rtl"))["selected"] == "q6"
    models = candidates()
    models[0]["rtl"]["conversion_exact_fraction"] = 0.5  # converted QKeras model differs from the QKeras model
    assert rtl_view(models[0])["bit_exact_fraction"] == 0.5
    with pytest.raises(TriggerHGQError, match="budget.implementation"):
        Budget(implementation="vivado")


def test_comparison_gives_both_routes():
    comp = compare(candidates())
    row = next(r for r in comp["baselines"] if r["baseline"] == "q6")
    assert row["hgq_model"] == "h_big"
    assert row["lut_equiv_ratio"] == pytest.approx(150_000 / 9_000) and row["latency_ratio"] == pytest.approx(14 / 24)
    assert row["rtl_lut_ratio"] == pytest.approx(40_000 / 4_000)
    assert row["rtl_lut_equiv_ratio"] == pytest.approx(40_000 / 4_000)
    assert row["rtl_latency_ratio"] == pytest.approx(8 / 6)
    assert row["hls_source"] == "estimate"
    a = next(r for r in comp["baselines"] if r["baseline"] == "a")
    assert a["rtl_lut_ratio"] is None and a["rtl_latency_ratio"] is None


def test_rtl_candidates_follow_export_rtl():
    models = [{k: v for k, v in m.items() if k not in ("yosys", "rtl")} for m in candidates()]
    assert rtl_settings(2) == {"hgq": 2, "baselines": [], "matched": False, "hls_da": False}
    assert rtl_settings({"baselines": ["q6"], "hls_da": True})["hls_da"]
    assert rtl_settings(None)["hgq"] == 0
    assert rtl_candidates(rtl_settings(1), models) in (["h_big"], ["h_small"])
    both = rtl_candidates(rtl_settings({"baselines": ["q6"]}), models)
    assert both == ["q6", "h_big"]  # the baseline and the HGQ point matched to it
    assert rtl_candidates(rtl_settings({"baselines": "all", "matched": False}), models) == ["q6", "a"]
    with pytest.raises(TriggerHGQError, match="export.rtl.baselines.*'q9'"):
        rtl_candidates(rtl_settings({"baselines": ["q9"]}), models)
    for bad, key in (({"hgq": -1}, "export.rtl.hgq"), ({"baseline": []}, "export.rtl.baseline"),
                     ("yes", "export.rtl"), ({"baselines": "q6"}, "export.rtl.baselines")):
        with pytest.raises(TriggerHGQError, match=key):
            rtl_settings(bad)
    with pytest.raises(TriggerHGQError) as info:
        rtl_settings({"hgq": "two"}, "config p.yaml")
    assert str(info.value) == "config p.yaml: key 'export.rtl.hgq': expected an integer >= 0, got 'two'"
    merged = merge_rtl(models, [{"name": "q6", "yosys": {"lut": 5}, "rtl": {"latency_cycles": 3}}])
    assert merged[0]["yosys"] == {"lut": 5} and "yosys" not in merged[1] and "yosys" not in models[0]


def test_shipped_profiles_take_the_6bit_baseline_through_rtl():
    for profile in ("default", "full"):
        cfg = PipelineConfig.load(CONFIG, profile=profile)
        settings = rtl_settings(cfg.section("export").get("rtl"))
        assert settings["matched"] and settings["hgq"] >= 1
        assert settings["baselines"] == "all" or "jet_tagger_6bit" in settings["baselines"]
        assert cfg.budget.implementation == "hls"


def test_report_renders_both_routes_and_the_rtl_table(tmp_path):
    from report_data import make_report

    from trigger_hgq.report import validate_report, write_report

    report = make_report()
    by = {m["name"]: m for m in report["models"]}
    hgq = by[report["comparison"]["hgq_model"]]
    for name, lut, cycles, exact in (("qkeras_6b", 24_000, 7, 1.0), (hgq["name"], 3_000, 4, 1.0),
                                     ("qkeras_4b", 9_000, 5, 0.98)):
        by[name]["yosys"] = {"lut": lut, "ff": 900, "carry": 400, "dsp": 0, "lut_levels": 8, "seconds": 12.5}
        by[name]["rtl"] = {"latency_cycles": cycles, "latency_ns": 5.0 * cycles, "bit_exact_fraction": exact,
                           "n_checked": 10000, "conversion_exact_fraction": None if name == hgq["name"] else 1.0,
                           "marked": exact < 1.0, "adders_per_stage": 5, "max_lut_levels": 9,
                           "longest_stage_lut_levels": 8, "critical_path_ns": 4.7, "meets_clock": True}
    by["float"]["rtl"] = {"skipped": "a float model has no exact fixed-point form"}
    by["qkeras_6b"]["hls_da"] = {"lut": 21_500, "dsp": 0, "latency_cycles": 9, "bit_exact_fraction": 1.0,
                                 "n_checked": 10000, "resource_source": "estimate"}
    for row in report["comparison"]["baselines"]:
        row.update(rtl_ratios(by[row["baseline"]], hgq))
    report["budget"]["implementation"] = "hls"
    rep = validate_report(report)
    six = next(r for r in rep["comparison"]["baselines"] if r["baseline"] == "qkeras_6b")
    assert six["rtl_lut_ratio"] == pytest.approx(8.0) and six["rtl_latency_ratio"] == pytest.approx(7 / 4)
    assert rep["models"][0]["rtl"]["latency_cycles"] is None  # optional keys of a skipped entry: null
    write_report(report, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "### Both implementation routes" in md and "### Open-source RTL route" in md
    routes = md.split("### Both implementation routes", 1)[1]
    line = next(ln for ln in routes.splitlines() if ln.startswith("| qkeras_6b |") and "8.00\u00d7" in ln)
    assert "1.75\u00d7" in line and "estimate" in line
    assert "skipped: a float model has no exact fixed-point form" in md
    assert "98.00% (10,000) (marked)" in md and "8 / 9" in md
    assert "Figures checked**: HLS route" in md
    assert "21,500 / 9 (100% (10,000))" in md
    html = (tmp_path / "report.html").read_text()
    assert "Both implementation routes" in html and "Open-source RTL route" in html
