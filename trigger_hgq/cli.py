"""`trigger-hgq` command line: a thin dispatcher over subcommands registered by the library's modules.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets ``func`` (a callable
taking the parsed namespace and returning an exit code). User errors (:class:`TriggerHGQError`) become one line
on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from trigger_hgq.errors import TriggerHGQError

# Modules that register subcommands, in the order they appear in --help.
SUBCOMMAND_MODULES: list[str] = [
    "trigger_hgq.data.cli",
    "trigger_hgq.report.cli",
    "trigger_hgq.pipeline.cli",
    "trigger_hgq.convert.cli",
    "trigger_hgq.export.cli",
    "trigger_hgq.export.rtl.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trigger-hgq",
        description="High Granularity Quantization for Level-1 trigger networks: data, HGQ training, firmware.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod_name in SUBCOMMAND_MODULES:
        importlib.import_module(mod_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except TriggerHGQError as err:
        print(f"trigger-hgq {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:  # output piped into `head` and closed early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
