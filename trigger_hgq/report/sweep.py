"""The particle-count sweep's report: accuracy, LUTs and cycles against N, beside published anchors.

The anchors come from another dataset (the hls4ml 150-particle jets, 880k jets with detector simulation): their
absolute accuracies are not comparable with the shipped Pythia jets, their hardware and their trend with N are.
"""

from __future__ import annotations

from pathlib import Path

from trigger_hgq.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic

ANCHORS: dict[str, dict] = {
    "JEDI-linear": {
        "reference": "arXiv 2508.15468: HGQ, distributed arithmetic, VU13P, II=1, 0 DSP, post-route; 16 features "
                     "per particle, pT-sorted",
        "points": {8: (0.737, 52_000, 53), 16: (0.776, 38_000, 52), 32: (0.809, 62_000, 60), 64: (0.818, 84_000, 67)},
    },
    "Deep Sets QKeras 8-bit": {
        "reference": "arXiv 2402.01876: hls4ml, phi 32-32-32, mean, rho 32; 386-903 DSPs",
        "points": {8: (0.640, None, 95), 16: (0.694, None, 115), 32: (0.759, None, 130)},
    },
}
"""Published (accuracy, LUT, latency ns) per particle count, on the hls4ml 150-particle jets (another dataset)."""
ANCHOR_DATASET = "hls4ml 150-particle jets (another dataset: compare hardware and the trend with N only)"


def _lut(m: dict) -> tuple[int | None, str]:
    """A model's LUTs: yosys when it went through the RTL route, else the HLS route's figure."""
    if (m.get("yosys") or {}).get("lut"):
        return int(m["yosys"]["lut"]), "yosys"
    return (int(m["lut"]) if m.get("lut") is not None else None), "hls"


def _cycles(m: dict) -> int | None:
    rtl = m.get("rtl") or {}
    return rtl.get("latency_cycles") or m.get("latency_cycles")


def _figures(m: dict | None) -> dict | None:
    if m is None:
        return None
    lut, source = _lut(m)
    return {"name": m["name"], "method": m["method"], "accuracy": m.get("accuracy"),
            "val_accuracy": m.get("val_accuracy"), "lut": lut, "lut_source": source, "cycles": _cycles(m),
            "ebops": m.get("ebops")}


def sweep_rows(reports: dict[int, dict], baseline: str) -> list[dict]:
    """Per particle count: the float reference, ``baseline`` (the QKeras model of the architecture HGQ starts from)
    and the HGQ point matched to it by the run's comparison rule, and the selected model."""
    rows = []
    for n in sorted(reports):
        report = reports[n]
        by_name = {m["name"]: m for m in report["models"]}
        floats = [m for m in report["models"] if m["method"] == "float"]
        match = next((r for r in report["comparison"]["baselines"] if r["baseline"] == baseline), None)
        rows.append({"n_particles": n, "float": _figures(floats[0] if floats else None),
                     "baseline": _figures(by_name.get(baseline)),
                     "matched_hgq": _figures(by_name.get(match["hgq_model"])) if match and match["hgq_model"] else None,
                     "selected": _figures(by_name.get(report.get("selected")))})
    return rows


def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:.2f}%"


def _num(v) -> str:
    return "—" if v is None else f"{v:,}"


def _ratio(a, b) -> str:
    return "—" if not a or not b else f"{a / b:.1f}×"


def sweep_markdown(rows: list[dict], baseline: str) -> str:
    lines = ["# Particle-count sweep", "",
             f"Per particle count N: the float reference, `{baseline}` and the HGQ model matched to it (the runs' "
             "comparison rule), accuracy on the test split; LUTs from yosys where the model "
             "went through the RTL route, else the HLS route (marked).", "",
             "| N | float acc. | baseline acc. | baseline LUT | baseline cycles | HGQ model | HGQ acc. | HGQ LUT | "
             "HGQ cycles | LUT ratio | cycles ratio |",
             "|---:|---:|---:|---:|---:|:---|---:|---:|---:|---:|---:|"]
    for r in rows:
        b, h, f = r["baseline"] or {}, r["matched_hgq"] or {}, r["float"] or {}

        def lut(x: dict) -> str:
            return _num(x.get("lut")) + (" (HLS)" if x.get("lut_source") == "hls" else "")

        lines.append(f"| {r['n_particles']} | {_pct(f.get('accuracy'))} | {_pct(b.get('accuracy'))} | {lut(b)} | "
                     f"{_num(b.get('cycles'))} | {h.get('name', '— (none reaches it)')} | {_pct(h.get('accuracy'))} | "
                     f"{lut(h)} | {_num(h.get('cycles'))} | {_ratio(b.get('lut'), h.get('lut'))} | "
                     f"{_ratio(b.get('cycles'), h.get('cycles'))} |")
    lines += ["", f"## Published anchors: {ANCHOR_DATASET}", "",
              "| design | N | accuracy | LUT | latency (ns) |", "|:---|---:|---:|---:|---:|"]
    for name, anchor in ANCHORS.items():
        for n, (acc, lut, ns) in anchor["points"].items():
            lines.append(f"| {name} | {n} | {_pct(acc)} | {_num(lut)} | {ns} |")
    lines += ["", *[f"- {name}: {a['reference']}" for name, a in ANCHORS.items()], ""]
    return "\n".join(lines)


def sweep_plot(rows: list[dict], baseline: str) -> bytes | None:
    """Accuracy, LUTs and cycles against N (PNG; None without matplotlib)."""
    try:
        from trigger_hgq.report.plots import STYLE, _figure, _png
    except ImportError:  # pragma: no cover
        return None
    try:
        fig = _figure(12.0, 3.6)
    except ImportError:
        return None
    axes = fig.subplots(1, 3)
    ns = [r["n_particles"] for r in rows]
    series = [("float", "float", "float reference"), ("baseline", "qkeras", f"QKeras {baseline}"),
              ("matched_hgq", "hgq", "HGQ (matched)")]
    for ax, (key, label) in zip(axes, [("accuracy", "test accuracy"), ("lut", "LUT"), ("cycles", "cycles")],
                                strict=True):
        for field, method, name in series:
            pts = [(n, (r[field] or {}).get(key)) for n, r in zip(ns, rows, strict=True)]
            pts = [(n, v) for n, v in pts if v is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker=STYLE[method]["marker"], color=STYLE[method]["color"],
                        label=name)
        for i, (name, anchor) in enumerate(ANCHORS.items()):
            idx = {"accuracy": 0, "lut": 1, "cycles": 2}[key]
            pts = [(n, v[idx] if key != "cycles" else v[2] / 5.0) for n, v in anchor["points"].items()
                   if v[idx if key != "cycles" else 2] is not None]
            if pts:
                ax.plot(*zip(*pts, strict=True), linestyle=":", marker="x", color=("#009E73", "#CC79A7")[i],
                        label=f"{name} (another dataset)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("particles N")
        ax.set_ylabel(label + (" (anchors: ns / 5)" if key == "cycles" else ""))
        if key == "lut":
            ax.set_yscale("log")
    axes[0].legend(fontsize=7)
    return _png(fig)


def write_sweep(out: Path, reports: dict[int, dict], baseline: str) -> dict[str, Path]:
    """``sweep.json``, ``sweep.md`` and ``sweep.png`` in ``out`` (each written atomically); ``baseline`` names the
    QKeras model each run's HGQ points are shown against."""
    rows = sweep_rows(reports, baseline)
    files = {"sweep.json": write_json_atomic(out / "sweep.json", {"baseline": baseline, "rows": rows, "anchors": {
        k: {"reference": a["reference"], "points": {str(n): list(v) for n, v in a["points"].items()}}
        for k, a in ANCHORS.items()}, "anchor_dataset": ANCHOR_DATASET})}
    png = sweep_plot(rows, baseline)
    text = sweep_markdown(rows, baseline)
    if png is not None:
        files["sweep.png"] = write_bytes_atomic(out / "sweep.png", png)
        text += "\n![accuracy, LUT and cycles against N](sweep.png)\n"
    files["sweep.md"] = write_text_atomic(out / "sweep.md", text)
    return files

