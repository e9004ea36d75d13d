"""The comparison rule on a synthetic front: matched on validation at equal accuracy, reported on test."""

from __future__ import annotations

import math

import pytest

from trigger_hgq.comparison import binomial_stderr, compare, match, matched_names


def model(name, method, val, test, ebops, **extra):
    return {"name": name, "method": method, "val_accuracy": val, "accuracy": test, "ebops": ebops, **extra}


BASE = model("q6", "qkeras", 0.7336, 0.7350, 147_000, yosys={"lut": 44_000, "dsp": 0},
             rtl={"latency_cycles": 9, "bit_exact_fraction": 1.0})
# A front whose test accuracies disagree with validation: the cheapest point is lucky on test, unlucky on val.
FRONT = [
    model("h_a", "hgq", 0.7290, 0.7360, 2_000),    # best test accuracy for its cost, but below on validation
    model("h_b", "hgq", 0.7330, 0.7330, 4_000),    # 0.06 pt under on validation: within 0.5 pt only
    model("h_c", "hgq", 0.7336, 0.7310, 6_000),    # exactly equal on validation: the match (tolerance 0)
    model("h_d", "hgq", 0.7360, 0.7380, 9_000, yosys={"lut": 5_500, "dsp": 0},
          rtl={"latency_cycles": 4, "bit_exact_fraction": 1.0}),
]


def test_match_is_on_validation_at_equal_accuracy():
    assert match(FRONT, BASE["val_accuracy"])["name"] == "h_c"
    assert match(FRONT, 0.7361) is None


def test_tolerance_is_configurable_and_defaults_to_zero():
    assert match(FRONT, BASE["val_accuracy"], tolerance=0.005)["name"] == "h_a"
    assert match(FRONT, BASE["val_accuracy"], tolerance=0.0006)["name"] == "h_b"
    assert match(FRONT, BASE["val_accuracy"], tolerance=0.0001)["name"] == "h_c"


def test_ties_in_ebops_go_to_the_higher_validation_accuracy_then_the_name():
    tied = [model("z", "hgq", 0.74, 0.70, 5_000), model("y", "hgq", 0.75, 0.69, 5_000),
            model("x", "hgq", 0.75, 0.69, 5_000)]
    assert match(tied, 0.73)["name"] == "x"
    assert match(tied[:2], 0.73)["name"] == "y"


def test_compare_reports_test_accuracies_with_their_standard_errors():
    comp = compare([BASE, *FRONT], n_test=20_000)
    assert comp["rule"] == "validation" and comp["tolerance"] == 0.0
    (row,) = comp["baselines"]
    assert row["hgq_model"] == "h_c"
    assert row["accuracy_hgq"] == 0.7310 and row["accuracy_baseline"] == 0.7350
    assert row["accuracy_baseline_stderr"] == pytest.approx(math.sqrt(0.735 * 0.265 / 20_000))
    assert row["ebops_ratio"] == pytest.approx(147_000 / 6_000)
    assert row["within_model"] == "h_a" and row["within_ebops_ratio"] == pytest.approx(147_000 / 2_000)
    assert row["rtl_lut_ratio"] is None  # h_c has no RTL figures


def test_rtl_ratios_lead_where_both_have_rtl_figures():
    base = dict(BASE, val_accuracy=0.7350)
    (row,) = compare([base, *FRONT], n_test=20_000)["baselines"]
    assert row["hgq_model"] == "h_d"
    assert row["rtl_lut_ratio"] == pytest.approx(44_000 / 5_500)
    assert row["rtl_latency_ratio"] == pytest.approx(9 / 4)


def test_no_point_reaches_the_baseline():
    base = dict(BASE, val_accuracy=0.75)
    (row,) = compare([base, *FRONT])["baselines"]
    assert row["hgq_model"] is None and row["ebops_ratio"] is None  # no ratios: not at equal accuracy
    # the row still names the most accurate HGQ point on validation (h_d, 73.60%) and how far below it is
    assert row["closest_hgq"] == "h_d" and row["closest_val_accuracy_hgq"] == 0.7360
    assert row["val_accuracy_below"] == pytest.approx(0.75 - 0.7360)
    assert row["note"] == ("no HGQ point reaches this validation accuracy; the most accurate is h_d, "
                           "1.40 points below on validation")
    assert matched_names([base, *FRONT], ["q6"]) == set()  # the closest point is not a match


def test_the_most_accurate_point_is_on_validation_ties_to_fewer_ebops():
    front = [model("lucky", "hgq", 0.70, 0.80, 1_000), model("wide", "hgq", 0.72, 0.71, 9_000),
             model("lean", "hgq", 0.72, 0.70, 3_000)]
    (row,) = compare([dict(BASE, val_accuracy=0.75), *front])["baselines"]
    assert row["closest_hgq"] == "lean" and row["val_accuracy_below"] == pytest.approx(0.03)


def test_failed_candidates_take_no_part():
    front = [dict(FRONT[2], failed={"stage": "export"}), *FRONT[3:]]
    (row,) = compare([BASE, *front])["baselines"]
    assert row["hgq_model"] == "h_d"
    assert matched_names([BASE, *front], ["q6"]) == {"h_d"}


def test_binomial_stderr():
    assert binomial_stderr(0.5, 10_000) == pytest.approx(0.005)
    assert binomial_stderr(0.7, None) is None


def test_report_leads_the_comparison_with_the_rtl_ratios_at_equal_accuracy(tmp_path):
    from report_data import make_report

    from trigger_hgq.report import write_report

    report = make_report()
    by = {m["name"]: m for m in report["models"]}
    for name, lut, cycles in (("qkeras_6b", 24_000, 8), ("hgq_b3e-06", 3_000, 4), ("hgq_b1e-06", 6_000, 5)):
        by[name]["yosys"] = {"lut": lut, "ff": 900, "carry": 400, "dsp": 0}
        by[name]["rtl"] = {"latency_cycles": cycles, "bit_exact_fraction": 1.0, "n_checked": 10000}
    by["qkeras_6b"]["val_accuracy"] = by["hgq_b3e-06"]["val_accuracy"]  # hgq_b3e-06 is the cheapest at equal val
    report["comparison"] = compare(report["models"], n_test=20_000)
    write_report(report, tmp_path)
    md = (tmp_path / "report.md").read_text()
    section = md.split("## HGQ against the baselines", 1)[1]
    first = section.strip().splitlines()[0]
    assert first.startswith("Equal accuracy here means: the cheapest HGQ model whose validation accuracy is at least "
                            "the baseline's.")
    assert "Against **qkeras_6b** at equal accuracy, **hgq_b3e-06**" in first
    assert "**hgq_b3e-06** needs **8.00\u00d7 fewer yosys LUTs** and 2.00\u00d7 fewer pipeline cycles" in first
