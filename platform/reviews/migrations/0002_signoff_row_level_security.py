from django.db import migrations

from tenants.rls import disable_tenant_rls_sql, enable_tenant_rls_sql


class Migration(migrations.Migration):
    dependencies = [("reviews", "0001_initial"), ("tenants", "0003_row_level_security")]

    operations = [
        migrations.RunSQL(enable_tenant_rls_sql("reviews_signoff"), disable_tenant_rls_sql("reviews_signoff")),
    ]
