"""Writes on hospitals, memberships and API keys."""
from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from tenants.context import tenant_context
from tenants.keys import GeneratedKey, generate_key, hash_secret
from tenants.models import ApiKey, Membership, Tenant, default_api_key_scopes
from tenants.roles import API_KEY_SCOPES

_API_KEY_NAME_MAX = ApiKey._meta.get_field("name").max_length


def _audit(**kwargs) -> None:
    # Imported here: the audit app sits above tenants. Raises audit.services.AuditUnavailable, which rolls the
    # change back with it (nothing changes unaudited).
    from audit.services import audit_event_record

    audit_event_record(**kwargs)


class ApiKeyRejected(ValueError):
    """An API key the platform refuses to create, with a stable code (invalid_name, invalid_scope, invalid_expiry)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@transaction.atomic
def tenant_create(*, slug: str, name: str) -> Tenant:
    """Create a hospital. Raises django.db.IntegrityError if the slug is taken."""
    return Tenant.objects.create(slug=slug, name=name)


@transaction.atomic
def membership_grant(*, tenant: Tenant, user, role: str, actor=None) -> Membership:
    """Give `user` the `role` in `tenant` (updates the role if the person is already a member). `actor`
    (audit.services.Actor) is who did it, for the audit event."""
    if role not in Membership.Role.values:
        raise ValueError(f"Unknown role {role!r}; one of {', '.join(Membership.Role.values)}")
    with tenant_context(tenant):
        membership, created = Membership.objects.update_or_create(user=user, tenant=tenant,
                                                                  defaults={"role": role})
    _audit(event="membership.grant", tenant=tenant, actor=actor, object_type="membership",
           object_id=str(membership.pk), details={"user_id": user.pk, "role": role, "created": created})
    return membership


@transaction.atomic
def user_create(*, username: str, password: str, email: str = "", actor=None):
    """Create a person who can sign in to the portal. The password is hashed by Django."""
    user = get_user_model().objects.create_user(username=username, password=password, email=email)
    _audit(event="user.create", actor=actor, object_type="user", object_id=str(user.pk),
           details={"username": user.get_username()})
    return user


@transaction.atomic
def api_key_create(*, tenant: Tenant, name: str, created_by=None, scopes: list[str] | None = None,
                   expires_at: datetime | None = None, actor=None) -> tuple[ApiKey, str]:
    """Create an API key for `tenant`. Returns the row and the full key, which is shown once, never stored.

    `scopes`: a non-empty subset of submit/read (default both). `expires_at`: an aware datetime in the future, or
    None for a key that lasts until revoked. Raises ApiKeyRejected (invalid_name, invalid_scope, invalid_expiry).
    """
    name = (name or "").strip()
    if not name or len(name) > _API_KEY_NAME_MAX:
        raise ApiKeyRejected("invalid_name", f"Give the key a name of 1 to {_API_KEY_NAME_MAX} characters.")
    scopes = default_api_key_scopes() if scopes is None else list(scopes)
    unknown = sorted(set(scopes) - API_KEY_SCOPES)
    if not scopes or unknown:
        raise ApiKeyRejected("invalid_scope", f"Scopes must be a non-empty subset of {', '.join(sorted(API_KEY_SCOPES))}"
                             + (f"; unknown: {', '.join(unknown)}." if unknown else "."))
    # Keep the order of the allowed list, without duplicates, so equal scope sets are stored equally.
    scopes = [scope for scope in sorted(API_KEY_SCOPES) if scope in scopes]
    if expires_at is not None:
        if timezone.is_naive(expires_at):
            raise ApiKeyRejected("invalid_expiry", "expires_at must carry a time zone (e.g. 2027-01-31T00:00:00Z).")
        if expires_at <= timezone.now():
            raise ApiKeyRejected("invalid_expiry", "expires_at must be in the future.")
    generated: GeneratedKey = generate_key()
    with tenant_context(tenant):
        api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=generated.prefix,
        secret_sha256=hash_secret(generated.secret),
        scopes=scopes,
        expires_at=expires_at,
        created_by=created_by,
    )
    _audit(event="api_key.create", tenant=tenant, actor=actor, user=created_by if actor is None else None,
           object_type="api_key", object_id=str(api_key.id),
           details={"prefix": api_key.prefix, "scopes": scopes,
                    "expires_at": expires_at.isoformat() if expires_at else None})
    return api_key, generated.full_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor=None) -> ApiKey:
    """Revoke a key; requests with it are refused from now on. Revoking twice keeps the first time."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        with tenant_context(api_key.tenant):
            api_key.save(update_fields=["revoked_at"])
        _audit(event="api_key.revoke", tenant=api_key.tenant, actor=actor, object_type="api_key",
               object_id=str(api_key.id), details={"prefix": api_key.prefix})
    return api_key


def api_key_touch(*, api_key: ApiKey, minimum_interval_s: int = 60) -> None:
    """Record the key's last use, at most once a minute so busy integrations do not write on every call."""
    now = timezone.now()
    if api_key.last_used_at and (now - api_key.last_used_at).total_seconds() < minimum_interval_s:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


@transaction.atomic
def membership_revoke(*, membership: Membership, actor=None) -> None:
    """Remove a person from a hospital (their account stays; other hospitals' memberships are untouched).

    Raises MembershipRejected("last_admin") when it would leave the hospital without an administrator, who alone
    can add people back. Audited as `membership.revoke` in the same transaction.
    """
    tenant = membership.tenant
    with tenant_context(tenant):
        if membership.role == Membership.Role.ADMIN and not Membership.objects.filter(
                tenant=tenant, role=Membership.Role.ADMIN).exclude(pk=membership.pk).exists():
            raise MembershipRejected("last_admin", "The hospital's last administrator cannot be removed.")
        user_id, role, pk = membership.user_id, membership.role, membership.pk
        membership.delete()
    _audit(event="membership.revoke", tenant=tenant, actor=actor, object_type="membership", object_id=str(pk),
           details={"user_id": user_id, "role": role})


class MembershipRejected(ValueError):
    """A membership change the platform refuses, with a stable code (last_admin)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
