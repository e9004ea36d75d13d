"""Constituent-level against high-level: float particle taggers on the N leading particles vs the 16-feature MLP.

Every model trains through the pipeline's own task (``train_baseline_task``: the baselines' training policy, to
convergence by early stopping, or to ``--epochs``) on the same jets with the same split: the particle card
(``--card``, default ``datasets/jets_constituents16.yaml``: the leading N particles, 16 features each) and
``datasets/jets_hlf.yaml`` (16 high-level features) read the same file. Prints each model's test accuracy
(± binomial standard error), epochs and wall time, and the difference to the MLP in points. The literature's
expectation on the hls4ml 150-particle jets: an interaction network beats the MLP by >= 2 pt at N <= 32.

Usage: python benchmarks/bench_particles.py [--particles 8 16 32]
    [--configs deepsets16_float interaction_float mixer_float] [--card jets_constituents16.yaml] [--epochs 300]
    [--seed 0]
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


def write_arrays(card: str, path: Path, n_particles: int | None) -> None:
    """The card's splits as the pipeline's data stage writes them (the leading ``n_particles`` particles)."""
    from trigger_hgq.data import load_dataset

    ds = load_dataset(REPO / "datasets" / card)
    arrays = {}
    for split in ("train", "val", "select", "test"):
        part = ds.split(split)
        x = part.x if n_particles is None else part.constituents[:, :n_particles]
        arrays[f"x_{split}"], arrays[f"y_{split}"] = np.ascontiguousarray(x, np.float32), part.y.astype(np.int64)
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
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = []
        write_arrays("jets_hlf.yaml", tmp / "hlf.npz", None)
        mlp = train("jet_tagger_float", tmp / "hlf.npz", tmp / "mlp.keras", args.seed, args.epochs)
        rows.append(("jet_tagger_float (16 features)", mlp))
        for n in args.particles:
            write_arrays(args.card, tmp / f"p{n}.npz", n)
            for config in args.configs:
                rows.append((f"{config} N={n}", train(config, tmp / f"p{n}.npz", tmp / f"{config}_{n}.keras",
                                                      args.seed, args.epochs)))
                print(f"{rows[-1][0]}: test {rows[-1][1]['test_accuracy']:.4f}", flush=True)
        base = mlp["test_accuracy"]
        for label, r in rows:
            print(f"{label:>34s}: test accuracy {r['test_accuracy']:.4f} ± {r['test_error']:.4f} "
                  f"({100 * (r['test_accuracy'] - base):+.2f} pt vs the MLP), val {r['val_accuracy']:.4f}, "
                  f"epochs {r['training']['epochs_run']} (best {r['training']['best_epoch']}), {r['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
