"""Each role is refused what it may not do, in the API and in the portal, with a clear 403 code."""
from __future__ import annotations

import io

import pytest
from rest_framework.test import APIClient

from tests.conftest import HAND_DX

ROLES = ("admin", "radiologist", "clinician", "billing", "auditor")
MAY_SUBMIT = {"radiologist", "clinician"}
MAY_READ = {"radiologist", "clinician"}
MAY_MANAGE_KEYS = {"admin"}


@pytest.fixture
def assessment_id(his_a):
    with HAND_DX.open("rb") as handle:
        response = his_a.post("/api/v1/assessments", {"file": handle, "model": "bone_age"}, format="multipart")
    assert response.status_code == 202
    return response.json()["id"]


def _person(hospital, role: str) -> APIClient:
    from tenants import services

    user = services.user_create(username=f"{role}.{hospital.tenant.slug}", password=f"pw-{role}-0123456789")
    services.membership_grant(tenant=hospital.tenant, user=user, role=role)
    client = APIClient()
    client.force_login(user)
    return client


def _refused(response, code: str) -> bool:
    if response.status_code != 403:
        return False
    if response["Content-Type"].startswith("application/problem+json"):
        return response.json()["code"] == code
    return f'data-code="{code}"' in response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_capabilities_in_the_api(role, hospital_a, assessment_id, platform_settings):
    client = _person(hospital_a, role)
    upload = io.BytesIO(HAND_DX.read_bytes())
    upload.name = "hand.dcm"
    submit = client.post("/api/v1/assessments", {"file": upload, "model": "bone_age", "chronological_age_months": "99"},
                         format="multipart")
    read_list = client.get("/api/v1/assessments")
    read_one = client.get(f"/api/v1/assessments/{assessment_id}")
    keys = client.get("/api/v1/api-keys")

    assert (submit.status_code == 202) == (role in MAY_SUBMIT)
    assert (read_list.status_code == 200) == (role in MAY_READ)
    assert (read_one.status_code == 200) == (role in MAY_READ)
    assert (keys.status_code == 200) == (role in MAY_MANAGE_KEYS)
    for response, allowed in ((submit, MAY_SUBMIT), (read_list, MAY_READ), (read_one, MAY_READ),
                              (keys, MAY_MANAGE_KEYS)):
        if role not in allowed:
            assert _refused(response, "insufficient_role"), response.content
            assert role in response.json()["detail"]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_exactly_its_capabilities_in_the_portal(role, hospital_a, assessment_id, platform_settings):
    client = _person(hospital_a, role)
    pages = [client.get("/"), client.get(f"/assessments/{assessment_id}/"),
             client.get(f"/assessments/{assessment_id}/image.png")]
    for page in pages:
        if role in MAY_READ:
            assert page.status_code == 200
        else:
            assert _refused(page, "insufficient_role"), page.content[:300]


@pytest.mark.parametrize(("scopes", "may_submit", "may_read"), [
    (["submit"], True, False),
    (["read"], False, True),
    (["submit", "read"], True, True),
])
def test_api_key_scopes_limit_what_an_integration_may_do(scopes, may_submit, may_read, hospital_a, assessment_id,
                                                         platform_settings):
    from tenants.services import api_key_create

    _, key = api_key_create(tenant=hospital_a.tenant, name="scoped", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    upload = io.BytesIO(HAND_DX.read_bytes())
    upload.name = "hand.dcm"
    submit = client.post("/api/v1/assessments", {"file": upload, "model": "bone_age", "chronological_age_months": "98"},
                         format="multipart")
    read = client.get(f"/api/v1/assessments/{assessment_id}")
    assert (submit.status_code == 202) == may_submit
    assert (read.status_code == 200) == may_read
    for response, allowed in ((submit, may_submit), (read, may_read)):
        if not allowed:
            assert _refused(response, "insufficient_scope")
    # Whatever its scopes, a key never manages keys.
    assert _refused(client.get("/api/v1/api-keys"), "insufficient_scope")
