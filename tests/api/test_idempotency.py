"""`Idempotency-Key` on the API's POSTs: a retried request never creates a second assessment, key or bill."""
from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

ASSESSMENTS = "/api/v1/assessments"
KEYS = "/api/v1/api-keys"


def _png(seed: int = 1) -> bytes:
    """The same bytes for the same seed (a retry sends the very same file)."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, size=(800, 640), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def _upload(data: bytes, name: str = "hand.png") -> io.BytesIO:
    upload = io.BytesIO(data)
    upload.name = name
    return upload


def _submit(client, data: bytes, key: str | None, **fields):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    body = {"file": _upload(data), "model": "bone_age", "patient_sex": "F", **fields}
    return client.post(ASSESSMENTS, body, format="multipart", **headers)


def _count(model, tenant) -> int:
    from tenants.context import tenant_context

    with tenant_context(tenant):
        return model.objects.count()


@pytest.fixture
def admin_a(hospital_a):
    from rest_framework.test import APIClient

    from tenants import services

    person = services.user_create(username="admin.idem-a", password="admin-pass-idem-a-123")
    services.membership_grant(tenant=hospital_a.tenant, user=person, role="admin")
    client = APIClient()
    client.force_login(person)
    return client


def test_a_retry_with_the_same_key_replays_the_first_answer_and_creates_nothing(his_a, hospital_a):
    from inference.models import Assessment
    from tests.audit._support import all_events, last_event_id

    data = _png(1)
    mark = last_event_id()
    first = _submit(his_a, data, "order-4711")
    assert first.status_code == 202, first.content
    assert "Idempotent-Replayed" not in first
    # The retry is encoded afresh (fields in another order): the same request all the same.
    retry = his_a.post(ASSESSMENTS, {"patient_sex": "F", "model": "bone_age", "file": _upload(data)},
                       format="multipart", HTTP_IDEMPOTENCY_KEY="order-4711")
    assert retry.status_code == 202
    assert retry["Idempotent-Replayed"] == "true"
    assert retry["Location"] == first["Location"]
    assert retry["Content-Type"] == first["Content-Type"]
    assert retry.json() == first.json()
    assert _count(Assessment, hospital_a.tenant) == 1
    # The view did not run again, but the answer (patient inputs) was shown again: audited as a replay.
    uploads = [e for e in all_events(after_id=mark) if e.event == "assessment.upload"]
    assert [e.details.get("replayed", False) for e in uploads] == [False, True]
    assert {e.assessment_id for e in uploads} == {first.json()["id"]}


def test_the_same_key_with_a_different_request_is_422_and_changes_nothing(his_a, hospital_a):
    from inference.models import Assessment

    assert _submit(his_a, _png(1), "order-1").status_code == 202
    for changed in (_submit(his_a, _png(2), "order-1"), _submit(his_a, _png(1), "order-1", patient_sex="M")):
        assert changed.status_code == 422
        assert changed["Content-Type"] == "application/problem+json"
        assert changed.json()["code"] == "idempotency_key_reused"
    assert _count(Assessment, hospital_a.tenant) == 1


def test_empty_or_overlong_keys_are_400_and_a_255_character_key_is_accepted(his_a):
    for bad in ("", "   ", "k" * 256, "caf\u00e9"):
        response = _submit(his_a, _png(1), bad)
        assert response.status_code == 400, bad
        assert response.json()["code"] == "idempotency_key_invalid"
    assert _submit(his_a, _png(1), "k" * 255).status_code == 202


def test_keys_belong_to_their_hospital_method_and_path(his_a, his_b, hospital_a, hospital_b, admin_a):
    from inference.models import Assessment

    data = _png(1)
    assert _submit(his_a, data, "shared-key").status_code == 202
    # Hospital B's HIS happens to use the same key: its own request runs, and A's answer is never shown to it.
    other = _submit(his_b, data, "shared-key")
    assert other.status_code == 202 and "Idempotent-Replayed" not in other
    assert _count(Assessment, hospital_b.tenant) == 1
    # The same key on another path of the same hospital is another request.
    created = admin_a.post(KEYS, {"name": "RIS"}, format="json", HTTP_IDEMPOTENCY_KEY="shared-key")
    assert created.status_code == 201 and "Idempotent-Replayed" not in created


def test_an_answer_that_did_nothing_is_not_stored_so_the_retry_runs(his_a, hospital_a, monkeypatch):
    from django.db import OperationalError

    from audit import services as audit_services
    from inference.models import Assessment

    original = audit_services._append

    def broken(**kwargs):
        raise OperationalError("audit table unavailable")

    monkeypatch.setattr(audit_services, "_append", broken)
    failed = _submit(his_a, _png(1), "order-503")
    assert failed.status_code == 503 and failed.json()["code"] == "audit_unavailable"
    monkeypatch.setattr(audit_services, "_append", original)
    retried = _submit(his_a, _png(1), "order-503")
    assert retried.status_code == 202 and "Idempotent-Replayed" not in retried
    assert _count(Assessment, hospital_a.tenant) == 1


def test_a_new_api_key_is_replayed_to_the_retry_but_never_stored_in_clear(admin_a, hospital_a):
    from api.models import IdempotencyRecord
    from tenants.context import tenant_context
    from tenants.models import ApiKey

    before = _count(ApiKey, hospital_a.tenant)
    first = admin_a.post(KEYS, {"name": "PACS bridge"}, format="json", HTTP_IDEMPOTENCY_KEY="new-key-1")
    retry = admin_a.post(KEYS, {"name": "PACS bridge"}, format="json", HTTP_IDEMPOTENCY_KEY="new-key-1")
    assert first.status_code == retry.status_code == 201
    assert retry.json()["key"] == first.json()["key"] and retry["Idempotent-Replayed"] == "true"
    assert retry["Cache-Control"] == "no-store"
    assert _count(ApiKey, hospital_a.tenant) == before + 1
    with tenant_context(hospital_a.tenant):
        record = IdempotencyRecord.objects.get(key="new-key-1")
    secret = first.json()["key"].rsplit("_", 1)[1]
    assert secret not in record.response_body and first.json()["key"] not in record.response_body
    assert record.response_status == 201 and record.expires_at > timezone.now() + timedelta(hours=23)


def _claim(tenant, *, key: str, body: dict, claimed_at):
    """An unanswered claim of exactly the request `body` would be, as a request still running leaves it."""
    from rest_framework.parsers import JSONParser
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from api.idempotency import request_fingerprint
    from api.models import IdempotencyRecord
    from tenants.context import tenant_context

    request = Request(APIRequestFactory().post(KEYS, body, format="json"), parsers=[JSONParser()])
    with tenant_context(tenant):
        return IdempotencyRecord.objects.create(
            tenant=tenant, key=key, method="POST", path=KEYS, request_sha256=request_fingerprint(request),
            claimed_at=claimed_at, expires_at=timezone.now() + timedelta(hours=24))


def test_a_retry_while_the_first_request_still_runs_waits_then_answers_409(admin_a, hospital_a, settings):
    import time

    settings.IDEMPOTENCY_WAIT_S = 0.3
    _claim(hospital_a.tenant, key="slow-1", body={"name": "RIS"}, claimed_at=timezone.now())
    started = time.monotonic()
    response = admin_a.post(KEYS, {"name": "RIS"}, format="json", HTTP_IDEMPOTENCY_KEY="slow-1")
    assert time.monotonic() - started >= 0.3  # it waited for the first request before giving up
    assert response.status_code == 409 and response.json()["code"] == "idempotency_in_progress"
    assert response["Retry-After"] == "1"


def test_a_claim_whose_request_died_is_taken_over_by_the_retry(admin_a, hospital_a, settings):
    _claim(hospital_a.tenant, key="dead-1", body={"name": "RIS"},
           claimed_at=timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_ABANDONED_AFTER_S + 1))
    response = admin_a.post(KEYS, {"name": "RIS"}, format="json", HTTP_IDEMPOTENCY_KEY="dead-1")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    again = admin_a.post(KEYS, {"name": "RIS"}, format="json", HTTP_IDEMPOTENCY_KEY="dead-1")
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == response.json()["id"]


def test_records_expire_after_a_day_and_the_hourly_task_deletes_only_expired_ones(his_a, his_b, hospital_a,
                                                                                  hospital_b, settings):
    from api.models import IdempotencyRecord
    from api.tasks import idempotency_records_expire
    from inference.models import Assessment
    from tenants.context import dangerously_operator_access, tenant_context

    assert settings.CELERY_BEAT_SCHEDULE["api-idempotency-expire"]["task"] == "api.tasks.idempotency_records_expire"
    assert settings.IDEMPOTENCY_TTL_S == 24 * 3600
    assert _submit(his_a, _png(1), "old").status_code == 202
    assert _submit(his_b, _png(2), "fresh").status_code == 202
    with tenant_context(hospital_a.tenant):
        IdempotencyRecord.objects.filter(key="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    # An expired key is a new key: the request runs (and finds its own duplicate, answering 200).
    again = _submit(his_a, _png(1), "old")
    assert again.status_code == 200 and again.json()["duplicate"] is True and "Idempotent-Replayed" not in again
    with tenant_context(hospital_a.tenant):
        IdempotencyRecord.objects.filter(key="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert idempotency_records_expire.apply().get() == 1
    with dangerously_operator_access(reason="test reads every hospital's records"):
        assert list(IdempotencyRecord.objects.dangerously_all_tenants().values_list("key", flat=True)) == ["fresh"]
    assert _count(Assessment, hospital_a.tenant) == 1


def test_concurrent_retries_with_one_key_create_exactly_one_assessment_and_all_get_its_id(
        transactional_db, celery_worker, his_a, hospital_a):
    """Eight HIS retries at once, each on its own thread and PostgreSQL connection; a real worker then runs the
    one assessment, which is billed once."""
    from django.db import connection
    from rest_framework.test import APIClient

    from billing.models import UsageRecord
    from inference.models import Assessment

    data = _png(7)
    threads = 8
    barrier = threading.Barrier(threads)
    answers: list = [None] * threads

    def retry(index: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {hospital_a.api_key}")
        try:
            barrier.wait(timeout=30)
            response = _submit(client, data, "his-order-20260301-0001")
            answers[index] = (response.status_code, response.json(), response.get("Idempotent-Replayed"))
        finally:
            connection.close()  # this thread's own connection

    workers = [threading.Thread(target=retry, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert all(answer is not None for answer in answers), answers
    assert {status for status, _, _ in answers} == {202}
    assert len({body["id"] for _, body, _ in answers}) == 1
    assert sorted(replayed or "" for _, _, replayed in answers) == [""] + ["true"] * (threads - 1)
    assert _count(Assessment, hospital_a.tenant) == 1
    from tests.conftest import wait_for_status

    finished = wait_for_status(his_a, answers[0][1]["links"]["self"], {"succeeded", "failed"})
    assert finished["status"] == "succeeded", finished
    assert _count(UsageRecord, hospital_a.tenant) == 1
