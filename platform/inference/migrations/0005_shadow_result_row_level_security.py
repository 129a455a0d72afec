from django.db import migrations

from tenants.rls import disable_tenant_rls_sql, enable_tenant_rls_sql


class Migration(migrations.Migration):
    dependencies = [("inference", "0004_routing_and_shadow_results"), ("tenants", "0003_row_level_security")]

    operations = [
        migrations.RunSQL(enable_tenant_rls_sql("inference_shadowresult"),
                          disable_tenant_rls_sql("inference_shadowresult")),
    ]
