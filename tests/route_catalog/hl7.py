"""HL7 v2 routes of the API (platform/integrations/hl7_urls.py, under /api/v1/)."""
from __future__ import annotations

from django.urls import reverse

ROUTES = {
    "hl7:assessment-message": ("object", "his"),
    "hl7:destination": ("collection", "admin"),
    "hl7:deliveries": ("collection", "his"),
}

AUDIT = {
    "hl7:assessment-message": {"GET": "assessment.read"},  # the result, as ORU^R01
    # The receiver's host and port and the MSH routing names: hospital settings, no patient data; a change is
    # a configuration event.
    "hl7:destination": {"PUT": "hl7_destination.change"},
    # Transport states (opaque assessment ids, ACK codes): no patient data.
    "hl7:deliveries": None,
}


def b_objects(*, hospital_b, his_b, base):
    from integrations.hl7v2.services import hl7_destination_configure
    from tenants.context import tenant_context

    with tenant_context(hospital_b.tenant):
        hl7_destination_configure(tenant=hospital_b.tenant, host="hl7-engine.hospital-b.example", port=2575,
                                  receiving_application="B-RIS-ONLY", receiving_facility="B-FACILITY-ONLY")
    return {"hl7_host": "hl7-engine.hospital-b.example", "hl7_receiving_application": "B-RIS-ONLY"}


def object_url(name: str, b: dict) -> str | None:
    if name == "hl7:assessment-message":
        return reverse(name, kwargs={"assessment_id": b["assessment"]})
    return None


def _succeed(p: dict) -> None:
    """The audit check's assessment, finished as the worker would finish it (only a result has a message)."""
    from inference import services
    from inference.catalog import DEMO_NOTICE
    from tenants.context import tenant_context

    with tenant_context(p["hospital"].tenant):
        services.assessment_start(assessment_id=p["assessment"])
        services.assessment_succeed(assessment_id=p["assessment"], served_version=1, result={
            "bone_age_months": 130.4, "z_score": 1.2, "model": {"name": "bone_age", "version": 1, "demo": True},
            "notice": DEMO_NOTICE})


def audited_request(name: str, method: str, p: dict):
    if name == "hl7:destination":
        return p["admin"].put(reverse(name), {"host": "hl7.hospital-a.example", "port": 2575},
                              content_type="application/json"), (200,)
    if name != "hl7:assessment-message":
        return None
    from tests.audit._support import last_event_id

    _succeed(p)
    p["_mark"] = last_event_id()
    return p["his"].get(reverse(name, kwargs={"assessment_id": p["assessment"]})), (200,)
