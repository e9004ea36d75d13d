"""Generate the five-class jet dataset (g, q, w, z, t at pT ~ 1 TeV) with Pythia 8 and FastJet, in parallel.

Work is cut into chunks of events (see :mod:`trigger_hgq.data.generation.pythia_jets`); each chunk runs its own Pythia
seeded from (seed, process, chunk index) and chunks are consumed in order, so the output depends on the seed
only, not on the number of worker processes. Jets are shuffled with the seed and written as a ROOT TTree
(:mod:`trigger_hgq.data.generation.jetfile`).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shlex
import time
from collections import deque
from pathlib import Path

import numpy as np

from trigger_hgq.data.generation.features import FEATURE_NAMES
from trigger_hgq.data.generation.jetfile import CLASSES, CONSTITUENT_FIELDS, KINEMATICS
from trigger_hgq.data.generation.pythia_jets import (
    COMMON_SETTINGS,
    PROCESSES,
    ChunkTask,
    JetSelection,
    chunk_seed,
    import_generators,
    run_chunk,
)
from trigger_hgq.errors import TriggerHGQError


def _merge(chunks: list[dict]) -> dict:
    """Concatenate chunk outputs (jets in chunk order)."""
    import awkward as ak

    out: dict = {}
    for key in ("label", *KINEMATICS, *FEATURE_NAMES):
        out[key] = np.concatenate([c[key] for c in chunks])
    if chunks and "const" in chunks[0]:
        out["const"] = {f: ak.concatenate([c["const"][f] for c in chunks]) for f in CONSTITUENT_FIELDS}
    return out


def _take(arrays: dict, index: np.ndarray) -> dict:
    out = {k: v[index] for k, v in arrays.items() if isinstance(v, np.ndarray)}
    if "const" in arrays:
        out["const"] = {f: v[index] for f, v in arrays["const"].items()}
    return out


def generate_jets(
    n_per_class: int,
    seed: int,
    *,
    workers: int = 1,
    events_per_chunk: int = 500,
    max_constituents: int = 0,
    selection: JetSelection | None = None,
    progress: bool = True,
) -> tuple[dict, dict]:
    """Generate ``n_per_class`` jets of each class; return (arrays, statistics).

    ``arrays`` holds ``label`` (index into :data:`CLASSES`), the kinematics, the 16 features and, when
    ``max_constituents > 0``, ``const`` (the leading constituents per jet: pt, eta, phi, E). Jets are shuffled
    with ``seed``. The result depends only on ``n_per_class``, ``seed``, ``events_per_chunk``,
    ``max_constituents`` and ``selection``.
    """
    if n_per_class <= 0 or events_per_chunk <= 0 or workers <= 0:
        raise TriggerHGQError("data generate: --jets-per-class, --events-per-chunk and --workers must be positive")
    import_generators()
    from tqdm import tqdm

    selection = selection or JetSelection()
    owners = {cls: p for p, spec in enumerate(PROCESSES) for cls in spec.truth.values()}
    kept: dict[int, list[dict]] = {c: [] for c in range(len(CLASSES))}
    have = np.zeros(len(CLASSES), np.int64)
    stats = {spec.name: {"events": 0, "failed": 0, "chunks": 0} for spec in PROCESSES}
    next_chunk = [0] * len(PROCESSES)
    next_consume = [0] * len(PROCESSES)
    ready: list[dict[int, dict]] = [{} for _ in PROCESSES]

    def needs(p: int) -> bool:
        return any(have[c] < n_per_class for c, owner in owners.items() if owner == p)

    def consume(p: int) -> None:
        while next_consume[p] in ready[p] and needs(p):
            res = ready[p].pop(next_consume[p])
            next_consume[p] += 1
            stats[PROCESSES[p].name]["events"] += res["n_events"]
            stats[PROCESSES[p].name]["failed"] += res["n_failed"]
            stats[PROCESSES[p].name]["chunks"] += 1
            for c in set(PROCESSES[p].truth.values()):
                rows = np.flatnonzero(res["label"] == c)[: max(0, n_per_class - have[c])]
                if rows.size:
                    kept[c].append(_take(res, rows))
                    have[c] += rows.size
                    bar.update(int(rows.size))

    def make_task(p: int) -> ChunkTask:
        task = ChunkTask(
            p, next_chunk[p], events_per_chunk, chunk_seed(seed, p, next_chunk[p]), selection, max_constituents
        )
        next_chunk[p] += 1
        return task

    bar = tqdm(total=n_per_class * len(CLASSES), unit="jet", desc="generating", disable=not progress)
    try:
        if workers == 1:
            while any(needs(p) for p in range(len(PROCESSES))):
                for p in range(len(PROCESSES)):
                    if needs(p):
                        task = make_task(p)
                        ready[p][task.chunk] = run_chunk(task)
                        consume(p)
        else:
            _run_parallel(workers, make_task, needs, consume, ready)
    finally:
        bar.close()
    arrays = _merge([part for c in range(len(CLASSES)) for part in kept[c]])
    order = np.random.default_rng(seed).permutation(arrays["label"].shape[0])
    return _take(arrays, order), stats


def _run_parallel(workers, make_task, needs, consume, ready) -> None:
    """Keep ``2 * workers`` chunks in flight over the processes that still need jets; consume in chunk order."""
    ctx = multiprocessing.get_context("fork")
    inflight: deque = deque()
    with ctx.Pool(workers) as pool:
        while True:
            active = [p for p in range(len(PROCESSES)) if needs(p)]
            if not active:
                break
            load = {p: sum(1 for q, _, _ in inflight if q == p) for p in active}
            while len(inflight) < 2 * workers:
                p = min(active, key=lambda q: load[q])
                task = make_task(p)
                inflight.append((p, task.chunk, pool.apply_async(run_chunk, (task,))))
                load[p] += 1
            done = [item for item in inflight if item[2].ready()]
            if not done:
                inflight[0][2].wait(0.2)
                continue
            for item in done:
                inflight.remove(item)
                p, chunk, result = item
                ready[p][chunk] = result.get()
                consume(p)
        pool.terminate()


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("pythia8mc", "fastjet", "uproot"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            out[pkg] = None
    return out


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``trigger-hgq data generate`` and ``datasets/generate_jets.py``."""
    parser.add_argument("output", help="ROOT file to write (TTree `jets`)")
    parser.add_argument("--jets-per-class", type=int, default=20_000, help="jets of each class g,q,w,z,t")
    parser.add_argument("--seed", type=int, default=1, help="random seed; the output depends only on it")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--events-per-chunk", type=int, default=500, help="events per Pythia run (unit of work)")
    parser.add_argument("--constituents", type=int, default=0, metavar="N",
                        help="also store up to N leading constituents per jet (pt, eta, phi, E); 0: none")
    parser.add_argument("--card", help="also write the dataset card (YAML) here")
    parser.add_argument("--name", help="dataset name in the card (default: the output file's stem)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _canonical_command(prog: str, args: argparse.Namespace) -> str:
    parts = [*shlex.split(prog), args.output, "--jets-per-class", str(args.jets_per_class), "--seed", str(args.seed),
             "--events-per-chunk", str(args.events_per_chunk)]
    if args.constituents:
        parts += ["--constituents", str(args.constituents)]
    if args.card:
        parts += ["--card", args.card]
    if args.name:
        parts += ["--name", args.name]
    return shlex.join(parts)


def run_generate(args: argparse.Namespace, prog: str = "trigger-hgq data generate") -> int:
    """Generate, write the ROOT file (and the card); print a one-line summary."""
    command = _canonical_command(prog, args)
    start = time.time()
    arrays, stats = generate_jets(
        args.jets_per_class,
        args.seed,
        workers=args.workers,
        events_per_chunk=args.events_per_chunk,
        max_constituents=args.constituents,
        progress=not args.no_progress,
    )
    write_outputs(args, arrays, stats, command, _versions())
    print(f"{time.time() - start:.0f} s")
    return 0


def write_outputs(args: argparse.Namespace, arrays: dict, stats: dict, command: str, versions: dict) -> Path:
    """Write the generated ``arrays`` to ``args.output`` with their metadata (and the card ``args.card``); print a
    one-line summary. Returns the ROOT file's path."""
    from trigger_hgq.data.generation.jetfile import write_card, write_jet_tree

    selection = JetSelection()
    metadata = {
        "command": command,
        "seed": args.seed,
        "jets_per_class": args.jets_per_class,
        "classes": list(CLASSES),
        "events_per_chunk": args.events_per_chunk,
        "max_constituents": args.constituents,
        "selection": selection.__dict__,
        "processes": {spec.name: [*COMMON_SETTINGS, *spec.settings] for spec in PROCESSES},
        "statistics": stats,
        "versions": versions,
    }
    path = write_jet_tree(args.output, arrays, metadata=metadata)
    n = len(arrays["label"])
    if args.card:
        name = args.name or Path(args.output).stem
        what = "16 high-level features, label and jet kinematics"
        if args.constituents:
            what += f", and up to {args.constituents} leading constituents (pt, eta, phi, E)"
        description = (
            f"{args.jets_per_class} jets per class (g, q, w, z, t) from Pythia 8 pp collisions at 13 TeV: anti-kT "
            f"R=0.8 on visible final-state particles, {selection.pt_min:g} < pT < {selection.pt_max:g} GeV, "
            f"|eta| < {selection.eta_max:g}, truth-matched to the hard parton or boson (W, Z longitudinal from a "
            f"2 TeV W' -> WZ); {what}."
        )
        write_card(args.card, name=name, description=description, data_file=path, command=command, seed=args.seed,
                   max_constituents=args.constituents)
    size = path.stat().st_size
    print(f"wrote {path}: {n} jets, {size / max(n, 1):.1f} bytes/jet" + (f"; card {args.card}" if args.card else ""),
          end="; ")
    return path


def register_generate(data_subparsers) -> None:
    """Add ``generate`` to the ``trigger-hgq data`` subcommands."""
    parser = data_subparsers.add_parser(
        "generate",
        help="generate the g/q/w/z/t jet dataset with Pythia 8 + FastJet (needs the `gen` extra)",
        description=__doc__.split("\n\n")[0],
    )
    add_generate_arguments(parser)
    parser.set_defaults(func=run_generate)


register = register_generate  # the name trigger_hgq/data/cli.py looks up in its DATA_SUBCOMMANDS modules
