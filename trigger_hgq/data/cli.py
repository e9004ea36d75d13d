"""``trigger-hgq data ...``: ``inspect`` here; ``generate`` registered by
:mod:`trigger_hgq.data.generation.generate` when present.

Hook for other data subcommands: a module listed in :data:`DATA_SUBCOMMANDS` that
exists defines ``register(data_subparsers)``, adds its parser and sets ``func`` (taking the parsed namespace,
returning an exit code). Heavy imports belong inside ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json

# Optional modules adding `trigger-hgq data <name>` subcommands (skipped when the module does not exist).
DATA_SUBCOMMANDS = ("trigger_hgq.data.generation.generate",)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="inspect data files and dataset cards; generate the jet dataset",
                                   description="Data files, dataset cards (datasets/README.md) and generation.")
    data_sub = parser.add_subparsers(dest="data_command", metavar="DATA_COMMAND")
    ins = data_sub.add_parser(
        "inspect", help="trees, branches, types and entries of a file; with --card what the card reads from it",
        description="Without --card: the trees (or HDF5 datasets, table columns) of FILE with their branches, types "
                    "and entries. With --card: FILE read through the card (its 'files' replaced by FILE): the "
                    "resulting shapes, class counts and a feature summary. Streams in the card's step size.")
    ins.add_argument("file", metavar="FILE", help="a ROOT, HDF5 (.h5) or ARFF/CSV file")
    ins.add_argument("--card", help="dataset card (YAML) to read FILE through")
    ins.add_argument("--json", action="store_true", help="print JSON instead of text")
    ins.set_defaults(func=_inspect)
    for mod_name in DATA_SUBCOMMANDS:
        if importlib.util.find_spec(mod_name) is not None:
            importlib.import_module(mod_name).register(data_sub)
    parser.set_defaults(func=lambda args: _no_command(parser))


def _no_command(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 1


def _inspect(args: argparse.Namespace) -> int:
    from trigger_hgq.data.inspection import format_inspection, format_summary, inspect_file, summarize

    if args.card:
        info = summarize(args.card, files=[args.file])
        text = format_summary(info)
    else:
        info = inspect_file(args.file)
        text = format_inspection(info)
    print(json.dumps(info, indent=1) if args.json else text)
    return 0
