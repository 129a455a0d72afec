"""Portal sign-in with username and password; refusals say nothing about whether a username exists."""
from __future__ import annotations

import logging

from django.test import Client

from tests.accounts._support import is_signed_in, post_password, reset_lockout  # noqa: F401


def test_password_sign_in_signs_the_person_in_and_opens_the_portal(hospital_a):
    client = Client()
    assert client.get("/login/").status_code == 200

    response = post_password(client, hospital_a.user.username, hospital_a.password)

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert is_signed_in(client)
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused_with_the_same_generic_message_as_an_unknown_username(hospital_a):
    wrong = post_password(Client(), hospital_a.user.username, "not-the-password")
    unknown = post_password(Client(), "nobody-here", "not-the-password")

    for response in (wrong, unknown):
        assert response.status_code == 200
        assert 'data-code="signin_refused"' in response.content.decode()
        assert b"did not match" in response.content
    assert wrong.content.replace(hospital_a.user.username.encode(), b"") \
        .split(b"<form")[0] == unknown.content.replace(b"nobody-here", b"").split(b"<form")[0]


def test_next_is_followed_only_within_the_site(hospital_a):
    inside = post_password(Client(), hospital_a.user.username, hospital_a.password, next="/account/two-step/")
    outside = post_password(Client(), hospital_a.user.username, hospital_a.password, next="https://evil.example/")

    assert inside["Location"] == "/account/two-step/"
    assert outside["Location"] == "/"


def test_sign_in_events_are_logged_with_username_and_outcome_never_the_password(hospital_a, caplog):
    caplog.set_level(logging.INFO, logger="accounts.signin")
    post_password(Client(), hospital_a.user.username, "wrong-password-xyz")
    post_password(Client(), hospital_a.user.username, hospital_a.password)

    lines = [r.getMessage() for r in caplog.records if r.name == "accounts.signin"]
    assert any("outcome=refused" in line and "rad.hospital-a" in line for line in lines)
    assert any("outcome=success" in line and "rad.hospital-a" in line for line in lines)
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "accounts.signin")
    assert not any("wrong-password-xyz" in line or hospital_a.password in line for line in lines)


def test_person_of_a_suspended_hospital_signs_in_and_is_told_the_hospital_is_suspended(hospital_a):
    from django.utils import timezone

    from tenants.models import Tenant

    Tenant.objects.filter(pk=hospital_a.tenant.pk).update(status=Tenant.Status.SUSPENDED,
                                                          suspended_at=timezone.now())
    client = Client()

    response = post_password(client, hospital_a.user.username, hospital_a.password)
    assert response.status_code == 302
    page = client.get(response["Location"])

    assert page.status_code == 403
    assert 'data-code="tenant_suspended"' in page.content.decode()
    assert b"suspended" in page.content
