"""Peak memory of streaming a ROOT file through a card: a file of FACTOR steps against a file of one step.

Writes two real ROOT files (16 float features, a label, a jagged particle list per jet; mktree + extend), then
streams each through the same card (``trigger_hgq.data.summarize``: shapes, class counts, feature moments) in a
fresh subprocess, measuring the peak of traced Python/numpy allocations (tracemalloc) and the growth of the peak
resident set size (ru_maxrss) over the state after the imports (in another subprocess, without tracemalloc). Prints
both ratios side by side; the target is that a file 10x larger than one step stays within 1.5x of the one-step
peak (judged on the traced allocations; RSS also holds what the C allocator keeps after frees).

    python benchmarks/data_streaming_memory.py [--step 50000] [--factor 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

TARGET = 1.5


def write_file(path: Path, n: int, basket: int, seed: int = 0) -> Path:
    """A jets tree of ``n`` entries written in baskets of ``basket`` entries."""
    import awkward as ak
    import uproot

    rng = np.random.default_rng(seed)

    def block(m: int) -> dict:
        counts = rng.integers(0, 40, m)
        total = int(counts.sum())
        data = {f"f{i}": rng.normal(size=m).astype(np.float32) for i in range(16)}
        data["label"] = rng.integers(0, 5, m).astype(np.int32)
        data["c"] = ak.zip({"pt": ak.unflatten(rng.exponential(5, total).astype(np.float32), counts),
                            "eta": ak.unflatten(rng.normal(size=total).astype(np.float32), counts)})
        return data

    with uproot.recreate(path) as f:
        for start in range(0, n, basket):
            data = block(min(basket, n - start))
            if start == 0:
                f.mktree("jets", {k: (v.type.content if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()})
            f["jets"].extend(data)
    return path


def card_for(path: Path, step: int) -> dict:
    return {"name": path.stem, "files": [str(path)], "tree": "jets", "features": [f"f{i}" for i in range(16)],
            "label": {"branch": "label"}, "classes": ["g", "q", "w", "z", "t"], "step_size": step,
            "constituents": {"branches": {"pt": "c_pt", "eta": "c_eta"}, "max_particles": 30}}


def measure(card: dict, trace: bool) -> dict:
    """Run in a fresh process: stream the card once and report the peak of traced allocations (``trace``) or the
    growth of the peak RSS over the state after the imports (without tracemalloc, whose bookkeeping adds RSS)."""
    from trigger_hgq.data import parse_card, summarize

    parsed = parse_card(card)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    summary = summarize(parsed)
    seconds = time.perf_counter() - t0
    out = {"rows": summary["rows"], "seconds": seconds}
    if trace:
        out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    else:
        out["rss_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1e3
    return out


def _run(card: dict, trace: bool) -> dict:
    cmd = [sys.executable, __file__, "--measure", json.dumps(card)] + (["--trace"] if trace else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=50_000, help="entries per step (default 50000)")
    parser.add_argument("--factor", type=int, default=10, help="size of the large file in steps (default 10)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(json.loads(args.measure), args.trace)))
        return 0
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        basket = max(args.step // 5, 1)
        files = {"1 step": write_file(Path(tmp) / "one_step.root", args.step, basket),
                 f"{args.factor} steps": write_file(Path(tmp) / "many_steps.root", args.factor * args.step, basket)}
        for label, path in files.items():
            card = card_for(path, args.step)
            results[label] = _run(card, trace=True) | _run(card, trace=False) | {"file_mb": path.stat().st_size / 1e6}
    print(f"{'file':<10} {'rows':>9} {'file MB':>8} {'traced peak MB':>15} {'RSS growth MB':>14} {'seconds':>8}")
    for label, r in results.items():
        print(f"{label:<10} {r['rows']:>9} {r['file_mb']:>8.1f} {r['traced_peak_mb']:>15.1f} "
              f"{r['rss_growth_mb']:>14.1f} {r['seconds']:>8.2f}")
    one, many = results["1 step"], results[f"{args.factor} steps"]
    traced = many["traced_peak_mb"] / one["traced_peak_mb"]
    rss = many["rss_growth_mb"] / max(one["rss_growth_mb"], 1e-9)
    print(f"peak memory ratio ({args.factor}x file / 1-step file): traced {traced:.2f}, RSS growth {rss:.2f} "
          f"(target <= {TARGET})")
    return 0 if traced <= TARGET and rss <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
