"""Pure Pareto-front logic on (accuracy, EBOPs) points (no TensorFlow): dominance and thinning."""

from __future__ import annotations

import math

import numpy as np


def dominates(a: dict, b: dict, metric: str) -> bool:
    """``a`` dominates ``b``: at least as accurate with no more EBOPs, and strictly better in one."""
    return (a[metric] >= b[metric] and a["ebops"] <= b["ebops"]) and (
        a[metric] > b[metric] or a["ebops"] < b["ebops"]
    )


def thin_front(points: list[dict], n: int) -> list[dict]:
    """At most ``n`` front points spread evenly in log(EBOPs), always keeping both ends."""
    points = sorted(points, key=lambda p: p["ebops"])
    if len(points) <= n:
        return points
    logs = [math.log(max(p["ebops"], 1.0)) for p in points]
    targets = np.linspace(logs[0], logs[-1], n)
    chosen: list[int] = []
    for t in targets:
        order = sorted(range(len(points)), key=lambda i: abs(logs[i] - t))
        chosen.append(next(i for i in order if i not in chosen))
    return [points[i] for i in sorted(chosen)]
