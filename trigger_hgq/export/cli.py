"""``trigger-hgq export MODEL OUT_DIR`` and ``trigger-hgq hls-report PROJECT_DIR`` (formerly ``report``, still
accepted with a deprecation note; the pipeline report is rendered by ``trigger-hgq render``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from trigger_hgq.convert.io import load_model
from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.export.hls import BACKENDS, DEFAULT_PART, IO_TYPES, STRATEGIES


def load_inputs(path: str | Path, key: str | None = None) -> np.ndarray | list[np.ndarray]:
    """Check inputs from ``.npy`` or ``.npz`` (``key``, else ``x``, else its only array; ``x0``, ``x1``... for
    several model inputs)."""
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
    multi = sorted((n for n in names if n[:1] == "x" and n[1:].isdigit()), key=lambda n: int(n[1:]))
    if multi:
        return [data[n] for n in multi]
    if len(names) == 1:
        return data[names[0]]
    raise TriggerHGQError(f"data file {path}: several arrays {names}; choose one with --data-key")


def _check_flags(args) -> None:
    """Every flag that can be checked without the model, before anything is loaded or written."""
    from trigger_hgq.checks import positive_number, readable_file
    from trigger_hgq.export.api import check_out_dir

    positive_number(args.clock_ns, "--clock-ns")
    for flag, value in (("--reuse-factor", args.reuse_factor), ("--n-check", args.n_check)):
        if value is not None and value < 1:
            raise TriggerHGQError(f"{flag} {value}: expected an integer >= 1")
    if args.calibrate and not args.data:
        raise TriggerHGQError("--calibrate needs --data")
    for flag in ("weights", "data", "hls_config"):
        if getattr(args, flag):
            readable_file(getattr(args, flag), f"--{flag.replace('_', '-')}")
    check_out_dir(args.out_dir, "OUT_DIR")


def _export(args) -> int:
    from trigger_hgq.export.api import check_inputs, check_ranges, to_hls4ml
    from trigger_hgq.export.hls import model_kind

    _check_flags(args)
    hls_config = None
    if args.hls_config:
        try:
            hls_config = json.loads(Path(args.hls_config).read_text())
        except (OSError, ValueError) as err:
            raise TriggerHGQError(f"--hls-config {args.hls_config}: not a readable JSON file ({err})") from err
        if not isinstance(hls_config, dict):
            raise TriggerHGQError(f"--hls-config {args.hls_config}: expected a JSON object ({{\"LayerName\": ...}})")
    x = load_inputs(args.data, args.data_key) if args.data else None
    model = load_model(args.model, args.weights)
    if x is not None:
        xs = check_inputs(model, x, f"--data {args.data}")
        x = xs if isinstance(x, list) else xs[0]
    if args.calibrate:
        from trigger_hgq.calibration import calibrate

        calibrate(model, x)
    elif model_kind(model) == "hgq":
        check_ranges(model)
    export = to_hls4ml(
        model, args.out_dir, x=x, backend=args.backend, part=args.part, clock_ns=args.clock_ns, io_type=args.io_type,
        strategy=args.strategy, reuse_factor=args.reuse_factor, precision=args.precision,
        input_precision=args.input_precision, hls_config=hls_config, project_name=args.project_name,
        n_check=args.n_check, synth=args.synth, da=args.da,
    )
    r = export.report
    exact = "not checked" if r["bit_exact_fraction"] is None else f"{r['bit_exact_fraction']:.4%} of {r['n_checked']}"
    print(f"{export.out_dir}: {export.kind} model, bit-exact {exact}; latency {r['latency_cycles']} cycles "
          f"({r['latency_source']}), LUT {r['lut']}, DSP {r['dsp']}, FF {r['ff']}, BRAM {r['bram']} "
          f"({r['resource_source']}); EBOPs {r['ebops']}")
    return 0


def _report(args) -> int:
    if args.command == "report":
        print("trigger-hgq report: deprecated, use `trigger-hgq hls-report` (same arguments)", file=sys.stderr)
    from trigger_hgq.atomic import write_json_atomic
    from trigger_hgq.export.report import REPORT_NAME, apply_synthesis, read_report
    from trigger_hgq.export.vivado import parse_project

    parsed = parse_project(args.project_dir)
    report = read_report(args.project_dir) or {
        "model_kind": None, "bit_exact_fraction": None, "n_checked": 0, "ebops": None, "layers": [],
    }
    report = apply_synthesis(report, parsed)
    if not args.no_write:
        write_json_atomic(Path(args.project_dir) / REPORT_NAME, report)
    print(json.dumps(report, indent=1, default=str))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="export a trigger-hgq / QKeras / Keras model to a bit-exact-checked hls4ml project",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("model", help="model file: .keras / .h5, or .json architecture with weights")
    p.add_argument("out_dir", help="project folder to write (replaced if it exists)")
    p.add_argument("--weights", help="HDF5 weights for a .json model (default <stem>_weights.h5)")
    p.add_argument("--data", help=".npy / .npz inputs for the C-simulation check (rows)")
    p.add_argument("--data-key", help="array name inside an .npz")
    p.add_argument("--n-check", type=int, default=None, help="check at most this many rows (default: all)")
    p.add_argument("--calibrate", action="store_true", help="calibrate HGQ ranges on --data before export")
    p.add_argument("--backend", choices=BACKENDS, default="Vitis")
    p.add_argument("--part", default=DEFAULT_PART)
    p.add_argument("--clock-ns", type=float, default=5.0)
    p.add_argument("--io-type", choices=IO_TYPES, default="io_parallel")
    p.add_argument("--strategy", choices=STRATEGIES, default="Latency")
    p.add_argument("--reuse-factor", type=int, default=1)
    p.add_argument("--precision", default="ap_fixed<16,6>", help="float models: every tensor; QKeras: unquantized")
    p.add_argument("--input-precision", default=None, help="float / QKeras models: the input type")
    p.add_argument("--project-name", default="myproject")
    p.add_argument("--hls-config", help="JSON file merged over the generated hls4ml config")
    p.add_argument("--synth", action="store_true", help="run the HLS build (Vivado HLS / Vitis on PATH)")
    p.add_argument("--da", action="store_true", help="record hls4ml's DA cost per layer (needs da4ml; slow)")
    p.set_defaults(func=_export)

    for name, help_text in (("hls-report", "report.json of a synthesized hls4ml project (parsed HLS/Vivado reports)"),
                            ("report", "deprecated name of hls-report")):
        r = subparsers.add_parser(name, help=help_text)
        r.add_argument("project_dir")
        r.add_argument("--no-write", action="store_true", help="print only; do not update PROJECT_DIR/report.json")
        r.set_defaults(func=_report)
