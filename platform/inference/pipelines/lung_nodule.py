"""Chest CT lung-nodule detection in three stages: lung segmentation, candidate detection, false-positive removal.

The stages run as one unit (a failed stage fails the assessment) and each stage's model version is recorded by the
worker. Work happens on a 256 × 256 in-plane grid (the models' input); millimetre spacing is scaled to that grid so
every measurement is in patient units.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from inference.pipelines import (PipelineContext, PipelineInputError, PipelineOutput, ct_intensity,
                                 infer_in_batches, resize_labels, resize_stack, sigmoid)

SEGMENTATION, CANDIDATES, FP_REDUCTION = "lung_segmentation", "nodule_candidates", "nodule_fp_reduction"
STAGES = (SEGMENTATION, CANDIDATES, FP_REDUCTION)
GRID = 256
HEATMAP_STRIDE = 4
PATCH = 32
MIN_SLICES = 16
# A candidate is a local maximum of the centre heat map above this probability; at most MAX_CANDIDATES go on to
# false-positive removal (the third stage costs one 32³ patch each).
CANDIDATE_THRESHOLD = 0.5
MAX_CANDIDATES = 32
NODULE_THRESHOLD = 0.5
# Soft-tissue density that separates a solid nodule from the aerated lung around it.
NODULE_HU = -500.0


def run(ctx: PipelineContext) -> PipelineOutput:
    from inference.measurements.nodules import measure_nodules

    series = ctx.series
    if series is None or (series.modality or "").upper() != "CT":
        raise PipelineInputError("unsupported_modality", "Lung-nodule detection needs a chest CT series.")
    if len(series.instances) < MIN_SLICES:
        raise PipelineInputError("series_too_few_slices",
                                 f"Lung-nodule detection needs at least {MIN_SLICES} slices; the series has "
                                 f"{len(series.instances)}.")
    geometry = series.geometry
    volume_hu = resize_stack(series.volume(), GRID, GRID)
    rows, cols = int(geometry.rows), int(geometry.columns)
    if geometry.pixel_spacing_mm is None or not geometry.slice_spacing_mm:
        raise PipelineInputError("series_missing_geometry", "The series lacks pixel or slice spacing.")
    row_mm, col_mm = (float(v) for v in geometry.pixel_spacing_mm)
    spacing = (float(geometry.slice_spacing_mm), row_mm * rows / GRID, col_mm * cols / GRID)
    scaled = ct_intensity(volume_hu)

    # Stage 1: lungs.
    lung_logits = infer_in_batches(ctx.infer, SEGMENTATION, {"slices": scaled[:, None]})["lung_logits"]
    lung_probability = sigmoid(lung_logits[:, 0]).astype(np.float32)
    lungs = lung_probability >= 0.5
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0

    # Stage 2: candidate centres inside the lungs.
    heatmap = infer_in_batches(ctx.infer, CANDIDATES,
                               {"slices": np.stack([scaled, lung_probability], axis=1)})["candidate_heatmap"][:, 0]
    candidates = _candidates(heatmap, lungs)

    # Stage 3: false-positive removal on 32³ patches around each candidate.
    kept: list[tuple[tuple[int, int, int], float]] = []
    if candidates:
        # Cubes from the series resampled to isotropic voxels at the in-plane spacing (the model's training frame).
        z_step = spacing[1] / spacing[0]
        patches = np.stack([_patch(scaled, centre, z_step) for centre in candidates])[:, None]
        probability = infer_in_batches(ctx.infer, FP_REDUCTION, {"patches": patches}, batch=8)["nodule_probability"]
        probability = np.asarray(probability, dtype=np.float64).reshape(-1)
        if probability.min(initial=0.0) < 0 or probability.max(initial=0.0) > 1:
            probability = sigmoid(probability)
        kept = [(c, float(p)) for c, p in zip(candidates, probability) if p >= NODULE_THRESHOLD]

    labels = np.zeros(volume_hu.shape, dtype=np.uint8)
    for number, (centre, _p) in enumerate(kept, start=1):
        _segment_nodule(volume_hu, centre, labels, number, spacing)
    nodules = _nodule_rows(labels, kept, spacing, rows / GRID, cols / GRID, measure_nodules)
    key = max(nodules, key=lambda n: n["diameter_mm"])["slice_index"] if nodules else len(series.instances) // 2
    boxes = [{"box": n["box_on_key_image"], "label": f"{n['diameter_mm']:.1f} mm", "score": n["probability"]}
             for n in nodules if n["slice_index"] == key]
    mask = resize_labels(_renumbered(labels, nodules), rows, cols)
    for n in nodules:
        n.pop("box_on_key_image")
        n.pop("grown_label")
    largest = max((n["diameter_mm"] for n in nodules), default=None)
    summary = (f"{len(nodules)} nodule{'s' if len(nodules) != 1 else ''} found; largest {largest:.1f} mm."
               if nodules else "No lung nodule found.")
    return PipelineOutput(
        result={
            "nodules": nodules,
            "lung_volume_ml": round(float(lungs.sum() * voxel_ml), 1),
            "candidates_considered": len(candidates),
            "summary": summary,
            "overlays": [{"kind": "boxes", "position": key, "boxes": boxes}] if boxes else [],
        },
        # One label plane per source instance, in series order and at the source's rows × columns (the DICOM SEG
        # of reports.dicom_seg references the source frames one to one); value n is nodule n of the model's list.
        arrays={"nodules.npz": {"labels": mask}},
        key_position=key,
    )


def _renumbered(labels: np.ndarray, nodules: list[dict]) -> np.ndarray:
    """Label n of the mask = nodule id n of the result (nodules are re-numbered largest first)."""
    out = np.zeros_like(labels)
    for nodule in nodules:
        out[labels == nodule["grown_label"]] = nodule["id"]
    return out


def _candidates(heatmap: np.ndarray, lungs: np.ndarray) -> list[tuple[int, int, int]]:
    """Local maxima of the [slices, 64, 64] heat map above the threshold, inside the lungs, strongest first."""
    peaks = (heatmap == ndimage.maximum_filter(heatmap, size=3, mode="nearest")) & (heatmap >= CANDIDATE_THRESHOLD)
    found = []
    for z, y, x in np.argwhere(peaks):
        cy, cx = y * HEATMAP_STRIDE + HEATMAP_STRIDE // 2, x * HEATMAP_STRIDE + HEATMAP_STRIDE // 2
        # A nodule touching the pleura sits at the lung's edge: accept a centre within 3 cells of lung.
        window = lungs[z, max(cy - 12, 0):cy + 12, max(cx - 12, 0):cx + 12]
        if window.any():
            found.append((float(heatmap[z, y, x]), (int(z), int(cy), int(cx))))
    found.sort(key=lambda item: -item[0])
    return [centre for _score, centre in found[:MAX_CANDIDATES]]


def _patch(volume: np.ndarray, centre: tuple[int, int, int], z_step: float) -> np.ndarray:
    """The PATCH³ isotropic cube around `centre`: in-plane voxels as they are, slices sampled every `z_step`
    slice indices (in-plane spacing / slice spacing) by linear interpolation; air (-1 after scaling) outside."""
    offsets = np.arange(PATCH, dtype=np.float64) - PATCH / 2 + 0.5
    z, y, x = centre
    zz, yy, xx = np.meshgrid(z + offsets * z_step, y + offsets, x + offsets, indexing="ij")
    return ndimage.map_coordinates(volume, [zz, yy, xx], order=1, mode="constant", cval=-1.0).astype(np.float32)


def _segment_nodule(volume_hu, centre, labels, number, spacing) -> None:
    """Grow the nodule from its centre: soft-tissue voxels connected to it within a 30 mm sphere."""
    radius_mm = 15.0
    z, y, x = centre
    rz, ry, rx = (max(1, int(np.ceil(radius_mm / s))) for s in spacing)
    depth, height, width = volume_hu.shape
    zs = slice(max(z - rz, 0), min(z + rz + 1, depth))
    ys = slice(max(y - ry, 0), min(y + ry + 1, height))
    xs = slice(max(x - rx, 0), min(x + rx + 1, width))
    block = volume_hu[zs, ys, xs] > NODULE_HU
    gz, gy, gx = np.ogrid[zs, ys, xs]
    inside = ((gz - z) * spacing[0]) ** 2 + ((gy - y) * spacing[1]) ** 2 + ((gx - x) * spacing[2]) ** 2 \
        <= radius_mm ** 2
    block &= inside
    components, _count = ndimage.label(block)
    seed = components[z - zs.start, y - ys.start, x - xs.start]
    if seed == 0:
        return  # the centre itself is not solid: nothing to measure
    region = labels[zs, ys, xs]
    region[(components == seed) & (region == 0)] = number


def _nodule_rows(labels, kept, spacing, row_scale: float, col_scale: float, measure) -> list[dict]:
    """Measure each grown nodule on its own (so touching nodules keep their own candidate probability)."""
    rows = []
    for number, (_centre, probability) in enumerate(kept, start=1):
        found = measure(labels == number, spacing)
        if not found:
            continue
        nodule = found[0]
        plane = labels[nodule.slice_index] == number
        ys, xs = np.nonzero(plane)
        box = [float(xs.min() * col_scale), float(ys.min() * row_scale), float((xs.max() + 1) * col_scale),
               float((ys.max() + 1) * row_scale)]
        rows.append({
            "id": 0,
            "centroid_voxel": [round(float(c), 2) for c in nodule.centroid_voxel],
            "centroid_mm": [round(float(v), 2) for v in nodule.centroid_mm],
            "diameter_mm": round(float(nodule.diameter_mm), 2),
            "longest_axial_diameter_mm": round(float(nodule.longest_axial_diameter_mm), 2),
            "volume_mm3": round(float(nodule.volume_mm3), 1),
            "probability": round(float(probability), 4),
            "slice_index": int(nodule.slice_index),
            "bbox_voxel": [int(v) for v in nodule.bbox_voxel],
            "box_on_key_image": [round(v, 1) for v in box],
            "grown_label": number,
        })
    rows.sort(key=lambda row: -row["volume_mm3"])
    for number, row in enumerate(rows, start=1):
        row["id"] = number
    return rows
