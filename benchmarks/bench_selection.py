"""How far the comparison's match favours HGQ on small samples: matched on validation (the old rule) against
matched on the selection split (the pipeline's rule), on K disjoint subsamples of the shipped jets.

The HGQ points are chosen on validation (the Pareto front keeps the best checkpoints over seeds and epochs), so
their validation accuracy is the maximum of many noisy draws; a match made on it pairs a baseline with an HGQ point
that is worse on new jets. The selection split holds rows nothing was trained or chosen on.

Each subsample (``--jets`` jets drawn without overlap from ``datasets/jets_hlf.root``; the shipped card with the
file replaced, so its split, 0.6 / 0.2 / 0.1 / 0.1) goes through the default pipeline up to its HGQ front
(``Run.run(until="hgq")``: data, baselines, AutoQKeras, HGQ; resumable in ``OUT/sub<k>``). Every baseline and the
front points either rule can match (:func:`trigger_hgq.comparison.export_matches`) are then calibrated as the export
stage does and scored on the validation, selection and test rows, and :func:`trigger_hgq.comparison.compare` matches
each baseline under each rule. ``--full DIR`` adds a default run at the full size (its folder: resumed, nothing is
retrained when it finished).

Printed per baseline: the mean and spread over subsamples of (HGQ test - baseline test) under each rule; then the
mean over subsamples of each subsample's mean over its matched rows, with its standard error over the K subsamples
(rows of one subsample share their test rows, so they are not independent draws). Target: the new rule's mean
within 2 standard errors of 0 and at most half the old rule's.

Usage: python benchmarks/bench_selection.py [--k 5] [--jets 15000] [--out runs/bench_selection] [--profile default]
       [--full runs/jet_tagging]
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG = ROOT / "pipelines" / "configs" / "jet_tagging.yaml"
CARD = ROOT / "datasets" / "jets_hlf.yaml"
RULES = ("validation", "select")


def write_subsamples(k: int, jets: int, out: Path, seed: int = 7) -> list[Path]:
    """``k`` ROOT files of ``jets`` jets each, no jet in two of them, and a card per file (the shipped one with
    its ``files`` replaced). Written once; an existing card is reused."""
    import uproot
    import yaml

    card = yaml.safe_load(CARD.read_text())
    source = CARD.parent / card["files"][0]
    cards = [out / f"sub{i}" / "jets.yaml" for i in range(k)]
    if all(c.exists() for c in cards):
        return cards
    tree = uproot.open(source)[card["tree"]]
    if k * jets > tree.num_entries:
        raise SystemExit(f"{k} x {jets} jets exceed the {tree.num_entries} of {source}")
    branches = [b for b in tree.keys() if not str(tree[b].interpretation).startswith("AsJagged")]
    arrays = tree.arrays(branches, library="np")
    order = np.random.default_rng(seed).permutation(tree.num_entries)
    for i, path in enumerate(cards):
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = np.sort(order[i * jets:(i + 1) * jets])
        with uproot.recreate(path.parent / "jets.root") as f:
            f.mktree(card["tree"], {b: arrays[b].dtype for b in branches})  # a TTree, as the shipped file
            f[card["tree"]].extend({b: arrays[b][rows] for b in branches})
        path.write_text(yaml.safe_dump({**card, "files": ["jets.root"], "generation": None,
                                        "description": f"{jets} jets of {source.name} (subsample {i})"},
                                       sort_keys=False))
    return cards


def scored(entry: dict, method: str, data: dict, margin_bits: int) -> dict:
    """A candidate as the export stage sees it: calibrated (HGQ), its EBOPs and accuracies on every split."""
    import keras

    from trigger_hgq.convert.io import load_model
    from trigger_hgq.models import calibrate_hgq, class_accuracy, model_ebops

    keras.backend.clear_session()
    model = load_model(entry["path"])
    if method == "hgq":
        calibrate_hgq(model, data, margin_bits)
    acc = {s: class_accuracy(model, data[f"x_{s}"], data[f"y_{s}"]) for s in ("val", "select", "test")}
    return {"name": entry["name"], "method": method, "path": entry["path"], "val_accuracy": acc["val"],
            "select_accuracy": acc["select"], "accuracy": acc["test"],
            "ebops": int(model_ebops(model, method, data["x_train"][:20000]))}


def matched_differences(outputs: dict, margin_bits: int) -> dict[str, dict[str, float | None]]:
    """Per rule, per baseline: HGQ test - baseline test of its matched point (None: no point reaches it)."""
    from trigger_hgq.comparison import compare, export_matches

    with np.load(outputs["data"]["arrays"]) as f:
        data = {k: f[k] for k in f.files}
    baselines = [scored(m, m["method"], data, margin_bits)
                 for m in [*outputs["baselines"]["models"], *outputs["autoqkeras"]["models"]]]
    front = outputs["hgq"]["front"]
    points = {p["path"]: p for rule in RULES for p in export_matches(front, baselines, rule=rule)}
    hgq = [scored({"name": f"hgq_s{p['seed']}_e{p['epoch']:03d}", "path": p["path"]}, "hgq", data, margin_bits)
           for p in sorted(points.values(), key=lambda p: p["ebops"])]
    out = {}
    for rule in RULES:
        comp = compare([*baselines, *hgq], n_test=len(data["y_test"]), rule=rule)
        out[rule] = {r["baseline"]: (r["accuracy_hgq"] - r["accuracy_baseline"]) if r["hgq_model"] else None
                     for r in comp["baselines"]}
    return out


def run_one(card: Path | None, out: Path, profile: str) -> dict:
    from trigger_hgq.pipeline.config import PipelineConfig
    from trigger_hgq.pipeline.run import Run

    overrides = {"dataset": str(card)} if card is not None else {}
    cfg = PipelineConfig.load(CONFIG, profile=profile, overrides=overrides)
    margin = int(cfg.section("export").get("calibration_margin_bits", 1))
    outputs = Run.reading_inputs(cfg, out).run(until="hgq")
    result = matched_differences(outputs, margin)
    result["n"] = {s: outputs["data"]["dataset"][f"n_{s}"] for s in ("train", "val", "select", "test")}
    (out / "bench_selection.json").write_text(json.dumps(result, indent=1))
    return result


def summarize(results: list[dict], label: str) -> dict[str, tuple[float, float]]:
    """Print per baseline the mean and spread of the differences under each rule; return per rule the mean over
    subsamples of their row means, and its standard error over subsamples."""
    names = list(results[0]["validation"])
    print(f"\n{label}: HGQ test - baseline test of the matched point, points (mean, sd over subsamples; rows "
          f"without a match: n/a)")
    print(f"  {'baseline':28s}" + "".join(f"{r:>26s}" for r in RULES))
    for name in names:
        cells = []
        for rule in RULES:
            d = [100 * r[rule][name] for r in results if r[rule].get(name) is not None]
            cells.append(f"{np.mean(d):+8.2f} sd {np.std(d, ddof=1) if len(d) > 1 else 0:5.2f} ({len(d)}/"
                         f"{len(results)})" if d else "n/a")
        print(f"  {name:28s}" + "".join(f"{c:>26s}" for c in cells))
    summary = {}
    for rule in RULES:
        per_sample = [np.mean([v for v in r[rule].values() if v is not None]) * 100 for r in results]
        mean = float(np.mean(per_sample))
        se = float(np.std(per_sample, ddof=1) / math.sqrt(len(per_sample))) if len(per_sample) > 1 else float("nan")
        summary[rule] = (mean, se)
        print(f"  mean over matched rows and {len(results)} subsample(s), rule {rule:10s}: {mean:+.2f} +- {se:.2f} pt")
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, default=5, help="disjoint subsamples (default 5; 0: only --full)")
    p.add_argument("--jets", type=int, default=15000, help="jets per subsample (default 15000)")
    p.add_argument("--out", default="runs/bench_selection", help="working folder (default: %(default)s)")
    p.add_argument("--profile", default="default", help="the pipeline profile (default: default)")
    p.add_argument("--full", help="a default run's folder at the full size (resumed; nothing retrained if done)")
    args = p.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from trigger_hgq.backend import configure_worker

    configure_worker(quiet=True)  # the backend's retracing notices of the scoring loop
    out = Path(args.out).resolve()
    if args.k > 0:
        cards = write_subsamples(args.k, args.jets, out)
        results = [run_one(card, card.parent, args.profile) for card in cards]
        print(f"bench_selection: {args.k} disjoint subsamples of {args.jets} jets, profile {args.profile}; rows "
              f"per split {results[0]['n']}")
        small = summarize(results, f"{args.jets} jets")
        (old, old_se), (new, new_se) = small["validation"], small["select"]
        within = abs(new) <= 2 * new_se
        half = abs(new) <= 0.5 * abs(old)
        print(f"  old rule {old / old_se if old_se else float('nan'):+.1f} standard errors from 0; new rule "
              f"{new / new_se if new_se else float('nan'):+.1f}: within 2 of 0: {'yes' if within else 'NO'}; at "
              f"most half the old rule's bias ({new:+.2f} vs {old:+.2f}): {'yes' if half else 'NO'}")
    if args.full:
        summarize([run_one(None, Path(args.full).resolve(), args.profile)], "full size (one run)")


if __name__ == "__main__":
    main()
