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


# ---------------------------------------------------------------------------
# The other keys PostgreSQL row-level security reads (see tenants/rls.py). They widen what one statement may
# see in narrow, named ways: a person's own memberships before a hospital is chosen, the one API key being
# authenticated, and audited operator paths.
# ---------------------------------------------------------------------------
_current_user_id: ContextVar[int | None] = ContextVar("current_user_id", default=None)
_current_api_key_prefix: ContextVar[str | None] = ContextVar("current_api_key_prefix", default=None)
_operator_access: ContextVar[str | None] = ContextVar("operator_access", default=None)


def get_current_user_id() -> int | None:
    return _current_user_id.get()


def get_current_api_key_prefix() -> str | None:
    return _current_api_key_prefix.get()


def get_operator_access_reason() -> str | None:
    return _operator_access.get()


@contextlib.contextmanager
def user_context(user_id: int) -> Iterator[None]:
    """Let statements see the person's own rows that are keyed by user (their memberships in any hospital)."""
    token = _current_user_id.set(int(user_id))
    try:
        yield
    finally:
        _current_user_id.reset(token)


@contextlib.contextmanager
def api_key_lookup_context(prefix: str) -> Iterator[None]:
    """Let statements see the one API key row with this prefix, to authenticate it before its hospital is known."""
    token = _current_api_key_prefix.set(prefix)
    try:
        yield
    finally:
        _current_api_key_prefix.reset(token)


@contextlib.contextmanager
def dangerously_operator_access(*, reason: str) -> Iterator[None]:
    """Cross every hospital's rows, for platform-operator paths only (admin, the requeue sweep, lifecycle).

    The database allows it only while this block runs; `reason` says why and is logged, so every crossing is
    on record (issue #5 turns it into an audit event).
    """
    if not reason:
        raise ValueError("operator access needs a reason")
    import logging

    logging.getLogger("tenants.operator_access").info("operator access: %s", reason)
    token = _operator_access.set(reason)
    try:
        yield
    finally:
        _operator_access.reset(token)
