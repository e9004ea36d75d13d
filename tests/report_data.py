"""Realistic report dicts for the report tests: a 5-class jet tagger, every method, an HGQ front, over-budget models.

The numbers follow a 16-64-32-32-5 jet tagger at 5 ns on a VU13P; ROC curves come from synthetic class scores
through :func:`trigger_hgq.report.roc_per_class`.
"""

from __future__ import annotations

import numpy as np

from trigger_hgq.report import bits_counts, roc_per_class

CLASSES = ["g", "q", "w", "z", "t"]
FEATURES = [f"j_{n}" for n in ("zlogz", "c1_b0_mmdt", "c1_b1_mmdt", "c1_b2_mmdt", "c2_b1_mmdt", "c2_b2_mmdt",
                                "d2_b1_mmdt", "d2_b2_mmdt", "d2_a1_b1_mmdt", "d2_a1_b2_mmdt", "m2_b1_mmdt",
                                "m2_b2_mmdt", "n2_b1_mmdt", "n2_b2_mmdt", "mass_mmdt", "multiplicity")]
MULTS = 16 * 64 + 64 * 32 + 32 * 32 + 32 * 5  # multiplications of the dense tagger

# name, method, accuracy, ebops, lut, dsp, ff, latency cycles, on the front
ROWS = [
    ("float", "float", 0.7652, None, None, None, None, None, False),
    ("qkeras_4b", "qkeras", 0.7431, MULTS * 16, 14210, 0, 3980, 9, False),
    ("qkeras_6b", "qkeras", 0.7548, MULTS * 36, 31877, 2, 6120, 11, False),
    ("qkeras_8b", "qkeras", 0.7589, MULTS * 64, 52210, 181, 8854, 24, False),
    ("autoqkeras_t0", "autoqkeras", 0.7502, 98113, 22410, 0, 5530, 10, False),
    ("autoqkeras_t1", "autoqkeras", 0.7477, 71402, 17987, 0, 4710, 10, False),
    ("hgq_b3e-07", "hgq", 0.7612, 61240, 19874, 0, 4410, 26, True),
    ("hgq_b1e-06", "hgq", 0.7584, 31517, 11236, 0, 3301, 14, True),
    ("hgq_b3e-06", "hgq", 0.7561, 14882, 6210, 0, 2406, 12, True),
    ("hgq_b1e-05", "hgq", 0.7515, 8113, 3977, 0, 1890, 10, True),
    ("hgq_b3e-05", "hgq", 0.7390, 4211, 2304, 0, 1422, 9, True),
    ("hgq_b1e-04", "hgq", 0.7102, 2040, 1217, 0, 1003, 8, True),
    ("hgq_b2e-06_s1", "hgq", 0.7540, 16320, 6684, 0, 2510, 12, False),
]


def _scores(accuracy: float, n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic labels and class scores whose separation grows with ``accuracy``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    sep = 1.0 + 6.0 * (accuracy - 0.65)
    logits = rng.normal(size=(n, len(CLASSES))) + sep * np.eye(len(CLASSES))[labels]
    return labels, logits


def _bits_histogram() -> dict:
    rng = np.random.default_rng(7)
    shapes = {"dense_0": (16 * 64, 64), "dense_1": (64 * 32, 32), "dense_2": (32 * 32, 32), "dense_3": (32 * 5, 5)}
    out = {}
    for layer, (nw, na) in shapes.items():
        w = np.clip(np.round(rng.gamma(2.0, 1.3, nw)) - 1, 0, 8)
        a = np.clip(np.round(rng.normal(6, 1.5, na)), 1, 10)
        out[layer] = {"weights": bits_counts(w), "activations": bits_counts(a)}
    return out


def make_report(latency_ns: float = 100.0, lut_fraction: float | None = 0.02) -> dict:
    """A full report; ``latency_ns=10`` gives a report where nothing fits."""
    clock_ns, lut_avail, dsp_avail = 5.0, 1728000, 12288
    budget_cycles = int(latency_ns // clock_ns)
    models = []
    for i, (name, method, acc, ebops, lut, dsp, ff, cyc, front) in enumerate(ROWS):
        violations = []
        if cyc is None:
            violations.append("no firmware (float reference)")
        elif cyc > budget_cycles:
            violations.append(f"latency {cyc} cycles > {budget_cycles}")
        if lut is not None and lut_fraction is not None and lut > lut_fraction * lut_avail:
            violations.append(f"LUT {lut} > {int(lut_fraction * lut_avail)}")
        models.append({
            "name": name, "method": method, "accuracy": acc, "val_accuracy": round(acc - 0.002 + 0.001 * (i % 3), 4),
            "auc": {c: round(0.88 + 0.1 * (acc - 0.7) + 0.01 * k, 4) for k, c in enumerate(CLASSES)},
            "ebops": ebops, "lut": lut, "dsp": dsp, "ff": ff, "bram": None if lut is None else 0.0,
            "lut_equiv": None if lut is None else float(lut + 55 * dsp),
            "latency_cycles": cyc, "latency_ns": None if cyc is None else cyc * clock_ns,
            "ii": None if cyc is None else 1,
            "resource_source": "estimate", "latency_source": "csynth" if method == "qkeras" else "estimate",
            "bit_exact_fraction": None if method == "float" else 1.0, "n_checked": None if method == "float" else 10000,
            "within_budget": not violations, "budget_violations": violations,
            "firmware_dir": None if method == "float" else f"firmware/{name}", "pareto_front": front,
            "roc": None, "bits_histogram": None,
            "seed": i,  # an extra key: kept as is
        })
    fitting = [m for m in models if m["within_budget"]]
    best = max(fitting, key=lambda m: m["accuracy"]) if fitting else None
    closest = None if best else min(models[1:], key=lambda m: m["latency_cycles"])["name"]
    for m in models:
        if m["name"] in {best["name"] if best else closest, "qkeras_6b"}:
            labels, logits = _scores(m["accuracy"], seed=len(m["name"]))
            m["auc"], m["roc"] = roc_per_class(labels, logits, CLASSES, max_points=120)
    hgq_name = best["name"] if best and best["method"] == "hgq" else "hgq_b3e-06"
    hgq = next(m for m in models if m["name"] == hgq_name)
    hgq["bits_histogram"] = _bits_histogram()
    baselines = [
        {"baseline": m["name"], "accuracy_baseline": m["accuracy"], "accuracy_hgq": hgq["accuracy"],
         "ebops_ratio": m["ebops"] / hgq["ebops"], "lut_equiv_ratio": m["lut_equiv"] / hgq["lut_equiv"],
         "latency_ratio": m["latency_ns"] / hgq["latency_ns"]}
        for m in models if m["method"] in ("qkeras", "autoqkeras")
    ]
    return {
        "schema_version": 1,
        "created": "2025-03-14T09:26:53+00:00",
        "dataset": {"name": "jets_hlf_5class", "source": "datasets/jets_hlf.yaml", "n_train": 60000, "n_val": 10000,
                    "n_test": 20000, "features": FEATURES, "classes": CLASSES},
        "budget": {"latency_ns": latency_ns, "clock_ns": clock_ns, "part": "xcvu13p-flga2577-2-e",
                   "lut_fraction": lut_fraction, "dsp_fraction": None, "lut_available": lut_avail,
                   "dsp_available": dsp_avail},
        "models": models,
        "selected": best["name"] if best else None,
        "closest": closest,
        "nothing_fits": best is None,
        "comparison": {"hgq_model": hgq_name, "baselines": baselines},
        "timings_s": {"data": 3.2, "baselines": 121.5, "autoqkeras": 240.1, "hgq": 402.7, "export": 96.4,
                      "report": 1.9},
    }
