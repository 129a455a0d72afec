"""A hospital's lifecycle: created with its administrator, suspended and reactivated, exported, offboarded.

Real PostgreSQL (under row-level security), the private S3 server, RabbitMQ and a real Celery worker; the rows and
objects come from the real hand radiograph submitted through the API.
"""
from __future__ import annotations

import hashlib
import json
import time
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from tenants.context import tenant_context
from tenants.storage_keys import tenant_prefix
from tests.conftest import HAND_DX, wait_for_status

# --------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------


def _submit(his, age: str = "120"):
    with HAND_DX.open("rb") as handle:
        response = his.post("/api/v1/assessments",
                            {"file": handle, "model": "bone_age", "chronological_age_months": age},
                            format="multipart")
    assert response.status_code == 202, response.content
    return response


def _submit_and_finish(his, age: str = "120") -> dict:
    """Submit, wait for the result and for its report artifacts (SR, HTML, PDF), which the worker builds after."""
    response = _submit(his, age)
    done = wait_for_status(his, response["Location"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    from inference.models import AssessmentArtifact
    from tenants.context import dangerously_operator_access

    deadline = time.monotonic() + 60
    with dangerously_operator_access(reason="test waits for report artifacts"):
        artifacts = AssessmentArtifact.objects.dangerously_all_tenants().filter(assessment_id=done["id"])
        while artifacts.count() < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert artifacts.count() >= 3
    return done


def _artifact_count(tenant) -> int:
    from inference.models import AssessmentArtifact

    with tenant_context(tenant):
        return AssessmentArtifact.objects.count()


def _object_keys(s3_server, tenant) -> list[str]:
    client = s3_server.client()
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3_server.bucket,
                                                                 Prefix=tenant_prefix(tenant.id)):
        keys.extend(entry["Key"] for entry in page.get("Contents", []))
    return keys


def _row_counts(tenant) -> dict[str, int]:
    from inference.models import Assessment
    from studies.models import ImageInstance, Study
    from tenants.models import ApiKey, Membership

    with tenant_context(tenant):
        return {
            "assessments": Assessment.objects.count(),
            "image_instances": ImageInstance.objects.count(),
            "studies": Study.objects.count(),
            "api_keys": ApiKey.objects.filter(tenant=tenant).count(),
            "memberships": Membership.objects.filter(tenant=tenant).count(),
        }


def _signed_in_page(hospital) -> tuple[int, str]:
    client = Client()
    response = client.post("/login/", {"username": hospital.user.username, "password": hospital.password},
                           follow=True)
    return response.status_code, response.content.decode()


# --------------------------------------------------------------------------------------------------------------
# create
# --------------------------------------------------------------------------------------------------------------


def test_a_hospital_is_created_with_its_first_administrator_and_a_one_time_password(db):
    from tenants.lifecycle import tenant_create_with_admin
    from tenants.models import Membership, Tenant

    tenant, user, password = tenant_create_with_admin(
        slug="st-olav", name="St. Olav", admin_username="admin.olav", admin_email="it@st-olav.example",
    )

    assert tenant.status == Tenant.Status.ACTIVE and tenant.slug == "st-olav"
    assert password and len(password) >= 20
    assert user.check_password(password)
    assert user.email == "it@st-olav.example"
    assert password not in user.password  # hashed, not stored in clear
    with tenant_context(tenant):
        membership = Membership.objects.get(tenant=tenant, user=user)
    assert membership.role == Membership.Role.ADMIN


def test_a_given_password_must_pass_the_password_validators_and_nothing_is_created(db):
    from tenants.lifecycle import tenant_create_with_admin
    from tenants.models import Tenant

    with pytest.raises(ValidationError):
        tenant_create_with_admin(slug="weak", name="Weak", admin_username="admin.weak",
                                 admin_email="a@weak.example", admin_password="12345678")
    assert not Tenant.objects.filter(slug="weak").exists()

    tenant, user, initial = tenant_create_with_admin(
        slug="strong", name="Strong", admin_username="admin.strong", admin_email="a@strong.example",
        admin_password="violet-harbour-lantern-42",
    )
    assert initial is None  # the operator chose it; nothing to show
    assert user.check_password("violet-harbour-lantern-42")


def test_an_existing_person_becomes_administrator_and_keeps_their_password(hospital_a):
    from tenants.lifecycle import LifecycleError, tenant_create_with_admin
    from tenants.models import Membership, Tenant

    with pytest.raises(LifecycleError, match="keeps their password"):
        tenant_create_with_admin(slug="second", name="Second", admin_username=hospital_a.user.username,
                                 admin_email="", admin_password="violet-harbour-lantern-42")
    assert not Tenant.objects.filter(slug="second").exists()

    tenant, user, initial = tenant_create_with_admin(slug="second", name="Second",
                                                     admin_username=hospital_a.user.username, admin_email="")
    assert user.pk == hospital_a.user.pk and initial is None
    assert user.check_password(hospital_a.password)
    with tenant_context(tenant):
        assert Membership.objects.get(tenant=tenant, user=user).role == "admin"

    with pytest.raises(LifecycleError, match="already exists"):
        tenant_create_with_admin(slug="second", name="Again", admin_username="someone.new", admin_email="")


# --------------------------------------------------------------------------------------------------------------
# suspend / reactivate
# --------------------------------------------------------------------------------------------------------------


def test_a_suspended_hospital_is_refused_by_the_api_and_the_portal_and_works_again_when_reactivated(
    his_a, hospital_a
):
    from tenants.lifecycle import tenant_reactivate, tenant_suspend

    assessment_id = _submit(his_a).json()["id"]
    before = _row_counts(hospital_a.tenant)

    tenant_suspend(tenant=hospital_a.tenant, reason="unpaid invoices")
    assert hospital_a.tenant.status == "suspended" and hospital_a.tenant.suspended_at is not None

    response = his_a.get("/api/v1/assessments")
    assert response.status_code == 403
    assert response.json()["code"] == "tenant_suspended"
    with HAND_DX.open("rb") as handle:
        refused = his_a.post("/api/v1/assessments", {"file": handle, "model": "bone_age"}, format="multipart")
    assert refused.status_code == 403 and refused.json()["code"] == "tenant_suspended"

    status, page = _signed_in_page(hospital_a)
    assert status == 403
    assert 'data-code="tenant_suspended"' in page
    assert "suspended" in page

    # Data kept.
    assert _row_counts(hospital_a.tenant) == before

    tenant_reactivate(tenant=hospital_a.tenant)
    assert hospital_a.tenant.status == "active" and hospital_a.tenant.suspended_at is None
    assert his_a.get(f"/api/v1/assessments/{assessment_id}").status_code == 200
    status, page = _signed_in_page(hospital_a)
    assert status == 200
    assert f"/assessments/{assessment_id}/" in page


def test_suspending_twice_keeps_the_first_time_and_an_offboarded_hospital_cannot_come_back(hospital_a):
    from tenants.lifecycle import LifecycleError, TenantStateError, tenant_reactivate, tenant_suspend

    with pytest.raises(LifecycleError, match="reason"):
        tenant_suspend(tenant=hospital_a.tenant, reason=" ")
    tenant_suspend(tenant=hospital_a.tenant, reason="first")
    first = hospital_a.tenant.suspended_at
    tenant_suspend(tenant=hospital_a.tenant, reason="second")
    assert hospital_a.tenant.suspended_at == first

    hospital_a.tenant.status = "offboarded"
    hospital_a.tenant.save(update_fields=["status"])
    with pytest.raises(TenantStateError):
        tenant_reactivate(tenant=hospital_a.tenant)
    with pytest.raises(TenantStateError):
        tenant_suspend(tenant=hospital_a.tenant, reason="again")


def test_work_accepted_before_the_suspension_still_completes(transactional_db, his_a, hospital_a, request):
    """The worker does not check the hospital's status: what was accepted is finished and billed."""
    from inference.models import Assessment
    from tenants.lifecycle import tenant_suspend

    assessment_id = _submit(his_a, "130").json()["id"]  # published to the broker; no worker consumes yet
    tenant_suspend(tenant=hospital_a.tenant, reason="contract ended")
    with tenant_context(hospital_a.tenant):
        assert Assessment.objects.get(pk=assessment_id).status == "queued"

    request.getfixturevalue("celery_worker")  # the worker starts only now, after the suspension

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with tenant_context(hospital_a.tenant):
            assessment = Assessment.objects.get(pk=assessment_id)
        if assessment.is_terminal:
            break
        time.sleep(0.1)
    assert assessment.status == "succeeded", (assessment.error_code, assessment.error_message)
    assert assessment.result["chronological_age_months"] == 130
    hospital_a.tenant.refresh_from_db()
    assert hospital_a.tenant.status == "suspended"


# --------------------------------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------------------------------


def test_the_export_holds_every_row_and_object_with_matching_sha256_and_no_secrets(
    his_a, his_b, hospital_a, hospital_b, celery_worker, s3_server, tmp_path
):
    from tenants.lifecycle import tenant_export, tenant_export_verify
    from tenants.services import api_key_create

    done = _submit_and_finish(his_a, "120")
    _submit_and_finish(his_b, "121")
    api_key_create(tenant=hospital_a.tenant, name="Second HIS")

    destination = tmp_path / "export-a"
    manifest = tenant_export(tenant=hospital_a.tenant, destination=destination, archive=True)

    counts = _row_counts(hospital_a.tenant)
    # The original image and the report artifacts built from it.
    assert manifest.counts == {**counts, "objects": 1 + _artifact_count(hospital_a.tenant)}
    assert manifest.counts["api_keys"] == 2 and manifest.counts["assessments"] == 1

    on_disk = json.loads((destination / "manifest.json").read_text())
    listed = {entry["path"]: entry for entry in on_disk["files"]}
    every_file = {p.relative_to(destination).as_posix() for p in destination.rglob("*") if p.is_file()}
    assert every_file == set(listed) | {"manifest.json"}
    for path, entry in listed.items():
        assert hashlib.sha256((destination / path).read_bytes()).hexdigest() == entry["sha256"]

    # The original, byte for byte, and its SHA-256 is the one recorded on the image row (the other objects are
    # the report artifacts under the assessment's derived prefix).
    [obj] = [o for o in on_disk["objects"] if "/studies/" in o["key"]]
    assert obj["key"].startswith(tenant_prefix(hospital_a.tenant.id))
    assert (destination / obj["path"]).read_bytes() == HAND_DX.read_bytes()
    instances = json.loads((destination / "rows/image_instances.json").read_text())
    assert [i["sha256"] for i in instances] == [obj["sha256"]] == [hashlib.sha256(HAND_DX.read_bytes()).hexdigest()]

    assessments = json.loads((destination / "rows/assessments.json").read_text())
    assert assessments[0]["id"] == done["id"]
    assert assessments[0]["result"]["bone_age_months"] == done["result"]["bone_age_months"]
    memberships = json.loads((destination / "rows/memberships.json").read_text())
    assert memberships == [{"username": hospital_a.user.username, "email": "", "role": "radiologist",
                            "created_at": memberships[0]["created_at"]}]

    # Never a password hash, a key hash or a key secret; nothing of hospital B.
    everything = b"".join((destination / path).read_bytes() for path in listed if path.startswith("rows/"))
    hospital_a.user.refresh_from_db()
    assert hospital_a.user.password.encode() not in everything
    assert hospital_a.api_key_row.secret_sha256.encode() not in everything
    assert hospital_a.api_key.encode() not in everything
    assert b"password" not in everything and b"secret" not in everything
    assert str(hospital_b.tenant.id).encode() not in everything
    assert hospital_b.api_key_row.prefix.encode() not in everything

    assert tenant_export_verify(destination=destination, tenant=hospital_a.tenant).counts == manifest.counts
    with zipfile.ZipFile(manifest.archive) as archive:
        assert set(archive.namelist()) == every_file
        assert archive.read(obj["path"]) == HAND_DX.read_bytes()


def test_an_export_does_not_overwrite_and_a_tampered_export_fails_verification(hospital_a, hospital_b,
                                                                                platform_settings, tmp_path):
    from tenants.lifecycle import ExportVerificationFailed, LifecycleError, tenant_export, tenant_export_verify

    destination = tmp_path / "export"
    tenant_export(tenant=hospital_a.tenant, destination=destination)
    with pytest.raises(LifecycleError, match="not an empty directory"):
        tenant_export(tenant=hospital_a.tenant, destination=destination)
    with pytest.raises(ExportVerificationFailed, match="not 'hospital-b'"):
        tenant_export_verify(destination=destination, tenant=hospital_b.tenant)

    (destination / "rows" / "api_keys.json").write_text("[]\n")
    with pytest.raises(ExportVerificationFailed, match="api_keys.json"):
        tenant_export_verify(destination=destination, tenant=hospital_a.tenant)
    (destination / "manifest.json").unlink()
    with pytest.raises(ExportVerificationFailed, match="not a complete export"):
        tenant_export_verify(destination=destination)


# --------------------------------------------------------------------------------------------------------------
# offboard
# --------------------------------------------------------------------------------------------------------------


def _suspended_and_exported(his_a, his_b, hospital_a, tmp_path) -> Path:
    from tenants.lifecycle import tenant_export, tenant_suspend

    _submit_and_finish(his_a, "120")
    _submit_and_finish(his_b, "121")
    tenant_suspend(tenant=hospital_a.tenant, reason="contract ended")
    destination = tmp_path / "export-a"
    tenant_export(tenant=hospital_a.tenant, destination=destination)
    return destination


def test_offboarding_purges_the_hospitals_rows_and_objects_and_leaves_the_other_hospital_untouched(
    his_a, his_b, hospital_a, hospital_b, celery_worker, s3_server, tmp_path
):
    from tenants.lifecycle import tenant_offboard
    from tenants.models import Tenant

    export = _suspended_and_exported(his_a, his_b, hospital_a, tmp_path)
    b_rows, b_keys = _row_counts(hospital_b.tenant), _object_keys(s3_server, hospital_b.tenant)
    assert _object_keys(s3_server, hospital_a.tenant) and all(b_rows.values()) and b_keys

    artifacts = _artifact_count(hospital_a.tenant)
    report = tenant_offboard(tenant=hospital_a.tenant, export_destination=export, confirm_slug="hospital-a")

    assert not report.resumed and report.objects_deleted == 1 + artifacts
    assert report.rows_deleted == {"integrations.Hl7Delivery": 0, "integrations.Hl7Destination": 0,
                                   "inference.ShadowResult": 0, "inference.AssessmentArtifact": artifacts,
                                   "registry.TenantModelPin": 0, "inference.Assessment": 1,
                                   "studies.SeriesMember": 0, "studies.Series": 0, "reviews.SignOff": 0,
                                   "studies.ImageInstance": 1, "studies.Study": 1,
                                   "webhooks.WebhookAttempt": 0, "webhooks.WebhookDelivery": 0,
                                   "webhooks.WebhookEndpoint": 0, "webhooks.NotificationSettings": 0,
                                   "webhooks.CriticalFindingEmail": 0,
                                   "tenants.ApiKey": 1, "tenants.Membership": 1,
                                   "api.IdempotencyRecord": 0}
    assert _row_counts(hospital_a.tenant) == dict.fromkeys(b_rows, 0)
    assert _object_keys(s3_server, hospital_a.tenant) == []

    tenant = Tenant.objects.get(pk=hospital_a.tenant.pk)
    assert tenant.status == "offboarded" and tenant.offboarded_at is not None
    assert hospital_a.user.__class__.objects.filter(pk=hospital_a.user.pk).exists()  # the person keeps an account

    assert _row_counts(hospital_b.tenant) == b_rows
    assert _object_keys(s3_server, hospital_b.tenant) == b_keys
    assert his_b.get("/api/v1/assessments").status_code == 200
    # The export survives the purge: it is what the hospital receives.
    assert (export / "manifest.json").exists()


def test_offboarding_is_refused_without_suspension_confirmation_or_a_current_export(
    his_a, his_b, hospital_a, celery_worker, s3_server, tmp_path
):
    from tenants.lifecycle import OffboardRefused, ExportVerificationFailed, tenant_export, tenant_offboard
    from tenants.services import api_key_create

    _submit_and_finish(his_a, "120")
    active_export = tmp_path / "while-active"
    tenant_export(tenant=hospital_a.tenant, destination=active_export)
    before = _row_counts(hospital_a.tenant)
    objects = _object_keys(s3_server, hospital_a.tenant)

    with pytest.raises(OffboardRefused, match="Suspend it first"):
        tenant_offboard(tenant=hospital_a.tenant, export_destination=active_export, confirm_slug="hospital-a")

    from tenants.lifecycle import tenant_suspend
    tenant_suspend(tenant=hospital_a.tenant, reason="contract ended")
    with pytest.raises(OffboardRefused, match="does not match"):
        tenant_offboard(tenant=hospital_a.tenant, export_destination=active_export, confirm_slug="hospital-b")
    with pytest.raises(ExportVerificationFailed, match="not a complete export"):
        tenant_offboard(tenant=hospital_a.tenant, export_destination=tmp_path / "nothing", confirm_slug="hospital-a")
    # Taken before the suspension: the tenant row changed since, so it is not the final state of the data.
    with pytest.raises(OffboardRefused, match="out of date"):
        tenant_offboard(tenant=hospital_a.tenant, export_destination=active_export, confirm_slug="hospital-a")

    current = tmp_path / "current"
    tenant_export(tenant=hospital_a.tenant, destination=current)
    api_key_create(tenant=hospital_a.tenant, name="made after the export")
    with pytest.raises(OffboardRefused, match="api_keys changed"):
        tenant_offboard(tenant=hospital_a.tenant, export_destination=current, confirm_slug="hospital-a")

    after = _row_counts(hospital_a.tenant)
    assert after == {**before, "api_keys": before["api_keys"] + 1}
    assert _object_keys(s3_server, hospital_a.tenant) == objects
    hospital_a.tenant.refresh_from_db()
    assert hospital_a.tenant.status == "suspended"


def test_offboarding_waits_for_accepted_work_to_finish(his_a, hospital_a, tmp_path, platform_settings):
    """No worker here (and this test's transaction never commits, so nothing is published): it stays queued."""
    from tenants.lifecycle import OffboardRefused, tenant_export, tenant_offboard, tenant_suspend

    _submit(his_a)
    tenant_suspend(tenant=hospital_a.tenant, reason="contract ended")
    tenant_export(tenant=hospital_a.tenant, destination=tmp_path / "export")
    with pytest.raises(OffboardRefused, match="queued or running"):
        tenant_offboard(tenant=hospital_a.tenant, export_destination=tmp_path / "export", confirm_slug="hospital-a")


def test_offboarding_that_dies_after_the_object_purge_continues_when_run_again(
    his_a, his_b, hospital_a, hospital_b, celery_worker, s3_server, tmp_path, monkeypatch
):
    from tenants import lifecycle

    export = _suspended_and_exported(his_a, his_b, hospital_a, tmp_path)
    before = _row_counts(hospital_a.tenant)
    real_purge_rows = lifecycle._purge_rows

    def crash(tenant):
        raise RuntimeError("simulated crash: the process died after the object purge")

    monkeypatch.setattr(lifecycle, "_purge_rows", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        lifecycle.tenant_offboard(tenant=hospital_a.tenant, export_destination=export, confirm_slug="hospital-a")
    hospital_a.tenant.refresh_from_db()
    assert hospital_a.tenant.status == "offboarded"  # committed before anything was deleted
    assert _object_keys(s3_server, hospital_a.tenant) == []
    assert _row_counts(hospital_a.tenant) == before  # the rows' transaction never ran

    monkeypatch.setattr(lifecycle, "_purge_rows", real_purge_rows)
    report = lifecycle.tenant_offboard(tenant=hospital_a.tenant, export_destination=export,
                                       confirm_slug="hospital-a")
    assert report.resumed and report.objects_deleted == 0
    assert _row_counts(hospital_a.tenant) == dict.fromkeys(before, 0)
    assert _object_keys(s3_server, hospital_b.tenant)

    again = lifecycle.tenant_offboard(tenant=hospital_a.tenant, export_destination=export, confirm_slug="hospital-a")
    assert again.resumed and again.objects_deleted == 0 and not any(again.rows_deleted.values())


def test_every_table_holding_hospital_rows_is_either_purged_or_retained_on_offboarding():
    """A new hospital-owned table (issue 5's usage and audit records, say) must be classified on purpose."""
    from django.apps import apps

    from tenants.lifecycle import PURGED_ON_OFFBOARD, RETAINED_ON_OFFBOARD
    from tenants.models import Tenant

    holding = {
        model._meta.label
        for model in apps.get_models()
        if any(getattr(f, "related_model", None) is Tenant for f in model._meta.get_fields() if f.concrete)
    }
    classified = set(PURGED_ON_OFFBOARD) | (set(RETAINED_ON_OFFBOARD) - {"tenants.Tenant"})
    assert holding == classified
    assert not set(PURGED_ON_OFFBOARD) & set(RETAINED_ON_OFFBOARD)


# --------------------------------------------------------------------------------------------------------------
# management commands and admin actions
# --------------------------------------------------------------------------------------------------------------


def _command(name: str, *args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def test_the_lifecycle_commands_run_end_to_end(db, platform_settings, s3_server, tmp_path):
    from tenants.models import Tenant

    out = _command("tenant_create", "--slug", "nordland", "--name", "Nordland Hospital",
                   "--admin-username", "admin.nordland", "--admin-email", "it@nordland.example")
    assert "Initial password (shown once" in out
    tenant = Tenant.objects.get(slug="nordland")

    with pytest.raises(CommandError, match="already exists"):
        _command("tenant_create", "--slug", "nordland", "--name", "Again", "--admin-username", "x",
                 "--admin-email", "x@example.org")
    with pytest.raises(CommandError, match="no hospital"):
        _command("tenant_suspend", "nowhere", "--reason", "test")

    assert "suspended since" in _command("tenant_suspend", "nordland", "--reason", "contract ended")
    assert "is active" in _command("tenant_reactivate", "nordland")
    _command("tenant_suspend", "nordland", "--reason", "contract ended")

    out = _command("tenant_export", "nordland", str(tmp_path / "nordland"), "--zip")
    assert "memberships 1" in out and "nordland.zip" in out

    with pytest.raises(CommandError, match="does not match"):
        _command("tenant_offboard", "nordland", "--export", str(tmp_path / "nordland"), "--confirm-slug", "nord")
    out = _command("tenant_offboard", "nordland", "--export", str(tmp_path / "nordland"),
                   "--confirm-slug", "nordland")
    assert "nordland offboarded" in out and "tenants.Membership 1" in out
    tenant.refresh_from_db()
    assert tenant.status == "offboarded"
    with pytest.raises(CommandError, match="cannot be reactivated"):
        _command("tenant_reactivate", "nordland")


def test_operators_suspend_and_reactivate_hospitals_from_the_admin(hospital_a, hospital_b, django_user_model):
    operator = django_user_model.objects.create_superuser("operator", "ops@example.org", "operator-pass-1234")
    client = Client()
    client.force_login(operator)
    url = "/admin/tenants/tenant/"
    selected = [str(hospital_a.tenant.pk)]

    response = client.post(url, {"action": "suspend_hospitals", "_selected_action": selected}, follow=True)
    assert response.status_code == 200
    assert "Suspended: hospital-a" in response.content.decode()
    hospital_a.tenant.refresh_from_db()
    hospital_b.tenant.refresh_from_db()
    assert hospital_a.tenant.status == "suspended" and hospital_b.tenant.status == "active"

    response = client.post(url, {"action": "reactivate_hospitals", "_selected_action": selected}, follow=True)
    assert "Reactivated: hospital-a" in response.content.decode()
    hospital_a.tenant.refresh_from_db()
    assert hospital_a.tenant.status == "active"

    # The status cannot be typed into the form: it only changes through the lifecycle.
    form = client.get(f"{url}{hospital_a.tenant.pk}/change/").content.decode()
    assert 'name="status"' not in form
