"""A corpus of bad command lines: each must exit non-zero with one clear line naming the culprit, no traceback,
and nothing left behind.

The cases run through the real CLI (``trigger_hgq.cli.main``) in one subprocess (tests/bad_inputs_driver.py), so
TensorFlow is imported once for all of them; ``test_console_script_cases`` runs a few through the console entry
points themselves.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("bad_inputs_driver.py")
I = "{WS}/inputs"  # noqa: E741
QK = "{SHARED}/reference-models/qkeras_3layer.json"
FLOAT = f"{I}/float.h5"
HGQ = f"{I}/untrained_hgq.keras"
CONFIG = str(REPO / "pipelines" / "configs" / "jet_tagging.yaml")
LONG = "n" * 300  # a file name longer than any file system allows


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# (id, argv, texts the error must contain: the culprit file / flag / layer / key)
CASES: list[tuple[str, list[str], list[str]]] = [
    # ---------------------------------------------------------------- convert
    ("convert-missing-model", ["convert", f"{I}/missing.json", "{WS}/out.keras"], ["missing.json"]),
    ("convert-not-a-model", ["convert", f"{I}/not_a_model.h5", "{WS}/out.keras"], ["not_a_model.h5"]),
    ("convert-broken-json", ["convert", f"{I}/broken.json", "{WS}/out.keras"], ["broken.json"]),
    ("convert-other-models-weights", ["convert", QK, "{WS}/out.keras", "--weights",
                                      "{SHARED}/reference-models/KERAS_3layer_weights.h5"],
     ["KERAS_3layer_weights.h5", "'fc1'"]),
    ("convert-missing-weights", ["convert", QK, "{WS}/out.keras", "--weights", f"{I}/none.h5"], ["none.h5"]),
    ("convert-out-wrong-extension", ["convert", QK, "{WS}/out.txt"], ["out.txt", ".keras"]),
    ("convert-out-is-folder", ["convert", QK, f"{I}/dir.keras"], ["dir.keras", "folder"]),
    ("convert-out-under-file", ["convert", QK, f"{I}/a_file/sub/out.keras"], ["a_file", "not a folder"]),
    ("convert-out-uncreatable", ["convert", QK, "/proc/x/y/out.keras"], ["'/proc/x/y/out.keras'", "'/proc'"]),
    ("convert-out-name-too-long", ["convert", QK, f"{{WS}}/{LONG}.keras"], [f"{LONG}.keras: File name too long"]),
    ("convert-range-reversed", ["convert", QK, "{WS}/out.keras", "--input-range", "1", "-1"], ["--input-range"]),
    ("convert-range-nan", ["convert", QK, "{WS}/out.keras", "--input-range", "nan", "1"], ["--input-range LO"]),
    ("convert-negative-lr-scale", ["convert", QK, "{WS}/out.keras", "--lr-scale", "-2"], ["--lr-scale"]),
    ("convert-inf-beta", ["convert", QK, "{WS}/out.keras", "--beta", "inf"], ["--beta"]),
    ("convert-negative-beta", ["convert", QK, "{WS}/out.keras", "--beta", "-1e-6"], ["--beta"]),
    ("convert-input-f-not-number", ["convert", QK, "{WS}/out.keras", "--input-f", "ten"], ["--input-f"]),
    # ---------------------------------------------------------------- export
    ("export-untrained-hgq", ["export", HGQ, "{WS}/prj"], ["'inq'", "never trained or calibrated"]),
    ("export-untrained-hgq-with-data", ["export", HGQ, "{WS}/prj", "--data", f"{I}/good.npy"],
     ["'inq'", "--calibrate"]),
    ("export-data-wrong-shape", ["export", FLOAT, "{WS}/prj", "--data", f"{I}/wrong_shape.npy"],
     ["wrong_shape.npy", "shape (20, 7)", "16"]),
    ("export-calibrate-wrong-shape", ["export", HGQ, "{WS}/prj", "--calibrate", "--data", f"{I}/wrong_shape.npy"],
     ["wrong_shape.npy", "shape"]),
    ("export-data-1d", ["export", FLOAT, "{WS}/prj", "--data", f"{I}/flat.npy"], ["flat.npy", "shape (16,)"]),
    ("export-data-nan", ["export", FLOAT, "{WS}/prj", "--data", f"{I}/nan.npy"], ["nan.npy", "NaN", "row 3"]),
    ("export-data-inf", ["export", FLOAT, "{WS}/prj", "--data", f"{I}/inf.npy"], ["inf.npy", "row 7"]),
    ("export-calibrate-nan", ["export", HGQ, "{WS}/prj", "--calibrate", "--data", f"{I}/nan.npy"], ["nan.npy"]),
    ("export-data-strings", ["export", FLOAT, "{WS}/prj", "--data", f"{I}/strings.npy"], ["strings.npy", "dtype"]),
    ("export-data-empty", ["export", FLOAT, "{WS}/prj", "--data", f"{I}/empty.npy"], ["empty.npy", "no rows"]),
    ("export-data-missing", ["export", FLOAT, "{WS}/prj", "--data", f"{I}/none.npy"], ["none.npy"]),
    ("export-data-not-npy", ["export", FLOAT, "{WS}/prj", "--data", f"{I}/text.npy"], ["text.npy"]),
    ("export-data-is-folder", ["export", FLOAT, "{WS}/prj", "--data", f"{I}/data_dir"], ["data_dir"]),
    ("export-npz-key", ["export", FLOAT, "{WS}/prj", "--data", f"{I}/two.npz", "--data-key", "nope"],
     ["two.npz", "'nope'"]),
    ("export-npz-ambiguous", ["export", FLOAT, "{WS}/prj", "--data", f"{I}/two.npz"], ["two.npz", "--data-key"]),
    ("export-into-regular-file", ["export", FLOAT, f"{I}/existing_project"], ["existing_project", "existing file"]),
    ("export-under-file", ["export", FLOAT, f"{I}/a_file/prj"], ["a_file", "not a folder"]),
    ("export-out-uncreatable", ["export", FLOAT, "/proc/x/y/prj"], ["'/proc/x/y/prj'", "'/proc'"]),
    ("export-out-name-too-long", ["export", FLOAT, f"{{WS}}/{LONG}"], [f"{LONG}: File name too long"]),
    ("export-into-user-folder", ["export", FLOAT, f"{I}/user_folder"], ["user_folder", "not an hls4ml project"]),
    ("export-clock-inf", ["export", FLOAT, "{WS}/prj", "--clock-ns", "inf"], ["--clock-ns"]),
    ("export-clock-zero", ["export", FLOAT, "{WS}/prj", "--clock-ns", "0"], ["--clock-ns"]),
    ("export-reuse-zero", ["export", FLOAT, "{WS}/prj", "--reuse-factor", "0"], ["--reuse-factor"]),
    ("export-n-check-negative", ["export", FLOAT, "{WS}/prj", "--n-check", "-3"], ["--n-check"]),
    ("export-calibrate-without-data", ["export", HGQ, "{WS}/prj", "--calibrate"], ["--calibrate", "--data"]),
    ("export-hls-config-list", ["export", FLOAT, "{WS}/prj", "--hls-config", f"{I}/list.json"], ["list.json"]),
    ("export-hls-config-broken", ["export", FLOAT, "{WS}/prj", "--hls-config", f"{I}/broken.json"],
     ["broken.json"]),
    ("export-missing-model", ["export", f"{I}/none.keras", "{WS}/prj"], ["none.keras"]),
    ("export-bad-backend", ["export", FLOAT, "{WS}/prj", "--backend", "Quartus9"], ["--backend"]),
    ("export-bad-project-name", ["export", FLOAT, "{WS}/prj", "--project-name", "my-project"], ["my-project"]),
    # ---------------------------------------------------------------- pipeline
    ("pipeline-latency-inf", ["pipeline", "--latency-budget-ns", "inf"], ["--latency-budget-ns inf"]),
    ("pipeline-latency-nan", ["pipeline", "--latency-budget-ns", "nan"], ["--latency-budget-ns nan"]),
    ("pipeline-clock-zero", ["pipeline", "--clock-ns", "0"], ["--clock-ns"]),
    ("pipeline-lut-fraction-2", ["pipeline", "--lut-fraction", "2"], ["--lut-fraction"]),
    ("pipeline-dsp-fraction-negative", ["pipeline", "--dsp-fraction", "-0.1"], ["--dsp-fraction"]),
    ("pipeline-out-is-file", ["pipeline", "--out", f"{I}/a_file"], ["--out", "a_file", "existing file"]),
    ("pipeline-out-under-file", ["pipeline", "--out", f"{I}/a_file/run"], ["--out", "a_file"]),
    ("pipeline-scheduler-nobody", ["pipeline", "--out", "{WS}/run", "--scheduler", "tcp://127.0.0.1:{PORT}"],
     ["--scheduler", "{PORT}"]),
    ("pipeline-scheduler-garbage", ["pipeline", "--out", "{WS}/run", "--scheduler", "not an address"],
     ["--scheduler"]),
    ("pipeline-bare-root", ["pipeline", "--out", "{WS}/run", "--data", f"{I}/bare.root"], ["bare.root", "card"]),
    ("pipeline-card-bad-key", ["pipeline", "--out", "{WS}/run", "--data", f"{I}/bad_key_card.yaml"], ["splitt"]),
    ("pipeline-card-missing-file", ["pipeline", "--out", "{WS}/run", "--data", f"{I}/missing_file_card.yaml"],
     ["no_such_jets.root"]),
    ("pipeline-card-missing-branch", ["pipeline", "--out", "{WS}/run", "--data", f"{I}/missing_branch_card.yaml"],
     ["missing_branch_card.yaml", "jets_hlf.root", "tree 'jets'", "'j_no_such_branch'"]),
    ("pipeline-card-not-yaml", ["pipeline", "--out", "{WS}/run", "--data", f"{I}/not_yaml.yaml"], ["not_yaml.yaml"]),
    ("pipeline-data-missing", ["pipeline", "--out", "{WS}/run", "--data", f"{I}/none.yaml"], ["--data", "none.yaml"]),
    ("pipeline-data-folder", ["pipeline", "--out", "{WS}/run", "--data", f"{I}/data_dir"], ["--data", "data_dir"]),
    ("pipeline-config-missing", ["pipeline", "--out", "{WS}/run", "--config", f"{I}/none.yaml"], ["none.yaml"]),
    ("pipeline-config-unknown-key", ["pipeline", "--out", "{WS}/run", "--config", f"{I}/unknown_key.yaml"],
     ["'colour'"]),
    ("pipeline-config-inf-budget", ["pipeline", "--out", "{WS}/run", "--config", f"{I}/inf_budget.yaml"],
     ["budget.latency_ns"]),
    ("pipeline-config-string-budget", ["pipeline", "--out", "{WS}/run", "--config", f"{I}/string_budget.yaml"],
     ["budget.clock_ns", "'fast'"]),
    ("pipeline-config-bad-rows", ["pipeline", "--out", "{WS}/run", "--config", f"{I}/bad_rows.yaml"],
     ["max_train_rows"]),
    ("pipeline-config-bad-rtl", ["pipeline", "--out", "{WS}/run", "--config", f"{I}/bad_rtl.yaml"],
     ["bad_rtl.yaml: key 'export.rtl.hgq': expected an integer >= 0, got -1"]),
    ("pipeline-config-budget-fraction", ["pipeline", "--out", "{WS}/run", "--config", f"{I}/lut_fraction.yaml"],
     ["lut_fraction.yaml: key 'budget.lut_fraction': expected a number <= 1.0"]),
    ("pipeline-baseline-config-bad-value", ["pipeline", "--out", "{WS}/run", "--config",
                                            f"{I}/with_bad_baseline.yaml"],
     ["bad_baseline.yaml: key 'training.epochs': expected an integer >= 1, got 'many'"]),
    ("pipeline-autoqkeras-config-bad-mode", ["pipeline", "--out", "{WS}/run", "--config", f"{I}/with_bad_search.yaml"],
     ["bad_search.yaml: key 'mode': expected one of \"random\" | \"bayesian\" | \"hyperband\", got 'grid'"]),
    ("pipeline-card-bad-value", ["pipeline", "--out", "{WS}/run", "--data", f"{I}/bad_value_card.yaml"],
     ["bad_value_card.yaml: key 'constituents.max_particles': expected an integer >= 1, got 'abc'"]),
    ("pipeline-particles-on-features-card", ["pipeline", "--out", "{WS}/run", "--config",
                                             f"{I}/particles_on_features_card.yaml"],
     ["particles_on_features_card.yaml: key 'n_particles': 16 particles, but dataset card", "jets_hlf.yaml has no "
      "'constituents'"]),
    ("pipeline-too-many-particles", ["pipeline", "--out", "{WS}/run", "--config", f"{I}/too_many_particles.yaml"],
     ["too_many_particles.yaml: key 'n_particles': 128 particles, more than the 64 of dataset card",
      "jets_constituents.yaml (its constituents.max_particles)"]),
    ("pipeline-mean-over-24-particles", ["pipeline", "--out", "{WS}/run", "--config", f"{I}/mean_over_24.yaml"],
     ["mean_over_24.yaml: key 'n_particles': 24 is not a power of two", "deepsets_float.yaml takes a mean over the "
      "particles (layers[3], global_average_pooling)"]),
    ("pipeline-particle-models-without-n", ["pipeline", "--out", "{WS}/run", "--config",
                                            f"{I}/particles_without_n.yaml"],
     ["deepsets_float.yaml: key 'input_shape': [null, 7] does not fit the data's input shape [16] (inputs "
      "(particles, features) come with a pipeline config's n_particles)"]),
    ("pipeline-mirrors-without-particles", ["pipeline", "--out", "{WS}/run", "--config",
                                            f"{I}/mirrors_on_features.yaml"],
     ["mirrors_on_features.yaml: key 'mirrors': the mirrors act on particles; set n_particles"]),
    ("pipeline-mirrors-bad-plane", ["pipeline", "--out", "{WS}/run", "--config", f"{I}/mirrors_bad_plane.yaml"],
     ["mirrors_bad_plane.yaml: key 'mirrors[1]': expected one of \"phi\" | \"eta\", got 'z'"]),
    ("pipeline-mirrors-twice", ["pipeline", "--out", "{WS}/run", "--config", f"{I}/mirrors_twice.yaml"],
     ["mirrors_twice.yaml: key 'mirrors': ['phi', 'phi'] names a plane twice"]),
    ("pipeline-deepsets-on-features", ["pipeline", "--out", "{WS}/run", "--config", f"{I}/deepsets_on_features.yaml"],
     ["deepsets_8bit.yaml: key 'input_shape': [null, 7] does not fit the data's input shape [16]"]),
    ("pipeline-config-not-yaml", ["pipeline", "--out", "{WS}/run", "--config", f"{I}/not_yaml.yaml"],
     ["not_yaml.yaml"]),
    ("pipeline-verbose-with-value", ["pipeline", "--out", "{WS}/run", "--verbose=2"], ["--verbose"]),
    ("pipeline-bad-profile", ["pipeline", "--out", "{WS}/run", "--profile", "huge"], ["--profile"]),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, shared) -> dict:
    """Run every case in one subprocess; {case id: {code, stderr, new}}."""
    root = tmp_path_factory.mktemp("bad_inputs")
    port = str(_closed_port())
    cases = [[cid, [a.replace("{PORT}", port) for a in argv]] for cid, argv, _ in CASES]
    (root / "cases.json").write_text(json.dumps(cases))
    proc = subprocess.run(
        [sys.executable, str(DRIVER), str(root / "ws"), str(shared), str(root / "cases.json"), str(root / "out.json")],
        capture_output=True, text=True, timeout=600, cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((root / "out.json").read_text())
    clean = sum(_problems(results[cid], texts, port) == [] for cid, _, texts in CASES)
    print(f"\nbad-input corpus: {clean} / {len(CASES)} clean")
    return {"results": results, "port": port}


def _problems(result: dict, texts: list[str], port: str) -> list[str]:
    err = result["stderr"]
    problems = []
    if result["code"] == 0:
        problems.append("exit code 0")
    if "Traceback" in err:
        problems.append("traceback")
    for text in texts:
        if text.replace("{PORT}", port) not in err:
            problems.append(f"message lacks {text!r}")
    if result["new"]:
        problems.append(f"left behind {result['new']}")
    lines = [line for line in err.strip().splitlines() if not line.startswith(("usage:", " "))]  # argparse usage
    if len(lines) != 1:
        problems.append(f"{len(lines)} error lines")
    return problems


@pytest.mark.slow
@pytest.mark.parametrize("case_id, texts", [(cid, texts) for cid, _, texts in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_cleanly(corpus, case_id, texts):
    result = corpus["results"][case_id]
    assert _problems(result, texts, corpus["port"]) == [], (result["argv"], result["stderr"][-2000:])


def test_console_script_cases(tmp_path):
    """The real entry points: `python -m trigger_hgq.cli` and pipelines/jet_tagging.py (one process each)."""
    env = dict(os.environ)
    (tmp_path / "a_file").write_text("x\n")
    runs = [
        [sys.executable, "-m", "trigger_hgq.cli", "pipeline", "--latency-budget-ns", "inf", "--out", str(tmp_path)],
        [sys.executable, str(REPO / "pipelines" / "jet_tagging.py"), "--clock-ns", "nan",
         "--out", str(tmp_path / "run")],
    ]
    before = sorted(tmp_path.rglob("*"))
    for argv, flag in zip(runs, ("--latency-budget-ns inf", "--clock-ns nan"), strict=True):
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and flag in proc.stderr
        assert proc.stderr.strip().count("\n") == 0
    assert sorted(tmp_path.rglob("*")) == before
