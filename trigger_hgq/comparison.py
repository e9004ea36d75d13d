"""The comparison rule: each baseline against the HGQ model matched to it at equal accuracy, chosen on validation.

One rule, stated once here and in the report:

- the matched HGQ model of a baseline is the cheapest HGQ candidate (fewest EBOPs) whose **validation** accuracy
  is at least the baseline's validation accuracy minus ``tolerance`` (default 0: equal accuracy); ties in EBOPs go
  to the higher validation accuracy, then to the name;
- both models are then reported on the **test** split, each accuracy with its binomial standard error
  ``sqrt(p (1 - p) / n_test)``;
- the ratios are baseline / HGQ, on the RTL route first (yosys LUT, pipeline cycles), then EBOPs and the HLS route;
- a second, labelled match (``within``: validation accuracy within half a point by default) is kept beside it for
  the looser reading that earlier reports used.

Every model entry is a report dict (``name``, ``method``, ``accuracy``, ``val_accuracy``, ``ebops``, resources).
"""

from __future__ import annotations

import math

from trigger_hgq.fpga import lut_equiv
from trigger_hgq.selection import rtl_view

DEFAULT_TOLERANCE = 0.0
"""Validation-accuracy tolerance of the match (a fraction): 0 = the HGQ model is at least as accurate."""
WITHIN_TOLERANCE = 0.005
"""The labelled second match: validation accuracy within half a point."""
RULE = "validation"
"""The split the match is chosen on (the accuracies reported are the test split's)."""


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


def most_accurate(hgq: list[dict]) -> dict:
    """The most accurate HGQ model on validation (test accuracy where no validation figure exists); ties go to
    fewer EBOPs, then to the name."""
    def key(m: dict):
        acc = m.get("val_accuracy") if m.get("val_accuracy") is not None else m.get("accuracy")
        return (-(acc if acc is not None else -1.0), m.get("ebops") or 0, m["name"])

    return min(hgq, key=key)


def closest_note(b: dict, best: dict) -> dict:
    """The fields of a row no HGQ model reaches: the most accurate HGQ model (``closest_hgq``), its validation
    accuracy and how far below the baseline's it is (``val_accuracy_below``, a fraction; None when either is
    unknown), in ``note`` as words."""
    target, acc = b.get("val_accuracy"), best.get("val_accuracy")
    below = float(target) - float(acc) if target is not None and acc is not None else None
    gap = f", {100 * below:.2f} points below on validation" if below is not None else ""
    return {"closest_hgq": best["name"], "closest_val_accuracy_hgq": acc, "val_accuracy_below": below,
            "note": f"no HGQ point reaches this validation accuracy; the most accurate is {best['name']}{gap}"}


def _row(b: dict, h: dict | None, n_test: int | None, within: dict | None, best: dict | None = None) -> dict:
    row = {
        "baseline": b["name"], "accuracy_baseline": b["accuracy"], "val_accuracy_baseline": b.get("val_accuracy"),
        "accuracy_baseline_stderr": binomial_stderr(b["accuracy"], n_test),
        "within_model": within["name"] if within else None,
        "within_ebops_ratio": ratio(b.get("ebops"), within.get("ebops")) if within else None,
    }
    if h is None:
        closest = closest_note(b, best) if best is not None else {
            "note": "no HGQ point reaches this validation accuracy"}
        return {**row, "hgq_model": None, "accuracy_hgq": None, "val_accuracy_hgq": None,
                "accuracy_hgq_stderr": None, "ebops_hgq": None, "ebops_ratio": None, "lut_equiv_ratio": None,
                "latency_ratio": None, **rtl_ratios(b, None), **closest}
    return {
        **row, "hgq_model": h["name"], "accuracy_hgq": h["accuracy"], "val_accuracy_hgq": h.get("val_accuracy"),
        "accuracy_hgq_stderr": binomial_stderr(h["accuracy"], n_test), "ebops_hgq": h.get("ebops"),
        "ebops_ratio": ratio(b.get("ebops"), h.get("ebops")),
        "lut_equiv_ratio": ratio(lut_equiv(b), lut_equiv(h)),
        "latency_ratio": ratio(b.get("latency_cycles"), h.get("latency_cycles")),
        **rtl_ratios(b, h), "note": None,
    }


def compare(models: list[dict], n_test: int | None = None, tolerance: float = DEFAULT_TOLERANCE,
            within: float = WITHIN_TOLERANCE) -> dict | None:
    """For each baseline (every model that is not HGQ and did not fail), the HGQ model matched to it by
    :func:`match` on validation, and the ratios; where no HGQ model reaches the baseline, the row names the most
    accurate one and how far below it is (:func:`closest_note`). ``None`` without HGQ models or baselines. Failed
    candidates (``failed`` set) take part in neither side."""
    usable = [m for m in models if not m.get("failed")]
    hgq = [m for m in usable if m["method"] == "hgq"]
    baselines = [m for m in usable if m["method"] != "hgq"]
    if not hgq or not baselines:
        return None
    rows = []
    closest = most_accurate(hgq)
    for b in baselines:
        target = b.get("val_accuracy")
        h = match(hgq, target, tolerance) if target is not None else None
        loose = match(hgq, target, within) if target is not None else None
        rows.append(_row(b, h, n_test, loose, closest))
    best = max(hgq, key=lambda m: (m["accuracy"], -(m.get("ebops") or 0)))
    return {"rule": RULE, "tolerance": tolerance, "within_tolerance": within, "hgq_model": best["name"],
            "n_test": n_test, "baselines": rows}


CALIBRATION_SLACK = 0.001
"""Front points are picked for export on their validation accuracy while training; the exported (calibrated)
model's own can differ slightly, so the next point up by this much is exported too."""


def export_matches(front: list[dict], baselines: list[dict], tolerance: float = DEFAULT_TOLERANCE,
                   within: float = WITHIN_TOLERANCE) -> list[dict]:
    """The front points (``val_accuracy``, ``ebops``) that the comparison may match to the ``baselines`` (their
    ``val_accuracy``): per baseline, the cheapest at its accuracy minus ``tolerance``, the cheapest
    :data:`CALIBRATION_SLACK` above that, and the cheapest within ``within``."""
    chosen: dict[int, dict] = {}
    for base in baselines:
        target = base.get("val_accuracy")
        if target is None:
            continue
        for t, tol in ((target, tolerance), (target + CALIBRATION_SLACK, tolerance), (target, within)):
            point = match(front, t, tol)
            if point is not None:
                chosen[id(point)] = point
    return list(chosen.values())


def matched_names(models: list[dict], baselines: list[str], tolerance: float = DEFAULT_TOLERANCE) -> set[str]:
    """The HGQ models matched (by :func:`compare`'s rule) to the named baselines."""
    comparison = compare(models, tolerance=tolerance) or {"baselines": []}
    return {row["hgq_model"] for row in comparison["baselines"] if row["baseline"] in baselines
            and row.get("hgq_model")}
