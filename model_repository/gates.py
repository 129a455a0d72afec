"""Accuracy-gate metrics of an INT8 version against its FP32 base, one per kind of output.

Every function returns a JSON-serialisable dict with the figures, the ``threshold`` and ``passed``; the model
builders pick the metric that fits their output (``builders/<model>.gate_metrics``) and the card records it.
"""

from __future__ import annotations

import numpy as np


def top1_agreement(reference: np.ndarray, candidate: np.ndarray, *, threshold: float) -> dict:
    """Classification: share of items whose arg-max class is the same (``reference``/``candidate`` [N, K])."""
    ref, cand = np.argmax(reference, axis=1), np.argmax(candidate, axis=1)
    agreement = float(np.mean(ref == cand))
    p_ref = _softmax(reference)
    p_cand = _softmax(candidate)
    return {"metric": "top-1 agreement", "top1_agreement": round(agreement, 4),
            "max_abs_probability_diff": round(float(np.abs(p_ref - p_cand).max()), 4),
            "n_heldout": int(len(ref)), "threshold": threshold, "passed": bool(agreement >= threshold)}


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def mask_dice(reference: np.ndarray, candidate: np.ndarray, *, threshold: float, n: int) -> dict:
    """Binary segmentation: Dice of the pooled FP32 and INT8 masks, and the worst single item's Dice."""
    per_item = [dice(r, c) for r, c in zip(reference, candidate)]
    pooled = dice(reference, candidate)
    return {"metric": "Dice between FP32 and INT8 masks", "dice": round(pooled, 4),
            "min_item_dice": round(float(min(per_item)), 4), "foreground_fraction": round(float(reference.mean()), 4),
            "n_heldout": n, "threshold": threshold, "passed": bool(pooled >= threshold)}


def multiclass_dice(reference: np.ndarray, candidate: np.ndarray, classes: dict[int, str], *, threshold: float,
                    n: int) -> dict:
    """Multi-class segmentation (label maps): Dice per foreground class; the gate is on their mean."""
    per_class = {name: round(dice(reference == k, candidate == k), 4) for k, name in classes.items()}
    mean = float(np.mean(list(per_class.values())))
    return {"metric": "mean foreground-class Dice between FP32 and INT8 label maps", "mean_dice": round(mean, 4),
            "dice_per_class": per_class, "n_heldout": n, "threshold": threshold, "passed": bool(mean >= threshold)}


def max_probability_difference(reference: np.ndarray, candidate: np.ndarray, *, threshold: float) -> dict:
    """Probabilities: the largest |INT8 - FP32| (and the mean), over every held-out item."""
    diff = np.abs(np.asarray(candidate, np.float64) - np.asarray(reference, np.float64))
    return {"metric": "max |INT8 - FP32| probability", "max_abs_diff": round(float(diff.max()), 4),
            "mean_abs_diff": round(float(diff.mean()), 4), "n_heldout": int(diff.size), "threshold": threshold,
            "passed": bool(diff.max() <= threshold)}


def heatmap_peaks(heatmap: np.ndarray, min_value: float = 0.5) -> list[tuple[int, int]]:
    """Detections of a 2-D heatmap: the (row, column) of each 8-connected region at or above ``min_value``.

    The position is the region's probability-weighted centroid, rounded: a lesion often shows as a plateau of
    saturated cells, where a strict local maximum would be decided by rounding noise.
    """
    h = np.asarray(heatmap, np.float64)
    above = h >= min_value
    seen = np.zeros_like(above)
    peaks = []
    rows, cols = h.shape
    for start in zip(*np.nonzero(above)):
        if seen[start]:
            continue
        # Flood fill of one 8-connected region (heatmaps are small and detections few).
        stack, cells = [start], []
        seen[start] = True
        while stack:
            r, c = stack.pop()
            cells.append((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < rows and 0 <= cc < cols and above[rr, cc] and not seen[rr, cc]:
                        seen[rr, cc] = True
                        stack.append((rr, cc))
        idx = np.array(cells)
        weights = h[idx[:, 0], idx[:, 1]]
        centre = (idx * weights[:, None]).sum(axis=0) / weights.sum()
        peaks.append((int(round(centre[0])), int(round(centre[1]))))
    return peaks


def peak_agreement(reference: np.ndarray, candidate: np.ndarray, *, threshold: float, min_value: float = 0.5,
                   tolerance: int = 1, slack: float = 0.2) -> dict:
    """Detection heatmaps [N, H, W]: every FP32 detection must be one in INT8 too, and back.

    A detection (``heatmap_peaks`` at ``min_value``) of one heatmap is matched when the other reaches
    ``min_value - slack`` within ``tolerance`` cells of it: a score moving from 0.52 to 0.48 is a small change,
    not a lost lesion. The figure is the share of matched detections over both directions (1.0 when neither
    has any).
    """
    matched = total = 0
    for ref, cand in zip(reference, candidate):
        for mine, other in ((ref, cand), (cand, ref)):
            for r, c in heatmap_peaks(mine, min_value):
                total += 1
                window = other[max(r - tolerance, 0):r + tolerance + 1, max(c - tolerance, 0):c + tolerance + 1]
                matched += bool(window.max() >= min_value - slack)
    agreement = 1.0 if total == 0 else matched / total
    diff = np.abs(np.asarray(candidate, np.float64) - np.asarray(reference, np.float64))
    return {"metric": f"heatmap detection agreement (detections >= {min_value} matched by >= {min_value - slack} "
                      f"within {tolerance} cell, both ways)",
            "peak_agreement": round(agreement, 4), "n_peaks": int(total), "max_abs_heatmap_diff":
            round(float(diff.max()), 4), "n_heldout": int(len(reference)), "threshold": threshold,
            "passed": bool(agreement >= threshold)}
