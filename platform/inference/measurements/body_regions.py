"""Per-slice body-region labels along an ordered CT series, merged into contiguous anatomical ranges.

The ``ct_anatomy`` model labels each slice independently; neighbouring slices are a few millimetres apart and
anatomy does not change that fast, so a single slice whose label differs from both neighbours (which agree with
each other) is a classification flip and takes its neighbours' label before merging. Runs of two or more slices
are kept: a real boundary region (the neck, a few centimetres) can be that short on thick slices. Slices at either
end of the series are never changed: a series may really start or end on a one-slice region.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

REGIONS = ("head", "neck", "chest", "abdomen", "pelvis", "lower_limbs")


def labels_from_logits(logits: np.ndarray, regions: Sequence[str] = REGIONS) -> tuple[list[str], list[float]]:
    """Per-slice region names and their softmax probabilities from ``region_logits`` [slices, len(regions)]."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] != len(regions):
        raise ValueError(f"logits must be [slices, {len(regions)}]")
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    best = probabilities.argmax(axis=1)
    return [regions[i] for i in best], [float(probabilities[k, i]) for k, i in enumerate(best)]


def smooth_isolated_flips(labels: Sequence[str]) -> list[str]:
    """Relabel every interior slice whose neighbours agree with each other but not with it.

    Decided on the original labels (not progressively), so an alternating pattern a-b-a-b does not cascade."""
    out = list(labels)
    for k in range(1, len(labels) - 1):
        if labels[k - 1] == labels[k + 1] != labels[k]:
            out[k] = labels[k - 1]
    return out


@dataclass(frozen=True)
class BodyRegions:
    """``slices`` and ``regions`` in the shape of the ``ct_anatomy`` result (docs/catalogue.md)."""

    slices: list[dict[str, Any]]
    regions: list[dict[str, Any]]

    def as_result(self) -> dict[str, Any]:
        return {"slices": self.slices, "regions": self.regions}


def merge_body_regions(
    labels: Sequence[str],
    probabilities: Sequence[float],
    locations_mm: Sequence[float | None],
    sop_instance_uids: Sequence[str | None] | None = None,
) -> BodyRegions:
    """Merge per-slice labels (in series order) into ranges.

    Each slice entry has ``index``, ``sop_instance_uid``, ``location_mm``, ``region`` (after smoothing),
    ``model_region`` (what the model said) and ``probability`` (the model's probability of its own label). Each
    range has ``region``, ``first_index``, ``last_index``, ``start_mm`` and ``end_mm`` (locations of its first and
    last slice centres), ``slice_count`` and ``mean_probability``. Raises ValueError when the lists differ in length.
    """
    n = len(labels)
    uids = list(sop_instance_uids) if sop_instance_uids is not None else [None] * n
    if not (len(probabilities) == len(locations_mm) == len(uids) == n):
        raise ValueError("labels, probabilities, locations and UIDs must have one entry per slice")
    smoothed = smooth_isolated_flips(labels)
    slices = [
        {
            "index": k,
            "sop_instance_uid": uids[k],
            "location_mm": locations_mm[k],
            "region": smoothed[k],
            "model_region": labels[k],
            "probability": round(float(probabilities[k]), 4),
        }
        for k in range(n)
    ]
    regions: list[dict[str, Any]] = []
    start = 0
    for k in range(1, n + 1):
        if k == n or smoothed[k] != smoothed[start]:
            regions.append({
                "region": smoothed[start],
                "first_index": start,
                "last_index": k - 1,
                "start_mm": locations_mm[start],
                "end_mm": locations_mm[k - 1],
                "slice_count": k - start,
                "mean_probability": round(float(np.mean([probabilities[i] for i in range(start, k)])), 4),
            })
            start = k
    return BodyRegions(slices=slices, regions=regions)
