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
    on_select = comp.get("rule") == "select"
    split, key = ("Sel.", "select_accuracy") if on_select else ("Val.", "val_accuracy")
    table = Table(
        ["Baseline", "Method", f"{split} acc. (baseline)", "Test acc. (baseline)", "HGQ model",
         f"{split} acc. (HGQ)", "Test acc. (HGQ)", "yosys LUT ratio", "RTL cycles ratio", "EBOPs (baseline)",
         "EBOPs (HGQ)",
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
            below = b.get(f"{key}_below")
            gap = f", {100 * below:.2f} pt below on {'selection' if on_select else 'validation'}" \
                if below is not None else ""
            hgq_cell = f"none reaches it; most accurate: {b['closest_hgq']}{gap}"
        else:
            hgq_cell = (hgq_name or DASH) + (f" ({b['note']})" if b.get("note") else "")
        loose = (f"{b['within_model']} ({fmt_ratio(b.get('within_ebops_ratio'))})" if b.get("within_model")
                 else DASH)
        table.rows.append([
            b["baseline"], method_label(base["method"]), fmt_pct(b.get(f"{key}_baseline")),
            _pm(b["accuracy_baseline"], b.get("accuracy_baseline_stderr")), hgq_cell,
            fmt_pct(b.get(f"{key}_hgq")), _pm(b.get("accuracy_hgq"), b.get("accuracy_hgq_stderr")),
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
    if comp.get("rule") == "select":
        at = "at least the baseline's" if not tol else f"at least the baseline's minus {100 * tol:g} points"
        n, n_sel = comp.get("n_test"), comp.get("n_select")
        rows = f" ({fmt_int(n_sel)} rows)" if n_sel else ""
        errors = f" (\u00b1: binomial standard error on {fmt_int(n)} test rows)" if n else ""
        return (f"Each baseline is matched with the cheapest HGQ model (fewest EBOPs) whose accuracy on the "
                f"**selection split**{rows} is {at}: rows that neither training, early stopping nor the Pareto "
                f"front saw (the front's validation accuracies are the best of many checkpoints and overstate "
                f"new data). Both are then reported on the test split{errors}. {match_uncertainty_text(comp)}"
                f"{ratios}")
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


def match_uncertainty_text(comp: dict) -> str:
    """One sentence on how uncertain the matches are: the largest standard error of the paired (HGQ - baseline)
    selection-split accuracy difference, with a warning when it exceeds half a point."""
    errs = [b["match_difference_stderr"] for b in comp["baselines"] if b.get("match_difference_stderr") is not None]
    if not errs:
        return ""
    worst = max(errs)
    warn = (" With this few selection rows a match is uncertain by more than half a point: read equal accuracy "
            "as within that error." if worst > 0.005 else "")
    return (f"The standard error of a matched pair's accuracy difference on those rows (paired, per row) is at most "
            f"{100 * worst:.2f} points.{warn} ")


def comparison_headline(report: dict) -> str | None:
    """One sentence per baseline that has RTL figures on both sides: the matched HGQ model's yosys-LUT and cycle
    ratios at equal accuracy (the rule named), then its EBOPs ratio. None without such a row."""
    comp = report.get("comparison")
    if not comp or comp.get("rule") not in ("validation", "select"):
        return None
    rows = [b for b in comp["baselines"] if b.get("rtl_lut_ratio") is not None and b.get("hgq_model")]
    if not rows:
        return None
    split = "selection-split" if comp["rule"] == "select" else "validation"
    out = [f"Equal accuracy here means: the cheapest HGQ model whose {split} accuracy is at least the baseline's"
           + (", on rows that neither training nor the Pareto front saw." if comp["rule"] == "select" else ".")]
    for b in rows:
        diff, err = b.get("match_difference"), b.get("match_difference_stderr")
        pair = (f"; on the selection split HGQ - baseline = {100 * diff:+.2f} \u00b1 {100 * err:.2f} points"
                if diff is not None and err is not None else "")
        out.append(
            f"Against **{b['baseline']}** at equal accuracy, **{b['hgq_model']}** needs "
            f"**{fmt_ratio(b['rtl_lut_ratio'])} fewer yosys LUTs** "
            f"and {fmt_ratio(b.get('rtl_latency_ratio'))} fewer pipeline cycles, with {fmt_ratio(b['ebops_ratio'])} "
            f"fewer EBOPs (test accuracy {_pm(b['accuracy_hgq'], b.get('accuracy_hgq_stderr'))} against "
            f"{_pm(b['accuracy_baseline'], b.get('accuracy_baseline_stderr'))}{pair}).")
    return " ".join(out)
