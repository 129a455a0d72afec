"""The real hand radiograph, end to end: the HIS submits it, the worker runs bone age on the model server, the
report task builds the artifacts through the broker, and the HIS fetches every format."""
from __future__ import annotations

import io
import time

import pydicom
from django.urls import reverse

from tests.conftest import HAND_DX, wait_for_status

DEMO = "demo, not for diagnostic use"


def _artifact_names(tenant, assessment_id, expected: int, timeout_s: float = 60.0) -> list[str]:
    from inference.models import AssessmentArtifact
    from tenants.context import tenant_context

    deadline = time.monotonic() + timeout_s
    names: list[str] = []
    while time.monotonic() < deadline:
        with tenant_context(tenant):
            names = sorted(AssessmentArtifact.objects.filter(assessment_id=assessment_id)
                           .values_list("name", flat=True))
        if len(names) >= expected:
            return names
        time.sleep(0.2)
    raise AssertionError(f"report artifacts not built in {timeout_s}s: {names}")


def test_a_bone_age_of_the_real_hand_radiograph_leaves_in_every_format(his_a, hospital_a, celery_worker):
    from fhir.resources.R4B.bundle import Bundle
    from pypdf import PdfReader

    from inference.models import Assessment
    from reports.results import report_result
    from reports.schemas import result_errors
    from reports.services import report_artifacts_enqueue
    from tenants.context import tenant_context

    with HAND_DX.open("rb") as handle:
        response = his_a.post("/api/v1/assessments", {"file": handle, "model": "bone_age",
                                                      "chronological_age_months": "126"}, format="multipart")
    assert response.status_code == 202, response.content
    done = wait_for_status(his_a, response["Location"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    assessment_id = done["id"]
    bone_age = done["result"]["bone_age_months"]

    # What the worker will enqueue after success, here through the real broker and worker.
    with tenant_context(hospital_a.tenant):
        assert report_artifacts_enqueue(assessment=Assessment.objects.get(pk=assessment_id))
    assert _artifact_names(hospital_a.tenant, assessment_id, 3) == ["report-sr.dcm", "report.html", "report.pdf"]
    with tenant_context(hospital_a.tenant):
        completed = report_result(Assessment.objects.get(pk=assessment_id))
    assert result_errors("bone_age", completed) == []

    def get(name):
        reply = his_a.get(reverse(name, kwargs={"assessment_id": assessment_id}))
        assert reply.status_code in (200, 404), (name, reply.content[:300])
        return reply

    pdf = get("reports:assessment-report-pdf")
    text = " ".join("\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages).split())
    assert DEMO in text and "bone_age 1 FP32" in text
    assert "Bone age (Greulich & Pyle)" in text and f"{bone_age:.1f}" in text

    html = get("reports:assessment-report-html").content.decode()
    assert 'class="demo-banner"' in html and "data:image/png;base64," in html

    bundle = get("reports:assessment-fhir").json()
    Bundle.model_validate(bundle)
    report = bundle["entry"][0]["resource"]
    assert report["status"] == "preliminary" and report["conclusion"].startswith("DEMO, NOT FOR DIAGNOSTIC USE")
    [observation] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert observation["valueQuantity"]["value"] == bone_age and observation["valueQuantity"]["code"] == "mo"

    hand = pydicom.dcmread(HAND_DX, stop_before_pixels=True)
    sr = pydicom.dcmread(io.BytesIO(get("reports:assessment-dicom-sr").content))
    assert sr.StudyInstanceUID == hand.StudyInstanceUID == done["study"]["study_instance_uid"]
    referenced = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == hand.SeriesInstanceUID
    assert [(r.ReferencedSOPClassUID, r.ReferencedSOPInstanceUID) for r in referenced.ReferencedSOPSequence] == \
        [(hand.SOPClassUID, hand.SOPInstanceUID)]
    assert sr.PatientSex == hand.PatientSex  # the SR belongs to the same patient and study in the PACS

    seg = get("reports:assessment-dicom-seg")
    assert seg.status_code == 404 and seg.json()["code"] == "no_segmentation"
