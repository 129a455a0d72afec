"""Reads on hospitals, memberships and API keys."""
from __future__ import annotations

import uuid

from django.db.models import QuerySet

from tenants.context import api_key_lookup_context
from tenants.keys import secret_matches, split_key
from tenants.models import ApiKey, Membership, Tenant


def api_key_for_credentials(*, full_key: str) -> ApiKey | None:
    """The API key matching `full_key` (revoked ones included, so callers can say why), else None."""
    parts = split_key(full_key)
    if parts is None:
        return None
    prefix, secret = parts
    # Row-level security shows no API key before its hospital is known, except the one being authenticated.
    with api_key_lookup_context(prefix):
        api_key = ApiKey.objects.select_related("tenant").filter(prefix=prefix).first()
    if api_key is None or not secret_matches(secret, api_key.secret_sha256):
        return None
    return api_key


def api_keys_for_tenant(*, tenant: Tenant) -> QuerySet[ApiKey]:
    """The hospital's API keys, newest first, revoked and expired ones included."""
    return ApiKey.objects.filter(tenant=tenant).order_by("-created_at")


def api_key_for_tenant(*, tenant: Tenant, api_key_id) -> ApiKey | None:
    """One of the hospital's keys; None for an unknown or malformed id or another hospital's key (callers 404)."""
    try:
        key_uuid = uuid.UUID(str(api_key_id))
    except ValueError:
        return None
    return api_keys_for_tenant(tenant=tenant).filter(pk=key_uuid).first()


def memberships_for_user(*, user) -> QuerySet[Membership]:
    """The person's memberships. Row-level security lets them through only inside user_context(user.id)
    (set for the whole request by PortalTenantMiddleware) or the hospital's own tenant_context."""
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")


def membership_for(*, user, tenant_id) -> Membership | None:
    return memberships_for_user(user=user).filter(tenant_id=tenant_id).first()


def tenant_by_slug(*, slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()
