"""Selection under the trigger budget and the HGQ-vs-baseline comparison block."""

from __future__ import annotations

import pytest

from trigger_hgq.comparison import compare
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.fpga import Budget
from trigger_hgq.selection import select


def model(name, method, acc, cycles, lut=1000, dsp=0, ebops=10000, exact=1.0):
    return {"name": name, "method": method, "accuracy": acc, "val_accuracy": acc, "latency_cycles": cycles,
            "lut": lut, "dsp": dsp, "ebops": ebops, "bit_exact_fraction": exact}


def test_most_accurate_model_within_latency_is_selected():
    models = [model("q6", "qkeras", 0.74, 15), model("f16", "float", 0.76, 24),
              model("h1", "hgq", 0.745, 9, lut=300, ebops=900), model("h2", "hgq", 0.70, 6, lut=100, ebops=200)]
    result = select(models, Budget(latency_ns=100, clock_ns=5))
    assert result == {"selected": "h1", "closest": None, "nothing_fits": False, "selection_rule": "validation"}
    f16 = models[1]
    assert not f16["within_budget"] and f16["budget_violations"] == ["latency 24 cycles (120 ns) > 20 cycles (100 ns)"]
    assert [m["within_budget"] for m in models] == [True, False, True, True]


def test_nothing_fits_names_the_closest():
    models = [model("q6", "qkeras", 0.74, 15), model("h1", "hgq", 0.745, 9), model("h2", "hgq", 0.70, 4)]
    result = select(models, Budget(latency_ns=10, clock_ns=5))  # 2 cycles
    assert result == {"selected": None, "closest": "h2", "nothing_fits": True, "selection_rule": "validation"}


def test_lut_budget_and_bit_exactness_count():
    models = [model("big", "qkeras", 0.75, 10, lut=50_000, dsp=100), model("h", "hgq", 0.74, 8, exact=0.999),
              model("small", "qkeras", 0.73, 10, lut=2_000)]
    result = select(models, Budget(latency_ns=100, clock_ns=5, part="xcvu13p-flga2577-2-e", lut_fraction=0.01))
    assert result["selected"] == "small"
    assert models[0]["budget_violations"] == ["LUT 50000 > 17280 (1.0% of xcvu13p-flga2577-2-e)"]
    assert "not bit-exact" in models[1]["budget_violations"][0]
    assert models[0]["lut_equiv"] == 50_000 + 55 * 100


@pytest.mark.parametrize("kwargs, key", [({"latency_ns": 0}, "latency_ns"), ({"clock_ns": -1}, "clock_ns"),
                                         ({"lut_fraction": 2.0}, "lut_fraction")])
def test_bad_budget_is_named(kwargs, key):
    with pytest.raises(TriggerHGQError, match=f"budget.{key}"):
        Budget(**kwargs)


def test_budget_message_names_the_key():
    with pytest.raises(TriggerHGQError) as info:
        Budget(clock_ns="fast")
    assert str(info.value) == "key 'budget.clock_ns': expected a number, got 'fast'"
    with pytest.raises(TriggerHGQError, match="key 'budget.part': resources of 'xc7z020' unknown"):
        Budget(part="xc7z020", lut_fraction=0.1)
    assert Budget(part="xc7z020").latency_cycles == 20  # an unknown part is fine without resource fractions


def test_comparison_uses_cheapest_hgq_point_at_baseline_accuracy():
    models = [model("q6", "qkeras", 0.740, 15, lut=20000, dsp=10, ebops=60000),
              model("h_big", "hgq", 0.745, 10, lut=4000, ebops=8000),
              model("h_mid", "hgq", 0.737, 8, lut=2000, ebops=4000),  # within 0.5 points of 0.740
              model("h_small", "hgq", 0.70, 6, lut=500, ebops=1000)]
    assert compare(models)["baselines"][0]["hgq_model"] == "h_big"  # equal accuracy on validation (the default)
    block = compare(models, tolerance=0.005)
    row = block["baselines"][0]
    assert row["hgq_model"] == "h_mid"
    assert row["ebops_ratio"] == pytest.approx(15.0)
    assert row["lut_equiv_ratio"] == pytest.approx((20000 + 550) / 2000)
    assert row["latency_ratio"] == pytest.approx(15 / 8)
    assert block["hgq_model"] == "h_big"
