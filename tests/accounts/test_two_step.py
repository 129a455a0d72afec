"""Two-step sign-in: TOTP enrolment, the code step before the session is signed in, replay and expiry."""
from __future__ import annotations

from django.test import Client

from tests.accounts._support import (  # noqa: F401
    code_at,
    enrol,
    is_signed_in,
    post_password,
    reset_lockout,
    signed_in_client,
)


def _password_step(hospital) -> Client:
    client = Client()
    response = post_password(client, hospital.user.username, hospital.password)
    assert response.status_code == 302
    assert response["Location"] == "/login/code/"
    return client


def test_enrolment_shows_the_secret_once_and_a_code_turns_two_step_on(hospital_a):
    from accounts.models import TotpDevice

    client = signed_in_client(hospital_a)
    page = client.post("/account/two-step/", {"action": "start"}).content.decode()
    assert "otpauth://totp/Imaging%20AI%20portal:rad.hospital-a?secret=" in page
    assert "issuer=Imaging%20AI%20portal" in page

    secret = enrol(client)

    device = TotpDevice.objects.get(user=hospital_a.user)
    assert device.confirmed and device.last_used_step is not None
    assert secret not in device.secret_sealed
    assert secret not in client.get("/account/two-step/").content.decode()


def test_a_wrong_code_at_enrolment_leaves_two_step_off(hospital_a):
    from accounts.models import TotpDevice

    client = signed_in_client(hospital_a)
    client.post("/account/two-step/", {"action": "start"})
    response = client.post("/account/two-step/", {"action": "confirm", "code": "000000"})

    assert response.status_code == 400
    assert 'data-code="wrong_code"' in response.content.decode()
    assert not TotpDevice.objects.get(user=hospital_a.user).confirmed
    # An unconfirmed enrolment never gates sign-in.
    assert post_password(Client(), hospital_a.user.username, hospital_a.password)["Location"] == "/"


def test_sign_in_asks_for_the_code_before_the_session_is_signed_in(hospital_a):
    enrol(signed_in_client(hospital_a))

    client = _password_step(hospital_a)
    assert not is_signed_in(client)
    assert client.get("/")["Location"].startswith("/login/")
    assert client.get("/login/code/").status_code == 200


def test_two_step_sign_in_with_the_current_code(hospital_a):
    secret = enrol(signed_in_client(hospital_a))

    client = _password_step(hospital_a)
    response = client.post("/login/code/", {"code": code_at(secret)})

    assert response.status_code == 302 and response["Location"] == "/"
    assert is_signed_in(client)
    assert client.get("/").status_code == 200


def test_a_wrong_code_is_refused_and_counts_towards_the_lockout(hospital_a, settings):
    settings.LOGIN_MAX_FAILURES = 2
    secret = enrol(signed_in_client(hospital_a))
    client = _password_step(hospital_a)

    first = client.post("/login/code/", {"code": "123456" if code_at(secret) != "123456" else "654321"})
    assert first.status_code == 200
    assert 'data-code="signin_code_refused"' in first.content.decode()
    second = client.post("/login/code/", {"code": "not-a-code"})
    assert second.status_code == 429
    assert 'data-code="signin_locked"' in second.content.decode()

    # Locked: the right code and the right password are both refused now.
    assert client.post("/login/code/", {"code": code_at(secret)}).status_code != 302
    assert not is_signed_in(client)
    assert post_password(Client(), hospital_a.user.username, hospital_a.password).status_code == 429


def test_a_code_is_accepted_only_once(hospital_a):
    secret = enrol(signed_in_client(hospital_a))
    code = code_at(secret)
    first = _password_step(hospital_a)
    assert first.post("/login/code/", {"code": code}).status_code == 302

    second = _password_step(hospital_a)
    replay = second.post("/login/code/", {"code": code})

    assert replay.status_code == 200
    assert 'data-code="signin_code_refused"' in replay.content.decode()
    assert not is_signed_in(second)
    assert second.post("/login/code/", {"code": code_at(secret, +1)}).status_code == 302


def test_the_code_step_expires(hospital_a, settings):
    secret = enrol(signed_in_client(hospital_a))
    settings.LOGIN_SECOND_FACTOR_TTL_S = 0
    client = _password_step(hospital_a)

    assert client.get("/login/code/")["Location"] == "/login/?expired=1"
    response = client.post("/login/code/", {"code": code_at(secret)})

    assert response.status_code == 200
    assert 'data-code="signin_step_expired"' in response.content.decode()
    assert not is_signed_in(client)


def test_the_code_step_without_a_password_step_signs_no_one_in(hospital_a):
    secret = enrol(signed_in_client(hospital_a))
    client = Client()
    response = client.post("/login/code/", {"code": code_at(secret)})
    assert 'data-code="signin_step_expired"' in response.content.decode()
    assert not is_signed_in(client)


def test_turning_two_step_off_needs_the_password_and_a_code(hospital_a):
    from accounts.models import TotpDevice

    client = signed_in_client(hospital_a)
    secret = enrol(client)

    wrong_password = client.post("/account/two-step/", {"action": "disable", "password": "nope",
                                                        "code": code_at(secret)})
    wrong_code = client.post("/account/two-step/", {"action": "disable", "password": hospital_a.password,
                                                    "code": "000000" if code_at(secret) != "000000" else "111111"})
    assert wrong_password.status_code == wrong_code.status_code == 400
    assert TotpDevice.objects.filter(user=hospital_a.user, confirmed=True).exists()

    done = client.post("/account/two-step/", {"action": "disable", "password": hospital_a.password,
                                              "code": code_at(secret, +1)})
    assert done.status_code == 200
    assert 'data-two-step="off"' in done.content.decode()
    assert post_password(Client(), hospital_a.user.username, hospital_a.password)["Location"] == "/"


def test_two_step_pages_need_a_signed_in_person(db):
    assert Client().get("/account/two-step/")["Location"].startswith("/login/")


def test_sealed_secrets_open_only_for_their_owner_and_detect_tampering(settings):
    import pytest

    from accounts import sealing

    sealed = sealing.seal("JBSWY3DPEHPK3PXP", owner="user:1")
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert sealing.unseal(sealed, owner="user:1") == "JBSWY3DPEHPK3PXP"
    with pytest.raises(sealing.SealBroken):
        sealing.unseal(sealed, owner="user:2")
    tampered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(sealing.SealBroken):
        sealing.unseal(tampered, owner="user:1")
    # After a key rotation the old key, kept as a fallback, still opens it; once dropped, nothing does.
    settings.FIELD_ENCRYPTION_KEY_FALLBACKS = [settings.FIELD_ENCRYPTION_KEY]
    settings.FIELD_ENCRYPTION_KEY = "a-new-field-key-for-this-test-only-0123456789"
    assert sealing.unseal(sealed, owner="user:1") == "JBSWY3DPEHPK3PXP"
    settings.FIELD_ENCRYPTION_KEY_FALLBACKS = []
    with pytest.raises(sealing.SealBroken):
        sealing.unseal(sealed, owner="user:1")
