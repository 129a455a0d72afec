"""The API routes of the walking skeleton, tenancy, billing and audit (the portal's pages are in portal.py)."""
from __future__ import annotations

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
    "health": ("public", "radiologist"),
}

AUDIT: dict[str, dict[str, str] | None] = {
    "api:assessment-collection": {"POST": "assessment.upload", "GET": "assessment.list"},
    "api:assessment-detail": {"GET": "assessment.read"},
    "api:assessment-original": {"GET": "assessment.download"},
    "api:api-key-collection": {"POST": "api_key.create"},  # GET lists key prefixes: no patient data
    "api:api-key-detail": {"DELETE": "api_key.revoke"},  # GET shows one key: no patient data
    "api:audit-events": {"GET": "audit.export"},
    "health": NO_PATIENT_DATA,
    # Billing (usage counts and invoices per hospital): no patient data; plan changes are audited by the
    # billing services (`plan.change`).
    "api:billing-usage": NO_PATIENT_DATA,
    "api:billing-invoice-collection": NO_PATIENT_DATA,
    "api:billing-invoice-detail": NO_PATIENT_DATA,
}


def object_url(name: str, b: dict) -> str | None:
    if name == "api:api-key-detail":
        return reverse(name, kwargs={"api_key_id": b["api_key"]})
    if name == "api:billing-invoice-detail":
        return reverse(name, kwargs={"invoice_id": b["invoice"]})
    if name in {"api:assessment-detail", "api:assessment-original"}:
        return reverse(name, kwargs={"assessment_id": b["assessment"]})
    return None


def audited_request(name: str, method: str, p: dict):
    from tests.audit._support import png_upload as _png

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
    return None
