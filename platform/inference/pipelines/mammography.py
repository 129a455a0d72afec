"""Mammography lesion detection with a BI-RADS-style category (a demo heuristic, see the measurement module)."""
from __future__ import annotations

import numpy as np

from inference.pipelines import PipelineContext, PipelineInputError, PipelineOutput, percentile_intensity, resize_stack

MODEL = "mammography_detection"
INPUT_HEIGHT, INPUT_WIDTH = 1024, 832
STRIDE = 8


def run(ctx: PipelineContext) -> PipelineOutput:
    from inference.measurements.mammography import InputResize, birads_category, decode_lesions

    image = ctx.image
    if image is None:
        raise PipelineInputError("unsupported_input", "Mammography needs one mammogram image.")
    pixels = percentile_intensity(image.pixels)
    source_h, source_w = pixels.shape
    prepared = resize_stack(pixels[None], INPUT_HEIGHT, INPUT_WIDTH)[:, None]
    outputs = ctx.infer(MODEL, {"image": prepared})
    lesions = decode_lesions(np.asarray(outputs["heatmap"]), np.asarray(outputs["box_size"]), stride=STRIDE,
                             resize=InputResize.stretch((source_h, source_w), (INPUT_HEIGHT, INPUT_WIDTH)))
    rows = [_lesion_dict(lesion) for lesion in lesions]
    birads = birads_category(lesions)
    summary = (f"{len(rows)} suspicious region{'s' if len(rows) != 1 else ''}; BI-RADS-style category "
               f"{birads['category']}." if rows else f"No suspicious region; BI-RADS-style category {birads['category']}.")
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
