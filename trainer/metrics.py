"""Blink-detection metrics, small numpy implementations (no sklearn dependency).

- clip level (one score per eye window): precision, recall, F1, accuracy, AUROC, average
  precision, PR curve;
- frame level: closure MAE;
- event level on long clips: blink events from the per-frame closure by hysteresis
  thresholds, matched one-to-one to true events by temporal IoU >= 0.5 (and by "any overlap").

Events are half-open frame intervals `(start, end)`: frames start .. end-1.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

Event = tuple[int, int]


# ----------------------------------------------------------------------------- clip level
def _as_binary(y_true) -> np.ndarray:
    y = np.asarray(y_true, dtype=float).ravel()
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y_true must hold only 0 and 1")
    return y.astype(bool)


def confusion(y_true, y_score, threshold: float = 0.5) -> dict[str, int]:
    y = _as_binary(y_true)
    pred = np.asarray(y_score, dtype=float).ravel() >= threshold
    return dict(tp=int(np.sum(pred & y)), fp=int(np.sum(pred & ~y)),
                fn=int(np.sum(~pred & y)), tn=int(np.sum(~pred & ~y)))


def precision_recall_f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """0/0 is taken as 0 (no predictions -> precision 0), the usual convention for F1."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def auroc(y_true, y_score) -> float:
    """Area under the ROC curve = P(score of a random positive > random negative), ties count 1/2.

    Mann-Whitney U with average ranks; NaN when only one class is present.
    """
    y = _as_binary(y_true)
    s = np.asarray(y_score, dtype=float).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=float)
    sorted_s = s[order]
    # average rank (1-based) of each group of tied scores
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def pr_curve(y_true, y_score) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall at every distinct score threshold (descending thresholds)."""
    y = _as_binary(y_true)
    s = np.asarray(y_score, dtype=float).ravel()
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last_of_group = np.r_[np.diff(s) != 0, True]  # cut only between distinct scores
    tp = np.cumsum(y)[last_of_group]
    fp = np.cumsum(~y)[last_of_group]
    thresholds = s[last_of_group]
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / max(int(y.sum()), 1)
    return precision, recall, thresholds


def average_precision(y_true, y_score) -> float:
    """Step-wise area under the PR curve: sum over thresholds of (R_k - R_{k-1}) * P_k."""
    y = _as_binary(y_true)
    if not y.any():
        return float("nan")
    precision, recall, _ = pr_curve(y, y_score)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def clip_metrics(y_true, y_score, threshold: float = 0.5) -> dict[str, float]:
    """All clip-level metrics of one set of windows; y_score is a probability."""
    c = confusion(y_true, y_score, threshold)
    n = sum(c.values())
    # no labelled windows (e.g. single images without a blink label): undefined, not 0
    precision, recall, f1 = precision_recall_f1(c["tp"], c["fp"], c["fn"]) if n else (float("nan"),) * 3
    return dict(n=n, positives=c["tp"] + c["fn"], threshold=threshold, f1=f1, precision=precision,
                recall=recall, accuracy=(c["tp"] + c["tn"]) / n if n else float("nan"),
                auroc=auroc(y_true, y_score) if n else float("nan"),
                average_precision=average_precision(y_true, y_score) if n else float("nan"), **c)


def closure_mae(pred, true) -> float:
    pred, true = np.asarray(pred, dtype=float).ravel(), np.asarray(true, dtype=float).ravel()
    if pred.shape != true.shape:
        raise ValueError(f"closure shapes differ: {pred.shape} vs {true.shape}")
    ok = ~np.isnan(true)  # real datasets may leave closure empty
    return float(np.abs(pred[ok] - true[ok]).mean()) if ok.any() else float("nan")


# ---------------------------------------------------------------------------- event level
def events_from_closure(closure, high: float = 0.5, low: float = 0.25, min_frames: int = 1) -> list[Event]:
    """Hysteresis: an event is a maximal run of frames with closure >= `low` that contains at
    least one frame >= `high`. A dip that never reaches `high` (squint, look-down) is not a blink,
    and noise around `high` does not split one blink in two.
    """
    if not 0 <= low <= high:
        raise ValueError(f"need 0 <= low <= high, got low={low}, high={high}")
    c = np.nan_to_num(np.asarray(closure, dtype=float).ravel(), nan=0.0)
    above_low = np.r_[False, c >= low, False].astype(np.int8)
    edges = np.diff(above_low)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e)) for s, e in zip(starts, ends)
            if e - s >= min_frames and c[s:e].max() >= high]


def events_from_ids(blink_id) -> list[Event]:
    """True events from a per-frame blink id (-1 or NaN outside events): runs of one id."""
    ids = np.asarray(blink_id, dtype=float).ravel()
    ids = np.where(np.isnan(ids), -1, ids)
    events, start = [], None
    for t in range(len(ids) + 1):
        cur = ids[t] if t < len(ids) else -1
        prev = ids[t - 1] if t > 0 else -1
        if start is not None and cur != prev:
            events.append((start, t))
            start = None
        if cur >= 0 and start is None:
            start = t
    return events


def temporal_iou(a: Event, b: Event) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union > 0 else 0.0


def match_events(pred: Sequence[Event], true: Sequence[Event], min_iou: float | None = 0.5) -> dict[str, int]:
    """One-to-one greedy matching, highest IoU first. min_iou=None: any overlap (IoU > 0) matches."""
    pairs = []
    for i, p in enumerate(pred):
        for j, t in enumerate(true):
            iou = temporal_iou(p, t)
            if iou > 0 and (min_iou is None or iou >= min_iou):
                pairs.append((iou, i, j))
    used_p, used_t = set(), set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    tp = len(used_p)
    return dict(tp=tp, fp=len(pred) - tp, fn=len(true) - tp)


def event_metrics(pairs: Iterable[tuple[Sequence[Event], Sequence[Event]]]) -> dict[str, dict[str, float]]:
    """Event P/R/F1 summed over sequences; `pairs` yields (predicted events, true events) per
    sequence (one clip and eye). Reported for IoU >= 0.5 and for any overlap."""
    pairs = list(pairs)
    out = {}
    for key, min_iou in (("iou50", 0.5), ("any_overlap", None)):
        tp = fp = fn = 0
        for pred, true in pairs:
            m = match_events(pred, true, min_iou)
            tp, fp, fn = tp + m["tp"], fp + m["fp"], fn + m["fn"]
        precision, recall, f1 = precision_recall_f1(tp, fp, fn)
        out[key] = dict(tp=tp, fp=fp, fn=fn, precision=precision, recall=recall, f1=f1)
    out["sequences"] = len(pairs)
    out["true_events"] = sum(len(t) for _, t in pairs)
    return out
