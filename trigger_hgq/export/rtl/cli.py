"""``trigger-hgq rtl MODEL OUT_DIR``: Verilog, yosys resources and a Verilator check of a trigger-hgq model."""

from __future__ import annotations

import argparse
from pathlib import Path

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.export.cli import load_inputs, load_model
from trigger_hgq.fpga import DEFAULT_PART


def _run(args) -> int:
    from trigger_hgq.export.rtl.api import build_rtl

    model = load_model(args.model)
    x = load_inputs(args.data, args.data_key) if args.data else None
    if args.calibrate:
        if x is None:
            raise TriggerHGQError("--calibrate needs --data")
        from trigger_hgq.calibration import calibrate

        calibrate(model, x)
    rtl = build_rtl(
        model, args.out_dir, x, clock_ns=args.clock_ns, part_family=args.family, part=args.part,
        adders_per_stage=args.adders_per_stage, hard_dc=args.hard_dc, top=args.top, n_check=args.n_check,
        synth=not args.no_synth, simulate=not args.no_sim,
    )
    parts = [f"{Path(args.out_dir) / 'rtl'}: {rtl['pipeline_stages']} stages at {args.clock_ns} ns",
             f"da4ml estimate LUT {rtl['da4ml_estimate']['lut']:.0f} FF {rtl['da4ml_estimate']['ff']}"]
    if "synthesis" in rtl:
        s = rtl["synthesis"]
        parts.append(f"yosys LUT {s['lut']} FF {s['ff']} CARRY4 {s['carry4']} DSP {s['dsp']} "
                     f"({s['lut_levels']} LUT levels)")
    if "check" in rtl:
        c = rtl["check"]
        parts.append(f"Verilator equals Keras on {c['bit_exact_fraction']:.4%} of {c['n_checked']} rows")
    elif not args.no_sim:
        parts.append("no --data: simulation not checked")
    print("; ".join(parts))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "rtl", help="pipelined Verilog (da4ml), yosys resources and a Verilator check of a trigger-hgq model",
        description="Write OUT_DIR/rtl (Verilog), synthesize it with yosys, simulate it with Verilator against the "
                    "Keras model on --data, and merge the results into OUT_DIR/report.json (section 'rtl').",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("model", help="calibrated trigger-hgq model (.keras / .h5)")
    p.add_argument("out_dir", help="output folder (its rtl/ is replaced; report.json is merged)")
    p.add_argument("--data", help=".npy / .npz model inputs for the simulation check (rows)")
    p.add_argument("--data-key", help="array name inside an .npz")
    p.add_argument("--n-check", type=int, default=10000, help="check at most this many rows")
    p.add_argument("--calibrate", action="store_true", help="calibrate the activation ranges on --data first")
    p.add_argument("--clock-ns", type=float, default=5.0, help="target clock period (ns)")
    p.add_argument("--adders-per-stage", type=float, default=None,
                   help="adder levels between registers; unset: clock period / 1 ns")
    p.add_argument("--family", default="xcup", help="yosys synth_xilinx family (xcup: UltraScale+)")
    p.add_argument("--part", default=DEFAULT_PART, help="part named in the Vivado build script")
    p.add_argument("--hard-dc", type=int, default=2, help="extra adder depth da4ml may spend to save adders")
    p.add_argument("--top", default="hgq_model", help="top module name")
    p.add_argument("--no-synth", action="store_true", help="skip yosys")
    p.add_argument("--no-sim", action="store_true", help="skip the Verilator check")
    p.set_defaults(func=_run)
