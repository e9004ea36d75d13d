"""Seconds per HGQ training epoch: the Keras 3 trigger-hgq (TensorFlow and JAX backends) vs the Keras 2 one vs hgq2.

The 16-64-32-32-5 jet MLP (HQuantize -> HDense x 4) trains on the same 200k rows (the synthetic 16-feature, 5-class
problem, ``trigger_hgq/data/synthetic.py``) at each batch size (default 1024 and 16384). Every side runs
``_keras3_worker.py`` in its own process and virtualenv, interleaved over rounds on this (noisy, shared) machine;
the first epoch (tracing, XLA compilation) is dropped and the median of the rest is compared. Sides:

* ``old``: the Keras 2 code (a worktree of the last Keras 2 commit, default /work/old) in its virtualenv
  (tensorflow-cpu 2.15.1; default /work/venv_old).
* ``k3_tf`` / ``k3_jax``: this checkout on Keras 3 (default /work/venv313) under KERAS_BACKEND=tensorflow / jax.
* ``hgq2``: the hgq2 package on JAX in its own virtualenv (default /work/venv_hgq2: ``pip install hgq2==0.2.0
  jax[cpu]``), compiled plainly as its users compile it; never a dependency of trigger-hgq. Skipped if absent.

Printed: the median seconds per epoch per side and batch, and the ratios k3_tf / old, k3_jax / old and
min(k3_tf, k3_jax) / hgq2 (below 1: faster).

Usage: python benchmarks/bench_keras3.py [--epochs 4] [--rounds 2] [--batch 1024 16384] [--sides old k3_tf ...]
    [--old-tree /work/old] [--old-venv /work/venv_old] [--venv /work/venv313] [--hgq2-venv /work/venv_hgq2]
The driver needs only numpy; any of the virtualenvs' interpreters runs it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "_keras3_worker.py"
SIDES = ("old", "k3_tf", "k3_jax", "hgq2")


def make_classification(n: int, seed: int):
    """The synthetic jet problem, loaded from its file alone (no trigger_hgq import: any numpy interpreter)."""
    spec = importlib.util.spec_from_file_location("_synthetic", ROOT / "trigger_hgq" / "data" / "synthetic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_classification(n, seed=seed)


def side_commands(args) -> dict[str, tuple[list[str], dict[str, str]]]:
    """Per side: (command prefix, extra environment), for the sides whose interpreter exists."""
    sides = {
        "old": (args.old_venv / "bin" / "python", {"PYTHONPATH": str(args.old_tree)}, "trigger_hgq"),
        "k3_tf": (args.venv / "bin" / "python", {"PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow"},
                  "trigger_hgq"),
        "k3_jax": (args.venv / "bin" / "python", {"PYTHONPATH": str(ROOT), "KERAS_BACKEND": "jax"}, "trigger_hgq"),
        "hgq2": (args.hgq2_venv / "bin" / "python", {"KERAS_BACKEND": "jax"}, "hgq2"),
    }
    out = {}
    for name in args.sides:
        python, env, impl = sides[name]
        if not python.exists():
            print(f"skipping {name}: no interpreter at {python}", flush=True)
            continue
        out[name] = ([str(python), str(WORKER), impl], env)
    return out


def run(cmd: list[str], env: dict[str, str], data: Path, epochs: int, batch: int) -> dict:
    full_env = {**os.environ, **env}
    proc = subprocess.run([*cmd, str(data), str(epochs), str(batch)], capture_output=True, text=True, env=full_env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b is not None else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run; the first is dropped")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, nargs="+", default=[1024, 16384])
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument("--old-tree", type=Path, default=Path("/work/old"))
    parser.add_argument("--old-venv", type=Path, default=Path("/work/venv_old"))
    parser.add_argument("--venv", type=Path, default=Path("/work/venv313"))
    parser.add_argument("--hgq2-venv", type=Path, default=Path("/work/venv_hgq2"))
    parser.add_argument("--json", type=Path, help="also write every epoch time here")
    args = parser.parse_args()

    sides = side_commands(args)
    times: dict[tuple[int, str], list[float]] = {(b, s): [] for b in args.batch for s in sides}
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "jets.npz"
        x, y = make_classification(args.rows, seed=0)
        np.savez(data, x=x, y=y)
        for r in range(args.rounds):
            for batch in args.batch:
                for name, (cmd, env) in sides.items():
                    if name in failed:
                        continue
                    try:
                        result = run(cmd, env, data, args.epochs, batch)
                    except RuntimeError as err:
                        failed[name] = str(err)
                        print(f"{name} failed, dropped from the comparison:\n{err}", flush=True)
                        continue
                    times[batch, name] += result["epoch_s"][1:]
                    print(f"round {r + 1}: batch {batch:5d} {name:7s} (keras {result['keras']}, "
                          f"{result['backend']}) median {statistics.median(times[batch, name]):.3f} s/epoch "
                          f"[{', '.join(f'{t:.3f}' for t in result['epoch_s'])}] loss {result['loss']:.4f}",
                          flush=True)
    med = {k: statistics.median(v) if v else None for k, v in times.items()}
    names = [s for s in sides if s not in failed]
    print(f"\nseconds per epoch (median over rounds and epochs after the first, {args.rows} rows):")
    print(f"  {'batch':>6s} " + " ".join(f"{s:>8s}" for s in names))
    for batch in args.batch:
        print(f"  {batch:6d} " + " ".join(f"{med[batch, s]:8.3f}" for s in names))
    print("\nratios (below 1: faster):")
    for batch in args.batch:
        get = {s: med.get((batch, s)) for s in SIDES}
        k3 = [v for v in (get["k3_tf"], get["k3_jax"]) if v is not None]
        best = min(k3) if k3 else None
        print(f"  batch {batch:5d}: k3_tf / old = {ratio(get['k3_tf'], get['old'])}, "
              f"k3_jax / old = {ratio(get['k3_jax'], get['old'])}, best Keras 3 / hgq2 = {ratio(best, get['hgq2'])}")
    if args.json:
        args.json.write_text(json.dumps({f"{b}/{s}": v for (b, s), v in times.items()}, indent=1))


if __name__ == "__main__":
    main()
