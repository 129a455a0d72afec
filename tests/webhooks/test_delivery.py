"""Deliveries to a real HTTP receiver on 127.0.0.1, verified with the recipe of docs/webhooks.md: signing, retries
with backoff, giving up after 24 hours, replay, the sweep, and no delivery for a rolled-back change."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import transaction

from tenants.context import tenant_context
from tests.billing.factories import make_assessment
from tests.webhooks._support import make_endpoint


def _deliveries(tenant):
    from webhooks.models import WebhookDelivery

    with tenant_context(tenant):
        return list(WebhookDelivery.objects.order_by("created_at"))


def _wait_for(predicate, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _attempt(tenant, delivery_id, now=None):
    """One attempt, as the delivery task makes it (the task restores the hospital's context)."""
    from webhooks.services import delivery_attempt

    with tenant_context(tenant):
        return delivery_attempt(delivery_id=delivery_id, now=now)


def _publish(tenant, event_type="assessment.succeeded", data=None):
    from webhooks.services import event_publish

    return event_publish(tenant=tenant, event_type=event_type, data=data or {"assessment": {"id": "a-1"}})


def test_a_delivery_is_posted_signed_and_the_documented_recipe_verifies_it(hospital_a, receiver):
    endpoint, secret = make_endpoint(hospital_a.tenant, receiver.url)
    receiver.secret = secret
    [delivery] = _publish(hospital_a.tenant)

    done = _attempt(hospital_a.tenant, delivery.pk)

    [got] = receiver.wait_for(1)
    assert got.error == "" and got.answered == 200
    assert got.event["id"] == str(delivery.event_id) == got.headers["Webhook-Id"]
    assert got.event["type"] == "assessment.succeeded" and got.event["data"] == {"assessment": {"id": "a-1"}}
    assert got.headers["Content-Type"] == "application/json" and got.path == "/his/webhooks"
    assert abs(int(got.headers["Webhook-Timestamp"]) - time.time()) < 30
    assert done.status == "succeeded" and done.attempts == 1 and done.last_response_code == 200
    assert done.next_attempt_at is None and done.delivered_at is not None


def test_a_receiver_answering_500_then_200_gets_a_retry_and_the_log_shows_both_codes(
        hospital_a, receiver, celery_worker, settings):
    from webhooks.models import WebhookAttempt

    settings.WEBHOOK_RETRY_BASE_S = 0.2  # the first retry comes after ~0.2 s instead of 30 s
    endpoint, secret = make_endpoint(hospital_a.tenant, receiver.url)
    receiver.secret = secret
    receiver.statuses = [500]
    with transaction.atomic():
        [delivery] = _publish(hospital_a.tenant)

    first, second = receiver.wait_for(2)
    assert (first.answered, second.answered) == (500, 200)
    assert first.event["id"] == second.event["id"] == str(delivery.event_id)  # the same event, signed afresh
    assert first.body == second.body

    def finished():
        [row] = _deliveries(hospital_a.tenant)
        return row if row.status == "succeeded" else None

    row = _wait_for(finished)
    assert row.attempts == 2 and row.last_response_code == 200
    with tenant_context(hospital_a.tenant):
        attempts = list(WebhookAttempt.objects.filter(delivery=row).order_by("number"))
    assert [(a.number, a.response_code, a.error) for a in attempts] == [(1, 500, "HTTP 500"), (2, 200, "")]
    time.sleep(0.5)
    assert len(receiver.received) == 2  # nothing more once delivered


def test_an_undelivered_event_is_retried_with_growing_delays_for_24_hours_then_given_up(hospital_a, receiver):
    from webhooks.models import WebhookAttempt
    endpoint, secret = make_endpoint(hospital_a.tenant, receiver.url)
    receiver.secret = secret
    receiver.statuses = [500] * 100
    [delivery] = _publish(hospital_a.tenant)
    published_at = delivery.created_at

    # Drive the clock: each attempt happens at the time the previous one scheduled (no sleeping for a day).
    row, times = delivery, []
    while row.status != "given_up":
        assert len(times) < 60, "never gave up"
        now = row.next_attempt_at
        row = _attempt(hospital_a.tenant, delivery.pk, now=now)
        times.append(now)

    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    assert 24 <= gaps[0] <= 36  # 30 s ± 20 %
    assert all(later >= earlier * 1.2 for earlier, later in zip(gaps[:6], gaps[1:7]))  # doubling (with jitter)
    assert max(gaps) <= 3600 * 1.2  # capped at an hour
    assert times[-1] == published_at + timedelta(hours=24)  # the last attempt on the 24-hour mark
    assert 25 <= len(times) <= 40
    assert row.next_attempt_at is None and row.attempts == len(times)
    with tenant_context(hospital_a.tenant):
        codes = list(WebhookAttempt.objects.filter(delivery=row).values_list("response_code", flat=True))
    assert codes == [500] * len(times)
    assert len(receiver.received) == len(times) and all(r.error == "" for r in receiver.received)

    # Given up is final: another task for it does nothing.
    assert _attempt(hospital_a.tenant, delivery.pk, now=times[-1] + timedelta(hours=1)) is None


def test_replay_sends_the_same_event_id_again_as_a_new_delivery(hospital_a, receiver):
    from webhooks.services import delivery_replay, endpoint_replay_failed

    endpoint, secret = make_endpoint(hospital_a.tenant, receiver.url)
    receiver.secret = secret
    [delivery] = _publish(hospital_a.tenant)
    [other] = _publish(hospital_a.tenant, event_type="assessment.failed")
    _attempt(hospital_a.tenant, delivery.pk)
    with tenant_context(hospital_a.tenant):
        type(delivery).objects.filter(pk=other.pk).update(status="given_up", next_attempt_at=None)
        delivery.refresh_from_db()

    replay = delivery_replay(delivery=delivery)
    assert replay.pk != delivery.pk and replay.event_id == delivery.event_id and replay.replay_of_id == delivery.pk
    assert replay.status == "pending" and replay.payload == delivery.payload
    _attempt(hospital_a.tenant, replay.pk)

    first, again = receiver.wait_for(2)
    assert again.error == "" and again.event["id"] == first.event["id"] == str(delivery.event_id)
    assert again.body == first.body

    # Replaying an endpoint's failures sends only the event it gave up on, once.
    replays = endpoint_replay_failed(endpoint=endpoint)
    assert [(r.event_id, r.replay_of_id) for r in replays] == [(other.event_id, other.pk)]
    assert endpoint_replay_failed(endpoint=endpoint) == []  # the replay is pending now, not given up


def test_publishing_reaches_only_active_endpoints_subscribed_to_the_event_and_only_once_per_event(
        hospital_a, hospital_b, receiver):
    from webhooks.services import event_publish

    subscribed, _ = make_endpoint(hospital_a.tenant, receiver.url, event_types=["assessment.succeeded"])
    make_endpoint(hospital_a.tenant, receiver.url, event_types=["invoice.issued"])
    disabled, _ = make_endpoint(hospital_a.tenant, receiver.url)
    from webhooks.services import endpoint_update

    endpoint_update(endpoint=disabled, is_active=False)
    make_endpoint(hospital_b.tenant, receiver.url)

    first = event_publish(tenant=hospital_a.tenant, event_type="assessment.succeeded", data={},
                          event_id="0b6f3c1e-5d0c-5a51-9a43-8f6a3a1d2e77")
    again = event_publish(tenant=hospital_a.tenant, event_type="assessment.succeeded", data={},
                          event_id="0b6f3c1e-5d0c-5a51-9a43-8f6a3a1d2e77")
    assert [d.endpoint_id for d in first] == [subscribed.pk] and again == []
    assert _deliveries(hospital_b.tenant) == []
    with pytest.raises(ValueError):
        event_publish(tenant=hospital_a.tenant, event_type="assessment.deleted", data={})


def test_a_disabled_endpoints_pending_delivery_is_given_up_without_a_request(hospital_a, receiver):
    from webhooks.services import endpoint_update

    endpoint, _ = make_endpoint(hospital_a.tenant, receiver.url)
    [delivery] = _publish(hospital_a.tenant)
    endpoint_update(endpoint=endpoint, is_active=False)
    row = _attempt(hospital_a.tenant, delivery.pk)
    assert row.status == "given_up" and row.last_error == "endpoint disabled" and row.attempts == 0
    assert receiver.received == []


def test_nothing_is_sent_for_a_rolled_back_change_and_a_lost_publish_is_sent_by_the_sweep(
        hospital_a, receiver, celery_worker):
    from webhooks.models import WebhookDelivery
    from webhooks.services import deliveries_sweep

    endpoint, secret = make_endpoint(hospital_a.tenant, receiver.url)
    receiver.secret = secret

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        _publish(hospital_a.tenant)
        raise Abort
    assert _deliveries(hospital_a.tenant) == []

    # A committed delivery whose task was never published (broker down at commit, say): the sweep sends it.
    from django.utils import timezone

    with tenant_context(hospital_a.tenant):
        lost = WebhookDelivery.objects.create(
            tenant=hospital_a.tenant, endpoint=endpoint, event_id="5d1e2c3b-0000-4000-8000-00000000000a",
            event_type="assessment.succeeded", payload={"id": "5d1e2c3b-0000-4000-8000-00000000000a",
                                                        "type": "assessment.succeeded", "data": {}},
            next_attempt_at=timezone.now(), give_up_at=timezone.now() + timedelta(days=1))
    assert receiver.received == []
    assert deliveries_sweep() == 1
    [got] = receiver.wait_for(1)
    assert got.error == "" and got.event["id"] == str(lost.event_id)
    _wait_for(lambda: _deliveries(hospital_a.tenant)[0].status == "succeeded")
    assert deliveries_sweep() == 0  # delivered: nothing more to publish


def test_a_failed_assessment_publishes_assessment_failed_with_its_error_code(hospital_a, receiver):
    from inference.services import assessment_fail

    make_endpoint(hospital_a.tenant, receiver.url)
    assessment = make_assessment(hospital_a.tenant, status="running")
    with tenant_context(hospital_a.tenant):  # as the worker's task runs it
        assert assessment_fail(assessment_id=assessment.pk, code="model_server_unavailable", message="down")
    [delivery] = _deliveries(hospital_a.tenant)
    data = delivery.payload["data"]["assessment"]
    assert delivery.event_type == "assessment.failed" == delivery.payload["type"]
    assert data["id"] == str(assessment.pk) and data["status"] == "failed"
    assert data["error"] == {"code": "model_server_unavailable"}
    assert data["links"]["result"].endswith(f"/api/v1/assessments/{assessment.pk}")
    assert data["links"]["fhir_report"].endswith(f"/fhir/r4/DiagnosticReport/{assessment.pk}")
    assert "down" not in str(delivery.payload)  # codes only, not messages


def test_closing_a_month_publishes_invoice_issued_to_subscribed_hospitals_only(hospital_a, hospital_b, receiver):
    from django.utils import timezone

    from billing.services import invoices_close
    from tests.billing.factories import add_usage, make_plan, subscribe

    make_endpoint(hospital_a.tenant, receiver.url, event_types=["invoice.issued"])
    make_endpoint(hospital_b.tenant, receiver.url, event_types=["assessment.succeeded"])
    plan = make_plan()
    for hospital in (hospital_a, hospital_b):
        subscribe(hospital.tenant, plan)
        add_usage(hospital.tenant, count=2, occurred_at=timezone.now())
    invoices_close(now=timezone.now().replace(day=1) + timedelta(days=40))

    [delivery] = _deliveries(hospital_a.tenant)
    invoice = delivery.payload["data"]["invoice"]
    assert delivery.event_type == "invoice.issued"
    assert invoice["number"] == "INV-000001" and invoice["assessments"] == 2 and invoice["currency"] == "EUR"
    assert invoice["links"]["api"].endswith(f"/api/v1/billing/invoices/{invoice['id']}")
    assert _deliveries(hospital_b.tenant) == []


@pytest.mark.slow
def test_an_assessment_succeeding_end_to_end_produces_exactly_one_signed_delivery(
        his_a, hospital_a, receiver, celery_worker, local_model_server):
    from tests.conftest import HAND_DX, wait_for_status

    endpoint, secret = make_endpoint(hospital_a.tenant, receiver.url)
    receiver.secret = secret
    with open(HAND_DX, "rb") as handle:
        response = his_a.post("/api/v1/assessments", {"file": handle, "model": "bone_age",
                                                      "chronological_age_months": "120"}, format="multipart")
    assert response.status_code == 202, response.content
    done = wait_for_status(his_a, response["Location"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done

    [got] = receiver.wait_for(1)
    time.sleep(1.0)  # a second delivery (a duplicate) would arrive within this
    assert len(receiver.received) == 1
    assert got.error == "" and got.answered == 200
    event = got.event
    assert event["type"] == "assessment.succeeded"
    body = event["data"]["assessment"]
    assert body["id"] == done["id"] and body["status"] == "succeeded"
    assert body["model"]["name"] == "bone_age" and body["model"]["version"] == done["model"]["version"]
    assert body["notice"] == "demo, not for diagnostic use"
    assert body["links"]["result"].endswith(response["Location"])
    # No result values or patient inputs in the webhook: the HIS fetches them with its key.
    assert "bone_age_months" not in got.body.decode() and "chronological_age" not in got.body.decode()
    [row] = _deliveries(hospital_a.tenant)
    assert row.status == "succeeded" and row.attempts == 1


def test_a_secret_sealed_under_a_key_no_longer_configured_fails_the_attempt_visibly(hospital_a, receiver, settings):
    endpoint, _ = make_endpoint(hospital_a.tenant, receiver.url)
    [delivery] = _publish(hospital_a.tenant)
    settings.FIELD_ENCRYPTION_KEY = "a-rotated-key-without-the-old-one-as-fallback"
    settings.FIELD_ENCRYPTION_KEY_FALLBACKS = []
    row = _attempt(hospital_a.tenant, delivery.pk)
    assert row.status == "failing" and row.attempts == 1 and "rotate" in row.last_error
    assert receiver.received == []  # nothing unsigned ever leaves


def test_offboarding_purges_the_hospitals_webhook_rows_and_leaves_the_other_hospitals(hospital_a, hospital_b, receiver):
    from tenants.lifecycle import _purge_rows
    from webhooks.models import WebhookAttempt, WebhookEndpoint
    from webhooks.services import critical_finding_notify, delivery_replay, notification_settings_update

    for hospital in (hospital_a, hospital_b):
        make_endpoint(hospital.tenant, receiver.url)
        notification_settings_update(tenant=hospital.tenant, critical_finding_emails=["lead@example.org"])
        [delivery] = _publish(hospital.tenant)
        _attempt(hospital.tenant, delivery.pk)
        delivery_replay(delivery=delivery)
        critical_finding_notify(assessment=make_assessment(hospital.tenant, status="succeeded"))

    deleted = _purge_rows(hospital_a.tenant)

    assert {label: count for label, count in deleted.items() if label.startswith("webhooks.")} == {
        "webhooks.WebhookAttempt": 1, "webhooks.WebhookDelivery": 3, "webhooks.WebhookEndpoint": 1,
        "webhooks.NotificationSettings": 1, "webhooks.CriticalFindingEmail": 1}
    for hospital, expected in ((hospital_a, 0), (hospital_b, 1)):
        with tenant_context(hospital.tenant):
            assert WebhookEndpoint.objects.count() == expected
            assert WebhookAttempt.objects.count() == expected
