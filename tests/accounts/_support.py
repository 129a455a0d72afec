"""Helpers for the sign-in tests: lockout reset between tests, sign-in, TOTP enrolment, codes."""
from __future__ import annotations

import re
import time

import pyotp
import pytest
from django.test import Client

OTHER_USERNAMES = ["nobody-here", "ghost-1", "ghost-2", "ghost-3", "ghost-4", "ghost-5"]


@pytest.fixture(autouse=True)
def reset_lockout(db):
    """Lockout counters live in Redis (a key prefix of the test run's own): start and end every test clean."""
    from accounts import lockout

    def reset():
        for username in ["rad.hospital-a", "rad.hospital-b", *OTHER_USERNAMES]:
            lockout.unlock(username=username)
        lockout.unlock(ip="127.0.0.1")

    reset()
    yield
    reset()


def post_password(client: Client, username: str, password: str, **extra):
    return client.post("/login/", {"username": username, "password": password, **extra})


def is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def code_at(secret: str, steps_from_now: int = 0) -> str:
    """The code an authenticator app shows `steps_from_now` 30-second steps from now."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_from_now)


def signed_in_client(hospital) -> Client:
    client = Client()
    assert post_password(client, hospital.user.username, hospital.password).status_code == 302
    return client


def enrol(client: Client) -> str:
    """Set up two-step sign-in for the signed-in person; returns the secret (as the person's app holds it).

    Confirms with the previous step's code so the current and next steps stay unused for the test.
    """
    page = client.post("/account/two-step/", {"action": "start"}).content.decode()
    secret = re.search(r"data-totp-secret>([A-Z2-7]+)<", page).group(1)
    response = client.post("/account/two-step/", {"action": "confirm", "code": code_at(secret, -1)})
    assert response.status_code == 200, response.content
    assert 'data-two-step="on"' in response.content.decode()
    return secret
