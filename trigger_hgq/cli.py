"""`trigger-hgq` command line: a thin dispatcher over subcommands registered by the library's modules.

Each subcommand module exposes ``register(subparsers)``, which adds its parser and sets ``func`` (a callable
taking the parsed namespace and returning an exit code). User errors (:class:`TriggerHGQError`, and an
``OSError`` on a named file or folder) become one line on stderr and exit code 2.

Only the module of the command being run is imported: the others appear in ``--help`` through :data:`COMMANDS`
(name, module, one-line help), so that ``trigger-hgq --help`` and ``trigger-hgq data ...`` never import
TensorFlow. A test checks that :data:`COMMANDS` matches what the modules register.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from trigger_hgq.errors import TriggerHGQError

# Every subcommand, in the order it appears in --help: name -> (module that registers it, one-line help).
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("trigger_hgq.data.cli", "inspect data files and dataset cards; generate the jet dataset"),
    "render": ("trigger_hgq.report.cli", "validate a report.json and write report.md / report.html beside it"),
    "pipeline": ("trigger_hgq.pipeline_cli", "train baselines and HGQ, export firmware, select under a budget"),
    "convert": ("trigger_hgq.convert.cli", "convert a QKeras/Keras model into a learnable-bit trigger-hgq model"),
    "export": ("trigger_hgq.export.cli",
               "export a trigger-hgq / QKeras / Keras model to a bit-exact-checked hls4ml project"),
    "hls-report": ("trigger_hgq.export.cli",
                   "report.json of a synthesized hls4ml project (parsed HLS/Vivado reports)"),
    "report": ("trigger_hgq.export.cli", "deprecated name of hls-report"),
    "rtl": ("trigger_hgq.export.rtl.cli",
            "pipelined Verilog (da4ml), yosys resources and a Verilator check of a trigger-hgq model"),
}
SUBCOMMAND_MODULES: list[str] = list(dict.fromkeys(module for module, _ in COMMANDS.values()))


def build_parser(command: str | None = "*") -> argparse.ArgumentParser:
    """The parser; ``command`` (a name in :data:`COMMANDS`) is registered by its module, the other commands are
    listed from :data:`COMMANDS` only. ``"*"`` registers every module; ``None`` none."""
    parser = argparse.ArgumentParser(
        prog="trigger-hgq",
        description="High Granularity Quantization for Level-1 trigger networks: data, HGQ training, firmware.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if command == "*":
        for mod_name in SUBCOMMAND_MODULES:
            importlib.import_module(mod_name).register(sub)
        return parser
    own_module = COMMANDS[command][0] if command in COMMANDS else None
    for name, (mod_name, help_text) in COMMANDS.items():
        if name in sub.choices:  # registered with an earlier command of the same module
            continue
        if mod_name == own_module:  # the module registers all of its commands, in --help order
            importlib.import_module(mod_name).register(sub)
        else:
            sub.add_parser(name, help=help_text)
    return parser


def _command_of(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word not starting with '-'), if it is one."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(argv))
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
    except OSError as err:
        if err.filename is None:
            raise
        # a file or folder the command reads or writes (an output path that cannot be created, a full disk...)
        print(f"trigger-hgq {args.command}: error: {err.filename}: {err.strerror or err}", file=sys.stderr)
        return TriggerHGQError.exit_code


if __name__ == "__main__":
    sys.exit(main())
