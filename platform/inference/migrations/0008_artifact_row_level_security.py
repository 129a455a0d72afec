from django.db import migrations

from tenants.rls import disable_tenant_rls_sql, enable_tenant_rls_sql


class Migration(migrations.Migration):
    dependencies = [("inference", "0007_assessment_series_assessment_stage_versions_and_more"), ("tenants", "0003_row_level_security")]

    operations = [
        migrations.RunSQL(enable_tenant_rls_sql("inference_assessmentartifact"),
                          disable_tenant_rls_sql("inference_assessmentartifact")),
    ]
