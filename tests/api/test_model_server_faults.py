"""Model server down: the assessment waits and retries, then fails visibly with model_server_unavailable;
nothing is lost, and it succeeds if the server comes back within the retry window."""
from __future__ import annotations

import threading
import time

import pytest

from tests.conftest import HAND_DX, _clear_client_caches, wait_for_status


@pytest.fixture
def own_model_server(platform_settings, small_model_repository, monkeypatch):
    """A model server of this test's own on a fixed port, which the test may stop and start again."""
    from modelserver.server import serve
    from tests.fixtures_services import free_port

    port = free_port()
    config_path = f"{small_model_repository}/config.json"
    state = {"handle": serve(config_path, port=port, bind_address="127.0.0.1")}

    def start():
        state["handle"] = serve(config_path, port=port, bind_address="127.0.0.1")

    def stop():
        state["handle"].stop(grace_s=0)
        state["handle"] = None

    monkeypatch.setattr(platform_settings, "MODEL_SERVER_URL", f"127.0.0.1:{port}")
    _clear_client_caches()
    yield type("OwnServer", (), {"start": staticmethod(start), "stop": staticmethod(stop), "port": port})
    if state["handle"] is not None:
        state["handle"].stop(grace_s=0)
    monkeypatch.undo()
    _clear_client_caches()


def _submit(client, age: str):
    with HAND_DX.open("rb") as handle:
        response = client.post("/api/v1/assessments",
                               {"file": handle, "model": "bone_age", "chronological_age_months": age},
                               format="multipart")
    assert response.status_code == 202, response.content
    return response


def test_model_server_down_for_good_ends_in_failed_model_server_unavailable(his_a, celery_worker, own_model_server):
    own_model_server.stop()
    response = _submit(his_a, "100")

    done = wait_for_status(his_a, response["Location"], {"succeeded", "failed"}, timeout_s=90)

    assert done["status"] == "failed"
    assert done["error"]["code"] == "model_server_unavailable"
    assert "Gave up after" in done["error"]["message"]
    assert done["result"] is None
    # Initial attempt plus the configured retries (test settings: 3).
    assert done["attempts"] == 4


def test_model_server_back_within_the_retry_window_succeeds(his_a, celery_worker, own_model_server,
                                                            platform_settings, monkeypatch):
    # A longer window than the fast test default, so the restart surely lands inside it.
    monkeypatch.setattr(platform_settings, "INFERENCE_RETRY_BASE_S", 1.0)
    monkeypatch.setattr(platform_settings, "INFERENCE_MAX_RETRIES", 6)
    own_model_server.stop()
    response = _submit(his_a, "101")

    waiting = wait_for_status(his_a, response["Location"], {"queued"}, timeout_s=30)
    deadline = time.monotonic() + 30
    while "retrying" not in waiting and time.monotonic() < deadline:
        time.sleep(0.1)
        waiting = his_a.get(response["Location"]).json()
    assert waiting["retrying"]["code"] == "model_server_unavailable"
    assert waiting["error"] is None

    own_model_server.start()
    done = wait_for_status(his_a, response["Location"], {"succeeded", "failed"}, timeout_s=90)
    assert done["status"] == "succeeded", done
    assert done["attempts"] >= 2
    assert "retrying" not in done


def test_a_duplicate_delivery_does_not_run_a_finished_assessment_again(his_a, hospital_a, celery_worker):
    from inference.models import Assessment
    from inference.tasks import run_assessment
    from tenants.context import tenant_context

    response = _submit(his_a, "102")
    done = wait_for_status(his_a, response["Location"], {"succeeded", "failed"})
    assert done["status"] == "succeeded"

    run_assessment.apply(kwargs={"tenant_id": str(hospital_a.tenant.id), "assessment_id": done["id"]})

    with tenant_context(hospital_a.tenant):
        assessment = Assessment.objects.get(pk=done["id"])
    assert assessment.attempts == done["attempts"]
    assert assessment.result == done["result"]


def test_broker_publish_failure_leaves_the_assessment_queued_and_the_sweep_publishes_it(
    his_a, hospital_a, celery_worker, platform_settings, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    from inference.models import Assessment
    from inference.tasks import requeue_stale_assessments
    from tenants.context import tenant_context

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    from inference.tasks import run_assessment

    monkeypatch.setattr(run_assessment, "apply_async", broker_down)
    response = _submit(his_a, "103")
    monkeypatch.undo()
    body = his_a.get(response["Location"]).json()
    assert body["status"] == "queued"

    with tenant_context(hospital_a.tenant):
        Assessment.objects.filter(pk=body["id"]).update(
            created_at=timezone.now() - timedelta(seconds=platform_settings.REQUEUE_STALE_AFTER_S + 5)
        )
    assert requeue_stale_assessments() == 1
    done = wait_for_status(his_a, response["Location"], {"succeeded", "failed"})
    assert done["status"] == "succeeded"
    # Published once more only: a second sweep finds nothing stale.
    assert requeue_stale_assessments() == 0
