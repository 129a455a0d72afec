"""Key management for HIS integrations: a hospital's admin creates, lists and revokes API keys; keys act only
within their scopes, and revoked or expired keys are refused."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from tests.conftest import HAND_DX

KEYS = "/api/v1/api-keys"
ASSESSMENTS = "/api/v1/assessments"

pytestmark = pytest.mark.usefixtures("redis_ready")


def key_client(full_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {full_key}")
    return client


def person_client(hospital, role: str) -> APIClient:
    """A signed-in person with `role` in `hospital` (a person of their own, so the fixture radiologist keeps
    their role)."""
    from tenants import services

    password = f"admin-pass-{hospital.tenant.slug}-{role}"
    user = services.user_create(username=f"{role}.{hospital.tenant.slug}", password=password)
    services.membership_grant(tenant=hospital.tenant, user=user, role=role)
    client = APIClient()
    assert client.login(username=user.username, password=password)
    return client


@pytest.fixture
def admin_a(hospital_a) -> APIClient:
    return person_client(hospital_a, "admin")


@pytest.fixture
def admin_b(hospital_b) -> APIClient:
    return person_client(hospital_b, "admin")


@pytest.fixture
def radiologist_a(hospital_a) -> APIClient:
    client = APIClient()
    assert client.login(username=hospital_a.user.username, password=hospital_a.password)
    return client


def create_key(admin: APIClient, **fields) -> dict:
    response = admin.post(KEYS, {"name": "RIS production", **fields}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def set_expiry(hospital, api_key_id, expires_at) -> None:
    from tenants.context import tenant_context
    from tenants.models import ApiKey

    with tenant_context(hospital.tenant):
        assert ApiKey.objects.filter(tenant=hospital.tenant, pk=api_key_id).update(expires_at=expires_at) == 1


# --- create, list, show once -------------------------------------------------------------------------------


def test_admin_creates_a_key_that_is_shown_once_and_never_listed(admin_a, hospital_a):
    from tenants.keys import split_key

    created = create_key(admin_a, scopes=["read"])
    full_key = created["key"]
    assert full_key.startswith(f"mip_{created['prefix']}_")
    assert created["scopes"] == ["read"]
    assert created["name"] == "RIS production"
    assert created["expires_at"] is None and created["revoked_at"] is None
    assert set(created) >= {"id", "name", "prefix", "scopes", "created_at", "expires_at", "key"}

    listing = admin_a.get(KEYS)
    assert listing.status_code == 200
    text = listing.content.decode()
    assert full_key not in text and split_key(full_key)[1] not in text
    assert "secret" not in text and '"key"' not in text
    rows = {row["id"]: row for row in listing.json()["results"]}
    assert rows[created["id"]]["prefix"] == created["prefix"]
    assert rows[created["id"]]["status"] == "active"
    assert str(hospital_a.api_key_row.id) in rows  # the fixture's own key is the hospital's too

    detail = admin_a.get(f"{KEYS}/{created['id']}")
    assert detail.status_code == 200
    assert "key" not in detail.json()


def test_the_stored_row_holds_only_the_hash_and_the_requested_scopes_and_expiry(admin_a, hospital_a):
    from tenants.context import tenant_context
    from tenants.keys import hash_secret, split_key
    from tenants.models import ApiKey

    expires_at = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    created = create_key(admin_a, scopes=["submit"], expires_at=expires_at.isoformat())
    with tenant_context(hospital_a.tenant):
        row = ApiKey.objects.get(tenant=hospital_a.tenant, pk=created["id"])
    assert row.secret_sha256 == hash_secret(split_key(created["key"])[1])
    assert row.scopes == ["submit"]
    assert row.expires_at == expires_at
    assert row.created_by is not None and row.created_by.username == "admin.hospital-a"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"scopes": ["read", "manage_keys"]}, "invalid_scope"),
        ({"scopes": ["sign_off"]}, "invalid_scope"),
        ({"scopes": []}, "invalid_scope"),
        ({"scopes": "read"}, None),  # the "submit,read" shorthand is accepted
        ({"expires_at": "2001-01-01T00:00:00Z"}, "invalid_expiry"),
        ({"expires_at": "next tuesday"}, "invalid_expiry"),
        ({"expires_at": "2099-01-01T00:00:00"}, "invalid_expiry"),  # no time zone: ambiguous
        ({"name": ""}, "invalid_name"),
        ({"name": "   "}, "invalid_name"),
        ({"name": "x" * 101}, "invalid_name"),
    ],
)
def test_invalid_key_requests_are_refused_with_a_code(admin_a, fields, code):
    response = admin_a.post(KEYS, {"name": "RIS", **fields}, format="json")
    if code is None:
        assert response.status_code == 201, response.content
        return
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


# --- scopes ------------------------------------------------------------------------------------------------


def test_a_read_only_key_reads_but_cannot_submit(admin_a):
    client = key_client(create_key(admin_a, scopes=["read"])["key"])
    assert client.get(ASSESSMENTS).status_code == 200
    with HAND_DX.open("rb") as handle:
        response = client.post(ASSESSMENTS, {"file": handle, "model": "bone_age"}, format="multipart")
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


def test_a_submit_only_key_submits_but_cannot_read(admin_a, platform_settings):
    client = key_client(create_key(admin_a, scopes=["submit"])["key"])
    with HAND_DX.open("rb") as handle:
        response = client.post(ASSESSMENTS, {"file": handle, "model": "bone_age"}, format="multipart")
    assert response.status_code in (200, 202), response.content
    refused = client.get(response["Location"])
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"


def test_use_of_a_key_shows_in_the_list_as_last_used(admin_a):
    created = create_key(admin_a)
    assert created["last_used_at"] is None
    assert key_client(created["key"]).get(ASSESSMENTS).status_code == 200
    row = admin_a.get(f"{KEYS}/{created['id']}").json()
    assert row["last_used_at"] is not None


# --- revoke and expiry -------------------------------------------------------------------------------------


def test_a_revoked_key_is_refused_and_revoking_again_changes_nothing(admin_a):
    created = create_key(admin_a)
    client = key_client(created["key"])
    assert client.get(ASSESSMENTS).status_code == 200

    first = admin_a.delete(f"{KEYS}/{created['id']}")
    assert first.status_code == 200
    assert first.json()["status"] == "revoked" and first.json()["revoked_at"]
    again = admin_a.delete(f"{KEYS}/{created['id']}")
    assert again.status_code == 200
    assert again.json()["revoked_at"] == first.json()["revoked_at"]

    refused = client.get(ASSESSMENTS)
    assert refused.status_code == 401
    assert refused.json()["code"] == "api_key_revoked"
    listed = {row["id"]: row for row in admin_a.get(KEYS).json()["results"]}
    assert listed[created["id"]]["revoked_at"] == first.json()["revoked_at"]


def test_an_expired_key_is_refused_with_api_key_expired(admin_a, hospital_a):
    created = create_key(admin_a, expires_at=(timezone.now() + timedelta(hours=1)).isoformat())
    client = key_client(created["key"])
    assert client.get(ASSESSMENTS).status_code == 200

    set_expiry(hospital_a, created["id"], timezone.now() - timedelta(seconds=1))
    refused = client.get(ASSESSMENTS)
    assert refused.status_code == 401
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "api_key_expired"
    assert refused.has_header("WWW-Authenticate")
    assert admin_a.get(f"{KEYS}/{created['id']}").json()["status"] == "expired"


def test_a_key_expiring_exactly_now_is_already_expired(admin_a, hospital_a):
    created = create_key(admin_a, expires_at=(timezone.now() + timedelta(hours=1)).isoformat())
    set_expiry(hospital_a, created["id"], timezone.now())
    assert key_client(created["key"]).get(ASSESSMENTS).json()["code"] == "api_key_expired"


def test_a_key_without_expiry_keeps_working(hospital_a):
    assert key_client(hospital_a.api_key).get(ASSESSMENTS).status_code == 200


# --- who may manage keys -----------------------------------------------------------------------------------


def test_a_radiologist_cannot_manage_keys(radiologist_a, hospital_a):
    detail = f"{KEYS}/{hospital_a.api_key_row.id}"
    for response in (radiologist_a.get(KEYS), radiologist_a.post(KEYS, {"name": "x"}, format="json"),
                     radiologist_a.get(detail), radiologist_a.delete(detail)):
        assert response.status_code == 403
        assert response.json()["code"] == "insufficient_role"
    assert hospital_a.api_key_row.revoked_at is None
    assert key_client(hospital_a.api_key).get(ASSESSMENTS).status_code == 200


def test_an_api_key_cannot_manage_keys_not_even_its_own(hospital_a):
    client = key_client(hospital_a.api_key)
    detail = f"{KEYS}/{hospital_a.api_key_row.id}"
    for response in (client.get(KEYS), client.post(KEYS, {"name": "x"}, format="json"),
                     client.get(detail), client.delete(detail)):
        assert response.status_code == 403
        assert response.json()["code"] == "insufficient_scope"
    assert client.get(ASSESSMENTS).status_code == 200  # still not revoked


def test_anonymous_callers_are_asked_to_authenticate(db):
    response = APIClient().get(KEYS)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_another_hospitals_key_is_not_found_and_stays_usable(admin_b, hospital_a):
    detail = f"{KEYS}/{hospital_a.api_key_row.id}"
    for response in (admin_b.get(detail), admin_b.delete(detail)):
        assert response.status_code == 404
        assert response.json()["code"] == "api_key_not_found"
    assert str(hospital_a.api_key_row.id) not in admin_b.get(KEYS).content.decode()
    assert hospital_a.api_key_row.prefix not in admin_b.get(KEYS).content.decode()
    assert key_client(hospital_a.api_key).get(ASSESSMENTS).status_code == 200


@pytest.mark.parametrize("key_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_or_malformed_key_ids_are_not_found(admin_a, key_id):
    response = admin_a.delete(f"{KEYS}/{key_id}")
    assert response.status_code == 404
    assert response.json()["code"] == "api_key_not_found"


# --- operators' management command -------------------------------------------------------------------------


def test_operators_create_a_key_from_the_command_line(hospital_a):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "--tenant", "hospital-a", "--name", "PACS bridge", "--scopes", "read",
                 "--expires-in-days", "30", stdout=out, stderr=err)
    full_key = out.getvalue().strip()
    assert full_key.startswith("mip_") and "\n" not in full_key
    assert "Shown once" in err.getvalue() and full_key not in err.getvalue()
    client = key_client(full_key)
    assert client.get(ASSESSMENTS).status_code == 200
    with HAND_DX.open("rb") as handle:
        assert client.post(ASSESSMENTS, {"file": handle, "model": "bone_age"},
                           format="multipart").json()["code"] == "insufficient_scope"


@pytest.mark.parametrize(
    "argv",
    [
        ["--tenant", "no-such-hospital", "--name", "x"],
        ["--tenant", "hospital-a", "--name", "x", "--scopes", "read,admin"],
        ["--tenant", "hospital-a", "--name", "x", "--expires-in-days", "0"],
        ["--tenant", "hospital-a", "--name", " "],
    ],
)
def test_the_command_refuses_bad_arguments(hospital_a, argv):
    with pytest.raises(CommandError):
        call_command("create_api_key", *argv, stdout=io.StringIO(), stderr=io.StringIO())
