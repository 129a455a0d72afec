"""Every assessment of the catalogue, end to end: an HIS sends a series (files or a zip) or an image through the API,
the real worker runs every stage on the local model server over gRPC, and the result carries measurements, stage
versions, the demo notice, artifacts and critical findings. The demo models are hand-set, so these tests check the
platform's contract and the measurements' units, not clinical accuracy (measurement accuracy is tested on
phantoms in tests/inference/measurements)."""
from __future__ import annotations

import pytest

from tests.conftest import wait_for_status
from tests.factories.dicom_series import (BlobSpec, NoduleSpec, chest_ct_phantom, cine_mr_phantom,
                                          mammogram_phantom, zip_files)

NOTICE = "demo, not for diagnostic use"


def _post(client, files, model, **fields):
    import io

    uploads = []
    for name, data in files:
        handle = io.BytesIO(data)
        handle.name = name
        uploads.append(handle)
    return client.post("/api/v1/assessments", {"file": uploads, "model": model, **fields}, format="multipart")


def _succeeded(client, response, timeout_s=180.0):
    assert response.status_code == 202, response.content
    done = wait_for_status(client, response["Location"], {"succeeded", "failed"}, timeout_s=timeout_s)
    assert done["status"] == "succeeded", done
    assert done["notice"] == NOTICE and done["result"]["notice"] == NOTICE
    return done


def _artifacts(assessment_id):
    from inference.models import AssessmentArtifact
    from tenants.context import dangerously_operator_access

    with dangerously_operator_access(reason="test reads artifacts"):
        return {a.name: a for a in AssessmentArtifact.objects.dangerously_all_tenants().filter(
            assessment_id=assessment_id)}


def test_a_chest_ct_zip_runs_the_three_nodule_stages_as_one_assessment(his_a, celery_worker, s3_server):
    phantom = chest_ct_phantom(slices=40, rows=128, columns=128, pixel_spacing=(0.7, 0.7), slice_spacing=1.25,
                               nodules=(NoduleSpec(center_voxel=(20.0, 64.0, 40.0), diameter_mm=10.0),),
                               noise_hu=20.0)
    done = _succeeded(his_a, _post(his_a, [("study.zip", zip_files(phantom.files))], "lung_nodule"))

    stages = [stage["name"] for stage in done["result"]["model"]["stages"]]
    assert stages == ["lung_segmentation", "nodule_candidates", "nodule_fp_reduction"]
    assert [stage["name"] for stage in done["stages"]] == stages
    assert done["series"]["instance_count"] == 40 and done["series"]["modality"] == "CT"
    result = done["result"]
    assert result["assessment"] == "lung_nodule"
    assert result["lung_volume_ml"] > 0
    for nodule in result["nodules"]:
        assert nodule["diameter_mm"] > 0 and nodule["volume_mm3"] > 0 and 0 <= nodule["probability"] <= 1
    big = [n for n in result["nodules"] if n["diameter_mm"] >= 8]
    assert done["is_critical"] is bool(big)
    assert "nodules.npz" in _artifacts(done["id"])


def test_a_ct_series_sent_as_files_gets_body_region_ranges(his_a, celery_worker, s3_server):
    phantom = chest_ct_phantom(slices=20, rows=96, columns=96)
    done = _succeeded(his_a, _post(his_a, phantom.files, "ct_anatomy"))
    result = done["result"]
    assert len(result["slices"]) == 20
    # Slices come back in anatomical order, whatever the file names and instance numbers were.
    assert [s["sop_instance_uid"] for s in result["slices"]] == phantom.sop_uids
    assert sum(r["slice_count"] for r in result["regions"]) == 20
    assert {r["region"] for r in result["regions"]} <= {"head", "neck", "chest", "abdomen", "pelvis",
                                                          "lower_limbs"}


def test_a_cine_short_axis_series_gets_volumes_and_an_ejection_fraction(his_a, celery_worker, s3_server):
    phantom = cine_mr_phantom(phases=6, slices=6, rows=96, columns=96, pixel_spacing=2.0, slice_spacing=10.0)
    done = _succeeded(his_a, _post(his_a, phantom.files, "cardiac_function"))
    result = done["result"]
    for key in ("lv_edv_ml", "lv_esv_ml", "lv_sv_ml", "lv_myocardial_mass_g", "rv_edv_ml", "rv_esv_ml"):
        assert result[key] >= 0, key
    assert result["lv_edv_ml"] >= result["lv_esv_ml"]
    assert result["overlays"][0]["kind"] == "mask"
    assert "cardiac_masks.npz" in _artifacts(done["id"])
    ef = result["lv_ef_percent"]
    assert done["is_critical"] is (ef is not None and ef < 35)

    # The masks leave as a DICOM Segmentation over the end-diastolic frames of the source series, and in the report.
    import io

    import pydicom

    seg = his_a.get(f"/api/v1/assessments/{done['id']}/dicom/seg")
    assert seg.status_code == 200, seg.content[:300]
    dataset = pydicom.dcmread(io.BytesIO(b"".join(seg.streaming_content) if seg.streaming else seg.content))
    assert dataset.Modality == "SEG"
    referenced = {item.SeriesInstanceUID for item in dataset.ReferencedSeriesSequence}
    assert referenced == {done["series"]["series_instance_uid"]}
    assert len(dataset.SegmentSequence) >= 1
    pdf = his_a.get(f"/api/v1/assessments/{done['id']}/report.pdf")
    assert pdf.status_code == 200


def test_a_mammogram_gets_lesion_boxes_and_a_birads_style_category(his_a, celery_worker, s3_server):
    phantom = mammogram_phantom(rows=1024, columns=832, blobs=(BlobSpec((400.0, 300.0), 40.0),))
    done = _succeeded(his_a, _post(his_a, phantom.files, "mammography"))
    result = done["result"]
    assert result["birads"]["category"] in {1, 2, 3, 4, 5}
    assert result["laterality"] == "L" and result["view"] == "CC"
    for lesion in result["lesions"]:
        x0, y0, x1, y1 = lesion["box"]
        assert 0 <= x0 < x1 <= 832 and 0 <= y0 < y1 <= 1024
    assert done["is_critical"] is (result["birads"]["category"] >= 4)


@pytest.mark.parametrize(("defect", "code"), [("missing_slice", "series_incomplete"),
                                              ("mixed", "series_mixed")])
def test_an_incomplete_or_mixed_series_is_refused_with_its_code_and_nothing_is_queued(his_a, s3_server, defect,
                                                                                      code):
    kwargs = {"missing_slice": 7} if defect == "missing_slice" else {"second_series_slices": 5}
    phantom = chest_ct_phantom(slices=20, **kwargs)
    response = _post(his_a, phantom.files, "lung_nodule")
    assert response.status_code == 422, response.content
    assert response.json()["code"] == code
    assert his_a.get("/api/v1/assessments").json()["results"] == []


def test_a_series_assessment_refuses_a_single_plain_image(his_a, s3_server):
    from tests.audit._support import png_upload

    response = his_a.post("/api/v1/assessments", {"file": png_upload(3), "model": "ct_anatomy"}, format="multipart")
    assert (response.status_code, response.json()["code"]) == (415, "not_an_image"), response.content


def test_the_same_series_sent_again_answers_its_first_assessment(his_a, s3_server):
    phantom = chest_ct_phantom(slices=20, rows=64, columns=64)
    first = _post(his_a, phantom.files, "ct_anatomy")
    again = _post(his_a, list(reversed(phantom.files)), "ct_anatomy")
    assert first.status_code == 202 and again.status_code == 200, (first.content, again.content)
    assert again.json()["id"] == first.json()["id"] and again.json()["duplicate"] is True


def test_a_segmentation_the_source_cannot_carry_is_a_clear_422_and_the_other_formats_still_come(
        his_a, celery_worker, s3_server):
    import io

    import pydicom

    phantom = cine_mr_phantom(phases=4, slices=4, rows=64, columns=64, pixel_spacing=3.0, slice_spacing=10.0)
    files = []
    for name, data in phantom.files:  # a scanner that omits the Frame of Reference module (type 1 for MR)
        dataset = pydicom.dcmread(io.BytesIO(data))
        del dataset.FrameOfReferenceUID
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
        files.append((name, buffer.getvalue()))
    done = _succeeded(his_a, _post(his_a, files, "cardiac_function"))

    seg = his_a.get(f"/api/v1/assessments/{done['id']}/dicom/seg")
    assert seg.status_code == 422, seg.content[:300]
    assert seg.json()["code"] == "dicom_source_incomplete"
    assert his_a.get(f"/api/v1/assessments/{done['id']}/report.pdf").status_code == 200
