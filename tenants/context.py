"""The tenant in context: which hospital the current request or task acts for.

A ContextVar (not a thread-local) so it is correct under threads and async alike. Set it with
`tenant_context(tenant)`; tenant-owned models refuse to query without it (see tenants.models).
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from tenants.models import Tenant

_current_tenant: ContextVar["Tenant | None"] = ContextVar("current_tenant", default=None)


class TenantContextMissing(RuntimeError):
    """A tenant-owned table was queried with no tenant in context (fail closed, never all tenants)."""


def get_current_tenant() -> "Tenant | None":
    return _current_tenant.get()


def require_current_tenant() -> "Tenant":
    tenant = _current_tenant.get()
    if tenant is None:
        raise TenantContextMissing(
            "No tenant in context. Wrap the code in tenants.context.tenant_context(tenant), or use the "
            "explicitly named dangerously_all_tenants() escape hatch for operator paths."
        )
    return tenant


@contextlib.contextmanager
def tenant_context(tenant: "Tenant") -> Iterator["Tenant"]:
    """Run the block with `tenant` as the current hospital; restores the previous one afterwards."""
    if tenant is None:
        raise ValueError("tenant_context() needs a tenant")
    token = _current_tenant.set(tenant)
    try:
        yield tenant
    finally:
        _current_tenant.reset(token)
