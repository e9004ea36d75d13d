"""The RTL route's warm-up: one real trace through da4ml, runnable as the pipeline's background process."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("da4ml")

from trigger_hgq.export.rtl.warmup import warm_up  # noqa: E402


def test_warm_up_traces_a_real_model():
    assert warm_up() > 0  # a 6-16-3 MLP costs adders


def test_warm_up_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "trigger_hgq.export.rtl.warmup"], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
