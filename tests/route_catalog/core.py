"""The routes of the walking skeleton, tenancy, billing and audit (API and the original portal pages)."""
from __future__ import annotations

from django.test import Client
from django.urls import reverse

NO_PATIENT_DATA = None

ROUTES = {
    "api:assessment-collection": ("collection", "his"),
    "api:assessment-detail": ("object", "his"),
    "api:assessment-original": ("object", "his"),
    "api:api-key-collection": ("collection", "admin"),
    "api:api-key-detail": ("object", "admin"),
    "api:billing-usage": ("collection", "billing"),
    "api:billing-invoice-collection": ("collection", "billing"),
    "api:billing-invoice-detail": ("object", "billing"),
    "api:audit-events": ("collection", "auditor"),
    "portal:assessment-list": ("collection", "radiologist"),
    "portal:assessment-detail": ("object", "radiologist"),
    "portal:assessment-image": ("object", "radiologist"),
    "portal:switch-hospital": ("membership", "radiologist"),
    "portal:billing-usage": ("collection", "billing"),
    "portal:billing-invoice-list": ("collection", "billing"),
    "portal:billing-invoice-detail": ("object", "billing"),
    "portal:audit-events": ("collection", "auditor"),
    "portal:login": ("public", "radiologist"),
    "portal:login-code": ("public", "radiologist"),
    "portal:logout": ("public", "radiologist"),
    "portal:account-two-step": ("account", "radiologist"),
    "portal:password-change": ("account", "radiologist"),
    "portal:password-change-done": ("account", "radiologist"),
    "health": ("public", "radiologist"),
}

AUDIT: dict[str, dict[str, str] | None] = {
    "api:assessment-collection": {"POST": "assessment.upload", "GET": "assessment.list"},
    "api:assessment-detail": {"GET": "assessment.read"},
    "api:assessment-original": {"GET": "assessment.download"},
    "api:api-key-collection": {"POST": "api_key.create"},  # GET lists key prefixes: no patient data
    "api:api-key-detail": {"DELETE": "api_key.revoke"},  # GET shows one key: no patient data
    "api:audit-events": {"GET": "audit.export"},
    "portal:assessment-list": {"GET": "assessment.list"},
    "portal:assessment-detail": {"GET": "assessment.read"},
    "portal:assessment-image": {"GET": "assessment.download"},
    "portal:audit-events": {"GET": "audit.export"},
    "portal:login": {"POST": "signin"},
    "portal:login-code": {"POST": "signin"},
    "portal:logout": {"POST": "signout"},
    "portal:switch-hospital": NO_PATIENT_DATA,  # chooses among the person's own memberships
    "portal:account-two-step": NO_PATIENT_DATA,  # the person's own second factor
    "portal:password-change": NO_PATIENT_DATA,
    "portal:password-change-done": NO_PATIENT_DATA,
    "health": NO_PATIENT_DATA,
    # Billing (usage counts and invoices per hospital): no patient data; plan changes are audited by the
    # billing services (`plan.change`).
    "api:billing-usage": NO_PATIENT_DATA,
    "api:billing-invoice-collection": NO_PATIENT_DATA,
    "api:billing-invoice-detail": NO_PATIENT_DATA,
    "portal:billing-usage": NO_PATIENT_DATA,
    "portal:billing-invoice-list": NO_PATIENT_DATA,
    "portal:billing-invoice-detail": NO_PATIENT_DATA,
}


def object_url(name: str, b: dict) -> str | None:
    if name == "api:api-key-detail":
        return reverse(name, kwargs={"api_key_id": b["api_key"]})
    if name.endswith(":billing-invoice-detail"):
        return reverse(name, kwargs={"invoice_id": b["invoice"]})
    if name in {"api:assessment-detail", "api:assessment-original", "portal:assessment-detail",
                "portal:assessment-image"}:
        return reverse(name, kwargs={"assessment_id": b["assessment"]})
    return None


def audited_request(name: str, method: str, p: dict):
    from tests.audit._support import last_event_id, png_upload as _png, two_step_client as _two_step_client

    hospital = p["hospital"]
    hospital = p["hospital"]
    if name == "api:assessment-collection":
        if method == "POST":
            return p["his"].post(reverse(name), {"file": _png(2), "model": "bone_age", "patient_sex": "M"},
                                 format="multipart"), (202,)
        return p["his"].get(reverse(name)), (200,)
    if name in {"api:assessment-detail", "api:assessment-original"}:
        return p["his"].get(reverse(name, kwargs={"assessment_id": p["assessment"]})), (200,)
    if name == "api:api-key-collection":
        return p["admin"].post(reverse(name), {"name": "new RIS"}, content_type="application/json"), (201,)
    if name == "api:api-key-detail":
        return p["admin"].delete(reverse(name, kwargs={"api_key_id": p["api_key"]})), (200,)
    if name == "api:audit-events":
        return p["auditor"].get(reverse(name), {"format": "json"}), (200,)
    if name == "portal:audit-events":
        return p["auditor"].get(reverse(name)), (200,)
    if name == "portal:assessment-list":
        return p["radiologist"].get(reverse(name)), (200,)
    if name in {"portal:assessment-detail", "portal:assessment-image"}:
        return p["radiologist"].get(reverse(name, kwargs={"assessment_id": p["assessment"]})), (200,)
    if name == "portal:login":
        return Client().post(reverse(name), {"username": hospital.user.username,
                                             "password": hospital.password}), (302,)
    if name == "portal:login-code":
        client, code = _two_step_client(hospital)
        p["_mark"] = last_event_id()  # enrolment and the password step wrote their own events
        return client.post(reverse(name), {"code": code}), (302,)
    if name == "portal:logout":
        return p["radiologist"].post(reverse(name)), (302,)
    return None
