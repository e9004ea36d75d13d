"""``build_rtl``: calibrated trigger-hgq model -> pipelined Verilog -> yosys resources -> Verilator check -> report."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import keras
import numpy as np

from trigger_hgq.atomic import write_json_atomic
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.export.report import REPORT_NAME
from trigger_hgq.fpga import DEFAULT_PART

PROJECT_DIR = "rtl"
_ESTIMATE_SOURCES = (None, "estimate", "yosys")  # top-level resources that yosys may replace
_ESTIMATE_LATENCY = (None, "estimate", "rtl")


def _as_inputs(model: keras.Model, x) -> list[np.ndarray]:
    xs = list(x) if isinstance(x, list | tuple) else [x]
    if len(xs) != len(model.inputs):
        raise TriggerHGQError(f"model {model.name!r} has {len(model.inputs)} inputs, got {len(xs)} input arrays")
    return [np.asarray(a, np.float32) for a in xs]


def quantized_inputs(model: keras.Model, traced, x: list[np.ndarray]) -> np.ndarray:
    """The RTL inputs for rows ``x``: the outputs of the model's input quantizers, flattened in port order."""
    sub = keras.Model(model.inputs if len(model.inputs) > 1 else model.inputs[0],
                      [q.output for q in traced.input_layers])
    outs = sub.predict(x if len(x) > 1 else x[0], batch_size=8192, verbose=0)
    outs = outs if isinstance(outs, list) else [outs]
    return np.concatenate([np.asarray(o, np.float64).reshape(len(o), -1) for o in outs], axis=1)


def keras_outputs(model: keras.Model, x: list[np.ndarray]) -> np.ndarray:
    y = model.predict(x if len(x) > 1 else x[0], batch_size=8192, verbose=0)
    ys = y if isinstance(y, list) else [y]
    return np.concatenate([np.asarray(a, np.float64).reshape(len(a), -1) for a in ys], axis=1)


def compare(y_rtl: np.ndarray, y_keras: np.ndarray) -> dict:
    """Fraction of rows whose every output is exactly equal; the first differing row and output."""
    equal = np.all(y_rtl == y_keras, axis=1)
    result = {"bit_exact_fraction": float(equal.mean()) if len(equal) else None, "n_checked": int(len(equal))}
    if len(equal) and not equal.all():
        row = int(np.argmin(equal))
        col = int(np.argmax(y_rtl[row] != y_keras[row]))
        result["first_mismatch"] = {"row": row, "output": col, "rtl": float(y_rtl[row, col]),
                                    "keras": float(y_keras[row, col])}
    return result


def merge_report(out_dir: Path, rtl: dict) -> dict:
    """Add the ``rtl`` section to ``out_dir/report.json`` (created if missing). Top-level resources and latency
    take the RTL's figures only where they were estimates: synthesized HLS results stay."""
    path = out_dir / REPORT_NAME
    try:
        report = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, json.JSONDecodeError) as err:
        raise TriggerHGQError(f"{path}: not a readable report ({err})") from err
    report["rtl"] = rtl
    synth, check = rtl.get("synthesis"), rtl.get("check")
    if synth and report.get("resource_source") in _ESTIMATE_SOURCES:
        report.update({k: synth[k] for k in ("lut", "ff", "dsp", "bram", "carry4", "lut_levels")},
                      resource_source="yosys")
    if report.get("latency_source") in _ESTIMATE_LATENCY:
        report.update(latency_cycles=rtl["pipeline_stages"], latency_ns=rtl["latency_ns"], ii=1,
                      latency_source="rtl")
    if check and "bit_exact_fraction" not in report:
        report.update(bit_exact_fraction=check["bit_exact_fraction"], n_checked=check["n_checked"])
    write_json_atomic(path, report)
    return report


def build_rtl(model: keras.Model, out_dir: str | os.PathLike, x=None, *, clock_ns: float = 5.0,
              part_family: str = "xcup", part: str = DEFAULT_PART, adders_per_stage: float | None = None,
              hard_dc: int = 2, top: str = "hgq_model", n_check: int | None = 10000, synth: bool = True,
              simulate: bool = True, strict: bool = True, close_timing: bool = True,
              max_timing_retries: int = 2) -> dict:
    """Write the calibrated ``model`` as pipelined Verilog in ``out_dir/rtl``, synthesize it with yosys and check a
    Verilator simulation against the Keras model on the rows of ``x``; merge the results into
    ``out_dir/report.json`` (section ``rtl``) and return that section.

    Args:
        x: model inputs (array, or list for several inputs) for the check; at most ``n_check`` rows are used.
        clock_ns: target clock period; ``adders_per_stage`` (default from the timing model: 4 at 5 ns) sets the
            pipelining.
        part_family: yosys family (``xcup``: UltraScale+); ``part``: the part named in the Vivado scripts.
        hard_dc: extra adder depth da4ml's constant-multiplication solver may use to save adders.
        strict: raise :class:`TriggerHGQError` (after writing the report) when the check is not 100% exact.
        close_timing: when yosys's longest stage misses the clock in the timing model
            (:mod:`~trigger_hgq.export.rtl.timing`), pipeline again with fewer adders per stage and resynthesize
            (at most ``max_timing_retries`` times); ``timing.tries`` lists every attempt.
    """
    from trigger_hgq.export.rtl import project as rtl_project
    from trigger_hgq.export.rtl import simulate as rtl_sim
    from trigger_hgq.export.rtl import synth as rtl_synth
    from trigger_hgq.export.rtl.timing import ULTRASCALE_PLUS, check_timing, next_adders_per_stage
    from trigger_hgq.export.rtl.trace import trace_model

    if part_family not in rtl_synth.FAMILIES:
        raise TriggerHGQError(f"part_family={part_family!r}, expected one of {rtl_synth.FAMILIES}")
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    traced = trace_model(model, hard_dc=hard_dc)
    timings["trace_s"] = time.perf_counter() - t0
    tries: list[dict] = []
    cutoff = adders_per_stage
    while True:  # pipeline, synthesize, and cut finer while the longest stage misses the clock (timing closure)
        t0 = time.perf_counter()
        prj = rtl_project.write_project(traced.comb, out_dir / PROJECT_DIR, top=top, clock_ns=clock_ns,
                                        adders_per_stage=cutoff, part=part)
        timings["verilog_s"] = timings.get("verilog_s", 0.0) + time.perf_counter() - t0
        if not synth:
            break
        t0 = time.perf_counter()
        synthesis = rtl_synth.synthesize(prj.path, top, part_family, timing=ULTRASCALE_PLUS)
        timings["synth_s"] = timings.get("synth_s", 0.0) + time.perf_counter() - t0
        timing = check_timing(synthesis, clock_ns, ULTRASCALE_PLUS)
        tries.append({"adders_per_stage": prj.adders_per_stage, "pipeline_stages": prj.n_stages,
                      "lut_levels": synthesis["lut_levels"], "critical_path_ns": synthesis.get("critical_path_ns")})
        cutoff = next_adders_per_stage(prj.adders_per_stage, timing) if close_timing else None
        if cutoff is None or len(tries) > max_timing_retries:
            break
    pipeline = prj.pipeline
    rtl: dict = {
        "top": top, "clock_ns": clock_ns, "part": part, "adders_per_stage": prj.adders_per_stage,
        "pipeline_stages": prj.n_stages, "latency_cycles": prj.n_stages, "latency_ns": prj.n_stages * clock_ns,
        "ii": 1, "n_inputs": int(pipeline.shape[0]), "n_outputs": int(pipeline.shape[1]),
        "input_bits": int(np.sum(pipeline.solutions[0].inp_kifs)),
        "output_bits": int(np.sum(pipeline.solutions[-1].out_kifs)),
        "da4ml_estimate": {"lut": prj.da4ml_lut, "ff": prj.da4ml_ff},
        "layers": [{"name": name, "da4ml_lut": cost} for name, cost in traced.layer_cost.items()],
    }
    if synth:
        rtl["synthesis"] = synthesis
        rtl["timing"] = {**timing, "tries": tries}
        lut, ff = synthesis["lut"], synthesis["ff"]
        rtl["yosys_over_da4ml"] = {"lut": lut / prj.da4ml_lut if prj.da4ml_lut else None,
                                   "ff": ff / prj.da4ml_ff if prj.da4ml_ff else None}
    if simulate and x is not None:
        xs = _as_inputs(model, x)
        rows = len(xs[0]) if n_check is None else min(len(xs[0]), int(n_check))
        xs = [a[:rows] for a in xs]
        rtl_sim.check_port_widths(pipeline)
        t0 = time.perf_counter()
        lib = rtl_sim.build_simulator(prj.path, top)
        timings["sim_build_s"] = time.perf_counter() - t0
        x_fixed = quantized_inputs(model, traced, xs)
        y_keras = keras_outputs(model, xs)
        t0 = time.perf_counter()
        y_rtl = rtl_sim.simulate(lib, pipeline, x_fixed)
        timings["sim_run_s"] = time.perf_counter() - t0
        check = compare(y_rtl, y_keras)
        check["interpreter_exact_fraction"] = compare(traced.comb.predict(x_fixed), y_keras)["bit_exact_fraction"]
        check["simulator"] = "verilator"
        rtl["check"] = check
    rtl["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    merge_report(out_dir, rtl)
    check = rtl.get("check")
    if strict and check and check["bit_exact_fraction"] is not None and check["bit_exact_fraction"] < 1.0:
        m = check["first_mismatch"]
        raise TriggerHGQError(
            f"RTL of model {model.name!r} differs from Keras on {1 - check['bit_exact_fraction']:.4%} of "
            f"{check['n_checked']} rows; first: row {m['row']} output {m['output']} (RTL {m['rtl']}, Keras "
            f"{m['keras']}); da4ml's interpreter is exact on {check['interpreter_exact_fraction']:.4%}"
        )
    return rtl
