"""Repeated sign-in failures lock the username (and, separately, the client address) for a while."""
from __future__ import annotations

import time

from django.test import Client

from tests.accounts._support import is_signed_in, post_password, reset_lockout  # noqa: F401


def _fail(username: str, times: int):
    return [post_password(Client(), username, "wrong-password") for _ in range(times)]


def _assert_locked(response, minutes: int):
    body = response.content.decode()
    assert response.status_code == 429
    assert 'data-code="signin_locked"' in body
    assert f"Sign-in is locked for {minutes} minutes" in body
    assert int(response["Retry-After"]) > 0


def test_lockout_after_max_failures_refuses_even_the_right_password_and_says_so(hospital_a, settings):
    settings.LOGIN_MAX_FAILURES = 3
    settings.LOGIN_LOCKOUT_S = 900

    responses = _fail(hospital_a.user.username, 3)
    assert [r.status_code for r in responses] == [200, 200, 429]

    client = Client()
    response = post_password(client, hospital_a.user.username, hospital_a.password)
    _assert_locked(response, 15)
    assert not is_signed_in(client)


def test_an_unknown_username_locks_exactly_like_a_real_one(hospital_a, settings):
    settings.LOGIN_MAX_FAILURES = 2

    real = _fail(hospital_a.user.username, 3)
    unknown = _fail("nobody-here", 3)

    assert [r.status_code for r in real] == [r.status_code for r in unknown] == [200, 429, 429]
    _assert_locked(unknown[-1], 15)


def test_a_locked_username_leaves_other_usernames_alone(hospital_a, hospital_b, settings):
    settings.LOGIN_MAX_FAILURES = 2
    _fail(hospital_a.user.username, 2)

    client = Client()
    assert post_password(client, hospital_b.user.username, hospital_b.password).status_code == 302
    assert is_signed_in(client)


def test_the_lock_expires(hospital_a, settings):
    settings.LOGIN_MAX_FAILURES = 2
    settings.LOGIN_LOCKOUT_S = 1
    _fail(hospital_a.user.username, 2)
    assert post_password(Client(), hospital_a.user.username, hospital_a.password).status_code == 429

    time.sleep(1.2)

    assert post_password(Client(), hospital_a.user.username, hospital_a.password).status_code == 302


def test_a_successful_sign_in_clears_the_username_counter(hospital_a, settings):
    settings.LOGIN_MAX_FAILURES = 3
    _fail(hospital_a.user.username, 2)
    assert post_password(Client(), hospital_a.user.username, hospital_a.password).status_code == 302

    assert [r.status_code for r in _fail(hospital_a.user.username, 2)] == [200, 200]
    assert post_password(Client(), hospital_a.user.username, hospital_a.password).status_code == 302


def test_one_address_trying_many_usernames_is_locked_on_its_own_counter(hospital_a, settings):
    settings.LOGIN_MAX_FAILURES = 10
    settings.LOGIN_MAX_FAILURES_PER_IP = 4
    for username in ["ghost-1", "ghost-2", "ghost-3", "ghost-4"]:
        _fail(username, 1)

    _assert_locked(post_password(Client(), hospital_a.user.username, hospital_a.password), 15)
    # Another address (another hospital's network) is not affected.
    other = Client(REMOTE_ADDR="10.20.30.40")
    assert post_password(other, hospital_a.user.username, hospital_a.password).status_code == 302
