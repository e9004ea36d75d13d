"""Training a baseline over several seeds: the one with the best validation accuracy is kept.

HGQ's front is merged over its seeds and every point is chosen on validation accuracy; a baseline gets the same
rule. Constituent models spread widely over seeds (the 8-particle float Deep Sets: 62.7-65.1% validation accuracy
over four seeds, docs/benchmarks.md), so one seed would compare HGQ's best seed with a baseline's random one.
"""

from __future__ import annotations

from trigger_hgq.errors import TriggerHGQError


def seed_model_name(stem: str, seed: int, n_seeds: int) -> str:
    """File stem of one seed's model: the config's own stem when only one seed trains."""
    return stem if n_seeds == 1 else f"{stem}_seed{seed}"


def best_of_seeds(results: dict[int, dict]) -> dict:
    """The result (a baseline task's: ``val_accuracy``, ``training``) with the best validation accuracy (the
    lowest seed on a tie), its ``training`` extended by ``seed`` and ``seed_val_accuracy`` (every seed's)."""
    if not results:
        raise TriggerHGQError("config key 'baselines.seeds': no seed to choose from")
    seed = max(sorted(results), key=lambda s: results[s]["val_accuracy"])
    best = dict(results[seed])
    best["training"] = {**best.get("training", {}), "seed": int(seed),
                        "seed_val_accuracy": {str(s): float(r["val_accuracy"]) for s, r in sorted(results.items())}}
    return best
