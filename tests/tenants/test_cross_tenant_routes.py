"""The cross-tenant matrix: every route and method, tried by hospital A against hospital B's data.

Routes come from the URL resolver, so a new route without an entry in ROUTES fails the suite. For each route
the matrix uses a principal of hospital A that is allowed to use it (so a 403 for the role cannot hide a leak)
and asks for hospital B's objects: object routes answer 404 or 405, and no identifier of hospital B appears
in any body of any route.
"""
from __future__ import annotations

import io
import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.route_catalog import ROUTES, b_objects, object_url

METHODS = ("get", "post", "put", "patch", "delete")


def _named_routes(patterns, namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue  # the operator-only Django admin: staff outside any tenant, under audited operator access
            yield from _named_routes(entry.url_patterns, entry.namespace or namespace)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}:{entry.name}" if namespace else entry.name


def test_every_route_is_classified_for_cross_tenant_access():
    assert sorted(set(_named_routes(get_resolver().url_patterns))) == sorted(ROUTES)


@pytest.fixture
def hospital_b_data(his_b, hospital_b):
    """Hospital B's own objects, from a file only B has (so its hashes and UIDs are B's alone)."""
    from PIL import Image

    from tenants import services

    buffer = io.BytesIO()
    Image.effect_noise((640, 800), 40).save(buffer, format="PNG")
    upload = io.BytesIO(buffer.getvalue())
    upload.name = "b-only.png"
    response = his_b.post("/api/v1/assessments", {"file": upload, "model": "bone_age", "patient_sex": "F"},
                          format="multipart")
    assert response.status_code == 202, response.content
    body = response.json()
    key_row, _ = services.api_key_create(tenant=hospital_b.tenant, name="B second key")
    base = {
        "assessment": body["id"],
        "sha256": body["study"]["sha256"],
        "study_uid": body["study"]["study_instance_uid"],
        "tenant": str(hospital_b.tenant.id),
        "tenant_name": hospital_b.tenant.name,
        "api_key": str(key_row.id),
        "api_key_prefix": key_row.prefix,
        "username": hospital_b.user.username,
        "invoice": _invoice_of(hospital_b.tenant),
    }
    return {**base, **b_objects(hospital_b=hospital_b, his_b=his_b, base=base)}


def _invoice_of(tenant) -> str:
    """An issued invoice of the hospital (a plan, usage this month, the month closed)."""
    from datetime import timedelta

    from django.utils import timezone

    from billing.models import Invoice
    from billing.services import invoices_close
    from tenants.context import tenant_context
    from tests.billing.factories import add_usage, make_plan, subscribe

    subscribe(tenant, make_plan(code=f"plan-{tenant.slug}"))
    add_usage(tenant, count=3, occurred_at=timezone.now())
    invoices_close(now=timezone.now().replace(day=1) + timedelta(days=40))
    with tenant_context(tenant):
        return str(Invoice.objects.get().pk)


@pytest.fixture
def principals_of_a(his_a, hospital_a):
    from tenants import services

    radiologist = Client()
    assert radiologist.login(username=hospital_a.user.username, password=hospital_a.password)
    admin_user = services.user_create(username="admin.hospital-a", password="admin-pass-hospital-a")
    services.membership_grant(tenant=hospital_a.tenant, user=admin_user, role="admin")
    admin = Client()
    assert admin.login(username=admin_user.username, password="admin-pass-hospital-a")
    auditor_user = services.user_create(username="auditor.hospital-a", password="auditor-pass-hospital-a")
    services.membership_grant(tenant=hospital_a.tenant, user=auditor_user, role="auditor")
    auditor = Client()
    assert auditor.login(username=auditor_user.username, password="auditor-pass-hospital-a")
    billing_user = services.user_create(username="billing.hospital-a", password="billing-pass-hospital-a")
    services.membership_grant(tenant=hospital_a.tenant, user=billing_user, role="billing")
    billing = Client()
    assert billing.login(username=billing_user.username, password="billing-pass-hospital-a")
    clinician_user = services.user_create(username="clinician.hospital-a", password="clinician-pass-hospital-a")
    services.membership_grant(tenant=hospital_a.tenant, user=clinician_user, role="clinician")
    clinician = Client()
    clinician.force_login(clinician_user)
    return {"billing": billing, "clinician": clinician, "his": his_a, "radiologist": radiologist, "admin": admin, "auditor": auditor,
            "radiologist_user": hospital_a.user}


def _url(name: str, kind: str, b: dict) -> str:
    return object_url(name, b) if kind == "object" else reverse(name)


def test_hospital_a_reaches_nothing_of_hospital_b_through_any_route_and_method(hospital_b_data, principals_of_a,
                                                                               hospital_b):
    b = hospital_b_data
    secrets_of_b = [value for value in b.values() if value]
    failures = []
    for name, (kind, principal) in sorted(ROUTES.items()):
        url = _url(name, kind, b)
        for method in METHODS:
            client = principals_of_a[principal]
            data = {"tenant_id": b["tenant"]} if kind == "membership" else {}
            response = getattr(client, method)(url, data) if method == "post" else getattr(client, method)(url)
            body = response.content.decode(errors="replace")
            if response.status_code >= 500:
                failures.append(f"{method.upper()} {name}: {response.status_code}")
            if kind in {"object", "membership"} and response.status_code not in {404, 405}:
                failures.append(f"{method.upper()} {name}: {response.status_code}, expected 404 or 405")
            # The id A itself sent may be echoed (a problem's `instance` is the request path); nothing else of B.
            sent = url + str(data)
            leaked = [value for value in secrets_of_b if value not in sent and re.search(re.escape(value), body)]
            if leaked:
                failures.append(f"{method.upper()} {name}: body shows hospital B's {leaked}")
            if name == "portal:logout":
                # Signing out ends the session; sign in again for the remaining methods and routes.
                principals_of_a["radiologist"].force_login(principals_of_a["radiologist_user"])
    assert failures == []

    # Nothing of B changed through A's attempts (the DELETE on B's API key above, say).
    from inference.models import Assessment
    from tenants.context import tenant_context
    from tenants.models import ApiKey

    with tenant_context(hospital_b.tenant):
        assert ApiKey.objects.get(pk=b["api_key"]).revoked_at is None
        assert Assessment.objects.filter(pk=b["assessment"]).exists()
