"""Every route is checked for cross-tenant access; a new route without an entry here fails the suite."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.conftest import HAND_DX

# route name -> how hospital B must be answered when it asks for hospital A's object.
# "object" routes take A's assessment id; "collection" routes must not list A's objects; "public" routes hold no
# hospital data.
ROUTES = {
    "api:assessment-collection": "collection",
    "api:assessment-detail": "object",
    "portal:assessment-list": "collection",
    "portal:assessment-detail": "object",
    "portal:assessment-image": "object",
    "portal:switch-hospital": "membership",
    "portal:login": "public",
    "portal:logout": "public",
    "health": "public",
}


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


def test_hospital_b_cannot_reach_hospital_a_through_any_object_route(assessment_of_a, his_b, hospital_b):
    from django.urls import reverse

    portal = Client()
    assert portal.login(username=hospital_b.user.username, password=hospital_b.password)
    for name, kind in ROUTES.items():
        if kind == "object":
            url = reverse(name, kwargs={"assessment_id": assessment_of_a})
            client = his_b if name.startswith("api:") else portal
            assert client.get(url).status_code == 404, name
        elif kind == "collection":
            client = his_b if name.startswith("api:") else portal
            response = client.get(reverse(name))
            assert response.status_code == 200, name
            assert assessment_of_a not in response.content.decode(), name
