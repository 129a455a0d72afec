"""Real DICOM series for tests: chest CT, cine short-axis MR and a mammogram, written with pydicom.

Every builder returns the files as ``[(file name, bytes)]`` (what an upload or a zip member gives the platform)
together with the ground truth the file was made from, so a test can compare what the platform reads and measures
against what was put in. The files are proper DICOM Part 10 (preamble, file meta with the transfer syntax, SOP
class and instance UIDs), carry the geometry tags a scanner writes (Image Position/Orientation (Patient), Pixel
Spacing, Slice Thickness) and, for CT, store pixels through Rescale Slope/Intercept like a scanner does.

Conventions used throughout (the same as ``studies.series``):

* The truth volume is indexed ``[z, y, x]`` = (slice, row, column) with slices in ascending order along the slice
  normal (row direction × column direction). Slice ``k`` lies at ``origin + k * slice_spacing * normal``; pixel
  ``(y, x)`` of a slice at ``position + x * column_spacing * row_direction + y * row_spacing * column_direction``.
* So the truth is the same for an axial and an oblique series: orientation changes the header, not the voxels.
* Files come back in a shuffled order with shuffled names and (by default) scrambled Instance Numbers, because the
  platform must order by position only.

Builders: ``chest_ct_phantom`` (``CTPhantom``), ``cine_mr_phantom`` (``CineMRPhantom``), ``mammogram_phantom``
(``MammogramPhantom``); helpers ``oblique_orientation``, ``write_dicom``, ``zip_files``.
"""
from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
MG_FOR_PRESENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.1.2"

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

# Hounsfield units of the CT phantom's tissues.
HU_AIR = -1000.0
HU_LUNG = -850.0
HU_SOFT_TISSUE = 40.0
HU_BONE = 700.0
HU_NODULE = 40.0


def oblique_orientation(about_x_deg: float = 20.0, about_y_deg: float = 15.0) -> tuple[float, ...]:
    """Image Orientation (Patient) of an axial plane tilted ``about_x_deg`` about the patient x axis, then
    ``about_y_deg`` about y: six direction cosines (row, column), unit length and orthogonal."""
    ax, ay = math.radians(about_x_deg), math.radians(about_y_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rotation = ry @ rx
    row, col = rotation @ np.array([1.0, 0, 0]), rotation @ np.array([0, 1.0, 0])
    return tuple(float(v) for v in (*row, *col))


def _normal(orientation: tuple[float, ...]) -> np.ndarray:
    normal = np.cross(np.asarray(orientation[:3]), np.asarray(orientation[3:]))
    return normal / np.linalg.norm(normal)


def write_dicom(
    stored: np.ndarray,
    *,
    sop_class_uid: str,
    modality: str,
    study_uid: str,
    series_uid: str,
    sop_uid: str | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    **tags,
) -> bytes:
    """One single-frame grayscale DICOM Part 10 file of ``stored`` (2-D uint16 or int16 stored values) with the
    given UIDs and any further attributes by keyword (``PixelSpacing=[0.7, 0.7]``, ``RescaleIntercept=-1024``...).
    ``transfer_syntax`` may be a compressed one pydicom can encode (RLE Lossless, JPEG 2000 Lossless)."""
    stored = np.ascontiguousarray(stored)
    if stored.dtype not in (np.uint16, np.int16):
        raise ValueError("stored pixels must be uint16 or int16")
    sop_uid = sop_uid or generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.8.498.1"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = modality
    ds.PatientName = "Phantom^Test"
    ds.PatientID = "PHANTOM-0001"
    ds.PatientSex = "O"
    ds.StudyDate = "20260101"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(stored.shape[0]), int(stored.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if stored.dtype == np.int16 else 0
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    if "ImagePositionPatient" in tags and "FrameOfReferenceUID" not in tags:
        # CT and MR images carry the Frame of Reference module (type 1); one frame per series here.
        ds.FrameOfReferenceUID = generate_uid(entropy_srcs=[series_uid, "frame-of-reference"])
    ds.PixelData = stored.tobytes()
    if transfer_syntax != ExplicitVRLittleEndian:
        ds.compress(transfer_syntax)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def zip_files(files: list[tuple[str, bytes]], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive (in memory) of ``files`` under their names."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in files:
            archive.writestr(name, data)
    return buffer.getvalue()


def _order_and_names(count: int, rng: np.random.Generator, shuffle: bool) -> tuple[np.ndarray, list[str]]:
    """A permutation of the files and file names unrelated to anatomy (names are a random permutation too)."""
    order = rng.permutation(count) if shuffle else np.arange(count)
    numbers = rng.permutation(count) if shuffle else np.arange(count)
    return order, [f"IM{int(n):05d}.dcm" for n in numbers]


def _instance_numbers(count: int, mode: str, rng: np.random.Generator) -> list[int]:
    if mode == "ascending":
        return list(range(1, count + 1))
    if mode == "descending":
        return list(range(count, 0, -1))
    if mode == "scrambled":
        return [int(n) + 1 for n in rng.permutation(count)]
    raise ValueError("instance_numbers must be ascending, descending or scrambled")


# ---------------------------------------------------------------------------------------------------------------------
# Chest CT
# ---------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NoduleSpec:
    """A spherical solid nodule: centre as (z, y, x) voxel indices of the ordered volume (fractions allowed),
    diameter in millimetres."""

    center_voxel: tuple[float, float, float]
    diameter_mm: float

    @property
    def volume_mm3(self) -> float:
        """The analytic sphere volume (what a perfect measurement would give)."""
        return math.pi / 6.0 * self.diameter_mm ** 3


@dataclass
class CTPhantom:
    """A chest CT phantom and its truth. ``hu`` is [slices, rows, columns] float32 Hounsfield units in ascending
    order along the normal (exactly representable in the stored values); ``nodule_labels`` labels nodule ``i`` of
    ``nodules`` with ``i + 1`` (voxel centres within the sphere); ``lung_mask`` is the air-filled lungs (nodules
    included). ``files`` may include the deliberate defects asked for (missing or duplicated slice, second series)."""

    files: list[tuple[str, bytes]]
    hu: np.ndarray = field(repr=False)
    nodule_labels: np.ndarray = field(repr=False)
    lung_mask: np.ndarray = field(repr=False)
    nodules: tuple[NoduleSpec, ...]
    spacing_mm: tuple[float, float, float]  # (dz, dy, dx)
    orientation: tuple[float, ...]
    origin_mm: tuple[float, float, float]
    study_uid: str
    series_uid: str
    sop_uids: list[str]  # in ascending order along the normal

    @property
    def normal(self) -> np.ndarray:
        return _normal(self.orientation)

    def slice_position(self, index: float) -> np.ndarray:
        """Image Position (Patient) of slice ``index`` of the ordered volume."""
        return np.asarray(self.origin_mm) + index * self.spacing_mm[0] * self.normal


def chest_ct_phantom(
    *,
    slices: int = 24,
    rows: int = 64,
    columns: int = 64,
    pixel_spacing: tuple[float, float] = (0.75, 0.75),
    slice_spacing: float = 1.5,
    slice_thickness: float | None = None,
    nodules: tuple[NoduleSpec, ...] | list[NoduleSpec] = (),
    orientation: tuple[float, ...] = AXIAL,
    origin_mm: tuple[float, float, float] = (-24.0, -24.0, -120.0),
    rescale_slope: float = 1.0,
    rescale_intercept: float = -1024.0,
    instance_numbers: str = "scrambled",
    shuffle: bool = True,
    missing_slice: int | None = None,
    duplicate_slice: int | None = None,
    second_series_slices: int = 0,
    transfer_syntax: str = ExplicitVRLittleEndian,
    noise_hu: float = 0.0,
    seed: int = 0,
) -> CTPhantom:
    """A chest CT series: a soft-tissue body ellipse in air, two air-filled lungs (-850 HU), a vertebral body
    (700 HU) and spherical solid nodules (40 HU) inside the lungs.

    ``orientation`` tilts the slices (see ``oblique_orientation``); positions follow the normal, so ordering must
    use it. ``instance_numbers`` is ``scrambled`` (default), ``ascending`` or ``descending`` along the normal;
    ``shuffle`` randomises the file order and names. Defects for the refusal tests: ``missing_slice`` drops that
    slice's file, ``duplicate_slice`` adds a second file (new SOP Instance UID) at that slice's position,
    ``second_series_slices`` adds that many slices of another series of the same study. Stored values are
    ``(HU - intercept) / slope``; choose a slope that divides the tissue values (1, 0.5) to keep them exact.
    ``noise_hu`` adds Gaussian noise (deterministic from ``seed``, quantised to the stored values and included in
    ``hu``): without it a phantom zips about 100:1, far more than a real CT (2-10:1), close to the zip-bomb limit.
    """
    rng = np.random.default_rng(seed)
    dy, dx = pixel_spacing
    dz = slice_spacing
    # Open grids broadcast to [slices, rows, columns] only where needed (a 512x512x300 phantom stays cheap).
    z, y, x = np.ogrid[0:slices, 0:rows, 0:columns]
    ymm, xmm = (y[0] - (rows - 1) / 2.0) * dy, (x[0] - (columns - 1) / 2.0) * dx  # [rows, 1] and [1, columns]
    half_w, half_h = columns * dx / 2.0, rows * dy / 2.0
    body = (xmm / (0.92 * half_w)) ** 2 + (ymm / (0.72 * half_h)) ** 2 <= 1.0
    lungs = np.zeros_like(body)
    for side in (-1.0, 1.0):
        lungs |= ((xmm - side * 0.42 * half_w) / (0.32 * half_w)) ** 2 + (ymm / (0.52 * half_h)) ** 2 <= 1.0
    spine = (xmm / (0.12 * half_w)) ** 2 + ((ymm - 0.5 * half_h) / (0.12 * half_h)) ** 2 <= 1.0
    plane = np.full((rows, columns), HU_AIR, dtype=np.float32)
    plane[body] = HU_SOFT_TISSUE
    plane[lungs & body] = HU_LUNG
    plane[spine & body] = HU_BONE
    hu = np.repeat(plane[None], slices, axis=0)
    labels = np.zeros((slices, rows, columns), dtype=np.int32)
    for number, nodule in enumerate(nodules, start=1):
        cz, cy, cx = nodule.center_voxel
        inside = ((z - cz) * dz) ** 2 + ((y - cy) * dy) ** 2 + ((x - cx) * dx) ** 2 <= (nodule.diameter_mm / 2.0) ** 2
        labels[inside] = number
        hu[inside] = HU_NODULE
    lung_mask = np.repeat((lungs & body)[None], slices, axis=0) | (labels > 0)

    if noise_hu:
        hu = hu + rng.normal(0.0, noise_hu, hu.shape).astype(np.float32)
    stored = np.round((hu - rescale_intercept) / rescale_slope)
    hu = (stored * rescale_slope + rescale_intercept).astype(np.float32)  # exactly what the file can carry
    dtype = np.int16 if stored.min() < 0 else np.uint16
    stored = stored.astype(dtype)

    study_uid, series_uid = generate_uid(), generate_uid()
    sop_uids = [generate_uid() for _ in range(slices)]
    numbers = _instance_numbers(slices, instance_numbers, rng)
    normal = _normal(orientation)
    origin = np.asarray(origin_mm, dtype=np.float64)

    def one(index: int, series: str, sop: str, number: int, pixels: np.ndarray) -> bytes:
        position = origin + index * dz * normal
        return write_dicom(
            pixels,
            sop_class_uid=CT_IMAGE_STORAGE,
            modality="CT",
            study_uid=study_uid,
            series_uid=series,
            sop_uid=sop,
            transfer_syntax=transfer_syntax,
            BodyPartExamined="CHEST",
            SeriesDescription="Chest phantom",
            InstanceNumber=number,
            ImagePositionPatient=[f"{v:.6f}" for v in position],
            ImageOrientationPatient=[f"{v:.8f}" for v in orientation],
            PixelSpacing=[dy, dx],
            SliceThickness=slice_thickness if slice_thickness is not None else dz,
            SliceLocation=f"{float(np.dot(position, normal)):.6f}",
            RescaleSlope=rescale_slope,
            RescaleIntercept=rescale_intercept,
            RescaleType="HU",
            KVP=120,
        )

    blobs: list[bytes] = []
    for k in range(slices):
        if k == missing_slice:
            continue
        blobs.append(one(k, series_uid, sop_uids[k], numbers[k], stored[k]))
    if duplicate_slice is not None:
        # Same position, different content and identity: a re-reconstruction mixed in.
        altered = stored[duplicate_slice].copy()
        altered[0, 0] = altered[0, 0] + 1
        blobs.append(one(duplicate_slice, series_uid, generate_uid(), slices + 1, altered))
    if second_series_slices:
        other = generate_uid()
        for k in range(second_series_slices):
            blobs.append(one(k, other, generate_uid(), k + 1, stored[k]))
    order, names = _order_and_names(len(blobs), rng, shuffle)
    files = [(names[i], blobs[int(j)]) for i, j in enumerate(order)]
    return CTPhantom(
        files=files, hu=hu, nodule_labels=labels, lung_mask=lung_mask, nodules=tuple(nodules),
        spacing_mm=(dz, dy, dx), orientation=tuple(orientation), origin_mm=tuple(float(v) for v in origin),
        study_uid=study_uid, series_uid=series_uid, sop_uids=sop_uids,
    )


# ---------------------------------------------------------------------------------------------------------------------
# Cine short-axis MR
# ---------------------------------------------------------------------------------------------------------------------
LABEL_BACKGROUND, LABEL_LV_BLOOD, LABEL_LV_MYOCARDIUM, LABEL_RV_BLOOD = 0, 1, 2, 3


@dataclass
class CineMRPhantom:
    """A cine short-axis stack and its truth. ``labels`` is [phases, slices, rows, columns] uint8 with the
    catalogue's classes (1 LV blood pool, 2 LV myocardium, 3 RV blood pool), slices ascending along the normal.
    ``lv_volumes_ml`` / ``rv_volumes_ml`` are the analytic blood-pool volumes per phase (cylinders of the stack's
    length, radius from the volume), ``myocardium_ml`` the analytic myocardial volume (the same every phase)."""

    files: list[tuple[str, bytes]]
    labels: np.ndarray = field(repr=False)
    image: np.ndarray = field(repr=False)
    lv_volumes_ml: np.ndarray
    rv_volumes_ml: np.ndarray
    myocardium_ml: float
    pixel_spacing_mm: tuple[float, float]
    slice_spacing_mm: float
    trigger_times_ms: list[float]
    study_uid: str
    series_uid: str

    @property
    def lv_edv_ml(self) -> float:
        return float(self.lv_volumes_ml.max())

    @property
    def lv_esv_ml(self) -> float:
        return float(self.lv_volumes_ml.min())

    @property
    def lv_ef_percent(self) -> float:
        return 100.0 * (self.lv_edv_ml - self.lv_esv_ml) / self.lv_edv_ml


def _cycle(edv: float, esv: float, phases: int) -> np.ndarray:
    """Volume over the cardiac cycle: end-diastole at phase 0, end-systole half-way (a raised cosine)."""
    p = np.arange(phases)
    return esv + (edv - esv) * (1.0 + np.cos(2.0 * np.pi * p / phases)) / 2.0


def cine_mr_phantom(
    *,
    phases: int = 12,
    slices: int = 8,
    rows: int = 128,
    columns: int = 128,
    pixel_spacing: float = 1.5,
    slice_spacing: float = 8.0,
    lv_edv_ml: float = 140.0,
    lv_esv_ml: float = 60.0,
    rv_edv_ml: float = 150.0,
    rv_esv_ml: float = 75.0,
    myocardium_thickness_mm: float = 9.0,
    rr_interval_ms: float = 1000.0,
    orientation: tuple[float, ...] | None = None,
    origin_mm: tuple[float, float, float] = (-96.0, -80.0, -40.0),
    timing: str = "trigger_time",
    drop: tuple[int, int] | None = None,
    shuffle: bool = True,
    seed: int = 0,
) -> CineMRPhantom:
    """A cine short-axis MR series: ``slices`` locations × ``phases`` phases, one file each.

    The LV blood pool is a cylinder through the whole stack (length ``slices * slice_spacing``) whose radius gives
    the volume of each phase (ED at phase 0 = ``lv_edv_ml``, ES at ``phases // 2`` = ``lv_esv_ml``, a raised cosine
    between); the myocardium is the ring around it, ``myocardium_thickness_mm`` thick at ED, keeping its volume
    constant as the blood pool shrinks (muscle is incompressible); the RV blood pool is a second cylinder beside it.
    Because each cylinder fills whole slices, Simpson's method of discs is exact up to in-plane digitisation.

    ``orientation`` defaults to an oblique short-axis plane. ``timing`` writes Trigger Time (``trigger_time``) or
    only Temporal Position Identifier (``temporal_position``). ``drop=(slice, phase)`` leaves that image out (for
    the uneven-phases refusal).
    """
    rng = np.random.default_rng(seed)
    orientation = orientation or oblique_orientation(35.0, -25.0)
    length_mm = slices * slice_spacing
    lv = _cycle(lv_edv_ml, lv_esv_ml, phases)
    rv = _cycle(rv_edv_ml, rv_esv_ml, phases)
    r_lv = np.sqrt(lv * 1000.0 / (math.pi * length_mm))
    r_rv = np.sqrt(rv * 1000.0 / (math.pi * length_mm))
    r_out_ed = r_lv[0] + myocardium_thickness_mm
    ring_area = math.pi * (r_out_ed ** 2 - r_lv[0] ** 2)
    r_out = np.sqrt(r_lv ** 2 + ring_area / math.pi)
    myocardium_ml = ring_area * length_mm / 1000.0

    y, x = np.meshgrid(np.arange(rows), np.arange(columns), indexing="ij")
    ymm, xmm = (y - (rows - 1) / 2.0) * pixel_spacing, (x - (columns - 1) / 2.0) * pixel_spacing
    lv_x = 0.5 * (r_out_ed + 2.0)
    rv_x = lv_x - r_out_ed - r_rv.max() - 3.0
    if lv_x + r_out_ed > columns * pixel_spacing / 2.0 or rv_x - r_rv.max() < -columns * pixel_spacing / 2.0:
        raise ValueError("the heart does not fit in the field of view; use more columns or a larger pixel spacing")
    d_lv = np.hypot(xmm - lv_x, ymm)
    labels = np.zeros((phases, slices, rows, columns), dtype=np.uint8)
    for p in range(phases):
        plane = np.zeros((rows, columns), dtype=np.uint8)
        plane[np.hypot(xmm - rv_x, ymm) <= r_rv[p]] = LABEL_RV_BLOOD
        plane[d_lv <= r_out[p]] = LABEL_LV_MYOCARDIUM
        plane[d_lv <= r_lv[p]] = LABEL_LV_BLOOD
        labels[p, :] = plane
    body = (xmm / (0.48 * columns * pixel_spacing)) ** 2 + (ymm / (0.45 * rows * pixel_spacing)) ** 2 <= 1.0
    intensity = {LABEL_LV_BLOOD: 900, LABEL_LV_MYOCARDIUM: 150, LABEL_RV_BLOOD: 850}
    image = np.where(body, 300, 20).astype(np.uint16)[None, None].repeat(phases, 0).repeat(slices, 1)
    for label, value in intensity.items():
        image[labels == label] = value

    study_uid, series_uid = generate_uid(), generate_uid()
    normal = _normal(orientation)
    origin = np.asarray(origin_mm, dtype=np.float64)
    times = [round(p * rr_interval_ms / phases, 3) for p in range(phases)]
    count = phases * slices
    numbers = _instance_numbers(count, "scrambled", rng)
    blobs = []
    for s in range(slices):
        position = origin + s * slice_spacing * normal
        for p in range(phases):
            if drop == (s, p):
                continue
            timing_tags = (
                {"TriggerTime": times[p]} if timing == "trigger_time" else {"TemporalPositionIdentifier": p + 1}
            )
            blobs.append(write_dicom(
                image[p, s],
                sop_class_uid=MR_IMAGE_STORAGE,
                modality="MR",
                study_uid=study_uid,
                series_uid=series_uid,
                BodyPartExamined="HEART",
                SeriesDescription="SA cine phantom",
                InstanceNumber=numbers[s * phases + p],
                ImagePositionPatient=[f"{v:.6f}" for v in position],
                ImageOrientationPatient=[f"{v:.8f}" for v in orientation],
                PixelSpacing=[pixel_spacing, pixel_spacing],
                SliceThickness=slice_spacing,
                CardiacNumberOfImages=phases,
                **timing_tags,
            ))
    order, names = _order_and_names(len(blobs), rng, shuffle)
    files = [(names[i], blobs[int(j)]) for i, j in enumerate(order)]
    return CineMRPhantom(
        files=files, labels=labels, image=image, lv_volumes_ml=lv, rv_volumes_ml=rv, myocardium_ml=myocardium_ml,
        pixel_spacing_mm=(pixel_spacing, pixel_spacing), slice_spacing_mm=slice_spacing, trigger_times_ms=times,
        study_uid=study_uid, series_uid=series_uid,
    )


# ---------------------------------------------------------------------------------------------------------------------
# Mammogram
# ---------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BlobSpec:
    """A dense, roughly round lesion: centre (row, column) and radius in pixels of the source image."""

    center: tuple[float, float]
    radius_px: float
    contrast: int = 1500

    @property
    def box(self) -> tuple[float, float, float, float]:
        """Its bounding box [x0, y0, x1, y1] in source pixels."""
        cy, cx = self.center
        return (cx - self.radius_px, cy - self.radius_px, cx + self.radius_px, cy + self.radius_px)


@dataclass
class MammogramPhantom:
    """One MG image: ``files`` holds a single DICOM file; ``pixels`` its stored values; ``blobs`` the lesions."""

    files: list[tuple[str, bytes]]
    pixels: np.ndarray = field(repr=False)
    blobs: tuple[BlobSpec, ...]
    pixel_spacing_mm: float


def mammogram_phantom(
    *,
    rows: int = 512,
    columns: int = 416,
    blobs: tuple[BlobSpec, ...] | list[BlobSpec] = (BlobSpec((200.0, 150.0), 18.0),),
    laterality: str = "L",
    view: str = "CC",
    pixel_spacing: float = 0.1,
    seed: int = 0,
) -> MammogramPhantom:
    """A digital mammogram for presentation (MG, MONOCHROME2, 12-bit values in 16 bits): a half-ellipse of
    fibroglandular tissue against the chest wall (left edge for an L image, right for R) with mild texture, and
    ``blobs`` brighter than it. No Image Position/Orientation (a projection), Imager Pixel Spacing at the detector."""
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(np.arange(rows), np.arange(columns), indexing="ij")
    wall_x = 0 if laterality.upper() == "L" else columns - 1
    breast = ((x - wall_x) / (0.85 * columns)) ** 2 + ((y - rows / 2.0) / (0.48 * rows)) ** 2 <= 1.0
    pixels = np.where(breast, 1200.0, 60.0) + np.where(breast, rng.normal(0.0, 40.0, (rows, columns)), 0.0)
    for blob in blobs:
        cy, cx = blob.center
        d2 = (y - cy) ** 2 + (x - cx) ** 2
        pixels += blob.contrast * np.exp(-d2 / (2.0 * (blob.radius_px / 1.5) ** 2)) * (d2 <= blob.radius_px ** 2 * 2.25)
    stored = np.clip(np.round(pixels), 0, 4095).astype(np.uint16)
    data = write_dicom(
        stored,
        sop_class_uid=MG_FOR_PRESENTATION_STORAGE,
        modality="MG",
        study_uid=generate_uid(),
        series_uid=generate_uid(),
        BodyPartExamined="BREAST",
        ImageLaterality=laterality.upper(),
        ViewPosition=view.upper(),
        ImagerPixelSpacing=[pixel_spacing, pixel_spacing],
        BitsStored=12,
        HighBit=11,
        PresentationIntentType="FOR PRESENTATION",
    )
    return MammogramPhantom(files=[("MG0001.dcm", data)], pixels=stored, blobs=tuple(blobs),
                            pixel_spacing_mm=pixel_spacing)


def read_dataset(data: bytes) -> pydicom.Dataset:
    """Parse one file written by this module (for tests that inspect or alter tags)."""
    return pydicom.dcmread(io.BytesIO(data))


def rewrite(data: bytes, **tags) -> bytes:
    """The same file with attributes changed (``None`` deletes one): for defects the builders do not offer."""
    ds = read_dataset(data)
    for keyword, value in tags.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
