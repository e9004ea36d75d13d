"""report.md: the report as GitHub-flavoured Markdown; plots are PNG files beside it, linked relatively."""

from __future__ import annotations

from dataclasses import dataclass

from trigger_hgq.report import comparison_text as ct
from trigger_hgq.report import content as c
from trigger_hgq.report.plots import Plot
from trigger_hgq.report.sections import TITLES, in_order


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


@dataclass(frozen=True)
class _Doc:
    report: dict
    plots: list[Plot]
    notes: list[str]
    plot_dir: str


def _heading(key: str, level: int = 2) -> list[str]:
    return ["#" * level + " " + TITLES[key], ""]


def _selection(d: _Doc) -> list[str]:
    return [*_heading("selection"), *(p + "\n" for p in c.selection_paragraphs(d.report))]


def _budget(d: _Doc) -> list[str]:
    return [*_heading("budget"), _items(c.budget_items(d.report)), ""]


def _dataset(d: _Doc) -> list[str]:
    return [*_heading("dataset"), _items(c.dataset_items(d.report)), ""]


def _comparison(d: _Doc) -> list[str]:
    out = _heading("comparison")
    comp = ct.comparison_table(d.report)
    if comp is None:
        out += ["No comparison in this report (no HGQ model was compared).", ""]
    else:
        head = ct.comparison_headline(d.report)
        out += [*([head, ""] if head else []), ct.comparison_intro(d.report), "", table(comp), ""]
    routes, rtl = ct.routes_table(d.report), c.rtl_table(d.report)
    if routes is not None:
        out += ["### Both implementation routes", "", table(routes), ""]
    if rtl is not None:
        out += ["### Open-source RTL route", "", table(rtl), "", c.RTL_NOTE, ""]
    return out


def _models(d: _Doc) -> list[str]:
    return [*_heading("models"), f"{c.plural(len(d.report['models']), 'model')}.", "",
            table(c.models_table(d.report)), "", c.MODELS_TABLE_NOTE, ""]


def _plots(d: _Doc) -> list[str]:
    out = _heading("plots")
    for plot in d.plots:
        out += [f"### {plot.title}", "", f"![{plot.caption}]({d.plot_dir}/{plot.name}.png)", "", plot.caption, ""]
    for note in d.notes:
        out += [f"> {note}", ""]
    return out


def _quantizers(d: _Doc) -> list[str]:
    quant = c.quantizers_table(d.report)
    return [] if quant is None else [*_heading("quantizers"), table(quant), "", c.QUANTIZERS_NOTE, ""]


def _timings(d: _Doc) -> list[str]:
    timings = c.timings_table(d.report)
    return [] if timings is None else [*_heading("timings"), table(timings), ""]


RENDERERS = in_order({"selection": _selection, "budget": _budget, "dataset": _dataset, "comparison": _comparison,
                      "models": _models, "plots": _plots, "quantizers": _quantizers, "timings": _timings},
                     "report.md")


def render_markdown(report: dict, plots: list[Plot], notes: list[str], plot_dir: str) -> str:
    """The whole report.md; ``plot_dir`` is the folder (relative to report.md) holding ``<plot.name>.png``."""
    doc = _Doc(report, plots, notes, plot_dir)
    out = [f"# Trigger model report: {report['dataset']['name']}", "",
           f"Created {report['created']}. Schema version {report['schema_version']}.", ""]
    for render in RENDERERS:
        out += render(doc)
    return "\n".join(out).rstrip() + "\n"
