"""The report's sections are declared once: report.md and report.html show them in that one order."""

from __future__ import annotations

import html
import re

import pytest
from report_data import make_report

from trigger_hgq.report.sections import SECTIONS, in_order
from trigger_hgq.report.write import render_report


@pytest.fixture(autouse=True)
def _seed():
    """Overrides conftest's TensorFlow seeding: these tests use no TensorFlow."""
    yield


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    """Both writers' output for a report that has every section (a QKeras model with its quantizers)."""
    report = make_report()
    q = "quantized_bits(6,0,0,alpha=1)"
    qkeras = next(m for m in report["models"] if m["method"] == "qkeras")
    qkeras["quantizers"] = {"fc1": {"kernel": q, "bias": q, "activation": None, "units": 64}}
    return {k: v.decode() for k, v in render_report(report).items() if k.endswith((".md", ".html"))}


def test_the_declared_order():
    assert [s.key for s in SECTIONS] == ["selection", "budget", "dataset", "comparison", "models", "plots",
                                         "quantizers", "timings"]


def test_markdown_sections_in_the_declared_order(files):
    headings = re.findall(r"^## (.+)$", files["report.md"], flags=re.M)
    assert headings == [s.title for s in SECTIONS]


def test_html_sections_in_the_declared_order(files):
    page = files["report.html"]
    headings = [re.sub(r" \(\d+\)$", "", html.unescape(h)) for h in re.findall(r"<h2>(.+?)</h2>", page)]
    # the selection is the verdict card above the first heading
    assert headings == [s.title for s in SECTIONS if s.key != "selection"]
    assert page.index('<section class="card verdict') < page.index("<h2>")
    # budget and dataset side by side
    grid = page.split('<div class="grid2">', 1)[1].split("</div>\n", 1)[0] + "</div>"
    assert re.findall(r"<h2>(.+?)</h2>", grid) == ["Budget", "Dataset"]


def test_a_writer_must_render_every_section():
    renderers = {s.key: print for s in SECTIONS}
    assert in_order(renderers, "w") == [print] * len(SECTIONS)
    del renderers["plots"]
    with pytest.raises(ValueError, match="w: renders"):
        in_order(renderers, "w")
