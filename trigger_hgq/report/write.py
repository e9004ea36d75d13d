"""write_report: validate a report dict, render everything in memory, then write each file atomically.

Nothing touches the output folder until every file has been rendered, so a failing render leaves the folder as it
was. Each file goes to a temporary name in the same folder and is renamed over its final name (``os.replace``);
report.json is renamed last, so its presence means the whole report is there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from trigger_hgq.atomic import write_bytes_atomic
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.report.html import render_html
from trigger_hgq.report.markdown import render_markdown
from trigger_hgq.report.plots import make_plots
from trigger_hgq.report.schema import validate_report

PLOT_DIR = "report_plots"
TMP_PREFIX = ".tmp-report-"


def render_report(report: dict) -> dict[str, bytes]:
    """Validate ``report`` and render every file: relative path -> bytes (report.json last)."""
    rep = validate_report(report)
    plots, notes = make_plots(rep)
    files = {f"{PLOT_DIR}/{p.name}.png": p.png for p in plots}
    files["report.md"] = render_markdown(rep, plots, notes, PLOT_DIR).encode("utf-8")
    files["report.html"] = render_html(rep, plots, notes).encode("utf-8")
    files["report.json"] = (json.dumps(rep, indent=1, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8")
    return files


def write_report(report: dict, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Validate ``report`` and write report.json, report.md, report.html (and the plots report.md links to).

    Returns the written paths keyed by their path relative to ``out_dir`` (``"report.json"``, ...,
    ``"report_plots/accuracy_vs_ebops.png"``). Plot files of an earlier report that this one lacks are removed.
    """
    files = render_report(report)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if any(rel.startswith(f"{PLOT_DIR}/") for rel in files):
            (out / PLOT_DIR).mkdir(exist_ok=True)
    except OSError as err:
        raise TriggerHGQError(f"report folder {out}: cannot create it ({err.strerror or err})") from None
    written: dict[str, Path] = {}
    try:
        for rel, data in files.items():
            write_bytes_atomic(out / rel, data, prefix=f"{TMP_PREFIX}{Path(rel).name}.", fsync=True)
            written[rel] = out / rel
    except OSError as err:
        raise TriggerHGQError(f"report folder {out}: cannot write ({err.strerror or err})") from None
    plot_dir = out / PLOT_DIR
    if plot_dir.is_dir():
        for stale in plot_dir.glob("*.png"):
            if f"{PLOT_DIR}/{stale.name}" not in files:
                stale.unlink()
        if not any(plot_dir.iterdir()):
            plot_dir.rmdir()
    return written
