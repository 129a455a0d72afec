from django.db import migrations

from tenants.rls import disable_tenant_rls_sql, enable_tenant_rls_sql


class Migration(migrations.Migration):
    dependencies = [("integrations", "0001_hl7_destination_delivery"), ("tenants", "0003_row_level_security")]

    operations = [
        migrations.RunSQL(enable_tenant_rls_sql(table), disable_tenant_rls_sql(table))
        for table in ("integrations_hl7destination", "integrations_hl7delivery")
    ]
