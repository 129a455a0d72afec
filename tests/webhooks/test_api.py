"""The webhook management API: administrators (or a key with the manage_webhooks scope) register endpoints, see the
secret once, rotate it, read the delivery log with response codes and replay; errors are RFC 9457 problems."""
from __future__ import annotations

import time

import pytest
from django.test import Client

from tenants.context import tenant_context
from tests.audit._support import all_events, last_event_id
from webhooks import signing


@pytest.fixture
def admin_a(hospital_a):
    from tenants import services

    user = services.user_create(username="admin.webhooks-a", password="admin-pass-webhooks-a-1234")
    services.membership_grant(tenant=hospital_a.tenant, user=user, role="admin")
    client = Client()
    client.force_login(user)
    return client


def _create(client, **overrides):
    body = {"url": "http://127.0.0.1:9/his/webhooks", "event_types": ["assessment.succeeded", "invoice.issued"],
            "description": "RIS", **overrides}
    return client.post("/api/v1/webhooks", body, content_type="application/json")


def test_an_admin_registers_an_endpoint_and_sees_its_secret_only_once(admin_a, hospital_a):
    from webhooks.models import WebhookEndpoint

    mark = last_event_id()
    response = _create(admin_a)
    assert response.status_code == 201, response.content
    body = response.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40 and body["secret_hint"] == secret[:10]
    assert response["Location"] == f"/api/v1/webhooks/{body['id']}" and response["Cache-Control"] == "no-store"
    assert body["event_types"] == ["assessment.succeeded", "invoice.issued"] and body["active"] is True

    listed = admin_a.get("/api/v1/webhooks").json()
    one = admin_a.get(f"/api/v1/webhooks/{body['id']}").json()
    assert [e["id"] for e in listed["results"]] == [body["id"]]
    assert "assessment.critical_finding" in listed["event_types"]
    for answer in (listed, one):
        assert secret not in str(answer) and "secret" not in one
    with tenant_context(hospital_a.tenant):
        row = WebhookEndpoint.objects.get(pk=body["id"])
    assert secret not in row.secret_sealed and row.secret_sealed.startswith("v2$")  # sealed at rest
    [event] = [e for e in all_events(after_id=mark) if e.event == "webhook.create"]
    assert event.object_id == body["id"] and event.tenant_id == hospital_a.tenant.pk and event.user_id


@pytest.mark.parametrize("overrides, code", [
    ({"event_types": []}, "invalid_event_types"),
    ({"event_types": ["assessment.deleted"]}, "invalid_event_types"),
    ({"event_types": "assessment.succeeded"}, "invalid_event_types"),  # JSON must send a list
    ({"url": "ftp://127.0.0.1/x"}, "webhook_url_scheme"),
    ({"url": "https://169.254.169.254/latest"}, "webhook_url_not_public"),
    ({"url": "https://user:pw@127.0.0.1/x"}, "webhook_url_credentials"),
    ({"url": None}, "webhook_url_invalid"),
    ({"description": "x" * 201}, "invalid_description"),
    ({"description": "RIS\u0000"}, "invalid_description"),
    ({"description": 42}, "invalid_description"),
    ({"url": "https://\u0000.example/x"}, "webhook_url_invalid"),
    ({"url": "https://[::1/x"}, "webhook_url_invalid"),
    ({"url": "https://127.0.0.1:99999/x"}, "webhook_url_invalid"),
    ({"active": "maybe"}, "invalid_active"),
])
def test_bad_endpoint_input_is_a_400_problem_with_a_stable_code(admin_a, overrides, code):
    if overrides.get("event_types") == "assessment.succeeded":
        # Form-style comma lists are accepted; a JSON string is read the same way, so use a non-list object.
        overrides = {"event_types": {"assessment.succeeded": True}}
    response = _create(admin_a, **overrides)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json" and response.json()["code"] == code


def test_patch_changes_only_what_is_given_and_delete_removes_the_endpoint(admin_a, hospital_a):
    body = _create(admin_a).json()
    url = f"/api/v1/webhooks/{body['id']}"
    response = admin_a.patch(url, {"active": False, "event_types": ["invoice.issued"]},
                             content_type="application/json")
    assert response.status_code == 200, response.content
    changed = response.json()
    assert changed["active"] is False and changed["event_types"] == ["invoice.issued"]
    assert changed["url"] == body["url"] and changed["description"] == "RIS"
    assert admin_a.patch(url, {"url": "https://10.0.0.1/x"}, content_type="application/json").json()["code"] == \
        "webhook_url_not_public"
    assert admin_a.delete(url).status_code == 204
    assert admin_a.get(url).json()["code"] == "webhook_not_found"
    assert admin_a.get("/api/v1/webhooks/not-a-uuid").status_code == 404


def test_rotating_the_secret_with_an_overlap_signs_with_both_secrets_until_it_ends(admin_a, hospital_a):
    from webhooks.models import WebhookEndpoint
    from webhooks.services import endpoint_signing_secrets

    created = _create(admin_a).json()
    old = created["secret"]
    response = admin_a.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", {"keep_previous_for_s": 3600},
                            content_type="application/json")
    assert response.status_code == 200, response.content
    new = response.json()["secret"]
    assert new != old and response.json()["previous_secret_expires_at"]
    with tenant_context(hospital_a.tenant):
        endpoint = WebhookEndpoint.objects.get(pk=created["id"])
    assert endpoint_signing_secrets(endpoint) == [new, old]
    timestamp = int(time.time())
    header = signing.signature_header(endpoint_signing_secrets(endpoint), timestamp, b"{}")
    headers = {"Webhook-Id": "e", "Webhook-Timestamp": str(timestamp), "Webhook-Signature": header}
    assert signing.verify(old, headers, b"{}") == signing.verify(new, headers, b"{}") == timestamp

    # Rotating again without overlap (a leaked secret): only the newest signs.
    newest = admin_a.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", {},
                          content_type="application/json").json()["secret"]
    with tenant_context(hospital_a.tenant):
        endpoint.refresh_from_db()
    assert endpoint_signing_secrets(endpoint) == [newest]
    bad = admin_a.post(f"/api/v1/webhooks/{created['id']}/rotate-secret", {"keep_previous_for_s": 10 ** 9},
                       content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_overlap"


def test_the_delivery_log_shows_each_attempts_response_code_and_replay_answers_202(admin_a, hospital_a, receiver):
    from webhooks.services import delivery_attempt, event_publish

    created = _create(admin_a, url=receiver.url).json()
    receiver.secret = created["secret"]
    receiver.statuses = [503]
    [delivery] = event_publish(tenant=hospital_a.tenant, event_type="invoice.issued", data={"invoice": {}})
    with tenant_context(hospital_a.tenant):
        delivery_attempt(delivery_id=delivery.pk)

    log = admin_a.get(f"/api/v1/webhooks/{created['id']}/deliveries").json()["results"]
    assert len(log) == 1
    entry = log[0]
    assert entry["status"] == "failing" and entry["last_response_code"] == 503 and entry["attempts"] == 1
    assert [(a["number"], a["response_code"], a["error"]) for a in entry["attempt_log"]] == [(1, 503, "HTTP 503")]
    assert "payload" not in entry and entry["event_id"] == str(delivery.event_id)
    failing_only = admin_a.get(f"/api/v1/webhooks/{created['id']}/deliveries", {"status": "succeeded"}).json()
    assert failing_only["results"] == []
    assert admin_a.get(f"/api/v1/webhooks/{created['id']}/deliveries", {"status": "lost"}).json()["code"] == \
        "invalid_status"

    replay = admin_a.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay")
    assert replay.status_code == 202, replay.content
    assert replay.json()["event_id"] == str(delivery.event_id) and replay.json()["replay_of"] == str(delivery.pk)
    assert admin_a.post(f"/api/v1/webhooks/{created['id']}/replay-failed").status_code == 202
    assert admin_a.post("/api/v1/webhook-deliveries/8d3c1b9e-0000-4000-8000-000000000000/replay").json()["code"] \
        == "webhook_delivery_not_found"


def test_other_roles_and_plain_api_keys_are_refused_and_a_key_with_the_webhook_scope_may_manage(
        his_a, hospital_a):
    from tenants import services

    radiologist = Client()
    radiologist.force_login(hospital_a.user)
    assert radiologist.get("/api/v1/webhooks").json()["code"] == "insufficient_role"
    assert his_a.get("/api/v1/webhooks").json()["code"] == "insufficient_scope"

    _, key = services.api_key_create(tenant=hospital_a.tenant, name="HIS webhooks", scopes=["manage_webhooks"])
    from tests.conftest import his_client

    his = his_client(type(hospital_a)(tenant=hospital_a.tenant, api_key=key, api_key_row=None, user=None,
                                      password=""))
    response = his.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/his", "event_types": ["invoice.issued"]},
                        format="json")
    assert response.status_code == 201, response.content
    assert his.get("/api/v1/assessments").json()["code"] == "insufficient_scope"  # only what it was given


def test_the_portal_lets_an_admin_add_an_endpoint_read_its_log_and_replay(admin_a, hospital_a, receiver):
    from webhooks.models import WebhookDelivery
    from webhooks.services import delivery_attempt, event_publish

    page = admin_a.get("/portal/webhooks/")
    assert page.status_code == 200 and b"Add an endpoint" in page.content
    response = admin_a.post("/portal/webhooks/", {"url": receiver.url, "description": "Main HIS",
                                                  "event_types": ["assessment.succeeded", "invoice.issued"]})
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    secret = response.context["secret"]
    assert secret.encode() in response.content
    listing = admin_a.get("/portal/webhooks/")
    assert receiver.url.encode() in listing.content and secret.encode() not in listing.content

    endpoint = response.context["endpoint"]
    receiver.secret = secret
    receiver.statuses = [500]
    [delivery] = event_publish(tenant=hospital_a.tenant, event_type="invoice.issued", data={"invoice": {}})
    with tenant_context(hospital_a.tenant):
        delivery_attempt(delivery_id=delivery.pk)
    detail = admin_a.get(f"/portal/webhooks/{endpoint.pk}/")
    assert detail.status_code == 200
    assert b'<span class="response-code">500</span>' in detail.content and b"Failing, will retry" in detail.content

    replayed = admin_a.post(f"/portal/webhooks/deliveries/{delivery.pk}/replay/")
    assert replayed.status_code == 302
    with tenant_context(hospital_a.tenant):
        assert WebhookDelivery.objects.filter(event_id=delivery.event_id).count() == 2

    bad = admin_a.post("/portal/webhooks/", {"url": "https://169.254.169.254/", "event_types": ["invoice.issued"]})
    assert bad.status_code == 400 and b"webhook_url_not_public" in bad.content

    assert admin_a.post(f"/portal/webhooks/{endpoint.pk}/delete/").status_code == 302
    assert admin_a.get(f"/portal/webhooks/{endpoint.pk}/").status_code == 404


def test_the_portal_pages_are_for_administrators_only(hospital_a):
    radiologist = Client()
    radiologist.force_login(hospital_a.user)
    assert radiologist.get("/portal/webhooks/").status_code == 403
    assert radiologist.get("/portal/webhooks/notifications/").status_code == 403
    assert Client().get("/portal/webhooks/").status_code == 302  # to sign-in


def test_no_input_to_the_webhook_api_answers_5xx(admin_a):
    """Property: whatever JSON an integrator sends, the answer is a problem document or a success, never a 500."""
    from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

    scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=40)
    values = scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=5), scalars, max_size=2)
    urls = st.sampled_from(["http://127.0.0.1:9/x", "https://169.254.169.254/", "https://[::1]:0/", "https://a..b/",
                            "http://127.0.0.1:9/" + "x" * 3000]) | st.text(max_size=60)
    bodies = st.fixed_dictionaries({}, optional={"url": urls | values, "event_types": values,
                                                 "description": values, "active": values,
                                                 "keep_previous_for_s": values})
    endpoint_id = admin_a.post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/x", "event_types": ["invoice.issued"]},
                               content_type="application/json").json()["id"]

    @hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(body=bodies, method=st.sampled_from(["create", "patch", "rotate"]))
    def check(body, method):
        if method == "create":
            response = admin_a.post("/api/v1/webhooks", body, content_type="application/json")
        elif method == "patch":
            response = admin_a.patch(f"/api/v1/webhooks/{endpoint_id}", body, content_type="application/json")
        else:
            response = admin_a.post(f"/api/v1/webhooks/{endpoint_id}/rotate-secret", body,
                                    content_type="application/json")
        assert response.status_code < 500, (method, body, response.content[:300])
        if response.status_code >= 400:
            assert response["Content-Type"] == "application/problem+json"

    check()
