"""The hospital portal's pages (issue 7) and the reviews API (sign-off), classified for the cross-tenant and audit
suites. The original portal pages moved here from core.py."""
from __future__ import annotations

from django.test import Client
from django.urls import reverse

NO_PATIENT_DATA = None

ROUTES = {
    # Signing in and out, password reset (no hospital data).
    "portal:login": ("public", "radiologist"),
    "portal:login-code": ("public", "radiologist"),
    "portal:logout": ("public", "radiologist"),
    "portal:password-reset": ("public", "radiologist"),
    "portal:password-reset-done": ("public", "radiologist"),
    # A reset link is an object: B's person's link (with a token A cannot have) is a 404 like any unknown link.
    "portal:password-reset-confirm": ("object", "radiologist"),
    "portal:password-reset-complete": ("public", "radiologist"),
    # The person's own account.
    "portal:account-two-step": ("account", "radiologist"),
    "portal:account-language": ("account", "radiologist"),
    "portal:password-change": ("account", "radiologist"),
    "portal:password-change-done": ("account", "radiologist"),
    "portal:switch-hospital": ("membership", "radiologist"),
    # Worklist, submit, result.
    "portal:assessment-list": ("collection", "radiologist"),
    "portal:assessment-states": ("collection", "radiologist"),
    "portal:assessment-detail": ("object", "radiologist"),
    "portal:assessment-image": ("object", "radiologist"),
    "portal:assessment-artifact-png": ("object", "radiologist"),
    "portal:assessment-signoff": ("object", "radiologist"),
    "portal:submit": ("collection", "radiologist"),
    "portal:submit-files": ("collection", "radiologist"),
    # Hospital administration.
    "portal:manage-people": ("collection", "admin"),
    "portal:manage-person": ("object", "admin"),
    "portal:manage-keys": ("collection", "admin"),
    "portal:manage-key-revoke": ("object", "admin"),
    "portal:billing-usage": ("collection", "billing"),
    "portal:billing-invoice-list": ("collection", "billing"),
    "portal:billing-invoice-detail": ("object", "billing"),
    "portal:audit-events": ("collection", "auditor"),
    # The operator console: no hospital principal may use it (hospital A's administrator is refused, and the
    # refusal page must show nothing of B); staff access is tested in tests/portal/test_portal_pages.py.
    "portal:operator-console": ("collection", "admin"),
    # Reviews API.
    "reviews:signoff-collection": ("object", "radiologist"),
}

AUDIT: dict[str, dict[str, str] | None] = {
    "portal:login": {"POST": "signin"},
    "portal:login-code": {"POST": "signin"},
    "portal:logout": {"POST": "signout"},
    "portal:password-reset": NO_PATIENT_DATA,  # sends a link to an account's own address
    "portal:password-reset-done": NO_PATIENT_DATA,
    "portal:password-reset-confirm": NO_PATIENT_DATA,
    "portal:password-reset-complete": NO_PATIENT_DATA,
    "portal:switch-hospital": NO_PATIENT_DATA,  # chooses among the person's own memberships
    "portal:account-two-step": NO_PATIENT_DATA,  # the person's own second factor
    "portal:account-language": NO_PATIENT_DATA,  # the person's own language
    "portal:password-change": NO_PATIENT_DATA,
    "portal:password-change-done": NO_PATIENT_DATA,
    "portal:assessment-list": {"GET": "assessment.list"},
    # Workflow state (status, critical flag) of ids the page listed and recorded; no clinical values.
    "portal:assessment-states": NO_PATIENT_DATA,
    "portal:assessment-detail": {"GET": "assessment.read"},
    "portal:assessment-image": {"GET": "assessment.download"},
    "portal:assessment-artifact-png": {"GET": "assessment.download"},
    "portal:assessment-signoff": {"POST": "assessment.signoff"},
    "portal:submit": NO_PATIENT_DATA,  # the empty form
    "portal:submit-files": {"POST": "assessment.upload"},
    # People and keys: no patient data; each change is audited by tenants.services (membership.*, api_key.*).
    "portal:manage-people": NO_PATIENT_DATA,
    "portal:manage-person": NO_PATIENT_DATA,
    "portal:manage-keys": {"POST": "api_key.create"},
    "portal:manage-key-revoke": {"POST": "api_key.revoke"},
    "portal:billing-usage": NO_PATIENT_DATA,
    "portal:billing-invoice-list": NO_PATIENT_DATA,
    "portal:billing-invoice-detail": NO_PATIENT_DATA,
    "portal:audit-events": {"GET": "audit.export"},
    # Hospitals, plans and model versions (no patient data); every view writes `operator.access` all the same.
    "portal:operator-console": NO_PATIENT_DATA,
    "reviews:signoff-collection": {"POST": "assessment.signoff", "GET": "assessment.read"},
}


def _membership_of(username: str) -> int:
    from tenants.models import Membership

    return Membership.objects.filter(user__username=username).values_list("pk", flat=True).first()


def object_url(name: str, b: dict) -> str | None:
    if name == "portal:billing-invoice-detail":
        return reverse(name, kwargs={"invoice_id": b["invoice"]})
    if name in {"portal:assessment-detail", "portal:assessment-image", "portal:assessment-signoff",
                "reviews:signoff-collection"}:
        return reverse(name, kwargs={"assessment_id": b["assessment"]})
    if name == "portal:assessment-artifact-png":
        return reverse(name, kwargs={"assessment_id": b["assessment"], "name": "mask"})
    if name == "portal:manage-person":
        return reverse(name, kwargs={"membership_id": _membership_of(b["username"])})
    if name == "portal:manage-key-revoke":
        return reverse(name, kwargs={"api_key_id": b["api_key"]})
    if name == "portal:password-reset-confirm":
        from django.contrib.auth import get_user_model
        from django.utils.encoding import force_bytes
        from django.utils.http import urlsafe_base64_encode

        user = get_user_model().objects.get(username=b["username"])
        return reverse(name, kwargs={"uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": "set-password"})
    return None


def _succeeded(p: dict) -> None:
    """Mark the fixture's assessment finished (sign-off needs a result; the worker is not part of this suite)."""
    from inference.models import Assessment
    from tenants.context import tenant_context

    with tenant_context(p["hospital"].tenant):
        Assessment.objects.filter(pk=p["assessment"]).update(
            status="succeeded", result={"bone_age_months": 120.0, "bone_age_years_months": "10 y 0 m", "sex": "F"})


def _stored_mask(p: dict) -> str:
    """A mask artifact of the fixture's assessment, stored like the worker stores one."""
    import hashlib
    import io

    import numpy as np

    from inference.models import Assessment, AssessmentArtifact
    from studies import storage
    from tenants.context import tenant_context
    from tenants.storage_keys import derived_object_key

    buffer = io.BytesIO()
    np.savez_compressed(buffer, mask=np.eye(16, dtype=np.uint8))
    data = buffer.getvalue()
    tenant = p["hospital"].tenant
    key = derived_object_key(tenant_id=tenant.pk, assessment_id=p["assessment"], name="mask.npz")
    digest = hashlib.sha256(data).hexdigest()
    storage.put_image(key=key, data=data, content_type="application/octet-stream", sha256=digest)
    with tenant_context(tenant):
        AssessmentArtifact.objects.get_or_create(
            assessment=Assessment.objects.get(pk=p["assessment"]), name="mask",
            defaults={"tenant": tenant, "kind": "mask", "storage_key": key, "sha256": digest,
                      "size_bytes": len(data), "content_type": "application/octet-stream"})
    return "mask"


def _original_file(p: dict):
    import io

    from inference.models import Assessment
    from studies import storage
    from tenants.context import tenant_context

    with tenant_context(p["hospital"].tenant):
        instance = Assessment.objects.select_related("instance").get(pk=p["assessment"]).instance
    upload = io.BytesIO(storage.get_image(key=instance.storage_key))
    upload.name = "again.png"
    return upload


def audited_request(name: str, method: str, p: dict):
    from tests.audit._support import last_event_id, two_step_client as _two_step_client

    hospital = p["hospital"]
    assessment = {"assessment_id": p["assessment"]}
    if name != "portal:logout":
        # portal:logout (earlier in the suite's order) ends the radiologist's session.
        p["radiologist"].force_login(hospital.user)
    if name == "portal:audit-events":
        return p["auditor"].get(reverse(name)), (200,)
    if name == "portal:assessment-list":
        return p["radiologist"].get(reverse(name)), (200,)
    if name in {"portal:assessment-detail", "portal:assessment-image"}:
        return p["radiologist"].get(reverse(name, kwargs=assessment)), (200,)
    if name == "portal:assessment-artifact-png":
        artifact = _stored_mask(p)
        p["_mark"] = last_event_id()
        return p["radiologist"].get(reverse(name, kwargs={**assessment, "name": artifact})), (200,)
    if name == "portal:assessment-signoff":
        _succeeded(p)
        return p["radiologist"].post(reverse(name, kwargs=assessment), {"decision": "agree"}), (302,)
    if name == "reviews:signoff-collection":
        _succeeded(p)
        if method == "POST":
            return p["radiologist"].post(reverse(name, kwargs=assessment),
                                         {"decision": "disagree", "comment": "Carpals read older."}), (201,)
        return p["radiologist"].get(reverse(name, kwargs=assessment)), (200,)
    if name == "portal:submit-files":
        # The fixture's own file again: the portal answers with (and records the upload against) its assessment.
        return p["radiologist"].post(reverse(name), {"files": _original_file(p), "model": "bone_age",
                                                     "patient_sex": "F"}), (200,)
    if name == "portal:manage-keys":
        return p["admin"].post(reverse(name), {"name": "ward RIS", "scope_read": "1"}), (201,)
    if name == "portal:manage-key-revoke":
        from tenants.services import api_key_create

        key_row, _ = api_key_create(tenant=hospital.tenant, name="to revoke in the portal")
        p["_mark"] = last_event_id()
        return p["admin"].post(reverse(name, kwargs={"api_key_id": str(key_row.id)})), (302,)
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
