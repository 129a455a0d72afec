"""Urgent submissions run on their own queue, which routine work cannot block; critical findings top the list."""
from __future__ import annotations

import pytest

from tests.conftest import HAND_DX, wait_for_status


def _submit_hand(client, **fields):
    with HAND_DX.open("rb") as handle:
        return client.post("/api/v1/assessments", {"file": handle, "model": "bone_age", **fields}, format="multipart")


@pytest.fixture
def urgent_only_worker(platform_settings, transactional_db, local_model_server, s3_server):
    """A real worker that consumes the urgent queue only: routine messages wait in theirs, unconsumed."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    app.conf.broker_url = platform_settings.CELERY_BROKER_URL
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=30,
                      queues=[platform_settings.CELERY_URGENT_QUEUE], loglevel="WARNING") as worker:
        yield worker


def test_an_urgent_submission_is_answered_while_routine_work_waits_in_its_own_queue(his_a, urgent_only_worker):
    routine = _submit_hand(his_a, chronological_age_months="120")
    urgent = _submit_hand(his_a, chronological_age_months="121", priority="urgent")
    assert routine.status_code == 202 and urgent.status_code == 202, (routine.content, urgent.content)
    assert urgent.json()["priority"] == "urgent"

    done = wait_for_status(his_a, urgent["Location"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    # No worker consumes the routine queue in this test: the routine assessment is still waiting there.
    assert his_a.get(routine["Location"]).json()["status"] == "queued"


def test_an_unknown_priority_is_refused_with_a_clear_code(his_a, s3_server):
    response = _submit_hand(his_a, priority="asap")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_priority"


def test_a_bone_age_far_from_the_chronological_age_is_a_critical_finding_at_the_top_of_the_list(
        his_a, celery_worker):
    # The hand radiograph reads as many years of bone age; a chronological age of 3 months is > 3 SD away.
    critical = _submit_hand(his_a, chronological_age_months="3")
    done = wait_for_status(his_a, critical["Location"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    assert done["is_critical"] is True
    assert done["priority"] == "critical"
    codes = [finding["code"] for finding in done["critical_findings"]]
    assert codes and all(code.startswith("bone_age") for code in codes), codes
    assert done["result"]["critical_findings"] == done["critical_findings"]

    ordinary = _submit_hand(his_a, chronological_age_months=str(round(done["result"]["bone_age_months"])))
    second = wait_for_status(his_a, ordinary["Location"], {"succeeded", "failed"})
    assert second["is_critical"] is False and second["critical_findings"] == []


def test_one_image_assessment_refuses_several_files_and_a_series_assessment_refuses_one_image(his_a, s3_server):
    with HAND_DX.open("rb") as one, HAND_DX.open("rb") as two:
        response = his_a.post("/api/v1/assessments", {"file": [one, two], "model": "bone_age"}, format="multipart")
    assert response.status_code == 422
    assert response.json()["code"] == "too_many_files"
