"""Series input: many DICOM files (or one zip of them) become one checked, anatomically ordered series.

Pure functions, no Django (the contract is docs/catalogue.md, "Series input"):

* ``extract_files(data, filename)`` opens a zip safely (member count, expanded size and compression ratio are
  limited before and while anything is expanded) and returns the DICOM members; anything else is returned as-is.
* ``assemble_series(files, min_slices=..., cine=...)`` parses the headers, groups by Series Instance UID, orders the
  slices by their position along the slice normal (Image Position Patient · (row × column direction cosines)) -
  never by file name or Instance Number, which are unreliable in practice - and refuses an incomplete, mixed or
  inconsistent series with a stable code. For cine MR it groups by slice location and orders the phases in time.
* ``OrderedSeries.volume()`` decodes the pixel data (compressed transfer syntaxes through the pylibjpeg plugins) into
  float32 modality units: Hounsfield units for CT via the modality LUT (Rescale Slope/Intercept).

Every refusal is a ``SeriesRejected``, a subclass of ``studies.imaging.ImageRejected``, so the API's existing
mapping of ``ImageRejected`` to an RFC 9457 problem (``code``, ``http_status``) applies unchanged. Files that are not
readable DICOM images are refused with the single-image codes of studies.imaging (``not_an_image``,
``malformed_dicom``, ``truncated_dicom``, ``no_pixel_data``, ``unsupported_image``, ``image_too_large``).

Privacy: messages name counts, positions and codes, never header text (which may be patient data).
"""
from __future__ import annotations

import hashlib
import io
import logging
import math
import re
import struct
import warnings
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np

from studies.imaging import (
    _HTTP_STATUS as _IMAGE_HTTP_STATUS,
)
from studies.imaging import (
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    ImageRejected,
    _default_transfer_syntax,
    _dicom_header,
    _int,
    _is_eof_warning,
    _looks_like_headerless_dicom,
    _text,
)

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------------------------------------------------
# A thin-slice whole-body CT is ~2000 slices; a cine stack 20 phases x 20 locations. 5000 files is generous and
# still bounds the per-member bookkeeping an attacker could force on us.
MAX_ZIP_MEMBERS = 5000
# What a series may expand to in memory. 2000 slices of 512x512x16 bit is ~1 GiB; the decoded float32 volume of
# that size is another 2 GiB, which a worker with 4 GiB can still hold.
MAX_ZIP_EXPANDED_BYTES = 1536 * 1024 * 1024
# Deflate tops out near 1032:1 on constant input; real DICOM zips at 2-10:1, and even a synthetic phantom with large
# uniform areas stays well under 100:1. A whole-archive ratio above this is a decompression bomb, not a study.
MAX_ZIP_RATIO = 200
# Decoded voxels of one series (float32 volume of 1 GiB).
MAX_SERIES_VOXELS = 256 * 1024 * 1024

# ---------------------------------------------------------------------------------------------------------------------
# Tolerances (millimetres and direction cosines)
# ---------------------------------------------------------------------------------------------------------------------
# Two slices closer than this along the normal are at the same position. Scanners write positions to ~1e-3 mm; the
# thinnest clinical slices are ~0.5 mm.
POSITION_TOLERANCE_MM = 0.01
# Direction cosines of different slices may differ by rounding only (the contract's 1e-3).
ORIENTATION_TOLERANCE = 1e-3
# Pixel spacing written by the same scanner for one series is identical; allow DS rounding.
PIXEL_SPACING_TOLERANCE_MM = 1e-3
# A gap larger than this multiple of the typical spacing is a missing slice.
GAP_FACTOR = 1.5

_SERIES_HTTP_STATUS = {
    "series_mixed": 422,
    "series_incomplete": 422,
    "series_duplicate_position": 422,
    "series_inconsistent_orientation": 422,
    "series_inconsistent_geometry": 422,
    "series_missing_geometry": 422,
    "series_too_few_slices": 422,
    "series_phases_uneven": 422,
    "zip_invalid": 400,
    "zip_empty": 422,
    "zip_too_large": 413,
}
SERIES_CODES = frozenset(_SERIES_HTTP_STATUS)


class SeriesRejected(ImageRejected):
    """A series (or zip) that cannot be used. ``code`` is stable (docs/catalogue.md), ``message`` is plain words
    without patient data, ``http_status`` the 4xx to answer with. A subclass of ``ImageRejected`` so that the code
    which already turns an image refusal into a problem response handles series refusals too."""

    def __init__(self, code: str, message: str, http_status: int | None = None) -> None:
        if http_status is None:
            http_status = _SERIES_HTTP_STATUS.get(code, _IMAGE_HTTP_STATUS.get(code, 422))
        super().__init__(code, message, http_status)

    def __repr__(self) -> str:
        return f"SeriesRejected(code={self.code!r}, http_status={self.http_status})"


# ---------------------------------------------------------------------------------------------------------------------
# Zip
# ---------------------------------------------------------------------------------------------------------------------
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header, or the end record of an empty archive
_READ_CHUNK = 1024 * 1024


def is_zip(data: bytes) -> bool:
    """True when ``data`` starts like a zip archive and is not a DICOM file. A DICOM preamble is 128 free bytes and
    may itself start with a zip signature (DICOM/zip polyglots exist); the "DICM" marker decides for DICOM."""
    return bytes(data[:4]) in _ZIP_MAGICS and bytes(data[128:132]) != b"DICM"


def extract_files(
    data: bytes,
    filename: str | None,
    *,
    max_members: int = MAX_ZIP_MEMBERS,
    max_expanded_bytes: int = MAX_ZIP_EXPANDED_BYTES,
    max_ratio: float = MAX_ZIP_RATIO,
) -> list[tuple[str, bytes]]:
    """The DICOM files inside an upload.

    A zip is opened in memory (nothing touches the disk, so member names cannot climb out of a directory) and its
    members that look like DICOM files are returned as ``(member name, bytes)``, in archive order; folders, macOS
    resource forks, DICOMDIR indexes and other files are skipped. Anything that is not a zip is returned as
    ``[(filename or "upload", data)]`` for the caller to parse.

    Raises ``SeriesRejected``: ``zip_too_large`` (413) when the archive has more than ``max_members`` files, would
    expand past ``max_expanded_bytes``, or expands more than ``max_ratio`` times its own size (a zip bomb) -
    checked on the declared sizes first and again on the bytes actually inflated, which a crafted archive can
    misstate; ``zip_invalid`` when the archive is damaged or encrypted; ``zip_empty`` when it holds no DICOM file.
    """
    data = bytes(data)
    if not is_zip(data):
        return [(filename or "upload", data)]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error):
        raise SeriesRejected("zip_invalid", "The zip archive is damaged and cannot be read.") from None
    if len(members) > max_members:
        raise SeriesRejected(
            "zip_too_large", f"The zip holds {len(members)} files; at most {max_members} are accepted."
        )
    declared = sum(max(info.file_size, 0) for info in members)
    _check_expansion(declared, len(data), max_expanded_bytes, max_ratio)

    files: list[tuple[str, bytes]] = []
    expanded = 0
    for info in members:
        if info.flag_bits & 0x1:
            raise SeriesRejected("zip_invalid", "The zip archive is encrypted; send it without a password.")
        if _skipped_member(info.filename):
            continue
        try:
            with archive.open(info) as handle:
                chunks = []
                while True:
                    # Read in bounded chunks and count what really comes out: the declared sizes in the central
                    # directory are only claims.
                    chunk = handle.read(_READ_CHUNK)
                    if not chunk:
                        break
                    expanded += len(chunk)
                    _check_expansion(expanded, len(data), max_expanded_bytes, max_ratio)
                    chunks.append(chunk)
        except SeriesRejected:
            raise
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError,
                struct.error, zlib.error):
            raise SeriesRejected("zip_invalid", "A file inside the zip archive is damaged.") from None
        content = b"".join(chunks)
        if _looks_like_dicom(content):
            files.append((info.filename, content))
    if not files:
        raise SeriesRejected("zip_empty", "The zip archive contains no DICOM files.")
    return files


def collect_files(
    uploads: Iterable[tuple[str | None, bytes]],
    *,
    max_files: int = MAX_ZIP_MEMBERS,
    max_total_bytes: int = MAX_ZIP_EXPANDED_BYTES,
) -> list[tuple[str | None, bytes]]:
    """Every file of a submission, whether it came as many files, one zip, or several zips and files mixed:
    ``extract_files`` on each upload, then the same limits on the whole (``zip_too_large``, 413, beyond
    ``max_files`` files or ``max_total_bytes`` bytes in all). The result goes to ``assemble_series``."""
    files: list[tuple[str | None, bytes]] = []
    total = 0
    for name, data in uploads:
        for member in extract_files(data, name, max_members=max_files, max_expanded_bytes=max_total_bytes):
            files.append(member)
            total += len(member[1])
            if len(files) > max_files:
                raise SeriesRejected("zip_too_large", f"The submission holds more than {max_files} files.")
            if total > max_total_bytes:
                raise SeriesRejected(
                    "zip_too_large", f"The submission is larger than {max_total_bytes // (1024 * 1024)} MB in all."
                )
    return files


def _check_expansion(expanded: int, compressed: int, max_expanded_bytes: int, max_ratio: float) -> None:
    if expanded > max_expanded_bytes:
        raise SeriesRejected(
            "zip_too_large", f"The zip expands past the {max_expanded_bytes // (1024 * 1024)} MB limit."
        )
    if expanded > max_ratio * max(compressed, 1):
        raise SeriesRejected(
            "zip_too_large",
            f"The zip expands more than {max_ratio:g} times its size, which no DICOM study does (a zip bomb?).",
        )


def _skipped_member(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    base = parts[-1]
    return (
        not base
        or "__MACOSX" in parts
        or base.startswith(".")
        or base.upper() == "DICOMDIR"
    )


def _looks_like_dicom(content: bytes) -> bool:
    return (len(content) >= 132 and content[128:132] == b"DICM") or _looks_like_headerless_dicom(content)


# ---------------------------------------------------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeriesGeometry:
    """Where the voxels are. Spacings in millimetres; ``pixel_spacing_mm`` is (between rows, between columns), as
    DICOM Pixel Spacing; ``slice_spacing_mm`` is measured from the positions (median distance between neighbouring
    slices, the lower median), not taken from Slice Thickness or Spacing Between Slices; ``orientation`` the six direction cosines
    (row, column) of Image Orientation Patient; ``normal`` = row × column; ``origin_mm`` the Image Position Patient
    of the first slice. Geometry of a single projection image (no position) has None for what it lacks."""

    pixel_spacing_mm: tuple[float, float] | None
    slice_spacing_mm: float | None
    slice_thickness_mm: float | None
    orientation: tuple[float, float, float, float, float, float] | None
    normal: tuple[float, float, float] | None
    origin_mm: tuple[float, float, float] | None
    rows: int
    columns: int
    slice_count: int
    phases: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (lists, not tuples): what ``studies.Series.geometry`` stores."""
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


@dataclass(frozen=True)
class OrderedInstance:
    """One file at its place in the series. ``position`` counts along the normal then the phase
    (``slice_index * phases + phase``); ``location_mm`` is the signed distance along the normal from the first
    slice (None for a single projection image)."""

    filename: str | None
    data: bytes = field(repr=False)
    sha256: str
    sop_instance_uid: str | None
    position: int
    slice_index: int
    location_mm: float | None
    phase: int
    trigger_time_ms: float | None = None
    # studies.imaging header facts (modality, transfer syntax, patient sex/age...). Patient data: never logged.
    header: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class OrderedSeries:
    """A checked series with its instances in anatomical (then temporal) order."""

    study_instance_uid: str | None
    series_instance_uid: str | None
    modality: str | None
    body_part_examined: str | None
    instances: tuple[OrderedInstance, ...]
    geometry: SeriesGeometry
    cine: bool = False  # assembled as cine MR: volume() is 4-D even with a single phase

    @property
    def content_sha256(self) -> str:
        """SHA-256 over the sorted SHA-256s of the members: the same set of files is the same series."""
        return hashlib.sha256("\n".join(sorted(i.sha256 for i in self.instances)).encode("ascii")).hexdigest()

    def volume(self) -> np.ndarray:
        """Decode every instance into float32 modality units (Rescale Slope/Intercept or the Modality LUT applied:
        Hounsfield units for CT), shaped [slices, rows, columns] in the series order, or [phases, slices, rows,
        columns] for cine. Raises SeriesRejected (``undecodable_pixel_data``, ``truncated_dicom``,
        ``series_inconsistent_geometry``, ``image_too_large``)."""
        g = self.geometry
        total = g.rows * g.columns * len(self.instances)
        if total > MAX_SERIES_VOXELS:
            raise SeriesRejected("image_too_large", "The series has too many voxels to process.")
        if self.cine:
            out = np.empty((g.phases, g.slice_count, g.rows, g.columns), dtype=np.float32)
            for inst in self.instances:
                out[inst.phase, inst.slice_index] = decode_modality_pixels(inst.data, g.rows, g.columns)
        else:
            out = np.empty((g.slice_count, g.rows, g.columns), dtype=np.float32)
            for inst in self.instances:
                out[inst.slice_index] = decode_modality_pixels(inst.data, g.rows, g.columns)
        return out

    def voxel_to_patient_mm(self, z: float, y: float, x: float) -> tuple[float, float, float]:
        """Patient coordinates (DICOM LPS, mm) of a voxel index (slice, row, column) of ``volume()``; fractional
        indices allowed (centroids). Raises ValueError for a series without position geometry."""
        g = self.geometry
        if g.orientation is None or g.origin_mm is None or g.pixel_spacing_mm is None:
            raise ValueError("the series has no patient geometry")
        row_dir, col_dir = np.asarray(g.orientation[:3]), np.asarray(g.orientation[3:])
        normal = np.asarray(g.normal)
        dz = g.slice_spacing_mm or 0.0
        # Column index x advances along the row direction by the column spacing (Pixel Spacing[1]), row index y
        # along the column direction by the row spacing (Pixel Spacing[0]) - PS3.3 C.7.6.2.1.1.
        point = (np.asarray(g.origin_mm) + x * g.pixel_spacing_mm[1] * row_dir + y * g.pixel_spacing_mm[0] * col_dir
                 + z * dz * normal)
        return (float(point[0]), float(point[1]), float(point[2]))


# ---------------------------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class _Slice:
    filename: str | None
    data: bytes
    sha256: str
    header: dict[str, Any]
    study_uid: str | None
    series_uid: str | None
    sop_uid: str | None
    modality: str | None
    body_part: str | None
    rows: int
    columns: int
    pixel_spacing: tuple[float, float] | None
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    thickness: float | None
    trigger_time: float | None
    temporal_position: int | None
    location: float = 0.0


def _floats(ds: Any, keyword: str, count: int) -> tuple[float, ...] | None:
    try:
        value = ds.get(keyword)
        if value is None:
            return None
        numbers = tuple(float(v) for v in value)
    except Exception:  # noqa: BLE001 - a malformed value counts as absent
        return None
    if len(numbers) != count or not all(math.isfinite(v) for v in numbers):
        return None
    return numbers


def _float(ds: Any, keyword: str) -> float | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        number = float(value)
    except Exception:  # noqa: BLE001
        return None
    return number if math.isfinite(number) else None


def _parse_slice(filename: str | None, data: bytes) -> _Slice:
    import pydicom
    from pydicom.errors import InvalidDicomError

    if not data:
        raise SeriesRejected("empty_file", "One of the files is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise SeriesRejected("file_too_large", "One of the files is larger than the per-file limit.")
    is_part10 = len(data) >= 132 and data[128:132] == b"DICM"
    if not is_part10 and not _looks_like_headerless_dicom(data):
        raise SeriesRejected("not_an_image", "One of the files is not a DICOM file.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=not is_part10)
            for _ in ds.iterall():  # parse lazily stored elements now, so damage surfaces here
                pass
        except InvalidDicomError:
            raise SeriesRejected("malformed_dicom", "One of the files is not a valid DICOM file.") from None
        except (EOFError, struct.error):
            raise SeriesRejected(
                "truncated_dicom", "One of the DICOM files ends before its data is complete."
            ) from None
        except Exception as exc:  # noqa: BLE001 - never echo the text (it may quote header values)
            logger.info("DICOM read failed in a series: %s", type(exc).__name__)
            raise SeriesRejected("malformed_dicom", "One of the DICOM files is damaged.") from None
        if any(_is_eof_warning(w.message) for w in caught):
            raise SeriesRejected("truncated_dicom", "One of the DICOM files ends before its data is complete.")
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise SeriesRejected("no_pixel_data", "One of the DICOM files contains no image.")
    rows, columns = _int(ds, "Rows"), _int(ds, "Columns")
    if not rows or not columns or rows <= 0 or columns <= 0:
        raise SeriesRejected("malformed_dicom", "One of the DICOM images has no valid size (Rows/Columns).")
    if rows * columns > MAX_PIXELS:
        raise SeriesRejected("image_too_large", "One of the images has too many pixels to process.")
    frames = _int(ds, "NumberOfFrames", 1) or 1
    if frames > 1:
        raise SeriesRejected(
            "unsupported_image", "Multi-frame DICOM files are not accepted in a series; send one file per slice."
        )
    _check_native_pixel_length(ds, rows, columns)
    header = _dicom_header(ds)
    spacing = _floats(ds, "PixelSpacing", 2)
    if spacing is not None and not all(0.0 < v < 100.0 for v in spacing):
        spacing = None
    if spacing is None and "ImagePositionPatient" not in ds:
        # Projection images (MG, DX) carry the detector spacing instead; without a position they are a single image.
        spacing = header.get("pixel_spacing_mm")
    temporal = _int(ds, "TemporalPositionIdentifier")
    return _Slice(
        filename=filename,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        header=header,
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        sop_uid=_text(ds, "SOPInstanceUID"),
        modality=header.get("modality"),
        body_part=header.get("body_part_examined"),
        rows=int(rows),
        columns=int(columns),
        pixel_spacing=spacing,
        position=_floats(ds, "ImagePositionPatient", 3),  # type: ignore[arg-type]
        orientation=_floats(ds, "ImageOrientationPatient", 6),
        thickness=_float(ds, "SliceThickness"),
        trigger_time=_float(ds, "TriggerTime"),
        temporal_position=temporal,
    )


def _check_native_pixel_length(ds: Any, rows: int, columns: int) -> None:
    """A file cut short in its pixel data still parses (pydicom keeps what is there); for uncompressed pixel data
    the length is known, so refuse it now rather than when the worker decodes the volume. Compressed data is
    checked by its decoder in ``volume()``."""
    try:
        tsuid = ds.file_meta.get("TransferSyntaxUID")
        if tsuid is not None and tsuid.is_compressed:
            return
        bits = _int(ds, "BitsAllocated", 16) or 16
        samples = _int(ds, "SamplesPerPixel", 1) or 1
        present = len(ds.PixelData) if "PixelData" in ds else None
    except Exception:  # noqa: BLE001 - leave it to the decoder
        return
    if present is not None and present < (rows * columns * samples * bits + 7) // 8:
        raise SeriesRejected("truncated_dicom", "One of the DICOM files ends before its pixel data is complete.")


# ---------------------------------------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------------------------------------
def assemble_series(
    files: Iterable[tuple[str | None, bytes]], *, min_slices: int = 1, cine: bool = False
) -> OrderedSeries:
    """Parse, group, order and check one series.

    ``files`` are ``(file name or None, bytes)``; names are kept for people, never used to order. ``min_slices`` is
    what the assessment needs (distinct slice locations). ``cine`` treats the series as cine MR: instances sharing a
    location are the phases of that slice, ordered by Trigger Time (else Temporal Position Identifier).

    Byte-identical files sent twice count once. A single image without position geometry (a mammogram, a
    radiograph) is accepted as a one-slice series when ``min_slices`` is 1 and ``cine`` is False.

    Raises ``SeriesRejected`` with the codes of docs/catalogue.md (and the single-file codes of studies.imaging for
    a file that is not a readable DICOM image).
    """
    slices = _parse_all(files)
    _check_one_series(slices)
    first = slices[0]
    if len(slices) == 1 and not cine and first.position is None and first.orientation is None and min_slices <= 1:
        return _single_projection(first)

    for s in slices:
        if s.position is None or s.orientation is None or s.pixel_spacing is None:
            missing = [name for name, value in (("Image Position (Patient)", s.position),
                                                ("Image Orientation (Patient)", s.orientation),
                                                ("Pixel Spacing", s.pixel_spacing)) if value is None]
            raise SeriesRejected(
                "series_missing_geometry", f"A slice has no valid {', '.join(missing)}; the series cannot be ordered."
            )
    row_dir, col_dir, normal = _directions(first.orientation)  # type: ignore[arg-type]
    reference = np.asarray(first.orientation, dtype=np.float64)
    for s in slices:
        if float(np.max(np.abs(np.asarray(s.orientation) - reference))) > ORIENTATION_TOLERANCE:
            raise SeriesRejected(
                "series_inconsistent_orientation", "The slices of the series do not share one orientation."
            )
        if (s.rows, s.columns) != (first.rows, first.columns):
            raise SeriesRejected(
                "series_inconsistent_geometry", "The slices of the series differ in their number of rows or columns."
            )
        spacing_difference = max(
            abs(a - b) for a, b in zip(s.pixel_spacing, first.pixel_spacing)  # type: ignore[arg-type]
        )
        if spacing_difference > PIXEL_SPACING_TOLERANCE_MM:
            raise SeriesRejected("series_inconsistent_geometry", "The slices of the series differ in pixel spacing.")
        s.location = float(np.dot(np.asarray(s.position), normal))

    if cine:
        layout = _cine_layout(slices)
    else:
        layout = _stack_layout(slices)
    locations = [group[0].location for group in layout]
    if len(layout) < max(min_slices, 1):
        raise SeriesRejected(
            "series_too_few_slices",
            f"The series has {len(layout)} slice location(s); this assessment needs at least {min_slices}.",
        )
    spacing = _check_spacing(locations)
    phases = len(layout[0])

    base = locations[0]
    instances = []
    for slice_index, group in enumerate(layout):
        for phase, s in enumerate(group):
            instances.append(OrderedInstance(
                filename=s.filename,
                data=s.data,
                sha256=s.sha256,
                sop_instance_uid=s.sop_uid,
                position=slice_index * phases + phase,
                slice_index=slice_index,
                location_mm=round(s.location - base, 4),
                phase=phase,
                trigger_time_ms=s.trigger_time,
                header=s.header,
            ))
    first_slice = layout[0][0]
    thickness = _consensus(s.thickness for s in slices)
    geometry = SeriesGeometry(
        pixel_spacing_mm=(float(first.pixel_spacing[0]), float(first.pixel_spacing[1])),  # type: ignore[index]
        slice_spacing_mm=spacing if spacing is not None else thickness,
        slice_thickness_mm=thickness,
        orientation=tuple(float(v) for v in (*row_dir, *col_dir)),  # type: ignore[arg-type]
        normal=tuple(float(v) for v in normal),  # type: ignore[arg-type]
        origin_mm=tuple(float(v) for v in first_slice.position),  # type: ignore[arg-type, union-attr]
        rows=first.rows,
        columns=first.columns,
        slice_count=len(layout),
        phases=phases,
    )
    return OrderedSeries(
        study_instance_uid=first.study_uid,
        series_instance_uid=first.series_uid,
        modality=first.modality,
        body_part_examined=first.body_part,
        instances=tuple(instances),
        geometry=geometry,
        cine=cine,
    )


def _parse_all(files: Iterable[tuple[str | None, bytes]]) -> list[_Slice]:
    slices: list[_Slice] = []
    seen: set[str] = set()
    total_pixels = 0
    for name, data in files:
        s = _parse_slice(name, bytes(data))
        if s.sha256 in seen:
            continue  # the same file twice (e.g. in two folders of a zip) is one instance
        seen.add(s.sha256)
        total_pixels += s.rows * s.columns
        if total_pixels > MAX_SERIES_VOXELS:
            raise SeriesRejected("image_too_large", "The series has too many voxels to process.")
        slices.append(s)
    if not slices:
        raise SeriesRejected("series_too_few_slices", "No DICOM files were sent.")
    return slices


# DICOM UID grammar (PS3.5 9.1): digits and dots, at most 64 characters. Object keys are built from these UIDs, so
# anything else is refused here rather than trusted.
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def _check_one_series(slices: list[_Slice]) -> None:
    for s in slices:
        for uid in (s.study_uid, s.series_uid):
            if uid is not None and (len(uid) > 64 or not _UID.match(uid)):
                raise SeriesRejected("malformed_dicom", "A file carries an invalid Study or Series Instance UID.")
    series = {s.series_uid for s in slices}
    studies = {s.study_uid for s in slices}
    if len(series) > 1 or len(studies) > 1:
        raise SeriesRejected(
            "series_mixed",
            f"The files belong to {len(series)} series of {len(studies)} stud{'y' if len(studies) == 1 else 'ies'}; "
            "send the files of exactly one series.",
        )


def _single_projection(s: _Slice) -> OrderedSeries:
    geometry = SeriesGeometry(
        pixel_spacing_mm=s.pixel_spacing, slice_spacing_mm=None, slice_thickness_mm=s.thickness, orientation=None,
        normal=None, origin_mm=None, rows=s.rows, columns=s.columns, slice_count=1, phases=1,
    )
    instance = OrderedInstance(
        filename=s.filename, data=s.data, sha256=s.sha256, sop_instance_uid=s.sop_uid, position=0, slice_index=0,
        location_mm=None, phase=0, trigger_time_ms=s.trigger_time, header=s.header,
    )
    return OrderedSeries(
        study_instance_uid=s.study_uid, series_instance_uid=s.series_uid, modality=s.modality,
        body_part_examined=s.body_part, instances=(instance,), geometry=geometry,
    )


def _directions(orientation: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    row = np.asarray(orientation[:3], dtype=np.float64)
    col = np.asarray(orientation[3:], dtype=np.float64)
    row_norm, col_norm = float(np.linalg.norm(row)), float(np.linalg.norm(col))
    # Direction cosines are unit vectors at right angles; DS rounding leaves ~1e-6. Anything far off is not an
    # orientation at all (zeros, a parallel pair), and ordering along its "normal" would be meaningless.
    if abs(row_norm - 1.0) > 0.01 or abs(col_norm - 1.0) > 0.01 or abs(float(np.dot(row, col))) > 0.01:
        raise SeriesRejected(
            "series_missing_geometry", "The Image Orientation (Patient) of the series is not a valid orientation."
        )
    row, col = row / row_norm, col / col_norm
    normal = np.cross(row, col)
    return row, col, normal / float(np.linalg.norm(normal))


def _sorted_by_location(slices: list[_Slice]) -> list[_Slice]:
    # SOP Instance UID (then content hash) only breaks exact ties deterministically; ties are refused anyway.
    return sorted(slices, key=lambda s: (s.location, s.sop_uid or "", s.sha256))


def _stack_layout(slices: list[_Slice]) -> list[list[_Slice]]:
    ordered = _sorted_by_location(slices)
    for a, b in zip(ordered, ordered[1:]):
        if b.location - a.location < POSITION_TOLERANCE_MM:
            raise SeriesRejected(
                "series_duplicate_position",
                f"Two slices are at the same position ({a.location:.2f} mm along the normal).",
            )
    return [[s] for s in ordered]


def _cine_layout(slices: list[_Slice]) -> list[list[_Slice]]:
    ordered = _sorted_by_location(slices)
    groups: list[list[_Slice]] = []
    for s in ordered:
        if groups and s.location - groups[-1][0].location < POSITION_TOLERANCE_MM:
            groups[-1].append(s)
        else:
            groups.append([s])
    out = []
    for group in groups:
        if all(s.trigger_time is not None for s in group):
            key = [s.trigger_time for s in group]
        elif all(s.temporal_position is not None for s in group):
            key = [float(s.temporal_position) for s in group]  # type: ignore[arg-type]
        elif len(group) == 1:
            key = [0.0]
        else:
            raise SeriesRejected(
                "series_missing_geometry",
                "The cine slices carry neither Trigger Time nor Temporal Position Identifier; "
                "phases cannot be ordered.",
            )
        pairs = sorted(zip(key, range(len(group))))
        for (t1, _), (t2, _) in zip(pairs, pairs[1:]):
            if abs(t2 - t1) < 1e-6:
                raise SeriesRejected(
                    "series_duplicate_position",
                    f"Two images share the same position ({group[0].location:.2f} mm) and phase.",
                )
        out.append([group[i] for _, i in pairs])
    counts = sorted({len(g) for g in out})
    if len(counts) > 1:
        raise SeriesRejected(
            "series_phases_uneven",
            f"The slice locations have different numbers of phases ({counts[0]} to {counts[-1]}); "
            "every location of a cine series needs every phase.",
        )
    return out


def _check_spacing(locations: list[float]) -> float | None:
    """The typical slice spacing; refuses a gap (a missing slice). ``locations`` are sorted and distinct."""
    if len(locations) < 2:
        return None
    gaps = np.diff(np.asarray(locations, dtype=np.float64))
    # The lower median: with only two gaps (three slices) the plain median would be the mean of a regular gap and a
    # doubled one, hiding exactly the missing slice this check is for.
    typical = float(np.sort(gaps)[(len(gaps) - 1) // 2])
    worst = int(np.argmax(gaps))
    if gaps[worst] > GAP_FACTOR * typical:
        raise SeriesRejected(
            "series_incomplete",
            f"A slice is missing: a gap of {gaps[worst]:.2f} mm after slice {worst + 1} where the spacing is "
            f"{typical:.2f} mm.",
        )
    return round(typical, 4)


def _consensus(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None and v > 0]
    if not present:
        return None
    return float(np.median(present))


# ---------------------------------------------------------------------------------------------------------------------
# Pixels
# ---------------------------------------------------------------------------------------------------------------------
def decode_modality_pixels(data: bytes, rows: int | None = None, columns: int | None = None) -> np.ndarray:
    """One single-frame DICOM image as float32 modality units (PS3.4 modality LUT: Rescale Slope/Intercept or a
    Modality LUT Sequence), no VOI/windowing. Raises SeriesRejected when the pixel data cannot be decoded or has an
    unexpected size."""
    import pydicom
    from pydicom.pixels import apply_modality_lut

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=not (len(data) >= 132 and data[128:132] == b"DICM"))
            _default_transfer_syntax(ds)
            stored = ds.pixel_array
        except MemoryError:
            raise SeriesRejected("image_too_large", "A slice is too large to decode.") from None
        except Exception as exc:  # noqa: BLE001 - decoder failures are the sender's data
            if "less than expected" in str(exc):
                raise SeriesRejected(
                    "truncated_dicom", "A slice's pixel data is shorter than its header says."
                ) from None
            logger.info("Series pixel decoding failed: %s", type(exc).__name__)
            raise SeriesRejected(
                "undecodable_pixel_data", "A slice's image data could not be decoded (unsupported compression?)."
            ) from None
        stored = np.asarray(stored)
        if stored.ndim != 2:
            raise SeriesRejected("unsupported_image", "A slice is not a single grayscale 2-D image.")
        if rows is not None and stored.shape != (rows, columns):
            raise SeriesRejected("series_inconsistent_geometry", "A slice's pixel data does not match the series size.")
        try:
            values = apply_modality_lut(stored, ds)
        except Exception:  # noqa: BLE001 - a broken rescale: stored values are the best we have
            values = stored
    return np.asarray(values, dtype=np.float32)
