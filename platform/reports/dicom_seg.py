"""DICOM Segmentation (binary, highdicom) of an assessment's masks, referencing the source series.

`masks` maps a segment label to a boolean array of shape (instances, rows, columns) aligned with the source
datasets (series order); arrays at model resolution are resampled (nearest neighbour) to each source image.
Segment labels: `nodule-<id>` (the nodule's id in the result, also its segment number's order), `lung`,
`lv_blood_pool`, `lv_myocardium`, `rv_blood_pool`; any other label is a generic segment with a platform code.
Mask artifacts (`nodules.npz`, `cardiac_masks.npz`) are read by `masks_from_npz`.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from reports import codes
from reports.codes import Concept

logging.getLogger("highdicom").setLevel(logging.WARNING)  # its INFO lines name the source instances' UIDs

MANUFACTURER = "MIP imaging AI platform"
SEG_SERIES_NUMBER = 9002

# Integer classes of the cardiac label map (docs/catalogue.md: cardiac_segmentation output classes).
CARDIAC_CLASSES = {1: "lv_blood_pool", 2: "lv_myocardium", 3: "rv_blood_pool"}

_SEGMENTS: dict[str, tuple[Concept, Concept, Concept | None]] = {
    # label: (category, type, anatomic region)
    "lung": (codes.ANATOMICAL_STRUCTURE, codes.LUNG, None),
    "lv_blood_pool": (codes.ANATOMICAL_STRUCTURE, codes.LEFT_VENTRICLE, codes.HEART),
    "lv_myocardium": (codes.TISSUE, codes.LEFT_VENTRICLE_MYOCARDIUM, codes.HEART),
    "rv_blood_pool": (codes.ANATOMICAL_STRUCTURE, codes.RIGHT_VENTRICLE, codes.HEART),
}


class NoSegmentation(ValueError):
    """There is no mask to encode (no masks, or every mask empty)."""


def _segment_codes(label: str) -> tuple[Concept, Concept, Concept | None]:
    if label in _SEGMENTS:
        return _SEGMENTS[label]
    if label.startswith("nodule"):
        return codes.MORPHOLOGICALLY_ABNORMAL_STRUCTURE, codes.NODULE, codes.LUNG
    if label.startswith("lesion"):
        return codes.MORPHOLOGICALLY_ABNORMAL_STRUCTURE, codes.LESION, codes.BREAST
    return codes.TISSUE, codes.mip(f"segment-{label}"[:60], label), None


def _resample(mask: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Nearest-neighbour resampling of one 2-D mask to the source image's size."""
    if mask.shape == (rows, columns):
        return mask
    row_index = np.minimum((np.arange(rows) * mask.shape[0] / rows).astype(int), mask.shape[0] - 1)
    column_index = np.minimum((np.arange(columns) * mask.shape[1] / columns).astype(int), mask.shape[1] - 1)
    return mask[np.ix_(row_index, column_index)]


def masks_from_npz(data: bytes, *, assessment: str) -> dict[str, np.ndarray]:
    """Masks of a mask artifact: boolean arrays by segment label, or one integer label map (`labels`/`mask`):
    for cardiac_function the classes of CARDIAC_CLASSES, for lung_nodule each value > 0 is that nodule's id."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    masks: dict[str, np.ndarray] = {}
    for name, array in arrays.items():
        if array.dtype == bool:
            masks[name] = array
            continue
        values = [int(v) for v in np.unique(array) if v > 0]
        for value in values:
            if assessment == "cardiac_function":
                label = CARDIAC_CLASSES.get(value, f"class-{value}")
            elif assessment == "lung_nodule":
                label = f"nodule-{value}"
            else:
                label = f"{name}-{value}"
            masks[label] = array == value
    return masks


def _one_phase(indices: list[int], sources: Sequence[Dataset], phase: int) -> list[int]:
    """Cine MR has several instances per slice position (one per phase) and a Segmentation may hold only one
    frame per position: keep the `phase`-th instance of each position (the end-diastolic phase for
    cardiac_function; the other phases stay in the mask artifact). Series without repeated positions pass."""
    by_position: dict[tuple, list[int]] = {}
    for index in range(len(sources)):
        position = tuple(round(float(v), 3) for v in getattr(sources[index], "ImagePositionPatient", []) or [])
        by_position.setdefault(position or (index,), []).append(index)
    if all(len(members) == 1 for members in by_position.values()):
        return indices
    keep = set()
    for members in by_position.values():
        ordered = sorted(members, key=lambda i: (float(getattr(sources[i], "TriggerTime", 0) or 0), i))
        keep.add(ordered[phase] if phase < len(ordered) else ordered[0])
    return [i for i in indices if i in keep]


def segmentation_build(*, masks: Mapping[str, np.ndarray], source_datasets: Sequence[Dataset], result: dict,
                       series_instance_uid: str | None = None, sop_instance_uid: str | None = None) -> Dataset:
    """A binary DICOM Segmentation of `masks` over `source_datasets` (series order).

    Only source instances where some mask is non-empty become frames. Raises NoSegmentation when nothing is
    segmented, ValueError when a mask does not have one plane per source instance.
    """
    from reports.dicom_sr import with_type2_attributes

    sources = [with_type2_attributes(ds) for ds in source_datasets]
    labels = [label for label, array in masks.items() if np.asarray(array).any()]
    if not labels or not sources:
        raise NoSegmentation("no segment has any pixel")
    for label in labels:
        if np.asarray(masks[label]).ndim != 3 or len(masks[label]) != len(sources):
            raise ValueError(f"mask {label!r} needs one plane per source instance ({len(sources)})")
    # Frames only where something is segmented: a 300-slice CT with one nodule stays small.
    used = [i for i in range(len(sources)) if any(np.asarray(masks[label][i]).any() for label in labels)]
    used = _one_phase(used, sources, int(result.get("ed_phase") or 0))
    if not used:
        raise NoSegmentation("no segment has any pixel in the phase encoded")
    picked = [sources[i] for i in used]
    rows, columns = int(picked[0].Rows), int(picked[0].Columns)
    pixel_array = np.zeros((len(picked), rows, columns, len(labels)), dtype=bool)
    for s, label in enumerate(labels):
        for f, i in enumerate(used):
            pixel_array[f, :, :, s] = _resample(np.asarray(masks[label][i], dtype=bool), rows, columns)
    stages = result["model"]["stages"]
    main = stages[-1]
    algorithm = hd.AlgorithmIdentificationSequence(
        name=main["name"], family=codes.MODEL_ALGORITHM.dicom(), version=str(main["version"]),
        source=MANUFACTURER)
    descriptions = []
    for number, label in enumerate(labels, start=1):
        category, kind, region = _segment_codes(label)
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=label[:64], segmented_property_category=category.dicom(),
            segmented_property_type=kind.dicom(), algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm, tracking_uid=generate_uid(), tracking_id=label[:64],
            anatomic_regions=[region.dicom()] if region is not None else None))
    description = "AI segmentation"
    if result.get("notice"):
        description += f" ({result['notice']})"
    seg = hd.seg.Segmentation(
        source_images=picked,
        pixel_array=pixel_array,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=series_instance_uid or generate_uid(),
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=sop_instance_uid or generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=f"{main['name']} v{main['version']} {main['precision']}"[:64],
        software_versions=str(main["version"]),
        device_serial_number="0",
        series_description=description[:64],
        content_description=(result.get("notice") or "AI segmentation")[:64],
    )
    return seg
