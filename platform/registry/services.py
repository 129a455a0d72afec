"""Writes on the registry: register, promote, roll back, canary, shadow, pin. Each is one transaction that
also writes its RolloutEvent, and takes effect on the next submission (routing reads the registry each time),
so no web or worker restart is needed."""
from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from registry.models import ModelVersion, RolloutEvent, TenantModelPin
from tenants.context import tenant_context
from tenants.models import Tenant


class RegistryError(ValueError):
    """An operation the registry refuses, with a message for the operator."""


def _event(*, actor: str, action: str, model_name: str, version: int | None = None, hospital_id=None,
           **details) -> RolloutEvent:
    from audit.services import audit_event_record

    event = RolloutEvent.objects.create(actor=actor, action=action, model_name=model_name, version=version,
                                        hospital_id=hospital_id, details=details)
    # The same change on the audit trail, in the same transaction: the hospital's chain for a pin, the platform
    # chain otherwise. `actor` is the operator's name as the command was given it.
    audit_event_record(event="model.change", tenant=hospital_id, username=f"operator:{actor}"[:150],
                       object_type="model", object_id=f"{model_name}:{version if version is not None else '-'}",
                       details={"action": action, **{k: v for k, v in details.items() if not isinstance(v, float)}})
    return event


def _locked_versions(model_name: str) -> dict[int, ModelVersion]:
    """All versions of a model, locked for the rest of the transaction (operators may race each other)."""
    rows = list(ModelVersion.objects.select_for_update().filter(model_name=model_name).order_by("version"))
    return {row.version: row for row in rows}


def _get(versions: dict[int, ModelVersion], model_name: str, version: int) -> ModelVersion:
    row = versions.get(int(version))
    if row is None:
        raise RegistryError(f"{model_name} version {version} is not registered; run model_register first.")
    return row


@transaction.atomic
def model_version_register(*, model_name: str, version: int, actor: str,
                           repository_dir: Path | None = None) -> ModelVersion:
    """Register a built version from the model repository, after checking its files against its card.

    Raises RegistryError if the card is missing or a file does not match its checksum: the platform never
    routes to a version whose files are not the ones its card describes.
    """
    from model_repository.cards import verify_version_files

    version_dir = Path(repository_dir or settings.MODEL_REPOSITORY_DIR) / model_name / str(version)
    problems = verify_version_files(version_dir)
    if problems:
        raise RegistryError(f"{model_name} version {version} does not match its card: " + "; ".join(problems))
    card = json.loads((version_dir / "model_card.json").read_text())
    row, created = ModelVersion.objects.update_or_create(
        model_name=model_name, version=int(version),
        defaults={"precision": str(card.get("precision", "unknown")), "is_demo": bool(card.get("demo", True)),
                  "card": card},
    )
    _event(actor=actor, action="register" if created else "re-register", model_name=model_name,
           version=row.version, precision=row.precision)
    return row


@transaction.atomic
def model_version_promote(*, model_name: str, version: int, actor: str) -> ModelVersion:
    """Make `version` the platform default. The previous active version is retired (kept loaded while work in
    flight still needs it); a canary or shadow of the same version is cleared."""
    versions = _locked_versions(model_name)
    target = _get(versions, model_name, version)
    if target.state == ModelVersion.State.ACTIVE:
        return target
    now = timezone.now()
    previous = next((v for v in versions.values() if v.state == ModelVersion.State.ACTIVE), None)
    if previous is not None:
        previous.state = ModelVersion.State.RETIRED
        previous.deactivated_at = now
        previous.save(update_fields=["state", "deactivated_at"])
    target.state = ModelVersion.State.ACTIVE
    target.canary_percent = 0
    target.activated_at = now
    target.save(update_fields=["state", "canary_percent", "activated_at"])
    _event(actor=actor, action="promote", model_name=model_name, version=target.version,
           previous_version=previous.version if previous else None)
    return target


@transaction.atomic
def model_version_rollback(*, model_name: str, actor: str) -> ModelVersion:
    """Undo the last promotion in one step: the version active before the current one answers again; the
    current one goes back to staged (not retired: it may be promoted again after a fix)."""
    versions = _locked_versions(model_name)
    current = next((v for v in versions.values() if v.state == ModelVersion.State.ACTIVE), None)
    candidates = [v for v in versions.values()
                  if v.state == ModelVersion.State.RETIRED and v.deactivated_at is not None and v is not current]
    if not candidates:
        raise RegistryError(f"{model_name} has no previously active version to roll back to.")
    target = max(candidates, key=lambda v: v.deactivated_at)
    now = timezone.now()
    if current is not None:
        current.state = ModelVersion.State.STAGED
        current.deactivated_at = now
        current.save(update_fields=["state", "deactivated_at"])
    target.state = ModelVersion.State.ACTIVE
    target.activated_at = now
    target.save(update_fields=["state", "activated_at"])
    _event(actor=actor, action="rollback", model_name=model_name, version=target.version,
           rolled_back_version=current.version if current else None)
    return target


@transaction.atomic
def model_version_set_canary(*, model_name: str, version: int | None, percent: int, actor: str) -> None:
    """Send `percent` of the model's assessments (chosen deterministically by assessment id) to `version`.
    `version=None` or `percent=0` ends the canary (the version goes back to staged)."""
    if not 0 <= int(percent) <= 100:
        raise RegistryError("canary percent must be between 0 and 100")
    versions = _locked_versions(model_name)
    for row in versions.values():
        if row.state == ModelVersion.State.CANARY and (version is None or row.version != int(version) or not percent):
            row.state = ModelVersion.State.STAGED
            row.canary_percent = 0
            row.save(update_fields=["state", "canary_percent"])
    if version is not None and percent:
        target = _get(versions, model_name, version)
        if target.state in (ModelVersion.State.ACTIVE, ModelVersion.State.SHADOW):
            raise RegistryError(f"{model_name} version {version} is {target.state}; it cannot also be the canary.")
        target.state = ModelVersion.State.CANARY
        target.canary_percent = int(percent)
        target.save(update_fields=["state", "canary_percent"])
    _event(actor=actor, action="canary", model_name=model_name, version=version, percent=int(percent))


@transaction.atomic
def model_version_set_shadow(*, model_name: str, version: int | None, actor: str) -> None:
    """Run `version` beside the answering version on real traffic (results compared, never shown, never
    billed). `version=None` stops shadowing."""
    versions = _locked_versions(model_name)
    for row in versions.values():
        if row.state == ModelVersion.State.SHADOW and (version is None or row.version != int(version)):
            row.state = ModelVersion.State.STAGED
            row.save(update_fields=["state"])
    if version is not None:
        target = _get(versions, model_name, version)
        if target.state in (ModelVersion.State.ACTIVE, ModelVersion.State.CANARY):
            raise RegistryError(f"{model_name} version {version} is {target.state}; it cannot also be the shadow.")
        target.state = ModelVersion.State.SHADOW
        target.save(update_fields=["state"])
    _event(actor=actor, action="shadow", model_name=model_name, version=version)


@transaction.atomic
def model_version_retire(*, model_name: str, version: int, actor: str) -> ModelVersion:
    """Stop offering a staged version (the active one is replaced by promoting another, never retired alone)."""
    versions = _locked_versions(model_name)
    target = _get(versions, model_name, version)
    if target.state != ModelVersion.State.STAGED:
        raise RegistryError(f"only a staged version can be retired; {model_name} v{version} is {target.state}")
    target.state = ModelVersion.State.RETIRED
    target.save(update_fields=["state"])
    _event(actor=actor, action="retire", model_name=model_name, version=target.version)
    return target


@transaction.atomic
def tenant_model_pin(*, tenant: Tenant, model_name: str, version: int | None, actor: str) -> None:
    """Pin a hospital to `version` of a model, or (`version=None`) let it follow the platform default again."""
    if version is not None:
        row = ModelVersion.objects.filter(model_name=model_name, version=int(version)).first()
        if row is None:
            raise RegistryError(f"{model_name} version {version} is not registered.")
        if row.state == ModelVersion.State.RETIRED:
            raise RegistryError(f"{model_name} version {version} is retired; it cannot be pinned.")
    with tenant_context(tenant):
        if version is None:
            TenantModelPin.objects.filter(model_name=model_name).delete()
        else:
            TenantModelPin.objects.update_or_create(
                tenant=tenant, model_name=model_name,
                defaults={"version": int(version), "pinned_at": timezone.now()},
            )
    _event(actor=actor, action="pin" if version is not None else "unpin", model_name=model_name,
           version=version, hospital_id=tenant.id)
