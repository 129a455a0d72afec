from django.db import migrations

from tenants.rls import disable_tenant_rls_sql, enable_tenant_rls_sql


class Migration(migrations.Migration):
    dependencies = [("api", "0001_idempotency_record"), ("tenants", "0003_row_level_security")]

    operations = [
        migrations.RunSQL(enable_tenant_rls_sql("api_idempotencyrecord"),
                          disable_tenant_rls_sql("api_idempotencyrecord")),
    ]
