"""Row-level security on every hospital-owned billing table, and append-only rows enforced in PostgreSQL.

The trigger refuses UPDATE and DELETE for every role (the application role, and the owner too unless it drops
the trigger in a reviewed migration), so a usage record, a subscription change, an issued invoice or a credit
note can never be quietly rewritten. TRUNCATE is a table privilege the application role does not have outside
the test database (where the test runner uses it to empty tables between tests); row triggers do not see it.
"""
from django.db import migrations

from tenants.rls import disable_tenant_rls_sql, enable_tenant_rls_sql

TENANT_TABLES = (
    "billing_subscription",
    "billing_usagerecord",
    "billing_invoice",
    "billing_invoiceline",
    "billing_creditnote",
    "billing_creditnoteline",
)
APPEND_ONLY_TABLES = TENANT_TABLES

FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION billing_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'billing rows are immutable: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Correct an issued invoice with a credit note; change a plan with a new subscription row.';
END
$$;
"""


def _trigger_sql(table: str) -> str:
    return (f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION billing_refuse_change();")


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial"), ("tenants", "0003_row_level_security")]

    operations = [
        *[migrations.RunSQL(enable_tenant_rls_sql(table), disable_tenant_rls_sql(table)) for table in TENANT_TABLES],
        migrations.RunSQL(FUNCTION_SQL, "DROP FUNCTION IF EXISTS billing_refuse_change() CASCADE;"),
        *[migrations.RunSQL(_trigger_sql(table), f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
          for table in APPEND_ONLY_TABLES],
    ]
