"""Mammography lesion detection output -> boxes in source pixels, and a demo BI-RADS-style category.

The ``mammography_detection`` model (docs/catalogue.md) is CenterNet-style: ``heatmap`` [1,1,128,104] is the
probability that a lesion centre lies in each 8×8 cell of the 1024×832 input, ``box_size`` [1,2,128,104] the
lesion's height and width in input pixels predicted at that cell. Decoding takes the local maxima of the heat map
(3×3 neighbourhood) above a score threshold, places each centre in the middle of its cell (no offset head), builds
the box from the predicted size, removes overlapping boxes (greedy non-maximum suppression) and maps the boxes back
through the resize the input was made with (``InputResize``) into source-image pixels.

The BI-RADS-style category is a DEMO HEURISTIC on the detector's highest score, not a radiologist's BI-RADS
assessment: it never assigns 0 (needs additional imaging) or 6 (known malignancy), and it ignores morphology,
calcifications, density and comparison with prior studies, all of which a real assessment rests on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import ndimage

STRIDE = 8
INPUT_SHAPE = (1024, 832)  # (height, width) of the model input
SCORE_THRESHOLD = 0.3
NMS_IOU_THRESHOLD = 0.5
MAX_LESIONS = 20

# Demo BI-RADS-style mapping from the highest lesion score (lower bound inclusive). Below the detector threshold
# nothing is reported (category 1).
BIRADS_2_MIN_SCORE = SCORE_THRESHOLD
BIRADS_3_MIN_SCORE = 0.5
BIRADS_4_MIN_SCORE = 0.7
BIRADS_5_MIN_SCORE = 0.9
BIRADS_TEXT = {
    1: "Negative",
    2: "Benign finding",
    3: "Probably benign finding",
    4: "Suspicious abnormality",
    5: "Highly suggestive of malignancy",
}
BIRADS_DEMO_NOTE = (
    "BI-RADS-style category from a demo heuristic on detector scores; not a BI-RADS assessment, not for "
    "diagnostic use."
)


@dataclass(frozen=True)
class InputResize:
    """How a source image (rows × columns) became the model input: ``input = source × scale + offset``, per axis
    (y then x), in pixel-edge coordinates (pixel i spans [i, i+1)). ``stretch`` fills the input ignoring the aspect
    ratio; ``letterbox`` keeps it and centres the image on padding (as ``preprocess_bone_age`` does)."""

    scale_y: float
    scale_x: float
    offset_y: float
    offset_x: float
    source_rows: int
    source_columns: int

    @classmethod
    def stretch(cls, source_shape: tuple[int, int], input_shape: tuple[int, int] = INPUT_SHAPE) -> "InputResize":
        rows, cols = source_shape
        return cls(input_shape[0] / rows, input_shape[1] / cols, 0.0, 0.0, rows, cols)

    @classmethod
    def letterbox(cls, source_shape: tuple[int, int], input_shape: tuple[int, int] = INPUT_SHAPE) -> "InputResize":
        rows, cols = source_shape
        scale = min(input_shape[0] / rows, input_shape[1] / cols)
        new_rows, new_cols = int(round(rows * scale)), int(round(cols * scale))
        return cls(scale, scale, float((input_shape[0] - new_rows) // 2), float((input_shape[1] - new_cols) // 2),
                   rows, cols)

    def to_source(self, box: Sequence[float]) -> list[float]:
        """[x0, y0, x1, y1] in input pixels -> source pixels, clipped to the source image."""
        x0, y0, x1, y1 = box
        sx = [(x0 - self.offset_x) / self.scale_x, (x1 - self.offset_x) / self.scale_x]
        sy = [(y0 - self.offset_y) / self.scale_y, (y1 - self.offset_y) / self.scale_y]
        return [
            float(np.clip(sx[0], 0, self.source_columns)), float(np.clip(sy[0], 0, self.source_rows)),
            float(np.clip(sx[1], 0, self.source_columns)), float(np.clip(sy[1], 0, self.source_rows)),
        ]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes (0 when either is empty)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def non_maximum_suppression(
    boxes: Sequence[Sequence[float]], scores: Sequence[float], iou_threshold: float = NMS_IOU_THRESHOLD
) -> list[int]:
    """Greedy NMS: indices of the boxes kept, highest score first; a box overlapping a kept one with IoU above
    ``iou_threshold`` is dropped. Ties keep the earlier box."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept: list[int] = []
    for i in order:
        if all(box_iou(boxes[i], boxes[j]) <= iou_threshold for j in kept):
            kept.append(i)
    return kept


def decode_lesions(
    heatmap: np.ndarray,
    box_size: np.ndarray,
    *,
    resize: InputResize,
    stride: int = STRIDE,
    score_threshold: float = SCORE_THRESHOLD,
    iou_threshold: float = NMS_IOU_THRESHOLD,
    max_lesions: int = MAX_LESIONS,
) -> list[dict[str, Any]]:
    """Lesions ``[{"box": [x0, y0, x1, y1] in source pixels, "score"}]``, highest score first.

    ``heatmap`` is [H, W] (or [1, 1, H, W]), ``box_size`` [2, H, W] (or [1, 2, H, W]) with height then width in
    input pixels. Raises ValueError when the shapes disagree."""
    hm = np.asarray(heatmap, dtype=np.float64).reshape(np.shape(heatmap)[-2:])
    sizes = np.asarray(box_size, dtype=np.float64)
    sizes = sizes.reshape(sizes.shape[-3:])
    if sizes.shape != (2, *hm.shape):
        raise ValueError("box_size must be [2, H, W] matching the heat map")
    hm = np.nan_to_num(hm, nan=0.0)
    peaks = (hm == ndimage.maximum_filter(hm, size=3, mode="constant", cval=-np.inf)) & (hm >= score_threshold)
    ys, xs = np.nonzero(peaks)
    boxes, scores = [], []
    for y, x in zip(ys, xs):
        cy, cx = (y + 0.5) * stride, (x + 0.5) * stride
        h, w = max(float(sizes[0, y, x]), 1.0), max(float(sizes[1, y, x]), 1.0)
        boxes.append([cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0])
        scores.append(float(hm[y, x]))
    kept = non_maximum_suppression(boxes, scores, iou_threshold)[:max_lesions]
    lesions = []
    for i in kept:
        box = resize.to_source(boxes[i])
        if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
            continue  # centred entirely in the letterbox padding: not in the image
        lesions.append({"box": [round(v, 1) for v in box], "score": round(scores[i], 4)})
    return lesions


def birads_category(lesions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Demo BI-RADS-style category 1-5 from the highest lesion score (see the module docstring and the
    ``BIRADS_*_MIN_SCORE`` constants): ``{"category", "text", "basis", "demo_heuristic": True}``."""
    top = max((float(lesion["score"]) for lesion in lesions), default=0.0)
    if not math.isfinite(top) or top < BIRADS_2_MIN_SCORE:
        category = 1
    elif top < BIRADS_3_MIN_SCORE:
        category = 2
    elif top < BIRADS_4_MIN_SCORE:
        category = 3
    elif top < BIRADS_5_MIN_SCORE:
        category = 4
    else:
        category = 5
    return {
        "category": category,
        "text": BIRADS_TEXT[category],
        "basis": f"highest lesion score {top:.2f}" if lesions else "no lesion above the detection threshold",
        "demo_heuristic": True,
        "note": BIRADS_DEMO_NOTE,
    }
