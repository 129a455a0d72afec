"""A hospital's lifecycle: create it with its first administrator, suspend, reactivate, export, offboard.

Operator paths. Every query on a hospital's own tables runs inside `tenant_context(tenant)` (PostgreSQL
row-level security sees only that hospital's rows), one hospital at a time; nothing here relies on
`dangerously_all_tenants()`.

Export layout (a directory, optionally also zipped), everything the hospital owns:

    manifest.json                   written last: its presence means the export completed
    rows/tenant.json                the hospital
    rows/memberships.json           usernames, e-mail and roles (never password hashes)
    rows/api_keys.json              prefix, name, scopes, dates (never the secret's hash)
    rows/studies.json
    rows/image_instances.json
    rows/assessments.json           with their results
    objects/<key below tenants/<uuid>/>   every object under the hospital's prefix, byte for byte

Offboarding is the destructive step and is guarded: the slug typed again, the hospital suspended first, a
verified export whose rows are still exactly the database's, and no accepted work still running. It then
marks the hospital offboarded (the point of no return, committed first) and purges objects, then rows;
running it again after a crash continues where it stopped.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_slug
from django.db import transaction
from django.utils import timezone

from tenants.context import tenant_context
from tenants.models import ApiKey, Membership, Tenant
from tenants.services import membership_grant
from tenants.storage_keys import key_belongs_to_tenant, tenant_prefix

logger = logging.getLogger(__name__)

EXPORT_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
ROWS_DIR = "rows"
OBJECTS_DIR = "objects"
_S3_DELETE_BATCH = 1000  # the S3 DeleteObjects limit per request
_READ_CHUNK = 1024 * 1024

# Tables purged on offboarding, in deletion order (children before the rows they PROTECT-reference).
PURGED_ON_OFFBOARD: tuple[str, ...] = (
    # HL7 v2: the delivery log (hangs from assessments) and the hospital's receiver settings.
    "integrations.Hl7Delivery",
    "integrations.Hl7Destination",
    # Shadow runs are the platform's own evaluation data (never shown to the hospital, so not exported); they
    # hang from the hospital's assessments and go with them.
    "inference.ShadowResult",
    # Radiologists' verdicts on the hospital's results (clinical data; they hang from its assessments).
    "reviews.SignOff",
    "inference.AssessmentArtifact",
    "registry.TenantModelPin",
    "inference.Assessment",
    "studies.SeriesMember",
    "studies.Series",
    "studies.ImageInstance",
    "studies.Study",
    # Webhooks and notification settings (issue 9): configuration and delivery logs, gone with the hospital.
    "webhooks.WebhookAttempt",
    "webhooks.WebhookDelivery",
    "webhooks.WebhookEndpoint",
    "webhooks.NotificationSettings",
    "webhooks.CriticalFindingEmail",
    "tenants.ApiKey",
    "tenants.Membership",
    # Stored answers of Idempotency-Key POSTs (issue 9): copies of assessment bodies, gone with the hospital.
    "api.IdempotencyRecord",
)

# Tables kept when a hospital is offboarded, because billing and audit must retain them after its data is gone:
# the Tenant row itself (status `offboarded`, `offboarded_at`). Issue 5's usage records and audit trail add their
# models here (e.g. "billing.UsageRecord", "audit.AuditEvent"). Every model holding a foreign key to Tenant must be
# listed in exactly one of PURGED_ON_OFFBOARD or RETAINED_ON_OFFBOARD; tests/tenants/test_lifecycle.py fails
# otherwise, so a new hospital-owned table cannot silently survive (or vanish in) an offboarding.
RETAINED_ON_OFFBOARD: tuple[str, ...] = (
    "tenants.Tenant",
    # The audit trail outlives the hospital's data (append-only; PostgreSQL refuses deleting it anyway).
    "audit.AuditEvent",
    # Billing: what the hospital used and was invoiced stays (append-only rows; usage keeps the assessment's id,
    # not a foreign key, so purging assessments does not touch it).
    "billing.Subscription",
    "billing.UsageRecord",
    "billing.Invoice",
    "billing.InvoiceLine",
    "billing.CreditNote",
    "billing.CreditNoteLine",
)


class LifecycleError(Exception):
    """A lifecycle operation was refused or could not complete; the message says why and what to do."""


class TenantStateError(LifecycleError):
    """The hospital is not in a state that allows the operation (e.g. reactivating an offboarded one)."""


class ExportVerificationFailed(LifecycleError):
    """An export is incomplete, altered, for another hospital, or does not match the stored data."""


class OffboardRefused(LifecycleError):
    """Offboarding's preconditions are not met; nothing was deleted."""


# --------------------------------------------------------------------------------------------------------------
# Create, suspend, reactivate
# --------------------------------------------------------------------------------------------------------------


def _generate_password() -> str:
    # 144 bits; shown once to the operator, who hands it to the hospital's administrator.
    return secrets.token_urlsafe(18)


@transaction.atomic
def tenant_create_with_admin(
    *, slug: str, name: str, admin_username: str, admin_email: str, admin_password: str | None = None
) -> tuple[Tenant, Any, str | None]:
    """Create a hospital and its first `admin` membership, creating the person if missing.

    Returns (tenant, user, initial_password): the password is the generated one when none was given and the
    person is new (show it once; it is not stored anywhere in clear), else None. A given password must pass
    Django's password validators (django.core.exceptions.ValidationError). An existing person keeps their
    password; giving one for them raises LifecycleError rather than silently ignoring or replacing it.
    Raises django.core.exceptions.ValidationError for a bad slug and LifecycleError if the slug is taken.
    """
    validate_slug(slug)
    if not name.strip():
        raise LifecycleError("The hospital needs a name.")
    if Tenant.objects.filter(slug=slug).exists():
        raise LifecycleError(f"A hospital with the slug {slug!r} already exists.")

    user_model = get_user_model()
    user = user_model.objects.filter(username=admin_username).first()
    initial_password = None
    if user is None:
        password = admin_password
        if password is None:
            password = initial_password = _generate_password()
        # Validated against the person to be created, so "similar to the username/e-mail" is caught too.
        validate_password(password, user=user_model(username=admin_username, email=admin_email))
        user = user_model.objects.create_user(username=admin_username, email=admin_email, password=password)
    elif admin_password is not None:
        raise LifecycleError(
            f"The person {admin_username!r} already exists and keeps their password; omit the password."
        )

    tenant = Tenant.objects.create(slug=slug, name=name.strip())
    with tenant_context(tenant):
        membership_grant(tenant=tenant, user=user, role=Membership.Role.ADMIN)
    logger.info("hospital %s created with administrator %s", tenant.slug, user.get_username())
    return tenant, user, initial_password


@transaction.atomic
def tenant_suspend(*, tenant: Tenant, reason: str) -> Tenant:
    """Suspend a hospital: its API keys and portal logins are refused (403 `tenant_suspended`), its data is
    kept, and work already accepted still runs to completion (the worker does not check the status).

    Suspending a suspended hospital keeps the first `suspended_at`. Raises TenantStateError for an offboarded
    one and LifecycleError without a reason.
    """
    if not reason or not reason.strip():
        raise LifecycleError("Give the reason for the suspension.")
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if locked.status == Tenant.Status.OFFBOARDED:
        raise TenantStateError(f"{locked.slug} is offboarded; there is nothing to suspend.")
    if locked.status != Tenant.Status.SUSPENDED:
        locked.status = Tenant.Status.SUSPENDED
        locked.suspended_at = timezone.now()
        locked.save(update_fields=["status", "suspended_at"])
    # Tenant has no reason column yet: the reason goes to the operator log until issue 5's audit trail records it.
    logger.info("hospital %s suspended: %s", locked.slug, reason.strip())
    tenant.refresh_from_db()
    return locked


@transaction.atomic
def tenant_reactivate(*, tenant: Tenant) -> Tenant:
    """Let a suspended hospital use the platform again (no-op for an active one).

    Raises TenantStateError for an offboarded hospital: its data is gone; create a new hospital instead.
    """
    locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
    if locked.status == Tenant.Status.OFFBOARDED:
        raise TenantStateError(f"{locked.slug} is offboarded and its data purged; it cannot be reactivated.")
    if locked.status != Tenant.Status.ACTIVE:
        locked.status = Tenant.Status.ACTIVE
        locked.suspended_at = None
        locked.save(update_fields=["status", "suspended_at"])
        logger.info("hospital %s reactivated", locked.slug)
    tenant.refresh_from_db()
    return locked


# --------------------------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------------------------


@dataclass
class ExportManifest:
    """What an export holds. `files` lists every file but the manifest: {path, sha256, size_bytes}; `objects`
    maps each copied object: {key, path, sha256, size_bytes}."""

    tenant_id: str
    tenant_slug: str
    exported_at: str
    directory: Path
    counts: dict[str, int]
    files: list[dict[str, Any]]
    objects: list[dict[str, Any]]
    archive: Path | None = None
    format_version: int = EXPORT_FORMAT_VERSION

    def as_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "tenant": {"id": self.tenant_id, "slug": self.tenant_slug},
            "exported_at": self.exported_at,
            "counts": self.counts,
            "files": self.files,
            "objects": self.objects,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], directory: Path) -> "ExportManifest":
        return cls(
            tenant_id=data["tenant"]["id"],
            tenant_slug=data["tenant"]["slug"],
            exported_at=data["exported_at"],
            directory=directory,
            counts=data["counts"],
            files=data["files"],
            objects=data["objects"],
            format_version=data["format_version"],
        )


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


def _tenant_rows(tenant: Tenant) -> dict[str, list[dict[str, Any]]]:
    """The hospital's rows as plain data, in a stable order. Call inside tenant_context(tenant).

    Deliberately field by field (not serializers.serialize): password hashes and key hashes must never leave.
    """
    from inference.models import Assessment
    from studies.models import ImageInstance, Study

    memberships = Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__username")
    api_keys = ApiKey.objects.filter(tenant=tenant).select_related("created_by").order_by("created_at", "prefix")
    studies = Study.objects.filter(tenant=tenant).order_by("created_at", "id")
    instances = ImageInstance.objects.filter(tenant=tenant).order_by("created_at", "id")
    assessments = (
        Assessment.objects.filter(tenant=tenant)
        .select_related("submitted_by_user", "submitted_by_api_key")
        .order_by("created_at", "id")
    )
    return {
        "tenant": [{
            "id": tenant.id, "slug": tenant.slug, "name": tenant.name, "status": tenant.status,
            "created_at": tenant.created_at, "suspended_at": tenant.suspended_at,
            "offboarded_at": tenant.offboarded_at,
        }],
        "memberships": [{
            "username": m.user.get_username(), "email": m.user.email, "role": m.role, "created_at": m.created_at,
        } for m in memberships],
        "api_keys": [{
            "id": k.id, "name": k.name, "prefix": k.prefix, "scopes": list(k.scopes), "created_at": k.created_at,
            "created_by": _username(k.created_by), "expires_at": k.expires_at, "revoked_at": k.revoked_at,
            "last_used_at": k.last_used_at,
        } for k in api_keys],
        "studies": [{
            "id": s.id, "study_instance_uid": s.study_instance_uid, "accession_number": s.accession_number,
            "created_at": s.created_at,
        } for s in studies],
        "image_instances": [{
            "id": i.id, "study_id": i.study_id, "series_instance_uid": i.series_instance_uid,
            "sop_instance_uid": i.sop_instance_uid, "sha256": i.sha256, "size_bytes": i.size_bytes,
            "content_type": i.content_type, "storage_key": i.storage_key, "modality": i.modality,
            "body_part_examined": i.body_part_examined, "rows": i.rows, "columns": i.columns,
            "photometric_interpretation": i.photometric_interpretation,
            "transfer_syntax_uid": i.transfer_syntax_uid, "header_patient_sex": i.header_patient_sex,
            "header_patient_age_months": i.header_patient_age_months, "created_at": i.created_at,
        } for i in instances],
        "assessments": [{
            "id": a.id, "instance_id": a.instance_id, "model_name": a.model_name,
            "model_version": a.model_version, "model_precision": a.model_precision,
            "model_is_demo": a.model_is_demo, "status": a.status, "patient_sex": a.patient_sex,
            "chronological_age_months": a.chronological_age_months, "result": a.result,
            "error_code": a.error_code, "error_message": a.error_message, "attempts": a.attempts,
            "submitted_by_user": _username(a.submitted_by_user),
            "submitted_by_api_key_prefix": a.submitted_by_api_key.prefix if a.submitted_by_api_key else None,
            "created_at": a.created_at, "enqueued_at": a.enqueued_at, "started_at": a.started_at,
            "finished_at": a.finished_at,
        } for a in assessments],
    }


def _rows_file_bytes(rows: list[dict[str, Any]]) -> bytes:
    # Canonical (sorted keys, fixed separators): the same rows always give the same bytes, so offboarding can tell
    # whether the database still matches the export by comparing SHA-256s.
    return (json.dumps(rows, cls=DjangoJSONEncoder, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _object_relative_path(key: str, prefix: str) -> PurePosixPath:
    """Where an object goes inside objects/. Refuses keys that would climb out (orphans are not validated)."""
    relative = PurePosixPath(key[len(prefix):])
    if relative.is_absolute() or not relative.parts or any(part in {"", ".", ".."} for part in relative.parts):
        raise ExportVerificationFailed(f"object key {key!r} cannot be exported safely")
    return relative


def _list_keys(client, prefix: str):
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=settings.S3_BUCKET, Prefix=prefix):
        for entry in page.get("Contents", []):
            yield entry["Key"]


def _download(client, key: str, target: Path) -> tuple[str, int]:
    """Copy one object byte for byte to `target`, hashing as it streams (objects can be large)."""
    response = client.get_object(Bucket=settings.S3_BUCKET, Key=key)
    digest = hashlib.sha256()
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with target.open("xb") as handle:
        for chunk in response["Body"].iter_chunks(_READ_CHUNK):
            digest.update(chunk)
            handle.write(chunk)
            size += len(chunk)
    os.chmod(target, 0o600)
    return digest.hexdigest(), size


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with path.open("xb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def tenant_export(*, tenant: Tenant, destination: Path, archive: bool = False) -> ExportManifest:
    """Export everything `tenant` owns to the directory `destination` (created; must not exist or be empty).

    Rows are written as JSON under rows/, the objects under the hospital's storage prefix are copied byte for
    byte under objects/, and manifest.json (written last) lists every file with its SHA-256 and the counts.
    Each image row's object is checked against the SHA-256 recorded at upload. With `archive`, a zip of the
    directory is also written next to it (`<destination>.zip`). The export holds patient data: directories are
    0700 and files 0600.

    Raises ExportVerificationFailed (an object missing or not matching its row), LifecycleError (destination not
    empty, hospital offboarded) and studies.storage.StorageUnavailable (object store unreachable; the partial
    directory has no manifest, so it can never pass for an export: delete it and export again).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from studies.storage import StorageUnavailable, s3_client

    tenant = Tenant.objects.get(pk=tenant.pk)
    if tenant.status == Tenant.Status.OFFBOARDED:
        raise LifecycleError(f"{tenant.slug} is offboarded; its data was purged after its export.")
    destination = Path(destination)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise LifecycleError(f"The export destination {destination} exists and is not an empty directory.")
    destination.mkdir(parents=True, exist_ok=True, mode=0o700)

    files: list[dict[str, Any]] = []
    with tenant_context(tenant):
        rows = _tenant_rows(tenant)
    for table, table_rows in rows.items():
        relative = f"{ROWS_DIR}/{table}.json"
        data = _rows_file_bytes(table_rows)
        _write_private(destination / relative, data)
        files.append({"path": relative, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)})

    client = s3_client()
    prefix = tenant_prefix(tenant.id)
    objects: list[dict[str, Any]] = []
    try:
        for key in _list_keys(client, prefix):
            relative = f"{OBJECTS_DIR}/{_object_relative_path(key, prefix)}"
            sha256, size = _download(client, key, destination / relative)
            files.append({"path": relative, "sha256": sha256, "size_bytes": size})
            objects.append({"key": key, "path": relative, "sha256": sha256, "size_bytes": size})
    except (BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(f"object store refused or unreachable: {type(exc).__name__}") from exc

    # Every image row must have its object, byte-identical to what was uploaded. Objects without a row (left by
    # an upload whose database write failed) are exported too: they are the hospital's bytes all the same.
    exported = {entry["key"]: entry["sha256"] for entry in objects}
    problems = []
    for instance in rows["image_instances"]:
        found = exported.get(instance["storage_key"])
        if found is None:
            problems.append(f"image {instance['id']}: object {instance['storage_key']} is missing")
        elif found != instance["sha256"]:
            problems.append(f"image {instance['id']}: object SHA-256 {found} != recorded {instance['sha256']}")
    if problems:
        raise ExportVerificationFailed("The export does not match the stored data: " + "; ".join(problems))

    counts = {table: len(table_rows) for table, table_rows in rows.items() if table != "tenant"}
    counts["objects"] = len(objects)
    manifest = ExportManifest(
        tenant_id=str(tenant.id), tenant_slug=tenant.slug, exported_at=timezone.now().isoformat(),
        directory=destination, counts=counts, files=files, objects=objects,
    )
    # Written last, atomically: a directory without manifest.json is an interrupted export, never a valid one.
    with tempfile.NamedTemporaryFile("wb", dir=destination, delete=False, prefix=".manifest-") as handle:
        handle.write(json.dumps(manifest.as_json(), indent=1, sort_keys=True).encode())
    os.chmod(handle.name, 0o600)
    os.replace(handle.name, destination / MANIFEST_NAME)

    if archive:
        manifest.archive = _zip_directory(destination)
    logger.info("hospital %s exported: %s", tenant.slug, counts)
    return manifest


def _zip_directory(directory: Path) -> Path:
    target = directory.with_name(directory.name + ".zip")
    if target.exists():
        raise LifecycleError(f"The archive {target} already exists.")
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(directory).as_posix())
    os.chmod(partial, 0o600)
    os.replace(partial, target)
    return target


def tenant_export_verify(*, destination: Path, tenant: Tenant | None = None) -> ExportManifest:
    """Re-read an export and check it: manifest present, every listed file present with its SHA-256 and size,
    and (when given) that it is `tenant`'s. Returns the manifest; raises ExportVerificationFailed."""
    destination = Path(destination)
    manifest_path = destination / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ExportVerificationFailed(f"{destination} holds no {MANIFEST_NAME}: not a complete export.")
    try:
        manifest = ExportManifest.from_json(json.loads(manifest_path.read_text()), destination)
    except (ValueError, KeyError, TypeError) as exc:
        raise ExportVerificationFailed(f"{manifest_path} cannot be read: {exc}") from exc
    if tenant is not None and manifest.tenant_id != str(tenant.id):
        raise ExportVerificationFailed(
            f"The export in {destination} is of hospital {manifest.tenant_slug!r}, not {tenant.slug!r}."
        )
    for entry in manifest.files:
        path = destination / entry["path"]
        if not path.is_file():
            raise ExportVerificationFailed(f"{entry['path']} is listed in the manifest but missing.")
        sha256, size = _sha256_file(path)
        if sha256 != entry["sha256"] or size != entry["size_bytes"]:
            raise ExportVerificationFailed(f"{entry['path']} does not match its SHA-256 in the manifest.")
    return manifest


# --------------------------------------------------------------------------------------------------------------
# Offboard
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OffboardReport:
    tenant: Tenant
    resumed: bool  # True when an earlier, interrupted run had already marked the hospital offboarded
    objects_deleted: int
    rows_deleted: dict[str, int]


def _check_export_is_current(tenant: Tenant, manifest: ExportManifest) -> None:
    """The database must still hold exactly the rows exported (call inside tenant_context, under the lock)."""
    from inference.models import Assessment

    unfinished = Assessment.objects.filter(tenant=tenant).exclude(status__in=Assessment.TERMINAL_STATUSES).count()
    if unfinished:
        raise OffboardRefused(
            f"{tenant.slug} still has {unfinished} accepted assessment(s) queued or running; wait for them to "
            "finish, export again, then offboard."
        )
    listed = {entry["path"]: entry["sha256"] for entry in manifest.files}
    for table, table_rows in _tenant_rows(tenant).items():
        relative = f"{ROWS_DIR}/{table}.json"
        if listed.get(relative) != hashlib.sha256(_rows_file_bytes(table_rows)).hexdigest():
            raise OffboardRefused(
                f"The export is out of date: {table} changed since it was taken. Export again, then offboard."
            )


def _purge_objects(tenant: Tenant) -> int:
    """Delete every object under the hospital's prefix, in batches of 1000. Safe to repeat."""
    from botocore.exceptions import BotoCoreError, ClientError

    from studies.storage import StorageUnavailable, s3_client

    client = s3_client()
    prefix = tenant_prefix(tenant.id)
    deleted = 0
    try:
        # Keys are collected per listed page and deleted before the next page is asked for; the continuation
        # token is positional (after the last key), so deleting listed keys does not make the listing skip any.
        batch: list[str] = []
        for key in _list_keys(client, prefix):
            if not key_belongs_to_tenant(key, tenant.id):  # the prefix ends in "/": cannot happen, never risk it
                raise LifecycleError(f"refusing to delete {key!r}: outside {prefix}")
            batch.append(key)
            if len(batch) == _S3_DELETE_BATCH:
                deleted += _delete_batch(client, batch)
                batch = []
        if batch:
            deleted += _delete_batch(client, batch)
        leftover = client.list_objects_v2(Bucket=settings.S3_BUCKET, Prefix=prefix, MaxKeys=1).get("KeyCount", 0)
    except (BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(f"object store refused or unreachable: {type(exc).__name__}") from exc
    if leftover:
        raise LifecycleError(f"objects remain under {prefix} after the purge; run the offboarding again.")
    return deleted


def _delete_batch(client, keys: list[str]) -> int:
    response = client.delete_objects(
        Bucket=settings.S3_BUCKET, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
    )
    errors = response.get("Errors") or []
    if errors:
        first = errors[0]
        raise LifecycleError(
            f"the object store refused to delete {len(errors)} object(s) (first: {first.get('Key')}: "
            f"{first.get('Code')}); run the offboarding again."
        )
    return len(keys)


def _purge_rows(tenant: Tenant) -> dict[str, int]:
    """Delete the hospital's rows in PURGED_ON_OFFBOARD order, in one transaction (all or nothing)."""
    deleted: dict[str, int] = {}
    with transaction.atomic(), tenant_context(tenant):
        for label in PURGED_ON_OFFBOARD:
            model = apps.get_model(label)
            count, _ = model._default_manager.filter(tenant=tenant).delete()
            deleted[label] = count
    return deleted


def tenant_offboard(*, tenant: Tenant, export_destination: Path, confirm_slug: str) -> OffboardReport:
    """Offboard a suspended hospital: verify its export, then purge its objects and rows for good.

    Requires `confirm_slug == tenant.slug`, the hospital suspended (not active), a complete export in
    `export_destination` (see tenant_export) that still matches the database, and no assessment queued or
    running. It then marks the hospital `offboarded` (committed before anything is deleted), deletes every
    object under its storage prefix, then its rows (PURGED_ON_OFFBOARD). The Tenant row and RETAINED_ON_OFFBOARD
    tables stay for billing and audit. People keep their accounts (they may belong to other hospitals); only
    their memberships here go.

    Restartable: if it dies midway, run it again with the same arguments; an offboarded hospital skips the
    checks against the database (partly purged by then) and continues the purge. Raises OffboardRefused (nothing
    deleted), ExportVerificationFailed, studies.storage.StorageUnavailable and LifecycleError.
    """
    if confirm_slug != tenant.slug:
        raise OffboardRefused(
            f"Confirmation {confirm_slug!r} does not match the hospital's slug {tenant.slug!r}; nothing was deleted."
        )
    current = Tenant.objects.get(pk=tenant.pk)
    if current.status == Tenant.Status.ACTIVE:
        raise OffboardRefused(
            f"{current.slug} is active. Suspend it first (tenant_suspend), export it, then offboard; "
            "nothing was deleted."
        )
    manifest = tenant_export_verify(destination=export_destination, tenant=current)

    resumed = current.status == Tenant.Status.OFFBOARDED
    if not resumed:
        with transaction.atomic():
            locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
            if locked.status == Tenant.Status.SUSPENDED:
                with tenant_context(locked):
                    _check_export_is_current(locked, manifest)
                # The point of no return, committed before any deletion so a rerun knows to continue.
                locked.status = Tenant.Status.OFFBOARDED
                locked.offboarded_at = timezone.now()
                locked.save(update_fields=["status", "offboarded_at"])
            elif locked.status == Tenant.Status.ACTIVE:  # reactivated meanwhile
                raise OffboardRefused(f"{locked.slug} was reactivated; nothing was deleted.")
            else:
                resumed = True
        logger.info("hospital %s marked offboarded; purging", tenant.slug)
    else:
        logger.info("hospital %s: resuming an interrupted offboarding", tenant.slug)

    objects_deleted = _purge_objects(current)
    rows_deleted = _purge_rows(current)
    tenant.refresh_from_db()
    logger.info("hospital %s offboarded: %d objects and rows %s deleted", tenant.slug, objects_deleted,
                rows_deleted)
    return OffboardReport(tenant=tenant, resumed=resumed, objects_deleted=objects_deleted, rows_deleted=rows_deleted)

