"""Rate limits per API key and per hospital, shared by every web pod through Redis."""
from __future__ import annotations

import logging
import threading

import pytest
import redis
from rest_framework.test import APIClient

from tests.fixtures_services import free_port

ASSESSMENTS = "/api/v1/assessments"

pytestmark = pytest.mark.usefixtures("redis_ready")


def key_client(full_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {full_key}")
    return client


def second_key(hospital) -> str:
    from tenants import services
    from tenants.context import tenant_context

    with tenant_context(hospital.tenant):
        _, full_key = services.api_key_create(tenant=hospital.tenant, name="second HIS")
    return full_key


@pytest.fixture
def limits(settings):
    """Small limits for one test; returns a setter for (per key, per hospital)."""

    def set_limits(per_key: int, per_hospital: int):
        settings.RATE_LIMIT_PER_KEY_PER_MINUTE = per_key
        settings.RATE_LIMIT_PER_TENANT_PER_MINUTE = per_hospital

    return set_limits


def assert_rate_limited(response, scope: str) -> int:
    assert response.status_code == 429, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "rate_limited"
    assert body["limit"] == scope
    assert ("API key" if scope == "key" else "hospital") in body["detail"]
    retry_after = int(response["Retry-After"])
    # The sliding window needs at most the rest of this window plus one more for a full current window.
    assert 1 <= retry_after <= 120
    return retry_after


def test_the_request_over_the_key_limit_gets_429_with_retry_after(hospital_a, limits):
    limits(per_key=3, per_hospital=100)
    client = key_client(hospital_a.api_key)
    for _ in range(3):
        assert client.get(ASSESSMENTS).status_code == 200
    assert_rate_limited(client.get(ASSESSMENTS), "key")
    # Refused requests are not counted; a second key of the same hospital still has its own budget.
    assert key_client(second_key(hospital_a)).get(ASSESSMENTS).status_code == 200


def test_the_hospital_limit_spans_its_keys_and_people_but_not_another_hospital(hospital_a, hospital_b, limits):
    limits(per_key=100, per_hospital=5)
    first, second = key_client(hospital_a.api_key), key_client(second_key(hospital_a))
    person = APIClient()
    assert person.login(username=hospital_a.user.username, password=hospital_a.password)
    for client in (first, first, second, second, person):
        assert client.get(ASSESSMENTS).status_code == 200
    assert_rate_limited(second.get(ASSESSMENTS), "hospital")
    assert_rate_limited(first.get(ASSESSMENTS), "hospital")
    assert_rate_limited(person.get(ASSESSMENTS), "hospital")

    other = key_client(hospital_b.api_key)
    for _ in range(5):
        assert other.get(ASSESSMENTS).status_code == 200


def test_refused_callers_do_not_spend_the_hospitals_budget(hospital_a, limits):
    limits(per_key=100, per_hospital=2)
    client = key_client(hospital_a.api_key)
    # Not allowed to manage keys: refused before counting.
    for _ in range(5):
        assert client.get("/api/v1/api-keys").status_code == 403
    assert client.get(ASSESSMENTS).status_code == 200
    assert client.get(ASSESSMENTS).status_code == 200
    assert_rate_limited(client.get(ASSESSMENTS), "hospital")


# --- the shared store --------------------------------------------------------------------------------------


def _pod(redis_url: str):
    """A limiter as another web pod would hold it: its own Redis client and connection pool."""
    from api.ratelimit import RateLimiter

    return RateLimiter(url=redis_url, client=redis.Redis.from_url(redis_url))


def test_two_pods_share_one_counter(redis_ready, hospital_a):
    from api.ratelimit import Limit

    pod_1, pod_2 = _pod(redis_ready), _pod(redis_ready)
    assert pod_1.client is not pod_2.client
    limit = [Limit(scope="hospital", counter="tenant", maximum=3)]
    tenant_id = hospital_a.tenant.pk
    assert pod_1.check(tenant_id=tenant_id, limits=limit) is None
    assert pod_2.check(tenant_id=tenant_id, limits=limit) is None
    assert pod_1.check(tenant_id=tenant_id, limits=limit) is None
    refused = pod_2.check(tenant_id=tenant_id, limits=limit)
    assert refused is not None and refused.limit.scope == "hospital"
    assert pod_1.check(tenant_id=tenant_id, limits=limit) is not None


def test_concurrent_pods_never_let_more_than_the_limit_through(redis_ready, hospital_a):
    from api.ratelimit import Limit

    pods = [_pod(redis_ready) for _ in range(4)]
    limit = [Limit(scope="key", counter="key:concurrency", maximum=25)]
    allowed = []
    lock = threading.Lock()

    def hammer(pod):
        for _ in range(20):
            if pod.check(tenant_id=hospital_a.tenant.pk, limits=limit) is None:
                with lock:
                    allowed.append(1)

    threads = [threading.Thread(target=hammer, args=(pod,)) for pod in pods]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 25


def test_the_previous_window_still_counts_in_the_sliding_window(redis_ready, hospital_a):
    """A burst at the end of one window is still felt at the start of the next (a fixed window would forget it)."""
    from api.ratelimit import WINDOW_S, Limit

    pod = _pod(redis_ready)
    seconds, _ = pod.client.time()
    window = seconds // WINDOW_S
    if seconds - window * WINDOW_S > WINDOW_S - 2:  # too close to the boundary for the test's arithmetic
        pytest.skip("at a window boundary; rerun")
    # 1000 requests in the previous window weigh at least 1000 * 2/60 > 10 now.
    pod.client.set(f"{pod.key_prefix}:{{{hospital_a.tenant.pk}}}:key:burst:{window - 1}", 1000, ex=120)
    refused = pod.check(tenant_id=hospital_a.tenant.pk, limits=[Limit(scope="key", counter="key:burst", maximum=10)])
    assert refused is not None
    assert 1 <= refused.retry_after_s <= WINDOW_S


@pytest.mark.parametrize(
    ("previous", "current", "elapsed_ms", "expected_s"),
    [
        (0, 3, 10_000, 50 + 20),  # current window full (limit 3): wait for it to end, then until 3*(1-t/60) <= 2
        (0, 3, 59_500, 1 + 20),
        (6, 0, 30_000, 10),  # 6*(1-t/60)+1 <= 3 at t=40 s
        (6, 2, 0, 60),  # room 0: wait until the previous window no longer counts
    ],
)
def test_retry_after_is_when_one_more_request_fits(previous, current, elapsed_ms, expected_s):
    from api.ratelimit import retry_after_s

    assert retry_after_s(maximum=3, previous=previous, current=current, elapsed_ms=elapsed_ms,
                         window_ms=60_000) == expected_s


def test_redis_down_fails_open_and_logs_without_request_data(hospital_a, settings, caplog, limits):
    limits(per_key=1, per_hospital=1)
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    client = key_client(hospital_a.api_key)
    with caplog.at_level(logging.WARNING, logger="api.ratelimit"):
        for _ in range(3):
            assert client.get(ASSESSMENTS).status_code == 200
    warnings = [r for r in caplog.records if r.name == "api.ratelimit"]
    assert warnings and "Redis unavailable" in warnings[0].getMessage()
    assert hospital_a.api_key not in caplog.text and hospital_a.api_key_row.prefix not in caplog.text
