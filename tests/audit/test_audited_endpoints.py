"""Every route that touches patient data writes exactly one complete audit event per request.

Routes come from the URL resolver (like tests/tenants/test_cross_tenant_routes.py), so a new route without an
entry in AUDIT fails the suite: its author must say which event each method writes, or why it needs none.
"""
from __future__ import annotations

import io

import pytest
from django.test import Client
from django.urls import get_resolver, reverse

from tests.audit._support import all_events, last_event_id, png_upload as _png
from tests.route_catalog import AUDIT, audited_request
from tests.tenants.test_cross_tenant_routes import _named_routes

PHI_EVENTS = {"assessment.upload", "assessment.read", "assessment.download"}


def test_every_route_has_an_audit_classification():
    routes = set(_named_routes(get_resolver().url_patterns))
    assert sorted(routes - set(AUDIT)) == [], "classify the new route(s) in AUDIT"


@pytest.fixture
def principals(his_a, hospital_a):
    from accounts import lockout
    from tenants import services

    lockout.unlock(username=hospital_a.user.username)
    lockout.unlock(ip="127.0.0.1")
    radiologist = Client()
    radiologist.force_login(hospital_a.user)
    admin_user = services.user_create(username="admin.audit-a", password="admin-pass-audit-a-1234")
    services.membership_grant(tenant=hospital_a.tenant, user=admin_user, role="admin")
    admin = Client()
    admin.force_login(admin_user)
    auditor_user = services.user_create(username="auditor.audit-a", password="auditor-pass-audit-a-1234")
    services.membership_grant(tenant=hospital_a.tenant, user=auditor_user, role="auditor")
    auditor = Client()
    auditor.force_login(auditor_user)
    response = his_a.post("/api/v1/assessments", {"file": _png(1), "model": "bone_age", "patient_sex": "F"},
                          format="multipart")
    assert response.status_code == 202, response.content
    key_row, _ = services.api_key_create(tenant=hospital_a.tenant, name="to revoke")
    yield {"his": his_a, "radiologist": radiologist, "admin": admin, "auditor": auditor,
           "assessment": response.json()["id"], "api_key": str(key_row.id), "hospital": hospital_a}
    lockout.unlock(username=hospital_a.user.username)




def _complete(event, p, name) -> list[str]:
    """What an event of a PHI route must carry (ATNA: who, from where, when, what, outcome, which hospital)."""
    missing = [field for field in ("event_type_code", "event_type_display", "action", "hash", "previous_hash")
               if not getattr(event, field)]
    if event.outcome != 0:
        missing.append("outcome 0")
    if event.occurred_at is None:
        missing.append("occurred_at")
    if not (event.user_id or event.api_key_prefix):
        missing.append("actor")
    if not event.network_address:
        missing.append("network_address")
    if event.event in {"signin", "signout"}:
        if event.tenant_id is not None:
            missing.append("platform chain")
        return missing
    if event.tenant_id != p["hospital"].tenant.pk:
        missing.append("tenant")
    if event.event in PHI_EVENTS and name != "api:assessment-collection":
        if event.assessment_id != p["assessment"]:
            missing.append("assessment_id")
    if event.event in PHI_EVENTS:
        if not event.study_instance_uid:
            missing.append("study_instance_uid")
        if not event.patient_ref.startswith("pt-"):
            missing.append("patient_ref")
    if event.event == "assessment.list" and p["assessment"] not in event.details.get("assessment_ids", []):
        missing.append("details.assessment_ids")
    return missing


def test_every_audited_route_writes_exactly_one_complete_event(principals):
    failures = []
    for name, methods in sorted(AUDIT.items()):
        for method, expected in (methods or {}).items():
            principals.pop("_mark", None)
            mark = last_event_id()
            response, ok = audited_request(name, method, principals)
            mark = principals.get("_mark", mark)
            if response.status_code not in ok:
                failures.append(f"{method} {name}: {response.status_code} {response.content[:200]!r}")
                continue
            events = [e for e in all_events(after_id=mark) if e.event == expected]
            others = [e.event for e in all_events(after_id=mark) if e.event in PHI_EVENTS | {"assessment.list"}
                      and e.event != expected]
            if len(events) != 1:
                failures.append(f"{method} {name}: {len(events)} {expected} events")
                continue
            if others:
                failures.append(f"{method} {name}: also wrote {others}")
            missing = _complete(events[0], principals, name)
            if missing:
                failures.append(f"{method} {name}: event lacks {missing}")
    assert failures == []


def test_refused_requests_are_recorded_with_outcome_4(principals, hospital_b):
    from audit.pseudonym import opaque_reference

    p = principals
    mark = last_event_id()
    # A clinician-less role (auditor) asking for assessments: 403. A's key asking for an unknown id: 404.
    assert p["auditor"].get(reverse("api:assessment-collection")).status_code == 403
    assert p["auditor"].get(reverse("portal:assessment-list")).status_code == 403
    missing_id = "8d3c1b9e-0000-4000-8000-000000000000"
    assert p["his"].get(reverse("api:assessment-detail", kwargs={"assessment_id": missing_id})).status_code == 404
    assert p["radiologist"].get(reverse("portal:assessment-detail",
                                        kwargs={"assessment_id": missing_id})).status_code == 404
    refused = [e for e in all_events(after_id=mark) if e.event == "access.refused"]
    assert len(refused) == 4
    assert {e.outcome for e in refused} == {4}
    assert {e.tenant_id for e in refused} == {p["hospital"].tenant.pk}
    assert {e.event_type_code for e in refused} == {"110113"}
    probes = [e for e in refused if e.details.get("status") == 404]
    # The id asked for is kept only as a keyed pseudonym (it may be another hospital's).
    assert all(missing_id not in str(e.details) for e in refused)
    assert {e.details["requested"].get("assessment_id") or e.details["requested"].get("id") for e in probes} == \
        {opaque_reference(missing_id)}


def test_a_read_whose_audit_event_cannot_be_written_answers_503_and_no_patient_data(principals, monkeypatch):
    from django.db import OperationalError

    from audit import services as audit_services
    from inference.models import Assessment
    from tenants.context import tenant_context

    p = principals
    detail = p["his"].get(reverse("api:assessment-detail", kwargs={"assessment_id": p["assessment"]})).json()
    sha256 = detail["study"]["sha256"]

    def broken(**kwargs):
        raise OperationalError("audit table unavailable")

    monkeypatch.setattr(audit_services, "_append", broken)
    checks = [
        p["his"].get(reverse("api:assessment-detail", kwargs={"assessment_id": p["assessment"]})),
        p["his"].get(reverse("api:assessment-collection")),
        p["his"].get(reverse("api:assessment-original", kwargs={"assessment_id": p["assessment"]})),
        p["radiologist"].get(reverse("portal:assessment-detail", kwargs={"assessment_id": p["assessment"]})),
        p["radiologist"].get(reverse("portal:assessment-image", kwargs={"assessment_id": p["assessment"]})),
        p["radiologist"].get(reverse("portal:assessment-list")),
        p["auditor"].get(reverse("api:audit-events")),
    ]
    for response in checks:
        assert response.status_code == 503, (response.status_code, response.content[:300])
        body = response.content.decode(errors="replace")
        assert sha256 not in body and "bone_age_months" not in body and "study_instance_uid" not in body
    api_problem = checks[0].json()
    assert api_problem["code"] == "audit_unavailable"

    # A write whose event cannot be written does not happen: the upload is rolled back with it.
    with tenant_context(p["hospital"].tenant):
        before = Assessment.objects.count()
    response = p["his"].post(reverse("api:assessment-collection"), {"file": _png(3), "model": "bone_age",
                                                                   "patient_sex": "F"}, format="multipart")
    assert response.status_code == 503 and response.json()["code"] == "audit_unavailable"
    with tenant_context(p["hospital"].tenant):
        assert Assessment.objects.count() == before
    # And a key is not created.
    response = p["admin"].post(reverse("api:api-key-collection"), {"name": "unaudited"},
                               content_type="application/json")
    assert response.status_code == 503 and "key" not in response.json()
