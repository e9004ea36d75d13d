"""Export time of the HGQ jet MLP (16-64-32-32-5): hls4ml project write + C-simulation build + 10k-row check.

Prints the wall and CPU time of each step of ``trigger_hgq.to_hls4ml`` (target: under 20 s in total), and, side by
side on the same project, hls4ml's own ``build_lib.sh`` build against trigger-hgq's single-unit build.

    python benchmarks/bench_export.py [--rows 10000] [--epochs 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

import trigger_hgq as th


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (g++)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def jet_mlp(x: np.ndarray, y: np.ndarray, epochs: int) -> keras.Model:
    inp = keras.Input((16,), name="jet")
    h = th.HQuantize(beta=1e-6, name="q")(inp)
    h = th.HDense(64, activation="relu", beta=1e-6, name="fc1")(h)
    h = th.HDense(32, activation="relu", beta=1e-6, name="fc2")(h)
    h = th.HDense(32, activation="relu", beta=1e-6, name="fc3")(h)
    model = keras.Model(inp, th.HDense(5, beta=1e-6, name="out")(h))
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=epochs, batch_size=512, verbose=0)
    th.calibrate(model, x)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(max(args.rows, 20_000), 16)).astype(np.float32)
    y = (x[:, :5] + 0.5 * x[:, 5:10] ** 2).argmax(axis=1)
    model = jet_mlp(x, y, args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "jet_mlp"
        wall0, cpu0 = time.perf_counter(), cpu_s()
        export = th.to_hls4ml(model, out, x=x[: args.rows])
        wall, cpu = time.perf_counter() - wall0, cpu_s() - cpu0
        t = export.report["timings_s"]
        print(f"jet MLP export (EBOPs {export.report['ebops']}, bit-exact {export.report['bit_exact_fraction']:.4f} "
              f"on {export.report['n_checked']} rows)")
        for step in ("convert", "write", "compile", "check"):
            print(f"  {step:8s} {t[step]:7.2f} s wall")
        print(f"  total    {wall:7.2f} s wall, {cpu:7.2f} s CPU (this process + g++); target < 20 s")
        print(f"  load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

        # side by side: hls4ml's build script (3 units, -O3) against ours (1 unit, -O1), same project
        start = cpu_s(), time.perf_counter()
        proc = subprocess.run(["bash", "build_lib.sh"], cwd=out, capture_output=True, text=True)
        hls4ml_cpu, hls4ml_wall = cpu_s() - start[0], time.perf_counter() - start[1]
        if proc.returncode != 0:
            raise SystemExit(f"hls4ml build_lib.sh failed: {proc.stdout[-400:]}")
        from trigger_hgq.export.hls import compile_csim

        start = cpu_s(), time.perf_counter()
        compile_csim(export.hls_model)
        ours_cpu, ours_wall = cpu_s() - start[0], time.perf_counter() - start[1]
        print(f"C-simulation build: hls4ml build_lib.sh {hls4ml_wall:6.2f} s wall / {hls4ml_cpu:6.2f} s CPU; "
              f"trigger-hgq {ours_wall:6.2f} s wall / {ours_cpu:6.2f} s CPU; "
              f"ratio {hls4ml_cpu / ours_cpu:.2f}x CPU")


if __name__ == "__main__":
    main()
