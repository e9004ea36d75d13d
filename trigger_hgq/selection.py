"""Which candidate fits the trigger budget and which one is selected (the comparison rule: ``comparison.py``)."""

from __future__ import annotations

from trigger_hgq.fpga import Budget, lut_equiv

RULES = {"select": "select_accuracy", "validation": "val_accuracy"}
"""The split a choice can be made on -> the model field holding its accuracy there. The test split only reports."""


def rule_of(models: list[dict]) -> str:
    """``select`` when every model has a selection-split accuracy (the card has a ``split.select``), else
    ``validation``."""
    return "select" if models and all(m.get("select_accuracy") is not None for m in models) else "validation"


def violations(model: dict, budget: Budget) -> list[str]:
    """Why a model does not fit (empty when it fits). A model without latency figures, or whose firmware is not
    bit-exact with it (so its accuracy is not the firmware's), does not fit."""
    out = []
    cycles = model.get("latency_cycles")
    if cycles is None:
        out.append("no latency figure")
    elif cycles > budget.latency_cycles:
        out.append(f"latency {cycles} cycles ({cycles * budget.clock_ns:g} ns) > {budget.latency_cycles} cycles "
                   f"({budget.latency_ns:g} ns)")
    avail = budget.available()
    for key, frac in (("lut", budget.lut_fraction), ("dsp", budget.dsp_fraction)):
        if frac is not None and avail is not None:
            limit = frac * avail[key]
            if model.get(key) is None or model[key] > limit:
                out.append(f"{key.upper()} {model.get(key)} > {limit:.0f} ({frac:.1%} of {budget.part})")
    exact = model.get("bit_exact_fraction")
    if exact is None or exact < 1.0:  # only firmware proven equal to the evaluated model can be deployed
        out.append("not bit-exact" + (f" ({exact:.2%} of checked outputs equal)" if exact is not None else ""))
    return out


def rtl_view(model: dict) -> dict:
    """The model as the RTL route implements it: yosys LUT/FF/DSP, the pipeline's latency in cycles and the
    Verilator check (RTL equal to the model, and a converted baseline equal to its QKeras model). A model without
    RTL figures gets none (so it does not fit)."""
    view = {k: v for k, v in model.items() if k not in ("lut", "dsp", "ff", "latency_cycles", "bit_exact_fraction")}
    syn, rtl = model.get("yosys") or {}, model.get("rtl") or {}
    if syn.get("lut") is None or rtl.get("latency_cycles") is None:
        return view
    exact = rtl.get("bit_exact_fraction")
    if exact is not None and rtl.get("conversion_exact_fraction") is not None:
        exact = min(exact, rtl["conversion_exact_fraction"])
    view.update(lut=syn["lut"], dsp=syn.get("dsp", 0), ff=syn.get("ff"), latency_cycles=rtl["latency_cycles"],
                bit_exact_fraction=exact)
    return view


def select(models: list[dict], budget: Budget) -> dict:
    """Mark each model ``within_budget`` and pick the most accurate that fits (ties: fewer LUT-equivalents), by
    its accuracy on the selection split (:func:`rule_of`; validation without one), never the test split's.

    The figures are those of ``budget.implementation`` (``rtl``: :func:`rtl_view`). Returns ``{"selected",
    "closest", "nothing_fits", "selection_rule"}``; ``closest`` (when nothing fits) is the model with the
    smallest latency excess, then the most accurate.
    """
    view = rtl_view if budget.implementation == "rtl" else dict
    views = []
    for m in models:
        v = view(m)
        m["lut_equiv"] = lut_equiv(m)  # the model's own (HLS) figures; the RTL's sit in its "yosys" entry
        m["budget_violations"] = violations(v, budget)
        if budget.implementation == "rtl" and v.get("latency_cycles") is None:
            m["budget_violations"] = ["no RTL figures (the RTL route did not run for this model: export.rtl)"]
        m["within_budget"] = not m["budget_violations"]
        views.append({**v, "lut_equiv": lut_equiv(v), "within_budget": m["within_budget"]})
    rule = rule_of(models)
    return {**_choose(views, budget, RULES[rule]), "selection_rule": rule}


def _choose(models: list[dict], budget: Budget, key: str) -> dict:
    def accuracy(m):  # a model without the rule's figure (an old report's) by its test accuracy
        return m[key] if m.get(key) is not None else m["accuracy"]

    fitting = [m for m in models if m["within_budget"]]
    if fitting:
        best = max(fitting, key=lambda m: (accuracy(m), -(m["lut_equiv"] or 0.0)))
        return {"selected": best["name"], "closest": None, "nothing_fits": False}

    def excess(m):
        cycles = m.get("latency_cycles")
        return (cycles - budget.latency_cycles) if cycles is not None else float("inf")

    closest = min(models, key=lambda m: (excess(m), -accuracy(m))) if models else None
    return {"selected": None, "closest": closest["name"] if closest else None, "nothing_fits": True}
