"""`trigger-hgq render REPORT_JSON [--out DIR]`: validate a report.json and (re)write its Markdown and HTML."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from trigger_hgq.errors import TriggerHGQError


def run(args: argparse.Namespace) -> int:
    from trigger_hgq.report.write import write_report

    src = Path(args.report_json)
    try:
        report = json.loads(src.read_text(encoding="utf-8"))
    except OSError as err:
        raise TriggerHGQError(f"{src}: cannot read ({err.strerror or err})") from None
    except json.JSONDecodeError as err:
        raise TriggerHGQError(f"{src}: not valid JSON ({err})") from None
    out = Path(args.out) if args.out else src.parent
    try:
        written = write_report(report, out)
    except TriggerHGQError as err:
        raise TriggerHGQError(f"{src}: {err}") from None
    for rel in ("report.json", "report.md", "report.html"):
        print(written[rel])
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("render", help="validate a report.json and write report.md / report.html beside it")
    p.add_argument("report_json", help="a report.json written by the pipeline")
    p.add_argument("--out", help="output folder (default: the folder of REPORT_JSON)")
    p.set_defaults(func=run)
