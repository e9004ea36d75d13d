"""The comparison rule: each baseline against the HGQ model matched to it at equal accuracy.

One rule, stated once here and in the report:

- the matched HGQ model of a baseline is the cheapest HGQ candidate (fewest EBOPs) whose accuracy on the
  **selection split** is at least the baseline's minus ``tolerance`` (default 0: equal accuracy); ties in EBOPs go
  to the higher accuracy, then to the name. The selection split (the card's ``split.select``) holds rows that
  neither training, early stopping nor the Pareto front saw: the front's validation accuracies are the best of
  many checkpoints and overstate what its points do on new jets, more so the smaller the sample. Without a
  selection split the match falls back to the validation split, and the report says so;
- the match's uncertainty is the standard error of the paired accuracy difference on the selection rows
  (:func:`paired_stderr`, from the rows where exactly one of the two models is right);
- both models are then reported on the **test** split, each accuracy with its binomial standard error
  ``sqrt(p (1 - p) / n_test)``;
- the ratios are baseline / HGQ, on the RTL route first (yosys LUT, pipeline cycles), then EBOPs and the HLS route;
- a second, labelled match (``within``: validation accuracy within half a point by default) is kept beside it for
  the looser reading that earlier reports used.

Every model entry is a report dict (``name``, ``method``, ``accuracy``, ``val_accuracy``, ``ebops``, resources).
"""

from __future__ import annotations

import base64
import math

import numpy as np

from trigger_hgq.fpga import lut_equiv
from trigger_hgq.selection import RULES, rtl_view, rule_of

DEFAULT_TOLERANCE = 0.0
"""Validation-accuracy tolerance of the match (a fraction): 0 = the HGQ model is at least as accurate."""
WITHIN_TOLERANCE = 0.005
"""The labelled second match: validation accuracy within half a point."""
def pack_correct(correct: np.ndarray) -> str:
    """Which rows a model got right (a bool vector) as base64 of its packed bits: a report field."""
    return base64.b64encode(np.packbits(np.asarray(correct, bool)).tobytes()).decode("ascii")


def unpack_correct(packed: str, n: int) -> np.ndarray:
    """The bool vector of :func:`pack_correct` (``n`` rows)."""
    return np.unpackbits(np.frombuffer(base64.b64decode(packed), np.uint8), count=n).astype(bool)


def paired_stderr(a: np.ndarray, b: np.ndarray) -> float | None:
    """The standard error of ``mean(a) - mean(b)`` for two models' per-row correctness on the same rows: from the
    per-row differences ``d = a - b`` (in -1, 0, 1), ``sqrt(var(d) / n)``. Rows where both agree add nothing but
    ``n``, so it is far below the two binomial errors combined when the models mostly agree."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(np.sqrt(d.var() / len(d))) if len(d) else None


def binomial_stderr(accuracy: float | None, n: int | None) -> float | None:
    """The standard error of an accuracy measured on ``n`` rows: ``sqrt(p (1 - p) / n)``."""
    if accuracy is None or not n:
        return None
    return math.sqrt(max(accuracy * (1.0 - accuracy), 0.0) / n)


def match(candidates: list[dict], target: float, tolerance: float = DEFAULT_TOLERANCE,
          key: str = "val_accuracy") -> dict | None:
    """The cheapest candidate (fewest EBOPs) whose ``key`` accuracy is >= ``target - tolerance``; ties in EBOPs go
    to the higher accuracy, then to the name. ``None`` when none reaches it (or none has EBOPs)."""
    reaching = [m for m in candidates if m.get(key) is not None and m.get("ebops") is not None
                and m[key] >= target - tolerance - 1e-12]
    if not reaching:
        return None
    return min(reaching, key=lambda m: (m["ebops"], -m[key], m.get("name") or m.get("path") or ""))


def ratio(a, b) -> float | None:
    """``a / b`` (x times fewer), ``None`` where either is missing or ``b`` is 0."""
    return float(a) / float(b) if a is not None and b not in (None, 0) else None


def rtl_ratios(baseline: dict, hgq: dict | None) -> dict:
    """Baseline / HGQ on the RTL route (yosys LUT, LUT + 55 x DSP, pipeline latency in cycles; None where either
    has no RTL figures), and where the HLS-route figures come from (``hls_source``: estimate, csynth, ...)."""
    b, h = rtl_view(baseline), rtl_view(hgq) if hgq is not None else {}
    sources = {baseline.get("resource_source"), (hgq or {}).get("resource_source")} - {None}
    return {
        "rtl_lut_ratio": ratio(b.get("lut"), h.get("lut")),
        "rtl_lut_equiv_ratio": ratio(lut_equiv(b), lut_equiv(h)),
        "rtl_latency_ratio": ratio(b.get("latency_cycles"), h.get("latency_cycles")),
        "hls_source": "/".join(sorted(sources)) or None,
    }


def most_accurate(hgq: list[dict], key: str = "val_accuracy") -> dict:
    """The most accurate HGQ model on the ``key`` accuracy (test accuracy where it has none); ties go to fewer
    EBOPs, then to the name."""
    field = key

    def key(m: dict):
        acc = m.get(field) if m.get(field) is not None else m.get("accuracy")
        return (-(acc if acc is not None else -1.0), m.get("ebops") or 0, m["name"])

    return min(hgq, key=key)


def closest_note(b: dict, best: dict, rule: str = "validation") -> dict:
    """The fields of a row no HGQ model reaches: the most accurate HGQ model (``closest_hgq``), its accuracy on
    the rule's split and how far below the baseline's it is (``val_accuracy_below`` / ``select_accuracy_below``,
    a fraction; None when either is unknown), in ``note`` as words."""
    key = RULES[rule]
    target, acc = b.get(key), best.get(key)
    below = float(target) - float(acc) if target is not None and acc is not None else None
    adjective, where = SPLIT_WORDS[rule]
    gap = f", {100 * below:.2f} points below on {where}" if below is not None else ""
    return {"closest_hgq": best["name"], f"closest_{key}_hgq": acc, f"{key}_below": below,
            "note": f"no HGQ point reaches this {adjective} accuracy; the most accurate is {best['name']}{gap}"}


SPLIT_WORDS = {"select": ("selection-split", "the selection split"), "validation": ("validation", "validation")}
"""How the report names a rule's split: as an adjective, and after "on"."""


def match_uncertainty(b: dict, h: dict, rule: str) -> dict:
    """The matched pair's accuracy difference (HGQ - baseline) on the rule's split and its paired standard error
    (from the per-row correctness both carry as ``select_correct``; None without it)."""
    key = RULES[rule]
    diff = h[key] - b[key] if h.get(key) is not None and b.get(key) is not None else None
    stderr = None
    n = b.get("n_select")
    if rule == "select" and n and b.get("select_correct") and h.get("select_correct") and h.get("n_select") == n:
        stderr = paired_stderr(unpack_correct(h["select_correct"], n), unpack_correct(b["select_correct"], n))
    return {"match_difference": diff, "match_difference_stderr": stderr}


def _row(b: dict, h: dict | None, n_test: int | None, within: dict | None, best: dict | None = None,
         rule: str = "validation") -> dict:
    row = {
        "baseline": b["name"], "accuracy_baseline": b["accuracy"], "val_accuracy_baseline": b.get("val_accuracy"),
        "select_accuracy_baseline": b.get("select_accuracy"),
        "accuracy_baseline_stderr": binomial_stderr(b["accuracy"], n_test),
        "within_model": within["name"] if within else None,
        "within_ebops_ratio": ratio(b.get("ebops"), within.get("ebops")) if within else None,
    }
    if h is None:
        closest = closest_note(b, best, rule) if best is not None else {
            "note": f"no HGQ point reaches this {SPLIT_WORDS[rule][0]} accuracy"}
        return {**row, "hgq_model": None, "accuracy_hgq": None, "val_accuracy_hgq": None,
                "select_accuracy_hgq": None, "match_difference": None, "match_difference_stderr": None,
                "accuracy_hgq_stderr": None, "ebops_hgq": None, "ebops_ratio": None, "lut_equiv_ratio": None,
                "latency_ratio": None, **rtl_ratios(b, None), **closest}
    return {
        **row, "hgq_model": h["name"], "accuracy_hgq": h["accuracy"], "val_accuracy_hgq": h.get("val_accuracy"),
        "select_accuracy_hgq": h.get("select_accuracy"), **match_uncertainty(b, h, rule),
        "accuracy_hgq_stderr": binomial_stderr(h["accuracy"], n_test), "ebops_hgq": h.get("ebops"),
        "ebops_ratio": ratio(b.get("ebops"), h.get("ebops")),
        "lut_equiv_ratio": ratio(lut_equiv(b), lut_equiv(h)),
        "latency_ratio": ratio(b.get("latency_cycles"), h.get("latency_cycles")),
        **rtl_ratios(b, h), "note": None,
    }


def compare(models: list[dict], n_test: int | None = None, tolerance: float = DEFAULT_TOLERANCE,
            within: float = WITHIN_TOLERANCE, rule: str | None = None) -> dict | None:
    """For each baseline (every model that is not HGQ and did not fail), the HGQ model matched to it by
    :func:`match` on the ``rule``'s split (default :func:`rule_of` the models: the selection split when all have
    one), and the ratios; where no HGQ model reaches the baseline, the row names the most accurate one and how far
    below it is (:func:`closest_note`). ``None`` without HGQ models or baselines. Failed candidates (``failed``
    set) take part in neither side."""
    usable = [m for m in models if not m.get("failed")]
    hgq = [m for m in usable if m["method"] == "hgq"]
    baselines = [m for m in usable if m["method"] != "hgq"]
    if not hgq or not baselines:
        return None
    rule = rule or rule_of(usable)
    key = RULES[rule]
    rows = []
    closest = most_accurate(hgq, key)
    for b in baselines:
        target = b.get(key)
        h = match(hgq, target, tolerance, key) if target is not None else None
        loose = match(hgq, target, within, key) if target is not None else None
        rows.append(_row(b, h, n_test, loose, closest, rule))
    best = max(hgq, key=lambda m: (m[key] if m.get(key) is not None else m["accuracy"], -(m.get("ebops") or 0)))
    n_select = next((m.get("n_select") for m in usable if m.get("n_select")), None) if rule == "select" else None
    return {"rule": rule, "tolerance": tolerance, "within_tolerance": within, "hgq_model": best["name"],
            "n_test": n_test, "n_select": n_select, "baselines": rows}


CALIBRATION_SLACK = 0.001
"""Front points are picked for export on their validation accuracy while training; the exported (calibrated)
model's own can differ slightly, so the next point up by this much is exported too."""


def export_matches(front: list[dict], baselines: list[dict], tolerance: float = DEFAULT_TOLERANCE,
                   within: float = WITHIN_TOLERANCE, rule: str = "validation") -> list[dict]:
    """The front points (``ebops`` and the rule's accuracy) that the comparison may match to the ``baselines``
    (their accuracy on the same split): per baseline, the cheapest at its accuracy minus ``tolerance``, the
    cheapest :data:`CALIBRATION_SLACK` above that, and the cheapest within ``within``."""
    key = RULES[rule]
    chosen: dict[int, dict] = {}
    for base in baselines:
        target = base.get(key)
        if target is None:
            continue
        for t, tol in ((target, tolerance), (target + CALIBRATION_SLACK, tolerance), (target, within)):
            point = match(front, t, tol, key)
            if point is not None:
                chosen[id(point)] = point
    return list(chosen.values())


def matched_names(models: list[dict], baselines: list[str], tolerance: float = DEFAULT_TOLERANCE) -> set[str]:
    """The HGQ models matched (by :func:`compare`'s rule) to the named baselines."""
    comparison = compare(models, tolerance=tolerance) or {"baselines": []}
    return {row["hgq_model"] for row in comparison["baselines"] if row["baseline"] in baselines
            and row.get("hgq_model")}
