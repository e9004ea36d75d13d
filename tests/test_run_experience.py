"""What a user of a run sees: fair ROC/AUC, a comparison that names its models, readable output files, a CLI that
starts fast, progress on long steps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from report_data import CLASSES, make_report

from trigger_hgq.atomic import write_json_atomic
from trigger_hgq.report import roc_per_class, write_report
from trigger_hgq.report.summarize import class_scores, is_probability_rows

REPO = Path(__file__).resolve().parents[1]


# --- ROC / AUC on class probabilities -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def teacher():
    """A 5-class linear tagger with a separate softmax layer, its logit model, inputs and noisy labels."""
    import tensorflow as tf

    from trigger_hgq.pipeline.tasks import logits_model

    tf.keras.utils.set_random_seed(7)
    inp = tf.keras.Input((8,))
    out = tf.keras.layers.Activation("softmax")(tf.keras.layers.Dense(5, name="dense")(inp))
    model = tf.keras.Model(inp, out)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3000, 8)).astype(np.float32)
    logits = logits_model(model).predict(x, verbose=0)
    labels = np.argmax(logits + rng.gumbel(size=logits.shape) * 1.5, axis=1)  # a softmax classifier's draws
    return model, logits_model(model), x, labels


def test_logit_model_and_its_softmax_model_give_the_same_auc(teacher):
    from trigger_hgq.pipeline.tasks import outputs_logits

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
    import tensorflow as tf

    from trigger_hgq.pipeline.tasks import ends_in_softmax

    inp = tf.keras.Input((3,))
    fused = tf.keras.Model(inp, tf.keras.layers.Dense(4, activation="softmax")(inp))
    plain = tf.keras.Model(inp, tf.keras.layers.Dense(4)(inp))
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


def test_comparison_rows_name_their_hgq_model_with_accuracy_and_ebops(tmp_path):
    from trigger_hgq.pipeline.select import compare

    report = make_report()
    by_name = {m["name"]: m for m in report["models"]}
    by_name["float"]["accuracy"] = 0.80  # no HGQ point reaches this one
    for m in report["models"]:
        m["lut_equiv"] = None if m["lut"] is None else float(m["lut"] + 55 * m["dsp"])
    report["comparison"] = compare(report["models"], tolerance=0.005)
    write_report(report, tmp_path)
    md = (tmp_path / "report.md").read_text()
    html = (tmp_path / "report.html").read_text()
    rows = _md_rows(md, "HGQ against the baselines")
    used = set()
    for b in report["comparison"]["baselines"]:
        cells, h = rows[b["baseline"]], by_name[b["hgq_model"]]
        used.add(h["name"])
        assert cells[3].startswith(h["name"]) and h["name"] in html
        assert f"{100 * h['accuracy']:.2f}%" == cells[4]
        assert f"{h['ebops']:,}" == cells[7]
        if b["baseline"] == "float":
            assert "no HGQ point reaches" in cells[3] and cells[8] == "\u2014"
        else:  # the cheapest HGQ model within half a point of the baseline
            assert h["accuracy"] >= b["accuracy_baseline"] - 0.005
    assert len(used) >= 3  # the rows really use different HGQ models
    assert f"Accuracy ({report['comparison']['hgq_model']})" not in md  # no single model claimed in a heading
    intro = "whose test accuracy is at least the baseline's minus 0.5 percentage points"
    assert intro in md and intro.replace("'", "&#x27;") in html


def test_comparison_row_must_name_an_hgq_model():
    from trigger_hgq.report import ReportSchemaError, validate_report

    report = make_report()
    report["comparison"]["baselines"][0]["hgq_model"] = "qkeras_6b"
    with pytest.raises(ReportSchemaError, match=r"comparison.baselines\[0\].hgq_model.*is a qkeras model"):
        validate_report(report)


# --- output files get the permissions of the umask -----------------------------------------------------------------


def test_report_and_state_files_get_the_umask_permissions(tmp_path):
    from trigger_hgq.pipeline.state import RunState

    old = os.umask(0o022)
    try:
        written = write_report(make_report(), tmp_path)
        RunState(tmp_path).record("data", "k", {"arrays": "a.npz"}, 1.0)
        os.umask(0o027)  # another umask, another mode: the mode follows the umask, it is not fixed
        write_json_atomic(tmp_path / "sub" / "x.json", {"a": 1})
    finally:
        os.umask(old)
    paths = [*written.values(), tmp_path / "state.json"]
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
