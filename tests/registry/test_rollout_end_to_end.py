"""Rollout through the real worker and model server: canary answers, shadow runs beside, pins hold."""
from __future__ import annotations

import pytest

from registry import services
from tests.conftest import HAND_DX, wait_for_status

ACTOR = "test:operator"


@pytest.fixture
def registered(platform_settings, db):
    """Versions 1 (FP32) and 2 (INT8) of the test repository, registered (files checked against their cards)."""
    for version in (1, 2):
        services.model_version_register(model_name="bone_age", version=version, actor=ACTOR)
    services.model_version_promote(model_name="bone_age", version=1, actor=ACTOR)


def _submit(client, age: str):
    with HAND_DX.open("rb") as handle:
        response = client.post("/api/v1/assessments", {"file": handle, "model": "bone_age",
                                                        "chronological_age_months": age}, format="multipart")
    assert response.status_code == 202, response.content
    return response


def test_registering_checks_files_against_the_card(registered):
    from registry.models import ModelVersion

    assert dict(ModelVersion.objects.values_list("version", "precision")) == {1: "FP32", 2: "INT8"}


def test_a_full_canary_answers_with_the_int8_version(his_a, registered, celery_worker):
    services.model_version_set_canary(model_name="bone_age", version=2, percent=100, actor=ACTOR)
    done = wait_for_status(his_a, _submit(his_a, "120")["Location"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    assert done["model"] == {"name": "bone_age", "version": 2, "precision": "INT8", "demo": True}
    assert done["result"]["model"]["version"] == 2


def test_shadow_runs_beside_the_active_version_and_is_never_shown(his_a, hospital_a, registered, celery_worker):
    from inference.models import ShadowResult
    from tenants.context import tenant_context

    services.model_version_set_shadow(model_name="bone_age", version=2, actor=ACTOR)
    response = _submit(his_a, "121")
    done = wait_for_status(his_a, response["Location"], {"succeeded", "failed"})
    assert done["model"]["version"] == 1
    assert "shadow" not in response.content.decode() and "shadow" not in str(done)

    with tenant_context(hospital_a.tenant):
        for _ in range(100):
            shadow = ShadowResult.objects.filter(assessment_id=done["id"]).first()
            if shadow is not None:
                break
            import time

            time.sleep(0.1)
    assert shadow is not None and shadow.model_version == 2 and shadow.model_precision == "INT8"
    assert shadow.error_code == ""
    assert shadow.difference == pytest.approx(
        abs(shadow.result["bone_age_months"] - done["result"]["bone_age_months"]))
    assert shadow.agrees == (shadow.difference <= 1.0)


def test_a_pinned_hospital_keeps_its_version_through_a_promotion(his_a, his_b, hospital_a, registered,
                                                                 celery_worker):
    services.tenant_model_pin(tenant=hospital_a.tenant, model_name="bone_age", version=1, actor=ACTOR)
    services.model_version_promote(model_name="bone_age", version=2, actor=ACTOR)
    pinned = wait_for_status(his_a, _submit(his_a, "122")["Location"], {"succeeded", "failed"})
    following = wait_for_status(his_b, _submit(his_b, "122")["Location"], {"succeeded", "failed"})
    assert pinned["model"]["version"] == 1
    assert following["model"]["version"] == 2
