"""Detection metrics, defined once for every source and for bench/.

Predicted and true centres of a frame are matched one-to-one by the Hungarian algorithm on their
distance; a matched pair closer than ``tolerance`` pixels is a hit. Precision, recall and F1 are
pooled over frames, overall and per true type (a false detection counts against the type of the
nearest true object in its frame). Count accuracy is the share of frames with the right number
of objects; AP is the area under the precision-recall curve at IoU 0.5, ignoring types.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from space.detection import Detection


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of centre-size boxes (N, 4) against (M, 4) -> (N, M)."""
    a0, a1 = a[:, None, :2] - a[:, None, 2:] / 2, a[:, None, :2] + a[:, None, 2:] / 2
    b0, b1 = b[None, :, :2] - b[None, :, 2:] / 2, b[None, :, :2] + b[None, :, 2:] / 2
    inter = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None).prod(-1)
    union = a[:, None, 2:].prod(-1) + b[None, :, 2:].prod(-1) - inter
    return inter / np.maximum(union, 1e-9)


def match_centres(pred: np.ndarray, true: np.ndarray, tolerance: float) -> list[tuple[int, int]]:
    """Hungarian matching of (P, 2) to (T, 2) centres; only pairs within ``tolerance`` count."""
    if len(pred) == 0 or len(true) == 0:
        return []
    dist = np.linalg.norm(pred[:, None, :] - true[None, :, :], axis=-1)
    rows, cols = linear_sum_assignment(np.where(dist <= tolerance, dist, 1e6))
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if dist[i, j] <= tolerance]


def detection_metrics(predicted: Sequence[Sequence[Detection]], true: Sequence[Sequence[dict]],
                      tolerance: float, iou: float = 0.5,
                      type_names: Sequence[str] | None = None) -> dict:
    """Scores of ``predicted`` against ``true`` objects ({type, x, y, width, height} dicts)."""
    if len(predicted) != len(true):
        raise ValueError(f"{len(predicted)} predicted frames but {len(true)} true frames")
    tp = fp = fn = right_count = 0
    per_type: dict[int, list[int]] = {}  # type -> [tp, fp, fn]
    for pred, objs in zip(predicted, true, strict=True):
        p = np.array([[d.x, d.y] for d in pred], dtype=float).reshape(-1, 2)
        t = np.array([[o["x"], o["y"]] for o in objs], dtype=float).reshape(-1, 2)
        types = [int(o["type"]) for o in objs]
        hits = match_centres(p, t, tolerance)
        matched_pred = {i for i, _ in hits}
        matched_true = {j for _, j in hits}
        tp += len(hits)
        fp += len(pred) - len(hits)
        fn += len(objs) - len(hits)
        right_count += len(pred) == len(objs)
        for kind in types:
            per_type.setdefault(kind, [0, 0, 0])
        for _, j in hits:
            per_type[types[j]][0] += 1
        for j in set(range(len(objs))) - matched_true:
            per_type[types[j]][2] += 1
        if len(t):
            for i in set(range(len(pred))) - matched_pred:
                nearest = int(np.argmin(np.linalg.norm(t - p[i], axis=1)))
                per_type[types[nearest]][1] += 1
    result = {"tolerance": tolerance, "frames": len(true), **_prf(tp, fp, fn),
              "count_accuracy": right_count / max(len(true), 1),
              "ap": average_precision(predicted, true, iou), "ap_iou": iou,
              "true_objects": tp + fn, "predicted_objects": tp + fp, "per_type": {}}
    for kind in sorted(per_type):
        name = type_names[kind] if type_names is not None and kind < len(type_names) else str(kind)
        result["per_type"][name] = _prf(*per_type[kind])
    return result


def average_precision(predicted: Sequence[Sequence[Detection]], true: Sequence[Sequence[dict]],
                      iou: float = 0.5) -> float:
    """All-point interpolated AP: predictions by falling score, each matched to its best unmatched box."""
    n_true = sum(len(objs) for objs in true)
    if n_true == 0:
        return float("nan")
    scored = sorted(((d.score, f, d) for f, pred in enumerate(predicted) for d in pred),
                    key=lambda item: -item[0])
    boxes = [np.array([[o["x"], o["y"], o["width"], o["height"]] for o in objs], float).reshape(-1, 4)
             for objs in true]
    used = [np.zeros(len(b), bool) for b in boxes]
    hits = np.zeros(len(scored))
    for k, (_, f, d) in enumerate(scored):
        if len(boxes[f]) == 0:
            continue
        overlaps = box_iou(np.array([[d.x, d.y, d.width, d.height]]), boxes[f])[0]
        overlaps[used[f]] = -1
        best = int(np.argmax(overlaps))
        if overlaps[best] >= iou:
            used[f][best] = True
            hits[k] = 1
    if len(scored) == 0:
        return 0.0
    cum = np.cumsum(hits)
    recall = cum / n_true
    precision = cum / np.arange(1, len(scored) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float((steps * envelope).sum())


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0 if fn == 0 else 0.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}
