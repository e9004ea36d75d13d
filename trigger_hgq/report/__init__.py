"""The pipeline's report: a validated report dict -> report.json, report.md and a self-contained report.html.

The schema is documented in docs/report_schema.md and declared in :mod:`trigger_hgq.report.schema`.
"""

from __future__ import annotations

from trigger_hgq.report.schema import SCHEMA_VERSION, ReportSchemaError, validate_report
from trigger_hgq.report.summarize import bits_counts, roc_per_class
from trigger_hgq.report.write import render_report, write_report

__all__ = [
    "SCHEMA_VERSION",
    "ReportSchemaError",
    "bits_counts",
    "render_report",
    "roc_per_class",
    "validate_report",
    "write_report",
]
