"""Every route is checked for cross-tenant access; a new route without an entry here fails the suite."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.conftest import HAND_DX

# route name -> how hospital B must be answered when it asks for hospital A's object.
# "object" routes take A's assessment id (the API-key detail route: one of A's API keys); "collection" routes
# must not list A's objects; "public" routes hold no hospital data.
ROUTES = {
    "api:assessment-collection": "collection",
    "api:assessment-detail": "object",
    "api:assessment-original": "object",
    "api:api-key-collection": "collection",
    "api:api-key-detail": "object",
    "portal:assessment-list": "collection",
    "portal:assessment-detail": "object",
    "portal:assessment-image": "object",
    "portal:switch-hospital": "membership",
    "portal:login": "public",
    "portal:login-code": "public",
    "portal:logout": "public",
    # "account" routes are the signed-in person's own pages (second factor, password): no hospital data.
    "portal:account-two-step": "account",
    "portal:password-change": "account",
    "portal:password-change-done": "account",
    "health": "public",
}


# Routes only a hospital's admin may call (MANAGE_KEYS): asked by hospital B's admin, not its HIS key.
ADMIN_ROUTES = {"api:api-key-collection", "api:api-key-detail"}


def _named_routes(patterns, namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue  # operator-only Django admin, covered by issue #3's audited operator paths
            yield from _named_routes(entry.url_patterns, entry.namespace or namespace)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}:{entry.name}" if namespace else entry.name


def test_every_route_is_classified_for_cross_tenant_access():
    assert sorted(set(_named_routes(get_resolver().url_patterns))) == sorted(ROUTES)


@pytest.fixture
def assessment_of_a(his_a):
    with HAND_DX.open("rb") as handle:
        response = his_a.post("/api/v1/assessments", {"file": handle, "model": "bone_age"}, format="multipart")
    assert response.status_code == 202
    return response.json()["id"]


@pytest.fixture
def admin_of_b(hospital_b):
    from tenants import services

    user = services.user_create(username="admin.hospital-b", password="admin-pass-hospital-b")
    services.membership_grant(tenant=hospital_b.tenant, user=user, role="admin")
    client = Client()
    assert client.login(username=user.username, password="admin-pass-hospital-b")
    return client


def test_hospital_b_cannot_reach_hospital_a_through_any_object_route(assessment_of_a, his_b, hospital_b, hospital_a,
                                                                     admin_of_b):
    from django.urls import reverse

    portal = Client()
    assert portal.login(username=hospital_b.user.username, password=hospital_b.password)
    # What each object route is asked for: one of hospital A's objects (A's HIS key for the key routes).
    object_kwargs = {"api:api-key-detail": {"api_key_id": str(hospital_a.api_key_row.id)}}
    hidden = {assessment_of_a, str(hospital_a.api_key_row.id), hospital_a.api_key_row.prefix}
    for name, kind in ROUTES.items():
        client = admin_of_b if name in ADMIN_ROUTES else his_b if name.startswith("api:") else portal
        if kind == "object":
            url = reverse(name, kwargs=object_kwargs.get(name, {"assessment_id": assessment_of_a}))
            assert client.get(url).status_code == 404, name
            if name in ADMIN_ROUTES:
                assert client.delete(url).status_code == 404, name  # the one writing verb of an object route
        elif kind == "collection":
            response = client.get(reverse(name))
            assert response.status_code == 200, name
            assert not any(value in response.content.decode() for value in hidden), name
    from tenants.context import tenant_context

    with tenant_context(hospital_a.tenant):
        hospital_a.api_key_row.refresh_from_db()
    assert hospital_a.api_key_row.revoked_at is None
