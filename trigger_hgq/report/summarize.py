"""Turn raw arrays into report fields: per-class ROC curves and AUCs, bitwidth histograms (numpy only)."""

from __future__ import annotations

import numpy as np

from trigger_hgq.errors import TriggerHGQError


def _roc(is_pos: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Full ROC curve (fpr, tpr), starting at (0, 0), one point per distinct score threshold."""
    order = np.argsort(-score, kind="stable")
    s, y = score[order], is_pos[order]
    last = np.r_[np.nonzero(np.diff(s))[0], y.size - 1]  # last index of each run of equal scores
    tps = np.cumsum(y)[last]
    fps = (last + 1) - tps
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return fpr, tpr


def _thin(fpr: np.ndarray, tpr: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most ~max_points curve points, even in tpr and log-even in fpr, endpoints kept."""
    if fpr.size <= max_points:
        return np.arange(fpr.size)
    half = max(2, max_points // 2)
    by_tpr = np.searchsorted(tpr, np.linspace(0.0, 1.0, half))
    lo = fpr[fpr > 0].min()
    by_fpr = np.searchsorted(fpr, np.geomspace(lo, 1.0, half))
    idx = np.unique(np.r_[0, by_tpr, by_fpr, fpr.size - 1])
    return idx[idx < fpr.size]


def is_probability_rows(scores: np.ndarray, atol: float = 1e-3) -> bool:
    """Every entry is in [0, 1] and every row sums to 1 (within ``atol``): the output of a softmax."""
    scores = np.asarray(scores, dtype=np.float64)
    return bool(scores.size and np.all((scores >= 0) & (scores <= 1))
                and np.allclose(scores.sum(axis=-1), 1.0, rtol=0.0, atol=atol))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log of the softmax over the last axis, computed stably (no saturation at probabilities 0 or 1)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def class_scores(scores: np.ndarray, logits: bool | None = None) -> np.ndarray:
    """Scores that rank examples as the class probabilities do.

    ``logits``: True for logit outputs (their log-softmax is used: the same order as the softmax probabilities,
    without float saturation), False for scores used as they are (probabilities), None to decide from the values
    (rows that are probabilities, :func:`is_probability_rows`, are kept; anything else is taken as logits).
    A one-vs-rest ROC on raw logits is not the ROC of the classifier: class k's logit ignores the other logits.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if logits is None:
        logits = not is_probability_rows(scores)
    return log_softmax(scores) if logits else scores


def roc_per_class(
    labels: np.ndarray, scores: np.ndarray, classes: list[str], max_points: int = 200, logits: bool | None = None
) -> tuple[dict[str, float], dict[str, dict[str, list[float]]]]:
    """One-vs-rest ROC per class: (``auc`` {class: AUC}, ``roc`` {class: {"fpr": [...], "tpr": [...]}}).

    ``labels``: class indices (n,) or one-hot (n, k); ``scores``: (n, k) model outputs, probabilities or logits
    (``logits``: see :func:`class_scores`; logits are turned into probabilities first, so a model gets the same
    ROC with or without its output softmax). The AUC uses the full curve (ties count one half); the stored curves
    are thinned to about ``max_points``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    if scores.ndim != 2 or scores.shape[1] != len(classes) or labels.shape != (scores.shape[0],):
        raise TriggerHGQError(
            f"roc_per_class: expected labels (n,) and scores (n, {len(classes)}) for classes {classes}, "
            f"got labels {labels.shape} and scores {scores.shape}"
        )
    scores = class_scores(scores, logits)
    auc: dict[str, float] = {}
    roc: dict[str, dict[str, list[float]]] = {}
    for k, cls in enumerate(classes):
        is_pos = labels == k
        if is_pos.all() or not is_pos.any():
            raise TriggerHGQError(f"roc_per_class: class {cls!r} needs both positive and negative examples")
        fpr, tpr = _roc(is_pos, scores[:, k])
        auc[cls] = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1])) / 2.0)
        keep = _thin(fpr, tpr, max_points)
        roc[cls] = {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()}
    return auc, roc


def bits_counts(bits: np.ndarray) -> dict[str, int]:
    """{bits (as a string): how many elements have that bitwidth}; bitwidths must be whole, non-negative."""
    arr = np.asarray(bits, dtype=np.float64).ravel()
    if arr.size and (np.any(arr < 0) or np.any(arr != np.round(arr))):
        raise TriggerHGQError("bits_counts: bitwidths must be whole non-negative numbers")
    values, counts = np.unique(arr.astype(np.int64), return_counts=True)
    return {str(int(v)): int(n) for v, n in zip(values, counts, strict=True)}
