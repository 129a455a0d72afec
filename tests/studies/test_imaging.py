"""Upload parsing and model-fitness checks (studies.imaging): real files from /work/shared/data/dicom and pydicom's
test files, plus synthetic datasets for the cases no real file covers."""

from __future__ import annotations

import io
import logging
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

from studies.imaging import (
    MODEL_INPUT_REQUIREMENTS,
    ImageRejected,
    ParsedImage,
    check_fit_for_model,
    parse_upload,
    preprocess_bone_age,
    render_png,
)

DATA = Path("/work/shared/data/dicom")
HAND = DATA / "hand" / "hand_dx_left_pa_f.dcm"
CHEST_CR = DATA / "pydicom-data" / "RG1_J2KI.dcm"
DX_MONO1 = DATA / "highdicom" / "dx_image.dcm"
KNOWN_CODES = {
    "empty_file", "file_too_large", "image_too_large", "not_an_image", "truncated_dicom", "malformed_dicom",
    "no_pixel_data", "undecodable_pixel_data", "unsupported_image", "unsupported_modality", "unsupported_body_part",
    "image_too_small", "unknown_model",
}

needs_shared_data = pytest.mark.skipif(not HAND.exists(), reason="shared DICOM test data not mounted")


def read(path: Path) -> bytes:
    return path.read_bytes()


def rejected(data: bytes, model: str | None = "bone_age") -> ImageRejected:
    with pytest.raises(ImageRejected) as info:
        parsed = parse_upload(data)
        if model:
            check_fit_for_model(parsed, model)
    return info.value


def make_dicom(
    pixels: np.ndarray,
    *,
    modality: str = "DX",
    body_part: str | None = "HAND",
    photometric: str = "MONOCHROME2",
    preamble: bool = True,
    **tags: object,
) -> bytes:
    """A minimal single-frame grayscale DICOM file, uncompressed explicit VR little endian."""
    pixels = np.asarray(pixels)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    if body_part is not None:
        ds.BodyPartExamined = body_part
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.astype("<u2").tobytes()
    buffer = io.BytesIO()
    if preamble:
        ds.preamble = b"\0" * 128
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    else:
        # Raw dataset, no preamble and no file meta: what some old PACS exports look like
        del ds.file_meta
        pydicom.dcmwrite(buffer, ds, implicit_vr=True, little_endian=True)
    return buffer.getvalue()


def ramp(rows: int = 300, cols: int = 260, high: int = 4000) -> np.ndarray:
    return np.tile(np.linspace(0, high, cols), (rows, 1)).astype(np.uint16)


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------------------------------
# The real pediatric hand radiograph
# ---------------------------------------------------------------------------------------------------------------------
@needs_shared_data
def test_real_hand_radiograph_parses_with_its_header_facts():
    parsed = parse_upload(read(HAND), "hand_dx_left_pa_f.dcm")

    # What the file's tags say (see SOURCES.md): GE DX, PA left hand, girl, 14-bit MONOCHROME2, 1531 x 1149,
    # ImagerPixelSpacing 0.19667 mm, ImageLaterality "R" (wrong: the image shows a left hand with an "L" marker),
    # PatientAge and PatientBirthDate empty after de-identification, so the age is unknown.
    assert parsed.format == "dicom"
    assert parsed.content_type == "application/dicom"
    assert parsed.modality == "DX"
    assert parsed.body_part_examined == "HAND"
    assert parsed.patient_sex == "F"
    assert parsed.patient_age_months is None
    assert parsed.photometric_interpretation == "MONOCHROME2"
    assert (parsed.rows, parsed.columns) == (1531, 1149)
    assert parsed.pixel_spacing_mm == pytest.approx((0.19667, 0.19667))
    assert parsed.view_position == "PA"
    assert parsed.laterality == "R"
    assert parsed.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert parsed.sop_instance_uid and parsed.study_instance_uid and parsed.series_instance_uid
    assert parsed.pixels.dtype == np.float32
    assert parsed.pixels.shape == (1531, 1149)
    assert 0.0 <= parsed.pixels.min() and parsed.pixels.max() <= 1.0


@needs_shared_data
def test_real_hand_radiograph_is_fit_for_bone_age_and_preprocesses_to_model_input():
    parsed = parse_upload(read(HAND))
    check_fit_for_model(parsed, "bone_age")

    tensor = preprocess_bone_age(parsed.pixels)

    assert tensor.shape == (1, 1, 512, 512)
    assert tensor.dtype == np.float32
    assert 0.0 <= tensor.min() and tensor.max() <= 1.0
    assert tensor.max() > 0.5  # bone is bright after the VOI LUT
    # Portrait image: full height, letterboxed left and right with zeros
    width = round(1149 * 512 / 1531)
    left = (512 - width) // 2
    assert np.all(tensor[0, 0, :, : left] == 0) and np.all(tensor[0, 0, :, left + width :] == 0)
    assert np.array_equal(tensor, preprocess_bone_age(parsed.pixels))


@needs_shared_data
def test_real_hand_radiograph_renders_a_grayscale_png_for_the_portal():
    parsed = parse_upload(read(HAND))
    png = render_png(parsed.pixels)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.mode == "L"
    assert max(image.size) == 1024 and image.size == (round(1149 * 1024 / 1531), 1024)
    assert render_png(parsed.pixels) == png


# ---------------------------------------------------------------------------------------------------------------------
# Wrong anatomy, wrong modality
# ---------------------------------------------------------------------------------------------------------------------
@needs_shared_data
def test_adult_chest_cr_is_rejected_as_unsupported_body_part():
    parsed = parse_upload(read(CHEST_CR))
    # Its header: CR, BodyPartExamined "CHEST", StudyDescription "THORAX", MONOCHROME1, lossy JPEG 2000,
    # PixelSpacing "0.000" (invalid, so ignored)
    assert parsed.modality == "CR"
    assert parsed.body_part_examined == "CHEST"
    assert parsed.photometric_interpretation == "MONOCHROME1"
    assert parsed.pixel_spacing_mm is None
    assert parsed.transfer_syntax_uid == "1.2.840.10008.1.2.4.91"

    with pytest.raises(ImageRejected) as info:
        check_fit_for_model(parsed, "bone_age")
    assert info.value.code == "unsupported_body_part"
    assert info.value.http_status == 422


@needs_shared_data
@pytest.mark.parametrize("name", ["RG3_J2KI.dcm", "RG3_J2KR.dcm"])
def test_lower_leg_cr_with_vague_body_part_is_rejected_from_its_description(name):
    # BodyPartExamined "EXTREMITY" says little; the study description names the tibia
    assert rejected(read(DATA / "pydicom-data" / name)).code == "unsupported_body_part"


@pytest.mark.parametrize("modality", ["CT", "MR", "US", "NM", "MG", "XA", "PT"])
def test_non_projection_modalities_are_rejected(modality):
    error = rejected(make_dicom(ramp(), modality=modality))
    assert error.code == "unsupported_modality" and error.http_status == 422


@pytest.mark.parametrize("modality", ["DX", "CR", "RG", "DR"])
def test_projection_radiographs_of_the_hand_are_accepted(modality):
    check_fit_for_model(parse_upload(make_dicom(ramp(), modality=modality)), "bone_age")


@pytest.mark.parametrize("body_part", ["HAND", "WRIST", "HANDS", "Hand", "LEFT HAND"])
def test_hand_and_wrist_body_parts_are_accepted(body_part):
    check_fit_for_model(parse_upload(make_dicom(ramp(), body_part=body_part)), "bone_age")


@pytest.mark.parametrize("body_part", ["CHEST", "LEG", "KNEE", "SKULL", "FOOT", "CSPINE", "PELVIS"])
def test_other_body_parts_are_rejected(body_part):
    assert rejected(make_dicom(ramp(), body_part=body_part)).code == "unsupported_body_part"


def test_missing_body_part_on_dx_is_accepted_because_many_consoles_leave_it_blank():
    check_fit_for_model(parse_upload(make_dicom(ramp(), body_part=None)), "bone_age")
    check_fit_for_model(parse_upload(make_dicom(ramp(), body_part="")), "bone_age")


def test_missing_body_part_is_decided_from_descriptions():
    knee = make_dicom(ramp(), body_part=None, SeriesDescription="KNEE AP")
    assert rejected(knee).code == "unsupported_body_part"
    hand = make_dicom(ramp(), body_part="EXTREMITY", StudyDescription="Bone age", ProtocolName="Hand PA")
    check_fit_for_model(parse_upload(hand), "bone_age")


@pytest.mark.parametrize("modality", ["OT", "SC"])
def test_secondary_captures_need_a_hand_body_part(modality):
    check_fit_for_model(parse_upload(make_dicom(ramp(), modality=modality, body_part="HAND")), "bone_age")
    assert rejected(make_dicom(ramp(), modality=modality, body_part=None)).code == "unsupported_modality"


def test_too_small_image_is_rejected():
    error = rejected(make_dicom(ramp(rows=200, cols=150)))
    assert error.code == "image_too_small" and error.http_status == 422
    assert MODEL_INPUT_REQUIREMENTS["bone_age"]["min_short_side_px"] == 256


def test_unknown_model_is_a_client_error():
    with pytest.raises(ImageRejected) as info:
        check_fit_for_model(parse_upload(make_dicom(ramp())), "no_such_model")
    assert info.value.code == "unknown_model" and info.value.http_status == 400


# ---------------------------------------------------------------------------------------------------------------------
# Display pipeline: modality LUT, VOI, MONOCHROME1
# ---------------------------------------------------------------------------------------------------------------------
@needs_shared_data
def test_monochrome1_is_inverted_so_bone_is_bright():
    # highdicom's dx_image.dcm: 8-bit MONOCHROME1, window 128/256, Presentation LUT Shape INVERSE
    original = parse_upload(read(DX_MONO1))
    assert original.photometric_interpretation == "MONOCHROME1"

    ds = pydicom.dcmread(DX_MONO1)
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PresentationLUTShape = "IDENTITY"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    as_monochrome2 = parse_upload(buffer.getvalue())

    np.testing.assert_allclose(original.pixels, 1.0 - as_monochrome2.pixels, atol=1e-6)


def test_synthetic_monochrome1_ramp_maps_lowest_value_to_white():
    pixels = ramp(high=4000)
    mono1 = parse_upload(make_dicom(pixels, photometric="MONOCHROME1", WindowCenter=2000, WindowWidth=4000))
    mono2 = parse_upload(make_dicom(pixels, photometric="MONOCHROME2", WindowCenter=2000, WindowWidth=4000))
    assert mono1.pixels[0, 0] == pytest.approx(1.0, abs=1e-3)
    assert mono1.pixels[0, -1] == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_allclose(mono1.pixels, 1.0 - mono2.pixels, atol=1e-6)


def test_rescale_and_first_window_are_applied():
    # stored 0..4000 with intercept -1000 -> -1000..3000; first window 1000 +/- 500 -> 500..1500 maps to 0..1
    pixels = ramp(high=4000)
    parsed = parse_upload(
        make_dicom(
            pixels, RescaleSlope=1, RescaleIntercept=-1000, WindowCenter=[1000, 0], WindowWidth=[1000, 5000]
        )
    )
    values = pixels[0].astype(float) - 1000
    row = parsed.pixels[0]
    assert np.all(row[values < 500] == 0.0)
    assert np.all(row[values > 1500] == 1.0)
    middle = np.argmin(np.abs(values - 1000))
    assert row[middle] == pytest.approx(0.5, abs=0.01)


def test_without_window_the_full_range_is_stretched():
    parsed = parse_upload(make_dicom(ramp(high=4000)))
    assert parsed.pixels.min() == 0.0 and parsed.pixels.max() == 1.0


def test_patient_age_is_read_from_patient_age_or_birth_and_study_dates():
    assert parse_upload(make_dicom(ramp(), PatientAge="010Y")).patient_age_months == 120
    assert parse_upload(make_dicom(ramp(), PatientAge="006M")).patient_age_months == 6
    assert parse_upload(make_dicom(ramp(), PatientAge="030W")).patient_age_months == pytest.approx(6.9, abs=0.05)
    assert parse_upload(make_dicom(ramp(), PatientAge="012D")).patient_age_months == pytest.approx(0.39, abs=0.01)
    from_dates = parse_upload(make_dicom(ramp(), PatientBirthDate="20150301", StudyDate="20250301"))
    assert from_dates.patient_age_months == pytest.approx(120, abs=0.1)
    assert parse_upload(make_dicom(ramp(), PatientSex="O")).patient_sex is None


def test_invalid_pixel_spacing_falls_back_to_imager_pixel_spacing():
    parsed = parse_upload(make_dicom(ramp(), PixelSpacing=[0, 0], ImagerPixelSpacing=[0.15, 0.15]))
    assert parsed.pixel_spacing_mm == (0.15, 0.15)


# ---------------------------------------------------------------------------------------------------------------------
# Broken and non-image uploads
# ---------------------------------------------------------------------------------------------------------------------
def test_empty_upload_is_rejected():
    error = rejected(b"")
    assert error.code == "empty_file" and error.http_status == 400


def test_random_bytes_are_not_an_image():
    data = np.random.default_rng(1234).integers(0, 256, 64 * 1024, dtype=np.uint8).tobytes()
    error = rejected(data)
    assert error.code == "not_an_image" and error.http_status == 415


def test_text_file_is_not_an_image():
    assert rejected(b"PatientName,Age\nsomeone,10\n" * 50).code == "not_an_image"


@needs_shared_data
def test_truncated_jpeg2000_dicom_is_rejected_as_truncated():
    error = rejected(read(DATA / "pydicom-data" / "emri_small_jpeg_2k_lossless_too_short.dcm"))
    assert error.code == "truncated_dicom" and error.http_status == 400


def test_truncated_uncompressed_pixel_data_is_rejected_as_truncated():
    assert rejected(Path(pydicom.data.get_testdata_file("MR_truncated.dcm")).read_bytes()).code == "truncated_dicom"


@needs_shared_data
@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.6, 0.9, 0.999])
def test_cut_off_real_files_are_rejected_cleanly(fraction):
    for path in (HAND, CHEST_CR):
        data = read(path)
        error = rejected(data[: int(len(data) * fraction)])
        assert error.code in {"truncated_dicom", "malformed_dicom", "undecodable_pixel_data", "no_pixel_data"}


@needs_shared_data
def test_bad_sequence_file_is_read_leniently_and_then_rejected_as_ct():
    # pydicom reads bad_sequence.dcm's broken sequence without failing; what remains is a CT slice of the neck
    error = rejected(read(DATA / "pydicom-data" / "bad_sequence.dcm"))
    assert error.code == "unsupported_modality"


@needs_shared_data
def test_dicom_without_pixel_data_is_rejected():
    error = rejected(read(DATA / "highdicom" / "sr_document.dcm"))
    assert error.code == "no_pixel_data" and error.http_status == 422


@needs_shared_data
@pytest.mark.parametrize(
    "name",
    ["liver_deflate.dcm", "liver_nonbyte_aligned_deflate.dcm", "liver_rle.dcm", "liver_nonbyte_aligned_rle.dcm"],
)
def test_broken_deflate_and_rle_segmentations_are_rejected_before_decoding(name):
    # Their pixel data does not decode, but they are 3-frame segmentations: refused before any decoding
    assert rejected(read(DATA / "pydicom-data" / name), model=None).code == "unsupported_image"


def test_undecodable_compressed_pixel_data_is_rejected():
    assert rejected(Path(pydicom.data.get_testdata_file("JPEG-lossy.dcm")).read_bytes()).code == (
        "undecodable_pixel_data"
    )

    ds = pydicom.dcmread(io.BytesIO(make_dicom(ramp())))
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    from pydicom.encaps import encapsulate

    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00garbage" * 10])
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    error = rejected(buffer.getvalue())
    assert error.code == "undecodable_pixel_data" and error.http_status == 422


@needs_shared_data
def test_multiframe_is_rejected_as_unsupported_image():
    assert rejected(read(DATA / "pydicom-data" / "emri_small.dcm")).code == "unsupported_image"


def test_dicom_without_preamble_is_accepted_when_it_holds_an_image():
    data = make_dicom(ramp(), preamble=False)
    assert data[128:132] != b"DICM"
    parsed = parse_upload(data)
    assert parsed.format == "dicom" and parsed.modality == "DX"
    check_fit_for_model(parsed, "bone_age")


@needs_shared_data
def test_headerless_colour_dicom_is_parsed_then_refused_for_colour():
    # OT-PAL-8-face has no file meta: read with force=True, palette decoded, then refused because it is a photo
    assert rejected(read(DATA / "pydicom-data" / "OT-PAL-8-face.dcm"), model=None).code == "unsupported_image"


def test_malformed_number_of_frames_is_malformed_dicom():
    assert rejected(Path(pydicom.data.get_testdata_file("badVR.dcm")).read_bytes()).code == "malformed_dicom"


# ---------------------------------------------------------------------------------------------------------------------
# PNG / JPEG
# ---------------------------------------------------------------------------------------------------------------------
def test_grayscale_png_is_accepted_without_dicom_header_checks():
    array = (np.tile(np.linspace(0, 255, 300), (400, 1))).astype(np.uint8)
    parsed = parse_upload(png_bytes(array), "hand.png")
    assert (parsed.format, parsed.content_type) == ("png", "image/png")
    assert parsed.sop_instance_uid is None and parsed.modality is None
    assert parsed.pixels.shape == (400, 300) and parsed.pixels.max() == 1.0
    check_fit_for_model(parsed, "bone_age")


def test_16_bit_png_keeps_its_depth():
    array = np.tile(np.linspace(0, 65535, 300), (400, 1)).astype(np.uint16)
    parsed = parse_upload(png_bytes(array))
    assert parsed.pixels[0, -1] == pytest.approx(1.0) and parsed.pixels[0, 150] == pytest.approx(0.5, abs=0.01)


def test_grey_rgb_jpeg_is_converted_and_colourful_images_are_refused():
    grey = np.tile(np.linspace(0, 255, 300), (400, 1)).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(buffer, format="JPEG", quality=95)
    parsed = parse_upload(buffer.getvalue())
    assert parsed.format == "jpeg" and parsed.content_type == "image/jpeg" and parsed.converted_from_colour

    colourful = np.zeros((400, 300, 3), dtype=np.uint8)
    colourful[..., 0] = 255
    colourful[::2, :, 2] = 200
    assert rejected(png_bytes(colourful), model=None).code == "unsupported_image"


def test_truncated_png_is_rejected():
    data = png_bytes(np.random.default_rng(1).integers(0, 255, (400, 300), dtype=np.uint8))
    assert rejected(data[: len(data) // 2], model=None).code in {"undecodable_pixel_data", "not_an_image"}


def test_png_decompression_bomb_is_refused_before_decoding():
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
    error = rejected(data + chunk(b"IEND", b""), model=None)
    assert error.code == "image_too_large" and error.http_status == 413


# ---------------------------------------------------------------------------------------------------------------------
# Privacy
# ---------------------------------------------------------------------------------------------------------------------
def test_rejections_and_logs_carry_no_patient_data(caplog):
    phi = {"PatientName": "Doe^Janet", "PatientID": "MRN-778899", "PatientBirthDate": "20150301"}
    # PatientSex is a CS: pydicom warns "Invalid value for VR CS: '<value>'" with the value quoted, so a name
    # keyed into the wrong field would leak through pydicom's logger unless it is suppressed.
    data = make_dicom(ramp(), modality="CT", AccessionNumber="ACC-5566", PatientSex="Doe^Janet x", **phi)
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="pydicom"):
        error = rejected(data)
        second = rejected(data[: len(data) - 5000])
    assert any(record.name == "pydicom" for record in caplog.records)  # the leak path was exercised
    text = " ".join([str(error), repr(error), error.message, str(second), caplog.text])
    for secret in ("Doe", "Janet", "MRN-778899", "20150301", "ACC-5566"):
        assert secret not in text


# ---------------------------------------------------------------------------------------------------------------------
# Preprocessing and rendering
# ---------------------------------------------------------------------------------------------------------------------
def test_preprocess_letterboxes_landscape_images_top_and_bottom():
    pixels = np.ones((100, 400), dtype=np.float32)
    tensor = preprocess_bone_age(pixels, size=64)
    assert tensor.shape == (1, 1, 64, 64)
    assert np.all(tensor[0, 0, :24] == 0) and np.all(tensor[0, 0, 40:] == 0)
    assert np.allclose(tensor[0, 0, 24:40], 1.0)


def test_preprocess_clips_out_of_range_values():
    tensor = preprocess_bone_age(np.array([[2.0, -1.0], [np.nan, 0.5]], dtype=np.float32), size=8)
    assert 0.0 <= tensor.min() and tensor.max() <= 1.0


def test_render_png_keeps_small_images_at_native_size():
    image = Image.open(io.BytesIO(render_png(np.linspace(0, 1, 60 * 40, dtype=np.float32).reshape(60, 40))))
    assert image.size == (40, 60) and image.mode == "L"


# ---------------------------------------------------------------------------------------------------------------------
# Sweep: every real file either passes or gets a clean 4xx
# ---------------------------------------------------------------------------------------------------------------------
def _sweep_files() -> list[Path]:
    files = sorted(p for p in DATA.rglob("*") if p.is_file()) if DATA.exists() else []
    # get_testdata_files() also lists directories (dicomdirtests/); only files are uploads
    files += sorted(Path(p) for p in pydicom.data.get_testdata_files() if Path(p).is_file())
    return files


SWEEP = _sweep_files()


def _sweep_id(path: Path) -> str:
    text = str(path)
    return text.replace(str(DATA) + "/", "shared/").replace(str(Path(pydicom.data.__file__).parent) + "/", "pydicom/")


def test_sweep_covers_the_shared_data_and_pydicom_files():
    # Guard against the sweep silently becoming empty (e.g. data not mounted, pydicom layout change)
    assert len([p for p in SWEEP if "pydicom/data" in str(p)]) > 150
    if DATA.exists():
        assert len([p for p in SWEEP if str(p).startswith(str(DATA))]) >= 87


@pytest.mark.parametrize("path", SWEEP, ids=_sweep_id)
def test_every_file_is_accepted_or_rejected_with_a_4xx(path):
    started = time.perf_counter()
    try:
        parsed = parse_upload(path.read_bytes(), path.name)
        assert isinstance(parsed, ParsedImage)
        assert parsed.pixels.ndim == 2 and parsed.pixels.dtype == np.float32
        assert 0.0 <= float(parsed.pixels.min()) and float(parsed.pixels.max()) <= 1.0
        check_fit_for_model(parsed, "bone_age")
    except ImageRejected as error:
        assert 400 <= error.http_status < 500
        assert error.code in KNOWN_CODES
        assert error.message
    assert time.perf_counter() - started < 10


def test_a_truncated_png_is_refused_even_after_the_pdf_library_loosened_pillow():
    import weasyprint  # noqa: F401  (sets PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True on import)
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = True
    buffer = io.BytesIO()
    Image.effect_noise((600, 600), 40).save(buffer, format="PNG")
    error = rejected(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    assert error.code in {"undecodable_pixel_data", "not_an_image"}
