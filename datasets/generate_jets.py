"""Generate the shipped jet datasets (Pythia 8 + FastJet); the same as ``trigger-hgq data generate``.

    python datasets/generate_jets.py datasets/jets_hlf.root --jets-per-class 20000 --seed 1 --card ...

See datasets/README.md for the physics choices and the exact commands behind the shipped files.
"""

from __future__ import annotations

import argparse
import sys

from trigger_hgq.data.generation.generate import add_generate_arguments, run_generate
from trigger_hgq.errors import TriggerHGQError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="generate_jets.py", description=__doc__.split("\n\n")[0])
    add_generate_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_generate(args, prog="python datasets/generate_jets.py")
    except TriggerHGQError as err:
        print(f"generate_jets.py: error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
