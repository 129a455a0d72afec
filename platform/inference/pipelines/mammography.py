"""Mammography lesion detection with a BI-RADS-style category (a demo heuristic, see the measurement module)."""
from __future__ import annotations

import numpy as np

from inference.pipelines import (PipelineContext, PipelineInputError, PipelineOutput, percentile_intensity,
                                 resize_stack)

MODEL = "mammography_detection"
INPUT_HEIGHT, INPUT_WIDTH = 1024, 832
STRIDE = 8


def run(ctx: PipelineContext) -> PipelineOutput:
    from inference.measurements.mammography import InputResize, birads_category, decode_lesions

    image = ctx.image
    if image is None:
        raise PipelineInputError("unsupported_input", "Mammography needs one mammogram image.")
    pixels = np.asarray(image.pixels, dtype=np.float32)  # display-ready: MONOCHROME1 already inverted
    source_h, source_w = pixels.shape
    # The model expects the chest wall on the left: the breast (bright tissue) side of the image.
    flipped = bool(pixels[:, source_w // 2:].sum() > pixels[:, : source_w // 2].sum())
    if flipped:
        pixels = pixels[:, ::-1]
    # Aspect-preserving resize into 1024 × 832, padded with 0 on the right and bottom, then 1st/99th percentiles.
    scale = min(INPUT_HEIGHT / source_h, INPUT_WIDTH / source_w)
    new_h, new_w = max(1, int(round(source_h * scale))), max(1, int(round(source_w * scale)))
    prepared = np.zeros((1, 1, INPUT_HEIGHT, INPUT_WIDTH), dtype=np.float32)
    prepared[0, 0, :new_h, :new_w] = resize_stack(np.ascontiguousarray(pixels)[None], new_h, new_w)[0]
    prepared[0, 0] = percentile_intensity(prepared[0, 0])
    outputs = ctx.infer(MODEL, {"image": prepared})
    resize = InputResize(new_h / source_h, new_w / source_w, 0.0, 0.0, source_h, source_w)
    lesions = decode_lesions(np.asarray(outputs["heatmap"]), np.asarray(outputs["box_size"]), stride=STRIDE,
                             resize=resize)
    if flipped:
        for lesion in lesions:
            x0, y0, x1, y1 = lesion["box"]
            lesion["box"] = [source_w - x1, y0, source_w - x0, y1]
    rows = [_lesion_dict(lesion) for lesion in lesions]
    birads = birads_category(lesions)
    found = f"{len(rows)} suspicious region{'s' if len(rows) != 1 else ''}" if rows else "No suspicious region"
    summary = f"{found}; BI-RADS-style category {birads['category']}."
    return PipelineOutput(result={
        "lesions": rows,
        "birads": birads,
        "laterality": image.laterality or None,
        "view": image.view_position or None,
        "summary": summary,
        "overlays": [{"kind": "boxes", "position": 0,
                      "boxes": [{"box": r["box"], "score": r["score"], "label": f"{r['score']:.2f}"} for r in rows]}]
        if rows else [],
    })


def _lesion_dict(lesion) -> dict:
    data = lesion if isinstance(lesion, dict) else vars(lesion)
    return {"box": [round(float(v), 1) for v in data["box"]], "score": round(float(data["score"]), 4)}
