"""Database roles: the owner runs migrations, the application connects as a role that can only read and write.

The application role must not own the tables and must not have BYPASSRLS, or row-level security would not
apply to it. After every `migrate` (run as the owner), the application role is granted DML on every table, so
new tables never ship without it. Creating the roles themselves is an operator task (`scripts/devstack.py`
does it for local use; see the README's Operations section for managed databases).
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

# Tables the application role may only append to (and read), never rewrite: table -> privileges revoked after
# the blanket grant. The audit chain heads are updated in place (under a row lock), so they keep UPDATE.
APPEND_ONLY_TABLES: dict[str, str] = {
    "audit_auditevent": "UPDATE, DELETE, TRUNCATE",
    "audit_auditchainhead": "DELETE, TRUNCATE",
}


def grant_app_role_privileges(sender, using="default", **kwargs) -> None:
    """post_migrate handler: grant the application role DML on all tables and use of all sequences."""
    if getattr(sender, "name", None) != "tenants":
        return  # post_migrate fires once per app; once per migrate run is enough
    app_role = settings.DB_APP_ROLE
    connection = connections[using]
    if connection.vendor != "postgresql" or not app_role:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)", [app_role])
        current_user, role_exists = cursor.fetchone()
        if not role_exists or current_user == app_role:
            return
        quoted = connection.ops.quote_name(app_role)
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {quoted}")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
        # Append-only tables: the blanket grant above must not give the application a way to rewrite history.
        for table, privileges in APPEND_ONLY_TABLES.items():
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
            if cursor.fetchone()[0]:
                cursor.execute(f"REVOKE {privileges} ON {connection.ops.quote_name(table)} FROM {quoted}")
    logger.info("granted DML on all tables to the application role %s", app_role)


def app_role_problems(using: str = "default") -> list[str]:
    """What is wrong with the role this process connects as, for row-level security to hold (empty = fine)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        is_super, bypasses = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user"
        )
        (owned,) = cursor.fetchone()
    problems = []
    if is_super:
        problems.append("connects as a superuser (row-level security does not apply)")
    if bypasses:
        problems.append("connects as a role with BYPASSRLS")
    if owned:
        problems.append(f"connects as the owner of {owned} tables (use a separate application role)")
    return problems
