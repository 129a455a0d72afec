"""A signed-in person changes their password; Django's validators (length 12, common, numeric) apply."""
from __future__ import annotations

from django.test import Client

from tests.accounts._support import is_signed_in, post_password, reset_lockout, signed_in_client  # noqa: F401


def _change(client, old, new):
    return client.post("/account/password/", {"old_password": old, "new_password1": new, "new_password2": new})


def test_password_change_refuses_passwords_the_validators_reject(hospital_a):
    client = signed_in_client(hospital_a)
    assert client.get("/account/password/").status_code == 200

    for weak in ["Sh0rt!pw", "123456789012345", "password1234", "rad.hospital-a-2024"]:
        response = _change(client, hospital_a.password, weak)
        assert response.status_code == 200, weak
        assert 'data-code="password_change_refused"' in response.content.decode(), weak
    assert b"at least 12 characters" in _change(client, hospital_a.password, "Sh0rt!pw").content
    hospital_a.user.refresh_from_db()
    assert hospital_a.user.check_password(hospital_a.password)


def test_password_change_needs_the_current_password_and_then_takes_effect(hospital_a):
    client = signed_in_client(hospital_a)
    new = "ulna-radius-carpal-9731"

    assert _change(client, "not-my-password", new).status_code == 200
    response = _change(client, hospital_a.password, new)

    assert response["Location"] == "/account/password/done/"
    assert client.get("/account/password/done/").status_code == 200
    assert is_signed_in(client)
    assert post_password(Client(), hospital_a.user.username, hospital_a.password).status_code == 200
    assert post_password(Client(), hospital_a.user.username, new).status_code == 302


def test_password_change_needs_a_signed_in_person(db):
    assert Client().get("/account/password/")["Location"].startswith("/login/")
