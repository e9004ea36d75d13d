"""Constituent-level against high-level: float particle taggers on the N leading particles vs the 16-feature MLP.

Every model trains through the pipeline's own task (``train_baseline_task``: the baselines' training policy, to
convergence by early stopping, or to ``--epochs``) on the same jets with the same split: the particle card
(``--card``, default ``datasets/jets_constituents16.yaml``: the leading N particles, 16 features each) and
``datasets/jets_hlf.yaml`` (16 high-level features) read the same file. Prints each model's test accuracy
(± binomial standard error), epochs and wall time, and the difference to the MLP in points. The literature's
expectation on the hls4ml 150-particle jets: an interaction network beats the MLP by >= 2 pt at N <= 32.

Usage: python benchmarks/bench_particles.py [--particles 8 16 32]
    [--configs deepsets16_float interaction_float mixer_float] [--card jets_constituents16.yaml] [--epochs 300]
    [--seed 0] [--train-fractions 0.25 0.5 1] [--mirrors]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONFIGS = REPO / "pipelines" / "configs" / "baselines"


def write_arrays(card: str, path: Path, n_particles: int | None, train_fraction: float = 1.0,
                 mirrors: bool = False) -> None:
    """The card's splits as the pipeline's data stage writes them (the leading ``n_particles`` particles); the
    training split cut to its first ``train_fraction`` (the split is already shuffled), the others whole. With
    ``mirrors``, the training jets also mirrored in phi, in eta and in both (4x the jets; exact symmetries of
    generator-level pp, ``trigger_hgq.data.mirrors``), and the particles standardized on those."""
    from trigger_hgq.data import load_dataset
    from trigger_hgq.data.mirrors import MIRROR_PLANES, mirror_training_jets

    mirrors = mirrors and n_particles is not None
    ds = load_dataset(REPO / "datasets" / card, standardize=not mirrors)
    arrays, masks = {}, {}
    for split in ("train", "val", "select", "test"):
        part = ds.split(split)
        rows = round(train_fraction * len(part.y)) if split == "train" else len(part.y)
        x = part.x if n_particles is None else part.constituents[:, :n_particles]
        arrays[f"x_{split}"] = np.ascontiguousarray(x[:rows], np.float32)
        arrays[f"y_{split}"] = part.y[:rows].astype(np.int64)
        if mirrors:
            masks[split] = part.mask[:rows, :n_particles]
    if mirrors:
        mirror_training_jets(arrays, masks, ds.constituent_fields, MIRROR_PLANES)
    np.savez(path, **arrays)


def train(config: str, arrays: Path, out: Path, seed: int, epochs: int | None = None) -> dict:
    from trigger_hgq.convert.io import load_model
    from trigger_hgq.pipeline.tasks import BaselineSpec, train_baseline_task

    spec = BaselineSpec(config=str(CONFIGS / f"{config}.yaml"), arrays=str(arrays), out=str(out), seed=seed,
                        epochs=epochs, verbose=0)
    t0 = time.perf_counter()
    result = train_baseline_task(spec)
    data = spec.load_arrays()
    pred = np.argmax(load_model(out).predict(data["x_test"], batch_size=16384, verbose=0), axis=1)
    acc = float(np.mean(pred == data["y_test"]))
    result.update(test_accuracy=acc, test_error=float(np.sqrt(acc * (1 - acc) / len(pred))),
                  wall_s=time.perf_counter() - t0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--configs", nargs="+", default=["deepsets16_float", "interaction_float", "mixer_float"],
                        help="constituent-level configs (pipelines/configs/baselines/<name>.yaml)")
    parser.add_argument("--card", default="jets_constituents16.yaml", help="the particle card (datasets/)")
    parser.add_argument("--epochs", type=int, default=None, help="epoch cap (default: each config's own)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-fractions", type=float, nargs="+", default=[1.0],
                        help="learning curve: train every model on these fractions of the training split "
                             "(validation and test unchanged)")
    parser.add_argument("--mirrors", action="store_true",
                        help="train the particle models also on the training jets mirrored in phi, eta and both")
    args = parser.parse_args()
    if not all(0 < f <= 1 for f in args.train_fractions):
        parser.error(f"--train-fractions {args.train_fractions}: each must be in (0, 1]")
    sys.path.insert(0, str(REPO))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = []
        for frac in args.train_fractions:
            tag = "" if frac == 1.0 else f" train x{frac:g}"
            write_arrays("jets_hlf.yaml", tmp / "hlf.npz", None, frac)
            mlp = train("jet_tagger_float", tmp / "hlf.npz", tmp / "mlp.keras", args.seed, args.epochs)
            rows.append((f"jet_tagger_float (16 features){tag}", mlp, mlp))
            print(f"{rows[-1][0]}: test {mlp['test_accuracy']:.4f}", flush=True)
            for n in args.particles:
                write_arrays(args.card, tmp / f"p{n}.npz", n, frac, args.mirrors)
                for config in args.configs:
                    r = train(config, tmp / f"p{n}.npz", tmp / f"{config}_{n}.keras", args.seed, args.epochs)
                    rows.append((f"{config} N={n}{tag}", r, mlp))
                    print(f"{rows[-1][0]}: test {r['test_accuracy']:.4f}", flush=True)
        for label, r, mlp in rows:
            print(f"{label:>44s}: test accuracy {r['test_accuracy']:.4f} ± {r['test_error']:.4f} "
                  f"({100 * (r['test_accuracy'] - mlp['test_accuracy']):+.2f} pt vs the MLP on the same rows), "
                  f"val {r['val_accuracy']:.4f}, epochs {r['training']['epochs_run']} "
                  f"(best {r['training']['best_epoch']}), {r['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
