"""``report.json`` of an export: check results, EBOPs, resources, latency, per-layer breakdown; written atomically.

Top-level fields: ``bit_exact_fraction``, ``n_checked``, ``ebops``, ``lut``, ``dsp``, ``ff``, ``bram``,
``latency_cycles``, ``latency_ns``, ``ii``, ``resource_source`` / ``latency_source`` (``estimate``, ``csynth``,
``vsynth`` or ``impl``), ``layers`` (per layer: estimate, result precision, exactness where traced, DA cost where
da4ml is installed), ``estimate`` (the analytical totals, kept when synthesis reports take over) and
``synthesis`` (the parsed reports).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from trigger_hgq.errors import TriggerHGQError

REPORT_NAME = "report.json"
FIELDS = ("lut", "dsp", "ff", "bram")


def read_report(prj: str | os.PathLike) -> dict:
    path = Path(prj) / REPORT_NAME
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as err:
        raise TriggerHGQError(f"{path}: not a readable report ({err})") from err


def apply_synthesis(report: dict, parsed: dict) -> dict:
    """Fill resources and latency from parsed synthesis reports (:func:`trigger_hgq.export.vivado.parse_project`)."""
    if parsed.get("resource_source"):
        report.update({k: parsed.get(k) for k in FIELDS}, resource_source=parsed["resource_source"])
    if parsed.get("latency_source"):
        report.update({k: parsed.get(k) for k in ("latency_cycles", "latency_ns", "ii")},
                      latency_source=parsed["latency_source"])
    report["synthesis"] = parsed.get("synthesis", {})
    return report


def build_report(*, kind: str, options: dict, check: dict | None, layer_checks: dict[str, float],
                 estimate: dict, layer_precisions: dict[str, str], ebops: int | None, da: dict[str, float],
                 timings_s: dict[str, float]) -> dict:
    """The report of a fresh export (resources and latency from the estimate)."""
    layers = []
    for layer in estimate["layers"]:
        entry = {k: layer[k] for k in ("name", "class_name", "n_mult", "lut", "dsp", "ff", "bram", "latency_cycles",
                                       "delay_ns", "ebops")}
        entry["precision"] = layer_precisions.get(layer["name"])
        entry["bit_exact_fraction"] = layer_checks.get(layer["name"])
        entry["da_cost"] = da.get(layer["name"])
        layers.append(entry)
    totals = {k: estimate[k] for k in (*FIELDS, "latency_cycles", "latency_ns", "ii", "ebops", "effective_clock_ns")}
    report = {
        "model_kind": kind,
        **options,
        "bit_exact_fraction": check["bit_exact_fraction"] if check else None,
        "n_checked": check["n_checked"] if check else 0,
        "check": check,
        "ebops": ebops if ebops is not None else estimate["ebops"],
        **{k: estimate[k] for k in FIELDS},
        "latency_cycles": estimate["latency_cycles"],
        "latency_ns": estimate["latency_ns"],
        "ii": estimate["ii"],
        "resource_source": "estimate",
        "latency_source": "estimate",
        "estimate": totals,
        "estimate_assumes": "io_parallel, Latency strategy, reuse factor 1 (see trigger_hgq/export/estimate.py)",
        "da_cost": sum(da.values()) if da else None,
        "layers": layers,
        "timings_s": timings_s,
    }
    return report
