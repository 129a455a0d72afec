"""Cardiac MRI function: chamber segmentation of every cine short-axis image, then volumes and ejection fraction.

Volumes come from the masks by Simpson's method of discs (inference.measurements.cardiac); end-diastole and
end-systole are the phases of largest and smallest left-ventricular volume.
"""
from __future__ import annotations

import numpy as np

from inference.pipelines import (PipelineContext, PipelineInputError, PipelineOutput, downsample_grid,
                                 infer_in_batches, percentile_intensity, resize_labels, resize_stack)

MODEL = "cardiac_segmentation"
GRID = 192
LABELS = {1: "LV blood pool", 2: "LV myocardium", 3: "RV blood pool"}
MIN_PHASES = 2


def run(ctx: PipelineContext) -> PipelineOutput:
    from inference.measurements.cardiac import cardiac_function

    series = ctx.series
    if series is None or (series.modality or "").upper() != "MR":
        raise PipelineInputError("unsupported_modality", "Cardiac function needs a cine short-axis MR series.")
    geometry = series.geometry
    cine = series.volume()  # [phases, slices, rows, cols]
    if cine.ndim != 4 or cine.shape[0] < MIN_PHASES:
        raise PipelineInputError("series_phases_missing",
                                 "Cardiac function needs a cine series with at least two phases per slice.")
    phases, slices, rows, cols = cine.shape
    images = np.stack([percentile_intensity(plane) for plane in cine.reshape(-1, rows, cols)])
    images = resize_stack(images, GRID, GRID)[:, None]
    logits = infer_in_batches(ctx.infer, MODEL, {"image": images})["mask_logits"]
    labels = logits.argmax(axis=1).astype(np.uint8).reshape(phases, slices, GRID, GRID)
    if geometry.pixel_spacing_mm is None or not geometry.slice_spacing_mm:
        raise PipelineInputError("series_missing_geometry", "The series lacks pixel or slice spacing.")
    row_mm, col_mm = (float(v) for v in geometry.pixel_spacing_mm)
    pixel_spacing = (row_mm * rows / GRID, col_mm * cols / GRID)
    result = cardiac_function(labels, pixel_spacing_mm=pixel_spacing,
                              slice_spacing_mm=float(geometry.slice_spacing_mm)).as_result()
    ed_phase = int(result["ed_phase"])
    mid_slice = slices // 2
    key_position = _position_of(series, ed_phase, mid_slice)
    key_labels = resize_labels(labels[ed_phase, mid_slice][None], rows, cols)[0]
    ef = result.get("lv_ef_percent")
    result.update({
        "summary": (f"Left-ventricular ejection fraction {ef:.0f}% (EDV {result['lv_edv_ml']:.0f} ml, "
                    f"ESV {result['lv_esv_ml']:.0f} ml)." if ef is not None else "Ejection fraction not measurable."),
        "overlays": [{"kind": "mask", "position": key_position, "labels": {str(k): v for k, v in LABELS.items()},
                      "grid": downsample_grid(key_labels, 64, labels=True)}],
    })
    return PipelineOutput(
        result=result,
        # One label plane per source instance in series order (slice-major, then phase), at the source's size: what
        # reports.dicom_seg and the SEG's frame references expect.
        arrays={"cardiac_masks.npz": {"labels": resize_labels(
            labels.transpose(1, 0, 2, 3).reshape(slices * phases, GRID, GRID), rows, cols)}},
        key_position=key_position,
    )


def _position_of(series, phase: int, slice_index: int) -> int:
    """The ordered position of (phase, slice) in the series' instance list."""
    for position, instance in enumerate(series.instances):
        if instance.phase == phase and instance.slice_index == slice_index:
            return position
    return 0
