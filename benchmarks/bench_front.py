"""Accuracy-vs-EBOPs fronts of trigger-hgq, hgq2 0.2.0 and the reference hgq 0.2.6 at equal wall time or epochs.

The shipped dataset (``datasets/jets_hlf.yaml``, read through the loader: 60k train / 20k val / 20k test jets)
trains the 16-64-32-32-5 jet MLP from scratch in each implementation (``--peers``), each in its own process, one
after the other and interleaved over rounds (seeds), with the same schedule shape: Adam, a fixed batch size, beta
ramping log-linearly from beta0 to beta1 over the same budget: the same *wall time* (``--seconds``; the first epoch,
graph tracing / XLA compilation, is not counted) or, with ``--epochs N``, the same number of epochs for every
implementation (the comparison at equal accuracy and equal epochs). Each runs with its library defaults:
trigger-hgq (``QuantizerConfig()``, ``compile_for_hgq``; this interpreter, Keras 3), hgq2 (``QDense`` default
quantizers; its own virtualenv, ``HGQ2_PYTHON``, default /work/venv_hgq2, under KERAS_BACKEND=jax) and hgq 0.2.6
(Keras 2; benchmarks/.venv-hgq, installed on first use as bench_training.py does, which takes minutes; never a
dependency). Each epoch not dominated on (validation accuracy, EBOPs) is kept; at the end every kept point is
calibrated on the training rows and evaluated on the test rows, and EBOPs are counted by one definition for all
(signed weight bits x input bits, sign included). Fronts of all rounds are merged per implementation.

Printed: the float reference's test accuracy and, for thresholds at float accuracy minus 0.5, 1 and 2 points, the
smallest EBOPs on each front reaching it and the ratios trigger-hgq / hgq2 (target <= 0.5) and trigger-hgq /
hgq 0.2.6 (target <= 0.7) for the peers that ran.

Usage: python benchmarks/bench_front.py [--peers trigger_hgq hgq2 hgq] [--seconds 120 | --epochs N] [--rounds 2]
       [--batch 1024] [--lr-cycles N] [--float-epochs 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DROPS_PT = (0.5, 1.0, 2.0)
PEERS = ("trigger_hgq", "hgq2", "hgq")
LABELS = {"trigger_hgq": "trigger_hgq", "hgq2": "hgq2-0.2.0", "hgq": "hgq-0.2.6"}
TARGETS = {"hgq2": 0.5, "hgq": 0.7}  # trigger-hgq EBOPs / peer EBOPs at each threshold
HGQ2_PYTHON = Path(os.environ.get("HGQ2_PYTHON", "/work/venv_hgq2/bin/python"))


def write_arrays(path: Path) -> None:
    """The shipped dataset's splits through the loader, as the pipeline's data stage writes them."""
    sys.path.insert(0, str(ROOT))
    from trigger_hgq.data import load_dataset

    ds = load_dataset(ROOT / "datasets" / "jets_hlf.yaml")
    arrays = {}
    for split in ("train", "val", "test"):
        part = ds.split(split)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = part.x.astype(np.float32), part.y.astype(np.int64)
    np.savez(path, **arrays)


def run(python: Path, impl: str, data: Path, spec: dict) -> dict:
    """One worker run; hgq2 supports JAX only here, so its worker gets KERAS_BACKEND=jax."""
    env = {**os.environ, "KERAS_BACKEND": "jax"} if impl == "hgq2" else None
    proc = subprocess.run([str(python), str(HERE / "_front_worker.py"), impl, str(data), json.dumps(spec)],
                          capture_output=True, text=True, env=env)
    if proc.returncode:
        raise SystemExit(f"{impl} worker failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def interpreters(peers: list[str]) -> dict[str, Path]:
    """The Python of each selected implementation, in the order given."""
    pythons: dict[str, Path] = {}
    for peer in peers:
        if peer == "trigger_hgq":
            pythons[peer] = Path(sys.executable)
        elif peer == "hgq2":
            if not HGQ2_PYTHON.exists():
                raise SystemExit(f"hgq2 interpreter {HGQ2_PYTHON} not found: set HGQ2_PYTHON or drop hgq2 from --peers")
            pythons[peer] = HGQ2_PYTHON
        else:
            sys.path.insert(0, str(HERE))
            from bench_training import hgq_python

            pythons[peer] = hgq_python()
    return pythons


def smallest_ebops(points: list[dict], accuracy: float) -> int | None:
    """The fewest EBOPs among points with test accuracy >= ``accuracy`` (None: the front never reaches it)."""
    ok = [p["ebops"] for p in points if p["test_accuracy"] >= accuracy]
    return min(ok) if ok else None


def ratio_cell(ours: int | None, theirs: int | None) -> str:
    """trigger-hgq EBOPs / peer EBOPs at one threshold, or which side alone reaches it."""
    if ours is not None and theirs is not None:
        return f"{ours / theirs:.2f}"
    if ours is not None:
        return "ours"  # only trigger-hgq reaches it: better than any ratio
    return "theirs" if theirs is not None else "-"  # only the peer reaches it: worse than any ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=["trigger_hgq", "hgq2"],
                        help="implementations to run (hgq = hgq 0.2.6, whose virtualenv takes minutes to build)")
    parser.add_argument("--seconds", type=float, default=120.0, help="training wall time per run")
    parser.add_argument("--epochs", type=int, help="training epochs per run, the same for every implementation "
                                                   "(replaces --seconds)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (seed = round)")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--beta", type=float, nargs=2, default=(1e-7, 1e-4), metavar=("BETA0", "BETA1"))
    parser.add_argument("--lr-cycles", type=int, default=0,
                        help="cosine learning-rate decays with restarts over the budget, for all (0: constant)")
    parser.add_argument("--float-epochs", type=int, default=100,
                        help="most epochs of the float reference (early stopping, patience 15)")
    parser.add_argument("--no-hgq", action="store_true", help="trigger-hgq only (same as --peers trigger_hgq)")
    parser.add_argument("--json", type=Path, help="also write every front point here")
    args = parser.parse_args()

    peers = ["trigger_hgq"] if args.no_hgq else list(dict.fromkeys(args.peers))
    if "trigger_hgq" not in peers:
        parser.error("--peers must include trigger_hgq (the ratios are trigger_hgq / peer)")
    impls = interpreters(peers)
    spec = {"seconds": args.seconds, "batch_size": args.batch, "learning_rate": args.learning_rate,
            "beta0": args.beta[0], "beta1": args.beta[1], "lr_cycles": args.lr_cycles}
    if args.epochs:
        spec["epochs"] = args.epochs
    budget = f"{args.epochs} epochs" if args.epochs else f"{args.seconds:.0f} s"
    fronts: dict[str, list[dict]] = {k: [] for k in impls}
    runs: dict[str, list[dict]] = {k: [] for k in impls}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "jets.npz"
        write_arrays(data)
        ref = run(Path(sys.executable), "float", data, {"batch_size": args.batch, "learning_rate": args.learning_rate,
                                                        "epochs": args.float_epochs})
        float_acc = ref["points"][0]["test_accuracy"]
        print(f"float reference: test accuracy {float_acc:.4f} ({ref['epochs']} epochs, {ref['train_s']:.0f} s)",
              flush=True)
        for r in range(args.rounds):
            for impl, python in impls.items():
                res = run(python, impl, data, {**spec, "seed": r})
                runs[impl].append(res)
                fronts[impl] += res["points"]
                best = max(p["test_accuracy"] for p in res["points"])
                print(f"round {r + 1}: {LABELS[impl]:12s} {res['epochs']:4d} epochs in {res['train_s']:.0f} s, "
                      f"{len(res['points'])} front points, best test accuracy {best:.4f}", flush=True)
    others = [p for p in impls if p != "trigger_hgq"]
    print(f"\nsmallest EBOPs at test accuracy >= threshold ({args.rounds} rounds x {budget}, "
          f"batch {args.batch}, beta {args.beta[0]:g} -> {args.beta[1]:g}):")
    header = "".join(f" {LABELS[p]:>12s}" for p in impls)
    header += "".join(f" {'/' + LABELS[p]:>12s}" for p in others)
    print(f"  {'threshold':>16s}{header}")
    for drop in DROPS_PT:
        thr = float_acc - drop / 100
        best = {p: smallest_ebops(fronts[p], thr) for p in impls}
        cells = "".join(f" {best[p] if best[p] is not None else '-':>12}" for p in impls)
        cells += "".join(f" {ratio_cell(best['trigger_hgq'], best[p]):>12s}" for p in others)
        targets = ", ".join(f"/{LABELS[p]} <= {TARGETS[p]}" for p in others)
        print(f"  float-{drop:.1f}pt {thr:.4f}{cells}" + (f"  (targets {targets})" if others else ""))
    if args.json:
        args.json.write_text(json.dumps({"float_accuracy": float_acc, "spec": spec, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
