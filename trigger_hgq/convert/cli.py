"""``trigger-hgq convert IN_MODEL OUT_MODEL``: a QKeras / Keras model file -> a trigger-hgq model file."""

from __future__ import annotations

import argparse
import json
import math

from trigger_hgq.errors import TriggerHGQError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert a QKeras/Keras model into a learnable-bit trigger-hgq model",
        description=(
            "Convert a QKeras or Keras model (.keras, or .json with <stem>_weights.h5 beside it) into a "
            "trigger-hgq model with the same weights, starting on QKeras' fixed-point grid. An output softmax is "
            "dropped: the converted model outputs logits."
        ),
    )
    parser.add_argument("in_model", metavar="IN_MODEL", help="source model (.keras, or a .json architecture)")
    parser.add_argument("out_model", metavar="OUT_MODEL", help="converted model file (.keras)")
    parser.add_argument("--weights", help="HDF5 weights of a .json IN_MODEL (default: <stem>_weights.h5 beside it)")
    parser.add_argument("--input-f", type=float, default=None,
                        help="fractional bits of the inserted input quantizer (default 10)")
    parser.add_argument("--input-range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                        help="range of the model inputs (default: with --input-f 10, ap_fixed<16,6>, hls4ml's "
                             "default input type)")
    parser.add_argument("--float-weight-f", type=int, default=8,
                        help="starting fractional bits of float (unquantized) weights (default 8)")
    parser.add_argument("--float-activation-f", type=int, default=8,
                        help="starting fractional bits of the outputs of float layers (default 8)")
    parser.add_argument("--lr-scale", type=float, default=None,
                        help="lr_scale of every quantizer (the bits move that many times faster than weights)")
    parser.add_argument("--beta", type=float, default=0.0, help="starting EBOPs penalty weight (default 0)")
    parser.add_argument("--keep-batchnorm", action="store_true",
                        help="keep BatchNormalization trainable (H*BatchNorm layers) instead of folding it")
    parser.set_defaults(func=run)


def check_arguments(args: argparse.Namespace) -> None:
    """The flags and the output location, checked before any model is read."""
    from trigger_hgq.checks import output_file, positive_number, readable_file

    if args.lr_scale is not None:
        positive_number(args.lr_scale, "--lr-scale")
    numbers = {"--input-f": args.input_f, "--beta": args.beta, **dict(zip(("--input-range LO", "--input-range HI"),
                                                                          args.input_range or (), strict=False))}
    for flag, value in numbers.items():
        if value is not None and not math.isfinite(value):
            raise TriggerHGQError(f"{flag} {value}: expected a finite number")
    if args.beta < 0:
        raise TriggerHGQError(f"--beta {args.beta}: expected a number >= 0")
    if args.input_range and args.input_range[0] >= args.input_range[1]:
        raise TriggerHGQError(f"--input-range {args.input_range[0]:g} {args.input_range[1]:g}: LO must be below HI")
    if args.weights:
        readable_file(args.weights, "--weights")
    output_file(args.out_model, "OUT_MODEL", (".keras",))


def run(args: argparse.Namespace) -> int:
    from trigger_hgq.bops import ebops
    from trigger_hgq.convert import from_qkeras, load_model, save_model

    check_arguments(args)
    source = load_model(args.in_model, args.weights)
    quantizer = {"lr_scale": args.lr_scale} if args.lr_scale else None
    model = from_qkeras(
        source,
        input_quantizer={"init_f": args.input_f} if args.input_f is not None else None,
        input_range=tuple(args.input_range) if args.input_range else None,
        float_weight_f=args.float_weight_f,
        float_activation_f=args.float_activation_f,
        quantizer=quantizer,
        beta=args.beta,
        keep_batchnorm=args.keep_batchnorm,
    )
    path = save_model(model, args.out_model)
    summary = {"output": str(path), "layers": len(model.layers), "ebops": ebops(model),
               "dropped_softmax": model.dropped_softmax, "input_types": dict(model.input_types)}
    print(json.dumps(summary))
    return 0
