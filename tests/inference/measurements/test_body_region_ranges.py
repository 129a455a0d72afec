"""Per-slice body-region labels merged into ranges (inference.measurements.body_regions)."""
from __future__ import annotations

import numpy as np
import pytest

from inference.measurements.body_regions import (
    REGIONS,
    labels_from_logits,
    merge_body_regions,
    smooth_isolated_flips,
)


def ranges(result):
    return [(r["region"], r["first_index"], r["last_index"]) for r in result.regions]


def test_contiguous_slices_merge_into_ranges_with_their_locations():
    labels = ["head"] * 3 + ["neck"] * 2 + ["chest"] * 4
    locations = [2.5 * k for k in range(9)]
    result = merge_body_regions(labels, [0.9] * 9, locations, [f"1.2.{k}" for k in range(9)])
    assert ranges(result) == [("head", 0, 2), ("neck", 3, 4), ("chest", 5, 8)]
    chest = result.regions[2]
    assert (chest["start_mm"], chest["end_mm"], chest["slice_count"]) == (12.5, 20.0, 4)
    assert result.slices[6] == {"index": 6, "sop_instance_uid": "1.2.6", "location_mm": 15.0, "region": "chest",
                                "model_region": "chest", "probability": 0.9}
    assert set(result.as_result()) == {"slices", "regions"}


def test_an_isolated_single_slice_flip_takes_its_neighbours_region():
    labels = ["chest", "chest", "abdomen", "chest", "chest", "abdomen", "abdomen"]
    result = merge_body_regions(labels, [0.8, 0.8, 0.51, 0.8, 0.8, 0.9, 0.9], list(range(7)))
    assert ranges(result) == [("chest", 0, 4), ("abdomen", 5, 6)]
    assert result.slices[2]["region"] == "chest" and result.slices[2]["model_region"] == "abdomen"
    assert result.regions[0]["mean_probability"] == pytest.approx((0.8 * 4 + 0.51) / 5)


def test_a_two_slice_run_is_a_real_region_and_is_kept():
    labels = ["chest"] * 3 + ["abdomen"] * 2 + ["chest"] * 3
    assert smooth_isolated_flips(labels) == labels


def test_slices_at_either_end_are_not_smoothed():
    labels = ["neck", "chest", "chest", "chest", "abdomen"]
    assert smooth_isolated_flips(labels) == labels


def test_a_flip_between_two_different_regions_is_left_alone():
    labels = ["chest", "chest", "head", "abdomen", "abdomen"]
    assert smooth_isolated_flips(labels) == labels


def test_smoothing_does_not_cascade_through_an_alternating_run():
    labels = ["chest", "abdomen", "chest", "abdomen", "chest"]
    # Decided on the original labels: every interior slice flips to its neighbours' label once.
    assert smooth_isolated_flips(labels) == ["chest", "chest", "abdomen", "chest", "chest"]


def test_logits_become_labels_and_probabilities():
    logits = np.full((3, 6), -5.0)
    logits[0, 0] = 5.0
    logits[1, 2] = 5.0
    logits[2, 5] = 0.0
    labels, probabilities = labels_from_logits(logits)
    assert labels == ["head", "chest", "lower_limbs"]
    assert probabilities[0] == pytest.approx(np.exp(5) / (np.exp(5) + 5 * np.exp(-5)))
    assert probabilities[2] == pytest.approx(1.0 / (1.0 + 5 * np.exp(-5.0)))
    assert len(REGIONS) == 6
    with pytest.raises(ValueError):
        labels_from_logits(np.zeros((3, 5)))


def test_an_empty_series_has_no_regions_and_mismatched_inputs_are_refused():
    assert merge_body_regions([], [], []).regions == []
    with pytest.raises(ValueError):
        merge_body_regions(["chest"], [0.5, 0.5], [0.0])
