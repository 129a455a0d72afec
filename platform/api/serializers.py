"""The API's representation of assessments."""
from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from inference.catalog import DEMO_NOTICE
from inference.models import Assessment


def assessment_location(assessment: Assessment) -> str:
    return reverse("api:assessment-detail", kwargs={"assessment_id": assessment.id})


def serialize_assessment(assessment: Assessment) -> dict:
    """The JSON body of an assessment. Errors appear only once failed; while a retry waits, `retrying`
    tells the integrator why the assessment is still queued."""
    instance = assessment.instance
    body = {
        "id": str(assessment.id),
        "status": assessment.status,
        "model": {
            "name": assessment.model_name,
            "version": assessment.model_version,
            "precision": assessment.model_precision,
            "demo": assessment.model_is_demo,
        },
        "notice": DEMO_NOTICE if assessment.model_is_demo else None,
        "study": {
            "study_instance_uid": instance.study.study_instance_uid,
            "series_instance_uid": instance.series_instance_uid,
            "sop_instance_uid": instance.sop_instance_uid or None,
            "sha256": instance.sha256,
            "content_type": instance.content_type,
        },
        "series": (
            {"series_instance_uid": assessment.series.series_instance_uid,
             "instance_count": assessment.series.instance_count, "modality": assessment.series.modality}
            if assessment.series_id else None
        ),
        "priority": assessment.priority,
        "is_critical": assessment.is_critical,
        "critical_findings": assessment.critical_findings if assessment.status == Assessment.Status.SUCCEEDED
        else [],
        "stages": assessment.stage_versions,
        "patient_sex": assessment.patient_sex or None,
        "chronological_age_months": assessment.chronological_age_months,
        "attempts": assessment.attempts,
        "submitted_at": assessment.created_at.isoformat(),
        "started_at": assessment.started_at.isoformat() if assessment.started_at else None,
        "finished_at": assessment.finished_at.isoformat() if assessment.finished_at else None,
        "result": assessment.result if assessment.status == Assessment.Status.SUCCEEDED else None,
        "error": (
            {"code": assessment.error_code, "message": assessment.error_message}
            if assessment.status == Assessment.Status.FAILED
            else None
        ),
        "links": {
            "self": assessment_location(assessment),
            "portal": settings.PUBLIC_BASE_URL.rstrip("/")
            + reverse("portal:assessment-detail", kwargs={"assessment_id": assessment.id}),
        },
    }
    if assessment.status == Assessment.Status.QUEUED and assessment.error_code:
        body["retrying"] = {"code": assessment.error_code, "message": assessment.error_message}
    return body
