"""The download routes of an assessment's report formats: stored once under the hospital's prefix, audited as
downloads, 404 across hospitals, 409 before success, and the SEG only where there are masks."""
from __future__ import annotations

import io

import numpy as np
import pydicom
from django.urls import reverse

from tests.audit._support import all_events, last_event_id, png_upload
from tests.reports import _results
from tests.reports._dicom import ct_series
from tests.reports._support import build_with_dicom_sources, make_assessment, succeed

ROUTES = ("reports:assessment-report-pdf", "reports:assessment-report-html", "reports:assessment-fhir",
          "reports:assessment-dicom-sr", "reports:assessment-dicom-seg")


def _url(name, assessment_id):
    return reverse(name, kwargs={"assessment_id": assessment_id})


def _upload(client, seed=1):
    response = client.post("/api/v1/assessments", {"file": png_upload(seed), "model": "bone_age",
                                                   "patient_sex": "F"}, format="multipart")
    assert response.status_code == 202, response.content
    return response.json()["id"]


def test_before_success_every_format_answers_409_result_not_ready(his_a):
    assessment_id = _upload(his_a)
    for name in ROUTES:
        response = his_a.get(_url(name, assessment_id))
        assert response.status_code == 409, (name, response.content)
        assert response.json()["code"] == "result_not_ready"
        assert response.json()["status"] == "queued"


def test_another_hospitals_assessment_is_a_404_in_every_format(his_a, his_b, hospital_b):
    assessment_id = _upload(his_b, seed=7)
    succeed(tenant=hospital_b.tenant, assessment_id=assessment_id, result=_results.bone_age_result())
    for name in ROUTES:
        response = his_a.get(_url(name, assessment_id))
        assert response.status_code == 404, name
        assert response.json()["code"] == "assessment_not_found"
        assert his_b.get(_url("reports:assessment-report-html", assessment_id)).status_code == 200


def test_a_png_assessment_has_a_report_but_no_sr_and_no_seg(his_a, hospital_a):
    assessment_id = _upload(his_a, seed=2)
    succeed(tenant=hospital_a.tenant, assessment_id=assessment_id, result=_results.bone_age_result())
    pdf = his_a.get(_url("reports:assessment-report-pdf", assessment_id))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf["Content-Disposition"] == f'attachment; filename="{assessment_id}-report.pdf"'
    html = his_a.get(_url("reports:assessment-report-html", assessment_id))
    assert html.status_code == 200 and b"demo, not for diagnostic use" in html.content
    assert html["Content-Security-Policy"].startswith("default-src 'none'")
    sr = his_a.get(_url("reports:assessment-dicom-sr", assessment_id))
    assert sr.status_code == 404 and sr.json()["code"] == "no_dicom_source"
    seg = his_a.get(_url("reports:assessment-dicom-seg", assessment_id))
    assert seg.status_code == 404 and seg.json()["code"] == "no_segmentation"


def test_artifacts_are_built_once_stored_encrypted_under_the_hospitals_prefix(hospital_a, platform_settings,
                                                                              s3_server):
    from inference.models import AssessmentArtifact
    from tenants.context import tenant_context

    series = ct_series()
    mask = np.zeros((8, 32, 32), dtype=bool)
    mask[2:7, 12:21, 12:21] = True
    assessment = make_assessment(tenant=hospital_a.tenant, result=_results.lung_nodule_result(), datasets=series)
    first = build_with_dicom_sources(tenant=hospital_a.tenant, assessment_id=assessment.id, datasets=series,
                                     masks={"nodule-1": mask})
    again = build_with_dicom_sources(tenant=hospital_a.tenant, assessment_id=assessment.id, datasets=series,
                                     masks={"nodule-1": mask})
    assert sorted(first) == ["report-seg.dcm", "report-sr.dcm", "report.html", "report.pdf"]
    assert {name: a.pk for name, a in first.items()} == {name: a.pk for name, a in again.items()}
    with tenant_context(hospital_a.tenant):
        rows = list(AssessmentArtifact.objects.filter(assessment=assessment))
    assert len(rows) == 4
    kinds = {row.name: row.kind for row in rows}
    assert kinds == {"report-sr.dcm": "dicom_sr", "report-seg.dcm": "dicom_seg", "report.html": "report_html",
                     "report.pdf": "report_pdf"}
    for row in rows:
        assert row.storage_key.startswith(f"tenants/{hospital_a.tenant.id}/assessments/{assessment.id}/")
        stored = s3_server.client().get_object(Bucket=s3_server.bucket, Key=row.storage_key)
        assert stored.get("ServerSideEncryption") == "AES256"
        assert len(stored["Body"].read()) == row.size_bytes
    sr_row = next(row for row in rows if row.kind == "dicom_sr")
    sr = pydicom.dcmread(io.BytesIO(s3_server.client().get_object(Bucket=s3_server.bucket,
                                                                   Key=sr_row.storage_key)["Body"].read()))
    assert sr.SOPInstanceUID == sr_row.sop_instance_uid


def test_the_dicom_downloads_reference_the_source_uids_and_are_audited(his_a, hospital_a):
    from inference.models import Assessment
    from tenants.context import tenant_context

    series = ct_series()
    mask = np.zeros((8, 32, 32), dtype=bool)
    mask[2:7, 12:21, 12:21] = True
    assessment = make_assessment(tenant=hospital_a.tenant, result=_results.lung_nodule_result(), datasets=series)
    build_with_dicom_sources(tenant=hospital_a.tenant, assessment_id=assessment.id, datasets=series,
                             masks={"nodule-1": mask})
    mark = last_event_id()
    sr = his_a.get(_url("reports:assessment-dicom-sr", assessment.id))
    seg = his_a.get(_url("reports:assessment-dicom-seg", assessment.id))
    fhir = his_a.get(_url("reports:assessment-fhir", assessment.id))
    assert (sr.status_code, seg.status_code, fhir.status_code) == (200, 200, 200)
    assert sr["Content-Type"] == seg["Content-Type"] == "application/dicom"
    assert fhir["Content-Type"] == "application/fhir+json"
    sr_ds = pydicom.dcmread(io.BytesIO(sr.content))
    seg_ds = pydicom.dcmread(io.BytesIO(seg.content))
    evidence = sr_ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.SeriesInstanceUID == series[0].SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in evidence.ReferencedSOPSequence} == {d.SOPInstanceUID for d in series}
    assert seg_ds.ReferencedSeriesSequence[0].SeriesInstanceUID == series[0].SeriesInstanceUID
    assert seg_ds.StudyInstanceUID == sr_ds.StudyInstanceUID == series[0].StudyInstanceUID
    assert fhir.json()["entry"][0]["resource"]["id"] == str(assessment.id)
    events = [e for e in all_events(after_id=mark) if e.event == "assessment.download"]
    assert [e.details["format"] for e in events] == ["report-sr.dcm", "report-seg.dcm", "fhir"]
    with tenant_context(hospital_a.tenant):
        assert {str(e.assessment_id) for e in events} == {str(Assessment.objects.get(pk=assessment.id).pk)}
    assert {e.study_instance_uid for e in events} == {series[0].StudyInstanceUID}


def test_a_download_whose_audit_event_cannot_be_written_answers_503_and_nothing(his_a, hospital_a, monkeypatch):
    from django.db import OperationalError

    from audit import services as audit_services

    assessment = make_assessment(tenant=hospital_a.tenant, result=_results.mammography_result(),
                                 datasets=ct_series(slices=1), store=True)
    monkeypatch.setattr(audit_services, "_append", lambda **kwargs: (_ for _ in ()).throw(
        OperationalError("audit table unavailable")))
    for name in ("reports:assessment-report-html", "reports:assessment-fhir"):
        response = his_a.get(_url(name, assessment.id))
        assert response.status_code == 503 and response.json()["code"] == "audit_unavailable"
        assert b"Lesion" not in response.content


def test_an_api_key_without_the_read_scope_cannot_download(hospital_a, platform_settings):
    from tenants import services
    from tests.conftest import his_client

    _, key = services.api_key_create(tenant=hospital_a.tenant, name="submit only", scopes=["submit"])
    hospital_a.api_key = key
    assessment = make_assessment(tenant=hospital_a.tenant, result=_results.mammography_result(),
                                 datasets=ct_series(slices=1))
    response = his_client(hospital_a).get(_url("reports:assessment-report-pdf", assessment.id))
    assert response.status_code == 403 and response.json()["code"] == "insufficient_scope"


def test_a_signed_in_radiologist_downloads_the_html_report(hospital_a, platform_settings):
    from django.test import Client

    assessment = make_assessment(tenant=hospital_a.tenant, result=_results.cardiac_result(),
                                 datasets=ct_series(slices=1), store=True)
    client = Client()
    client.force_login(hospital_a.user)
    response = client.get(_url("reports:assessment-report-html", assessment.id))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="demo-banner"' in body and "Left ventricular ejection fraction 31% (under 35%)." in body


def test_the_celery_task_builds_the_artifacts_and_a_second_run_changes_nothing(hospital_a, platform_settings):
    from inference.models import AssessmentArtifact
    from reports.tasks import build_report_artifacts
    from tenants.context import tenant_context

    assessment = make_assessment(tenant=hospital_a.tenant, result=_results.mammography_result(),
                                 datasets=ct_series(slices=1), store=True)
    kwargs = {"tenant_id": str(hospital_a.tenant.id), "assessment_id": str(assessment.id)}
    assert build_report_artifacts.apply(kwargs=kwargs).result == ["report-sr.dcm", "report.html", "report.pdf"]
    with tenant_context(hospital_a.tenant):
        before = sorted(AssessmentArtifact.objects.filter(assessment=assessment).values_list("pk", "sha256"))
    assert build_report_artifacts.apply(kwargs=kwargs).result == ["report-sr.dcm", "report.html", "report.pdf"]
    with tenant_context(hospital_a.tenant):
        assert sorted(AssessmentArtifact.objects.filter(assessment=assessment).values_list("pk", "sha256")) == before


def test_the_task_ends_quietly_for_an_unfinished_or_unreadable_assessment(hospital_a, platform_settings):
    from inference.models import AssessmentArtifact
    from reports.tasks import build_report_artifacts
    from tenants.context import tenant_context

    queued = make_assessment(tenant=hospital_a.tenant, result=_results.mammography_result(),
                             datasets=ct_series(slices=1), status="queued", store=True)
    unreadable = make_assessment(tenant=hospital_a.tenant, result=_results.mammography_result(),
                                 datasets=ct_series(slices=1), store=False)  # its image is not in the store
    for assessment in (queued, unreadable):
        outcome = build_report_artifacts.apply(kwargs={"tenant_id": str(hospital_a.tenant.id),
                                                       "assessment_id": str(assessment.id)})
        assert outcome.successful() and outcome.result is None
    with tenant_context(hospital_a.tenant):
        assert not AssessmentArtifact.objects.exists()


def test_a_series_assessment_reports_from_its_stored_slices_in_anatomical_order(his_a, hospital_a):
    """Sources come from the Series members by position (not row order), masks from the nodules.npz artifact."""
    from tests.reports._support import make_series_assessment

    series = ct_series()
    labels = np.zeros((8, 32, 32), dtype=np.uint8)
    labels[2:7, 12:21, 12:21] = 1  # nodule 1
    labels[1:4, 4:9, 22:27] = 2  # nodule 2
    buffer = io.BytesIO()
    np.savez_compressed(buffer, labels=labels)
    assessment = make_series_assessment(tenant=hospital_a.tenant, result=_results.lung_nodule_result(),
                                        datasets=series, mask_npz=buffer.getvalue())

    sr = pydicom.dcmread(io.BytesIO(his_a.get(_url("reports:assessment-dicom-sr", assessment.id)).content))
    regions = []
    pending = list(sr.ContentSequence)
    while pending:
        item = pending.pop(0)
        if item.ValueType == "SCOORD":
            regions.append(item.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
        pending += list(getattr(item, "ContentSequence", []))
    # Nodule 1 measured on slice 4, nodule 2 on slice 2 (result slice_index), whatever order the rows were made in.
    assert sorted(regions) == sorted([series[4].SOPInstanceUID, series[2].SOPInstanceUID])

    seg = pydicom.dcmread(io.BytesIO(his_a.get(_url("reports:assessment-dicom-seg", assessment.id)).content))
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["nodule-1", "nodule-2"]
    by_uid = {ds.SOPInstanceUID: index for index, ds in enumerate(series)}
    frames = seg.pixel_array.reshape(int(seg.NumberOfFrames), 32, 32)
    for frame, functional in zip(frames, seg.PerFrameFunctionalGroupsSequence, strict=True):
        number = int(functional.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        source = functional.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        assert np.array_equal(frame.astype(bool), labels[by_uid[source]] == number)

    pdf = his_a.get(_url("reports:assessment-report-pdf", assessment.id))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
