"""A sweep over the particle count: one pipeline run per ``n_particles`` (each in ``OUT/n<N>``, resumable on its
own), then the sweep report (:mod:`trigger_hgq.report.sweep`) of accuracy, LUTs and cycles against N.

The runs follow one another; with ``--scheduler`` each run spreads its tasks (baselines, HGQ seeds, exports, RTL
syntheses) over the Dask cluster. Every run's inputs are checked before the first one starts.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from trigger_hgq.pipeline.config import PipelineConfig
from trigger_hgq.progress import log


def run_sweep(cfg: PipelineConfig, out_dir: str | Path, scheduler: str | None = None, force: bool = False,
              strict: bool = False, verbose: int = 0, card=None) -> int:
    """Run the pipeline for each of ``cfg.particle_counts``; write ``sweep.json`` and ``sweep.md`` (with its plot)
    in ``out_dir``. Returns the largest exit code of the runs. ``card``: the dataset's card, when already parsed
    (the runs share it)."""
    from trigger_hgq.pipeline.inputs import RunInputs
    from trigger_hgq.pipeline.run import Run
    from trigger_hgq.report.sweep import write_sweep

    t0 = time.perf_counter()
    out = Path(out_dir).resolve()
    counts = cfg.particle_counts or []
    # every run's inputs read, checked and parsed before anything is written
    inputs = {}
    for n in counts:
        inputs[n] = RunInputs(cfg.for_particles(n)).load(card)
        card = inputs[n].card
    codes, reports = [], {}
    for i, n in enumerate(counts):
        log(f"sweep: {n} particles ({i + 1}/{len(counts)})")
        run = Run(cfg.for_particles(n), out / f"n{n}", scheduler=scheduler, force=force, verbose=verbose,
                  inputs=inputs[n])
        outputs = run.run()
        codes.append(run.exit_code(outputs, strict))
        reports[n] = json.loads((run.out / "report.json").read_text())
    files = write_sweep(out, reports, cfg.section("hgq").get("start_from") or "deepsets_8bit")
    log(f"sweep finished in {time.perf_counter() - t0:.1f} s; report: {files['sweep.md']}")
    return max(codes, default=0)
