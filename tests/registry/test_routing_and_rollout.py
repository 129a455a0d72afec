"""Which version answers whom: pins, canaries, promotion and one-step rollback, without restarts."""
from __future__ import annotations

import uuid

import pytest

from registry import services
from registry.models import ModelVersion, RolloutEvent
from registry.routing import canary_bucket, choose_version

ACTOR = "test:operator"


def _version(version: int, state: str = "staged", precision: str = "FP32", percent: int = 0) -> ModelVersion:
    return ModelVersion.objects.create(model_name="bone_age", version=version, precision=precision, state=state,
                                       canary_percent=percent, card={"demo": True})


def _route(tenant, assessment_id=None, is_ready=None):
    return choose_version(tenant=tenant, model_name="bone_age", assessment_id=assessment_id or uuid.uuid4(),
                          is_ready=is_ready)


def test_without_registered_versions_the_configured_default_answers(hospital_a, platform_settings):
    route = _route(hospital_a.tenant)
    assert (route.version, route.reason) == (1, "default")


def test_the_active_version_answers_by_default(hospital_a):
    _version(1, "active")
    _version(2, "staged", "INT8")
    route = _route(hospital_a.tenant)
    assert (route.version, route.precision, route.reason) == (1, "FP32", "active")


def test_a_pin_wins_over_active_and_canary_for_that_hospital_only(hospital_a, hospital_b):
    _version(1, "active")
    _version(2, "canary", "INT8", percent=100)
    _version(3, "staged")
    services.tenant_model_pin(tenant=hospital_a.tenant, model_name="bone_age", version=3, actor=ACTOR)
    assert _route(hospital_a.tenant).version == 3
    assert _route(hospital_a.tenant).reason == "pinned"
    assert _route(hospital_b.tenant).version == 2
    services.tenant_model_pin(tenant=hospital_a.tenant, model_name="bone_age", version=None, actor=ACTOR)
    assert _route(hospital_a.tenant).version == 2


def test_canary_takes_its_share_deterministically_by_assessment_id(hospital_a):
    _version(1, "active")
    _version(2, "canary", "INT8", percent=20)
    ids = [uuid.UUID(int=i * 7919 + 12345) for i in range(3000)]
    versions = [_route(hospital_a.tenant, assessment_id).version for assessment_id in ids]
    share = versions.count(2) / len(versions)
    assert 0.17 < share < 0.23
    # The same id always goes to the same version (a retry keeps its version).
    assert [_route(hospital_a.tenant, assessment_id).version for assessment_id in ids[:200]] == versions[:200]
    assert all((canary_bucket("bone_age", i) < 20) == (v == 2) for i, v in zip(ids, versions))


def test_a_canary_that_is_not_ready_is_routed_around(hospital_a):
    _version(1, "active")
    _version(2, "canary", "INT8", percent=100)
    route = _route(hospital_a.tenant, is_ready=lambda name, version: version != 2)
    assert (route.version, route.reason) == (1, "canary_not_ready")
    # A model server that cannot be asked (None) does not stop routing.
    assert _route(hospital_a.tenant, is_ready=lambda name, version: None).version == 2


def test_shadow_is_attached_to_the_answering_version(hospital_a):
    _version(1, "active")
    _version(2, "shadow", "INT8")
    route = _route(hospital_a.tenant)
    assert (route.version, route.shadow_version) == (1, 2)


def test_promote_then_roll_back_in_one_step_with_a_record_of_each(db):
    _version(1, "active")
    _version(2, "staged", "INT8")
    services.model_version_promote(model_name="bone_age", version=2, actor=ACTOR)
    states = dict(ModelVersion.objects.values_list("version", "state"))
    assert states == {1: "retired", 2: "active"}

    services.model_version_rollback(model_name="bone_age", actor=ACTOR)
    states = dict(ModelVersion.objects.values_list("version", "state"))
    assert states == {1: "active", 2: "staged"}
    actions = list(RolloutEvent.objects.order_by("at").values_list("action", "version", "actor"))
    assert actions == [("promote", 2, ACTOR), ("rollback", 1, ACTOR)]


def test_rollback_without_history_is_refused_clearly(db):
    _version(1, "active")
    with pytest.raises(services.RegistryError, match="no previously active version"):
        services.model_version_rollback(model_name="bone_age", actor=ACTOR)


def test_one_version_cannot_hold_two_roles(db):
    _version(1, "active")
    _version(2, "shadow")
    with pytest.raises(services.RegistryError, match="cannot also be the canary"):
        services.model_version_set_canary(model_name="bone_age", version=2, percent=10, actor=ACTOR)
    with pytest.raises(services.RegistryError):
        services.model_version_set_canary(model_name="bone_age", version=1, percent=101, actor=ACTOR)


def test_retired_versions_stay_in_use_while_work_in_flight_needs_them(his_a, hospital_a, platform_settings):
    from registry.selectors import versions_in_use
    from tests.conftest import HAND_DX

    _version(1, "active")
    _version(2, "staged", "INT8")
    with HAND_DX.open("rb") as handle:
        response = his_a.post("/api/v1/assessments", {"file": handle, "model": "bone_age"}, format="multipart")
    assert response.json()["model"]["version"] == 1  # queued, no worker: in flight

    services.model_version_promote(model_name="bone_age", version=2, actor=ACTOR)

    assert versions_in_use("bone_age") == [1, 2]
    # The queued assessment keeps the version it was given; a new one goes to the promoted version.
    assert his_a.get(response["Location"]).json()["model"]["version"] == 1
    with HAND_DX.open("rb") as handle:
        second = his_a.post("/api/v1/assessments", {"file": handle, "model": "bone_age",
                                                     "chronological_age_months": "77"}, format="multipart")
    assert second.json()["model"] == {"name": "bone_age", "version": 2, "precision": "INT8", "demo": True}
