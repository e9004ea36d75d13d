"""`trigger-hgq pipeline` / `python pipelines/jet_tagging.py`: the command line of the jet-tagging pipeline.

Its exit codes (:data:`EXIT_CODES`, shown by ``--help``) are those of :func:`trigger_hgq.pipeline.run.run_pipeline`
and, for bad input, 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trigger_hgq.errors import TriggerHGQError
from trigger_hgq.fpga import DEFAULT_PART
from trigger_hgq.pipeline.config import PROFILES

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "pipelines" / "configs" / "jet_tagging.yaml"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="pipeline YAML (default: %(default)s)")
    p.add_argument("--data", help="dataset card (YAML) or data file; overrides the config's 'dataset'")
    p.add_argument("--out", default="runs/jet_tagging", help="run folder (default: %(default)s)")
    p.add_argument("--profile", choices=PROFILES, help="quick | default | full (default: the config's)")
    p.add_argument("--latency-budget-ns", type=float, help="latency budget in ns (default 100)")
    p.add_argument("--clock-ns", type=float, help="clock period in ns (default 5)")
    p.add_argument("--part", help=f"FPGA part (default {DEFAULT_PART})")
    p.add_argument("--lut-fraction", type=float, help="LUT budget as a fraction of the part")
    p.add_argument("--dsp-fraction", type=float, help="DSP budget as a fraction of the part")
    p.add_argument("--scheduler", help="'local' (a Dask LocalCluster here) or a Dask scheduler address")
    p.add_argument("--force", action="store_true", help="rerun every stage, ignoring DIR/state.json")
    p.add_argument("--strict", action="store_true", help="exit with code 3 when no model fits the budget")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="-v: Keras' own logs (a line per epoch) and third-party warnings; -vv: Keras' batch bars")


EXIT_CODES = """exit codes:
  0  done: report.json/.md/.html written
  2  bad input (one line naming the file, flag or config key); nothing is written
  3  --strict and no model fits the budget
  4  a candidate failed (its export or RTL task raised, or an HGQ model's C simulation is not bit-exact);
     the other candidates finished and are reported, the failed ones are listed in report.json 'failed'"""

BUDGET_FLAGS = {"latency_budget_ns": ("--latency-budget-ns", None), "clock_ns": ("--clock-ns", None),
                "lut_fraction": ("--lut-fraction", 1.0), "dsp_fraction": ("--dsp-fraction", 1.0)}


def check_arguments(args: argparse.Namespace):
    """Check the flags a user typed (numbers, --out, --data, --scheduler) before anything is created; returns the
    card of ``--data`` (None without it)."""
    from trigger_hgq.checks import output_dir, positive_number
    from trigger_hgq.pipeline.executor import DaskExecutor

    for attr, (flag, hi) in BUDGET_FLAGS.items():
        if getattr(args, attr) is not None:
            positive_number(getattr(args, attr), flag, hi)
    if args.verbose < 0:
        raise TriggerHGQError(f"--verbose {args.verbose}: expected 0, 1 or 2")
    output_dir(args.out, "--out")
    card = check_dataset(args.data, "--data") if args.data else None
    DaskExecutor.check_address(args.scheduler)
    return card


def check_dataset(path: str | Path, what: str):
    """The dataset (card or data file) can be read: its card parses and every file it names exists. Returns the
    card (:class:`trigger_hgq.data.Card`)."""
    import glob

    from trigger_hgq.checks import readable_file
    from trigger_hgq.data.dataset import resolve_card

    if not glob.has_magic(str(path)):  # a Zenodo HDF5 glob is matched by its card
        readable_file(path, what)
    card = resolve_card(path)
    card.resolve_files()
    return card


def run(args: argparse.Namespace) -> int:
    from trigger_hgq.pipeline.config import PipelineConfig
    from trigger_hgq.pipeline.inputs import RunInputs
    from trigger_hgq.pipeline.run import run_pipeline
    from trigger_hgq.verbosity import quiet_native_logs, set_verbosity

    card = check_arguments(args)
    budget = {"latency_ns": args.latency_budget_ns, "clock_ns": args.clock_ns, "part": args.part,
              "lut_fraction": args.lut_fraction, "dsp_fraction": args.dsp_fraction}
    overrides = {"budget": {k: v for k, v in budget.items() if v is not None}}
    if args.data:
        overrides["dataset"] = str(Path(args.data).resolve())
    cfg = PipelineConfig.load(args.config, profile=args.profile, overrides=overrides)
    if not args.data:
        card = check_dataset(RunInputs(cfg).dataset_path(), "config key 'dataset'")
    # the run's input files, read and parsed once (a sweep reads its per-count inputs itself)
    inputs = RunInputs(cfg).load(card) if cfg.particle_counts is None else None
    set_verbosity(args.verbose)
    quiet_native_logs()  # the run's log: no TensorFlow / XLA banner lines (as in its workers) unless -v
    return run_pipeline(cfg, args.out, scheduler=args.scheduler, force=args.force, strict=args.strict,
                        verbose=args.verbose, inputs=inputs, card=card)


def register(subparsers) -> None:
    p = subparsers.add_parser("pipeline", help="train baselines and HGQ, export firmware, select under a budget",
                              epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)
