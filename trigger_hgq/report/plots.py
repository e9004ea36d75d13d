"""The report's plots as PNG bytes (matplotlib, Agg canvas, no pyplot state).

matplotlib is the optional extra ``plot``: :func:`make_plots` returns no plots and a note when it is missing.
Each plot is skipped, with a note, when no model carries the numbers it needs.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass

from trigger_hgq.fpga import DSP_LUT_EQUIV
from trigger_hgq.report.content import budget_cycles, fmt_pct, method_label, ordered_models
from trigger_hgq.report.schema import METHODS

# One colour and marker per method (colour-blind-safe Okabe-Ito colours); HGQ's front is drawn in its colour.
STYLE = {
    "float": {"color": "#555555", "marker": "P"},
    "qkeras": {"color": "#0072B2", "marker": "s"},
    "autoqkeras": {"color": "#E69F00", "marker": "^"},
    "hgq": {"color": "#D55E00", "marker": "o"},
}
DPI = 110
AXIS_MARGIN_PT = 3.0
"""The accuracy axes start this many points below the least accurate baseline (every decision lies above it)."""


@dataclass
class Plot:
    """One figure: ``name`` is a file-name stem, ``png`` the encoded image."""

    name: str
    title: str
    caption: str
    png: bytes


def slug(text: str) -> str:
    """A file-name-safe form of a model name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "model"


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _style_axes(ax) -> None:
    ax.grid(True, which="major", alpha=0.35)
    ax.tick_params(labelsize=10)


def accuracy_axis(report: dict) -> tuple[float | None, float]:
    """The accuracy axis (percent): from the least accurate baseline (every method but HGQ) minus
    :data:`AXIS_MARGIN_PT` to just above the most accurate model; ``None`` as the bottom when there is no
    baseline (the axis then fits every model)."""
    accs = [100 * m["accuracy"] for m in report["models"]]
    base = [100 * m["accuracy"] for m in report["models"] if m["method"] != "hgq"]
    top = max(accs) + 0.5
    return (min(base) - AXIS_MARGIN_PT if base else None), top


def shown_accuracy(acc: float, bottom: float | None) -> float:
    """An accuracy (fraction) as drawn (percent): points below the axis sit on its bottom edge."""
    return 100 * acc if bottom is None else max(100 * acc, bottom)


def _apply_accuracy_axis(ax, report: dict, xs: dict[str, float]) -> str:
    """Sets the accuracy axis; returns the caption's sentence on the models drawn on its bottom edge."""
    bottom, top = accuracy_axis(report)
    if bottom is None:
        return ""
    ax.set_ylim(bottom, top)
    below = [m["name"] for m in report["models"] if m["name"] in xs and 100 * m["accuracy"] < bottom]
    if not below:
        return ""
    ax.annotate(f"{len(below)} below {bottom:.1f}% (drawn on this edge)", xy=(0.01, 0.01),
                xycoords="axes fraction", fontsize=9, color="#555555")
    return (f" The accuracy axis starts {AXIS_MARGIN_PT:g} pt below the least accurate baseline; "
            f"{len(below)} model(s) below it sit on its bottom edge (the tables give their numbers).")


def _scatter_methods(ax, report: dict, xs: dict[str, float]) -> list[str]:
    """Every model with an x value, one colour/marker per method; over-budget models hollow; models below the
    accuracy axis on its bottom edge. Returns the models without an x value."""
    bottom = accuracy_axis(report)[0]
    skipped = []
    for method in METHODS:
        group = [m for m in report["models"] if m["method"] == method]
        if not group:
            continue
        st = STYLE[method]
        shown = [m for m in group if xs.get(m["name"]) is not None]
        skipped += [m["name"] for m in group if xs.get(m["name"]) is None]
        labelled = False
        for fits in (True, False):
            pts = [m for m in shown if m["within_budget"] == fits]
            if not pts:
                continue
            ax.scatter(
                [xs[m["name"]] for m in pts], [shown_accuracy(m["accuracy"], bottom) for m in pts], s=55,
                marker=st["marker"], clip_on=False,
                facecolors=st["color"] if fits else "white", edgecolors=st["color"], linewidths=1.6, zorder=3,
                label=None if labelled else f"{method_label(method)} ({len(shown)})",
            )
            labelled = True
    return skipped


def _mark_chosen(ax, report: dict, xs: dict[str, float]) -> None:
    """Ring and label the selected (or closest) model."""
    name = report["selected"] or report["closest"]
    if name is None or xs.get(name) is None:
        return
    m = next(m for m in report["models"] if m["name"] == name)
    word = "selected" if report["selected"] else "closest"
    ax.scatter([xs[name]], [shown_accuracy(m["accuracy"], accuracy_axis(report)[0])], s=260, clip_on=False,
               facecolors="none", edgecolors="black", linewidths=1.8, zorder=4, label=f"{word}: {name}")


def _float_reference(ax, report: dict, xs: dict[str, float]) -> None:
    """A dotted line at the accuracy of float models that have no x value (they have no EBOPs, say)."""
    for m in report["models"]:
        if m["method"] == "float" and xs.get(m["name"]) is None:
            ax.axhline(100 * m["accuracy"], color=STYLE["float"]["color"], linestyle=":", linewidth=1.5,
                       label=f"Float reference{'' if m['name'] == 'float' else ' ' + m['name']} "
                             f"({fmt_pct(m['accuracy'])})")


def _outside_legend(ax) -> None:
    ax.legend(fontsize=10, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)


def _budget_legend_proxies(ax) -> None:
    ax.scatter([], [], s=55, marker="o", facecolors="#999999", edgecolors="#999999", label="filled: within budget")
    ax.scatter([], [], s=55, marker="o", facecolors="white", edgecolors="#999999", linewidths=1.6,
               label="hollow: over budget")


def pareto_points(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """Non-dominated (cost, accuracy, name) points (lower cost, higher accuracy), sorted by cost."""
    front: list[tuple[float, float, str]] = []
    for cost, acc, name in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or acc > front[-1][1]:
            front.append((cost, acc, name))
    return front


def _accuracy_vs_cost(report: dict, key: str, xlabel: str, name: str, title: str, flagged_front: bool):
    xs = {m["name"]: m[key] for m in report["models"] if m[key] is not None and m[key] > 0}
    if not xs:
        return None, f"{title}: no model has a {key} value."
    fig = _figure(11.0, 5.6)
    ax = fig.add_subplot()
    _float_reference(ax, report, xs)
    skipped = _scatter_methods(ax, report, xs)
    bottom = accuracy_axis(report)[0]
    hgq = [(xs[m["name"]], 100 * m["accuracy"], m["name"]) for m in report["models"]
           if m["method"] == "hgq" and m["name"] in xs]
    if flagged_front:
        flagged = {m["name"] for m in report["models"] if m["pareto_front"]}
        front = sorted(p for p in hgq if p[2] in flagged)
        front_label = "HGQ Pareto front (kept on validation accuracy)"
    else:
        front = pareto_points(hgq)
        front_label = "HGQ Pareto front (in this plane)"
    if len(front) >= 2:
        ax.plot([p[0] for p in front], [shown_accuracy(p[1] / 100, bottom) for p in front],
                color=STYLE["hgq"]["color"], linewidth=1.8, zorder=2, label=front_label)
    _mark_chosen(ax, report, xs)
    _budget_legend_proxies(ax)
    ax.set_xscale("log")
    ax.grid(True, which="minor", axis="x", alpha=0.15)
    ax.set_xlabel(xlabel, fontsize=12)
    ax.set_ylabel("Test accuracy (%)", fontsize=12)
    ax.set_title(title, fontsize=13)
    _style_axes(ax)
    _outside_legend(ax)
    caption = f"{title}, log x axis." + _apply_accuracy_axis(ax, report, xs)
    if skipped:
        caption += f" Not shown (no {key}): {', '.join(skipped)}."
    return Plot(name, title, caption, _png(fig)), None


def latency_plot(report: dict):
    from matplotlib.ticker import MaxNLocator

    xs = {m["name"]: m["latency_ns"] for m in report["models"] if m["latency_ns"] is not None}
    title = "Latency vs accuracy"
    if not xs:
        return None, f"{title}: no model has a latency."
    b = report["budget"]
    fig = _figure(11.0, 5.6)
    ax = fig.add_subplot()
    _float_reference(ax, report, xs)
    skipped = _scatter_methods(ax, report, xs)
    _mark_chosen(ax, report, xs)
    _budget_legend_proxies(ax)
    hi = max([*xs.values(), b["latency_ns"]]) * 1.12
    ax.set_xlim(0, hi)
    ax.axvline(b["latency_ns"], color="black", linestyle="--", linewidth=1.6,
               label=f"budget {b['latency_ns']:g} ns ({budget_cycles(b)} cycles)")
    ax.axvspan(b["latency_ns"], hi, color="#CC0000", alpha=0.07, zorder=0, label="over the latency budget")
    clock = b["clock_ns"]
    top = ax.secondary_xaxis("top", functions=(lambda ns: ns / clock, lambda cyc: cyc * clock))
    top.set_xlabel(f"Latency (clock cycles at {clock:g} ns)", fontsize=11)
    top.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    ax.set_xlabel("Latency (ns)", fontsize=12)
    ax.set_ylabel("Test accuracy (%)", fontsize=12)
    ax.set_title(title, fontsize=13, pad=12)
    _style_axes(ax)
    _outside_legend(ax)
    caption = f"Latency (ns) of every model against its accuracy; dashed line: the {b['latency_ns']:g} ns budget."
    caption += _apply_accuracy_axis(ax, report, xs)
    if skipped:
        caption += f" Not shown (no latency): {', '.join(skipped)}."
    return Plot("latency_vs_accuracy", title, caption, _png(fig)), None


def roc_plot(report: dict):
    """One panel per class: background efficiency (log) against signal efficiency, one line per model."""
    models = [m for m in ordered_models(report) if m.get("roc")]
    chosen = report["selected"] or report["closest"]
    models.sort(key=lambda m: m["name"] != chosen)  # the selected model first (stable otherwise)
    if not models:
        return None, "ROC curves: no model carries ROC curves."
    classes = [c for c in report["dataset"]["classes"] if any(c in m["roc"] for m in models)]
    ncol = min(3, len(classes))
    nrow = math.ceil(len(classes) / ncol)
    fig = _figure(4.6 * ncol, 4.0 * nrow)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    dashes = ["-", "--", "-.", ":"]
    for k, cls in enumerate(classes):
        ax = axes[k // ncol][k % ncol]
        for j, m in enumerate(models):
            curve = m["roc"].get(cls)
            if curve is None:
                continue
            pts = [(t, f) for f, t in zip(curve["fpr"], curve["tpr"], strict=True) if f > 0]
            auc = m["auc"].get(cls)
            label = f"{m['name']}" + (f" (AUC {auc:.3f})" if auc is not None else "")
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=STYLE[m["method"]]["color"],
                    linestyle=dashes[j % len(dashes)], linewidth=1.8, label=label)
        ax.set_yscale("log")
        ax.set_xlim(0, 1)
        ax.set_title(f"class {cls} vs rest", fontsize=12)
        ax.set_xlabel(f"Signal efficiency (true positive rate, {cls})", fontsize=10)
        ax.set_ylabel("Background efficiency\n(false positive rate)", fontsize=10)
        _style_axes(ax)
        ax.legend(fontsize=9, loc="lower right", framealpha=0.9)
    for k in range(len(classes), nrow * ncol):
        axes[k // ncol][k % ncol].set_visible(False)
    fig.suptitle("ROC curves per class (one vs rest)", fontsize=13)
    caption = ("ROC curves per class, one against the rest, for " + ", ".join(m["name"] for m in models)
               + ". Lower is better: fewer background jets accepted at the same signal efficiency.")
    return Plot("roc_curves", "ROC curves per class", caption, _png(fig)), None


def bits_plot(report: dict, m: dict) -> Plot:
    """Per-layer histograms of weight and activation bitwidths of one HGQ model."""
    from matplotlib.ticker import MaxNLocator, MultipleLocator

    hist = m["bits_histogram"]
    layers = list(hist)
    fig = _figure(11.0, 1.0 + 2.3 * len(layers))
    axes = fig.subplots(len(layers), 2, squeeze=False, sharex=True)
    all_bits = [int(b) for h in hist.values() for kind in ("weights", "activations") for b in (h.get(kind) or {})]
    top = max(all_bits, default=8)
    for r, layer in enumerate(layers):
        for c, kind in enumerate(("weights", "activations")):
            ax = axes[r][c]
            counts = {int(b): n for b, n in (hist[layer].get(kind) or {}).items()}
            total = sum(counts.values())
            if total == 0:
                ax.set_title(f"{layer} {kind}: none", fontsize=10, loc="left")
            else:
                bits = sorted(counts)
                colors = ["#999999" if b == 0 else STYLE["hgq"]["color"] for b in bits]
                ax.bar(bits, [counts[b] for b in bits], width=0.8, color=colors)
                mean = sum(b * n for b, n in counts.items()) / total
                pruned = f", {counts.get(0, 0) / total:.0%} at 0 bits" if kind == "weights" else ""
                ax.set_title(f"{layer} {kind}: n = {total:,}, mean {mean:.2f} bits{pruned}", fontsize=10, loc="left")
            ax.set_ylabel("count", fontsize=10)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlim(-0.7, top + 0.7)
            _style_axes(ax)
            if r == len(layers) - 1:
                ax.set_xlabel(f"Bitwidth of each {kind[:-1]} (bits)", fontsize=11)
    axes[-1][0].xaxis.set_major_locator(MaxNLocator(integer=True) if top > 12 else MultipleLocator(1))
    fig.suptitle(f"Bitwidths per layer of {m['name']}", fontsize=13)
    caption = (f"Per-layer histograms of the bitwidths of {m['name']}'s weights (left; grey bar: 0 bits, pruned) "
               "and activations (right).")
    return Plot(f"bits_{slug(m['name'])}", f"Bitwidths of {m['name']}", caption, _png(fig))


def make_plots(report: dict) -> tuple[list[Plot], list[str]]:
    """All plots of a validated report, and notes about the ones that could not be made."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return [], ["Plots are missing: matplotlib is not installed (install the `plot` extra: "
                    "pip install 'trigger-hgq[plot]')."]
    plots: list[Plot] = []
    notes: list[str] = []
    lut_label = f"LUT-equivalent (LUT + {DSP_LUT_EQUIV} \u00d7 DSP)"
    for plot, note in (
        _accuracy_vs_cost(report, "ebops", "EBOPs (effective bit operations)", "accuracy_vs_ebops",
                          "Accuracy vs EBOPs", True),
        _accuracy_vs_cost(report, "lut_equiv", lut_label, "accuracy_vs_lut_equiv", "Accuracy vs LUT-equivalent",
                          False),
        latency_plot(report),
        roc_plot(report),
    ):
        if plot is not None:
            plots.append(plot)
        if note:
            notes.append(note)
    hist_models = [m for m in report["models"] if m.get("bits_histogram")]
    for m in hist_models:
        plot = bits_plot(report, m)
        while plot.name in {p.name for p in plots}:  # two model names with the same file-name form
            plot.name += "_"
        plots.append(plot)
    if not hist_models:
        notes.append("Bitwidth histograms: no model carries a bits_histogram.")
    return plots, notes
