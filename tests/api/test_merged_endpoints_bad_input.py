"""Input that used to answer 500 on the webhook, sign-off and HL7 v2 routes answers a documented 400 or 409
problem instead (found by schemathesis-style inputs: Unicode digits, NUL, non-text JSON values, a succeeded
assessment without a result)."""
from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone


def _person(hospital, role: str) -> Client:
    from tenants import services

    user = services.user_create(username=f"{role}.bad-input", password=f"{role}-pass-bad-input-1234")
    services.membership_grant(tenant=hospital.tenant, user=user, role=role)
    client = Client()
    client.force_login(user)
    return client


def _code(response) -> str:
    assert response["Content-Type"].startswith("application/problem+json"), response.content
    return response.json()["code"]


@pytest.fixture
def endpoint_id(hospital_a):
    from webhooks import services

    endpoint, _ = services.endpoint_create(tenant=hospital_a.tenant, url="http://127.0.0.1:9/hook",
                                           event_types=["invoice.issued"])
    return str(endpoint.pk)


@pytest.mark.parametrize("limit", ["²", "١٢", "1_0", "9" * 5000, "-1", "0", "201"])
def test_a_delivery_log_limit_that_is_not_ascii_digits_in_range_is_400_invalid_limit(hospital_a, endpoint_id, limit):
    admin = _person(hospital_a, "admin")
    response = admin.get(f"/api/v1/webhooks/{endpoint_id}/deliveries", {"limit": limit})
    assert response.status_code == 400 and _code(response) == "invalid_limit"


@pytest.mark.parametrize("overlap", ["²", "9" * 5000, 1.5, True, [60], "-5"])
def test_a_secret_overlap_that_is_not_a_whole_number_in_range_is_400_invalid_overlap(hospital_a, endpoint_id,
                                                                                      overlap):
    admin = _person(hospital_a, "admin")
    response = admin.post(f"/api/v1/webhooks/{endpoint_id}/rotate-secret", {"keep_previous_for_s": overlap},
                          content_type="application/json")
    assert response.status_code == 400 and _code(response) == "invalid_overlap"


@pytest.mark.parametrize("body, code", [
    ({"decision": 5}, "invalid_decision"),
    ({"decision": "agree", "comment": 7}, "invalid_comment"),
    ({"decision": "disagree", "comment": "bad\x00read"}, "invalid_comment"),
])
def test_a_sign_off_with_a_non_text_decision_or_comment_is_400_not_500(hospital_a, body, code):
    from tests.api.test_list_pagination_and_filters import _assessment

    assessment = _assessment(hospital_a.tenant, created_at=timezone.now(), status="succeeded")
    radiologist = _person(hospital_a, "radiologist")
    response = radiologist.post(f"/api/v1/assessments/{assessment.pk}/signoffs", body,
                                content_type="application/json")
    assert response.status_code == 400 and _code(response) == code


@pytest.mark.parametrize("body, code", [
    ({"host": "ris\x00.example", "port": 2575}, "invalid_host"),
    ({"host": 42, "port": 2575}, "invalid_host"),
    ({"host": "ris.example", "port": 2575, "sending_facility": "A\rMSH|"}, "invalid_sending_facility"),
    ({"host": "ris.example", "port": 2575, "receiving_application": "\x00"}, "invalid_receiving_application"),
])
def test_an_hl7_destination_with_control_characters_or_a_non_text_host_is_400(hospital_a, body, code):
    admin = _person(hospital_a, "admin")
    response = admin.put("/api/v1/hl7/destination", body, content_type="application/json")
    assert response.status_code == 400 and _code(response) == code


def test_hl7_deliveries_filtered_by_an_unknown_status_are_400_invalid_status(his_a):
    response = his_a.get("/api/v1/hl7/deliveries", {"status": "lost"})
    assert response.status_code == 400 and _code(response) == "invalid_status"


def test_a_succeeded_assessment_without_a_result_has_no_hl7_message_409(hospital_a, his_a):
    from tests.api.test_list_pagination_and_filters import _assessment

    assessment = _assessment(hospital_a.tenant, created_at=timezone.now(), status="succeeded")
    response = his_a.get(f"/api/v1/assessments/{assessment.pk}/hl7")
    assert response.status_code == 409 and _code(response) == "assessment_not_succeeded"
