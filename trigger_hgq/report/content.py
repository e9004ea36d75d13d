"""What the report says, independent of its format: the tables and sentences Markdown and HTML both render.

Text may carry one piece of markup, ``**bold**``; everything else is plain text that the renderers escape.
Missing values (``None``) are shown as an em dash.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from trigger_hgq.fpga import DSP_LUT_EQUIV
from trigger_hgq.report.schema import METHODS
from trigger_hgq.selection import RULES

DASH = "\u2014"
METHOD_LABELS = {"float": "Float", "qkeras": "QKeras", "autoqkeras": "AutoQKeras", "hgq": "HGQ"}


@dataclass
class Table:
    """Cells are strings; ``numeric[j]`` right-aligns column j; ``row_tags[i]`` are CSS-like tags for row i."""

    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    numeric: list[bool] = field(default_factory=list)
    row_tags: list[set[str]] = field(default_factory=list)


def fmt_int(value: int | float | None) -> str:
    return DASH if value is None else f"{int(round(value)):,}"


def fmt_pct(fraction: float | None, digits: int = 2) -> str:
    return DASH if fraction is None else f"{100 * fraction:.{digits}f}%"


def fmt_num(value: float | None, digits: int = 1) -> str:
    return DASH if value is None else f"{value:,.{digits}f}"


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.1f}\u00d7" if value >= 10 else f"{value:.2f}\u00d7"


def plural(n: int, word: str) -> str:
    """'1 model', '3 models'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def model_by_name(report: dict) -> dict[str, dict]:
    return {m["name"]: m for m in report["models"]}


def ordered_models(report: dict) -> list[dict]:
    """Models grouped by method (float, QKeras, AutoQKeras, HGQ), each group by descending accuracy."""
    return sorted(report["models"], key=lambda m: (METHODS.index(m["method"]), -m["accuracy"], m["name"]))


def budget_cycles(budget: dict) -> int:
    """Whole clock cycles that fit in the latency budget."""
    return int(math.floor(budget["latency_ns"] / budget["clock_ns"] + 1e-9))


def resource_budget_text(budget: dict, kind: str, label: bool = True) -> str | None:
    """'LUT <= 10% of PART = 172,800 of 1,728,000' for kind 'lut' or 'dsp'; None when that budget is not set."""
    frac, avail = budget[f"{kind}_fraction"], budget[f"{kind}_available"]
    if frac is None:
        return None
    of = f" = {fmt_int(frac * avail)} of {fmt_int(avail)}" if avail is not None else ""
    return f"{kind.upper() + ' ' if label else ''}\u2264 {100 * frac:g}% of {budget['part']}{of}"


def budget_text(budget: dict) -> str:
    """One line: the latency budget, and the LUT/DSP budgets when set."""
    parts = [
        f"latency \u2264 {budget['latency_ns']:g} ns ({budget_cycles(budget)} cycles at {budget['clock_ns']:g} ns)"
    ]
    parts += [t for t in (resource_budget_text(budget, k) for k in ("lut", "dsp")) if t]
    return ", ".join(parts)


def latency_text(m: dict) -> str:
    cyc = f"{m['latency_cycles']} cycles" if m["latency_cycles"] is not None else None
    ns = f"{m['latency_ns']:g} ns" if m["latency_ns"] is not None else None
    return " = ".join(p for p in (cyc, ns) if p) or "latency unknown"


def cost_text(m: dict) -> str:
    if m["lut"] is None and m["dsp"] is None:
        return "resources unknown"
    lut_eq = f" (LUT-equivalent {fmt_int(m['lut_equiv'])})" if m["lut_equiv"] is not None else ""
    return f"{fmt_int(m['lut'])} LUT + {fmt_int(m['dsp'])} DSP{lut_eq}"


def bit_exact_text(m: dict, short: bool = False) -> str:
    if m["bit_exact_fraction"] is None:
        return DASH
    of = ""
    if m["n_checked"] is not None:
        of = f" ({fmt_int(m['n_checked'])})" if short else f" of {fmt_int(m['n_checked'])} inputs"
    frac = m["bit_exact_fraction"]
    return f"{'100%' if frac == 1.0 else fmt_pct(frac)}{of}"


def selection_paragraphs(report: dict) -> list[str]:
    """Which model is selected and why, or that nothing fits and which model is closest."""
    models = report["models"]
    rule = report.get("selection_rule")
    key = RULES.get(rule, "accuracy")
    split = {"select": "selection-split ", "validation": "validation "}.get(rule, "")

    def chosen_on(m: dict) -> float:  # the accuracy the selection ranked on (reports before it: the test split's)
        return m[key] if m.get(key) is not None else m["accuracy"]

    fitting = sorted((m for m in models if m["within_budget"]), key=lambda m: -chosen_on(m))
    budget = budget_text(report["budget"])
    out: list[str] = []
    if report["nothing_fits"]:
        c = model_by_name(report)[report["closest"]]
        who = "the only model does not meet" if len(models) == 1 else f"none of the {len(models)} models meets"
        out.append(f"**Nothing fits the budget**: {who} {budget}.")
        out.append(
            f"The closest is **{c['name']}** ({method_label(c['method'])}): {'; '.join(c['budget_violations'])}. "
            f"Accuracy {fmt_pct(c['accuracy'])}, latency {latency_text(c)}, {cost_text(c)}."
        )
    else:
        s = model_by_name(report)[report["selected"]]
        if len(fitting) == 1:
            why = "the only model" if len(models) == 1 else f"the only one of the {len(models)} models"
            why += " within the budget"
        elif fitting[0]["name"] == s["name"]:
            on = {"select": " on the selection split", "validation": " on validation"}.get(rule, "")
            why = f"the most accurate{on} of the {len(fitting)} of {len(models)} models within the budget"
        else:
            rank = [m["name"] for m in fitting].index(s["name"]) + 1
            why = (f"ranked {rank} by {split}accuracy among the {len(fitting)} of {len(models)} models within the "
                   f"budget (the most accurate is {fitting[0]['name']}, {fmt_pct(chosen_on(fitting[0]))})")
        out.append(f"Selected: **{s['name']}** ({method_label(s['method'])}), {why} ({budget}).")
        on = f" (selection split {fmt_pct(s['select_accuracy'])})" if rule == "select" else ""
        out.append(
            f"Test accuracy {fmt_pct(s['accuracy'])}{on}, latency {latency_text(s)}, {cost_text(s)}, "
            f"EBOPs {fmt_int(s['ebops'])}, bit-exact {bit_exact_text(s)}."
        )
    if report.get("selection_reason"):
        out.append(report["selection_reason"])
    if report.get("failed"):
        out.append(failed_text(report["failed"]))
    return out


def failed_text(failed: list[dict]) -> str:
    """One sentence marking the candidates that failed (report.json ``failed``): name, method, stage and error."""
    items = []
    for f in failed:
        where = [f"first mismatching row {f['first_mismatch_row']}"] if f.get("first_mismatch_row") is not None else []
        where += [f"layer {f['layer']}"] if f.get("layer") else []
        detail = f" ({', '.join(where)})" if where else ""
        items.append(f"**{f['name']}** ({method_label(f['method'])}, {f['stage']}: {f['error'].splitlines()[0]}"
                     f"{detail})")
    return (f"**Failed**: {plural(len(failed), 'candidate')} left out of the models and the selection: "
            + "; ".join(items) + ".")


def models_table(report: dict) -> Table:
    """One row per model."""
    has_yosys = any(m.get("yosys") for m in report["models"])
    headers = ["Model", "Method", "Accuracy", "Within budget", "Latency (cycles)", "Latency (ns)", "II (cycles)",
               "EBOPs", "LUT", "DSP", "FF", "LUT-equiv.", "Bit-exact (inputs)", "Source (res. / latency)"]
    numeric = [False, False, True, False] + [True] * 9 + [False]
    if has_yosys:
        headers.append("yosys LUT / FF / CARRY / DSP")
        numeric.append(False)
    table = Table(headers, numeric=numeric)
    for m in ordered_models(report):
        tags = {m["method"]}
        name = m["name"]
        if m["name"] == report["selected"]:
            name, tags = f"{name} (selected)", tags | {"selected"}
        elif m["name"] == report["closest"]:
            name, tags = f"{name} (closest)", tags | {"closest"}
        if m["pareto_front"]:
            name += " \u25c6"
        tags.add("fits" if m["within_budget"] else "over")
        fits = "yes" if m["within_budget"] else "no: " + "; ".join(m["budget_violations"])
        src = m["resource_source"] if m["resource_source"] == m["latency_source"] else (
            f"{m['resource_source']} / {m['latency_source']}")
        row = [name, method_label(m["method"]), fmt_pct(m["accuracy"]), fits, fmt_int(m["latency_cycles"]),
               fmt_num(m["latency_ns"]), fmt_int(m["ii"]), fmt_int(m["ebops"]), fmt_int(m["lut"]), fmt_int(m["dsp"]),
               fmt_int(m["ff"]), fmt_int(m["lut_equiv"]), bit_exact_text(m, short=True), src]
        if has_yosys:
            y = m.get("yosys")
            row.append(" / ".join(fmt_int(y[k]) for k in ("lut", "ff", "carry", "dsp")) if y else DASH)
        table.rows.append(row)
        table.row_tags.append(tags)
    return table


MODELS_TABLE_NOTE = (
    f"LUT-equivalent = LUT + {DSP_LUT_EQUIV} \u00d7 DSP. \u25c6 marks HGQ models on the Pareto front. Accuracy is on "
    "the test set; bit-exact is the fraction of checked test inputs where the firmware's output equals the Keras "
    "model's bit for bit. Source: estimate = trigger-hgq's estimator, csynth = HLS synthesis report, vsynth / impl "
    "= Vivado synthesis / implementation, yosys = open-source synthesis."
)


def dataset_items(report: dict) -> list[tuple[str, str]]:
    d = report["dataset"]
    feats = d["features"]
    shown = ", ".join(feats[:12]) + (f", \u2026 ({len(feats)} in all)" if len(feats) > 12 else "")
    items = [
        ("Name", d["name"]),
        ("Source", d["source"]),
        ("Examples (train / validation / selection / test)" if d.get("n_select") else
         "Examples (train / validation / test)",
         " / ".join(fmt_int(d[k]) for k in ("n_train", "n_val", "n_select", "n_test") if d.get(k) is not None
                    and (k != "n_select" or d[k]))),
        (f"Features ({len(feats)})", shown),
        (f"Classes ({len(d['classes'])})", ", ".join(d["classes"])),
    ]
    if d.get("n_particles"):
        items.insert(3, ("Inputs", f"the {d['n_particles']} leading particles (by pT) of each jet, {len(feats)} "
                                   "features each"))
        items[4] = (f"Features per particle ({len(feats)})", shown)
    if d.get("mirrors"):
        planes = d["mirrors"]
        where = planes[0] if len(planes) == 1 else f"{', '.join(planes)} and all together"
        items.insert(3, ("Training jets", f"{fmt_int(d['n_train_jets'])} and their mirror images in {where} "
                                          f"({fmt_int(d['n_train'])} training examples)"))
    return items


def budget_items(report: dict) -> list[tuple[str, str]]:
    b = report["budget"]
    items = [("Latency", f"{b['latency_ns']:g} ns = {budget_cycles(b)} cycles at a {b['clock_ns']:g} ns clock"),
             ("Part", b["part"])]
    for kind in ("lut", "dsp"):
        text = resource_budget_text(b, kind, label=False)
        items.append((kind.upper(), text if text else "no budget set"))
    items.append(("Figures checked", implementation_text(report)))
    return items


def _spec_bits(spec: str | None) -> str:
    """The bits of a QKeras quantizer as written (``quantized_bits(4,0,1,alpha=1)`` -> ``4``)."""
    m = re.match(r"\w+\((\d+)", spec or "")
    return m.group(1) if m else DASH


def quantizers_table(report: dict) -> Table | None:
    """Per-layer bits of the QKeras and AutoQKeras models side by side (weights/biases, activations, units)."""
    models = [m for m in ordered_models(report) if m.get("quantizers")]
    if not models:
        return None
    layers = list(dict.fromkeys(name for m in models for name in m["quantizers"]))
    table = Table(["Model", "Accuracy", *layers], numeric=[False, True, *[True] * len(layers)])
    for m in models:
        cells = []
        for name in layers:
            q = m["quantizers"].get(name)
            if q is None:
                cells.append(DASH)
            elif q["kernel"] is not None:
                units = f" x{q['units']}" if q["units"] else ""
                cells.append(f"w{_spec_bits(q['kernel'])}/b{_spec_bits(q['bias'])}{units}")
            else:
                cells.append(_spec_bits(q["activation"]))
        table.rows.append([m["name"], fmt_pct(m["accuracy"]), *cells])
        table.row_tags.append({m["method"]})
    return table


QUANTIZERS_NOTE = ("Dense layers: weight/bias bits and output units (w4/b8 x64); activation and input quantizers: "
                   "their bits. AutoQKeras picks them per layer; the uniform baselines use one width throughout.")


def timings_table(report: dict) -> Table | None:
    t = report["timings_s"]
    if not t:
        return None
    table = Table(["Stage", "Wall time (s)"], numeric=[False, True])
    for stage, sec in t.items():
        table.rows.append([stage, f"{sec:,.1f}"])
        table.row_tags.append(set())
    table.rows.append(["total", f"{sum(t.values()):,.1f}"])
    table.row_tags.append({"total"})
    return table


def rtl_table(report: dict) -> Table | None:
    """One row per model that took the open-source RTL route: yosys resources, pipeline latency, the longest
    stage against the timing model, and the Verilator (and conversion) checks."""
    models = [m for m in ordered_models(report) if m.get("rtl")]
    if not models:
        return None
    table = Table(["Model", "Method", "yosys LUT / FF / CARRY / DSP", "LUT-equiv.", "Latency (cycles)",
                   "Longest stage (LUT levels / limit)", "Critical path (ns, model)", "Verilator = model",
                   "Converted = QKeras", "yosys (s)", "hls4ml DA: LUT / cycles (C-sim)"],
                  numeric=[False, False, False, True, True, False, True, False, False, True, False])
    for m in models:
        r, y = m["rtl"], m.get("yosys")
        if r.get("skipped"):
            table.rows.append([m["name"], method_label(m["method"]), f"skipped: {r['skipped']}"] + [DASH] * 8)
            table.row_tags.append({m["method"]})
            continue
        stage = f"{r.get('longest_stage_lut_levels')} / {r.get('max_lut_levels')}"
        if r.get("meets_clock") is False:
            stage += " (over)"
        conv = r.get("conversion_exact_fraction")
        table.rows.append([
            m["name"], method_label(m["method"]),
            " / ".join(fmt_int(y[k]) for k in ("lut", "ff", "carry", "dsp")) if y else DASH,
            fmt_int(y["lut"] + DSP_LUT_EQUIV * y["dsp"]) if y else DASH, fmt_int(r.get("latency_cycles")), stage,
            fmt_num(r.get("critical_path_ns"), 2),
            bit_exact_text({"bit_exact_fraction": r.get("bit_exact_fraction"), "n_checked": r.get("n_checked")},
                           short=True) + (" (marked)" if r.get("marked") else ""),
            DASH if conv is None else ("100%" if conv == 1.0 else fmt_pct(conv)), fmt_num((y or {}).get("seconds")),
            hls_da_text(m.get("hls_da")),
        ])
        table.row_tags.append({m["method"]} | ({"over"} if r.get("marked") else set()))
    return table


def hls_da_text(da: dict | None) -> str:
    """hls4ml's distributed-arithmetic flavour in one cell: LUT / cycles (C-sim exactness), or why it was skipped."""
    if not da:
        return DASH
    if da.get("skipped"):
        return f"skipped: {da['skipped']}"
    exact = bit_exact_text({"bit_exact_fraction": da.get("bit_exact_fraction"), "n_checked": da.get("n_checked")},
                           short=True)
    return f"{fmt_int(da.get('lut'))} / {fmt_int(da.get('latency_cycles'))} ({exact})"


RTL_NOTE = (
    "Open-source RTL route: da4ml writes the model as pipelined Verilog (multiplier-free constant multiplications), "
    "yosys synthesizes it for UltraScale+, Verilator simulates it against the Keras model (QKeras baselines through "
    "their exact conversion, QKeras' rounding kept). Timing model: 0.5 ns per LUT level, 0.05 ns per CARRY4, "
    "0.5 ns register overhead, 1 ns per adder level, so a stage holds (clock - 0.5 ns) / 0.5 ns LUT levels and "
    "da4ml cuts the adder tree every clock / 1 ns adders; the latency in cycles is the number of stages."
)


def implementation_text(report: dict) -> str:
    """Which route's figures selection used."""
    impl = report["budget"].get("implementation") or "hls"
    return {"hls": "HLS route (hls4ml: estimate, or Vivado/Vitis reports where present)",
            "rtl": "RTL route (yosys resources, da4ml pipeline latency, Verilator check)"}.get(impl, impl)
