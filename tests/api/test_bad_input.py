"""Every bad input gets a specific RFC 9457 problem with a stable code, and loses nothing already stored."""
from __future__ import annotations

import io

import pytest

from tests.conftest import CHEST_CR, HAND_DX, SHARED_DATA

PROBLEM = "application/problem+json"


def _post(client, data: bytes, name: str = "upload.dcm", **fields):
    payload = {"file": io.BytesIO(data), "model": "bone_age", **fields}
    payload["file"].name = name
    return client.post("/api/v1/assessments", payload, format="multipart")


def _assert_problem(response, status: int, code: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith("/" + code)
    assert body["detail"]
    return body


def _assessment_count(tenant) -> int:
    from inference.models import Assessment
    from tenants.context import tenant_context

    with tenant_context(tenant):
        return Assessment.objects.count()


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        ("empty.dcm", b"", 400, "empty_file"),
        ("notes.txt", b"patient is a 10 year old girl\n" * 20, 415, "not_an_image"),
        ("random.bin", bytes(range(256)) * 40, 415, "not_an_image"),
    ],
)
def test_files_that_are_not_images_are_refused(his_a, hospital_a, name, data, status, code):
    _assert_problem(_post(his_a, data, name), status, code)
    assert _assessment_count(hospital_a.tenant) == 0


def test_truncated_dicom_is_refused(his_a):
    data = (SHARED_DATA / "pydicom-data" / "emri_small_jpeg_2k_lossless_too_short.dcm").read_bytes()
    response = _post(his_a, data)
    assert response.status_code in {400, 422}
    assert response.json()["code"] in {"truncated_dicom", "undecodable_pixel_data", "unsupported_modality"}


def test_hand_dicom_cut_in_half_is_a_truncated_dicom(his_a):
    data = HAND_DX.read_bytes()
    _assert_problem(_post(his_a, data[: len(data) // 2]), 400, "truncated_dicom")


def test_dicom_without_pixel_data_is_refused(his_a):
    data = (SHARED_DATA / "highdicom" / "sr_document.dcm").read_bytes()
    _assert_problem(_post(his_a, data), 422, "no_pixel_data")


def test_chest_radiograph_sent_for_bone_age_is_an_unsupported_body_part(his_a):
    _assert_problem(_post(his_a, CHEST_CR.read_bytes()), 422, "unsupported_body_part")


def test_ct_sent_for_bone_age_is_an_unsupported_modality(his_a):
    data = (SHARED_DATA / "highdicom" / "ct_image.dcm").read_bytes()
    _assert_problem(_post(his_a, data), 422, "unsupported_modality")


def test_too_large_file_is_refused_with_413(his_a, platform_settings, monkeypatch):
    monkeypatch.setattr(platform_settings, "MAX_UPLOAD_BYTES", 1024 * 1024)
    body = _assert_problem(_post(his_a, HAND_DX.read_bytes()), 413, "file_too_large")
    assert "1 MiB" in body["detail"]


def test_unknown_model_is_refused(his_a):
    _assert_problem(_post(his_a, HAND_DX.read_bytes(), model="liver_fibrosis"), 422, "unknown_model")


def test_missing_file_and_missing_model_are_named(his_a):
    _assert_problem(his_a.post("/api/v1/assessments", {"model": "bone_age"}, format="multipart"), 400, "file_missing")
    payload = {"file": io.BytesIO(HAND_DX.read_bytes())}
    _assert_problem(his_a.post("/api/v1/assessments", payload, format="multipart"), 400, "model_missing")


@pytest.mark.parametrize(("field", "value", "code"), [
    ("patient_sex", "X", "invalid_patient_sex"),
    ("chronological_age_months", "ten", "invalid_chronological_age"),
    ("chronological_age_months", "-3", "invalid_chronological_age"),
    ("chronological_age_months", "nan", "invalid_chronological_age"),
])
def test_invalid_patient_fields_are_refused(his_a, field, value, code):
    _assert_problem(_post(his_a, HAND_DX.read_bytes(), **{field: value}), 400, code)


def test_png_without_patient_sex_needs_it(his_a):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (600, 800), color=90).save(buffer, format="PNG")
    _assert_problem(_post(his_a, buffer.getvalue(), "hand.png"), 422, "missing_patient_sex")
    response = _post(his_a, buffer.getvalue(), "hand.png", patient_sex="F")
    assert response.status_code == 202, response.content
    assert response.json()["study"]["content_type"] == "image/png"


def test_json_body_instead_of_multipart_is_refused(his_a):
    response = his_a.post("/api/v1/assessments", {"model": "bone_age"}, format="json")
    _assert_problem(response, 400, "file_missing")


def test_unsupported_media_type(his_a):
    response = his_a.generic("POST", "/api/v1/assessments", b"<xml/>", content_type="application/xml")
    _assert_problem(response, 415, "unsupported_media_type")


def test_missing_api_key_is_401(platform_settings, db):
    from rest_framework.test import APIClient

    response = APIClient().get("/api/v1/assessments")
    body = _assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Api-Key")
    assert body["instance"] == "/api/v1/assessments"


def test_wrong_api_key_is_401(platform_settings, db):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Api-Key mip_AAAAAAAAAAAA_" + "x" * 43)
    _assert_problem(client.get("/api/v1/assessments"), 401, "invalid_api_key")


def test_revoked_api_key_is_401(his_a, hospital_a):
    from tenants.services import api_key_revoke

    api_key_revoke(api_key=hospital_a.api_key_row)
    _assert_problem(his_a.get("/api/v1/assessments"), 401, "api_key_revoked")
    _assert_problem(_post(his_a, HAND_DX.read_bytes()), 401, "api_key_revoked")


def test_suspended_hospital_is_refused(his_a, hospital_a):
    hospital_a.tenant.status = "suspended"
    hospital_a.tenant.save()
    _assert_problem(his_a.get("/api/v1/assessments"), 403, "tenant_suspended")


def test_another_hospitals_assessment_is_404_not_403(his_a, his_b):
    submitted = _post(his_a, HAND_DX.read_bytes())
    assert submitted.status_code == 202
    location = submitted["Location"]
    _assert_problem(his_b.get(location), 404, "assessment_not_found")
    assert his_a.get(location).status_code == 200
    listed = his_b.get("/api/v1/assessments").json()["results"]
    assert listed == []


def test_malformed_assessment_id_is_404(his_a):
    _assert_problem(his_a.get("/api/v1/assessments/not-a-uuid"), 404, "assessment_not_found")


def test_unknown_api_path_is_a_problem_404(his_a):
    _assert_problem(his_a.get("/api/v1/nothing-here"), 404, "not_found")


def test_method_not_allowed(his_a):
    _assert_problem(his_a.delete("/api/v1/assessments"), 405, "method_not_allowed")


def test_object_store_down_is_503_and_records_nothing(his_a, hospital_a, platform_settings, monkeypatch):
    from tests.conftest import _clear_client_caches
    from tests.fixtures_services import free_port

    monkeypatch.setattr(platform_settings, "S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    _clear_client_caches()
    try:
        response = _post(his_a, HAND_DX.read_bytes())
    finally:
        monkeypatch.undo()
        _clear_client_caches()
    _assert_problem(response, 503, "storage_unavailable")
    assert response["Retry-After"] == "30"
    assert _assessment_count(hospital_a.tenant) == 0


def _every_shared_file():
    return sorted(p for p in SHARED_DATA.rglob("*") if p.is_file() and p.suffix.lower() == ".dcm")


@pytest.mark.parametrize("path", _every_shared_file(), ids=lambda p: p.name)
def test_every_shared_dicom_file_succeeds_or_gets_a_4xx(his_a, path):
    response = _post(his_a, path.read_bytes(), path.name, patient_sex="F")
    assert response.status_code in {200, 202} or 400 <= response.status_code < 500, response.content
    if response.status_code >= 400:
        assert response["Content-Type"].startswith(PROBLEM)
        assert response.json()["code"]
