"""End to end: the quick profile on the shipped dataset, resume, the latency budget, and Dask vs serial."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trigger_hgq.cli import main
from trigger_hgq.pipeline import tasks
from trigger_hgq.pipeline.executor import DaskExecutor, SerialExecutor
from trigger_hgq.report.schema import validate_report

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "pipelines" / "configs" / "jet_tagging.yaml"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pipeline") / "run"
    code = main(["pipeline", "--config", str(CONFIG), "--profile", "quick", "--out", str(out)])
    return code, out


@pytest.mark.slow
def test_quick_profile_writes_a_valid_bit_exact_report(quick_run):
    code, out = quick_run
    assert code == 0
    for name in ("report.json", "report.md", "report.html", "state.json"):
        assert (out / name).is_file()
    report = json.loads((out / "report.json").read_text())
    validate_report(report)
    methods = {m["method"] for m in report["models"]}
    assert methods == {"qkeras", "autoqkeras", "hgq"}  # the quick profile trains no float reference
    hgq = [m for m in report["models"] if m["method"] == "hgq"]
    assert len(hgq) >= 2
    for m in hgq:
        assert m["bit_exact_fraction"] == 1.0 and m["n_checked"] == 2000
        assert (Path(m["firmware_dir"]) / "report.json").is_file()
        over = m["overflow"]  # one integer bit of headroom: fewer test rows wrap than leave the calibrated range
        assert over["margin_bits"] == 1 and 0 <= over["test_rows_wrapping"] <= over["test_rows_outside_calibration"]
    # AutoQKeras: the uniform baselines' input quantizer, retrained as long as they are, firmware exact
    aq = next(m for m in report["models"] if m["method"] == "autoqkeras")
    assert aq["bit_exact_fraction"] == 1.0 and aq["autoqkeras"]["retrained_epochs"] == 4
    uniform = next(m for m in report["models"] if m["method"] == "qkeras")
    assert aq["quantizers"]["input_quantizer"] == uniform["quantizers"]["input_quantizer"]
    assert set(aq["quantizers"]) == set(uniform["quantizers"])
    for m in report["models"]:
        assert m["latency_cycles"] > 0 and m["lut"] > 0 and m["ebops"] > 0
        assert 0.0 <= m["bit_exact_fraction"] <= 1.0
    # the open-source RTL route ran for one HGQ model: yosys resources beside the estimate, Verilator exact
    rtl = [m for m in hgq if m.get("yosys")]
    assert len(rtl) == 1
    assert rtl[0]["yosys"]["lut"] > 0 and rtl[0]["yosys"]["dsp"] == 0
    assert rtl[0]["rtl"]["bit_exact_fraction"] == 1.0 and rtl[0]["rtl"]["n_checked"] == 2000
    assert rtl[0]["rtl"]["estimate_within_documented_error"], rtl[0]["rtl"]  # EBOPs within 2x of yosys LUTs
    assert rtl[0]["rtl"]["estimate_over_yosys_lut"] > 1  # hls4ml's multipliers cost more than da4ml's adders
    selected = next(m for m in report["models"] if m["name"] == report["selected"])
    assert selected["within_budget"] and selected["latency_cycles"] <= 20
    if selected["method"] == "hgq":
        assert selected["bit_exact_fraction"] == 1.0
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and report["selected"] in html


@pytest.mark.slow
def test_tight_budget_resumes_and_names_the_closest(quick_run, capsys):
    code, out = quick_run
    assert code == 0
    capsys.readouterr()
    code = main(["pipeline", "--config", str(CONFIG), "--profile", "quick", "--out", str(out),
                 "--latency-budget-ns", "10", "--strict"])
    log = capsys.readouterr().out
    assert code == 3
    for stage in ("data", "baselines", "autoqkeras", "hgq", "export", "rtl"):
        assert f"stage {stage}: done earlier, skipped" in log  # resumed: only the report is redone
    report = json.loads((out / "report.json").read_text())
    assert report["nothing_fits"] and report["selected"] is None
    assert report["closest"] in {m["name"] for m in report["models"]}
    assert f"closest model: {report['closest']}" in log
    assert not any(m["within_budget"] for m in report["models"])


@pytest.mark.slow
def test_dask_sweep_equals_serial(tmp_path):
    from trigger_hgq.data.synthetic import make_classification

    x, y = make_classification(3000, seed=0)
    arrays = tmp_path / "arrays.npz"
    np.savez(arrays, x_train=x[:2000], y_train=y[:2000], x_val=x[2000:2500], y_val=y[2000:2500],
             x_test=x[2500:], y_test=y[2500:])
    start = tmp_path / "start.keras"
    tasks.train_baseline_task(tasks.BaselineSpec(config=str(REPO / "pipelines/configs/baselines/jet_tagger_6bit.yaml"),
                                                 arrays=str(arrays), out=str(start), epochs=1))
    schedule = {"epochs": 3, "batch_size": 256, "learning_rate": 0.003, "beta0": 1e-6, "beta1": 1e-4,
                "kind": "loglinear"}

    def sweep(executor, tag):
        specs = [tasks.HgqSpec(start=str(start), warm_start=True, arrays=str(arrays), lr_scale=10,
                               schedule={**schedule, "seed": s}, front_dir=str(tmp_path / tag / f"seed{s}"))
                 for s in (0, 1)]
        done = []  # progress hook: called once per finished task, also from the Dask cluster
        try:
            runs = executor.map(tasks.train_hgq_task, specs, on_done=done.append)
        finally:
            executor.close()
        assert len(done) == len(specs) and all(r in runs for r in done)
        return [[(p["epoch"], p["ebops"], p["val_accuracy"]) for p in r["front"]] for r in runs]

    serial = sweep(SerialExecutor(), "serial")
    dask = sweep(DaskExecutor("local"), "dask")
    assert dask == serial
    assert all(len(front) >= 1 for front in serial) and serial[0] != serial[1]
