"""What a user of a run sees: fair ROC/AUC, a comparison that names its models, readable output files, a CLI that
starts fast, progress on long steps."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from report_data import CLASSES, make_report

from trigger_hgq.atomic import write_json_atomic
from trigger_hgq.progress import Progress, is_terminal, keras_progress, track
from trigger_hgq.report import roc_per_class, write_report
from trigger_hgq.report.summarize import class_scores, is_probability_rows
from trigger_hgq.verbosity import ENV, keras_verbose, quiet_warnings

REPO = Path(__file__).resolve().parents[1]


# --- ROC / AUC on class probabilities -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def teacher():
    """A 5-class linear tagger with a separate softmax layer, its logit model, inputs and noisy labels."""
    import keras

    from trigger_hgq.models import logits_model

    keras.utils.set_random_seed(7)
    inp = keras.Input((8,))
    out = keras.layers.Activation("softmax")(keras.layers.Dense(5, name="dense")(inp))
    model = keras.Model(inp, out)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3000, 8)).astype(np.float32)
    logits = logits_model(model).predict(x, verbose=0)
    labels = np.argmax(logits + rng.gumbel(size=logits.shape) * 1.5, axis=1)  # a softmax classifier's draws
    return model, logits_model(model), x, labels


def test_logit_model_and_its_softmax_model_give_the_same_auc(teacher):
    from trigger_hgq.models import outputs_logits

    model, logit_model, x, labels = teacher
    assert not outputs_logits(model, "qkeras") and outputs_logits(logit_model, "qkeras")
    assert outputs_logits(model, "hgq")  # an HGQ model outputs logits, whatever its layers look like
    probs, logits = model.predict(x, verbose=0), logit_model.predict(x, verbose=0)
    auc_p, _ = roc_per_class(labels, probs, CLASSES, logits=outputs_logits(model, "qkeras"))
    auc_l, _ = roc_per_class(labels, logits, CLASSES, logits=outputs_logits(logit_model, "qkeras"))
    for cls in CLASSES:
        assert auc_l[cls] == pytest.approx(auc_p[cls], abs=2e-5)  # float32 softmax rounding only
    # left to decide by itself, roc_per_class recognises both kinds of output
    assert roc_per_class(labels, logits, CLASSES)[0] == auc_l
    assert roc_per_class(labels, probs, CLASSES)[0] == auc_p
    # the old behaviour (ROC on the raw logits) ranks differently and gives different AUCs
    raw, _ = roc_per_class(labels, logits, CLASSES, logits=False)
    assert max(abs(raw[c] - auc_l[c]) for c in CLASSES) > 5e-3


def test_a_fused_softmax_dense_layer_counts_as_probabilities():
    import keras

    from trigger_hgq.models import ends_in_softmax

    inp = keras.Input((3,))
    fused = keras.Model(inp, keras.layers.Dense(4, activation="softmax")(inp))
    plain = keras.Model(inp, keras.layers.Dense(4)(inp))
    assert ends_in_softmax(fused) and not ends_in_softmax(plain)


def test_class_scores_decides_between_logits_and_probabilities():
    probs = np.array([[0.2, 0.8], [1.0, 0.0]])
    logits = np.array([[2.0, -1.0], [0.1, 0.3]])
    assert is_probability_rows(probs) and not is_probability_rows(logits)
    assert not is_probability_rows(np.array([[0.2, 0.2]]))  # in [0, 1] but not summing to 1
    assert np.array_equal(class_scores(probs), probs)
    expect = np.log(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(class_scores(logits), expect, rtol=1e-12)
    # large logits: log-softmax keeps the order where a float softmax would saturate to exact ties at 1.0
    big = np.array([[800.0, 0.0], [900.0, 0.0]])
    assert class_scores(big, logits=True)[0, 1] > class_scores(big, logits=True)[1, 1]


# --- the comparison names the HGQ model of each row ---------------------------------------------------------------


def _md_rows(md: str, section: str) -> dict[str, list[str]]:
    part = md.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in part.splitlines() if ln.startswith("|")][2:]
    return {cells[0]: cells for cells in ([c.strip() for c in ln.strip("|").split("|")] for ln in lines)}


def test_comparison_rows_name_their_hgq_model_matched_on_validation(tmp_path):
    from trigger_hgq.comparison import compare

    report = make_report()
    by_name = {m["name"]: m for m in report["models"]}
    by_name["float"]["accuracy"] = by_name["float"]["val_accuracy"] = 0.80  # no HGQ point reaches this one
    report["comparison"] = compare(report["models"], n_test=report["dataset"]["n_test"])
    write_report(report, tmp_path)
    md = (tmp_path / "report.md").read_text()
    html = (tmp_path / "report.html").read_text()
    rows = _md_rows(md, "HGQ against the baselines")
    used = set()
    hgq = [m for m in report["models"] if m["method"] == "hgq"]
    for b in report["comparison"]["baselines"]:
        cells = rows[b["baseline"]]
        base = by_name[b["baseline"]]
        if b["baseline"] == "float":
            # no HGQ point reaches it: the row names the most accurate one and how far below it is
            best = max(hgq, key=lambda m: m["val_accuracy"])
            gap = f"{100 * (0.80 - best['val_accuracy']):.2f} pt below on validation"
            assert b["hgq_model"] is None and b["closest_hgq"] == best["name"] and cells[11] == "\u2014"
            assert cells[4] == f"none reaches it; most accurate: {best['name']}, {gap}"
            continue
        h = by_name[b["hgq_model"]]
        used.add(h["name"])
        reaching = [m for m in hgq if m["val_accuracy"] >= base["val_accuracy"]]
        assert h["ebops"] == min(m["ebops"] for m in reaching)  # the cheapest at equal validation accuracy
        assert cells[4].startswith(h["name"]) and h["name"] in html
        assert cells[6].startswith(f"{100 * h['accuracy']:.2f}% \u00b1 ")  # test accuracy with its error
        assert cells[2] == f"{100 * base['val_accuracy']:.2f}%"
        assert f"{h['ebops']:,}" == cells[10]
    assert len(used) >= 3  # the rows really use different HGQ models
    intro = "accuracy is at least the baseline's; both are then reported on the test split"
    assert intro in md and intro.replace("'", "&#x27;") in html


def test_comparison_row_must_name_an_hgq_model():
    from trigger_hgq.report import ReportSchemaError, validate_report

    report = make_report()
    report["comparison"]["baselines"][0]["hgq_model"] = "qkeras_6b"
    with pytest.raises(ReportSchemaError, match=r"comparison.baselines\[0\].hgq_model.*is a qkeras model"):
        validate_report(report)


# --- output files get the permissions of the umask -----------------------------------------------------------------


def test_report_and_state_files_get_the_umask_permissions(tmp_path):
    from trigger_hgq.data.scaler import Standardizer
    from trigger_hgq.pipeline.state import RunState

    old = os.umask(0o022)
    try:
        written = write_report(make_report(), tmp_path)
        RunState(tmp_path).record("data", "k", {"arrays": "a.npz"}, 1.0)
        Standardizer(["a", "b"], np.zeros(2), np.ones(2)).save(tmp_path / "data" / "scaler.json")
        os.umask(0o027)  # another umask, another mode: the mode follows the umask, it is not fixed
        write_json_atomic(tmp_path / "sub" / "x.json", {"a": 1})
    finally:
        os.umask(old)
    paths = [*written.values(), tmp_path / "state.json", tmp_path / "data" / "scaler.json"]
    assert any(p.suffix == ".png" for p in paths) and len(paths) > 5
    for p in paths:
        assert oct(p.stat().st_mode & 0o777) == oct(0o644), p
    assert oct((tmp_path / "sub" / "x.json").stat().st_mode & 0o777) == oct(0o640)


# --- the CLI imports TensorFlow only for commands that need it ----------------------------------------------------


def _modules_after(args: list[str], tmp_path: Path) -> tuple[int, bool, str]:
    code = ("import sys\nfrom trigger_hgq.cli import main\n"
            f"try:\n    rc = main({args!r})\nexcept SystemExit as e:\n    rc = e.code\n"
            "print('RC', rc, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RC ")][-1].split()
    return int(line[1]), line[2] == "True" or line[3] == "True", proc.stdout + proc.stderr


def test_help_and_data_commands_do_not_import_tensorflow(tmp_path):
    empty = tmp_path / "empty.root"
    empty.write_bytes(b"")
    outputs = {}
    for args, rc_expected in ((["--help"], 0), (["data", "inspect", str(empty)], 2)):
        rc, tf_loaded, outputs[args[0]] = _modules_after(args, tmp_path)
        assert rc == rc_expected, outputs[args[0]]
        assert not tf_loaded, f"trigger-hgq {' '.join(args)} imported TensorFlow"
    for name in ("pipeline", "export", "rtl", "convert", "render"):  # every command is still listed
        assert name in outputs["--help"]
    assert "not a ROOT file" in outputs["data"]


def test_command_table_matches_what_the_modules_register():
    from trigger_hgq.cli import COMMANDS, build_parser

    full = build_parser("*")
    sub = next(a for a in full._actions if a.dest == "command")
    registered = {a.dest: a.help for a in sub._choices_actions}
    assert registered == {name: help_text for name, (_mod, help_text) in COMMANDS.items()}
    assert list(sub.choices) == list(COMMANDS)
    for name in COMMANDS:  # each command gets its real parser (also two commands of one module: export, report)
        one = build_parser(name)
        choices = next(a for a in one._actions if a.dest == "command").choices
        assert list(choices) == list(COMMANDS) and choices[name].get_default("func") is not None, name


# --- progress on long steps ---------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_prints_plain_lines_with_eta_and_metrics_when_not_a_terminal():
    out = io.StringIO()
    with Progress(4, "exports", stream=out, interval_s=0) as bar:
        assert bar.plain
        bar.update(1, name="hgq_s0_e016", accuracy=0.75)
        bar.update(1, beta=1e-6, ebops=31517.4)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(re.match(r"\[\d\d:\d\d:\d\d\] exports: ", ln) for ln in lines)
    assert "1/4 (25%)" in lines[0] and "ETA" in lines[0] and "name=hgq_s0_e016 accuracy=0.7500" in lines[0]
    assert "2/4 (50%)" in lines[1] and "beta=1.00e-06 ebops=31,517" in lines[1]
    # throttled: between the first and the last step, at most one line per interval; close prints the final state
    out = io.StringIO()
    with Progress(50, "epochs", stream=out, interval_s=3600) as bar:
        for _ in range(30):
            bar.update()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "1/50" in lines[0] and "30/50" in lines[1]
    assert list(track(range(3), "t", stream=(s := io.StringIO()), interval_s=0)) == [0, 1, 2]
    assert "3/3 (100%)" in s.getvalue().splitlines()[-1] and "ETA" not in s.getvalue().splitlines()[-1]


def test_progress_is_a_tqdm_bar_on_a_terminal():
    term = _Terminal()
    assert is_terminal(term) and not is_terminal(io.StringIO())
    with Progress(3, "HGQ seed 0", stream=term, unit="epoch") as bar:
        assert not bar.plain
        for epoch in range(3):
            bar.update(1, beta=1e-7 * 10**epoch, val_accuracy=0.7)
    text = term.getvalue()
    assert "\r" in text and "HGQ seed 0" in text and "3/3" in text and "beta=1.00e-05" in text
    assert "val_accuracy=0.7000" in text and "[" not in text.split("HGQ")[0]  # no plain timestamp
    assert "\x1b[A" not in text
    # seeds training in parallel processes: each bar keeps its own terminal line (moves down, draws, moves back up)
    with Progress(3, "HGQ seed 1", stream=(term := _Terminal()), unit="epoch", position=1) as bar:
        bar.update(3)
    assert term.getvalue().startswith("\n") and "\x1b[A" in term.getvalue() and "3/3" in term.getvalue()


@pytest.mark.slow
def test_hgq_training_drives_a_bar_with_beta_ebops_and_validation_accuracy(tmp_path):
    import copy

    import keras

    import trigger_hgq as th
    from trigger_hgq.training import HGQSchedule, train_hgq

    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 16)).astype(np.float32)
    y = rng.integers(0, 5, 512)
    inp = keras.Input((16,))
    hgq = keras.Model(inp, th.HDense(5)(th.HQuantize()(inp)))
    out = io.StringIO()
    with Progress(3, "HGQ seed 0", unit="epoch", stream=out, interval_s=0) as bar:
        train_hgq(hgq, (x, y), (x[:128], y[:128]), HGQSchedule(epochs=3, batch_size=128),
                  tmp_path / "front", callbacks=[keras_progress(bar, ("beta", "ebops", "val_accuracy"))])
    lines = out.getvalue().splitlines()
    assert [ln.split("HGQ seed 0: ")[1].split(" ")[0] for ln in lines] == ["1/3", "2/3", "3/3"]
    for line in lines:
        assert re.search(r"beta=\d\.\d\de-0\d ebops=[\d,]+ val_accuracy=0\.\d{4}", line), line
    # one step per fit (search trials), also through the deep copies Keras Tuner makes of its callbacks
    trials = Progress(2, "trials", stream=io.StringIO(), interval_s=0)
    cb = keras_progress(trials, ("val_accuracy",), per="fit")
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(5)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    for callback in copy.deepcopy([cb, cb]):
        model.fit(x, y, validation_data=(x, y), epochs=2, batch_size=256, verbose=0, callbacks=[callback])
    assert trials.n == 2 and "val_accuracy=" in trials.line()


def test_serial_executor_reports_each_result_in_order():
    from trigger_hgq.pipeline.executor import SerialExecutor

    seen = []
    assert SerialExecutor().map(lambda v: v * 2, [1, 2, 3], on_done=seen.append) == [2, 4, 6]
    assert seen == [2, 4, 6]


# --- warnings silenced at their source, back with -v --------------------------------------------------------------


def test_saving_a_qkeras_model_raises_no_third_party_warnings_unless_verbose(tmp_path, monkeypatch):
    from trigger_hgq.baselines.qkeras_models import build_qkeras_model, load_baseline_config
    from trigger_hgq.convert.io import save_model

    model = build_qkeras_model(load_baseline_config(REPO / "pipelines" / "configs" / "baselines" /
                                                    "jet_tagger_6bit.yaml"))

    def warnings_of(save, path: Path) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            save(model, path)
        return sorted(f"{w.category.__name__}: {w.message}" for w in caught)

    monkeypatch.setenv(ENV, "0")
    assert warnings_of(save_model, tmp_path / "a.keras") == []
    monkeypatch.setenv(ENV, "1")  # -v: what Keras and QKeras say on a save is back, unfiltered
    assert warnings_of(save_model, tmp_path / "b.keras") == warnings_of(lambda m, p: m.save(p), tmp_path / "c.keras")
    monkeypatch.setenv(ENV, "0")
    with warnings.catch_warnings(record=True) as caught:  # only the listed warnings are dropped
        warnings.simplefilter("always")
        with quiet_warnings():
            warnings.warn("something else", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something else"]


def test_pipeline_cli_counts_v_flags():
    from trigger_hgq.cli import build_parser

    parser = build_parser("pipeline")
    assert [parser.parse_args(["pipeline", *flags]).verbose for flags in ([], ["-v"], ["-vv"])] == [0, 1, 2]
    assert [keras_verbose(level) for level in (0, 1, 2)] == [0, 2, 1]


@pytest.mark.slow
def test_autoqkeras_search_counts_its_trials_on_the_bar(tmp_path):
    from trigger_hgq.baselines import load_autoqkeras_config, run_autoqkeras
    from trigger_hgq.data.synthetic import make_classification

    config = load_autoqkeras_config(REPO / "pipelines" / "configs" / "autoqkeras.yaml")
    config.update(mode="random", max_trials=2, epochs_per_trial=1, batch_size=256)
    x, y = make_classification(600, seed=1)
    out = io.StringIO()
    with Progress(2, "AutoQKeras trials", unit="trial", stream=out, interval_s=0) as bar, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_autoqkeras(config, x, y, x[:200], y[:200], tmp_path / "search",
                       callbacks=[keras_progress(bar, ("val_accuracy",), per="fit")])
    assert not [w for w in caught if "unseeded" in str(w.message) or "constraints.serialize" in str(w.message)]
    lines = out.getvalue().splitlines()  # printed although the search's own output is swallowed
    assert [ln.split("trials: ")[1].split(" ")[0] for ln in lines] == ["1/2", "2/2"]
    assert all(re.search(r"val_accuracy=0\.\d{4}", ln) for ln in lines)
