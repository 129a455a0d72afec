"""Shared argument handling of the tenant_* lifecycle commands."""
from __future__ import annotations

from django.core.management.base import CommandError

from tenants.models import Tenant


def tenant_by_slug_or_error(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise CommandError(f"There is no hospital with the slug {slug!r}.")
    return tenant
