"""The webhook event catalogue and the JSON each event carries (documented in docs/webhooks.md).

Payloads hold no patient data: ids, the accession number and study UID (to match the HIS's order), codes, model
identity and links. Results themselves are fetched from the API (or FHIR) by the receiver, with its API key, so
every read of patient data stays authenticated and audited.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.urls import NoReverseMatch, reverse

ASSESSMENT_SUCCEEDED = "assessment.succeeded"
ASSESSMENT_FAILED = "assessment.failed"
ASSESSMENT_CRITICAL_FINDING = "assessment.critical_finding"
INVOICE_ISSUED = "invoice.issued"

EVENT_TYPES: dict[str, str] = {
    ASSESSMENT_SUCCEEDED: "An assessment finished with a result.",
    ASSESSMENT_FAILED: "An assessment ended without a result (error code given).",
    ASSESSMENT_CRITICAL_FINDING: "An assessment's result met a critical-finding rule (also e-mailed).",
    INVOICE_ISSUED: "A month was closed into an invoice.",
}

# Event ids are derived from what happened (the event type and the object), so publishing the same event twice (a
# re-delivered task, a second pass of the critical rules) is recognised and sent once per endpoint.
_EVENT_NAMESPACE = uuid.UUID("6f0d3c52-8f0e-4c8e-9d44-2f7f1b7c9a15")
API_VERSION = "v1"


def event_id_for(*, tenant_id, event_type: str, subject_id) -> uuid.UUID:
    """The stable id of `event_type` happening to the object `subject_id` of hospital `tenant_id`."""
    return uuid.uuid5(_EVENT_NAMESPACE, f"{tenant_id}:{event_type}:{subject_id}")


def envelope(*, event_id: uuid.UUID, event_type: str, created_at: datetime, data: dict) -> dict:
    """The body of every delivery: {id, type, api_version, created_at, data}."""
    return {
        "id": str(event_id),
        "type": event_type,
        "api_version": API_VERSION,
        "created_at": created_at.isoformat().replace("+00:00", "Z"),
        "data": data,
    }


def _absolute(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def _path(name: str, fallback: str, **kwargs) -> str:
    # Payloads are built inside the transaction that records a result: a renamed route must not fail it.
    try:
        return reverse(name, kwargs=kwargs)
    except NoReverseMatch:
        return fallback


def assessment_links(assessment_id) -> dict:
    """Where the receiver fetches the result (API, FHIR DiagnosticReport) and where a person opens it (portal)."""
    assessment_id = str(assessment_id)
    return {
        "result": _absolute(_path("api:assessment-detail", f"/api/v1/assessments/{assessment_id}",
                                  assessment_id=assessment_id)),
        # The FHIR endpoint set (issue 9, integrations app) serves the report under the assessment's id.
        "fhir_report": _absolute(f"/fhir/r4/DiagnosticReport/{assessment_id}"),
        "portal": _absolute(_path("portal:assessment-detail", f"/assessments/{assessment_id}/",
                                  assessment_id=assessment_id)),
    }


def critical_finding_codes(assessment) -> list[str]:
    """The codes of the assessment's critical findings (`[{code, message}]` or plain codes), never the messages."""
    codes = []
    for finding in assessment.critical_findings or []:
        code = finding.get("code") if isinstance(finding, dict) else finding
        if code and str(code) not in codes:
            codes.append(str(code))
    return codes


def assessment_data(assessment) -> dict:
    """`data` of the assessment.* events."""
    from inference.catalog import DEMO_NOTICE

    study = assessment.instance.study
    body = {
        "id": str(assessment.pk),
        "model": {"name": assessment.model_name, "version": assessment.model_version,
                  "precision": assessment.model_precision, "demo": assessment.model_is_demo},
        "status": assessment.status,
        "priority": assessment.priority,
        "is_critical": bool(assessment.is_critical),
        "critical_findings": critical_finding_codes(assessment),
        "study": {"study_instance_uid": study.study_instance_uid, "accession_number": study.accession_number},
        "error": {"code": assessment.error_code} if assessment.error_code and assessment.status == "failed" else None,
        "finished_at": assessment.finished_at.isoformat().replace("+00:00", "Z") if assessment.finished_at else None,
        "links": assessment_links(assessment.pk),
    }
    if assessment.model_is_demo:
        body["notice"] = DEMO_NOTICE
    return {"assessment": body}


def invoice_data(invoice) -> dict:
    """`data` of invoice.issued: the invoice's number, month, totals and its API link (no lines, no patients)."""
    return {
        "invoice": {
            "id": str(invoice.pk),
            "number": invoice.display_number,
            "period": f"{invoice.period:%Y-%m}",
            "currency": invoice.currency,
            "total": str(invoice.total),
            "assessments": invoice.assessments,
            "issued_at": invoice.issued_at.isoformat().replace("+00:00", "Z"),
            "links": {"api": _absolute(_path("api:billing-invoice-detail", f"/api/v1/billing/invoices/{invoice.pk}",
                                             invoice_id=str(invoice.pk)))},
        }
    }
