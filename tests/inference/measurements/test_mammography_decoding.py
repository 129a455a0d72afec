"""Mammography detection decoding, NMS and the demo BI-RADS-style mapping (inference.measurements.mammography)."""
from __future__ import annotations

import numpy as np
import pytest

from inference.measurements.mammography import (
    BIRADS_3_MIN_SCORE,
    BIRADS_4_MIN_SCORE,
    BIRADS_5_MIN_SCORE,
    INPUT_SHAPE,
    SCORE_THRESHOLD,
    InputResize,
    birads_category,
    box_iou,
    decode_lesions,
    non_maximum_suppression,
)
from tests.factories.dicom_series import BlobSpec, mammogram_phantom

GRID = (INPUT_SHAPE[0] // 8, INPUT_SHAPE[1] // 8)  # 128 x 104


def outputs(peaks):
    """A heat map with Gaussian bumps at (cell_y, cell_x, score) and box sizes (height, width) around them."""
    heatmap = np.zeros((1, 1, *GRID), np.float32)
    sizes = np.zeros((1, 2, *GRID), np.float32)
    y, x = np.mgrid[0:GRID[0], 0:GRID[1]]
    for cy, cx, score, h, w in peaks:
        bump = score * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 2.0)
        heatmap[0, 0] = np.maximum(heatmap[0, 0], bump)
        near = (abs(y - cy) <= 2) & (abs(x - cx) <= 2)
        sizes[0, 0][near], sizes[0, 1][near] = h, w
    return heatmap, sizes


def test_a_peak_becomes_a_box_centred_on_its_cell_in_input_pixels():
    heatmap, sizes = outputs([(40, 30, 0.8, 64.0, 48.0)])
    (lesion,) = decode_lesions(heatmap, sizes, resize=InputResize.stretch(INPUT_SHAPE))
    cy, cx = 40.5 * 8, 30.5 * 8
    assert lesion["box"] == pytest.approx([cx - 24, cy - 32, cx + 24, cy + 32])
    assert lesion["score"] == pytest.approx(0.8)


def test_boxes_are_mapped_back_to_source_pixels_through_a_stretch():
    heatmap, sizes = outputs([(40, 30, 0.8, 64.0, 48.0)])
    resize = InputResize.stretch((2048, 1664))  # exactly twice the input on both axes
    (lesion,) = decode_lesions(heatmap, sizes, resize=resize)
    cy, cx = 40.5 * 8 * 2, 30.5 * 8 * 2
    assert lesion["box"] == pytest.approx([cx - 48, cy - 64, cx + 48, cy + 64])


def test_boxes_are_mapped_back_through_a_letterbox_and_clipped_to_the_image():
    # A 3000 x 1500 source scales by 1024/3000 and is centred horizontally with padding.
    resize = InputResize.letterbox((3000, 1500))
    assert resize.scale_x == resize.scale_y == pytest.approx(1024 / 3000)
    assert resize.offset_x > 0 and resize.offset_y == 0
    heatmap, sizes = outputs([(64, 52, 0.9, 80.0, 80.0), (2, 52, 0.7, 80.0, 80.0)])
    middle, top = decode_lesions(heatmap, sizes, resize=resize)
    centre_x = (52.5 * 8 - resize.offset_x) / resize.scale_x
    assert (middle["box"][0] + middle["box"][2]) / 2 == pytest.approx(centre_x, abs=0.1)
    assert middle["box"][2] - middle["box"][0] == pytest.approx(80 / resize.scale_x, abs=0.1)
    assert top["box"][1] == 0.0  # clipped at the top edge of the source


def test_a_lesion_in_a_real_mammogram_maps_back_onto_it():
    """The mammogram phantom's blob, pushed through the letterbox resize and back, lands where it was drawn."""
    blob = BlobSpec((300.0, 120.0), 24.0)
    phantom = mammogram_phantom(blobs=[blob])
    resize = InputResize.letterbox(phantom.pixels.shape)
    x0, y0, x1, y1 = blob.box
    cy_in, cx_in = (y0 + y1) / 2 * resize.scale_y + resize.offset_y, (x0 + x1) / 2 * resize.scale_x + resize.offset_x
    size = (y1 - y0) * resize.scale_y
    heatmap, sizes = outputs([(int(cy_in // 8), int(cx_in // 8), 0.85, size, size)])
    (lesion,) = decode_lesions(heatmap, sizes, resize=resize)
    # Without an offset head the centre is quantised to the 8-pixel cell: within half a cell, in source pixels.
    half_cell = 4.0 / resize.scale_x
    assert lesion["box"] == pytest.approx(list(blob.box), abs=half_cell + 0.1)


def test_peaks_below_the_threshold_are_not_lesions():
    heatmap, sizes = outputs([(40, 30, SCORE_THRESHOLD - 0.01, 32.0, 32.0), (90, 80, SCORE_THRESHOLD, 32.0, 32.0)])
    lesions = decode_lesions(heatmap, sizes, resize=InputResize.stretch(INPUT_SHAPE))
    assert [lesion["score"] for lesion in lesions] == [pytest.approx(SCORE_THRESHOLD)]


def test_overlapping_detections_are_suppressed_and_distant_ones_kept():
    # Two peaks two cells apart with big boxes overlap heavily: only the stronger survives. A third far away stays.
    heatmap, sizes = outputs([(40, 30, 0.9, 120.0, 120.0), (40, 33, 0.6, 120.0, 120.0), (100, 80, 0.5, 40.0, 40.0)])
    lesions = decode_lesions(heatmap, sizes, resize=InputResize.stretch(INPUT_SHAPE))
    assert [lesion["score"] for lesion in lesions] == pytest.approx([0.9, 0.5])


def test_a_plateau_of_equal_peaks_gives_one_box():
    heatmap = np.zeros(GRID, np.float32)
    heatmap[50, 50] = heatmap[50, 51] = 0.7
    sizes = np.full((2, *GRID), 40.0, np.float32)
    assert len(decode_lesions(heatmap, sizes, resize=InputResize.stretch(INPUT_SHAPE))) == 1


def test_nms_and_iou_on_known_boxes():
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert box_iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0
    assert box_iou([0, 0, 0, 0], [0, 0, 0, 0]) == 0.0
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [5, 0, 15, 10], [50, 50, 60, 60]]
    assert non_maximum_suppression(boxes, [0.9, 0.8, 0.7, 0.6], iou_threshold=0.5) == [0, 2, 3]
    assert non_maximum_suppression(boxes, [0.9, 0.8, 0.7, 0.6], iou_threshold=0.3) == [0, 3]


def test_mismatched_output_shapes_are_refused():
    with pytest.raises(ValueError):
        decode_lesions(np.zeros(GRID), np.zeros((2, 10, 10)), resize=InputResize.stretch(INPUT_SHAPE))


@pytest.mark.parametrize("score, category", [
    (None, 1),
    (BIRADS_3_MIN_SCORE - 0.001, 2), (BIRADS_3_MIN_SCORE, 3),
    (BIRADS_4_MIN_SCORE - 0.001, 3), (BIRADS_4_MIN_SCORE, 4),
    (BIRADS_5_MIN_SCORE - 0.001, 4), (BIRADS_5_MIN_SCORE, 5), (1.0, 5),
])
def test_birads_style_category_follows_the_highest_score(score, category):
    lesions = [] if score is None else [{"box": [0, 0, 1, 1], "score": 0.31}, {"box": [0, 0, 1, 1], "score": score}]
    birads = birads_category(lesions)
    assert birads["category"] == category
    assert birads["demo_heuristic"] is True and "demo heuristic" in birads["note"]
    assert birads["text"]
