#!/usr/bin/env python
"""The jet-tagging pipeline: HGQ vs QKeras vs AutoQKeras under a Level-1 trigger latency budget.

python pipelines/jet_tagging.py [--config pipelines/configs/jet_tagging.yaml] [--data CARD_OR_FILE] [--out DIR]
    [--latency-budget-ns 100] [--clock-ns 5] [--part ...] [--profile quick|default|full]
    [--scheduler local|ADDRESS] [--force] [--strict]

Same as `trigger-hgq pipeline ...`; everything happens in trigger_hgq.pipeline, this file only dispatches.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from trigger_hgq.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["pipeline", *sys.argv[1:]]))
