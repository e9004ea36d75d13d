"""Seconds per training epoch of the jet MLP: trigger-hgq vs float Keras vs the reference hgq 0.2.6.

The 16-64-32-32-5 MLP trains on 200k rows (the synthetic 16-feature, 5-class problem) with batch 16384. Each
implementation runs in its own process, interleaved over rounds on this (noisy, shared) machine; the first
epoch (graph tracing) is dropped and the median of the rest is compared. hgq 0.2.6 is installed by this script
into its own virtualenv (benchmarks/.venv-hgq, on the same tensorflow-cpu 2.15.1); it is never a dependency of
trigger-hgq.

Usage: python benchmarks/bench_training.py [--epochs 8] [--rounds 2] [--no-hgq]
Targets (issue "HGQ core"): trigger-hgq <= 2x float and <= 0.8x hgq 0.2.6.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
HGQ_VENV = HERE / ".venv-hgq"
HGQ_PINS = ["tensorflow-cpu==2.15.1", "numpy==1.26.4"]


def hgq_python() -> Path:
    """The reference implementation's interpreter, installing it on first use."""
    python = HGQ_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing hgq==0.2.6 into {HGQ_VENV} (first run only)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(HGQ_VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, *HGQ_PINS], check=True)
        subprocess.run([*pip, "--no-deps", "hgq==0.2.6"], check=True)  # its tensorflow pin would pull full TF
    return python


def run(python: Path, impl: str, data: Path, epochs: int) -> list[float]:
    out = subprocess.run([str(python), str(HERE / "_train_worker.py"), impl, str(data), str(epochs)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["epoch_s"][1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-hgq", action="store_true", help="skip the hgq 0.2.6 comparison")
    args = parser.parse_args()

    sys.path.insert(0, str(HERE.parent))
    from trigger_hgq.data.synthetic import make_classification

    impls = {"float": Path(sys.executable), "trigger_hgq": Path(sys.executable)}
    if not args.no_hgq:
        impls["hgq"] = hgq_python()
    times: dict[str, list[float]] = {k: [] for k in impls}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "jets.npz"
        x, y = make_classification(200_000, seed=0)
        np.savez(data, x=x, y=y)
        for r in range(args.rounds):
            for impl, python in impls.items():
                times[impl] += run(python, impl, data, args.epochs)
                print(f"round {r + 1}: {impl:12s} median {statistics.median(times[impl]):.3f} s/epoch", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print("\nseconds per epoch (median, 200k rows, batch 16384):")
    for k, v in med.items():
        print(f"  {k:12s} {v:.3f}")
    print(f"ratio trigger_hgq / float = {med['trigger_hgq'] / med['float']:.2f}  (target <= 2.0)")
    if "hgq" in med:
        print(f"ratio trigger_hgq / hgq-0.2.6 = {med['trigger_hgq'] / med['hgq']:.2f}  (target <= 0.8)")


if __name__ == "__main__":
    main()
