"""One candidate model through the firmware routes, summarised as the pipeline report's fields.

The hls4ml export with its C-simulation check (:func:`export_candidate`, :func:`csim_failure`), the open-source
RTL route (:func:`rtl_figures`) and hls4ml's distributed-arithmetic flavour (:func:`hls_da_figures`).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

#: The firmware input of a QKeras model that quantizes its inputs itself: wide, so that this step is exact too.
QKERAS_INPUT_PRECISION = "ap_fixed<32,8>"
#: The documented agreement of the HGQ resource proxy with open-source synthesis: EBOPs within this factor of
#: yosys' LUT count. The estimator models hls4ml's multiplier-based design while yosys synthesizes da4ml's
#: distributed-arithmetic design, so the estimate's ratio to yosys is recorded, not promised.
ESTIMATE_FACTOR = 2.0
#: The fields of hls4ml's distributed-arithmetic export the report keeps.
HLS_DA_FIELDS = ("lut", "dsp", "ff", "latency_cycles", "latency_ns", "bit_exact_fraction", "n_checked",
                 "resource_source", "latency_source")


def export_candidate(model, out_dir: str | Path, x: np.ndarray, *, part: str, clock_ns: float,
                     backend: str = "Vitis", io_type: str = "io_parallel", strategy: str = "Latency",
                     n_check: int = 10000):
    """Export the logits of ``model`` (:func:`trigger_hgq.models.logits_model`) to an hls4ml project in
    ``out_dir`` and check its C simulation on the rows of ``x``; a QKeras model that quantizes its inputs gets a
    :data:`QKERAS_INPUT_PRECISION` firmware input. Returns the :class:`~trigger_hgq.export.api.Export`, also when
    the check is not bit-exact (see :func:`csim_failure`)."""
    from trigger_hgq.export import to_hls4ml
    from trigger_hgq.models import logits_model, quantizes_inputs

    input_precision = QKERAS_INPUT_PRECISION if quantizes_inputs(model) else None
    with contextlib.redirect_stdout(io.StringIO()):
        return to_hls4ml(logits_model(model), out_dir, x=x, input_precision=input_precision, n_check=int(n_check),
                         backend=backend, part=part, clock_ns=clock_ns, io_type=io_type, strategy=strategy,
                         require_exact=False)


def csim_failure(report: dict, method: str) -> dict | None:
    """For an HGQ candidate whose C simulation is not bit-exact, its failure record: ``stage`` (export),
    ``error``, ``first_mismatch_row`` (the first checked input row that differs) and ``layer`` (the first hls4ml
    layer whose output differs, when the layer trace found one); None otherwise. ``report`` is the export's
    report.json. Baselines are only measured: their firmware is as exact as it is."""
    check = report.get("check") or {}
    exact = report.get("bit_exact_fraction")
    if method != "hgq" or exact is None or exact >= 1.0:
        return None
    return {"stage": "export",
            "error": f"C simulation is bit-exact on only {exact:.4%} of {report.get('n_checked')} rows",
            "first_mismatch_row": check.get("first_mismatch"), "layer": check.get("first_differing_layer")}


def rtl_figures(model, out_dir: str | Path, x: np.ndarray, *, clock_ns: float, part: str, n_check: int,
                ebops: int | None, estimate_lut: float | None = None) -> dict:
    """The open-source RTL route for a trigger-hgq model: Verilog (da4ml) -> yosys LUT/FF -> Verilator check on
    the rows ``x``; returns the report fields ``yosys`` and ``rtl`` (with the estimator's and the EBOPs' ratio to
    yosys' LUTs and the longest stage against the timing model). A design that differs from the model is marked,
    not dropped."""
    from trigger_hgq.export.rtl import build_rtl

    with contextlib.redirect_stdout(io.StringIO()):
        rtl = build_rtl(model, out_dir, x, clock_ns=clock_ns, part=part, n_check=int(n_check), strict=False)
    syn, timing = rtl["synthesis"], rtl["timing"]
    ratios = {"estimate_over_yosys_lut": estimate_lut / syn["lut"] if estimate_lut and syn["lut"] else None,
              "ebops_over_yosys_lut": ebops / syn["lut"] if ebops and syn["lut"] else None}
    proxy = ratios["ebops_over_yosys_lut"]
    within = proxy is not None and 1 / ESTIMATE_FACTOR <= proxy <= ESTIMATE_FACTOR
    exact = rtl["check"]["bit_exact_fraction"]
    return {
        "yosys": {"lut": int(syn["lut"]), "ff": int(syn["ff"]), "carry": int(syn["carry4"]), "dsp": int(syn["dsp"]),
                  "lut_levels": int(syn["lut_levels"]), "seconds": syn["seconds"]},
        "rtl": {"latency_cycles": rtl["latency_cycles"], "latency_ns": rtl["latency_ns"], "bit_exact_fraction": exact,
                "n_checked": rtl["check"]["n_checked"], "marked": exact is None or exact < 1.0,
                "adders_per_stage": rtl["adders_per_stage"], "max_lut_levels": timing["max_lut_levels"],
                "longest_stage_lut_levels": timing["longest_stage_lut_levels"],
                "critical_path_ns": timing["critical_path_ns"], "meets_clock": timing["meets_clock"],
                "pipelinings_tried": len(timing["tries"]),
                **ratios, "estimate_within_documented_error": within},
    }


def hls_da_figures(model, out_dir: str | Path, x: np.ndarray, *, backend: str, part: str, clock_ns: float) -> dict:
    """hls4ml's own distributed-arithmetic flavour (``strategy: distributed_arithmetic``, io_parallel, da4ml
    kernels) of ``model`` in ``out_dir``: its estimate and C-simulation check on ``x`` (:data:`HLS_DA_FIELDS`),
    or ``skipped`` naming why hls4ml refused it (a layer the strategy does not support)."""
    from trigger_hgq.errors import TriggerHGQError
    from trigger_hgq.export import to_hls4ml

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exported = to_hls4ml(model, out_dir, x=x, strategy="distributed_arithmetic", io_type="io_parallel",
                                 backend=backend, part=part, clock_ns=clock_ns, n_check=len(x), require_exact=False)
    except (TriggerHGQError, AssertionError, KeyError, ValueError, NotImplementedError) as err:
        return {"skipped": f"{type(err).__name__}: {err}"[:300]}
    return {k: exported.report.get(k) for k in HLS_DA_FIELDS}
