"""Routes of the FHIR R4 endpoint set (/fhir/r4/): metadata, DiagnosticReport read/search, ServiceRequest."""
from __future__ import annotations

import base64

from django.urls import reverse

NO_PATIENT_DATA = None

ROUTES = {
    "fhir:metadata": ("public", "his"),
    "fhir:diagnosticreport-search": ("collection", "his"),
    "fhir:diagnosticreport-read": ("object", "his"),
    "fhir:servicerequest-create": ("collection", "his"),
    "fhir:servicerequest-read": ("object", "his"),
}

AUDIT: dict[str, dict[str, str] | None] = {
    "fhir:metadata": NO_PATIENT_DATA,  # the server's CapabilityStatement
    "fhir:diagnosticreport-search": {"GET": "assessment.list"},
    "fhir:diagnosticreport-read": {"GET": "assessment.read"},
    "fhir:servicerequest-create": {"POST": "assessment.upload"},
    "fhir:servicerequest-read": {"GET": "assessment.read"},
}


def object_url(name: str, b: dict) -> str | None:
    if name == "fhir:diagnosticreport-read":
        return reverse(name, kwargs={"report_id": b["assessment"]})
    if name == "fhir:servicerequest-read":
        return reverse(name, kwargs={"request_id": b["assessment"]})
    return None


def audited_request(name: str, method: str, p: dict):
    if name not in ROUTES or name == "fhir:metadata":
        return None
    his = p["his"]
    if name == "fhir:diagnosticreport-search":
        return his.get(reverse(name), {"_count": "100"}), (200,)
    if name == "fhir:diagnosticreport-read":
        return his.get(reverse(name, kwargs={"report_id": p["assessment"]})), (200,)
    if name == "fhir:servicerequest-read":
        return his.get(reverse(name, kwargs={"request_id": p["assessment"]})), (200,)
    # An order of the very image the suite's assessment was made from (same bytes, sex, no age): the platform
    # answers with that assessment, so the one upload event names it.
    from inference.models import Assessment
    from studies import storage
    from tenants.context import tenant_context

    with tenant_context(p["hospital"].tenant):
        instance = Assessment.objects.select_related("instance").get(pk=p["assessment"]).instance
        data = storage.get_image(key=instance.storage_key)
    order = {
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "code": {"coding": [{"system": "https://mip.example/fhir/CodeSystem/mip-assessments", "code": "bone_age"}]},
        "subject": {"reference": "#patient"},
        "contained": [{"resourceType": "Patient", "id": "patient", "gender": "female"},
                      {"resourceType": "Binary", "id": "image", "contentType": "image/png",
                       "data": base64.b64encode(data).decode()}],
    }
    return his.post(reverse(name), order, format="json"), (200, 201)
