"""CT slice anatomy tagging: every axial slice gets a body region; contiguous runs become ranges of the series."""
from __future__ import annotations

import numpy as np

from inference.pipelines import (PipelineContext, PipelineInputError, PipelineOutput, ct_intensity,
                                 infer_in_batches, resize_stack, softmax)

MODEL = "ct_anatomy"
INPUT_SIZE = 256
REGIONS = ("head", "neck", "chest", "abdomen", "pelvis", "lower_limbs")


def run(ctx: PipelineContext) -> PipelineOutput:
    from inference.measurements.body_regions import merge_slice_regions

    series = ctx.series
    if series is None or (series.modality or "").upper() != "CT":
        raise PipelineInputError("unsupported_modality", "CT anatomy tagging needs a CT series.")
    volume = series.volume()  # [slices, rows, cols] in HU
    slices = resize_stack(ct_intensity(volume), INPUT_SIZE, INPUT_SIZE)[:, None]
    logits = infer_in_batches(ctx.infer, MODEL, {"slices": slices})["region_logits"]
    if logits.shape != (len(volume), len(REGIONS)):
        raise ValueError(f"region_logits has shape {logits.shape}, expected {(len(volume), len(REGIONS))}")
    probabilities = softmax(logits, axis=1)
    labels = [REGIONS[i] for i in probabilities.argmax(axis=1)]
    confidence = probabilities.max(axis=1)
    locations = [inst.location_mm for inst in series.instances]
    ranges = merge_slice_regions(labels, locations, confidence)
    per_slice = [
        {"index": i, "sop_instance_uid": inst.sop_instance_uid, "location_mm": round(float(inst.location_mm), 2),
         "region": labels[i], "probability": round(float(confidence[i]), 4)}
        for i, inst in enumerate(series.instances)
    ]
    regions = [_range_dict(r) for r in ranges]
    summary = ("Body regions along the series: " + ", ".join(
        f"{r['region'].replace('_', ' ')} ({r['slice_count']} slices)" for r in regions) + ".") if regions else \
        "No body region could be assigned."
    return PipelineOutput(
        result={"slices": per_slice, "regions": regions, "summary": summary, "overlays": []},
        key_position=len(series.instances) // 2,
    )


def _range_dict(region_range) -> dict:
    """The merged range as the result schema names it (accepts the measurement's dataclass or a dict)."""
    data = region_range if isinstance(region_range, dict) else vars(region_range)
    return {
        "region": data["region"],
        "first_index": int(data["first_index"]),
        "last_index": int(data["last_index"]),
        "start_mm": round(float(data["start_mm"]), 2),
        "end_mm": round(float(data["end_mm"]), 2),
        "slice_count": int(data["slice_count"]),
    }
