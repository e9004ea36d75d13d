"""The selection split: rows that neither training, early stopping nor the Pareto front saw, on which the
comparison matches each baseline with an HGQ point and the budget's selection picks its model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from trigger_hgq.comparison import compare, export_matches, pack_correct, paired_stderr, unpack_correct
from trigger_hgq.data import load_dataset, parse_card
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.fpga import Budget
from trigger_hgq.report.comparison_text import comparison_headline, comparison_intro
from trigger_hgq.selection import select

CARD = Path(__file__).resolve().parents[1] / "datasets" / "jets_hlf.yaml"


def shipped_card(split: dict):
    raw = yaml.safe_load(CARD.read_text())
    raw["split"] = split
    return parse_card(raw, source=CARD)


@pytest.fixture(scope="module")
def four_way():
    return load_dataset(shipped_card({"train": 0.6, "val": 0.2, "select": 0.1, "test": 0.1, "seed": 42}),
                        use_cache=False, standardize=False)


def rows(x: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in np.ascontiguousarray(x)}


def test_selection_rows_are_disjoint_from_train_val_and_test(four_way):
    ds = four_way
    parts = {s: rows(ds.split(s).x) for s in ("train", "val", "select", "test")}
    sizes = {s: len(ds.split(s)) for s in parts}
    assert sizes == {"train": 60_000, "val": 20_000, "select": 10_000, "test": 10_000}
    assert all(len(parts[s]) == sizes[s] for s in parts)  # no two jets share their 16 features
    names = list(parts)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not parts[a] & parts[b], (a, b)
    assert ds.info["split"]["select"] == 0.1


def test_a_selection_split_takes_its_rows_from_test_and_leaves_train_and_val_alone(four_way):
    three = load_dataset(shipped_card({"train": 0.6, "val": 0.2, "test": 0.2, "seed": 42}), use_cache=False,
                         standardize=False)
    assert len(three.select) == 0
    np.testing.assert_array_equal(three.x_train, four_way.x_train)
    np.testing.assert_array_equal(three.x_val, four_way.x_val)
    assert rows(three.x_test) == rows(four_way.x_select) | rows(four_way.x_test)


def test_fractions_must_add_up_and_the_error_names_the_key():
    with pytest.raises(TriggerHGQError, match=r"split.*train \+ val \+ select \+ test must be 1, got 1.1"):
        shipped_card({"train": 0.6, "val": 0.2, "select": 0.1, "test": 0.2})
    with pytest.raises(TriggerHGQError, match="split.select"):
        shipped_card({"train": 0.6, "val": 0.2, "select": -0.1, "test": 0.3})


def entry(name, method, val, sel, test, ebops, **extra):
    return {"name": name, "method": method, "val_accuracy": val, "select_accuracy": sel, "accuracy": test,
            "ebops": ebops, **extra}


BASE = entry("q6", "qkeras", 0.7300, 0.7250, 0.7260, 150_000)
# validation accuracies inflated by the front's choice (best of many checkpoints): on fresh rows the cheap points
# fall short of the baseline, only h_c reaches it
FRONT = [
    entry("h_a", "hgq", 0.7340, 0.7150, 0.7160, 2_000),
    entry("h_b", "hgq", 0.7360, 0.7230, 0.7230, 4_000),
    entry("h_c", "hgq", 0.7380, 0.7260, 0.7255, 7_000),
    entry("h_d", "hgq", 0.7400, 0.7290, 0.7300, 11_000),
]


def test_an_inflated_front_is_matched_on_the_selection_accuracies():
    comp = compare([BASE, *FRONT], n_test=10_000)
    assert comp["rule"] == "select"
    row = comp["baselines"][0]
    assert row["hgq_model"] == "h_c"  # on validation it would be h_a, 1.0 pt worse on test
    assert row["select_accuracy_hgq"] == 0.7260 and row["select_accuracy_baseline"] == 0.7250
    assert row["match_difference"] == pytest.approx(0.0010)
    assert compare([BASE, *FRONT], rule="validation")["baselines"][0]["hgq_model"] == "h_a"
    # the HGQ stage exports the points the select rule can match: at the baseline's accuracy, 0.1 pt above it
    # (calibration can move it) and within half a point (the labelled loose match)
    names = {p["name"] for p in export_matches(FRONT, [BASE], rule="select")}
    assert names == {"h_b", "h_c"}
    assert {p["name"] for p in export_matches(FRONT, [BASE], within=0.0, rule="select")} == {"h_c"}


def test_without_a_selection_split_the_match_stays_on_validation():
    plain = [{k: v for k, v in m.items() if k != "select_accuracy"} for m in (BASE, *FRONT)]
    comp = compare(plain)
    assert comp["rule"] == "validation" and comp["baselines"][0]["hgq_model"] == "h_a"


def test_none_reaching_the_baseline_on_selection_names_the_closest_and_the_gap():
    high = entry("f", "float", 0.75, 0.7400, 0.74, 500_000)
    row = compare([high, *FRONT])["baselines"][0]
    assert row["hgq_model"] is None and row["closest_hgq"] == "h_d"
    assert row["select_accuracy_below"] == pytest.approx(0.0110)
    assert "selection split" in row["note"]


def test_paired_standard_error_by_hand():
    a = np.array([1, 1, 0, 0, 1, 1], bool)
    b = np.array([1, 0, 0, 1, 1, 1], bool)
    # d = (0, 1, 0, -1, 0, 0): mean 0, variance 2/6
    assert paired_stderr(a, b) == pytest.approx(math.sqrt((2 / 6) / 6))
    assert paired_stderr(a, a) == 0.0
    # far below the two binomial errors combined when the models mostly agree
    rng = np.random.default_rng(0)
    x = rng.random(3000) < 0.73
    y = x.copy()
    flip = rng.choice(3000, 60, replace=False)
    y[flip] = ~y[flip]
    unpaired = math.sqrt(2 * 0.73 * 0.27 / 3000)
    assert paired_stderr(x, y) < unpaired / 3


def test_packed_correctness_round_trips_and_gives_the_rows_error():
    rng = np.random.default_rng(1)
    a, b = rng.random(1003) < 0.7, rng.random(1003) < 0.7
    assert np.array_equal(unpack_correct(pack_correct(a), 1003), a)
    base = {**BASE, "n_select": 1003, "select_correct": pack_correct(b)}
    front = [{**m, "n_select": 1003, "select_correct": pack_correct(a)} for m in FRONT]
    row = compare([base, *front])["baselines"][0]
    assert row["match_difference_stderr"] == pytest.approx(paired_stderr(a, b))


def test_the_budget_selection_ranks_on_the_selection_split_not_test():
    def fit(m):
        return {**m, "latency_cycles": 4, "lut": 100, "dsp": 0, "bit_exact_fraction": 1.0}

    # h_x is best on test, h_y on the selection rows: test only reports
    models = [fit(entry("h_x", "hgq", 0.74, 0.720, 0.735, 5_000)), fit(entry("h_y", "hgq", 0.73, 0.725, 0.730, 6_000))]
    result = select(models, Budget(latency_ns=100, clock_ns=5))
    assert result["selected"] == "h_y" and result["selection_rule"] == "select"


def test_report_names_the_rule_and_the_match_uncertainty():
    rtl = {"yosys": {"lut": 40_000, "dsp": 0}, "rtl": {"latency_cycles": 9, "bit_exact_fraction": 1.0}}
    hrtl = {"yosys": {"lut": 4_000, "dsp": 0}, "rtl": {"latency_cycles": 6, "bit_exact_fraction": 1.0}}
    rng = np.random.default_rng(2)
    a = rng.random(1500) < 0.72
    b = a.copy()
    b[:100] = ~b[:100]
    base = {**BASE, **rtl, "n_select": 1500, "select_correct": pack_correct(b)}
    front = [{**m, **hrtl, "n_select": 1500, "select_correct": pack_correct(a)} for m in FRONT]
    report = {"comparison": compare([base, *front], n_test=1500)}
    head = comparison_headline(report)
    assert head.startswith("Equal accuracy here means: the cheapest HGQ model whose selection-split accuracy is at "
                           "least the baseline's")
    assert "10.0\u00d7 fewer yosys LUTs" in head or "10\u00d7 fewer yosys LUTs" in head
    intro = comparison_intro(report)
    err = 100 * report["comparison"]["baselines"][0]["match_difference_stderr"]
    assert err > 0.5
    assert f"at most {err:.2f} points" in intro and "uncertain by more than half a point" in intro
