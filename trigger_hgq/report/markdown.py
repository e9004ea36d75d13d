"""report.md: the report as GitHub-flavoured Markdown; plots are PNG files beside it, linked relatively."""

from __future__ import annotations

from trigger_hgq.report import content as c
from trigger_hgq.report.plots import Plot


def _cell(text: str) -> str:
    """A table cell: pipes escaped, no line breaks."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(t: c.Table) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in t.headers) + " |",
             "|" + "|".join("---:" if num else ":---" for num in t.numeric) + "|"]
    for row in t.rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _items(items: list[tuple[str, str]]) -> str:
    return "\n".join(f"- **{k}**: {v}" for k, v in items)


def render_markdown(report: dict, plots: list[Plot], notes: list[str], plot_dir: str) -> str:
    """The whole report.md; ``plot_dir`` is the folder (relative to report.md) holding ``<plot.name>.png``."""
    out = [f"# Trigger model report: {report['dataset']['name']}", "",
           f"Created {report['created']}. Schema version {report['schema_version']}.", "",
           "## Selection", ""]
    out += [p + "\n" for p in c.selection_paragraphs(report)]
    out += ["## Budget", "", _items(c.budget_items(report)), "", "## Dataset", "", _items(c.dataset_items(report)),
            ""]
    comp = c.comparison_table(report)
    out += ["## HGQ against the baselines", ""]
    if comp is None:
        out += ["No comparison in this report (no HGQ model was compared).", ""]
    else:
        out += [c.comparison_intro(report), "", table(comp), ""]
    routes, rtl = c.routes_table(report), c.rtl_table(report)
    if routes is not None:
        out += ["### Both implementation routes", "", table(routes), ""]
    if rtl is not None:
        out += ["### Open-source RTL route", "", table(rtl), "", c.RTL_NOTE, ""]
    out += ["## Models", "", f"{c.plural(len(report['models']), 'model')}.", "", table(c.models_table(report)), "",
            c.MODELS_TABLE_NOTE, "", "## Plots", ""]
    for plot in plots:
        out += [f"### {plot.title}", "", f"![{plot.caption}]({plot_dir}/{plot.name}.png)", "", plot.caption, ""]
    for note in notes:
        out += [f"> {note}", ""]
    quant = c.quantizers_table(report)
    if quant is not None:
        out += ["## Per-layer quantization (QKeras, AutoQKeras)", "", table(quant), "", c.QUANTIZERS_NOTE, ""]
    timings = c.timings_table(report)
    if timings is not None:
        out += ["## Stage timings", "", table(timings), ""]
    return "\n".join(out).rstrip() + "\n"
