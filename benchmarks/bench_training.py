"""Seconds per training epoch of the jet MLP: trigger-hgq vs float Keras vs the reference hgq 0.2.6.

The 16-64-32-32-5 MLP trains on 200k rows (the synthetic 16-feature, 5-class problem) at several batch sizes
(default 1024, 2048 and 16384). Each implementation runs in its own process, interleaved over rounds on this
(noisy, shared) machine; the first epoch (graph tracing, XLA compilation) is dropped and the median of the rest
is compared. ``float_spe`` is float Keras compiled with trigger-hgq's ``steps_per_execution`` (the like-for-like
yardstick; ``float`` is compiled plainly, as users compile it). hgq 0.2.6 is installed by this script into its own
virtualenv (benchmarks/.venv-hgq, on the same tensorflow-cpu 2.15.1); it is never a dependency of trigger-hgq.

Usage: python benchmarks/bench_training.py [--epochs 4] [--rounds 2] [--batch 1024 2048 16384] [--no-hgq]
Targets (issue 10): trigger-hgq <= 0.7x hgq 0.2.6 at batch 1024 and 2048; <= 1.5x float Keras at 16384.
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


def python311() -> str:
    """A Python 3.11 interpreter (tensorflow-cpu 2.15.1, which hgq 0.2.6 needs, has no wheel for later ones)."""
    import shutil

    found = shutil.which("python3.11")
    if found is None:
        raise SystemExit("hgq 0.2.6 needs Python 3.11 (tensorflow-cpu 2.15.1): put python3.11 on PATH or pass --no-hgq")
    return found


def hgq_python() -> Path:
    """The reference implementation's interpreter (Keras 2, its own virtualenv), installing it on first use."""
    import os

    python = HGQ_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing hgq==0.2.6 into {HGQ_VENV} (first run only)...", flush=True)
        env = {**os.environ, "PYENV_VERSION": os.environ.get("PYENV_VERSION", "3.11.7")}
        subprocess.run([python311(), "-m", "venv", str(HGQ_VENV)], check=True, env=env)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, *HGQ_PINS], check=True)
        subprocess.run([*pip, "--no-deps", "hgq==0.2.6"], check=True)  # its tensorflow pin would pull full TF
    return python


def run(python: Path, impl: str, data: Path, epochs: int, batch: int) -> list[float]:
    out = subprocess.run([str(python), str(HERE / "_train_worker.py"), impl, str(data), str(epochs), str(batch)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["epoch_s"][1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, nargs="+", default=[1024, 2048, 16384])
    parser.add_argument("--no-hgq", action="store_true", help="skip the hgq 0.2.6 comparison")
    args = parser.parse_args()

    sys.path.insert(0, str(HERE.parent))
    from trigger_hgq.data.synthetic import make_classification

    impls = {"float": Path(sys.executable), "float_spe": Path(sys.executable), "trigger_hgq": Path(sys.executable)}
    if not args.no_hgq:
        impls["hgq"] = hgq_python()
    times: dict[tuple[int, str], list[float]] = {(b, k): [] for b in args.batch for k in impls}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "jets.npz"
        x, y = make_classification(200_000, seed=0)
        np.savez(data, x=x, y=y)
        for r in range(args.rounds):
            for batch in args.batch:
                for impl, python in impls.items():
                    times[batch, impl] += run(python, impl, data, args.epochs, batch)
                    print(f"round {r + 1}: batch {batch:5d} {impl:12s} "
                          f"median {statistics.median(times[batch, impl]):.3f} s/epoch", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print("\nseconds per epoch (median over rounds, 200k rows):")
    print(f"  {'batch':>6s} " + " ".join(f"{k:>12s}" for k in impls))
    for batch in args.batch:
        print(f"  {batch:6d} " + " ".join(f"{med[batch, k]:12.3f}" for k in impls))
    print("\nratios:")
    for batch in args.batch:
        line = f"  batch {batch:5d}: trigger_hgq / float = {med[batch, 'trigger_hgq'] / med[batch, 'float']:.2f}"
        if "hgq" in impls:
            line += f", trigger_hgq / hgq-0.2.6 = {med[batch, 'trigger_hgq'] / med[batch, 'hgq']:.2f}"
        target = "(target <= 1.5 vs float)" if batch >= 16384 else "(target <= 0.7 vs hgq 0.2.6)"
        print(f"{line}  {target}")
        print(f"               trigger_hgq / float_spe = {med[batch, 'trigger_hgq'] / med[batch, 'float_spe']:.2f}"
              "  (float Keras with trigger-hgq's steps_per_execution: what the quantized step itself costs)")


if __name__ == "__main__":
    main()
