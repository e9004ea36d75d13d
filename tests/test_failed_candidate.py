"""One failing candidate does not stop a run: it is recorded in report.json ``failed``, left out of the selection,
marked in the report, the other candidates finish, and the run exits with code 4."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from hgq_models import mlp_batchnorm

import trigger_hgq as th
from trigger_hgq.convert.io import save_model
from trigger_hgq.export.candidate import csim_failure
from trigger_hgq.export.report import read_report
from trigger_hgq.pipeline.config import PipelineConfig
from trigger_hgq.pipeline.run import EXIT_CANDIDATE_FAILED, Run
from trigger_hgq.report.content import failed_text

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "pipelines" / "configs" / "jet_tagging.yaml"


class PreparedRun(Run):
    """The real export, RTL and report stages (and their resume keys) on candidates trained by the fixture: the
    data and training stages return what the fixture made instead of training."""

    def __init__(self, *args, prepared: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.prepared = prepared

    def data(self):
        return self.prepared["data"]

    def baselines(self, data):
        return {"models": []}

    def autoqkeras(self, data):
        return {"models": []}

    def hgq(self, data, baselines):
        return {"front": [], "models": self.prepared["candidates"]}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The shipped jets (a slice), a briefly trained HGQ tagger, and a candidate whose model file is corrupt."""
    from trigger_hgq.data import load_dataset

    tmp = tmp_path_factory.mktemp("failed_candidate")
    ds = load_dataset(REPO / "datasets" / "jets_hlf.yaml")
    arrays = {"x_train": ds.x_train[:3000], "y_train": ds.y_train[:3000], "x_val": ds.x_val[:1000],
              "y_val": ds.y_val[:1000], "x_test": ds.x_test[:1000], "y_test": ds.y_test[:1000]}
    np.savez(tmp / "arrays.npz", **arrays)
    keras.utils.set_random_seed(0)
    model = mlp_batchnorm()
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(arrays["x_train"], arrays["y_train"], batch_size=256, epochs=2, verbose=0,
              callbacks=[th.ResetRanges(), th.BetaScheduler(1e-6, kind="constant")])
    good = save_model(model, tmp / "good.keras")
    corrupt = tmp / "corrupt.keras"
    corrupt.write_bytes(Path(good).read_bytes()[:200])  # a truncated copy: not a readable model
    dataset = {"name": ds.name, "source": "datasets/jets_hlf.yaml", "features": ds.feature_names,
               "classes": ds.class_names, "n_train": 3000, "n_val": 1000, "n_test": 1000}
    candidates = [{"name": "hgq_good", "method": "hgq", "path": str(good), "pareto_front": True},
                  {"name": "hgq_corrupt", "method": "hgq", "path": str(corrupt), "pareto_front": True}]
    return {"data": {"arrays": str(tmp / "arrays.npz"), "dataset": dataset}, "candidates": candidates,
            "model": model, "x": arrays, "tmp": tmp}


@pytest.fixture(scope="module")
def finished(prepared):
    """The run's report-stage outputs, its folder, its config and its log."""
    import contextlib
    import io

    cfg = PipelineConfig.load(CONFIG, profile="quick", overrides={"export": {"n_check": 300, "rtl": 0,
                                                                              "workers": 1}})
    out_dir = prepared["tmp"] / "run"
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        out = PreparedRun.reading_inputs(cfg, out_dir, prepared=prepared).run()
    return out, out_dir, cfg, log.getvalue()


def test_a_failing_candidate_is_recorded_and_the_others_finish(prepared, finished, capsys):
    out, out_dir, cfg, log = finished
    assert "candidate hgq_corrupt FAILED in stage export" in log
    assert Run.exit_code(out) == EXIT_CANDIDATE_FAILED == 4
    assert "1 candidate(s) FAILED and are excluded from selection: hgq_corrupt" in capsys.readouterr().out
    report = json.loads((out_dir / "report.json").read_text())
    assert [m["name"] for m in report["models"]] == ["hgq_good"]  # finished, exported, bit-exact
    assert report["models"][0]["bit_exact_fraction"] == 1.0
    assert report["selected"] == "hgq_good" or report["closest"] == "hgq_good"
    (failed,) = report["failed"]
    assert {k: failed[k] for k in ("name", "method", "stage")} == {"name": "hgq_corrupt", "method": "hgq",
                                                                 "stage": "export"}
    assert "corrupt.keras" in failed["error"] and failed["first_mismatch_row"] is None
    assert (out_dir / "firmware" / "hgq_good" / "report.json").is_file()
    assert not (out_dir / "firmware" / "hgq_corrupt").exists()
    for name in ("report.md", "report.html"):
        text = (out_dir / name).read_text()
        assert "Failed" in text and "hgq_corrupt" in text
    assert "**Failed**: 1 candidate left out of the models and the selection: **hgq_corrupt** (HGQ, export: " in (
        out_dir / "report.md").read_text()
    # a resumed run skips every stage and still exits with 4
    again = PreparedRun.reading_inputs(cfg, out_dir, prepared=prepared).run()
    assert "stage export: done earlier, skipped" in capsys.readouterr().out
    assert Run.exit_code(again) == 4


def test_an_hgq_csim_mismatch_is_a_failure_with_its_row_and_layer(prepared, finished):
    model, x = prepared["model"], prepared["x"]
    th.calibrate(model, np.concatenate([x["x_train"], x["x_val"]]))
    # without hls4ml's bit-exact flow every tensor gets ap_fixed<8,3>: the firmware no longer equals the model
    narrow = {"Model": {"BitExact": False, "Precision": "ap_fixed<8,3>"}}
    exported = th.to_hls4ml(model, prepared["tmp"] / "narrow", x=x["x_test"][:300], hls_config=narrow,
                            require_exact=False)
    report = exported.report
    failure = csim_failure(report, "hgq")
    assert failure["stage"] == "export" and f"{report['bit_exact_fraction']:.4%}" in failure["error"]
    row = failure["first_mismatch_row"]
    assert isinstance(row, int) and failure["layer"] is not None
    assert failure["layer"] == report["check"]["first_differing_layer"]
    x_row = np.ascontiguousarray(x["x_test"][row: row + 1])
    firmware = np.asarray(exported.hls_model.predict(x_row), np.float64).reshape(1, -1)
    assert not np.array_equal(firmware, model.predict(x_row, verbose=0).astype(np.float64))  # that row differs
    assert csim_failure(report, "qkeras") is None  # a baseline's firmware is measured, not required exact
    good = read_report(finished[1] / "firmware" / "hgq_good")
    assert good["bit_exact_fraction"] == 1.0 and csim_failure(good, "hgq") is None
    text = failed_text([{"name": "hgq_x", "method": "hgq", **failure}])
    assert text.startswith("**Failed**: 1 candidate")
    assert f"first mismatching row {row}, layer {failure['layer']}" in text
