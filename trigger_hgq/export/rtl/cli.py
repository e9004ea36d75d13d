"""``trigger-hgq rtl MODEL OUT_DIR``: Verilog, yosys resources and a Verilator check of a trigger-hgq model."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from trigger_hgq.errors import TriggerHGQError


def load_model(path: str | Path):
    """A saved trigger-hgq model (``.keras`` or ``.h5``)."""
    import tensorflow as tf

    import trigger_hgq

    path = Path(path)
    if not path.exists():
        raise TriggerHGQError(f"model file {path} does not exist")
    try:
        return tf.keras.models.load_model(path, custom_objects=trigger_hgq.custom_objects(), compile=False)
    except Exception as err:
        raise TriggerHGQError(f"model file {path}: cannot be loaded ({err})") from err


def load_inputs(path: str | Path, key: str | None = None) -> np.ndarray | list[np.ndarray]:
    """Rows from ``.npy``, or ``.npz`` (``key``, else ``x``, else ``x0``, ``x1``... for several inputs, else its
    only array)."""
    path = Path(path)
    if not path.exists():
        raise TriggerHGQError(f"data file {path} does not exist")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise TriggerHGQError(f"data file {path}: not a .npy / .npz array file ({err})") from err
    if isinstance(data, np.ndarray):
        return data
    names = list(data.keys())
    if key is not None:
        if key not in names:
            raise TriggerHGQError(f"data file {path}: no array {key!r} (has {names})")
        return data[key]
    if "x" in names:
        return data["x"]
    several = sorted((n for n in names if n[:1] == "x" and n[1:].isdigit()), key=lambda n: int(n[1:]))
    if several:
        return [data[n] for n in several]
    if len(names) == 1:
        return data[names[0]]
    raise TriggerHGQError(f"data file {path}: several arrays {names}; choose one with --data-key")


def _run(args) -> int:
    from trigger_hgq.export.rtl.api import build_rtl

    model = load_model(args.model)
    x = load_inputs(args.data, args.data_key) if args.data else None
    if args.calibrate:
        if x is None:
            raise TriggerHGQError("--calibrate needs --data")
        from trigger_hgq.calibrate import calibrate

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
    p.add_argument("--part", default="xcvu13p-flga2577-2-e", help="part named in the Vivado build script")
    p.add_argument("--hard-dc", type=int, default=2, help="extra adder depth da4ml may spend to save adders")
    p.add_argument("--top", default="hgq_model", help="top module name")
    p.add_argument("--no-synth", action="store_true", help="skip yosys")
    p.add_argument("--no-sim", action="store_true", help="skip the Verilator check")
    p.set_defaults(func=_run)
