"""Writes on hospitals, memberships and API keys."""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from tenants.keys import GeneratedKey, generate_key, hash_secret
from tenants.models import ApiKey, Membership, Tenant


@transaction.atomic
def tenant_create(*, slug: str, name: str) -> Tenant:
    """Create a hospital. Raises django.db.IntegrityError if the slug is taken."""
    return Tenant.objects.create(slug=slug, name=name)


@transaction.atomic
def membership_grant(*, tenant: Tenant, user, role: str) -> Membership:
    """Give `user` the `role` in `tenant` (updates the role if the person is already a member)."""
    if role not in Membership.Role.values:
        raise ValueError(f"Unknown role {role!r}; one of {', '.join(Membership.Role.values)}")
    membership, _ = Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
    return membership


@transaction.atomic
def user_create(*, username: str, password: str, email: str = ""):
    """Create a person who can sign in to the portal. The password is hashed by Django."""
    return get_user_model().objects.create_user(username=username, password=password, email=email)


@transaction.atomic
def api_key_create(*, tenant: Tenant, name: str, created_by=None) -> tuple[ApiKey, str]:
    """Create an API key for `tenant`. Returns the row and the full key, which is shown once, never stored."""
    generated: GeneratedKey = generate_key()
    api_key = ApiKey.objects.create(
        tenant=tenant,
        name=name,
        prefix=generated.prefix,
        secret_sha256=hash_secret(generated.secret),
        created_by=created_by,
    )
    return api_key, generated.full_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key; requests with it are refused from now on. Revoking twice keeps the first time."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def api_key_touch(*, api_key: ApiKey, minimum_interval_s: int = 60) -> None:
    """Record the key's last use, at most once a minute so busy integrations do not write on every call."""
    now = timezone.now()
    if api_key.last_used_at and (now - api_key.last_used_at).total_seconds() < minimum_interval_s:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
