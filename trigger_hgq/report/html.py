"""report.html: one self-contained page (inline CSS, plots as base64 PNG data URIs, no external resources)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass

from trigger_hgq.report import comparison_text as ct
from trigger_hgq.report import content as c
from trigger_hgq.report.plots import STYLE, Plot
from trigger_hgq.report.sections import SECTION_KEYS, TITLES, in_order

CSS = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #d9dee7; --bg: #f6f7f9; --ok: #1a7f37; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; }
main { max-width: 1480px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 0 0 8px; }
.meta { color: var(--muted); margin: 0 0 18px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; }
.verdict { border-left: 6px solid var(--ok); font-size: 16px; }
.verdict.nothing { border-left-color: var(--bad); }
.verdict p { margin: 6px 0; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
@media (max-width: 900px) { .grid2 { grid-template-columns: 1fr; } }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; background: #fff; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
th, td { padding: 6px 7px; border-bottom: 1px solid var(--line); white-space: nowrap; text-align: left; }
th { background: #eef1f5; font-weight: 600; white-space: normal; vertical-align: bottom; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { white-space: normal; min-width: 150px; }
tr.over td { color: var(--muted); }
tr.selected td { background: #e6f4ea; font-weight: 600; }
tr.closest td { background: #fff4e5; font-weight: 600; }
tr.total td { font-weight: 600; }
.fit { color: var(--ok); font-weight: 600; }
.over { color: var(--bad); }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.note { color: var(--muted); font-size: 13.5px; margin: 8px 2px; }
.warn { background: #fff8e1; border: 1px solid #f0d58c; border-radius: 6px; padding: 8px 12px; margin: 8px 0; }
figure { margin: 0 0 22px; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 6px; }
footer { color: var(--muted); font-size: 12.5px; margin-top: 36px; }
"""


def _text(text: str) -> str:
    """Escape, then turn the one markup content uses (**bold**) into <strong>."""
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))


def table(t: c.Table, wrap_cols: tuple[int, ...] = ()) -> str:
    head = "".join(f'<th class="num">{html.escape(h)}</th>' if num else f"<th>{html.escape(h)}</th>"
                   for h, num in zip(t.headers, t.numeric, strict=True))
    body = []
    for row, tags in zip(t.rows, t.row_tags, strict=True):
        cells = []
        for j, (val, num) in enumerate(zip(row, t.numeric, strict=True)):
            classes = (["num"] if num else []) + (["wrap"] if j in wrap_cols else [])
            inner = html.escape(val)
            if t.headers[j] == "Method" and tags & set(STYLE):
                method = next(iter(tags & set(STYLE)))
                inner = f'<span class="swatch" style="background:{STYLE[method]["color"]}"></span>{inner}'
            if t.headers[j] == "Within budget":
                inner = f'<span class="{"fit" if val == "yes" else "over"}">{inner}</span>'
            cls = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{cls}>{inner}</td>")
        row_cls = " ".join(sorted(tags & {"selected", "closest", "over", "fits", "total"}))
        body.append(f'<tr class="{row_cls}">' + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _dl(items: list[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in items) + "</dl>"


def _figure(plot: Plot) -> str:
    data = base64.b64encode(plot.png).decode("ascii")
    return (f'<figure id="plot-{html.escape(plot.name)}">'
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(plot.caption)}">'
            f"<figcaption>{html.escape(plot.caption)}</figcaption></figure>")


@dataclass(frozen=True)
class _Page:
    report: dict
    plots: list[Plot]
    notes: list[str]


def _h2(key: str, suffix: str = "") -> str:
    return f"<h2>{html.escape(TITLES[key])}{suffix}</h2>"


def _selection(p: _Page) -> list[str]:
    verdict_cls = "verdict nothing" if p.report["nothing_fits"] else "verdict"
    return [f'<section class="card {verdict_cls}">'
            + "".join(f"<p>{_text(t)}</p>" for t in c.selection_paragraphs(p.report)) + "</section>"]


def _budget(p: _Page) -> list[str]:
    return [f'<section>{_h2("budget")}<div class="card">{_dl(c.budget_items(p.report))}</div></section>']


def _dataset(p: _Page) -> list[str]:
    return [f'<section>{_h2("dataset")}<div class="card">{_dl(c.dataset_items(p.report))}</div></section>']


def _comparison(p: _Page) -> list[str]:
    parts = [_h2("comparison")]
    comp = ct.comparison_table(p.report)
    if comp is None:
        parts.append('<p class="note">No comparison in this report (no HGQ model was compared).</p>')
    else:
        head = ct.comparison_headline(p.report)
        parts += [*([f"<p>{_text(head)}</p>"] if head else []), f"<p>{_text(ct.comparison_intro(p.report))}</p>",
                  table(comp)]
    routes, rtl = ct.routes_table(p.report), c.rtl_table(p.report)
    if routes is not None:
        parts += ["<h3>Both implementation routes</h3>", table(routes)]
    if rtl is not None:
        parts += ["<h3>Open-source RTL route</h3>", table(rtl), f'<p class="note">{html.escape(c.RTL_NOTE)}</p>']
    return parts


def _models(p: _Page) -> list[str]:
    models = c.models_table(p.report)
    return [_h2("models", f" ({len(p.report['models'])})"),
            table(models, wrap_cols=(models.headers.index("Within budget"),)),
            f'<p class="note">{html.escape(c.MODELS_TABLE_NOTE)}</p>']


def _plots(p: _Page) -> list[str]:
    return [_h2("plots"), *(f'<p class="warn">{html.escape(n)}</p>' for n in p.notes),
            *(_figure(plot) for plot in p.plots)]


def _quantizers(p: _Page) -> list[str]:
    quant = c.quantizers_table(p.report)
    return [] if quant is None else [_h2("quantizers"), table(quant),
                                     f'<p class="note">{html.escape(c.QUANTIZERS_NOTE)}</p>']


def _timings(p: _Page) -> list[str]:
    timings = c.timings_table(p.report)
    return [] if timings is None else [_h2("timings"), table(timings)]


RENDERERS = in_order({"selection": _selection, "budget": _budget, "dataset": _dataset, "comparison": _comparison,
                      "models": _models, "plots": _plots, "quantizers": _quantizers, "timings": _timings},
                     "report.html")
SIDE_BY_SIDE = frozenset({"budget", "dataset"})
"""Sections shown next to each other (a two-column grid) when they follow one another."""


def render_html(report: dict, plots: list[Plot], notes: list[str]) -> str:
    """The whole report.html as a string."""
    name = report["dataset"]["name"]
    page = _Page(report, plots, notes)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Trigger model report: {html.escape(name)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>Trigger model report: {html.escape(name)}</h1>",
        f'<p class="meta">Created {html.escape(report["created"])} &middot; '
        f'{c.plural(len(report["models"]), "model")} &middot; part {html.escape(report["budget"]["part"])} '
        f'&middot; schema version {report["schema_version"]}</p>',
    ]
    in_grid = False
    for key, render in zip(SECTION_KEYS, RENDERERS, strict=True):
        if (key in SIDE_BY_SIDE) != in_grid:
            parts.append('<div class="grid2">' if not in_grid else "</div>")
            in_grid = not in_grid
        parts += render(page)
    if in_grid:
        parts.append("</div>")
    parts += ["<footer>Written by trigger-hgq. The same numbers are in report.json beside this file.</footer>",
              "</main></body></html>"]
    return "\n".join(parts) + "\n"
