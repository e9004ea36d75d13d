"""The accuracy axes of the report's plots: where every decision lies, with low points on the edge."""

from __future__ import annotations

import pytest
from report_data import make_report

from trigger_hgq.report.plots import AXIS_MARGIN_PT, accuracy_axis, make_plots, shown_accuracy


def test_axis_starts_3_pt_below_the_least_accurate_baseline():
    report = make_report()
    bottom, top = accuracy_axis(report)
    # the least accurate baseline of report_data is qkeras_4b at 74.31%; the best model is float at 76.52%
    assert bottom == pytest.approx(74.31 - 3.0)
    assert AXIS_MARGIN_PT == 3.0
    assert 76.52 < top <= 77.1


def test_points_below_the_axis_sit_on_its_edge_and_only_there():
    bottom = 71.31
    assert shown_accuracy(0.448, bottom) == bottom
    assert shown_accuracy(0.7390, bottom) == pytest.approx(73.90)
    assert shown_accuracy(0.448, None) == pytest.approx(44.8)


def test_hgq_points_do_not_move_the_axis_down():
    report = make_report()
    low = dict(next(m for m in report["models"] if m["name"] == "hgq_b1e-04"), name="hgq_cheap", accuracy=0.448)
    report["models"].append(low)
    assert accuracy_axis(report)[0] == pytest.approx(74.31 - 3.0)


def test_captions_count_the_points_on_the_edge():
    pytest.importorskip("matplotlib")
    report = make_report()  # hgq_b1e-04 (71.02%) is below 71.31%
    plots, _notes = make_plots(report)
    caption = next(p.caption for p in plots if p.name == "accuracy_vs_ebops")
    assert "1 model(s) below it sit on its bottom edge" in caption
    report = make_report()
    report["models"] = [m for m in report["models"] if m["name"] != "hgq_b1e-04"]
    plots, _notes = make_plots(report)
    caption = next(p.caption for p in plots if p.name == "accuracy_vs_ebops")
    assert "bottom edge" not in caption


def test_without_baselines_the_axis_fits_every_model():
    report = make_report()
    report["models"] = [m for m in report["models"] if m["method"] == "hgq"]
    assert accuracy_axis(report)[0] is None
