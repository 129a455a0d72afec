from django.db import migrations

from tenants.rls import disable_tenant_rls_sql, enable_tenant_rls_sql


class Migration(migrations.Migration):
    dependencies = [("studies", "0003_series_seriesmember_and_more"), ("tenants", "0003_row_level_security")]

    operations = [
        migrations.RunSQL(enable_tenant_rls_sql(table), disable_tenant_rls_sql(table))
        for table in ("studies_series", "studies_seriesmember")
    ]
