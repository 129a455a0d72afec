"""Celery task base class that restores the tenant from the task's arguments.

Tasks receive `tenant_id` (never model instances), reload the tenant and run inside tenant_context, so the
fail-closed managers work in workers exactly as in requests.
"""
from __future__ import annotations

from celery import Task

from tenants.context import tenant_context


class TenantTask(Task):
    """Base for tasks whose first keyword argument is `tenant_id`."""

    abstract = True

    def __call__(self, *args, **kwargs):
        from tenants.models import Tenant

        tenant_id = kwargs.get("tenant_id")
        if tenant_id is None:
            raise TypeError(f"{self.name} must be called with tenant_id=")
        tenant = Tenant.objects.filter(pk=tenant_id).first()
        if tenant is None:
            # The hospital was removed; nothing of it may be processed. Treated as done, not retried.
            return None
        with tenant_context(tenant):
            return super().__call__(*args, **kwargs)
