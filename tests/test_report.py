"""The report package: schema validation, atomic writing, Markdown table, self-contained HTML, plots, helpers."""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import re
import struct
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from report_data import ROWS, make_report

from trigger_hgq.cli import main as cli_main
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.report import ReportSchemaError, bits_counts, roc_per_class, validate_report, write_report
from trigger_hgq.report import write as write_mod
from trigger_hgq.report.content import selection_paragraphs
from trigger_hgq.report.plots import STYLE, pareto_points
from trigger_hgq.report.schema import METHODS, iter_fields

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_MODELS = len(ROWS)
ODD_NAME = 'aq <t1> & "x"|y'


@pytest.fixture(autouse=True)
def _seed():
    """Overrides conftest's TensorFlow seeding: these tests use no TensorFlow."""
    yield


@contextmanager
def no_matplotlib():
    """Make ``import matplotlib`` fail, as in an install without the ``plot`` extra."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "matplotlib", None)
        yield


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


def md_models_rows(md: str) -> list[list[str]]:
    """Cells of the rows of the Markdown table under '## Models' (header and separator dropped)."""
    section = md.split("## Models", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in lines[2:]]


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """The report where a model fits, with plots when matplotlib is installed."""
    out = tmp_path_factory.mktemp("full")
    report = make_report()
    written = write_report(report, out)
    return report, out, written


@pytest.fixture(scope="module")
def nothing(tmp_path_factory):
    """A report where nothing fits, a model name full of markup characters, written without matplotlib."""
    out = tmp_path_factory.mktemp("nothing")
    report = make_report(latency_ns=10.0)
    for m in report["models"]:
        if m["name"] == "autoqkeras_t1":
            m["name"] = ODD_NAME
    for b in report["comparison"]["baselines"]:
        if b["baseline"] == "autoqkeras_t1":
            b["baseline"] = ODD_NAME
    with no_matplotlib():
        written = write_report(report, out)
    return report, out, written


# --- files ------------------------------------------------------------------------------------------------------


def test_write_report_writes_the_three_files_and_no_temporaries(full, nothing):
    for _report, out, written in (full, nothing):
        assert {"report.json", "report.md", "report.html"} <= set(written)
        assert all(p.is_file() and p.stat().st_size > 0 for p in written.values())
        assert not [f for f in files_in(out) if write_mod.TMP_PREFIX in f]
        assert sorted(str(p.relative_to(out)) for p in written.values()) == [
            f for f in files_in(out) if (out / f).is_file()]


def test_json_round_trips_and_keeps_extra_keys(full):
    report, out, _ = full
    loaded = json.loads((out / "report.json").read_text())
    assert loaded == validate_report(loaded) == validate_report(report)
    assert [m["seed"] for m in loaded["models"]] == list(range(N_MODELS))  # a key beyond the schema survives
    assert loaded["selected"] == "hgq_b1e-06" and loaded["nothing_fits"] is False


def test_numpy_values_are_written_as_plain_json(tmp_path):
    report = make_report()
    m = report["models"][3]
    m["accuracy"], m["lut"], m["ebops"] = np.float32(0.75), np.int64(m["lut"]), np.int32(m["ebops"])
    m["auc"] = {c: np.float64(v) for c, v in m["auc"].items()}
    report["dataset"]["features"] = np.array(report["dataset"]["features"])
    with no_matplotlib():
        write_report(report, tmp_path)
    loaded = json.loads((tmp_path / "report.json").read_text())
    assert loaded["models"][3]["lut"] == 52210 and isinstance(loaded["models"][3]["lut"], int)
    assert loaded["models"][3]["accuracy"] == pytest.approx(0.75)
    assert loaded["dataset"]["features"] == list(make_report()["dataset"]["features"])


def test_invalid_report_writes_nothing_and_keeps_the_previous_report(tmp_path):
    fresh = tmp_path / "fresh"
    bad = make_report()
    bad["models"][2]["accuracy"] = "high"
    with pytest.raises(ReportSchemaError):
        write_report(bad, fresh)
    assert not fresh.exists()
    with no_matplotlib():
        write_report(make_report(), tmp_path / "old")
    before = {f: (tmp_path / "old" / f).read_bytes() for f in files_in(tmp_path / "old")}
    with pytest.raises(ReportSchemaError):
        write_report(bad, tmp_path / "old")
    assert {f: (tmp_path / "old" / f).read_bytes() for f in files_in(tmp_path / "old")} == before


def test_failing_render_leaves_no_report_files(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(write_mod, "render_html", broken)
    with no_matplotlib(), pytest.raises(RuntimeError, match="renderer crashed"):
        write_report(make_report(), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_failing_write_leaves_no_temporary_files(tmp_path, monkeypatch):
    real_replace, calls = write_mod.os.replace, []

    def replace_then_fail(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(write_mod.os, "replace", replace_then_fail)
    with no_matplotlib(), pytest.raises(TriggerHGQError, match="No space left on device"):
        write_report(make_report(), tmp_path)
    assert files_in(tmp_path) == ["report.md"]  # the first rename happened; no temporary is left behind
    assert not (tmp_path / "report.json").exists()  # report.json comes last: no report.json, no report


def test_rerun_removes_stale_plots(tmp_path):
    (tmp_path / "report_plots").mkdir()
    (tmp_path / "report_plots" / "accuracy_vs_ebops.png").write_bytes(PNG_MAGIC)
    with no_matplotlib():
        write_report(make_report(), tmp_path)
    assert files_in(tmp_path) == ["report.html", "report.json", "report.md"]


# --- markdown -----------------------------------------------------------------------------------------------------


def test_markdown_table_has_one_row_per_model(full, nothing):
    for report, out, _ in (full, nothing):
        md = (out / "report.md").read_text()
        rows = md_models_rows(md)
        assert len(rows) == N_MODELS
        assert {len(r) for r in rows} == {14}
        names = [r[0].replace("\\|", "|").replace(" (selected)", "").replace(" (closest)", "").rstrip(" \u25c6")
                 for r in rows]
        assert sorted(names) == sorted(m["name"] for m in report["models"])
        by_name = {m["name"]: m for m in report["models"]}
        for name, row in zip(names, rows, strict=True):
            m = by_name[name]
            assert row[2] == f"{100 * m['accuracy']:.2f}%"
            assert row[3] == ("yes" if m["within_budget"] else "no: " + "; ".join(m["budget_violations"]))
            assert row[4] == ("\u2014" if m["latency_cycles"] is None else str(m["latency_cycles"]))
            assert (" \u25c6" in row[0]) == m["pareto_front"]


def test_markdown_states_the_selection_and_links_existing_plots(full):
    report, out, written = full
    md = (out / "report.md").read_text()
    assert "Selected: **hgq_b1e-06** (HGQ), the most accurate of the 10 of 13 models within the budget" in md
    assert "| hgq_b1e-06 (selected) \u25c6 |" in md
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links == [k for k in written if k.startswith("report_plots/")]
    for link in links:
        assert (out / link).read_bytes()[:8] == PNG_MAGIC
    # the comparison block: one row per baseline, ratios baseline / HGQ
    comp = md.split("## HGQ against the baselines", 1)[1].split("\n## ", 1)[0]
    row = next(ln for ln in comp.splitlines() if ln.startswith("| qkeras_6b |"))
    assert "| 4.86\u00d7 |" in row  # 153,216 / 31,517 EBOPs


def test_nothing_fits_names_the_closest_and_notes_missing_matplotlib(nothing):
    report, out, written = nothing
    assert report["closest"] == "hgq_b1e-04"
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    assert "**Nothing fits the budget**: none of the 13 models meets latency \u2264 10 ns (2 cycles at 5 ns)" in md
    assert "The closest is **hgq_b1e-04** (HGQ): latency 8 cycles > 2." in md
    assert "| hgq_b1e-04 (closest) \u25c6 |" in md
    for text in (md, html):
        assert "matplotlib is not installed" in text
    assert "<img" not in html and "![" not in md
    assert not any(k.startswith("report_plots/") for k in written)
    assert 'class="card verdict nothing"' in html


# --- html -----------------------------------------------------------------------------------------------------


def test_html_is_self_contained(full, nothing):
    for _report, out, written in (full, nothing):
        html = (out / "report.html").read_text()
        assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
        assert not re.search(r"https?://", html)
        assert not re.search(r"<(script|link|iframe|object|embed)\b", html, re.I)
        assert "@import" not in html and "url(" not in html
        refs = re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", html)
        assert all(r.startswith("data:image/png;base64,") for r in refs)
        embedded = sorted(base64.b64decode(r.split(",", 1)[1]) for r in refs)
        files = sorted(p.read_bytes() for k, p in written.items() if k.startswith("report_plots/"))
        assert embedded == files  # the HTML carries exactly the plots report.md links to


def test_html_escapes_names_and_marks_rows(full, nothing):
    html = (nothing[1] / "report.html").read_text()
    assert ODD_NAME not in html
    assert "aq &lt;t1&gt; &amp; &quot;x&quot;|y" in html
    md = (nothing[1] / "report.md").read_text()
    assert "aq <t1> & \"x\"\\|y" in md  # the pipe is escaped in the Markdown table
    html = (full[1] / "report.html").read_text()
    assert html.count('<tr class="fits selected">') == 1
    assert html.count('<span class="over">') == sum(not m["within_budget"] for m in full[0]["models"])


# --- plots ----------------------------------------------------------------------------------------------------


def test_plots_are_readable_pngs(full):
    pytest.importorskip("matplotlib")
    _report, _out, written = full
    plots = {k: p.read_bytes() for k, p in written.items() if k.startswith("report_plots/")}
    assert set(plots) == {f"report_plots/{n}.png" for n in (
        "accuracy_vs_ebops", "accuracy_vs_lut_equiv", "latency_vs_accuracy", "roc_curves", "bits_hgq_b1e-06")}
    for name, data in plots.items():
        width, height = png_size(data)
        assert width >= 900 and height >= 500, name


def test_every_method_has_its_own_colour_and_marker():
    assert set(STYLE) == set(METHODS)
    assert len({s["color"] for s in STYLE.values()}) == len({s["marker"] for s in STYLE.values()}) == len(METHODS)


def test_pareto_points():
    pts = [(10.0, 70.0, "a"), (5.0, 71.0, "b"), (20.0, 75.0, "c"), (20.0, 74.0, "d"), (30.0, 74.5, "e"),
           (1.0, 60.0, "f")]
    assert [p[2] for p in pareto_points(pts)] == ["f", "b", "c"]


# --- validation --------------------------------------------------------------------------------------------------


def _set(path: str, value):
    def mutate(rep):
        *parents, last = re.findall(r"[^.\[\]]+", path)
        node = rep
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is KeyError:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return mutate


def _roc_lengths(rep):
    rep["models"][7]["roc"]["w"]["tpr"].pop()


BAD = [
    ("models[2].accuracy", _set("models.2.accuracy", KeyError), "missing required key"),
    ("models[0].accuracy", _set("models.0.accuracy", 76.5), "not a percentage"),
    ("models[0].accuracy", _set("models.0.accuracy", float("nan")), "finite"),
    ("models[3].auc.t", _set("models.3.auc.t", "0.9"), "expected a number"),
    ("models[1].method", _set("models.1.method", "keras"), '"float" | "qkeras"'),
    ("models[4].lut", _set("models.4.lut", 12.5), "expected an integer"),
    ("models[1].n_checked", _set("models.1.n_checked", True), "expected an integer"),
    ("models[5].lut_equiv", _set("models.5.lut_equiv", 1.0), "lut + 55 * dsp"),
    ("models[6].budget_violations", _set("models.6.budget_violations", []), "must be non-empty"),
    ("models[8].name", _set("models.8.name", "hgq_b1e-06"), "duplicate"),
    ("models[7].roc.x", lambda r: r["models"][7]["roc"].update(x=r["models"][7]["roc"]["g"]), "dataset.classes"),
    ("models[7].roc.w", _roc_lengths, "different lengths"),
    ("models[7].bits_histogram.dense_1.weights.4.5",
     lambda r: r["models"][7]["bits_histogram"]["dense_1"]["weights"].update({"4.5": 3}), "whole number of bits"),
    ("models[1].pareto_front", _set("models.1.pareto_front", True), "only HGQ"),
    ("budget.latency_ns", _set("budget.latency_ns", 0), "> 0"),
    ("budget.part", _set("budget.part", KeyError), "missing required key"),
    ("budget.lut_fraction", _set("budget.lut_fraction", 2.0), "<= 1.0"),
    ("dataset.classes", _set("dataset.classes", []), "non-empty list"),
    ("dataset.n_test", _set("dataset.n_test", -1), ">= 0"),
    ("created", _set("created", "yesterday"), "ISO 8601"),
    ("schema_version", _set("schema_version", 2), "expected one of 1"),
    ("selected", _set("selected", "nope"), "not the name of a model"),
    ("selected", _set("selected", "qkeras_8b"), "not within_budget"),
    ("selected", _set("selected", None), "must name a model"),
    ("nothing_fits", lambda r: r.update(nothing_fits=True, selected=None, closest="qkeras_8b"), "is within_budget"),
    ("comparison.hgq_model", _set("comparison.hgq_model", "qkeras_6b"), "is a qkeras model"),
    ("comparison.baselines[0].baseline", _set("comparison.baselines.0.baseline", "gone"), "not the name"),
    ("comparison.baselines[1].ebops_ratio", _set("comparison.baselines.1.ebops_ratio", -2.0), "> 0"),
    ("timings_s.hgq", _set("timings_s.hgq", -1.0), ">= 0"),
    ("models", _set("models", "all of them"), "expected a list"),
]


@pytest.mark.parametrize("path,mutate,words", BAD, ids=[f"{b[0]}:{b[2]}" for b in BAD])
def test_validation_error_names_the_key_path(path, mutate, words):
    report = make_report()
    mutate(report)
    with pytest.raises(TriggerHGQError) as info:
        validate_report(report)
    err = info.value
    assert isinstance(err, ReportSchemaError) and err.path == path
    assert str(err).startswith(f"report: key '{path}': ") and words in str(err)
    if re.match(r"models\[\d+\]\.", path):
        idx = int(re.match(r"models\[(\d+)\]", path).group(1))
        assert f"(model {report['models'][idx]['name']!r})" in str(err)


def test_validation_of_non_dict_and_nothing_fits_closest():
    with pytest.raises(ReportSchemaError, match=r"^report: expected a mapping"):
        validate_report([])
    report = make_report(latency_ns=10.0)
    report["closest"] = None
    with pytest.raises(ReportSchemaError, match="must name the closest model"):
        validate_report(report)


def test_validation_does_not_change_the_input():
    report = make_report()
    del report["models"][0]["roc"]  # optional keys may be absent ...
    before = copy.deepcopy(report)
    rep = validate_report(report)
    assert report == before and rep["models"][0]["roc"] is None  # ... and come back as null


# --- helpers, docs, CLI -------------------------------------------------------------------------------------------


def test_roc_per_class_auc_equals_the_pair_count():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 400)
    scores = np.round(rng.normal(size=(400, 3)) + 1.2 * np.eye(3)[labels], 1)  # rounding makes ties
    auc, roc = roc_per_class(labels, scores, ["a", "b", "c"], max_points=40, logits=False)  # scores as they are
    for k, cls in enumerate("abc"):
        pos, neg = scores[labels == k, k], scores[labels != k, k]
        diff = pos[:, None] - neg[None, :]
        expect = (np.sum(diff > 0) + 0.5 * np.sum(diff == 0)) / diff.size
        assert auc[cls] == pytest.approx(expect, abs=1e-12)
        fpr, tpr = np.array(roc[cls]["fpr"]), np.array(roc[cls]["tpr"])
        assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
        assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0) and len(fpr) <= 42
    one_hot = np.eye(3)[labels]
    assert roc_per_class(one_hot, scores, ["a", "b", "c"])[0] == roc_per_class(labels, scores, ["a", "b", "c"])[0]
    with pytest.raises(TriggerHGQError, match="class 'c' needs both positive and negative"):
        roc_per_class(labels % 2, scores, ["a", "b", "c"])
    with pytest.raises(TriggerHGQError, match=r"scores \(n, 2\)"):
        roc_per_class(labels, scores, ["a", "b"])


def test_bits_counts():
    assert bits_counts(np.array([[0, 3, 3], [8, 0, 3]], dtype=np.float32)) == {"0": 2, "3": 3, "8": 1}
    with pytest.raises(TriggerHGQError, match="whole non-negative"):
        bits_counts(np.array([1.5]))


def test_schema_doc_lists_every_field_and_its_minimal_example_renders(tmp_path):
    doc = (REPO / "docs" / "report_schema.md").read_text()
    missing = [path for path, *_ in iter_fields() if f"`{path}`" not in doc]
    assert not missing
    example = json.loads(re.search(r"```json\n(.*?)```", doc, re.S).group(1))
    assert validate_report(example)["selected"] == "hgq_b1e-06"
    written = write_report(example, tmp_path)  # one model, no ROC, no histogram, no comparison
    md = (tmp_path / "report.md").read_text()
    assert "Selected: **hgq_b1e-06** (HGQ), the only model within the budget" in md
    assert "No comparison in this report" in md and len(md_models_rows(md)) == 1
    if importlib.util.find_spec("matplotlib") is not None:
        assert "ROC curves: no model carries ROC curves." in md
        assert "Bitwidth histograms: no model carries a bits_histogram." in md
        assert sorted(k for k in written if k.startswith("report_plots/")) == [
            "report_plots/accuracy_vs_ebops.png", "report_plots/accuracy_vs_lut_equiv.png",
            "report_plots/latency_vs_accuracy.png"]


def test_selection_text_says_when_the_selected_model_is_not_the_most_accurate():
    report = validate_report({**make_report(), "selected": "hgq_b3e-06"})
    text = " ".join(selection_paragraphs(report))
    assert "**hgq_b3e-06** (HGQ), ranked 2 by accuracy among the 10 of 13 models within the budget" in text
    assert "(the most accurate is hgq_b1e-06, 75.84%)" in text


def test_cli_rewrites_a_report_and_reports_bad_input(full, tmp_path, capsys):
    with no_matplotlib():
        assert cli_main(["render", str(full[1] / "report.json"), "--out", str(tmp_path)]) == 0
    assert files_in(tmp_path) == ["report.html", "report.json", "report.md"]
    assert (tmp_path / "report.json").read_text() == (full[1] / "report.json").read_text()
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1,')
    assert cli_main(["render", str(bad)]) == 2
    assert f"{bad}: not valid JSON" in capsys.readouterr().err
    report = json.loads((full[1] / "report.json").read_text())
    report["budget"]["clock_ns"] = -5
    bad.write_text(json.dumps(report))
    assert cli_main(["render", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "report: key 'budget.clock_ns': expected a number > 0" in err and str(bad) in err


def test_layers_without_weights_round_trip_through_report_json(tmp_path):
    """A written report validates again when read back (weight-less layers: no weight histogram), holds the same
    histograms, and its bitwidth plot draws the layer (activations only)."""
    report = make_report()
    hgq = next(m for m in report["models"] if m.get("bits_histogram"))
    first = next(iter(hgq["bits_histogram"]))
    activations = dict(hgq["bits_histogram"][first]["activations"])
    hgq["bits_histogram"][first].pop("weights", None)
    written = write_report(report, tmp_path)
    back = json.loads((tmp_path / "report.json").read_text())
    validate_report(back)
    back_hgq = next(m for m in back["models"] if m["name"] == hgq["name"])
    assert back_hgq["bits_histogram"][first].get("weights") is None  # no weight counts appear
    assert back_hgq["bits_histogram"][first]["activations"] == activations
    assert sum(activations.values()) == 64  # dense_0's 64 outputs, every one counted
    others = [layer for layer in back_hgq["bits_histogram"] if layer != first]
    assert others and all(set(back_hgq["bits_histogram"][layer]) == {"weights", "activations"} for layer in others)
    assert {k: v for k, v in back_hgq["bits_histogram"].items() if k != first} == \
        {k: v for k, v in hgq["bits_histogram"].items() if k != first}
    if importlib.util.find_spec("matplotlib") is not None:
        plot = next(rel for rel in written if rel.startswith("report_plots/bits_"))
        assert png_size((tmp_path / plot).read_bytes())[1] > 0
        assert plot in (tmp_path / "report.md").read_text()


def test_a_baseline_no_hgq_point_reaches_names_the_most_accurate_and_the_gap(tmp_path):
    """The comparison never leaves a row empty: where no HGQ point reaches a baseline on validation, its row names
    the most accurate HGQ point and how far below it is."""
    from trigger_hgq.comparison import compare

    report = make_report()
    by_name = {m["name"]: m for m in report["models"]}
    by_name["qkeras_8b"]["val_accuracy"] = 0.7700  # above every HGQ point (the best: hgq_b3e-07 on validation)
    best = max((m for m in report["models"] if m["method"] == "hgq"), key=lambda m: m["val_accuracy"])
    report["comparison"] = compare(report["models"], n_test=20_000)
    row = next(b for b in report["comparison"]["baselines"] if b["baseline"] == "qkeras_8b")
    assert row["hgq_model"] is None and row["closest_hgq"] == best["name"] == "hgq_b3e-07"
    gap = 100 * (0.7700 - best["val_accuracy"])
    write_report(report, tmp_path)
    md = (tmp_path / "report.md").read_text()
    line = next(ln for ln in md.splitlines() if ln.startswith("| qkeras_8b ") and "most accurate" in ln)
    assert f"none reaches it; most accurate: hgq_b3e-07, {gap:.2f} pt below on validation" in line
    html_text = (tmp_path / "report.html").read_text()
    assert f"most accurate: hgq_b3e-07, {gap:.2f} pt below on validation" in html_text
    back = json.loads((tmp_path / "report.json").read_text())
    back_row = next(b for b in back["comparison"]["baselines"] if b["baseline"] == "qkeras_8b")
    assert back_row["closest_hgq"] == "hgq_b3e-07" and back_row["val_accuracy_below"] == pytest.approx(gap / 100)
    # every row names an HGQ model: the matched one or the most accurate
    assert all(b["hgq_model"] or b["closest_hgq"] for b in back["comparison"]["baselines"])
