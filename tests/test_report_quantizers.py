"""Per-layer quantization of the QKeras and AutoQKeras models in report.json, report.md and report.html; the
HGQ overflow counts in the schema."""

from __future__ import annotations

import json

import pytest
from report_data import make_report

from trigger_hgq.report import ReportSchemaError, validate_report, write_report


def _uniform(bits: int) -> dict:
    q = f"quantized_bits({bits},0,0,alpha=1)"
    dense = {"kernel": q, "bias": q, "activation": None}
    return {"input_quantizer": {"kernel": None, "bias": None, "activation": "quantized_bits(16,5,0,alpha=1)",
                                "units": None},
            "fc1": {**dense, "units": 64}, "fc1_relu": {"kernel": None, "bias": None,
                                                        "activation": f"quantized_relu({bits},0)", "units": None}}


def test_quantizers_are_rendered_side_by_side(tmp_path):
    report = make_report()
    for m in report["models"]:
        if m["name"] == "qkeras_6b":
            m["quantizers"] = _uniform(6)
        if m["name"] == "autoqkeras_t0":
            m["quantizers"] = _uniform(6)
            m["quantizers"]["fc1"] = {"kernel": "quantized_bits(3,0,1,alpha=1)",
                                      "bias": "quantized_bits(8,3,1,alpha=1)", "activation": None, "units": 32}
            m["autoqkeras"] = {"trials": 6, "best_trial": "03", "search_val_accuracy": 0.69,
                               "search_test_accuracy": 0.688, "retrained_epochs": 30}
        if m["method"] == "hgq":
            m["overflow"] = {"margin_bits": 1, "test_rows_outside_calibration": 2, "test_rows_wrapping": 0,
                             "test_class_flips": 0}
    written = write_report(report, tmp_path)
    saved = json.loads(written["report.json"].read_text())
    assert saved["models"][4]["autoqkeras"]["retrained_epochs"] == 30
    md = written["report.md"].read_text()
    section = md.split("## Per-layer quantization (QKeras, AutoQKeras)")[1].split("##")[0]
    rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]]
            for ln in section.splitlines() if ln.startswith("| ") and "Model" not in ln}
    assert rows == {"qkeras_6b": ["75.48%", "16", "w6/b6 x64", "6"],
                    "autoqkeras_t0": ["75.02%", "16", "w3/b8 x32", "6"]}
    assert "Per-layer quantization" in written["report.html"].read_text()


def test_overflow_counts_are_checked():
    report = make_report()
    hgq = next(m for m in report["models"] if m["method"] == "hgq")
    hgq["overflow"] = {"margin_bits": 1, "test_rows_outside_calibration": "two", "test_rows_wrapping": 0,
                       "test_class_flips": 0}
    with pytest.raises(ReportSchemaError, match="test_rows_outside_calibration"):
        validate_report(report)
