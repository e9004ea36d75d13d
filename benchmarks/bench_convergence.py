"""Are the baselines converged? The 6-bit baseline trained with its epoch cap and with twice the cap.

Both runs go through the pipeline's own task (``train_baseline_task``) on the pipeline's data (the shipped
dataset through its card, the card's train / val / test split) with the same seed; their test accuracies, epochs
run and restored best epochs are printed, with the difference in points (target: < 0.2 pt). Early stopping
usually ends both runs before the cap (then they are the same run), so a third run doubles the early-stopping
patience as well: the stricter test of convergence. With ``--pruned`` the pruned 6-bit baselines are then trained
from the capped run's weights, and their sparsity and test accuracy are printed too.

Usage: python benchmarks/bench_convergence.py [--config jet_tagger_6bit] [--seed 0] [--pruned]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONFIGS = REPO / "pipelines" / "configs" / "baselines"
TARGET_PT = 0.2


def train(config: Path, arrays: Path, out: Path, seed: int, epochs: int | None = None,
          init_weights: Path | None = None) -> dict:
    """One baseline through the pipeline's task; its result with the test accuracy and wall time added."""
    from trigger_hgq.convert.io import load_model
    from trigger_hgq.models import class_accuracy
    from trigger_hgq.pipeline.tasks import BaselineSpec, train_baseline_task

    spec = BaselineSpec(config=str(config), arrays=str(arrays), out=str(out), seed=seed, epochs=epochs, verbose=0,
                        init_weights=str(init_weights) if init_weights is not None else None)
    t0 = time.perf_counter()
    result = train_baseline_task(spec)
    data = spec.load_arrays()
    result["test_accuracy"] = class_accuracy(load_model(out), data["x_test"], data["y_test"])
    result["wall_s"] = time.perf_counter() - t0
    return result


def line(label: str, r: dict) -> str:
    extra = f", sparsity {r['sparsity']:.4f}" if "sparsity" in r else ""
    return (f"{label:>24s}: test accuracy {r['test_accuracy']:.4f}, val {r['val_accuracy']:.4f}, "
            f"epochs run {r['training']['epochs_run']}, best epoch {r['training']['best_epoch']}{extra} "
            f"({r['wall_s']:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="jet_tagger_6bit", help="baseline config name (pipelines/configs/...)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pruned", action="store_true", help="also train the pruned 6-bit baselines")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(HERE))
    from bench_front import write_arrays  # the pipeline's data stage: the same arrays the benchmarks share

    from trigger_hgq.baselines.policy import TrainingPolicy
    from trigger_hgq.baselines.qkeras_models import load_baseline_config

    config = CONFIGS / f"{args.config}.yaml"
    policy = TrainingPolicy.from_config(load_baseline_config(config))
    cap, patience = policy.epochs, policy.early_stopping_patience
    with tempfile.TemporaryDirectory() as tmp:
        arrays = Path(tmp) / "arrays.npz"
        write_arrays(arrays)
        runs = {}
        patient = Path(tmp) / f"{args.config}_patience{2 * patience}.yaml"
        patient.write_text(f"base: {config}\ntraining: {{early_stopping_patience: {2 * patience}}}\n")
        variants = {f"cap {cap}": (config, cap), f"cap {2 * cap}": (config, 2 * cap),
                    f"cap {2 * cap}, patience {2 * patience}": (patient, 2 * cap)}
        for label, (path, epochs) in variants.items():
            out = Path(tmp) / f"run{len(runs)}.h5"
            runs[label] = train(path, arrays, out, args.seed, epochs)
            print(line(f"{args.config} {label}", runs[label]), flush=True)
        first, *longer = runs.values()
        for label, run in zip(list(runs)[1:], longer, strict=True):
            diff_pt = 100 * (run["test_accuracy"] - first["test_accuracy"])
            verdict = "converged" if abs(diff_pt) < TARGET_PT else "NOT converged"
            print(f"{label} instead of cap {cap}: the test accuracy moves by {diff_pt:+.2f} pt "
                  f"(target |diff| < {TARGET_PT} pt): {verdict}", flush=True)
        if args.pruned:
            parent = Path(first["path"])
            for name in ("jet_tagger_6bit_pruned50", "jet_tagger_6bit_pruned75"):
                r = train(CONFIGS / f"{name}.yaml", arrays, Path(tmp) / f"{name}.h5", args.seed, init_weights=parent)
                print(line(name, r) + f", phase epochs {r['phase_epochs']}", flush=True)


if __name__ == "__main__":
    main()
