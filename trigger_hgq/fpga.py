"""FPGA conventions shared by export, selection and the report (one home each)."""

from __future__ import annotations

DEFAULT_PART = "xcvu13p-flga2577-2-e"
"""The FPGA part of exports, RTL projects and budgets when none is given (a Virtex UltraScale+ VU13P)."""

DSP_LUT_EQUIV = 55
"""LUT-equivalent of one DSP48 (the convention of the HGQ paper: EBOPs ~ LUT + 55 * DSP)."""
