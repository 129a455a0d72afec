from django.db import migrations

from tenants.rls import disable_tenant_rls_sql, enable_tenant_rls_sql

_TABLES = ("webhooks_webhookendpoint", "webhooks_webhookdelivery", "webhooks_webhookattempt",
           "webhooks_notificationsettings", "webhooks_criticalfindingemail")


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0001_initial"), ("tenants", "0003_row_level_security")]

    operations = [
        migrations.RunSQL(enable_tenant_rls_sql(table), disable_tenant_rls_sql(table)) for table in _TABLES
    ]
