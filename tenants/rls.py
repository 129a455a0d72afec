"""PostgreSQL row-level security: the database itself refuses to cross hospitals.

Every statement the platform sends carries the tenant in context as transaction-local settings
(`set_config(name, value, true)`, the function form of SET LOCAL), so nothing can leak to the next request
through a pooled connection: the values die with the transaction. Policies on every tenant-owned table
compare the row's tenant_id with `app.tenant_id`; with no tenant set they match nothing (fail closed).

The application connects as a role that does not own the tables and has no BYPASSRLS; migrations run as the
owner; tables are FORCEd so even the owner is subject to the policies.
"""
from __future__ import annotations

from tenants.context import (
    get_current_api_key_prefix,
    get_current_tenant,
    get_current_user_id,
    get_operator_access_reason,
)

# The settings the policies read, in the order they are sent.
GUC_TENANT = "app.tenant_id"
GUC_USER = "app.user_id"
GUC_API_KEY_PREFIX = "app.api_key_prefix"
GUC_OPERATOR = "app.operator"

_SET_POSITIONAL = (
    "SELECT set_config('app.tenant_id', %s, true), set_config('app.user_id', %s, true), "
    "set_config('app.api_key_prefix', %s, true), set_config('app.operator', %s, true); "
)
_SET_NAMED = (
    "SELECT set_config('app.tenant_id', %(_rls_tenant)s, true), set_config('app.user_id', %(_rls_user)s, true), "
    "set_config('app.api_key_prefix', %(_rls_key)s, true), set_config('app.operator', %(_rls_op)s, true); "
)


def current_values() -> tuple[str, str, str, str]:
    tenant = get_current_tenant()
    user_id = get_current_user_id()
    return (
        str(tenant.pk) if tenant is not None else "",
        str(user_id) if user_id is not None else "",
        get_current_api_key_prefix() or "",
        "on" if get_operator_access_reason() else "",
    )


def rls_execute_wrapper(execute, sql, params, many, context):
    """Django execute wrapper that sends the context's settings in the same transaction as each statement.

    In autocommit mode a statement is its own transaction, so the settings travel in the same query string
    (psycopg2 sends both as one simple query: one implicit transaction; the result is the last statement's).
    Inside an atomic block they are sent, or cleared, before every statement, because the context can change
    within one transaction. With no context in autocommit nothing is added: CREATE DATABASE and friends, which
    refuse to run inside a transaction, keep working.
    """
    connection = context["connection"]
    values = current_values()
    if not any(values) and not connection.in_atomic_block:
        return execute(sql, params, many, context)
    if _is_transaction_control(sql):
        # SAVEPOINT / RELEASE / ROLLBACK TO read no rows, and after an error in a savepoint PostgreSQL accepts
        # nothing but the rollback: a prefix would make the recovery itself fail.
        return execute(sql, params, many, context)
    if many:
        # executemany cannot carry a prefix; set the values first. Outside a transaction they would be gone by
        # the next statement: the policies then match nothing, which fails closed.
        context["cursor"].cursor.execute(_SET_POSITIONAL.rstrip("; "), values)
        return execute(sql, params, many, context)
    if isinstance(params, dict):
        named = dict(params)
        named.update(_rls_tenant=values[0], _rls_user=values[1], _rls_key=values[2], _rls_op=values[3])
        return execute(_SET_NAMED + sql, named, many, context)
    if params is None:
        # Without parameters psycopg2 does not interpolate, so literal % signs were not doubled; now they must be.
        return execute(_SET_POSITIONAL + sql.replace("%", "%%"), values, many, context)
    return execute(_SET_POSITIONAL + sql, (*values, *params), many, context)


_TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "BEGIN")


def _is_transaction_control(sql: str) -> bool:
    return sql.lstrip()[:17].upper().startswith(_TRANSACTION_CONTROL)


def install_on_connection(sender, connection, **kwargs) -> None:
    """connection_created handler: add the wrapper once per database connection wrapper."""
    if connection.vendor != "postgresql":
        return
    if rls_execute_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(rls_execute_wrapper)


# ---------------------------------------------------------------------------
# Migration helpers
# ---------------------------------------------------------------------------
_TENANT_MATCH = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
_OPERATOR = "current_setting('app.operator', true) = 'on'"


def enable_tenant_rls_sql(table: str, *, extra_visibility: str | None = None) -> str:
    """SQL that puts `table` (with a tenant_id column) under forced row-level security.

    `extra_visibility` widens what may be READ (e.g. a person's own memberships); writes must always match
    the tenant in context (or an operator path).
    """
    using = f"({_TENANT_MATCH}) OR ({_OPERATOR})"
    if extra_visibility:
        using = f"{using} OR ({extra_visibility})"
    check = f"({_TENANT_MATCH}) OR ({_OPERATOR})"
    return f"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
        DROP POLICY IF EXISTS tenant_isolation ON {table};
        CREATE POLICY tenant_isolation ON {table} USING ({using}) WITH CHECK ({check});
    """


def disable_tenant_rls_sql(table: str) -> str:
    return f"""
        DROP POLICY IF EXISTS tenant_isolation ON {table};
        ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;
        ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;
    """


# Read-widening rules of the two identity tables, looked up before a hospital is in context.
MEMBERSHIP_OWN_ROWS = "user_id = NULLIF(current_setting('app.user_id', true), '')::bigint"
API_KEY_BEING_AUTHENTICATED = "prefix = NULLIF(current_setting('app.api_key_prefix', true), '')"
