"""The report's comparison: the table of each baseline against its matched HGQ model, and the rule stated once."""

from __future__ import annotations

from trigger_hgq.report.content import DASH, Table, fmt_int, fmt_pct, fmt_ratio, method_label, model_by_name


def comparison_hgq(report: dict, row: dict) -> str:
    """The HGQ model a comparison row uses (reports without per-row names used the block's model throughout)."""
    return row.get("hgq_model") or report["comparison"]["hgq_model"]


def _pm(accuracy: float | None, stderr: float | None) -> str:
    """A test accuracy with its binomial standard error (points)."""
    if accuracy is None:
        return DASH
    return fmt_pct(accuracy) + (f" \u00b1 {100 * stderr:.2f}" if stderr is not None else "")


def comparison_table(report: dict) -> Table | None:
    """Each baseline against the HGQ model matched to it (named in its row); ratios are baseline / HGQ, the RTL
    route's (yosys LUT, pipeline cycles) first, then EBOPs and the HLS route's."""
    comp = report["comparison"]
    if comp is None:
        return None
    by_name = model_by_name(report)
    within = comp.get("within_tolerance")
    table = Table(
        ["Baseline", "Method", "Val. acc. (baseline)", "Test acc. (baseline)", "HGQ model", "Val. acc. (HGQ)",
         "Test acc. (HGQ)", "yosys LUT ratio", "RTL cycles ratio", "EBOPs (baseline)", "EBOPs (HGQ)",
         "EBOPs ratio", "LUT-equiv. ratio (HLS)", "Latency ratio (HLS)",
         f"Within {100 * within:g} pt: HGQ model (EBOPs ratio)" if within is not None else "Within: HGQ model"],
        numeric=[False, False, True, True, False, True, True, True, True, True, True, True, True, True, False],
    )
    for b in comp["baselines"]:
        base, hgq_name = by_name[b["baseline"]], b.get("hgq_model")
        if hgq_name is None and comp.get("rule") is None:
            hgq_name = comp["hgq_model"]  # reports before per-row names used the block's model throughout
        ebops_hgq = b.get("ebops_hgq")
        if ebops_hgq is None and hgq_name in by_name:
            ebops_hgq = by_name[hgq_name]["ebops"]
        if hgq_name is None and b.get("closest_hgq"):  # none reaches the baseline: the most accurate, how far below
            below = b.get("val_accuracy_below")
            gap = f", {100 * below:.2f} pt below on validation" if below is not None else ""
            hgq_cell = f"none reaches it; most accurate: {b['closest_hgq']}{gap}"
        else:
            hgq_cell = (hgq_name or DASH) + (f" ({b['note']})" if b.get("note") else "")
        loose = (f"{b['within_model']} ({fmt_ratio(b.get('within_ebops_ratio'))})" if b.get("within_model")
                 else DASH)
        table.rows.append([
            b["baseline"], method_label(base["method"]), fmt_pct(b.get("val_accuracy_baseline")),
            _pm(b["accuracy_baseline"], b.get("accuracy_baseline_stderr")), hgq_cell,
            fmt_pct(b.get("val_accuracy_hgq")), _pm(b.get("accuracy_hgq"), b.get("accuracy_hgq_stderr")),
            fmt_ratio(b.get("rtl_lut_ratio")), fmt_ratio(b.get("rtl_latency_ratio")), fmt_int(base["ebops"]),
            fmt_int(ebops_hgq), fmt_ratio(b["ebops_ratio"]), fmt_ratio(b["lut_equiv_ratio"]),
            fmt_ratio(b["latency_ratio"]), loose,
        ])
        table.row_tags.append({base["method"]})
    return table


def comparison_intro(report: dict) -> str:
    """The comparison's rule, stated once: who is matched with whom, on which split, with which tolerance."""
    comp = report["comparison"]
    ratios = ("Ratios are baseline / HGQ: 10\u00d7 means the HGQ model needs ten times fewer; the RTL route's "
              "(yosys LUTs, pipeline cycles) lead, EBOPs and the HLS route's estimate follow.")
    tol = comp.get("tolerance")
    if comp.get("rule") == "validation":
        at = "at least the baseline's" if not tol else f"at least the baseline's minus {100 * tol:g} points"
        within = comp.get("within_tolerance")
        loose = (f" The last column, labelled as such, is the cheapest HGQ model within {100 * within:g} points "
                 "on validation." if within is not None else "")
        n = comp.get("n_test")
        errors = f" (\u00b1: binomial standard error on {fmt_int(n)} test rows)" if n else ""
        return (f"Each baseline is matched with the cheapest HGQ model (fewest EBOPs) whose **validation** accuracy "
                f"is {at}; both are then reported on the test split{errors}.{loose} {ratios}")
    if tol is None:
        names = {comparison_hgq(report, b) for b in comp["baselines"]}
        who = f"HGQ model **{names.pop()}**" if len(names) == 1 else "The HGQ model named in each row"
        return f"{who} against each baseline. {ratios}"
    return (f"Each baseline is matched with the cheapest HGQ model (fewest EBOPs) whose test accuracy is at least the "
            f"baseline's minus {100 * tol:g} percentage points; when none is, the most accurate HGQ model "
            f"(**{comp['hgq_model']}**) is shown without ratios. {ratios}")


def routes_table(report: dict) -> Table | None:
    """Per baseline, the matched HGQ model's ratios on both implementation routes (baseline / HGQ): the HLS route
    (estimate or Vivado/Vitis reports) and the open-source RTL route (yosys, da4ml pipeline)."""
    comp = report["comparison"]
    if comp is None or not any(b.get("rtl_lut_ratio") is not None for b in comp["baselines"]):
        return None
    table = Table(["Baseline", "HGQ model", "HLS: LUT-equiv. ratio", "HLS: latency ratio", "HLS source",
                   "RTL: LUT ratio", "RTL: LUT-equiv. ratio", "RTL: latency ratio"],
                  numeric=[False, False, True, True, False, True, True, True])
    for b in comp["baselines"]:
        table.rows.append([b["baseline"], b.get("hgq_model") or comp["hgq_model"], fmt_ratio(b["lut_equiv_ratio"]),
                           fmt_ratio(b["latency_ratio"]), b.get("hls_source") or DASH,
                           *(fmt_ratio(b.get(f"rtl_{k}_ratio")) for k in ("lut", "lut_equiv", "latency"))])
        table.row_tags.append(set())
    return table


def comparison_headline(report: dict) -> str | None:
    """One sentence per baseline that has RTL figures on both sides: the matched HGQ model's yosys-LUT and cycle
    ratios at equal accuracy (the rule named), then its EBOPs ratio. None without such a row."""
    comp = report.get("comparison")
    if not comp or comp.get("rule") != "validation":
        return None
    rows = [b for b in comp["baselines"] if b.get("rtl_lut_ratio") is not None and b.get("hgq_model")]
    if not rows:
        return None
    out = []
    for b in rows:
        out.append(
            f"Against **{b['baseline']}** at equal accuracy (the cheapest HGQ model whose validation accuracy is at "
            f"least the baseline's), **{b['hgq_model']}** needs **{fmt_ratio(b['rtl_lut_ratio'])} fewer yosys LUTs** "
            f"and {fmt_ratio(b.get('rtl_latency_ratio'))} fewer pipeline cycles, with {fmt_ratio(b['ebops_ratio'])} "
            f"fewer EBOPs (test accuracy {_pm(b['accuracy_hgq'], b.get('accuracy_hgq_stderr'))} against "
            f"{_pm(b['accuracy_baseline'], b.get('accuracy_baseline_stderr'))}).")
    return " ".join(out)
