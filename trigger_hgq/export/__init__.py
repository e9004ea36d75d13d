"""Firmware export: hls4ml projects proven bit-exact, with estimated or synthesized resources and latency.

``proxy`` (the per-element fixed-point representation hls4ml reads), ``hls`` (conversion, C-simulation build and
check), ``estimate`` (analytical resources and latency), ``vivado`` (synthesis report parsing), ``report``
(report.json), ``api`` (:func:`to_hls4ml`).
"""

from __future__ import annotations

from trigger_hgq.export.api import Export, to_hls4ml
from trigger_hgq.export.proxy import FixedPointQuantizer, to_proxy

__all__ = ["Export", "FixedPointQuantizer", "to_hls4ml", "to_proxy"]
