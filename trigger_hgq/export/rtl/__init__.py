"""Open-source RTL route: a calibrated trigger-hgq model as pipelined Verilog (da4ml), synthesized with yosys and
simulated with Verilator against the Keras model.

``trace`` (model -> da4ml dataflow, exact quantization semantics), ``project`` (pipelining and Verilog),
``synth`` (yosys resources and logic depth), ``simulate`` (Verilator build and run), ``api`` (:func:`build_rtl`),
``cli`` (``trigger-hgq rtl``). Needs the ``rtl`` extra (da4ml) and the Debian packages yosys and verilator.
"""

from __future__ import annotations

from trigger_hgq.export.rtl.api import build_rtl

__all__ = ["build_rtl"]
