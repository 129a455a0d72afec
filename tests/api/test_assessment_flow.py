"""An HIS submits a hand radiograph with its API key and polls for the bone-age result, through the real
broker, worker, S3 server and model server."""
from __future__ import annotations

import pytest

from tests.conftest import HAND_DX, wait_for_status


def _submit_hand(client, **fields):
    with HAND_DX.open("rb") as handle:
        return client.post("/api/v1/assessments", {"file": handle, "model": "bone_age", **fields}, format="multipart")


@pytest.mark.parametrize("model_server_api", ["kserve", "tfs"], indirect=True)
def test_his_gets_a_bone_age_result_through_either_model_server_api(his_a, celery_worker, model_server_api):
    response = _submit_hand(his_a, chronological_age_months="126")

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert response["Location"] == f"/api/v1/assessments/{body['id']}"

    done = wait_for_status(his_a, response["Location"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    assert done["model"] == {"name": "bone_age", "version": 1, "precision": "FP32", "demo": True}
    assert done["notice"] == "demo, not for diagnostic use"
    result = done["result"]
    assert 0 <= result["bone_age_months"] <= 228
    assert result["chronological_age_months"] == 126
    assert result["difference_months"] == pytest.approx(result["bone_age_months"] - 126, abs=0.11)
    assert result["reading"] in {"delayed", "normal", "advanced"}
    assert isinstance(result["z_score"], float)
    assert result["model"]["version"] == 1
    assert result["notice"] == "demo, not for diagnostic use"
    # The header says the patient is female; nothing overrode it.
    assert done["patient_sex"] == "F"
    assert done["error"] is None


def test_submitted_values_override_the_dicom_header(his_a, celery_worker):
    response = _submit_hand(his_a, patient_sex="M", chronological_age_months="60")
    assert response.status_code == 202, response.content
    done = wait_for_status(his_a, response["Location"], {"succeeded", "failed"})
    assert done["patient_sex"] == "M"
    assert done["result"]["chronological_age_months"] == 60


def test_same_result_for_the_same_image_on_both_apis(his_a, celery_worker, platform_settings):
    """Both gRPC APIs run the same model on the same bytes: the bone age must be identical."""
    from tests.conftest import _clear_client_caches

    ages = []
    for api in ("kserve", "tfs"):
        platform_settings.MODEL_SERVER_API = api
        _clear_client_caches()
        response = _submit_hand(his_a, patient_sex="M", chronological_age_months=str(100 + len(ages)))
        done = wait_for_status(his_a, response["Location"], {"succeeded", "failed"})
        ages.append(done["result"]["bone_age_months"])
    platform_settings.MODEL_SERVER_API = "kserve"
    _clear_client_caches()
    assert ages[0] == ages[1]


def test_the_same_file_sent_twice_is_stored_once_and_answers_the_same_assessment(his_a, hospital_a, s3_server):
    from studies.models import ImageInstance
    from tenants.context import tenant_context

    first = _submit_hand(his_a, chronological_age_months="120")
    second = _submit_hand(his_a, chronological_age_months="120")

    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["duplicate"] is True
    assert second.json()["id"] == first.json()["id"]
    with tenant_context(hospital_a.tenant):
        instances = list(ImageInstance.objects.all())
    assert len(instances) == 1
    key = instances[0].storage_key
    assert key.startswith(f"tenants/{hospital_a.tenant.id}/studies/")
    listed = s3_server.client().list_objects_v2(Bucket=s3_server.bucket, Prefix=f"tenants/{hospital_a.tenant.id}/")
    assert [obj["Key"] for obj in listed.get("Contents", [])] == [key]


def test_a_different_question_about_the_same_file_is_a_new_assessment(his_a):
    first = _submit_hand(his_a, chronological_age_months="120")
    second = _submit_hand(his_a, chronological_age_months="96")
    assert second.status_code == 202
    assert second.json()["id"] != first.json()["id"]
    assert second.json()["study"]["sha256"] == first.json()["study"]["sha256"]


def test_stored_object_is_the_original_bytes_encrypted_at_rest(his_a, hospital_a, s3_server):
    import hashlib

    from studies.models import ImageInstance
    from tenants.context import tenant_context

    response = _submit_hand(his_a)
    assert response.status_code == 202
    with tenant_context(hospital_a.tenant):
        instance = ImageInstance.objects.get()
    stored = s3_server.client().get_object(Bucket=s3_server.bucket, Key=instance.storage_key)
    data = stored["Body"].read()
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(HAND_DX.read_bytes()).hexdigest()
    assert stored.get("ServerSideEncryption") == "AES256"
    assert instance.modality == "DX"


def test_patient_identifiers_never_reach_the_logs(his_a, celery_worker, caplog, tmp_path):
    """A DICOM with a patient name and ID goes through upload, worker and result; neither appears in any log."""
    import logging

    import pydicom

    dataset = pydicom.dcmread(HAND_DX)
    dataset.PatientName = "Zhang^Xiaoling"
    dataset.PatientID = "MRN-5550123"
    dataset.PatientBirthDate = "20150314"
    dataset.StudyDate = "20251110"
    identified = tmp_path / "identified.dcm"
    dataset.save_as(identified)

    caplog.set_level(logging.DEBUG)
    with identified.open("rb") as handle:
        response = his_a.post("/api/v1/assessments", {"file": handle, "model": "bone_age"}, format="multipart")
    assert response.status_code == 202, response.content
    done = wait_for_status(his_a, response["Location"], {"succeeded", "failed"})
    assert done["status"] == "succeeded"
    # The age came from the header dates, so the header was really read.
    assert done["chronological_age_months"] is not None

    logged = caplog.text + "\n".join(str(record.args) for record in caplog.records)
    for identifier in ("Zhang", "Xiaoling", "MRN-5550123", "20150314"):
        assert identifier not in logged
    assert "Zhang" not in response.content.decode()
