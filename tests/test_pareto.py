"""Pure Pareto logic (no TensorFlow): dominance on (accuracy, EBOPs) and thinning of a front in log(EBOPs)."""

from __future__ import annotations

import subprocess
import sys

from trigger_hgq.pareto import dominates, thin_front


def test_dominates_needs_no_worse_in_both_and_better_in_one():
    a = {"acc": 0.8, "ebops": 100}
    assert dominates(a, {"acc": 0.7, "ebops": 100}, "acc")
    assert dominates(a, {"acc": 0.8, "ebops": 200}, "acc")
    assert not dominates(a, dict(a), "acc")  # equal points do not dominate each other
    assert not dominates(a, {"acc": 0.9, "ebops": 200}, "acc")  # a trade-off


def test_thin_front_keeps_both_ends_and_spreads_in_log_ebops():
    points = [{"ebops": e} for e in (1000, 1, 10, 11, 100, 12)]
    assert thin_front(points, 10) == sorted(points, key=lambda p: p["ebops"])
    assert [p["ebops"] for p in thin_front(points, 2)] == [1, 1000]
    assert [p["ebops"] for p in thin_front(points, 4)] == [1, 10, 100, 1000]


def test_pareto_imports_no_tensorflow():
    code = "import sys, trigger_hgq.pareto; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
