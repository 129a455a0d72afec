"""Parse, validate and prepare uploaded radiographs (DICOM Part 10, PNG, JPEG).

Pure functions, no Django: the API and the Celery tasks call these and turn ``ImageRejected`` into an HTTP 4xx
with ``code`` as the stable machine-readable error.

Privacy: nothing in this module puts patient data (names, IDs, dates, free text from the header) into an exception
message or a log line. pydicom's own warnings may quote element values, so parsing runs with warnings captured and
discarded, and the ``pydicom`` logger gets a filter that replaces such messages with a fixed text.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import re
import struct
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------------------------------------------------
# A 43x43 cm detector at 0.1 mm is ~4300x4300 px; 16-bit uncompressed that is ~37 MB. Leave generous headroom for
# multi-frame uploads we will reject anyway, but refuse anything that could exhaust a worker's memory.
MAX_UPLOAD_BYTES = 256 * 1024 * 1024
# Checked before any pixel data is decoded (DICOM Rows x Columns x frames, PNG/JPEG header size): a tiny compressed
# file can declare a huge image (decompression bomb).
MAX_PIXELS = 64 * 1024 * 1024

# ---------------------------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------------------------
_HTTP_STATUS = {
    "empty_file": 400,
    "file_too_large": 413,
    "image_too_large": 413,
    "not_an_image": 415,
    "truncated_dicom": 400,
    "malformed_dicom": 400,
    "no_pixel_data": 422,
    "undecodable_pixel_data": 422,
    "unsupported_image": 422,
    "unsupported_modality": 422,
    "unsupported_body_part": 422,
    "image_too_small": 422,
    "unknown_model": 400,
}


class ImageRejected(Exception):
    """An upload that cannot be used. ``code`` is stable and machine-readable; ``message`` is plain words for a
    person and never contains patient data; ``http_status`` is the 4xx the API should answer with."""

    def __init__(self, code: str, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status if http_status is not None else _HTTP_STATUS.get(code, 422)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"ImageRejected(code={self.code!r}, http_status={self.http_status})"


# ---------------------------------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParsedImage:
    """One decoded 2-D grayscale image plus the header facts the platform needs.

    ``pixels`` is float32 in [0, 1], display-ready (modality LUT, VOI LUT/window, MONOCHROME1 inverted so bone is
    bright). Header fields are None for PNG/JPEG and when the DICOM tag is absent or invalid.
    """

    format: str  # "dicom" | "png" | "jpeg"
    pixels: np.ndarray = field(repr=False, compare=False)
    content_type: str
    rows: int
    columns: int
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    modality: str | None = None
    body_part_examined: str | None = None
    laterality: str | None = None
    view_position: str | None = None
    patient_sex: str | None = None  # "M" | "F" | None
    patient_age_months: float | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    transfer_syntax_uid: str | None = None
    photometric_interpretation: str | None = None
    accession_number: str | None = None
    study_description: str | None = None
    series_description: str | None = None
    protocol_name: str | None = None
    converted_from_colour: bool = False


# ---------------------------------------------------------------------------------------------------------------------
# Log hygiene for pydicom
# ---------------------------------------------------------------------------------------------------------------------
class _SuppressPydicomValues(logging.Filter):
    """pydicom logs validation problems with the offending value quoted (which can be a patient name or date). Keep
    the signal that something was odd, drop the text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.WARNING:
            record.msg = "pydicom reported a data element problem (details suppressed: may contain patient data)"
            record.args = ()
        return True


_pydicom_logger = logging.getLogger("pydicom")
if not any(isinstance(f, _SuppressPydicomValues) for f in _pydicom_logger.filters):
    _pydicom_logger.addFilter(_SuppressPydicomValues())


# ---------------------------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------------------------
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


def parse_upload(data: bytes, filename: str | None = None) -> ParsedImage:
    """Sniff, parse and decode one uploaded file.

    ``data`` is the raw upload; ``filename`` is informational only (content decides, never the extension).
    Returns a ``ParsedImage``. Raises ``ImageRejected`` and nothing else, whatever the input.
    """
    try:
        return _parse_upload(data)
    except ImageRejected:
        raise
    except MemoryError:
        raise ImageRejected("image_too_large", "The image is too large to process.") from None
    except Exception as exc:  # noqa: BLE001 - the contract is "only ImageRejected"; never echo exc text (PHI)
        logger.warning("Unexpected %s while parsing an upload; rejected as malformed", type(exc).__name__)
        raise ImageRejected("malformed_dicom", "The file could not be read as a valid image.") from None


def _parse_upload(data: bytes) -> ParsedImage:
    if data is None or len(data) == 0:
        raise ImageRejected("empty_file", "The uploaded file is empty.")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageRejected("not_an_image", "The upload is not a file.")
    data = bytes(data)
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageRejected(
            "file_too_large", f"The file is larger than the {MAX_UPLOAD_BYTES // (1024 * 1024)} MB limit."
        )
    if len(data) >= 132 and data[128:132] == b"DICM":
        return _parse_dicom(data, force=False)
    if data.startswith(_PNG_MAGIC) or data.startswith(_JPEG_MAGIC):
        return _parse_plain_image(data)
    if _looks_like_headerless_dicom(data):
        return _parse_dicom(data, force=True)
    raise ImageRejected(
        "not_an_image", "The file is neither a DICOM file nor a PNG or JPEG image."
    )


# ---------------------------------------------------------------------------------------------------------------------
# DICOM
# ---------------------------------------------------------------------------------------------------------------------
def _looks_like_headerless_dicom(data: bytes) -> bool:
    """DICOM written without the 128-byte preamble and "DICM" (old ACR-NEMA style or raw datasets). pydicom's
    force=True would "parse" almost anything, so only try it when the first element tag is plausible: group 0x0002
    (file meta) or 0x0008 (identifying group, always first in a real dataset), little-endian, and an element number
    or VR that makes sense."""
    if len(data) < 8:
        return False
    group = int.from_bytes(data[0:2], "little")
    element = int.from_bytes(data[2:4], "little")
    if group not in (0x0002, 0x0008) or element > 0x0100:
        return False
    vr = data[4:6]
    if vr.isalpha() and vr.isupper():
        return True  # explicit VR
    length = int.from_bytes(data[4:8], "little")  # implicit VR: a sane length for a header element
    return length < 1024


def _parse_dicom(data: bytes, *, force: bool) -> ParsedImage:
    import pydicom
    from pydicom.errors import InvalidDicomError

    with warnings.catch_warnings(record=True) as caught:
        # catch_warnings is process-global; gunicorn sync workers and Celery prefork run one parse per process at a
        # time. Recording (not just ignoring) lets us see pydicom's "End of file" warnings, which is how a truncated
        # dataset shows up: pydicom returns an *empty* dataset instead of raising.
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=force)
        except InvalidDicomError:
            raise ImageRejected("malformed_dicom", "The file has a DICOM marker but is not a valid DICOM file.") from None
        except (EOFError, struct.error):
            raise ImageRejected("truncated_dicom", "The DICOM file ends before its data is complete.") from None
        except Exception as exc:  # noqa: BLE001
            logger.info("DICOM read failed: %s", type(exc).__name__)
            raise ImageRejected("malformed_dicom", "The DICOM file is damaged and could not be read.") from None
        hit_eof = any(_is_eof_warning(w.message) for w in caught)
        try:
            # pydicom parses lazily; force every element now so that bad sequences and broken values surface here
            # rather than later inside request handling.
            n_elements = sum(1 for _ in ds.iterall())
        except (EOFError, struct.error):
            raise ImageRejected("truncated_dicom", "The DICOM file ends before its data is complete.") from None
        except Exception as exc:  # noqa: BLE001
            logger.info("DICOM element parsing failed: %s", type(exc).__name__)
            raise ImageRejected("malformed_dicom", "The DICOM file contains damaged data elements.") from None
        hit_eof = hit_eof or any(_is_eof_warning(w.message) for w in caught)

        has_pixels = any(kw in ds for kw in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))
        if hit_eof and not has_pixels:
            raise ImageRejected("truncated_dicom", "The DICOM file ends before its data is complete.")
        if force and (n_elements == 0 or not has_pixels):
            # A forced read of something without a DICOM header is only credible if it yields an image.
            raise ImageRejected("not_an_image", "The file is neither a DICOM file nor a PNG or JPEG image.")
        if not has_pixels:
            raise ImageRejected(
                "no_pixel_data",
                "The DICOM file contains no image (for example a report, a structured document or a DICOMDIR).",
            )
        if hit_eof:
            raise ImageRejected("truncated_dicom", "The DICOM file ends before its pixel data is complete.")

        meta = _dicom_header(ds)
        pixels, converted = _dicom_pixels(ds, meta)
    rows, columns = pixels.shape
    return ParsedImage(
        format="dicom",
        pixels=pixels,
        content_type="application/dicom",
        rows=int(rows),
        columns=int(columns),
        converted_from_colour=converted,
        **meta,
    )


def _is_eof_warning(message: Any) -> bool:
    text = str(message)
    return "End of file" in text or "end of file" in text or "EOF" in text


def _text(ds: Any, keyword: str) -> str | None:
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001 - an undecodable value counts as absent
        return None
    if value is None:
        return None
    if not isinstance(value, (str, bytes)) and hasattr(value, "__iter__"):
        value = next(iter(value), None)
        if value is None:
            return None
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = str(value).strip().strip("\x00").strip()
    return text or None


def _int(ds: Any, keyword: str, default: int | None = None) -> int | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return default
        return int(value)
    except Exception:  # noqa: BLE001
        return default


def _spacing(ds: Any) -> tuple[float, float] | None:
    # PixelSpacing is calibrated to the patient; ImagerPixelSpacing is at the detector (magnification not corrected).
    # Either is good enough for a hand radiograph; prefer the calibrated one when it is valid.
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        try:
            value = ds.get(keyword)
            if value is None:
                continue
            pair = [float(v) for v in value]
        except Exception:  # noqa: BLE001
            continue
        if len(pair) == 2 and all(math.isfinite(v) and 0.0 < v < 10.0 for v in pair):
            return (pair[0], pair[1])
    return None


_AGE_RE = re.compile(r"^\s*(\d{1,3})\s*([DWMY])\s*$", re.IGNORECASE)
_DAYS_PER_MONTH = 365.25 / 12


def _age_months(ds: Any) -> float | None:
    """PatientAge ("010Y", "006M", "030W", "012D") if valid, else PatientBirthDate to StudyDate/AcquisitionDate/
    ContentDate."""
    age = _text(ds, "PatientAge")
    if age:
        match = _AGE_RE.match(age)
        if match:
            n, unit = int(match.group(1)), match.group(2).upper()
            months = {"Y": n * 12.0, "M": float(n), "W": n * 7 / _DAYS_PER_MONTH, "D": n / _DAYS_PER_MONTH}[unit]
            return round(months, 2)
    birth = _date(ds, "PatientBirthDate")
    if birth is None:
        return None
    for keyword in ("StudyDate", "AcquisitionDate", "ContentDate", "SeriesDate"):
        when = _date(ds, keyword)
        if when is not None:
            days = (when - birth).days
            return round(days / _DAYS_PER_MONTH, 2) if days >= 0 else None
    return None


def _date(ds: Any, keyword: str) -> dt.date | None:
    text = _text(ds, keyword)
    if not text:
        return None
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _dicom_header(ds: Any) -> dict[str, Any]:
    sex = (_text(ds, "PatientSex") or "").upper()
    try:
        tsuid = str(ds.file_meta.TransferSyntaxUID) if "TransferSyntaxUID" in ds.file_meta else None
    except Exception:  # noqa: BLE001
        tsuid = None
    return {
        "study_instance_uid": _text(ds, "StudyInstanceUID"),
        "series_instance_uid": _text(ds, "SeriesInstanceUID"),
        "sop_instance_uid": _text(ds, "SOPInstanceUID"),
        "modality": (_text(ds, "Modality") or "").upper() or None,
        "body_part_examined": (_text(ds, "BodyPartExamined") or "").upper() or None,
        # ImageLaterality (DX/CR/MG) first, then the series-level Laterality. Informational only: real devices get
        # it wrong (the reference hand file says R on a left hand with an "L" marker).
        "laterality": (_text(ds, "ImageLaterality") or _text(ds, "Laterality") or "").upper() or None,
        "view_position": (_text(ds, "ViewPosition") or "").upper() or None,
        "patient_sex": sex if sex in ("M", "F") else None,
        "patient_age_months": _age_months(ds),
        "pixel_spacing_mm": _spacing(ds),
        "transfer_syntax_uid": tsuid,
        "photometric_interpretation": (_text(ds, "PhotometricInterpretation") or "").upper() or None,
        "accession_number": _text(ds, "AccessionNumber"),
        "study_description": _text(ds, "StudyDescription"),
        "series_description": _text(ds, "SeriesDescription"),
        "protocol_name": _text(ds, "ProtocolName"),
    }


def _dicom_pixels(ds: Any, meta: dict[str, Any]) -> tuple[np.ndarray, bool]:
    """Decode to a display-ready 2-D float32 array in [0, 1]. Returns (pixels, converted_from_colour)."""
    rows, columns = _int(ds, "Rows"), _int(ds, "Columns")
    if not rows or not columns or rows <= 0 or columns <= 0:
        raise ImageRejected("malformed_dicom", "The DICOM image has no valid size (Rows/Columns).")
    frames = 1
    if "NumberOfFrames" in ds and _text(ds, "NumberOfFrames") is not None:
        frames = _int(ds, "NumberOfFrames", None)  # type: ignore[assignment]
    if frames is None or frames < 0:
        raise ImageRejected("malformed_dicom", "The DICOM header has an invalid number of frames.")
    samples = _int(ds, "SamplesPerPixel", 1) or 1
    if rows * columns * max(frames, 1) > MAX_PIXELS:
        raise ImageRejected("image_too_large", "The image has too many pixels to process.")
    if frames > 1:
        raise ImageRejected(
            "unsupported_image",
            f"The DICOM file holds {frames} frames (a series or volume); a single projection radiograph is required.",
        )
    photometric = meta["photometric_interpretation"] or ("MONOCHROME2" if samples == 1 else "RGB")

    _default_transfer_syntax(ds)
    try:
        array = ds.pixel_array
    except ImageRejected:
        raise
    except MemoryError:
        raise ImageRejected("image_too_large", "The image is too large to decode.") from None
    except Exception as exc:  # noqa: BLE001 - every decoder/plugin failure is the sender's data, not our bug
        if "less than expected" in str(exc):
            raise ImageRejected("truncated_dicom", "The DICOM pixel data is shorter than its header says.") from None
        logger.info("Pixel decoding failed: %s", type(exc).__name__)
        raise ImageRejected(
            "undecodable_pixel_data",
            "The image data could not be decoded (unsupported or damaged compression). "
            "Please send it uncompressed or as standard JPEG/JPEG 2000.",
        ) from None

    array = np.asarray(array)
    if array.ndim == 3 and array.shape[0] == 1 and samples == 1:
        array = array[0]
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]

    if photometric == "PALETTE COLOR" and array.ndim == 2:
        from pydicom.pixels import apply_color_lut

        try:
            array = apply_color_lut(array, ds)
        except Exception:  # noqa: BLE001
            raise ImageRejected(
                "undecodable_pixel_data", "The palette colour image could not be decoded."
            ) from None

    if array.ndim == 3 and array.shape[-1] in (3, 4):
        bits = _int(ds, "BitsStored") or _int(ds, "BitsAllocated") or 8
        if photometric == "PALETTE COLOR":
            bits = 16 if array.dtype.itemsize > 1 else 8  # palette LUT output is 8 or 16 bit
        return _colour_to_gray(array[..., :3].astype(np.float64) / float(2 ** min(bits, 32) - 1)), True
    if array.ndim != 2:
        raise ImageRejected("unsupported_image", "The DICOM image is not a single 2-D image.")

    if not photometric.startswith("MONOCHROME"):
        # e.g. YBR with one sample per pixel: malformed header for a grayscale image
        raise ImageRejected(
            "unsupported_image", "The DICOM image uses a colour model that is not supported for radiographs."
        )
    return _monochrome_display(array, ds, invert=photometric == "MONOCHROME1"), False


def _default_transfer_syntax(ds: Any) -> None:
    """Files without file meta (no preamble) carry no Transfer Syntax UID, yet pydicom needs one to decode. Native
    pixel data read successfully tells us the encoding, so state it; encapsulated (compressed) data cannot be
    guessed and will fail as undecodable."""
    try:
        if "TransferSyntaxUID" in ds.file_meta:
            return
        from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

        implicit, little = ds.original_encoding
        if implicit is None or little is None:
            return
        if implicit:
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        else:
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian if little else ExplicitVRBigEndian
    except Exception:  # noqa: BLE001 - leave it to the decoder to complain
        return


def _monochrome_display(array: np.ndarray, ds: Any, *, invert: bool) -> np.ndarray:
    """Grayscale pipeline of DICOM PS3.4 Grayscale Standard Display: modality LUT -> VOI LUT or window -> polarity.

    VOI choice: a VOI LUT Sequence (vendor-tuned, often non-linear) wins over Window Center/Width, as in pydicom's
    default; the first item is used when several are offered. With neither, a 0.5-99.5 percentile stretch avoids
    a few hot or dead pixels flattening the contrast.
    """
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = array
    try:
        values = apply_modality_lut(array, ds)
    except Exception:  # noqa: BLE001 - broken Rescale/LUT: fall back to stored values
        values = array
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)

    out: np.ndarray | None = None
    if "VOILUTSequence" in ds:
        out = _apply_voi_lut_sequence(values, ds, apply_voi_lut)
    if out is None:
        window = _first_window(ds)
        if window is not None:
            out = _window(values, *window, function=(_text(ds, "VOILUTFunction") or "LINEAR").upper())
    if out is None:
        out = _stretch(values)
    out = np.clip(out, 0.0, 1.0)
    if invert:
        # MONOCHROME1: the lowest value is displayed white. Applied after VOI, as the standard's pipeline does. In
        # the DX IOD Presentation LUT Shape INVERSE merely restates MONOCHROME1, so it is not applied a second time.
        out = 1.0 - out
    return out.astype(np.float32)


def _apply_voi_lut_sequence(values: np.ndarray, ds: Any, apply_voi_lut: Any) -> np.ndarray | None:
    try:
        item = ds.VOILUTSequence[0]
        lut = np.asarray(item.LUTData, dtype=np.float64).ravel()
        if lut.size < 2:
            return None
        mapped = np.asarray(apply_voi_lut(values, ds, index=0, prefer_lut=True), dtype=np.float64)
    except Exception:  # noqa: BLE001 - a broken LUT falls back to the window or a stretch
        return None
    low, high = float(lut.min()), float(lut.max())
    if high <= low:
        return None
    # Normalise by the LUT's actual output range rather than the declared bit depth: several vendors declare 16
    # bits and use 12.
    return (mapped - low) / (high - low)


def _first_window(ds: Any) -> tuple[float, float] | None:
    try:
        centre, width = ds.get("WindowCenter"), ds.get("WindowWidth")
        if centre is None or width is None:
            return None
        if not isinstance(centre, (str, bytes, int, float)) and hasattr(centre, "__iter__"):
            centre = list(centre)[0]
        if not isinstance(width, (str, bytes, int, float)) and hasattr(width, "__iter__"):
            width = list(width)[0]
        c, w = float(centre), float(width)
    except Exception:  # noqa: BLE001
        return None
    if not (math.isfinite(c) and math.isfinite(w)) or w < 1.0:
        return None
    return c, w


def _window(values: np.ndarray, centre: float, width: float, *, function: str) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2 window, output normalised to [0, 1]."""
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - centre) / width))
    if function == "LINEAR_EXACT":
        return (values - (centre - width / 2.0)) / width
    # LINEAR: the standard's half-pixel offsets
    return ((values - (centre - 0.5)) / (width - 1.0)) + 0.5 if width > 1.0 else (values >= centre).astype(float)


def _stretch(values: np.ndarray) -> np.ndarray:
    low, high = np.percentile(values, [0.5, 99.5]) if values.size else (0.0, 0.0)
    if high <= low:
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    if high <= low:
        return np.zeros_like(values, dtype=np.float64)
    return (values - low) / (high - low)


# A radiograph is grayscale by nature. Colour DICOM (secondary capture) or colour PNG/JPEG are accepted only when
# the colour is incidental (a scanned film or a viewer export saved as RGB, a small coloured annotation): then it
# becomes luminance. A genuinely colourful picture (photo, ultrasound Doppler, a face) is rejected rather than
# guessed at.
_CHROMA_PIXEL_THRESHOLD = 0.08  # per-pixel max-min across channels, on a [0, 1] scale
_CHROMA_MAX_FRACTION = 0.02  # fraction of pixels allowed above that threshold


def _colour_to_gray(rgb: np.ndarray) -> np.ndarray:
    rgb = np.clip(np.nan_to_num(rgb), 0.0, 1.0)
    chroma = rgb.max(axis=-1) - rgb.min(axis=-1)
    if float(np.mean(chroma > _CHROMA_PIXEL_THRESHOLD)) > _CHROMA_MAX_FRACTION:
        raise ImageRejected(
            "unsupported_image",
            "The image is in colour; a grayscale radiograph is required.",
        )
    # ITU-R BT.601 luma, the same weights Pillow uses for "L"
    gray = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.clip(gray, 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------------
# PNG / JPEG
# ---------------------------------------------------------------------------------------------------------------------
def _parse_plain_image(data: bytes) -> ParsedImage:
    # WeasyPrint (the PDF reports) sets Pillow's process-wide LOAD_TRUNCATED_IMAGES on import, which would make a
    # truncated upload decode as grey padding instead of being refused: the platform needs the strict default.
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    fmt_expected = "png" if data.startswith(_PNG_MAGIC) else "jpeg"
    with warnings.catch_warnings():
        # Pillow signals a possible decompression bomb with a warning below its hard limit; we enforce our own.
        warnings.simplefilter("ignore")
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError:
            raise ImageRejected("image_too_large", "The image has too many pixels to process.") from None
        except Exception:  # noqa: BLE001
            raise ImageRejected("not_an_image", f"The file looks like a {fmt_expected.upper()} but cannot be read.") from None
        fmt = (image.format or "").lower()
        if fmt not in ("png", "jpeg"):
            raise ImageRejected("not_an_image", "Only PNG and JPEG images are accepted besides DICOM.")
        width, height = image.size
        if width <= 0 or height <= 0:
            raise ImageRejected("not_an_image", "The image has no valid size.")
        if width * height > MAX_PIXELS:
            raise ImageRejected("image_too_large", "The image has too many pixels to process.")
        if getattr(image, "n_frames", 1) > 1:
            raise ImageRejected("unsupported_image", "Animated images are not accepted; send a single radiograph.")
        try:
            image.load()
            image = ImageOps.exif_transpose(image)  # phone/scanner JPEGs may be stored rotated
            pixels, converted = _pil_to_gray(image)
        except ImageRejected:
            raise
        except Image.DecompressionBombError:
            raise ImageRejected("image_too_large", "The image has too many pixels to process.") from None
        except Exception as exc:  # noqa: BLE001 - truncated or corrupt stream
            logger.info("Image decoding failed: %s", type(exc).__name__)
            raise ImageRejected(
                "undecodable_pixel_data", f"The {fmt.upper()} image is damaged or truncated and cannot be decoded."
            ) from None
    rows, columns = pixels.shape
    return ParsedImage(
        format=fmt,
        pixels=pixels,
        content_type=f"image/{fmt}",
        rows=int(rows),
        columns=int(columns),
        photometric_interpretation=None,
        converted_from_colour=converted,
    )


def _pil_to_gray(image: Image.Image) -> tuple[np.ndarray, bool]:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return (np.asarray(image, dtype=np.float64) / 65535.0).astype(np.float32), False
    if mode == "I":
        arr = np.asarray(image, dtype=np.float64)
        # 16-bit grayscale PNGs open as "I" on some Pillow versions
        scale = 65535.0 if arr.min(initial=0) >= 0 and arr.max(initial=0) <= 65535 else None
        return (np.clip(arr / scale, 0, 1) if scale else _stretch(arr)).astype(np.float32), False
    if mode == "F":
        return np.clip(_stretch(np.asarray(image, dtype=np.float64)), 0, 1).astype(np.float32), False
    if mode in ("1", "L", "LA", "La"):
        return (np.asarray(image.convert("L"), dtype=np.float32) / 255.0), False
    # P, RGB, RGBA, CMYK, YCbCr, LAB, ...: to RGB, then accept only if essentially gray
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    return _colour_to_gray(rgb), True


# ---------------------------------------------------------------------------------------------------------------------
# Fitness for a model
# ---------------------------------------------------------------------------------------------------------------------
# Projection radiography modalities. DR is retired but still sent by old equipment; RG is film/screen digitised.
_PROJECTION_MODALITIES = frozenset({"DX", "CR", "RG", "DR"})
# Captures of a radiograph (scanned film, viewer export): acceptable only when the header positively says hand.
_CAPTURE_MODALITIES = frozenset({"OT", "SC"})

# Matched as prefixes of words in BodyPartExamined and the descriptions, after upper-casing. Includes common
# non-English protocol words seen on European and Latin American equipment.
_HAND_WORDS = (
    "HAND", "WRIST", "CARP", "MANO", "MAIN", "POIGNET", "MUNECA", "MUÑECA", "POLSO", "PUNHO",
    "BONEAGE", "KNOCHENALTER", "SKELETALAGE",
)
_HAND_PHRASES = ("BONE AGE", "SKELETAL AGE", "EDAD OSEA", "EDAD ÓSEA", "AGE OSSEUX", "ÂGE OSSEUX", "ETA OSSEA")
# Present-but-uninformative BodyPartExamined values: decide from the descriptions instead.
_VAGUE_BODY_PARTS = frozenset({
    "EXTREMITY", "UPPEREXTREMITY", "UPPER EXTREMITY", "UPPERLIMB", "UPPER LIMB", "ARM", "LIMB", "OTHER",
    "UNKNOWN", "NONE", "ANY", "XRAY", "X-RAY", "RX", "SKELETON", "BONE", "BONES",
})
_OTHER_ANATOMY_WORDS = (
    "CHEST", "THORAX", "LUNG", "RIB", "BREAST", "ABDOMEN", "ABD", "PELVIS", "HIP", "SPINE", "CSPINE", "TSPINE",
    "LSPINE", "SKULL", "HEAD", "BRAIN", "NECK", "FACE", "SINUS", "DENT", "TEETH", "KNEE", "LEG", "FEMUR", "TIBIA",
    "FIBULA", "ANKLE", "FOOT", "FEET", "TOE", "HEEL", "CALCANEUS", "SHOULDER", "CLAVICLE", "ELBOW", "HUMERUS",
    "FOREARM", "SCAPULA", "SACRUM", "COCCYX", "KIDNEY", "HEART", "WHOLEBODY", "WHOLE BODY", "THORAX",
)

MODEL_INPUT_REQUIREMENTS: dict[str, dict[str, Any]] = {
    "bone_age": {
        "description": "Pediatric bone age from a single PA radiograph of the left hand and wrist.",
        "projection_modalities": sorted(_PROJECTION_MODALITIES),
        "capture_modalities_if_hand": sorted(_CAPTURE_MODALITIES),
        "body_part_words": _HAND_WORDS,
        # The model input is 512x512; below ~256 px on the short side the phalangeal epiphyses are a few pixels wide.
        "min_short_side_px": 256,
        "min_long_side_px": 256,
        "input_size": 512,
    },
    "mammography": {
        "description": "Lesion detection on one mammogram (MG), or a PNG/JPEG export of one.",
        "modalities": ["MG"],
        # The model input is 1024x832; far below that, microcalcification-sized detail is gone.
        "min_short_side_px": 512,
        "min_long_side_px": 512,
    },
}


def check_fit_for_model(parsed: ParsedImage, model_name: str) -> None:
    """Raise ``ImageRejected`` if ``parsed`` is not a suitable input for ``model_name``; return None if it is.

    Codes: ``unknown_model`` (400), ``unsupported_modality``, ``unsupported_body_part``, ``image_too_small`` (422).
    """
    requirements = MODEL_INPUT_REQUIREMENTS.get(model_name)
    if requirements is None:
        raise ImageRejected("unknown_model", "The requested analysis model is not available.")
    if model_name == "bone_age":
        _check_bone_age(parsed, requirements)
    elif model_name == "mammography":
        _check_mammography(parsed, requirements)


def _check_mammography(parsed: ParsedImage, requirements: dict[str, Any]) -> None:
    if parsed.format == "dicom":
        modality = parsed.modality or ""
        body_part = (parsed.body_part_examined or "").strip().upper()
        if modality not in requirements["modalities"] and not (modality in _CAPTURE_MODALITIES
                                                               and body_part == "BREAST"):
            raise ImageRejected("unsupported_modality",
                                f"Mammography needs a mammogram (MG); this is a {modality or 'DICOM'} image.")
        if body_part and body_part != "BREAST":
            raise ImageRejected("unsupported_body_part",
                                f"Mammography needs an image of the breast; this image is of the {body_part.lower()}.")
    short_side, long_side = sorted((parsed.rows, parsed.columns))
    if short_side < requirements["min_short_side_px"] or long_side < requirements["min_long_side_px"]:
        raise ImageRejected(
            "image_too_small",
            f"The image is {parsed.columns}x{parsed.rows} pixels; mammography needs at least "
            f"{requirements['min_short_side_px']} pixels on each side.",
        )


def _words(text: str | None) -> list[str]:
    return [w for w in re.split(r"[^0-9A-ZÀ-Ý]+", (text or "").upper()) if w]


def _mentions(texts: list[str | None], words: tuple[str, ...], phrases: tuple[str, ...] = ()) -> bool:
    for text in texts:
        if not text:
            continue
        upper = text.upper()
        if any(phrase in upper for phrase in phrases):
            return True
        tokens = _words(text)
        joined = "".join(tokens)
        if any(tok.startswith(word) for tok in tokens for word in words):
            return True
        if any(word in joined for word in words if len(word) >= 8):  # "BONEAGE", "KNOCHENALTER" spelled apart
            return True
    return False


def _check_bone_age(parsed: ParsedImage, requirements: dict[str, Any]) -> None:
    if parsed.format == "dicom":
        body_part = (parsed.body_part_examined or "").strip().upper()
        descriptions = [parsed.study_description, parsed.series_description, parsed.protocol_name]
        bp_is_hand = bool(body_part) and _mentions([body_part], _HAND_WORDS, _HAND_PHRASES)
        desc_is_hand = _mentions(descriptions, _HAND_WORDS, _HAND_PHRASES)
        desc_is_other = _mentions(descriptions, _OTHER_ANATOMY_WORDS)

        modality = parsed.modality or ""
        if modality in _CAPTURE_MODALITIES or not modality:
            if not (bp_is_hand or (not body_part and desc_is_hand and not desc_is_other)):
                raise ImageRejected(
                    "unsupported_modality",
                    f"A {modality or 'DICOM'} image without a hand body part cannot be used for bone age; "
                    "send the original hand radiograph (DX or CR).",
                )
        elif modality not in _PROJECTION_MODALITIES:
            raise ImageRejected(
                "unsupported_modality",
                f"Bone age needs a projection radiograph (DX or CR); this is a {modality} image.",
            )

        if body_part and not bp_is_hand and body_part not in _VAGUE_BODY_PARTS:
            # Body part examined is a coded header field and the strongest statement of anatomy we have.
            raise ImageRejected(
                "unsupported_body_part",
                f"Bone age needs a radiograph of the left hand; this image is of the {body_part.lower()}.",
            )
        if not bp_is_hand and desc_is_other and not desc_is_hand:
            raise ImageRejected(
                "unsupported_body_part",
                "Bone age needs a radiograph of the left hand; the study description names another body part.",
            )
        # BodyPartExamined is optional (type 3 in CR, often empty from HIS-driven worklists and many DX consoles),
        # so a blank or vague value with no contrary description is accepted: the HIS ordered a bone-age study.

    # PNG/JPEG carry no anatomy; the sending HIS asserts the content.
    short_side, long_side = sorted((parsed.rows, parsed.columns))
    if short_side < requirements["min_short_side_px"] or long_side < requirements["min_long_side_px"]:
        raise ImageRejected(
            "image_too_small",
            f"The image is {parsed.columns}x{parsed.rows} pixels; bone age needs at least "
            f"{requirements['min_short_side_px']} pixels on each side.",
        )


# ---------------------------------------------------------------------------------------------------------------------
# Model input and portal rendering
# ---------------------------------------------------------------------------------------------------------------------
def _resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32))
    # Lanczos in Pillow widens its kernel by the scale factor when shrinking, i.e. it is anti-aliased.
    return np.asarray(image.resize((width, height), Image.Resampling.LANCZOS), dtype=np.float32)


def preprocess_bone_age(pixels: np.ndarray, size: int = 512) -> np.ndarray:
    """Model input: float32 (1, 1, size, size), values in [0, 1]. The image is resized keeping its aspect ratio to
    fit ``size`` x ``size`` and centred on a zero (black) letterbox. Deterministic."""
    array = np.asarray(pixels, dtype=np.float32)
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError("pixels must be a non-empty 2-D array")
    if size < 1:
        raise ValueError("size must be positive")
    array = np.clip(np.nan_to_num(array, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    rows, cols = array.shape
    scale = size / max(rows, cols)
    new_rows = max(1, min(size, int(round(rows * scale))))
    new_cols = max(1, min(size, int(round(cols * scale))))
    resized = np.clip(_resize(array, new_cols, new_rows), 0.0, 1.0)
    out = np.zeros((1, 1, size, size), dtype=np.float32)
    top, left = (size - new_rows) // 2, (size - new_cols) // 2
    out[0, 0, top : top + new_rows, left : left + new_cols] = resized
    return out


def render_png(pixels: np.ndarray, max_side: int = 1024) -> bytes:
    """8-bit grayscale PNG of a display-ready [0, 1] image for the portal, longest side at most ``max_side``."""
    array = np.clip(np.nan_to_num(np.asarray(pixels, dtype=np.float32)), 0.0, 1.0)
    if array.ndim != 2 or array.size == 0:
        raise ValueError("pixels must be a non-empty 2-D array")
    rows, cols = array.shape
    if max(rows, cols) > max_side:
        scale = max_side / max(rows, cols)
        array = np.clip(_resize(array, max(1, round(cols * scale)), max(1, round(rows * scale))), 0.0, 1.0)
    image = Image.fromarray(np.round(array * 255.0).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
