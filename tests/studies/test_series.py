"""Series input (studies.series): ordering along the slice normal, the catalogue's refusals, zips, modality units.

Everything here runs on real DICOM files written by tests/factories/dicom_series.py and read back by pydicom."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.uid import JPEG2000Lossless, RLELossless, generate_uid

from studies.imaging import ImageRejected
from studies.series import (
    MAX_ZIP_RATIO,
    SERIES_CODES,
    SeriesRejected,
    assemble_series,
    collect_files,
    extract_files,
)
from tests.factories.dicom_series import (
    AXIAL,
    HU_BONE,
    HU_LUNG,
    chest_ct_phantom,
    cine_mr_phantom,
    mammogram_phantom,
    oblique_orientation,
    read_dataset,
    rewrite,
    zip_files,
)


def small_cine(**kwargs):
    """A few-slice cine stack whose small ventricles fit a short stack in the field of view."""
    defaults = dict(lv_edv_ml=20.0, lv_esv_ml=10.0, rv_edv_ml=20.0, rv_esv_ml=10.0, rows=96, columns=96,
                    slice_spacing=10.0)
    return cine_mr_phantom(**{**defaults, **kwargs})


def refusal(files, **kwargs) -> SeriesRejected:
    with pytest.raises(SeriesRejected) as info:
        assemble_series(files, **kwargs)
    return info.value


def sop_order(series) -> list[str]:
    return [instance.sop_instance_uid for instance in series.instances]


# ---------------------------------------------------------------------------------------------------------------------
# Ordering
# ---------------------------------------------------------------------------------------------------------------------
def test_slices_are_ordered_by_position_whatever_the_file_names_and_instance_numbers():
    phantom = chest_ct_phantom(instance_numbers="scrambled", shuffle=True, seed=3)
    names_in_anatomical_order = [dict((read_dataset(b).SOPInstanceUID, n) for n, b in phantom.files)[uid]
                                 for uid in phantom.sop_uids]
    assert names_in_anatomical_order != sorted(names_in_anatomical_order)  # the names really are scrambled

    series = assemble_series(phantom.files)

    assert sop_order(series) == phantom.sop_uids
    assert np.array_equal(series.volume(), phantom.hu)
    assert [i.location_mm for i in series.instances] == pytest.approx([k * 1.5 for k in range(24)])


@settings(max_examples=25, deadline=None)
@given(
    permutation_seed=st.integers(0, 2 ** 32 - 1),
    tilt=st.tuples(st.floats(-60, 60), st.floats(-60, 60)),
    flip=st.booleans(),
    spacing=st.sampled_from([0.5, 1.0, 1.25, 3.0, 5.0]),
)
def test_any_file_order_at_any_orientation_gives_the_anatomical_order(permutation_seed, tilt, flip, spacing):
    orientation = list(oblique_orientation(*tilt))
    if flip:  # column direction reversed: the normal, and so the anatomical order, reverses in patient space
        orientation[3:] = [-v for v in orientation[3:]]
    phantom = chest_ct_phantom(slices=6, rows=8, columns=8, slice_spacing=spacing, orientation=tuple(orientation),
                               shuffle=False)
    files = [phantom.files[i] for i in np.random.default_rng(permutation_seed).permutation(6)]
    series = assemble_series(files)
    assert sop_order(series) == phantom.sop_uids
    assert series.geometry.slice_spacing_mm == pytest.approx(spacing, abs=1e-4)


def test_the_order_of_the_files_given_does_not_change_the_series():
    phantom = chest_ct_phantom(seed=4)
    forwards = assemble_series(phantom.files)
    backwards = assemble_series(list(reversed(phantom.files)))
    assert sop_order(forwards) == sop_order(backwards)
    assert forwards.content_sha256 == backwards.content_sha256


@pytest.mark.parametrize("numbers", ["ascending", "descending"])
def test_instance_numbers_running_against_the_anatomy_are_ignored(numbers):
    phantom = chest_ct_phantom(instance_numbers=numbers)
    series = assemble_series(phantom.files)
    assert sop_order(series) == phantom.sop_uids


def test_an_oblique_series_is_ordered_along_its_normal_and_spacing_is_measured_along_it():
    orientation = oblique_orientation(25.0, -30.0)
    phantom = chest_ct_phantom(orientation=orientation, slice_spacing=2.0)

    series = assemble_series(phantom.files)

    assert sop_order(series) == phantom.sop_uids
    assert np.array_equal(series.volume(), phantom.hu)
    g = series.geometry
    assert g.slice_spacing_mm == pytest.approx(2.0, abs=1e-4)
    assert g.normal == pytest.approx(tuple(phantom.normal), abs=1e-6)
    # The patient-z steps are shorter than the spacing: ordering or spacing by z alone would be wrong.
    z_steps = np.diff([phantom.slice_position(k)[2] for k in range(3)])
    assert all(abs(step) < 1.9 for step in z_steps)


def test_positions_decreasing_in_patient_z_are_ordered_along_the_normal_not_by_z():
    # Column direction pointing to -y makes the normal point to the feet: z falls as the slice index rises.
    phantom = chest_ct_phantom(orientation=(1.0, 0.0, 0.0, 0.0, -1.0, 0.0), origin_mm=(0.0, 0.0, 50.0))
    series = assemble_series(phantom.files)
    assert sop_order(series) == phantom.sop_uids
    z = [float(read_dataset(i.data).ImagePositionPatient[2]) for i in series.instances]
    assert z == sorted(z, reverse=True)
    assert series.geometry.normal == pytest.approx((0.0, 0.0, -1.0))


def test_voxel_indices_map_back_to_each_slices_image_position():
    phantom = chest_ct_phantom(orientation=oblique_orientation(), pixel_spacing=(0.6, 0.8))
    series = assemble_series(phantom.files)
    for instance in series.instances[::7]:
        ds = read_dataset(instance.data)
        assert series.voxel_to_patient_mm(instance.slice_index, 0, 0) == pytest.approx(
            [float(v) for v in ds.ImagePositionPatient], abs=1e-4)
    # One column step moves along the row direction by the column spacing (Pixel Spacing[1]).
    step = np.subtract(series.voxel_to_patient_mm(0, 0, 1), series.voxel_to_patient_mm(0, 0, 0))
    assert step == pytest.approx(0.8 * np.asarray(series.geometry.orientation[:3]))


def test_geometry_is_json_ready_for_the_series_row():
    series = assemble_series(chest_ct_phantom().files)
    geometry = json.loads(json.dumps(series.geometry.as_dict()))
    assert geometry["pixel_spacing_mm"] == [0.75, 0.75]
    assert geometry["slice_spacing_mm"] == 1.5
    assert geometry["rows"] == 64 and geometry["columns"] == 64 and geometry["slice_count"] == 24
    assert geometry["phases"] == 1 and len(geometry["orientation"]) == 6 and len(geometry["normal"]) == 3


def test_the_same_file_sent_twice_counts_once():
    phantom = chest_ct_phantom()
    series = assemble_series(phantom.files + phantom.files[:3])
    assert len(series.instances) == 24


# ---------------------------------------------------------------------------------------------------------------------
# Modality units and pixel encodings
# ---------------------------------------------------------------------------------------------------------------------
def test_ct_volume_is_in_hounsfield_units_through_rescale_slope_and_intercept():
    phantom = chest_ct_phantom(rescale_slope=0.5, rescale_intercept=-1000.0)
    stored = read_dataset(phantom.files[0][1]).pixel_array
    assert stored.min() >= 0  # the file holds stored values, not HU

    volume = assemble_series(phantom.files).volume()

    assert volume.dtype == np.float32 and volume.shape == (24, 64, 64)
    assert set(np.unique(volume)) == {-1000.0, HU_LUNG, 40.0, HU_BONE}
    assert np.array_equal(volume, phantom.hu)


def test_signed_stored_values_are_rescaled_too():
    phantom = chest_ct_phantom(rescale_intercept=0.0)
    assert read_dataset(phantom.files[0][1]).PixelRepresentation == 1
    assert np.array_equal(assemble_series(phantom.files).volume(), phantom.hu)


@pytest.mark.parametrize("transfer_syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "jpeg2000-lossless"])
def test_compressed_transfer_syntaxes_decode_to_the_same_hounsfield_units(transfer_syntax):
    phantom = chest_ct_phantom(slices=6, transfer_syntax=transfer_syntax)
    assert read_dataset(phantom.files[0][1]).file_meta.TransferSyntaxUID == transfer_syntax
    assert np.array_equal(assemble_series(phantom.files).volume(), phantom.hu)


# ---------------------------------------------------------------------------------------------------------------------
# Cine MR
# ---------------------------------------------------------------------------------------------------------------------
def test_cine_series_is_grouped_by_location_and_ordered_by_trigger_time():
    phantom = cine_mr_phantom(phases=10, slices=6)
    series = assemble_series(phantom.files, cine=True)
    g = series.geometry
    assert (g.phases, g.slice_count) == (10, 6)
    assert g.slice_spacing_mm == pytest.approx(8.0)
    assert [i.trigger_time_ms for i in series.instances[:10]] == phantom.trigger_times_ms
    assert [i.position for i in series.instances] == list(range(60))
    volume = series.volume()
    assert volume.shape == (10, 6, 128, 128)
    assert np.array_equal(volume, phantom.image.astype(np.float32))


def test_a_single_phase_cine_series_still_has_a_phase_axis():
    phantom = small_cine(phases=1, slices=3)
    series = assemble_series(phantom.files, cine=True)
    assert series.cine and series.volume().shape == (1, 3, 96, 96)


def test_cine_phases_fall_back_to_temporal_position_identifier():
    phantom = small_cine(phases=6, slices=4, timing="temporal_position")
    assert "TriggerTime" not in read_dataset(phantom.files[0][1])
    series = assemble_series(phantom.files, cine=True)
    assert np.array_equal(series.volume(), phantom.image.astype(np.float32))


def test_cine_series_with_a_missing_phase_is_refused_as_uneven():
    phantom = small_cine(phases=6, slices=4, drop=(2, 3))
    error = refusal(phantom.files, cine=True)
    assert error.code == "series_phases_uneven" and error.http_status == 422


def test_a_cine_series_read_as_a_stack_has_duplicate_positions():
    phantom = small_cine(phases=4, slices=3)
    assert refusal(phantom.files).code == "series_duplicate_position"


def test_cine_images_without_any_timing_cannot_be_ordered():
    phantom = small_cine(phases=3, slices=2, timing="temporal_position")
    files = [(n, rewrite(b, TemporalPositionIdentifier=None)) for n, b in phantom.files]
    assert refusal(files, cine=True).code == "series_missing_geometry"


def test_two_cine_images_at_the_same_location_and_time_are_duplicates():
    phantom = small_cine(phases=3, slices=2)
    name, data = phantom.files[0]
    clone = rewrite(data, SOPInstanceUID=generate_uid(), InstanceNumber=999)
    assert refusal(phantom.files + [("clone.dcm", clone)], cine=True).code == "series_duplicate_position"


# ---------------------------------------------------------------------------------------------------------------------
# A single projection image
# ---------------------------------------------------------------------------------------------------------------------
def test_a_single_mammogram_is_a_one_image_series_without_position():
    phantom = mammogram_phantom()
    series = assemble_series(phantom.files)
    assert series.modality == "MG"
    assert series.geometry.slice_count == 1 and series.geometry.pixel_spacing_mm == (0.1, 0.1)
    assert series.instances[0].location_mm is None and series.geometry.normal is None
    assert np.array_equal(series.volume()[0], phantom.pixels.astype(np.float32))
    with pytest.raises(ValueError):
        series.voxel_to_patient_mm(0, 0, 0)


def test_a_single_image_without_geometry_is_refused_when_the_assessment_needs_slices():
    assert refusal(mammogram_phantom().files, min_slices=2).code == "series_missing_geometry"


# ---------------------------------------------------------------------------------------------------------------------
# Refusals (docs/catalogue.md)
# ---------------------------------------------------------------------------------------------------------------------
def test_a_second_series_mixed_in_is_refused():
    error = refusal(chest_ct_phantom(second_series_slices=2).files)
    assert (error.code, error.http_status) == ("series_mixed", 422)


def test_files_of_another_study_are_refused_as_mixed():
    phantom = chest_ct_phantom()
    name, data = phantom.files[5]
    files = phantom.files[:5] + [(name, rewrite(data, StudyInstanceUID=generate_uid()))] + phantom.files[6:]
    assert refusal(files).code == "series_mixed"


@pytest.mark.parametrize("missing", [1, 12, 22])
def test_a_missing_interior_slice_is_refused_as_incomplete(missing):
    error = refusal(chest_ct_phantom(missing_slice=missing).files)
    assert error.code == "series_incomplete"
    assert "gap of 3.00 mm" in error.message


def test_a_missing_slice_among_three_is_still_found():
    # Gaps 1.5 and 3.0: the plain median (2.25) would hide the doubled gap; the lower median does not.
    assert refusal(chest_ct_phantom(slices=4, missing_slice=2).files).code == "series_incomplete"


def test_two_slices_at_one_position_are_refused():
    assert refusal(chest_ct_phantom(duplicate_slice=7).files).code == "series_duplicate_position"


def test_a_slice_with_a_different_orientation_is_refused():
    phantom = chest_ct_phantom()
    tilted = oblique_orientation(0.5, 0.0)  # half a degree: cosines differ by ~9e-3
    name, data = phantom.files[3]
    files = phantom.files[:3] + [(name, rewrite(data, ImageOrientationPatient=list(tilted)))] + phantom.files[4:]
    assert refusal(files).code == "series_inconsistent_orientation"


def test_orientation_rounding_within_tolerance_is_accepted():
    phantom = chest_ct_phantom()
    name, data = phantom.files[3]
    nearly = [1.0, 0.0004, 0.0, 0.0, 0.9999999, 0.0004]
    files = phantom.files[:3] + [(name, rewrite(data, ImageOrientationPatient=nearly))] + phantom.files[4:]
    assert len(assemble_series(files).instances) == 24


@pytest.mark.parametrize("tags", [{"PixelSpacing": [0.8, 0.75]}], ids=["pixel-spacing"])
def test_a_slice_with_different_pixel_spacing_is_refused(tags):
    phantom = chest_ct_phantom()
    name, data = phantom.files[0]
    assert refusal([(name, rewrite(data, **tags))] + phantom.files[1:]).code == "series_inconsistent_geometry"


def test_a_slice_with_a_different_matrix_is_refused():
    phantom = chest_ct_phantom(slices=6)
    other = chest_ct_phantom(slices=6, rows=32, columns=32)
    ds_data = other.files[0][1]
    ds = read_dataset(ds_data)
    # Same series and position scheme, but a 32x32 matrix at an unused position.
    odd = rewrite(ds_data, StudyInstanceUID=phantom.study_uid, SeriesInstanceUID=phantom.series_uid,
                  ImagePositionPatient=[-24.0, -24.0, -120.0 + 6 * 1.5])
    assert ds.Rows == 32
    assert refusal(phantom.files + [("odd.dcm", odd)]).code == "series_inconsistent_geometry"


@pytest.mark.parametrize("keyword", ["ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"])
def test_a_slice_without_position_orientation_or_spacing_is_refused(keyword):
    phantom = chest_ct_phantom()
    name, data = phantom.files[9]
    files = phantom.files[:9] + [(name, rewrite(data, **{keyword: None}))] + phantom.files[10:]
    error = refusal(files)
    assert error.code == "series_missing_geometry"


def test_a_degenerate_orientation_is_missing_geometry():
    phantom = chest_ct_phantom(slices=3)
    files = [(n, rewrite(b, ImageOrientationPatient=[1, 0, 0, 1, 0, 0])) for n, b in phantom.files]
    assert refusal(files).code == "series_missing_geometry"


def test_fewer_slices_than_the_assessment_needs_are_refused():
    error = refusal(chest_ct_phantom(slices=8).files, min_slices=16)
    assert error.code == "series_too_few_slices" and "at least 16" in error.message
    assert len(assemble_series(chest_ct_phantom(slices=8).files, min_slices=8).instances) == 8


def test_no_files_at_all_is_too_few_slices():
    assert refusal([]).code == "series_too_few_slices"


def test_a_file_that_is_not_dicom_is_refused_with_the_single_image_code():
    phantom = chest_ct_phantom(slices=3)
    error = refusal(phantom.files + [("notes.txt", b"hello, this is not an image")])
    assert (error.code, error.http_status) == ("not_an_image", 415)


def test_a_truncated_file_is_refused():
    phantom = chest_ct_phantom(slices=3)
    name, data = phantom.files[0]
    error = refusal([(name, data[:400])] + phantom.files[1:])
    assert error.code in {"truncated_dicom", "malformed_dicom", "no_pixel_data"}


@pytest.mark.parametrize("cut", [2, 5000])
def test_a_file_cut_short_in_its_pixel_data_is_refused_before_any_decoding(cut):
    phantom = chest_ct_phantom(slices=3)
    name, data = phantom.files[1]
    error = refusal(phantom.files[:1] + [(name, data[:-cut])] + phantom.files[2:])
    assert error.code == "truncated_dicom"


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_a_crafted_uid_is_refused_before_it_can_reach_an_object_key():
    phantom = chest_ct_phantom(slices=3)
    files = [(n, rewrite(b, SeriesInstanceUID="1.2/../../x")) for n, b in phantom.files]
    assert refusal(files).code == "malformed_dicom"


def test_every_refusal_is_an_image_rejection_with_a_catalogue_status_and_no_patient_data():
    cases = [
        refusal(chest_ct_phantom(second_series_slices=1).files),
        refusal(chest_ct_phantom(missing_slice=5).files),
        refusal(chest_ct_phantom(duplicate_slice=5).files),
        refusal(chest_ct_phantom(slices=3).files, min_slices=5),
        refusal(small_cine(phases=3, slices=2, drop=(0, 0)).files, cine=True),
    ]
    for error in cases:
        assert isinstance(error, ImageRejected)
        assert error.code in SERIES_CODES and error.http_status == 422
        assert "Phantom" not in error.message and "PHANTOM" not in error.message


# ---------------------------------------------------------------------------------------------------------------------
# Zips
# ---------------------------------------------------------------------------------------------------------------------
def test_a_zip_of_the_series_gives_the_same_series_as_the_files():
    phantom = chest_ct_phantom(seed=9)
    files = extract_files(zip_files(phantom.files), "study.zip")
    assert sorted(files) == sorted(phantom.files)
    assert sop_order(assemble_series(files)) == phantom.sop_uids


def test_a_noisy_ct_zips_like_a_real_one_and_round_trips_exactly():
    phantom = chest_ct_phantom(slices=8, noise_hu=20.0, rescale_slope=0.5, rescale_intercept=-1000.0)
    archive = zip_files(phantom.files)
    assert sum(len(b) for _, b in phantom.files) / len(archive) < 10
    series = assemble_series(extract_files(archive, "noisy.zip"))
    assert np.array_equal(series.volume(), phantom.hu)


def test_a_submission_of_zips_and_loose_files_is_collected_into_one_series():
    phantom = chest_ct_phantom(slices=9)
    uploads = [("part1.zip", zip_files(phantom.files[:4])), *phantom.files[4:6],
               ("part2.zip", zip_files(phantom.files[6:]))]
    files = collect_files(uploads)
    assert sorted(files) == sorted(phantom.files)
    assert sop_order(assemble_series(files)) == phantom.sop_uids


def test_a_submission_over_the_overall_limits_is_refused():
    phantom = chest_ct_phantom(slices=6)
    uploads = [("a.zip", zip_files(phantom.files[:3])), ("b.zip", zip_files(phantom.files[3:]))]
    assert pytest.raises(SeriesRejected, collect_files, uploads, max_files=5).value.code == "zip_too_large"
    size = sum(len(b) for _, b in phantom.files)
    error = pytest.raises(SeriesRejected, collect_files, phantom.files, max_total_bytes=size - 1).value
    assert (error.code, error.http_status) == ("zip_too_large", 413)


def test_a_dicom_file_whose_preamble_looks_like_a_zip_is_still_a_dicom_file():
    name, data = chest_ct_phantom(slices=1).files[0]
    polyglot = b"PK\x03\x04" + data[4:]
    assert extract_files(polyglot, name) == [(name, polyglot)]
    assert assemble_series(extract_files(polyglot, name)).geometry.slice_count == 1


def test_a_file_that_is_not_a_zip_is_returned_as_it_is():
    name, data = chest_ct_phantom(slices=2).files[0]
    assert extract_files(data, name) == [(name, data)]
    assert extract_files(data, None) == [("upload", data)]


def test_folders_resource_forks_dicomdir_and_other_files_in_a_zip_are_skipped():
    phantom = chest_ct_phantom(slices=3)
    extra = [("readme.txt", b"a study"), ("__MACOSX/._IM1.dcm", phantom.files[0][1]),
             ("DICOMDIR", phantom.files[0][1]), (".hidden.dcm", phantom.files[0][1])]
    nested = [(f"patient/study/{n}", b) for n, b in phantom.files]
    files = extract_files(zip_files(nested + extra), "x.zip")
    assert sorted(n for n, _ in files) == sorted(n for n, _ in nested)


def test_a_zip_without_dicom_files_is_refused_as_empty():
    error = pytest.raises(SeriesRejected, extract_files, zip_files([("a.txt", b"text"), ("b.png", b"\x89PNG")]),
                          "x.zip").value
    assert (error.code, error.http_status) == ("zip_empty", 422)
    empty = io.BytesIO()
    zipfile.ZipFile(empty, "w").close()
    assert pytest.raises(SeriesRejected, extract_files, empty.getvalue(), "x.zip").value.code == "zip_empty"


def test_a_damaged_zip_is_refused_as_invalid():
    archive = zip_files(chest_ct_phantom(slices=3).files)
    error = pytest.raises(SeriesRejected, extract_files, archive[: len(archive) // 2], "x.zip").value
    assert (error.code, error.http_status) == ("zip_invalid", 400)


def test_a_zip_member_with_corrupt_data_is_refused_as_invalid():
    archive = bytearray(zip_files(chest_ct_phantom(slices=3).files))
    archive[400:420] = bytes(20)  # inside the first member's deflate stream: fails to inflate or its CRC
    error = pytest.raises(SeriesRejected, extract_files, bytes(archive), "x.zip").value
    assert error.code == "zip_invalid"


def test_an_encrypted_zip_is_refused_as_invalid():
    archive = bytearray(zip_files(chest_ct_phantom(slices=1).files))
    # Set the "encrypted" bit of general purpose flags in the local header and the central directory entry.
    archive[6] |= 0x1
    central = archive.find(b"PK\x01\x02")
    archive[central + 8] |= 0x1
    error = pytest.raises(SeriesRejected, extract_files, bytes(archive), "x.zip").value
    assert error.code == "zip_invalid" and "encrypted" in error.message


def test_a_zip_bomb_ratio_is_refused_before_anything_is_expanded():
    bomb = zip_files([("IM1.dcm", bytes(128) + b"DICM" + bytes(20 * 1024 * 1024))])
    assert 20 * 1024 * 1024 / len(bomb) > MAX_ZIP_RATIO
    error = pytest.raises(SeriesRejected, extract_files, bomb, "bomb.zip").value
    assert (error.code, error.http_status) == ("zip_too_large", 413)


def test_a_zip_expanding_past_the_size_limit_is_refused():
    archive = zip_files(chest_ct_phantom(slices=4).files)
    error = pytest.raises(SeriesRejected, extract_files, archive, "x.zip", max_expanded_bytes=20_000).value
    assert error.code == "zip_too_large" and error.http_status == 413


def test_a_zip_with_too_many_members_is_refused():
    archive = zip_files([(f"f{i}.txt", b"x") for i in range(11)])
    error = pytest.raises(SeriesRejected, extract_files, archive, "x.zip", max_members=10).value
    assert error.code == "zip_too_large"


def test_a_zip_whose_sizes_lie_is_caught_while_expanding():
    # Declared sizes are claims: shrink the one in the central directory and the reader must still stop.
    payload = bytes(128) + b"DICM" + bytes(300_000)
    archive = bytearray(zip_files([("IM1.dcm", payload)], compression=zipfile.ZIP_STORED))
    central = archive.find(b"PK\x01\x02")
    archive[central + 24:central + 28] = (10).to_bytes(4, "little")  # uncompressed size: 10 bytes
    error = pytest.raises(SeriesRejected, extract_files, bytes(archive), "x.zip", max_expanded_bytes=100_000).value
    assert error.code in {"zip_too_large", "zip_invalid"}


# ---------------------------------------------------------------------------------------------------------------------
# Real files (pydicom's and highdicom's test data)
# ---------------------------------------------------------------------------------------------------------------------
SHARED = Path("/work/shared/data/dicom")
needs_shared_data = pytest.mark.skipif(not SHARED.exists(), reason="shared DICOM test data not mounted")


@needs_shared_data
def test_a_real_ct_slice_is_read_in_hounsfield_units():
    data = (SHARED / "highdicom" / "ct_image.dcm").read_bytes()
    series = assemble_series([("ct_image.dcm", data)])
    stored = read_dataset(data).pixel_array.astype(np.float32)
    assert series.geometry.slice_count == 1 and series.geometry.normal == pytest.approx((0.0, 0.0, 1.0))
    assert np.array_equal(series.volume()[0], stored - 1024.0)  # Rescale Slope 1, Intercept -1024


@needs_shared_data
def test_a_modality_lut_sequence_is_applied():
    from pydicom.pixels import apply_modality_lut

    data = (SHARED / "pydicom-data" / "mlut_18.dcm").read_bytes()
    ds = read_dataset(data)
    assert "ModalityLUTSequence" in ds
    volume = assemble_series([("mlut_18.dcm", data)]).volume()
    assert np.array_equal(volume[0], apply_modality_lut(ds.pixel_array, ds).astype(np.float32))
    assert not np.array_equal(volume[0], ds.pixel_array.astype(np.float32))


@needs_shared_data
def test_a_real_jpeg2000_mr_decodes_to_the_same_values_as_its_uncompressed_twin():
    compressed = assemble_series([("a.dcm", (SHARED / "pydicom-data" / "MR2_J2KR.dcm").read_bytes())])
    plain = assemble_series([("b.dcm", (SHARED / "pydicom-data" / "MR2_UNCR.dcm").read_bytes())])
    assert np.array_equal(compressed.volume(), plain.volume())
    # An oblique real orientation: the normal is row x column of its direction cosines.
    assert compressed.geometry.normal == pytest.approx(tuple(np.cross([0.569486, 0.822001, 0.0], [0.0, 0.0, -1.0])),
                                                       abs=1e-5)
