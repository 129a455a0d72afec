"""CT slice anatomy tagging: every axial slice gets a body region; contiguous runs become ranges of the series."""
from __future__ import annotations

from inference.measurements.body_regions import REGIONS
from inference.pipelines import (PipelineContext, PipelineInputError, PipelineOutput, ct_intensity,
                                 infer_in_batches, resize_stack)

MODEL = "ct_anatomy"
INPUT_SIZE = 256


def run(ctx: PipelineContext) -> PipelineOutput:
    from inference.measurements.body_regions import labels_from_logits, merge_body_regions

    series = ctx.series
    if series is None or (series.modality or "").upper() != "CT":
        raise PipelineInputError("unsupported_modality", "CT anatomy tagging needs a CT series.")
    volume = series.volume()  # [slices, rows, cols] in HU
    slices = resize_stack(ct_intensity(volume), INPUT_SIZE, INPUT_SIZE)[:, None]
    logits = infer_in_batches(ctx.infer, MODEL, {"slices": slices})["region_logits"]
    if logits.shape != (len(volume), len(REGIONS)):
        raise ValueError(f"region_logits has shape {logits.shape}, expected {(len(volume), len(REGIONS))}")
    labels, confidence = labels_from_logits(logits, REGIONS)
    merged = merge_body_regions(labels, confidence,
                                [inst.location_mm for inst in series.instances],
                                [inst.sop_instance_uid for inst in series.instances])
    per_slice = merged.slices
    regions = merged.regions
    summary = ("Body regions along the series: " + ", ".join(
        f"{r['region'].replace('_', ' ')} ({r['slice_count']} slices)" for r in regions) + ".") if regions else \
        "No body region could be assigned."
    return PipelineOutput(
        result={"slices": per_slice, "regions": regions, "summary": summary, "overlays": []},
        key_position=len(series.instances) // 2,
    )

