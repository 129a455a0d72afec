"""The signature scheme: webhooks.signing and the recipe printed in docs/webhooks.md agree, and both refuse an
altered body, a wrong secret, a stale (replayed) timestamp and missing headers."""
from __future__ import annotations

import json
import time

import pytest

from tests.webhooks._support import documented_recipe
from webhooks import signing

SECRET = "whsec_test-secret-of-the-hospital"
BODY = json.dumps({"id": "5d1e2c3b-0000-4000-8000-000000000001", "type": "assessment.succeeded",
                   "data": {"assessment": {"id": "a1"}}}, separators=(",", ":")).encode()


def _headers(timestamp: int, body: bytes = BODY, secrets=(SECRET,)) -> dict:
    return {"Webhook-Id": "5d1e2c3b-0000-4000-8000-000000000001", "Webhook-Timestamp": str(timestamp),
            "Webhook-Signature": signing.signature_header(secrets, timestamp, body)}


def test_a_signed_delivery_verifies_with_the_platform_function_and_the_documented_recipe():
    now = int(time.time())
    headers = _headers(now)
    assert headers["Webhook-Signature"].startswith("v1=") and len(headers["Webhook-Signature"]) == 3 + 64
    assert signing.verify(SECRET, headers, BODY) == now
    recipe = documented_recipe()
    assert recipe["verify_webhook"](SECRET, headers, BODY)["type"] == "assessment.succeeded"


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_in_hex():
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signing.sign(SECRET, 1700000000, BODY) == expected
    assert signing.sign(SECRET, 1700000000, BODY.decode()) == expected


def test_an_altered_body_is_rejected_as_a_bad_signature():
    now = int(time.time())
    headers = _headers(now)
    altered = BODY.replace(b"a1", b"a2")
    with pytest.raises(signing.BadSignature):
        signing.verify(SECRET, headers, altered)
    with pytest.raises(documented_recipe()["WebhookVerificationError"], match="signature"):
        documented_recipe()["verify_webhook"](SECRET, headers, altered)


def test_a_wrong_secret_is_rejected_as_a_bad_signature():
    headers = _headers(int(time.time()))
    with pytest.raises(signing.BadSignature):
        signing.verify("whsec_someone-else", headers, BODY)
    with pytest.raises(documented_recipe()["WebhookVerificationError"]):
        documented_recipe()["verify_webhook"]("whsec_someone-else", headers, BODY)


@pytest.mark.parametrize("age_s", [301, 3600, -301])
def test_a_stale_or_future_timestamp_is_rejected_even_with_a_valid_signature(age_s):
    signed_at = int(time.time()) - age_s
    headers = _headers(signed_at)  # correctly signed, but captured and replayed later (or clock far off)
    with pytest.raises(signing.TimestampOutOfTolerance):
        signing.verify(SECRET, headers, BODY)
    with pytest.raises(documented_recipe()["WebhookVerificationError"], match="tolerance"):
        documented_recipe()["verify_webhook"](SECRET, headers, BODY)
    # Inside a wider tolerance the same delivery passes: the refusal is the clock, not the signature.
    assert signing.verify(SECRET, headers, BODY, tolerance_s=abs(age_s) + 5) == signed_at


@pytest.mark.parametrize("missing", ["Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"])
def test_a_delivery_missing_a_header_is_rejected(missing):
    headers = _headers(int(time.time()))
    del headers[missing]
    with pytest.raises(signing.MissingHeaders, match=missing):
        signing.verify(SECRET, headers, BODY)
    with pytest.raises(documented_recipe()["WebhookVerificationError"], match="missing"):
        documented_recipe()["verify_webhook"](SECRET, headers, BODY)


def test_a_non_numeric_timestamp_is_refused_not_crashed_on():
    headers = _headers(int(time.time()))
    headers["Webhook-Timestamp"] = "yesterday"
    with pytest.raises(signing.TimestampOutOfTolerance):
        signing.verify(SECRET, headers, BODY)


def test_header_names_are_case_insensitive_and_any_of_several_signatures_may_match():
    now = int(time.time())
    headers = {k.lower(): v for k, v in _headers(now, secrets=("whsec_new-secret", SECRET)).items()}
    assert headers["webhook-signature"].count("v1=") == 2
    assert signing.verify(SECRET, headers, BODY) == now
    assert signing.verify("whsec_new-secret", headers, BODY) == now
    assert documented_recipe()["verify_webhook"](SECRET, headers, BODY)["id"].startswith("5d1e2c3b")


def test_the_recipe_refuses_a_body_whose_id_differs_from_the_webhook_id_header():
    now = int(time.time())
    headers = _headers(now)
    headers["Webhook-Id"] = "another-event"
    with pytest.raises(documented_recipe()["WebhookVerificationError"], match="Webhook-Id"):
        documented_recipe()["verify_webhook"](SECRET, headers, BODY)
