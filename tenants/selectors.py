"""Reads on hospitals, memberships and API keys."""
from __future__ import annotations

from django.db.models import QuerySet

from tenants.keys import secret_matches, split_key
from tenants.models import ApiKey, Membership, Tenant


def api_key_for_credentials(*, full_key: str) -> ApiKey | None:
    """The API key matching `full_key` (revoked ones included, so callers can say why), else None."""
    parts = split_key(full_key)
    if parts is None:
        return None
    prefix, secret = parts
    api_key = ApiKey.objects.select_related("tenant").filter(prefix=prefix).first()
    if api_key is None or not secret_matches(secret, api_key.secret_sha256):
        return None
    return api_key


def memberships_for_user(*, user) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")


def membership_for(*, user, tenant_id) -> Membership | None:
    return memberships_for_user(user=user).filter(tenant_id=tenant_id).first()


def tenant_by_slug(*, slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()
