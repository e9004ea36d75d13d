"""One candidate model through the open-source RTL route, summarised as the pipeline report's fields: its exact
RTL model (:func:`exact_rtl_model`), the route's figures (:func:`rtl_figures`) and hls4ml's distributed-arithmetic
flavour (:func:`hls_da_figures`)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np

from trigger_hgq.models import COMPARE_BATCH, logits_model, quantizes_inputs

#: The documented agreement of the HGQ resource proxy with open-source synthesis: EBOPs within this factor of
#: yosys' LUT count. The estimator models hls4ml's multiplier-based design while yosys synthesizes da4ml's
#: distributed-arithmetic design, so the estimate's ratio to yosys is recorded, not promised.
ESTIMATE_FACTOR = 2.0
#: The fields of hls4ml's distributed-arithmetic export the report keeps.
HLS_DA_FIELDS = ("lut", "dsp", "ff", "latency_cycles", "latency_ns", "bit_exact_fraction", "n_checked",
                 "resource_source", "latency_source")


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


def exact_rtl_model(model, method: str, x: np.ndarray):
    """The trigger-hgq model the RTL route implements for a candidate, and how exactly it equals the candidate.

    HGQ models are their own (calibrated) RTL model: ``(model, None)``. QKeras / AutoQKeras models are converted
    with :func:`~trigger_hgq.convert.from_qkeras` keeping QKeras' rounding (RND_CONV) and ranges, and the fraction
    of rows of ``x`` whose converted logits equal the QKeras logits is returned with it. ``(None, reason)`` when
    the candidate has no exact fixed-point form (float weights, an unquantized input).
    """
    from trigger_hgq.convert import from_qkeras
    from trigger_hgq.errors import TriggerHGQError
    from trigger_hgq.export.rtl.api import compare

    if method == "hgq":
        return model, None
    if method == "float":
        return None, "a float model has no exact fixed-point form"
    if not quantizes_inputs(model):
        return None, "the model does not quantize its inputs: no exact fixed-point input"
    try:
        converted = from_qkeras(model, name=f"{model.name}_rtl")
    except TriggerHGQError as err:
        return None, f"no exact conversion: {err}"
    ref = logits_model(model).predict(x, batch_size=COMPARE_BATCH, verbose=0)
    got = converted.predict(x, batch_size=COMPARE_BATCH, verbose=0)
    return converted, compare(np.asarray(got, np.float64), np.asarray(ref, np.float64))["bit_exact_fraction"]
