"""The Helm seam: a desired-state document brings the registry in line, idempotently."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from registry.models import ModelVersion, RolloutEvent
from registry.sync import DesiredStateError, apply_desired_state


@pytest.fixture
def versions(db):
    for version, precision in ((1, "FP32"), (2, "INT8"), (3, "INT8")):
        ModelVersion.objects.create(model_name="bone_age", version=version, precision=precision, card={})


def _states():
    return dict(ModelVersion.objects.values_list("version", "state"))


def test_desired_state_is_applied_and_a_second_apply_changes_nothing(versions, hospital_a):
    desired = {"bone_age": {"active": 2, "canary": {"version": 3, "percent": 10}, "shadow": 1,
                            "pins": {hospital_a.tenant.slug: 1}}}
    changes = apply_desired_state(desired, actor="helm")
    assert _states() == {1: "shadow", 2: "active", 3: "canary"}
    assert ModelVersion.objects.get(version=3).canary_percent == 10
    assert any("pinned to v1" in change for change in changes)
    events = RolloutEvent.objects.count()

    assert apply_desired_state(desired, actor="helm") == []
    assert RolloutEvent.objects.count() == events


def test_rolling_back_is_applying_the_previous_values(versions, hospital_a):
    before = {"bone_age": {"active": 1}}
    after = {"bone_age": {"active": 2, "canary": {"version": 3, "percent": 25}}}
    apply_desired_state(before, actor="helm")
    apply_desired_state(after, actor="helm")
    assert _states() == {1: "retired", 2: "active", 3: "canary"}
    apply_desired_state(before, actor="helm")
    states = _states()
    assert states[1] == "active" and states[3] == "staged"


def test_pins_absent_from_the_document_are_removed(versions, hospital_a):
    from registry.models import TenantModelPin
    from tenants.context import tenant_context

    apply_desired_state({"bone_age": {"active": 1, "pins": {hospital_a.tenant.slug: 2}}}, actor="helm")
    apply_desired_state({"bone_age": {"active": 1}}, actor="helm")
    with tenant_context(hospital_a.tenant):
        assert not TenantModelPin.objects.exists()


@pytest.mark.parametrize("document", [
    {"bone_age": {"active": "two"}},
    {"bone_age": {"active": 1, "canary": {"version": 2, "percent": 250}}},
    {"bone_age": {"active": 1, "pins": {"no-such-hospital": 1}}},
    ["bone_age"],
])
def test_invalid_documents_are_refused_and_change_nothing(versions, document):
    with pytest.raises(DesiredStateError):
        apply_desired_state(document, actor="helm")
    assert set(_states().values()) == {"staged"}


def test_model_sync_command_reads_the_values_document(versions, tmp_path, capsys):
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"models": {"bone_age": {"active": 3}}}))
    call_command("model_sync", "--desired", str(path), "--actor", "helm:release-7")
    assert _states()[3] == "active"
    assert RolloutEvent.objects.filter(actor="helm:release-7", action="promote", version=3).exists()
