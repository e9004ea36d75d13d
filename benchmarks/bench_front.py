"""Accuracy-vs-EBOPs fronts of trigger-hgq and the reference hgq 0.2.6 at equal training wall time.

The shipped dataset (``datasets/jets_hlf.yaml``, read through the loader: 60k train / 20k val / 20k test jets)
trains the 16-64-32-32-5 jet MLP from scratch in both implementations, each in its own process, one after the
other and interleaved over rounds (seeds), with the same schedule shape: Adam, a fixed batch size, beta ramping
log-linearly from beta0 to beta1 over the same *wall-time* budget (the first epoch, graph tracing / XLA
compilation, is not counted). trigger-hgq runs with its library defaults (``QuantizerConfig()``, ``compile_for_hgq``)
and hgq 0.2.6 with its own. Each epoch not dominated on (validation accuracy, EBOPs) is kept; at the end every kept
point is calibrated on the training rows and evaluated on the test rows, and EBOPs are counted by one definition for
both (signed weight bits x input bits). Fronts of all rounds are merged per implementation.

Printed: the float reference's test accuracy and, for thresholds at float accuracy minus 0.5, 1 and 2 points, the
smallest EBOPs on each front reaching it and the ratio trigger-hgq / hgq 0.2.6 (target <= 0.7 at every threshold).
hgq 0.2.6 is installed into benchmarks/.venv-hgq on first use (as bench_training.py does); never a dependency.

Usage: python benchmarks/bench_front.py [--seconds 120] [--rounds 2] [--batch 1024] [--no-hgq]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET = 0.7
DROPS_PT = (0.5, 1.0, 2.0)


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
    out = subprocess.run([str(python), str(HERE / "_front_worker.py"), impl, str(data), json.dumps(spec)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def smallest_ebops(points: list[dict], accuracy: float) -> int | None:
    """The fewest EBOPs among points with test accuracy >= ``accuracy`` (None: the front never reaches it)."""
    ok = [p["ebops"] for p in points if p["test_accuracy"] >= accuracy]
    return min(ok) if ok else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="training wall time per run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (seed = round)")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--beta", type=float, nargs=2, default=(1e-7, 1e-4), metavar=("BETA0", "BETA1"))
    parser.add_argument("--lr-cycles", type=int, default=0,
                        help="cosine learning-rate decays with restarts over the budget, for both (0: constant)")
    parser.add_argument("--no-hgq", action="store_true", help="trigger-hgq only (no reference)")
    parser.add_argument("--json", type=Path, help="also write every front point here")
    args = parser.parse_args()

    impls = {"trigger_hgq": Path(sys.executable)}
    if not args.no_hgq:
        sys.path.insert(0, str(HERE))
        from bench_training import hgq_python

        impls["hgq"] = hgq_python()
    spec = {"seconds": args.seconds, "batch_size": args.batch, "learning_rate": args.learning_rate,
            "beta0": args.beta[0], "beta1": args.beta[1], "lr_cycles": args.lr_cycles}
    fronts: dict[str, list[dict]] = {k: [] for k in impls}
    runs: dict[str, list[dict]] = {k: [] for k in impls}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "jets.npz"
        write_arrays(data)
        ref = run(Path(sys.executable), "float", data, {"batch_size": args.batch, "learning_rate": args.learning_rate,
                                                        "epochs": 100})
        float_acc = ref["points"][0]["test_accuracy"]
        print(f"float reference: test accuracy {float_acc:.4f} ({ref['epochs']} epochs, {ref['train_s']:.0f} s)",
              flush=True)
        for r in range(args.rounds):
            for impl, python in impls.items():
                res = run(python, impl, data, {**spec, "seed": r})
                runs[impl].append(res)
                fronts[impl] += res["points"]
                best = max(p["test_accuracy"] for p in res["points"])
                print(f"round {r + 1}: {impl:12s} {res['epochs']:4d} epochs in {res['train_s']:.0f} s, "
                      f"{len(res['points'])} front points, best test accuracy {best:.4f}", flush=True)
    print(f"\nsmallest EBOPs at test accuracy >= threshold ({args.rounds} rounds x {args.seconds:.0f} s, "
          f"batch {args.batch}, beta {args.beta[0]:g} -> {args.beta[1]:g}):")
    print(f"  {'threshold':>16s} {'trigger_hgq':>12s} {'hgq-0.2.6':>12s} {'ratio':>7s}")
    for drop in DROPS_PT:
        thr = float_acc - drop / 100
        ours = smallest_ebops(fronts["trigger_hgq"], thr)
        theirs = smallest_ebops(fronts["hgq"], thr) if "hgq" in fronts else None
        if ours is not None and theirs is not None:
            ratio = f"{ours / theirs:7.2f}"
        elif ours is not None and "hgq" in fronts:
            ratio = "   ours"  # only trigger-hgq reaches it: better than any ratio
        else:
            ratio = "      -"
        print(f"  float-{drop:.1f}pt {thr:.4f} {ours if ours is not None else '-':>12} "
              f"{theirs if theirs is not None else '-':>12} {ratio}  (target <= {TARGET})")
    if args.json:
        args.json.write_text(json.dumps({"float_accuracy": float_acc, "spec": spec, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
